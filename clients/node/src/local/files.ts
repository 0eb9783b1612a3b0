/**
 * Durable file primitives of the local store: every file 0600, every directory 0700, every write atomic
 * (temp file in the same directory, fsync, rename or link, fsync of the directory).
 *
 * Nothing here follows a symbolic link at a name keyctl writes or reads: files are opened with O_NOFOLLOW, new files
 * with O_CREAT|O_EXCL under random names, and rename/link/unlink act on the link itself. So a link planted in the
 * store can make a call fail, never redirect a write to another file of the user's.
 *
 * In the client package because a bot redeeming a local-store token (./tokens.ts) claims and writes files in the
 * store's tokens directory; the store (providers/local) imports them from here.
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { link, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ProviderError } from '../errors.js';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;
/** Temp files start with this; any found while holding the store lock belong to a writer that died. */
export const TEMP_PREFIX = '.tmp-';

// Windows has neither flag; there a symlink needs privileges the threat (a bot of the same user) does not have.
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;
// A FIFO planted at a record's name would block a reader's open(2) forever; O_NONBLOCK makes it return at once.
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const READ_FLAGS = constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW;

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

/** Error code of readNoFollow when the name is a symbolic link, a directory, a FIFO or a device: not a file keyctl wrote. */
export const NOT_A_FILE = 'ENOTREGULAR';

/** True when `err` says the name holds something other than a regular file (a planted symlink, say). */
export function isNotAFile(err: unknown): boolean {
  return isErrno(err, NOT_A_FILE) || isErrno(err, 'ELOOP') || isErrno(err, 'EISDIR') || isErrno(err, 'EMLINK');
}

function notAFile(file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${file} is not a regular file`), { code: NOT_A_FILE });
}

/**
 * Reads a regular file without following a symlink at its name (ELOOP, see isNotAFile) and returns its text and the
 * stat of the very file read. ENOENT is passed through. `wanted`, given the file's stat, may decline the read (the
 * caller's copy is current): then null.
 */
export async function readNoFollow(file: string): Promise<{ text: string; stat: Stats }>;
export async function readNoFollow(file: string, wanted: (st: Stats) => boolean): Promise<{ text: string; stat: Stats } | null>;
export async function readNoFollow(file: string, wanted?: (st: Stats) => boolean): Promise<{ text: string; stat: Stats } | null> {
  const fh = await open(file, READ_FLAGS);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw notAFile(file);
    if (wanted && !wanted(st)) return null;
    return { text: await fh.readFile('utf8'), stat: st };
  } finally {
    await fh.close();
  }
}

/** Sets a regular file's times without following a symlink at its name (the lock's heartbeat). */
export async function touchNoFollow(file: string, when: Date): Promise<void> {
  const fh = await open(file, READ_FLAGS);
  try {
    if (!(await fh.stat()).isFile()) throw notAFile(file);
    await fh.utimes(when, when);
  } finally {
    await fh.close();
  }
}

/**
 * Creates `file` 0600 with `data` and fsyncs it (unless `sync` is false: a file no crash needs, like a lock's owner
 * record); fails with EEXIST when anything, a dangling symlink included, is there.
 */
export async function createFile(file: string, data: string | Buffer, o: { sync?: boolean } = {}): Promise<void> {
  const fh = await open(file, CREATE_FLAGS, FILE_MODE);
  try {
    // The umask may have narrowed the mode; never widened it, but be explicit.
    await fh.chmod(FILE_MODE);
    await fh.writeFile(data);
    if (o.sync !== false) await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(file).catch(() => undefined);
    throw err;
  }
  await fh.close();
}

export interface DirCheck {
  /** Create the directory (0700, parents too) when missing. */
  create: boolean;
  /** Accept a symlink as the directory itself (the store root, which the user names); never for subdirectories. */
  followLink?: boolean;
}

/**
 * Makes sure `dir` is a directory only the current user can change: owned by them and not group/other-writable.
 * A directory that fails this is refused (ProviderError STORE_INSECURE, exit 4), except one that is ours and empty,
 * which is fixed to 0700 (nothing in it can have been planted yet). Returns 'missing' when it does not exist and
 * `create` is false.
 */
export async function secureDir(dir: string, check: DirCheck): Promise<'ok' | 'missing'> {
  let created = false;
  if (check.create) {
    await mkdir(dirname(dir), { recursive: true, mode: DIR_MODE });
    try {
      await mkdir(dir, { mode: DIR_MODE });
      created = true;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
  }
  let fh;
  try {
    // Checked and fixed through one descriptor, so the directory cannot be swapped between the check and the chmod.
    fh = await open(dir, constants.O_RDONLY | O_DIRECTORY | (check.followLink ? 0 : O_NOFOLLOW));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'missing';
    if (isErrno(err, 'ELOOP') || isErrno(err, 'ENOTDIR')) {
      throw new ProviderError('STORE_INSECURE', `${dir} is a symbolic link or not a directory; keyctl only uses a real directory here.`, {
        hint: `Nobody but keyctl should create this name. Find out who did, remove ${dir}, and re-run (keyctl creates the directory itself).`,
        details: { dir },
      });
    }
    throw err;
  }
  try {
    const st = await fh.stat();
    const uid = process.getuid?.();
    if (uid === undefined) return 'ok'; // Windows: no POSIX owner or mode to check.
    if (st.uid !== uid) {
      throw new ProviderError('STORE_INSECURE', `${dir} belongs to uid ${st.uid}, not to the user running keyctl (uid ${uid}).`, {
        hint: `Run keyctl as the user who owns ${dir}. If the directory is yours, check that nobody else changed files in it, then \`chown -R ${uid} ${dir}\`.`,
        details: { dir, ownerUid: st.uid, uid },
      });
    }
    const loose = (st.mode & 0o022) !== 0;
    if (created || (loose && (await readdir(dir)).length === 0)) {
      await fh.chmod(DIR_MODE);
      return 'ok';
    }
    if (loose) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw new ProviderError('STORE_INSECURE', `${dir} is writable by other users (mode ${mode}): they could replace the store's files.`, {
        hint: `Check that nobody else changed files in it, then run \`chmod 700 ${dir}\` and re-run.`,
        details: { dir, mode },
      });
    }
    return 'ok';
  } finally {
    await fh.close();
  }
}

