/**
 * Vault's coordination backing, on KV v2 with `cas` (check-and-set), under `<prefix>/_coordination/` (the "_" segment
 * keeps it out of SecretStore.list):
 *   _coordination/leases/k<base64url(name)>   one KV secret per lease name; its latest version is the lease
 *   _coordination/records/k<base64url(key)>   one KV secret per record; its latest version is the record
 *   _coordination/clock                       written to read the server's clock (see now())
 * Names are encoded so any key (with "/", "..", spaces) is one flat KV segment. Every write carries `options.cas` = the
 * version just read, so of two racing writers exactly one succeeds (KV v2 path_data.go, `pathDataWrite`: "check-and-set
 * parameter did not match the current version").
 *
 * Time comes from the server, never from this process's clock: a lease's expiry is the `created_time` of the KV version
 * that granted or renewed it plus its TTL, and now() is the `created_time` of a fresh write to `clock` (both in the KV
 * v2 write and read responses, api-docs/secret/kv/kv-v2).
 *
 * Fencing: each lease keeps a counter (`fence`) that grows by one on every change of holder and survives release. A
 * fenced write first reads the lease and is refused when its counter passed the writer's fence; the record also keeps
 * the highest fence that wrote it. KV v2 has no multi-key transaction, so a takeover that lands between that check and
 * the record's cas write is not seen by the check; but the new holder's own record writes carry a cas on the revision
 * it read, so the late write can never overwrite what the new holder wrote or decided on (it then reads it back).
 *
 * A record is deleted by writing a tombstone version (with cas), never by deleting its metadata: KV v2 has no cas on
 * delete, and version numbers, hence revisions, must never restart.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, LockedError, ProviderError } from '@keyctl/client/errors';
import type {
  CoordinationRecord,
  CoordinationStore,
  Lease,
  RecordDeleteOptions,
  RecordValue,
  RecordWriteOptions,
} from '../coordination.js';
import { assertTtl, conflict, fenced, lockedBy, lost, sameToken } from '../coordination/transactional.js';
import type { Kv, KvRead } from './kv.js';

/** Retries of a write that lost a cas race against a writer that did not change the outcome (our own renewal). */
const CAS_RETRIES = 5;

interface LeaseData {
  held: boolean;
  name: string;
  owner: string;
  token: string;
  fence: number;
  ttlMs: number;
}

interface RecordData {
  live: boolean;
  key: string;
  value: RecordValue;
  /** Highest fence that wrote this record (0: none). */
  fence: number;
  /** Makes the revision unique even if someone deleted the key's metadata and its version numbers restarted. */
  nonce: string;
}

export class VaultCoordination implements CoordinationStore {
  readonly id = 'vault';
  private readonly base: string;

  constructor(
    private readonly kv: Kv,
    prefix: string,
  ) {
    const p = prefix.replace(/^\/+|\/+$/g, '');
    this.base = p ? `${p}/_coordination` : '_coordination';
  }

