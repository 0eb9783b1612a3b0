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
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ProviderError } from '@keyctl/client/errors';
import type { RecordValue } from '../coordination.js';
import { TransactionalCoordination, type CoordinationTx, type LeaseState, type RecordState } from '../coordination/transactional.js';
import { isErrno, isNotAFile, readNoFollow, removeFile, removeStaleTemps, secureDir, writeAtomic } from '@keyctl/client/local/files';
import { FileLock, removeDeadLockTemps } from './lock.js';
import type { StoreManifest } from './manifest.js';

export const COORDINATION_DIR = 'coordination';
export const COORDINATION_LOCK_FILE = 'coordination.lock';
/** Format 1 (before the manifest) was plain JSON, read as generation 0; format 2 adds a generation and a MAC. */
const FORMAT_V1 = 'keyctl-coordination/1';
const FORMAT = 'keyctl-coordination/2';
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
  /**
   * The store's manifest and the key these files are authenticated with (both from the store's data key): an older
   * copy of a lease, journal or registry, or one deleted behind keyctl's back, is refused (manifest.ts).
   */
  integrity: { manifest: StoreManifest; coordinationKey(): Promise<Buffer> };
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
  private readonly integrity: LocalCoordinationOptions['integrity'];

  constructor(options: LocalCoordinationOptions) {
    super(options.now ?? Date.now);
    this.storeDir = resolve(options.path);
    this.dir = join(this.storeDir, COORDINATION_DIR);
    this.integrity = options.integrity;
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
      // Generation of each file as read in this transaction (null: none), the base of the next write's generation.
      const gens = new Map<string, number | null>();
      const read = async <T extends LeaseState | RecordState>(kind: Kind, id: string): Promise<T | null> => {
        const loaded = await this.load<T>(kind, id);
        gens.set(fileName(kind, id), loaded?.gen ?? null);
        return loaded?.state ?? null;
      };
      const tx: CoordinationTx = {
        lease: async (name) => (leases.has(name) ? leases.get(name)! : read<LeaseState>('lease', name)),
        setLease: (state) => void leases.set(state.name, { ...state }),
        record: async (key) => (records.has(key) ? records.get(key)! : read<RecordState>('record', key)),
        setRecord: (key, state) => void records.set(key, state && { ...state }),
      };
      const result = await fn(tx);
      const key = await this.integrity.coordinationKey();
      const { manifest } = this.integrity;
      // One entry changes per operation; each file is replaced atomically, so a crash leaves the old or the new one.
      // The file goes first and the manifest second (a tombstone first for a delete): see manifest.ts.
      const commit = async (kind: Kind, id: string, state: LeaseState | RecordState | null) => {
        const name = fileName(kind, id);
        if (!gens.has(name)) await read(kind, id);
        const current = gens.get(name) ?? null;
        lock.assertHeld();
        if (state === null) {
          if (current === null) return;
          await manifest.commit(`${COORDINATION_DIR}/${name}`, await manifest.nextGen(`${COORDINATION_DIR}/${name}`, current), true);
          await removeFile(this.dir, name);
          return;
        }
        const gen = await manifest.nextGen(`${COORDINATION_DIR}/${name}`, current);
        await writeAtomic(this.dir, name, encode(kind, state, name, gen, key), () => lock.assertHeld());
        lock.assertHeld();
        await manifest.commit(`${COORDINATION_DIR}/${name}`, gen, false);
      };
      for (const [name, state] of leases) await commit('lease', name, state);
      for (const [k, state] of records) await commit('record', k, state);
      return result;
    } finally {
      await lock.release();
    }
  }

  protected async readRecord(key: string): Promise<RecordState | null> {
    await this.checkDirs(false);
    return (await this.load<RecordState>('record', key))?.state ?? null;
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
      const loaded = await this.loadFile<RecordState>('record', name, null);
      if (loaded) keys.push(loaded.state.key);
    }
    // A record the manifest says exists and whose file is gone is a deletion outside keyctl (manifest.ts).
    const present = new Set(names);
    for (const live of (await this.integrity.manifest.liveNames(COORDINATION_DIR)) ?? []) {
      const name = live.slice(COORDINATION_DIR.length + 1);
      if (name.startsWith('record-') && !present.has(name)) await this.loadFile<RecordState>('record', name, null);
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

  private async load<T extends LeaseState | RecordState>(kind: Kind, id: string): Promise<Loaded<T> | null> {
    return this.loadFile<T>(kind, fileName(kind, id), id);
  }

  /**
   * Reads, authenticates and checks one entry file against the manifest; `id` null accepts whatever id the file names
   * (checked against its name). Null: no such entry.
   */
  private async loadFile<T extends LeaseState | RecordState>(kind: Kind, name: string, id: string | null): Promise<Loaded<T> | null> {
    const key = await this.integrity.coordinationKey();
    const loaded = await this.integrity.manifest.guard(`${COORDINATION_DIR}/${name}`, id ?? name, async () => {
      const file = await readEntryFile(this.dir, name, key);
      return file && { gen: file.gen, value: file };
    });
    if (!loaded) {
      if (id !== null) await this.assertStore();
      return null;
    }
    const state = decode(kind, loaded.body);
    const file = join(this.dir, name);
    if (!state) throw corrupt(file, 'it is truncated, not valid JSON, or not of the shape keyctl writes');
    const own = kind === 'lease' ? (state as LeaseState).name : (state as RecordState).key;
    if (fileName(kind, own) !== name || (id !== null && own !== id)) throw corrupt(file, 'its name does not match the entry it holds');
    return { state: state as T, gen: loaded.gen };
  }
}

