/**
 * The local store's cross-process advisory lock: one lock file, created atomically with link(2) so its owner record
 * (pid, host, pid namespace, nonce) exists from the first instant.
 *
 * Why not proper-lockfile: its only staleness test is the lock's mtime with a 2 s floor, so every writer killed
 * mid-write (SIGKILL, OOM, a pod eviction) blocks the next one for seconds, and its stale-lock removal is a bare
 * rmdir that a second remover can apply to the first one's fresh lock (two holders). Here:
 * - a holder on this host (same pid namespace) that no longer exists is detected with kill(pid, 0) and taken over at
 *   once;
 * - any other holder is stale once its heartbeat (mtime, refreshed every staleMs/3) is older than `staleMs`;
 * - breaking a lock happens under a second, short-lived "break" lock and re-checks the owner record first, so only
 *   the lock that was judged dead is ever removed.
 */
import { randomBytes } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { link, lstat, mkdir, readdir, rmdir, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ProviderError } from '@keyctl/client/errors';
import { createFile, isErrno, isNotAFile, readNoFollow, removeFile, touchNoFollow } from '@keyctl/client/local/files';

export interface FileLockOptions {
  /** A holder whose heartbeat is older than this is presumed dead (used when liveness cannot be checked). */
  staleMs: number;
  /** Give up waiting after this long (kept above staleMs, so a stale lock is always broken first). */
  timeoutMs: number;
}

interface Owner {
  pid: number;
  host: string;
  ns: string;
  nonce: string;
  since: string;
}

/** Prefix of the lock's own temp files; not a TEMP_PREFIX file, because they are written without holding the lock. */
export const LOCK_TEMP_PREFIX = '.lock-';
const BREAK_STALE_MS = 5_000;

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

const SELF = { pid: process.pid, host: hostname(), ns: pidNamespace() };

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return !isErrno(err, 'ESRCH');
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A held lock. `lost` turns true when the heartbeat finds the lock file gone or taken over. */
export interface HeldLock {
  readonly lost: boolean;
  /** Throws when the lock was lost, so a write is abandoned instead of committed without the lock. */
  assertHeld(): void;
  release(): Promise<void>;
}

export class FileLock {
  private readonly dir: string;

  constructor(
    private readonly path: string,
    private readonly options: FileLockOptions,
  ) {
    this.dir = dirname(path);
  }

  /** Waits for the lock (taking over a dead or stale holder) and returns it; ProviderError STORE_BUSY on timeout. */
  async acquire(): Promise<HeldLock> {
    const deadline = Date.now() + this.options.timeoutMs;
    let delay = 1;
    for (;;) {
      const owner = await this.tryCreate();
      if (owner) return this.held(owner);
      const holder = await this.inspect();
      if (holder === 'gone') continue;
      if (holder.dead) {
        await this.breakLock();
        continue;
      }
      if (Date.now() > deadline) {
        const who = holder.owner ? `process ${holder.owner.pid} on ${holder.owner.host}` : 'another process';
        throw new ProviderError('STORE_BUSY', `The local store is locked by ${who}.`, {
          retryable: true,
          hint: `Another keyctl is writing to the store. Re-run in a moment; if no keyctl is running, remove ${basename(this.path)} from the store directory.`,
          details: { lockFile: this.path },
        });
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 25);
    }
  }

