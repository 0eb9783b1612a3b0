/**
 * The go-live checklist's checks of the host's files (src/app/checklist.ts): the local store's permissions, where the
 * master key lives, and secret-looking text in the config file. Each returns a verdict with evidence that names files
 * and line numbers, never a value it found.
 */
import { lstat, open, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';

export interface HostVerdict {
  status: 'pass' | 'fail';
  evidence: string;
  fix?: string;
}

/** Files larger than this are not read when looking for a secret (a master key sits in a small file). */
const MAX_SCAN_BYTES = 1024 * 1024;
/** How many offending files or lines a verdict names. */
const SHOW = 5;

/**
 * The local store's directory is 0700 and every file and directory in it 0600/0700 (nothing for group or others), none
 * a symbolic link, all owned by this user. `dir` undefined: the store is not a local one and the provider's own access
 * policy governs it.
 */
export async function storePermissions(dir: string | undefined, provider: string): Promise<HostVerdict> {
  if (dir === undefined) {
    return { status: 'pass', evidence: `the store is ${provider}, not a directory here: its access policy governs it` };
  }
  const uid = process.getuid?.();
  const bad: string[] = [];
  let files = 0;
  const visit = async (path: string, depth: number): Promise<void> => {
    const info = await lstat(path);
    const name = relative(dir, path) || '.';
    if (info.isSymbolicLink()) bad.push(`${name} is a symbolic link`);
    else if ((info.mode & 0o077) !== 0) bad.push(`${name} is ${(info.mode & 0o777).toString(8)}`);
    else if (uid !== undefined && info.uid !== uid) bad.push(`${name} is owned by uid ${info.uid}`);
    if (info.isDirectory() && depth < 4) {
      for (const entry of await readdir(path)) await visit(join(path, entry), depth + 1);
    } else if (info.isFile()) files += 1;
  };
  try {
    await visit(dir, 0);
  } catch (err) {
    return {
      status: 'fail',
      evidence: `cannot read ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      fix: 'keyctl init (or fix the store path in the config)',
    };
  }
  if (bad.length > 0) {
    return {
      status: 'fail',
      evidence: `${dir}: ${bad.slice(0, SHOW).join('; ')}${bad.length > SHOW ? ` (and ${bad.length - SHOW} more)` : ''}`,
      fix: `chmod -R go-rwx ${dir} (and chown it to the user keyctl runs as)`,
    };
  }
  return { status: 'pass', evidence: `${dir} and its ${files} file(s): owner only, no symbolic links` };
}

export interface MasterKeyPlacementInput {
  /** The local store's directory; undefined when the store is not local (no master key on this host). */
  storeDir: string | undefined;
  configFile: string;
  /** KEYCTL_MASTER_KEY_FILE, when the key is read from a file. */
  masterKeyFile?: string;
  /** The master key or passphrase as the process holds it (from the environment); empty when it holds none. */
  secrets: string[];
}

/**
 * The local store's master key (or passphrase) is not in a file beside the store or the config, nor in the config: a
 * copy of the store directory, or of the config's, must not carry the key that opens it.
 */
export async function masterKeyPlacement(input: MasterKeyPlacementInput): Promise<HostVerdict> {
  if (input.storeDir === undefined) {
    return { status: 'pass', evidence: 'the store is not a local store: no master key on this host' };
  }
  const storeDir = resolve(input.storeDir);
  const dirs = [...new Set([storeDir, dirname(storeDir), dirname(resolve(input.configFile))])];
  const found: string[] = [];
  if (input.masterKeyFile) {
    const file = resolve(input.masterKeyFile);
    if (dirs.includes(dirname(file)) || file.startsWith(`${storeDir}/`))
      found.push(`KEYCTL_MASTER_KEY_FILE ${file} is beside the store or the config`);
  }
  const secrets = input.secrets.filter((s) => s.trim().length >= 8).map((s) => s.trim());
  if (secrets.length > 0) {
    for (const dir of dirs) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        const file = join(dir, name);
        if (input.masterKeyFile && file === resolve(input.masterKeyFile) && found.length > 0) continue;
        if (await holdsAny(file, secrets)) found.push(`${file} holds the master key or passphrase`);
      }
    }
  }
  if (found.length > 0) {
    return {
      status: 'fail',
      evidence: found.slice(0, SHOW).join('; '),
      fix: 'move the master key out (a systemd credential, KEYCTL_MASTER_KEY_FILE on another volume, or a secrets manager), then shred the copy',
    };
  }
  const what =
    secrets.length > 0 ? `none of ${dirs.join(', ')} holds it` : 'the key was not given through the environment, so no file was searched';
  return { status: 'pass', evidence: `master key not beside the store or the config: ${what}` };
}

/** Whether a regular file (not a link, at most MAX_SCAN_BYTES) contains one of `secrets`. */
async function holdsAny(file: string, secrets: string[]): Promise<boolean> {
  try {
    const info = await lstat(file);
    if (!info.isFile() || info.size > MAX_SCAN_BYTES) return false;
    const fh = await open(file, 'r');
    try {
      const text = (await fh.readFile()).toString('utf8');
      return secrets.some((s) => text.includes(s));
    } finally {
      await fh.close();
    }
  } catch {
    // Unreadable to us: not a file this process could leak from either.
    return false;
  }
}

/**
 * `key: value` pairs (block or flow style) whose key names a secret; a reference (`env:`, `store:`, `${...}`) is what
 * the schema wants there, and `...Path` / `...File` keys name where a secret is read, not the secret.
 */
const SECRET_PAIR =
  /(?:^|[\s{,])["']?([A-Za-z_-]*(?:secret|password|passphrase|token|api[_-]?key|private[_-]?key|master[_-]?key|routing[_-]?key)[A-Za-z_-]*)["']?\s*:[ \t]+([^,}\s#][^,}#]*)/gi;
const REFERENCE = /^["']?(env:|store:|\$\{)/;
const NOT_A_SECRET_KEY = /(path|file)$/i;
/** Values no secret takes: booleans, null, and empty strings (`automountServiceAccountToken: false`). */
const NOT_A_SECRET_VALUE = /^(true|false|null|~|yes|no|on|off|""|'')$/i;
/** One token, no spaces: in a comment, `secret: <one token>` is a pasted value, `secret: the store is Vault` is prose. */
const ONE_TOKEN = /^["']?\S{8,}["']?$/;
/** Shapes of secrets that are secrets wherever they appear. */
const SHAPES: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a PEM private key'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
  [/hooks\.slack\.com\/services\/[A-Za-z0-9/]+/, 'a Slack webhook URL'],
  [/\b\d{8,10}:[A-Za-z0-9_-]{35}\b/, 'a Telegram bot token'],
  [/[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i, 'a URL with a password in it'],
  [/\bKEYCTL_(MASTER_KEY|PASSPHRASE)\s*[=:]\s*\S/, 'a keyctl master key or passphrase'],
];

/** Long tokens mixing upper case, lower case and digits read as random: an API key, a secret, a token. */
function randomLooking(token: string): boolean {
  if (token.length < 32) return false;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/].filter((r) => r.test(token)).length;
  return classes === 3 || /^[0-9a-f]{40,}$/i.test(token);
}

/**
 * Lines of the config that look like they hold a secret: a secret-named field with a literal value, a known secret
 * shape, or a long random-looking token. Comments are scanned too (a key pasted into a comment is still in the file).
 */
export function configSecrets(file: string, text: string): HostVerdict {
  const hits: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const at = `line ${i + 1}`;
    const comment = /^\s*#/.test(line);
    const named = [...line.matchAll(SECRET_PAIR)].find((m) => {
      const value = m[2]!.trim();
      if (NOT_A_SECRET_KEY.test(m[1]!) || REFERENCE.test(value) || NOT_A_SECRET_VALUE.test(value)) return false;
      return !comment || ONE_TOKEN.test(value);
    });
    if (named) {
      hits.push(`${at}: ${named[1]} has a literal value`);
      return;
    }
    const shape = SHAPES.find(([re]) => re.test(line));
    if (shape) {
      hits.push(`${at}: ${shape[1]}`);
      return;
    }
    if (line.split(/[^A-Za-z0-9+/=_-]+/).some((t) => randomLooking(t.replace(/^[/=]+|[/=]+$/g, '')))) {
      hits.push(`${at}: a long random-looking string`);
    }
  });
  if (hits.length > 0) {
    return {
      status: 'fail',
      evidence: `${file}: ${hits.slice(0, SHOW).join('; ')}${hits.length > SHOW ? ` (and ${hits.length - SHOW} more)` : ''}`,
      fix: 'replace each with a reference (env:NAME or store:path, docs/alerts.md), rotate what was exposed, and remove it from the file history',
    };
  }
  return { status: 'pass', evidence: `${file}: no secret-looking value` };
}
