/**
 * The local store's manifest: one authenticated file (`<store>/manifest.json`) recording, for every record file of the
 * store (`docs/*` and `coordination/*`), the generation of its latest write, and a tombstone for every record deleted.
 * Each record file carries its own generation inside what the data key authenticates, so an older valid copy of a
 * record put back (a revoked key's slot file, a spent journal, a released lease) or a record deleted behind keyctl's
 * back is told apart from the current one, and refused (STORE_ROLLBACK, exit 4) instead of served.
 *
 * Crash safety comes from the order of writes, never from a second copy:
 * - a write puts the record file (generation g+1) first, then the manifest: a crash in between leaves a record one
 *   step ahead of the manifest, which is accepted (a generation cannot be forged without the data key);
 * - a delete puts the tombstone in the manifest first, then unlinks: a crash in between leaves a stale file the
 *   tombstone outranks, which reads as absent.
 * So a record behind the manifest, or missing while the manifest says it lives, can only be a rollback or a deletion.
 *
 * The manifest is replaced atomically under its own lock (`manifest.lock`), taken inside the docs or coordination
 * lock, never the other way round. Readers take no lock: they re-read the manifest when it changed (stat), and judge
 * a mismatch only against a manifest that did not change while they looked.
 *
 * What it cannot tell: the whole store (manifest included) put back to an earlier consistent state, which is what a
 * restore from a backup is (docs/local-store.md#restoring-from-a-backup).
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ProviderError } from '@keyctl/client/errors';
import { isErrno, isNotAFile, readNoFollow, removeStaleTemps, writeAtomic } from '@keyctl/client/local/files';
import { FileLock } from './lock.js';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_LOCK_FILE = 'manifest.lock';
const FORMAT = 'keyctl-manifest/1';
/** The directories whose files the manifest covers, relative to the store. */
export const COVERED_DIRS = ['docs', 'coordination'] as const;
const RECORD_NAME = /^[a-z]+-[0-9a-f]{64}\.json$/;
/**
 * The manifest's temp files sit in the store directory beside the keyring's, but are written under the manifest lock,
 * not the store lock: their own prefix keeps each lock's cleanup off the other's writes in flight.
 */
export const MANIFEST_TEMP_PREFIX = '.manifest-tmp-';

/** What the manifest knows of one record file. */
export interface ManifestEntry {
  gen: number;
  deleted: boolean;
}

interface ManifestState {
  seq: number;
  entries: Map<string, ManifestEntry>;
}

/** Reads the generation a record file carries (0 for files written before the manifest existed). */
export type GenReader = (name: string) => Promise<number | null>;

export interface ManifestOptions {
  storeDir: string;
  /** The store's data key; the manifest's MAC key is derived from it. */
  dataKey: () => Promise<Buffer>;
  /** Reads (and authenticates) the generation a covered file carries; null when it is missing. */
  gens: GenReader;
  lockStaleMs?: number;
  lockTimeoutMs?: number;
}

/** Key for the manifest's MAC, or (label `coordination`) for coordination files' MACs: HKDF of the data key. */
export function deriveIntegrityKey(dataKey: Buffer, label: 'manifest' | 'coordination'): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), `keyctl:v1:${label}-mac`, 32));
}

export class StoreManifest {
  private readonly file: string;
  private readonly lock: FileLock;
  private cache: { ino: number; mtimeMs: number; ctimeMs: number; size: number; state: ManifestState | null } | undefined;
  private key: Buffer | undefined;
  private tempsCleaned = false;

  constructor(private readonly options: ManifestOptions) {
    this.file = join(options.storeDir, MANIFEST_FILE);
    const staleMs = options.lockStaleMs ?? 10_000;
    this.lock = new FileLock(join(options.storeDir, MANIFEST_LOCK_FILE), { staleMs, timeoutMs: options.lockTimeoutMs ?? staleMs * 3 });
  }

