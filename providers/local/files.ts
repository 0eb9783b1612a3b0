/**
 * Durable file primitives of the local store: every file 0600, every directory 0700, every write atomic
 * (temp file in the same directory, fsync, rename or link, fsync of the directory).
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;
/** Temp files start with this; any found while holding the store lock belong to a writer that died. */
export const TEMP_PREFIX = '.tmp-';

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

/** Creates `dir` (and parents) 0700 when missing. Returns true when `dir` itself was created. */
export async function ensureDir(dir: string): Promise<boolean> {
  try {
    await stat(dir);
    return false;
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await mkdir(dir, { recursive: true, mode: DIR_MODE });
  // mkdir's mode is filtered by the umask; set it explicitly so a permissive umask cannot widen it.
  await chmod(dir, DIR_MODE);
  return true;
}

/** fsync on a directory makes a rename or unlink in it durable. Some platforms refuse it; that is not an error there. */
export async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (err) {
    if (!isErrno(err, 'EISDIR') && !isErrno(err, 'EPERM') && !isErrno(err, 'EINVAL') && !isErrno(err, 'EBADF')) throw err;
  } finally {
    await fh?.close();
  }
}

/** Writes `data` to a fresh 0600 temp file in `dir` and fsyncs it. Returns the temp path. */
export async function writeTemp(dir: string, data: string | Buffer): Promise<string> {
  const tmp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
  const fh = await open(tmp, 'wx', FILE_MODE);
  try {
    await fh.chmod(FILE_MODE);
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  return tmp;
}

/**
 * Replaces `dir/name` with `data` atomically: a reader sees the old file or the new one, never a mix, and a crash at
 * any point leaves one of the two (plus, at worst, a temp file that the next writer removes). `beforeCommit` runs
 * just before the rename and may throw to abandon the write.
 */
export async function writeAtomic(dir: string, name: string, data: string | Buffer, beforeCommit?: () => void): Promise<void> {
  const tmp = await writeTemp(dir, data);
  try {
    beforeCommit?.();
    await rename(tmp, join(dir, name));
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDir(dir);
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

/** Deletes temp files left by writers that died. Call only while holding the store lock. */
export async function removeStaleTemps(dir: string): Promise<number> {
  let removed = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(TEMP_PREFIX)) continue;
    await unlink(join(dir, name)).then(
      () => (removed += 1),
      () => undefined,
    );
  }
  return removed;
}
