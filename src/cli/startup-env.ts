/**
 * What keyctl does with its environment before anything else runs (src/cli/bin.ts): takes the store credentials out of
 * the process's own initial environment block, and reads the master key from a file or a systemd credential.
 *
 * Why the block itself: `/proc/<pid>/environ` shows the memory between the kernel's env_start and env_end, the block
 * the process was started with, whatever `process.env` says later. A bot started by `keyctl exec` runs as the same
 * user and reads its parent's block, so deleting a variable from `process.env` hides nothing. Node 20 has no `execve`
 * to restart keyctl without it, so keyctl overwrites those bytes in place through `/proc/self/mem` and reads
 * `/proc/self/environ` back to check (docs/delivery.md, "What a bot can see of keyctl").
 *
 * Only node:fs and errors.ts (which imports nothing): this runs on every start, exec's included.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeSync, constants as fsConstants } from 'node:fs';
import { UsageError } from '@keyctl/client/errors';

/**
 * Every variable that carries a store credential, or says where one is (a same-user bot that reads the key file's
 * path can read the file): none may stay in keyctl's environment block. Keep in step with storeCredentialEnv() in
 * src/delivery/exec.ts (a unit test does).
 */
export const SCRUBBED_ENV = [
  'KEYCTL_MASTER_KEY',
  'KEYCTL_MASTER_KEY_FILE',
  'KEYCTL_PASSPHRASE',
  'KEYCTL_TOKEN',
  'VAULT_TOKEN',
  'VAULT_SECRET_ID',
  // The JWT keyctl logs in to Vault with (jwt auth), and where keyctl's Vault client key is.
  'KEYCTL_VAULT_JWT',
  'VAULT_CLIENT_KEY',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
] as const;

/**
 * The AWS SDK reads its credentials from `process.env` itself (its default chain), so these stay there, re-set so
 * libc holds a heap copy, while their bytes in the block are erased. The others are read only from keyctl's env copy.
 */