  /**
   * Reads a record through the manifest: `load` reads the file and the generation it carries (null when the file is
   * missing). Returns the value, or null when the record does not exist (a tombstone outranks a stale file); throws
   * STORE_ROLLBACK for an older copy, or for a record the manifest says exists that is missing.
   */
  async guard<T>(name: string, what: string, load: () => Promise<{ gen: number | null; value: T } | null>): Promise<T | null> {
    for (let attempt = 0; ; attempt += 1) {
      const before = await this.read();
      const file = await load();
      if (before === null) return file?.value ?? null; // a store from before the manifest, not adopted yet
      const entry = before.entries.get(name);
      const verdict = judge(entry, file?.gen ?? null);
      if (verdict === 'serve') return file!.value;
      if (verdict === 'absent') return null;
      // A writer may have moved the manifest between our reads: judge only against one that stood still.
      const after = await this.read();
      if ((after !== null && after.seq === before.seq) || attempt >= 5) {
        throw rollback(name, what, verdict, entry?.gen ?? 0, file?.gen ?? null);
      }
    }
  }

  /** The generation a writer gives the next content of `name`, whose current file carries `current` (null: none). */
  async nextGen(name: string, current: number | null): Promise<number> {
    let state = await this.read();
    if (state === null) {
      // Adopt before the first file with a generation exists, so the manifest is never missing while one does.
      await this.update(() => undefined);
      state = await this.read();
    }
    return Math.max(current ?? 0, state?.entries.get(name)?.gen ?? 0) + 1;
  }

  /**
   * Records a write (`deleted` false, after the file is in place) or a delete (true, before the file is unlinked).
   * Call while holding the lock of the record's directory. Adopts a store that has no manifest yet.
   */
  async commit(name: string, gen: number, deleted: boolean): Promise<void> {
    await this.update(
      (entries) => {
        const known = entries.get(name);
        // Never move a record backwards: a stale writer's commit loses to the newer one already recorded.
        if (!known || known.gen < gen || (known.gen === gen && deleted)) entries.set(name, { gen, deleted });
      },
      // A write's manifest update lost in a crash leaves the record one generation ahead, which is accepted: no need
      // to make the rename durable. A tombstone must be, before the record's file is unlinked.
      { durable: deleted },
    );
  }

  /** Names of the records the manifest says exist, in one covered directory. */
  async liveNames(dir: (typeof COVERED_DIRS)[number]): Promise<string[] | null> {
    const state = await this.read();
    if (!state) return null;
    return [...state.entries].filter(([n, e]) => !e.deleted && n.startsWith(`${dir}/`)).map(([n]) => n);
  }

  /**
   * Replaces the manifest with what is on disk now (`keyctl store accept`): every record file at the generation it
   * carries, tombstones kept, records the old manifest knew and that are gone turned into tombstones. Returns what
   * changed, for the audit entry.
   */
  async rebuild(): Promise<Array<{ record: string; was: string; now: string }>> {
    const changes: Array<{ record: string; was: string; now: string }> = [];
    try {
      await this.read();
    } catch (err) {
      changes.push({ record: MANIFEST_FILE, was: err instanceof ProviderError ? err.code : 'unreadable', now: 'rebuilt from the files' });
    }
    await this.update(
      async (entries) => {
        const onDisk = await scanGens(this.options.storeDir, this.options.gens);
        for (const [name, gen] of onDisk) {
          const known = entries.get(name);
          if (known && !known.deleted && known.gen === gen) continue;
          changes.push({ record: name, was: describe(known), now: `generation ${gen}` });
          entries.set(name, { gen, deleted: false });
        }
        for (const [name, e] of entries) {
          if (!e.deleted && !onDisk.has(name)) {
            changes.push({ record: name, was: describe(e), now: 'missing' });
            entries.set(name, { gen: e.gen, deleted: true });
          }
        }
      },
      { ignoreDamage: true },
    );
    return changes;
  }

  // ---- internals --------------------------------------------------------------------------------------------------

  private async macKey(): Promise<Buffer> {
    this.key ??= deriveIntegrityKey(await this.options.dataKey(), 'manifest');
    return this.key;
  }