  /** The server's clock: the creation time of a new version of `clock`. */
  async now(): Promise<number> {
    const path = `${this.base}/clock`;
    const cur = await this.kv.read(path);
    const written = await this.kv.writeStamped(path, { at: 'clock' }, cur?.version ?? 0);
    if (written !== 'conflict') return serverTime(written.created_time, path);
    // Another process wrote it after our read: its time is a (slightly early) reading of now, which only ever makes a
    // lease look less expired, never more.
    const again = await this.kv.read(path);
    return serverTime(again?.created_time, path);
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<Lease> {
    assertTtl(ttlMs);
    const path = this.leasePath(name);
    const cur = await this.kv.read(path);
    const rec = cur ? parseLease(cur, path) : null;
    if (rec?.held) {
      const expiry = serverTime(cur!.created_time, path) + rec.ttlMs;
      if ((await this.now()) < expiry) throw lockedBy(name, rec.owner, expiry);
    }
    const taken = await this.take(path, name, owner, ttlMs, cur, rec);
    if (taken === 'conflict') {
      // Somebody else wrote between our read and our write: they hold it now.
      const again = await this.kv.read(path);
      const holder = again ? parseLease(again, path) : null;
      const expiry = holder?.held ? serverTime(again!.created_time, path) + holder.ttlMs : 0;
      throw lockedBy(name, holder?.held ? holder.owner : 'another process', expiry);
    }
    return taken;
  }

  /** Writes a new holder over what was read (cas on its version, next fence); 'conflict' when another write landed first. */
  private async take(
    path: string,
    name: string,
    owner: string,
    ttlMs: number,
    cur: KvRead | null,
    rec: ReturnType<typeof parseLease> | null,
  ): Promise<Lease | 'conflict'> {
    const next: LeaseData = { held: true, name, owner, token: randomBytes(18).toString('base64url'), fence: (rec?.fence ?? 0) + 1, ttlMs };
    const written = await this.kv.writeStamped(path, encodeLease(next), cur?.version ?? 0);
    if (written === 'conflict') return 'conflict';
    const tookOver = rec?.held === true;
    return {
      name,
      owner,
      token: next.token,
      fence: next.fence,
      expiresAt: new Date(serverTime(written.created_time, path) + ttlMs).toISOString(),
      tookOver,
      ...(tookOver ? { previousOwner: rec.owner } : {}),
    };
  }

  /**
   * Takes the lease whoever holds it: the next fence, written with cas on the version just read. A lost cas race (the
   * holder's renewal, another seizer) is read again and retried: the write that lands is the one that decides.
   */
  async seize(name: string, owner: string, ttlMs: number): Promise<Lease> {
    assertTtl(ttlMs);
    const path = this.leasePath(name);
    for (let i = 0; i < CAS_RETRIES; i++) {
      const cur = await this.kv.read(path);
      const rec = cur ? parseLease(cur, path) : null;
      const taken = await this.take(path, name, owner, ttlMs, cur, rec);
      if (taken !== 'conflict') return taken;
    }
    throw new LockedError(`The lease on "${name}" kept changing while it was being seized.`, {
      hint: 'Other keyctl processes are taking it at the same moment. Re-run the command.',
    });
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    assertTtl(ttlMs);
    const path = this.leasePath(lease.name);
    for (let i = 0; i < CAS_RETRIES; i++) {
      const cur = await this.kv.read(path);
      const rec = cur ? parseLease(cur, path) : null;
      if (!rec || !holds(rec, lease)) throw lost(lease.name);
      const written = await this.kv.writeStamped(path, encodeLease({ ...rec, ttlMs }), cur!.version);
      if (written !== 'conflict') return { ...lease, expiresAt: new Date(serverTime(written.created_time, path) + ttlMs).toISOString() };
      // Lost a race: against a takeover (the next read says so) or against our own concurrent renewal (retry).
    }
    throw lost(lease.name);
  }

  async release(lease: Lease): Promise<void> {
    const path = this.leasePath(lease.name);
    for (let i = 0; i < CAS_RETRIES; i++) {
      const cur = await this.kv.read(path);
      const rec = cur ? parseLease(cur, path) : null;
      // A lost lease is someone else's now: leave it alone. The fence stays, so it is never issued again.
      if (!rec || !holds(rec, lease)) return;
      const written = await this.kv.writeStamped(path, encodeLease({ ...rec, held: false, owner: '', token: '' }), cur!.version);
      if (written !== 'conflict') return;
    }
  }

  async read<T extends RecordValue = RecordValue>(key: string): Promise<CoordinationRecord<T> | null> {
    const path = this.recordPath(key);
    const cur = await this.kv.read(path);
    const rec = cur ? parseRecord(cur, path, key) : null;
    return rec?.live ? toRecord<T>(rec, cur!, path) : null;
  }

  async write<T extends RecordValue>(key: string, value: T, options: RecordWriteOptions): Promise<CoordinationRecord<T>> {
    const stored = JSON.parse(JSON.stringify(value)) as RecordValue;
    if (options.fence) await this.assertFence(key, options.fence);
    const path = this.recordPath(key);
    const cur = await this.kv.read(path);
    const rec = cur ? parseRecord(cur, path, key) : null;
    if ((rec?.live ? revisionOf(rec, cur!) : null) !== options.expect) throw conflict(key);
    const fence = options.fence?.fence ?? 0;
    if (rec && options.fence && rec.fence > fence) throw fenced(key, options.fence);
    const next: RecordData = { live: true, key, value: stored, fence: Math.max(fence, rec?.fence ?? 0), nonce: nonce() };
    const written = await this.kv.writeStamped(path, encodeRecord(next), cur?.version ?? 0);
    if (written === 'conflict') throw conflict(key);
    return {
      key,
      value: stored as T,
      revision: `${written.version}.${next.nonce}`,
      updatedAt: new Date(serverTime(written.created_time, path)).toISOString(),
    };
  }

  async delete(key: string, options: RecordDeleteOptions = {}): Promise<void> {
    if (options.fence) await this.assertFence(key, options.fence);
    const path = this.recordPath(key);
    for (let i = 0; i < CAS_RETRIES; i++) {
      const cur = await this.kv.read(path);
      const rec = cur ? parseRecord(cur, path, key) : null;
      if (!rec?.live) {
        if (options.expect !== undefined) throw conflict(key);
        return;
      }
      if (options.expect !== undefined && revisionOf(rec, cur!) !== options.expect) throw conflict(key);
      if (options.fence && rec.fence > options.fence.fence) throw fenced(key, options.fence);
      const tombstone: RecordData = {
        live: false,
        key,
        value: null,
        fence: Math.max(rec.fence, options.fence?.fence ?? 0),
        nonce: nonce(),
      };
      const written = await this.kv.writeStamped(path, encodeRecord(tombstone), cur!.version);
      if (written !== 'conflict') return;
      // Without `expect` the caller deletes whatever is there: read again and retry.
      if (options.expect !== undefined) throw conflict(key);
    }
    throw new ConflictError(`The record ${key} kept changing while it was being deleted.`, {
      hint: 'Other keyctl processes are writing it. Re-run the command.',
    });
  }

  async list(prefix: string): Promise<string[]> {
    const dir = `${this.base}/records`;
    const candidates = (await this.kv.list(dir))
      .filter((n) => !n.endsWith('/'))
      .map((n) => ({ n, key: decodeName(n, `${dir}/${n}`) }))
      .filter((c) => c.key.startsWith(prefix));
    // Deleted records are tombstones: only their latest version says whether they are live.
    const live = await Promise.all(candidates.map(async (c) => ((await this.read(c.key)) ? c.key : null)));
    return live.filter((k): k is string => k !== null).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async close(): Promise<void> {
    // The KV client belongs to the store it came with; its owner closes it.
  }

  private async assertFence(key: string, lease: Lease): Promise<void> {
    const path = this.leasePath(lease.name);
    const cur = await this.kv.read(path);
    const rec = cur ? parseLease(cur, path) : null;
    if (rec && rec.fence > lease.fence) throw fenced(key, lease);
  }

  private leasePath(name: string): string {
    return `${this.base}/leases/${encodeName(name)}`;
  }

  private recordPath(key: string): string {
    return `${this.base}/records/${encodeName(key)}`;
  }
}

function holds(rec: LeaseData, lease: Lease): boolean {
  return rec.held && rec.fence === lease.fence && sameToken(rec.token, lease.token);
}

/** `k` + base64url: one KV segment whatever the name holds (and never empty). */
function encodeName(name: string): string {
  return `k${Buffer.from(name, 'utf8').toString('base64url')}`;
}

function decodeName(segment: string, path: string): string {
  if (!/^k[A-Za-z0-9_-]*$/.test(segment)) throw corrupt(path, 'its name is not one keyctl writes');
  return Buffer.from(segment.slice(1), 'base64url').toString('utf8');
}

function nonce(): string {
  return randomBytes(6).toString('base64url');
}

function revisionOf(rec: RecordData, cur: KvRead): string {
  return `${cur.version}.${rec.nonce}`;
}

function toRecord<T extends RecordValue>(rec: RecordData, cur: KvRead, path: string): CoordinationRecord<T> {
  return {
    key: rec.key,
    value: rec.value as T,
    revision: revisionOf(rec, cur),
    updatedAt: new Date(serverTime(cur.created_time, path)).toISOString(),
  };
}

function serverTime(value: string | undefined, path: string): number {
  const t = Date.parse(value ?? '');
  if (!Number.isFinite(t)) throw corrupt(path, 'Vault returned no valid created_time');
  return t;
}

function encodeLease(l: LeaseData): Record<string, string> {
  return { held: String(l.held), name: l.name, owner: l.owner, token: l.token, fence: String(l.fence), ttlMs: String(l.ttlMs) };
}

/** Fail closed: a lease that was soft-deleted, destroyed or edited is an error, never "free". */
function parseLease(cur: KvRead, path: string): LeaseData {
  const d = cur.data;
  if (!d) throw corrupt(path, 'its latest version was deleted or destroyed');
  const fence = Number(d.fence);
  const ttlMs = Number(d.ttlMs);
  const ok =
    (d.held === 'true' || d.held === 'false') &&
    typeof d.name === 'string' &&
    typeof d.owner === 'string' &&
    typeof d.token === 'string' &&
    Number.isSafeInteger(fence) &&
    fence > 0 &&
    Number.isFinite(ttlMs) &&
    ttlMs > 0 &&
    (d.held === 'false' || d.token !== '');
  if (!ok) throw corrupt(path, 'it is not of the shape keyctl writes');
  return { held: d.held === 'true', name: d.name as string, owner: d.owner as string, token: d.token as string, fence, ttlMs };
}

function encodeRecord(r: RecordData): Record<string, string> {
  return { live: String(r.live), key: r.key, value: JSON.stringify(r.value), fence: String(r.fence), nonce: r.nonce };
}

function parseRecord(cur: KvRead, path: string, key: string): RecordData {
  const d = cur.data;
  if (!d) throw corrupt(path, 'its latest version was deleted or destroyed');
  const fence = Number(d.fence);
  let value: RecordValue = null;
  let ok =
    (d.live === 'true' || d.live === 'false') &&
    d.key === key &&
    typeof d.value === 'string' &&
    typeof d.nonce === 'string' &&
    d.nonce !== '' &&
    Number.isSafeInteger(fence) &&
    fence >= 0;
  if (ok) {
    try {
      value = JSON.parse(d.value as string) as RecordValue;
    } catch {
      ok = false;
    }
  }
  if (!ok) throw corrupt(path, 'it is not of the shape keyctl writes');
  return { live: d.live === 'true', key, value, fence, nonce: d.nonce as string };
}

function corrupt(path: string, why: string): ProviderError {
  return new ProviderError('COORDINATION_CORRUPT', `The coordination entry ${path} in Vault is damaged: ${why}.`, {
    hint: 'Someone changed it outside keyctl. No lease or journal there is trusted until it is fixed: once no keyctl is running, restore its previous version (`vault kv rollback`) or remove it (`vault kv metadata delete`).',
    details: { path },
  });
}