const KEPT_IN_PROCESS_ENV = new Set<string>(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']);

/**
 * Set in the env copy handed to main when credentials could not be erased from the block (their names, comma
 * separated). `keyctl exec` refuses to start a bot then (src/delivery/exec.ts reads it); other commands go on.
 */
export const UNSCRUBBED_ENV = 'KEYCTL_UNSCRUBBED';

/** The systemd credential name (`LoadCredential=keyctl-master-key:/path/to/key`). */
export const SYSTEMD_CREDENTIAL = 'keyctl-master-key';
/** A master key is 44 characters of base64; anything much longer in a key file is not one. */
const MAX_KEY_FILE_BYTES = 4096;

/** Where keyctl looks at its own process; tests point it at files of their own to simulate a refusing kernel. */
export interface ProcPaths {
  stat: string;
  mem: string;
  environ: string;
}
const PROC_SELF: ProcPaths = { stat: '/proc/self/stat', mem: '/proc/self/mem', environ: '/proc/self/environ' };

export interface StartupEnvOptions {
  proc?: ProcPaths;
}

export interface StartupEnv {
  /** What keyctl passes to main: a copy of the environment, with the store credentials and the key from a file. */
  env: NodeJS.ProcessEnv;
  /** Credential variables found in the block and erased from it. */
  scrubbed: string[];
  /** Why the block could not be scrubbed (also in env[UNSCRUBBED_ENV]); undefined when it was, or had nothing. */
  unscrubbed?: string;
}

/**
 * Moves the store credentials out of `process.env` and the process's environment block into a copy, resolves
 * KEYCTL_MASTER_KEY_FILE and the systemd credential into KEYCTL_MASTER_KEY, and returns the copy.
 * Throws a UsageError (exit 2) for an unusable key file or more than one source of the master key.
 */
export function takeStartupEnv(processEnv: NodeJS.ProcessEnv = process.env, options: StartupEnvOptions = {}): StartupEnv {
  const env: NodeJS.ProcessEnv = { ...processEnv };
  // Only keyctl itself says whether the block was scrubbed: an inherited value means nothing.
  delete env[UNSCRUBBED_ENV];
  const present = SCRUBBED_ENV.filter((name) => processEnv[name] !== undefined);
  const result: StartupEnv = { env, scrubbed: [] };
  if (present.length > 0) {
    for (const name of present) {
      // Deleting (unsetenv) or re-setting (setenv copies to the heap) first, so libc's environ no longer points into
      // the bytes about to be erased.
      if (KEPT_IN_PROCESS_ENV.has(name)) processEnv[name] = String(processEnv[name]);
      else delete processEnv[name];
    }
    const failure = scrubEnvironBlock(present, options.proc ?? PROC_SELF);
    if (failure === undefined) result.scrubbed = present;
    else {
      result.unscrubbed = failure;
      env[UNSCRUBBED_ENV] = present.join(',');
    }
  }
  resolveMasterKey(env);
  return result;
}

/**
 * Overwrites with NUL bytes every `NAME=value` entry of the block whose name is in `names`, then reads
 * /proc/self/environ back. Returns why it failed, or undefined once none is left.
 */
export function scrubEnvironBlock(names: readonly string[], proc: ProcPaths = PROC_SELF): string | undefined {
  let range: { start: number; end: number };
  try {
    range = environRange(readFileSync(proc.stat, 'latin1'));
  } catch (err) {
    return `cannot read ${proc.stat} (${code(err)})`;
  }
  let fd: number | undefined;
  try {
    fd = openSync(proc.mem, 'r+');
    const block = Buffer.alloc(range.end - range.start);
    if (readSync(fd, block, 0, block.length, range.start) !== block.length) return 'short read of the environment block';
    for (const entry of matchingEntries(block, names)) {
      const zeros = Buffer.alloc(entry.end - entry.start);
      if (writeSync(fd, zeros, 0, zeros.length, range.start + entry.start) !== zeros.length) return 'short write';
    }
  } catch (err) {
    return `cannot write ${proc.mem} (${code(err)})`;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  // Trust nothing but what a reader of /proc/<pid>/environ would see.
  let after: Buffer;
  try {
    after = readFileSync(proc.environ);
  } catch (err) {
    return `cannot read ${proc.environ} back (${code(err)})`;
  }
  const left = matchingEntries(after, names);
  return left.length === 0 ? undefined : 'the environment block still holds them after the write';
}

/** env_start and env_end, fields 50 and 51 of /proc/<pid>/stat (proc(5)), counted after the `(comm)` field. */
export function environRange(stat: string): { start: number; end: number } {
  // comm may hold spaces and parentheses: the fields that follow start after the last ')', at field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[50 - 3]);
  const end = Number(fields[51 - 3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start <= 0 || end <= start || end - start > 1 << 24) {
    throw Object.assign(new Error('no environment range in stat'), { code: 'EBADSTAT' });
  }
  return { start, end };
}

/** Byte ranges of the `NAME=value` entries in a NUL-separated block whose NAME is in `names`. */
export function matchingEntries(block: Buffer, names: readonly string[]): Array<{ start: number; end: number }> {
  const wanted = new Set(names);
  const found: Array<{ start: number; end: number }> = [];
  let i = 0;
  while (i < block.length) {
    let end = block.indexOf(0, i);
    if (end < 0) end = block.length;
    const eq = block.indexOf(0x3d, i);
    if (eq > i && eq < end && wanted.has(block.toString('latin1', i, eq))) found.push({ start: i, end });
    i = end + 1;
  }
  return found;
}

/**
 * Resolves the master key's one source into env.KEYCTL_MASTER_KEY: the variable itself, KEYCTL_MASTER_KEY_FILE, or
 * the systemd credential `keyctl-master-key`. Two at once is refused: which one the operator meant is a guess.
 */
export function resolveMasterKey(env: NodeJS.ProcessEnv): void {
  const file = env.KEYCTL_MASTER_KEY_FILE;
  // The path is consumed here: a bot that inherited it could read the file.
  delete env.KEYCTL_MASTER_KEY_FILE;
  const credDir = env.CREDENTIALS_DIRECTORY;
  const systemd = credDir ? `${credDir.replace(/\/+$/, '')}/${SYSTEMD_CREDENTIAL}` : undefined;
  const systemdKey = systemd === undefined ? undefined : readKeyFile(systemd, 'systemd');
  const sources = [
    ...(env.KEYCTL_MASTER_KEY ? ['KEYCTL_MASTER_KEY'] : []),
    ...(file ? ['KEYCTL_MASTER_KEY_FILE'] : []),
    ...(systemdKey !== undefined ? [`the systemd credential ${SYSTEMD_CREDENTIAL}`] : []),
  ];
  if (sources.length > 1) {
    throw new UsageError('MASTER_KEY_AMBIGUOUS', `The master key is given more than once: ${sources.join(', ')}.`, {
      hint: 'Give it one way only: unset the others (a key file or a systemd credential keeps it out of the environment).',
    });
  }
  if (file) env.KEYCTL_MASTER_KEY = readKeyFile(file, 'file');
  else if (systemdKey !== undefined) env.KEYCTL_MASTER_KEY = systemdKey;
}

/**
 * Reads a master key from `path` without following a symlink at its last component (O_NOFOLLOW) and without blocking
 * on a FIFO (O_NONBLOCK). A key file must be a regular file readable by its owner only; a systemd credential may carry
 * group bits (systemd grants the service user access with an ACL, whose mask shows there) but never other bits.
 * Returns undefined for a systemd credential that is not there (the unit passes other credentials).
 */
function readKeyFile(path: string, kind: 'file' | 'systemd'): string | undefined;
function readKeyFile(path: string, kind: 'file'): string;
function readKeyFile(path: string, kind: 'file' | 'systemd'): string | undefined {
  const what = kind === 'file' ? `The master key file ${path} (KEYCTL_MASTER_KEY_FILE)` : `The systemd credential ${path}`;
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    const c = code(err);
    if (kind === 'systemd' && c === 'ENOENT') return undefined;
    throw new UsageError('MASTER_KEY_FILE_UNUSABLE', `${what} cannot be opened (${c === 'ELOOP' ? 'it is a symlink' : c}).`, {
      hint:
        c === 'ELOOP'
          ? 'keyctl does not follow a symlink to a key: point it at the file itself.'
          : 'Check the path, and that this user can read it.',
    });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) {
      throw new UsageError('MASTER_KEY_FILE_UNUSABLE', `${what} is not a regular file.`, {
        hint: 'Put the key in a regular file of its own (chmod 600).',
      });
    }
    const loose = st.mode & (kind === 'file' ? 0o077 : 0o007);
    if (loose !== 0) {
      throw new UsageError(
        'MASTER_KEY_FILE_UNUSABLE',
        `${what} is open to ${loose & 0o070 ? 'its group' : 'other users'} (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')}).`,
        { hint: `Run chmod 600 ${path}, and replace the key if someone else may have read it.` },
      );
    }
    if (st.size > MAX_KEY_FILE_BYTES) {
      throw new UsageError('MASTER_KEY_FILE_UNUSABLE', `${what} is ${st.size} bytes: too big to be a master key.`, {
        hint: 'The file must hold only the master key `keyctl init` printed (a trailing newline is fine).',
      });
    }
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    let n = 0;
    for (let got = -1; got !== 0 && n < buf.length; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    const key = buf.toString('utf8', 0, n).trim();
    buf.fill(0);
    if (!key) {
      throw new UsageError('MASTER_KEY_FILE_UNUSABLE', `${what} is empty.`, {
        hint: 'Write the master key `keyctl init` printed into it.',
      });
    }
    return key;
  } finally {
    closeSync(fd);
  }
}

function code(err: unknown): string {
  return (err as { code?: string }).code ?? 'error';
}