  /**
   * The manifest as on disk, re-read only when its file changed. null: no manifest and no record file carrying a
   * generation (a store from before the manifest). A manifest that is missing while such files exist, or that fails
   * its MAC, is an error.
   */
  private async read(): Promise<ManifestState | null> {
    let raw: { text: string; stat: import('node:fs').Stats } | null;
    // The cached state that matched the file's fstat: kept here, since a concurrent update may clear this.cache.
    let current: ManifestState | null = null;
    try {
      // Read the file only when it changed since the last read (one fstat otherwise): reads are frequent.
      raw = await readNoFollow(this.file, (st) => {
        const c = this.cache;
        if (c?.state && c.ino === st.ino && c.mtimeMs === st.mtimeMs && c.ctimeMs === st.ctimeMs && c.size === st.size) {
          current = c.state;
          return false;
        }
        return true;
      });
    } catch (err) {
      if (isNotAFile(err)) throw damaged(this.file, 'it is a symbolic link or not a regular file');
      if (!isErrno(err, 'ENOENT')) throw err;
      this.cache = undefined;
      const onDisk = await scanGens(this.options.storeDir, this.options.gens);
      const written = [...onDisk].filter(([, g]) => g > 0);
      if (written.length > 0) throw manifestMissing(this.file, written.length);
      return null;
    }
    if (raw === null) return current!;
    const { stat } = raw;
    const state = parse(raw.text, await this.macKey());
    if (!state) throw damaged(this.file, 'it is not valid JSON of the shape keyctl writes, or fails authentication');
    this.cache = { ino: stat.ino, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs, size: stat.size, state };
    return state;
  }

  private async update(
    change: (entries: Map<string, ManifestEntry>) => void | Promise<void>,
    o: { ignoreDamage?: boolean; durable?: boolean } = {},
  ): Promise<void> {
    const held = await this.lock.acquire();
    try {
      if (!this.tempsCleaned) {
        await removeStaleTemps(this.options.storeDir, MANIFEST_TEMP_PREFIX);
        this.tempsCleaned = true;
      }
      let state: ManifestState | null;
      try {
        state = await this.read();
      } catch (err) {
        if (!o.ignoreDamage) throw err;
        state = null;
      }
      if (state === null) {
        // Adoption: every file there now, at the generation it carries (0 for files from before the manifest).
        const entries = new Map<string, ManifestEntry>();
        for (const [name, gen] of await scanGens(this.options.storeDir, this.options.gens)) entries.set(name, { gen, deleted: false });
        state = { seq: 0, entries };
      }
      const entries = new Map(state.entries);
      await change(entries);
      const next = { seq: state.seq + 1, entries };
      await writeAtomic(
        this.options.storeDir,
        MANIFEST_FILE,
        encode(next, await this.macKey()),
        () => held.assertHeld(),
        MANIFEST_TEMP_PREFIX,
        { syncDir: o.durable !== false },
      );
      this.cache = undefined;
    } finally {
      await held.release();
    }
  }
}

/** Every record file in the covered directories with the generation it carries. */
async function scanGens(storeDir: string, gens: GenReader): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const dir of COVERED_DIRS) {
    let names: string[];
    try {
      names = await readdir(join(storeDir, dir));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) continue;
      throw err;
    }
    for (const n of names) {
      if (!RECORD_NAME.test(n)) continue;
      const gen = await gens(`${dir}/${n}`);
      if (gen !== null) found.set(`${dir}/${n}`, gen);
    }
  }
  return found;
}

type Verdict = 'serve' | 'absent' | 'behind' | 'missing';

function judge(entry: ManifestEntry | undefined, gen: number | null): Verdict {
  if (!entry) {
    // Unknown to the manifest: a record created whose manifest update has not landed (generation 1), or nothing.
    if (gen === null) return 'absent';
    return gen === 1 ? 'serve' : 'behind';
  }
  if (entry.deleted) {
    // A stale file the tombstone outranks (a crash before the unlink, or a deleted record put back) reads as absent;
    // a record created again after the delete is one generation past the tombstone.
    if (gen === null || gen <= entry.gen) return 'absent';
    return 'serve';
  }
  if (gen === null) return 'missing';
  return gen >= entry.gen ? 'serve' : 'behind';
}