/** fsync on a directory makes a rename or unlink in it durable. Some platforms refuse it; that is not an error there. */
export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, constants.O_RDONLY | O_DIRECTORY);
    await fh.sync();
  } catch (err) {
    if (!isErrno(err, 'EISDIR') && !isErrno(err, 'EPERM') && !isErrno(err, 'EINVAL') && !isErrno(err, 'EBADF')) throw err;
  } finally {
    await fh?.close();
  }
}

/**
 * Writes `data` to a fresh 0600 temp file with a random name in `dir` and fsyncs it. Returns the temp path. `prefix`
 * names whose stale temps these are: each lock removes only its own writers' (removeStaleTemps).
 */
export async function writeTemp(dir: string, data: string | Buffer, prefix = TEMP_PREFIX): Promise<string> {
  const tmp = join(dir, `${prefix}${randomBytes(16).toString('hex')}`);
  await createFile(tmp, data);
  return tmp;
}

/**
 * Replaces `dir/name` with `data` atomically: a reader sees the old file or the new one, never a mix, and a crash at
 * any point leaves one of the two (plus, at worst, a temp file that the next writer removes). `beforeCommit` runs
 * just before the rename and may throw to abandon the write.
 */
export async function writeAtomic(
  dir: string,
  name: string,
  data: string | Buffer,
  beforeCommit?: () => void,
  prefix = TEMP_PREFIX,
  o: { syncDir?: boolean } = {},
): Promise<void> {
  const tmp = await writeTemp(dir, data, prefix);
  try {
    beforeCommit?.();
    // rename(2) replaces whatever is at `name`, a planted symlink included, and never writes through it.
    await rename(tmp, join(dir, name));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // Skipped only where losing the rename in a crash is a state the reader accepts (see manifest.ts).
  if (o.syncDir !== false) await syncDir(dir);
}

/**
 * Creates `dir/name` with `data` only if it does not exist yet (link(2) fails on an existing target, atomically), so
 * a file that matters, like the keyring, can never be overwritten. Returns false when it already existed.
 */
export async function createExclusive(dir: string, name: string, data: string | Buffer): Promise<boolean> {
  const tmp = await writeTemp(dir, data);
  try {
    await link(tmp, join(dir, name));
    return true;
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
    await syncDir(dir);
  }
}

/** Removes `dir/name` durably; a missing file is fine. */
export async function removeFile(dir: string, name: string): Promise<void> {
  try {
    await unlink(join(dir, name));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  await syncDir(dir);
}

/**
 * Deletes temp files of `prefix` left by writers that died. Call only while holding the lock those writers hold: a
 * temp of another lock's writer may be in flight (the manifest's, under its own lock, sits beside the keyring's).
 */
export async function removeStaleTemps(dir: string, prefix = TEMP_PREFIX): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    await unlink(join(dir, name)).then(
      () => (removed += 1),
      () => undefined,
    );
  }
  return removed;
}