  private async tryCreate(): Promise<Owner | null> {
    const owner: Owner = { ...SELF, nonce: randomBytes(12).toString('hex'), since: new Date().toISOString() };
    const tmp = join(this.dir, `${LOCK_TEMP_PREFIX}${process.pid}-${owner.nonce}`);
    // No fsync: a lock outlives no crash that matters (after one, its holder is dead, or stale by its heartbeat).
    await createFile(tmp, JSON.stringify(owner), { sync: false });
    try {
      await link(tmp, this.path);
      return owner;
    } catch (err) {
      if (isErrno(err, 'EEXIST')) return null;
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Reads the lock file: who holds it and whether that holder is dead or stale. */
  private async inspect(): Promise<'gone' | { owner: Owner | null; dead: boolean }> {
    let raw: string;
    let mtimeMs: number;
    try {
      const read = await readNoFollow(this.path);
      raw = read.text;
      mtimeMs = read.stat.mtimeMs;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return 'gone';
      // A symlink (or anything but a file) at the lock's name was planted: refuse rather than read or touch its target.
      if (isNotAFile(err)) throw plantedLock(this.path, err);
      throw err;
    }
    let owner: Owner | null = null;
    try {
      const o = JSON.parse(raw) as Owner;
      if (Number.isInteger(o.pid) && o.pid > 0 && typeof o.host === 'string' && typeof o.nonce === 'string') owner = o;
    } catch {
      // Unreadable owner record: only the heartbeat can tell.
    }
    const stale = Date.now() - mtimeMs > this.options.staleMs;
    const local = owner !== null && owner.host === SELF.host && owner.ns === SELF.ns;
    const dead = stale || (local && owner!.pid !== SELF.pid && !isAlive(owner!.pid));
    return { owner, dead };
  }

  /** Removes the lock file if, re-checked under the break lock, it is still dead or stale. */
  private async breakLock(): Promise<void> {
    const breaker = `${this.path}.break`;
    try {
      await mkdir(breaker, { mode: 0o700 });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      // Someone else is breaking it. A breaker that died mid-break leaves this directory: clear it after a while.
      const st = await lstat(breaker).catch(() => null);
      // Only a directory is a breaker; anything else was planted and would make every writer wait here for ever.
      if (st && !st.isDirectory()) throw plantedLock(breaker, err);
      const age = st ? Date.now() - st.mtimeMs : 0;
      if (age > BREAK_STALE_MS) await rmdir(breaker).catch(() => undefined);
      await sleep(2);
      return;
    }
    try {
      const again = await this.inspect();
      if (again !== 'gone' && again.dead) await unlink(this.path).catch(() => undefined);
    } finally {
      await rmdir(breaker).catch(() => undefined);
    }
  }

  private held(owner: Owner): HeldLock {
    let lost = false;
    let released = false;
    const path = this.path;
    const stillOurs = async () => {
      try {
        return (JSON.parse((await readNoFollow(path)).text) as Owner).nonce === owner.nonce;
      } catch {
        return false;
      }
    };
    // Heartbeat: long critical sections (a slow disk) must not look stale to others.
    const timer = setInterval(
      () => {
        void (async () => {
          if (released) return;
          if (!(await stillOurs())) {
            lost = true;
            return;
          }
          const now = new Date();
          await touchNoFollow(path, now).catch(() => {
            lost = true;
          });
        })();
      },
      Math.max(50, Math.floor(this.options.staleMs / 3)),
    );
    timer.unref();
    return {
      get lost() {
        return lost;
      },
      assertHeld() {
        if (lost) {
          throw new ProviderError('STORE_LOCK_LOST', 'The store lock was lost during a write; the write was abandoned.', {
            retryable: true,
            hint: 'The disk or the process was stalled for too long. Nothing was written; re-run the command.',
          });
        }
      },
      async release() {
        if (released) return;
        released = true;
        clearInterval(timer);
        // Never remove a lock that another process took over.
        if (await stillOurs()) await unlink(path).catch(() => undefined);
      },
    };
  }
}

function plantedLock(path: string, cause: unknown): ProviderError {
  return new ProviderError('STORE_INSECURE', `${path} is a symbolic link or not a regular file: not a lock keyctl made.`, {
    cause,
    hint: `Someone with access to the store directory planted it. Find out who, remove ${path}, and re-run.`,
    details: { lockFile: path },
  });
}

/**
 * Lock temp files are written without holding the lock, so a live process may own one: remove only those whose
 * process is gone. Call while holding the lock of `dir`.
 */
export async function removeDeadLockTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(LOCK_TEMP_PREFIX)) continue;
    const pid = Number(name.slice(LOCK_TEMP_PREFIX.length).split('-')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    if (!isAlive(pid)) await removeFile(dir, name);
  }
}
