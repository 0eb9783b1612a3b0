/**
 * The local store's coordination backing: plain JSON files (nothing here is secret) under `<store>/coordination/`,
 * one per lease name (`lease-<sha256>.json`) and one per record (`record-<sha256>.json`), each holding its own name so a
 * file moved or renamed is caught. Files 0600, the directory 0700 and refused when another user owns or can write to
 * it, every write atomic (temp + fsync + rename), no symlink followed (files.ts).
 *
 * Mutual exclusion between processes: the same FileLock the store uses (lock.ts), on its own lock file
 * `coordination/coordination.lock`, so lease renewals never wait behind a slow secret write. A transaction reads the
 * files it needs and commits under that lock; a lease's fence counter lives in its file and survives release.
 *
 * Time: every process sharing a local store runs on the same host, so the host's clock IS the store's clock here
 * (injectable for tests, like LocalStore's).
 *
 * Fail closed: a file that is not valid JSON of the expected shape, or whose name does not match its content, is a
 * ProviderError COORDINATION_CORRUPT, never an empty state (an empty state would hand out a lease somebody holds).
 */
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ProviderError } from '../../src/errors.js';
import type { RecordValue } from '../coordination.js';
import { TransactionalCoordination, type CoordinationTx, type LeaseState, type RecordState } from '../coordination/transactional.js';
import { isErrno, isNotAFile, readNoFollow, removeFile, removeStaleTemps, secureDir, writeAtomic } from './files.js';
import { FileLock, removeDeadLockTemps } from './lock.js';

export const COORDINATION_DIR = 'coordination';
export const COORDINATION_LOCK_FILE = 'coordination.lock';
const FORMAT = 'keyctl-coordination/1';
const ENTRY_NAME = /^(lease|record)-[0-9a-f]{64}\.json$/;

export interface LocalCoordinationOptions {
  /** The store directory (the coordination directory is created inside it). */
  path: string;
  /** The store's clock; the host's by default. */
  now?: () => number;
  /** As LocalStoreOptions: heartbeat age after which an unreachable lock holder is presumed dead. Default 10 s. */
  lockStaleMs?: number;
  /** Longest wait for the lock before STORE_BUSY. Default 3 x lockStaleMs. */
  lockTimeoutMs?: number;
}

type Kind = 'lease' | 'record';

export class LocalCoordination extends TransactionalCoordination {
  readonly id = 'local';
  readonly dir: string;
  private readonly storeDir: string;
  private readonly fileLock: FileLock;
  /** Serializes this instance's transactions; the file lock serializes them against other instances and processes. */
  private queue: Promise<unknown> = Promise.resolve();
  private tempsCleaned = false;
  private dirsChecked = false;

  constructor(options: LocalCoordinationOptions) {
    super(options.now ?? Date.now);
    this.storeDir = resolve(options.path);
    this.dir = join(this.storeDir, COORDINATION_DIR);
    const staleMs = options.lockStaleMs ?? 10_000;
    this.fileLock = new FileLock(join(this.dir, COORDINATION_LOCK_FILE), { staleMs, timeoutMs: options.lockTimeoutMs ?? staleMs * 3 });
  }

  async close(): Promise<void> {}