function describe(e: ManifestEntry | undefined): string {
  if (!e) return 'unknown';
  return e.deleted ? `deleted at generation ${e.gen}` : `generation ${e.gen}`;
}

function macInput(seq: number, entries: Map<string, ManifestEntry>): string {
  const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([n, e]) => [n, e.gen, e.deleted]);
  return JSON.stringify([FORMAT, seq, sorted]);
}

function mac(key: Buffer, seq: number, entries: Map<string, ManifestEntry>): string {
  return createHmac('sha256', key).update(macInput(seq, entries)).digest('base64');
}

function encode(state: ManifestState, key: Buffer): string {
  const records: Record<string, [number, 0 | 1]> = {};
  for (const [n, e] of [...state.entries].sort(([a], [b]) => (a < b ? -1 : 1))) records[n] = [e.gen, e.deleted ? 1 : 0];
  return `${JSON.stringify({ format: FORMAT, seq: state.seq, records, mac: mac(key, state.seq, state.entries) })}\n`;
}

function parse(text: string, key: Buffer): ManifestState | null {
  let o: Record<string, unknown>;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
    o = v as Record<string, unknown>;
  } catch {
    return null;
  }
  if (o.format !== FORMAT || !Number.isSafeInteger(o.seq) || typeof o.mac !== 'string') return null;
  if (typeof o.records !== 'object' || o.records === null || Array.isArray(o.records)) return null;
  const entries = new Map<string, ManifestEntry>();
  for (const [name, v] of Object.entries(o.records as Record<string, unknown>)) {
    if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || (v[0] as number) < 0 || (v[1] !== 0 && v[1] !== 1))
      return null;
    const [dir, file] = name.split('/');
    if (!COVERED_DIRS.includes(dir as (typeof COVERED_DIRS)[number]) || !RECORD_NAME.test(file ?? '')) return null;
    entries.set(name, { gen: v[0] as number, deleted: v[1] === 1 });
  }
  const want = Buffer.from(mac(key, o.seq as number, entries), 'base64');
  const got = Buffer.from(o.mac, 'base64');
  if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
  return { seq: o.seq as number, entries };
}

const restoreHint =
  'If you restored the store, or these files, from a backup on purpose, run `keyctl store accept --reason "<why>"` ' +
  '(audited), then `keyctl verify` and rotate what the backup brought back. Otherwise someone replaced or removed store ' +
  'files: keyctl served nothing from them. Find out who, and check the keys at the exchange.';

function rollback(name: string, what: string, verdict: 'behind' | 'missing', want: number, got: number | null): ProviderError {
  const message =
    verdict === 'missing'
      ? `The store record ${what} (${name}) is missing, although the store's manifest records it at generation ${want}: it was deleted outside keyctl.`
      : `The store record ${what} (${name}) is an older copy (generation ${got ?? 0}) than the store's manifest records (generation ${want}): it was put back from a backup or replaced.`;
  return new ProviderError('STORE_ROLLBACK', message, {
    hint: restoreHint,
    details: { file: name, record: what, manifestGeneration: want, fileGeneration: got },
  });
}

function manifestMissing(file: string, records: number): ProviderError {
  return new ProviderError(
    'STORE_ROLLBACK',
    `The store's manifest ${file} is missing, but ${records} record file(s) were written since the store had one: it was deleted outside keyctl.`,
    { hint: restoreHint, details: { file } },
  );
}

function damaged(file: string, why: string): ProviderError {
  return new ProviderError('STORE_CORRUPT', `The store's manifest ${file} is damaged: ${why}.`, {
    hint: 'Restore it from the same backup as the rest of the store, or, if the records are known good, run `keyctl store accept --reason "<why>"` to rebuild it (audited).',
    details: { file },
  });
}