interface Loaded<T> {
  state: T;
  gen: number;
}

/**
 * One entry file, authenticated: its body (the entry's JSON) and generation. Null when missing. Format 1 files
 * (written before files were authenticated) read as generation 0; the manifest accepts them only where it recorded
 * generation 0 when it adopted the store.
 */
async function readEntryFile(dir: string, name: string, key: Buffer): Promise<{ body: string; gen: number } | null> {
  const file = join(dir, name);
  let raw: string;
  try {
    raw = (await readNoFollow(file)).text;
  } catch (err) {
    // A planted symlink is damage, never followed (its target could be any file of the user's).
    if (isNotAFile(err)) throw corrupt(file, 'it is a symbolic link or not a regular file (keyctl does not follow it)');
    if (!isErrno(err, 'ENOENT')) throw unreadable(file, err);
    return null;
  }
  let o: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    o = parsed as Record<string, unknown>;
  } catch {
    throw corrupt(file, 'it is truncated, not valid JSON, or not of the shape keyctl writes');
  }
  if (o.format === FORMAT_V1) return { body: raw, gen: 0 };
  const ok =
    o.format === FORMAT &&
    Number.isSafeInteger(o.gen) &&
    (o.gen as number) > 0 &&
    typeof o.body === 'string' &&
    typeof o.mac === 'string' &&
    Object.keys(o).length === 4;
  if (!ok) throw corrupt(file, 'it is truncated, not valid JSON, or not of the shape keyctl writes');
  const want = Buffer.from(entryMac(key, name, o.gen as number, o.body as string), 'base64');
  const got = Buffer.from(o.mac as string, 'base64');
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    throw corrupt(file, 'it fails authentication (edited, or written by another store)');
  }
  return { body: o.body as string, gen: o.gen as number };
}

/** The authenticated generation of a coordination file (for the manifest), null when it is missing. */
export async function coordinationFileGen(dir: string, name: string, key: Buffer): Promise<number | null> {
  return (await readEntryFile(dir, name, key))?.gen ?? null;
}

function entryMac(key: Buffer, name: string, gen: number, body: string): string {
  return createHmac('sha256', key)
    .update(JSON.stringify([FORMAT, name, gen, body]))
    .digest('base64');
}

function fileName(kind: Kind, id: string): string {
  return `${kind}-${createHash('sha256').update(id).digest('hex')}.json`;
}

function encode(kind: Kind, state: LeaseState | RecordState, name: string, gen: number, key: Buffer): string {
  const body = JSON.stringify({ format: FORMAT_V1, kind, ...state });
  return `${JSON.stringify({ format: FORMAT, gen, body, mac: entryMac(key, name, gen, body) })}\n`;
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
  if (o.format !== FORMAT_V1 || o.kind !== kind) return null;
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