  protected transaction<T>(fn: (tx: CoordinationTx) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.locked(fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async locked<T>(fn: (tx: CoordinationTx) => Promise<T>): Promise<T> {
    await this.checkDirs(true);
    const lock = await this.fileLock.acquire();
    try {
      if (!this.tempsCleaned) {
        // Temp files are only written under the lock, so any found now belong to a writer that died.
        await removeStaleTemps(this.dir);
        await removeDeadLockTemps(this.dir);
        this.tempsCleaned = true;
      }
      const leases = new Map<string, LeaseState>();
      const records = new Map<string, RecordState | null>();
      const tx: CoordinationTx = {
        lease: async (name) => (leases.has(name) ? leases.get(name)! : this.load('lease', name)),
        setLease: (state) => void leases.set(state.name, { ...state }),
        record: async (key) => (records.has(key) ? records.get(key)! : this.load('record', key)),
        setRecord: (key, state) => void records.set(key, state && { ...state }),
      };
      const result = await fn(tx);
      // One entry changes per operation; each file is replaced atomically, so a crash leaves the old or the new one.
      for (const [name, state] of leases) {
        await writeAtomic(this.dir, fileName('lease', name), encode('lease', state), () => lock.assertHeld());
      }
      for (const [key, state] of records) {
        lock.assertHeld();
        if (state === null) await removeFile(this.dir, fileName('record', key));
        else await writeAtomic(this.dir, fileName('record', key), encode('record', state), () => lock.assertHeld());
      }
      return result;
    } finally {
      await lock.release();
    }
  }

  protected async readRecord(key: string): Promise<RecordState | null> {
    await this.checkDirs(false);
    return this.load('record', key);
  }

  protected async recordKeys(): Promise<string[]> {
    await this.checkDirs(false);
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw unreadable(this.dir, err);
      await this.assertStore();
      return [];
    }
    const keys: string[] = [];
    for (const name of names) {
      if (!name.startsWith('record-')) continue;
      if (!ENTRY_NAME.test(name)) throw corrupt(join(this.dir, name), 'its name is not one keyctl writes');
      const state = await this.loadFile<RecordState>('record', name, null);
      if (state) keys.push(state.key);
    }
    return keys;
  }

  /**
   * Refuses a store or coordination directory another user owns or can write to, or a symlink in place of the
   * coordination directory (secureDir); creates the coordination directory for a write. Checked once per instance:
   * lease renewals come often.
   */
  private async checkDirs(create: boolean): Promise<void> {
    if (this.dirsChecked) return;
    await this.assertStore();
    if ((await secureDir(this.dir, { create })) === 'ok') this.dirsChecked = true;
  }

  /** Fails with STORE_NOT_INITIALIZED when the store directory itself is missing (a wrong path, not an empty state). */
  private async assertStore(): Promise<void> {
    if ((await secureDir(this.storeDir, { create: false, followLink: true })) === 'missing') {
      throw new ProviderError('STORE_NOT_INITIALIZED', `No keyctl store at ${this.storeDir}.`, {
        hint: 'Run `keyctl init` to create it, or point store.path in the config at the existing store.',
      });
    }
  }

  private async load<T extends LeaseState | RecordState>(kind: Kind, id: string): Promise<T | null> {
    return this.loadFile<T>(kind, fileName(kind, id), id);
  }

  /** Reads and checks one entry file; `id` null accepts whatever id the file names (checked against its name). */
  private async loadFile<T extends LeaseState | RecordState>(kind: Kind, name: string, id: string | null): Promise<T | null> {
    const file = join(this.dir, name);
    let raw: string;
    try {
      raw = (await readNoFollow(file)).text;
    } catch (err) {
      // A planted symlink is damage, never followed (its target could be any file of the user's).
      if (isNotAFile(err)) throw corrupt(file, 'it is a symbolic link or not a regular file (keyctl does not follow it)');
      if (!isErrno(err, 'ENOENT')) throw unreadable(file, err);
      if (id !== null) await this.assertStore();
      return null;
    }
    const state = decode(kind, raw);
    if (!state) throw corrupt(file, 'it is truncated, not valid JSON, or not of the shape keyctl writes');
    const own = kind === 'lease' ? (state as LeaseState).name : (state as RecordState).key;
    if (fileName(kind, own) !== name || (id !== null && own !== id)) throw corrupt(file, 'its name does not match the entry it holds');
    return state as T;
  }
}

function fileName(kind: Kind, id: string): string {
  return `${kind}-${createHash('sha256').update(id).digest('hex')}.json`;
}

function encode(kind: Kind, state: LeaseState | RecordState): string {
  return `${JSON.stringify({ format: FORMAT, kind, ...state })}\n`;
}

function decode(kind: Kind, raw: string): LeaseState | RecordState | null {
  let o: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
    o = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  if (o.format !== FORMAT || o.kind !== kind) return null;
  if (kind === 'lease') {
    const ok =
      typeof o.name === 'string' &&
      typeof o.held === 'boolean' &&
      typeof o.owner === 'string' &&
      typeof o.token === 'string' &&
      Number.isSafeInteger(o.fence) &&
      (o.fence as number) > 0 &&
      Number.isFinite(o.expiresAt) &&
      (!o.held || (o.token as string).length > 0);
    if (!ok) return null;
    return {
      name: o.name as string,
      held: o.held as boolean,
      owner: o.owner as string,
      token: o.token as string,
      fence: o.fence as number,
      expiresAt: o.expiresAt as number,
    };
  }
  const ok =
    typeof o.key === 'string' && 'value' in o && typeof o.revision === 'string' && o.revision !== '' && Number.isFinite(o.updatedAt);
  if (!ok) return null;
  return { key: o.key as string, value: o.value as RecordValue, revision: o.revision as string, updatedAt: o.updatedAt as number };
}

function corrupt(file: string, why: string): ProviderError {
  return new ProviderError('COORDINATION_CORRUPT', `The coordination file ${file} is damaged: ${why}.`, {
    hint: 'Someone edited or truncated it. No lease or journal is trusted until it is fixed: restore it from a backup, or, once no keyctl is running, remove it (a rotation journal lost this way must then be resumed by hand with `keyctl status`).',
    details: { file },
  });
}

function unreadable(file: string, err: unknown): ProviderError {
  return new ProviderError('STORE_UNREADABLE', `Cannot read ${file}.`, {
    cause: err,
    hint: 'Check that the store directory belongs to the user running keyctl (mode 0700).',
  });
}
