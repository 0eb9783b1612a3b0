/**
 * A CoordinationStore on top of a SecretStore: leases from an injected {@link LeaseBackend}, records as versions of
 * internal paths under `keyctl/coordination/` written with compare-and-set on stage CURRENT. This is how keyctl stored
 * coordination state before the contract existed, and how AWS stores kept it before their DynamoDB table: it is kept
 * only so `keyctl init` can move those records into the table (providers/aws/migrate.ts). Every provider has its own
 * backing now (providers/registry.ts).
 *
 * Records:
 * - Path: `keyctl/coordination/r<key>` with every byte outside `[A-Za-z0-9._-]` escaped as `@XX`, so any key fits the
 *   path grammar and a key prefix is a path prefix (list is one SecretStore.list). A key too long for that is stored
 *   at `keyctl/coordination/h<sha256 of the key>`. The body always names its key; a body whose key does not map to
 *   its path is STORE_CORRUPT. Its own prefix, so no record can land on `keyctl/audit-key` (src/audit/key.ts).
 * - Delete writes a tombstone version instead of deleting the secret: a delete is then compare-and-set like any
 *   write, a stale writer's revision is never reused, and the next create does not hit AWS's refusal to re-create a
 *   name just force-deleted.
 * - `updatedAt` is kept in the body, by the injected clock, so reads and writes report the same time.
 *
 * Fencing: a fenced write or delete first asks the lease backend for the last fence issued for the lease's name
 * (when it keeps one, as AWS's does) and refuses a lower one. Each record also keeps the highest fence that wrote it.
 */
import { createHash } from 'node:crypto';
import { ConflictError, FencedError, NotFoundError, ProviderError } from '@keyctl/client/errors';
import type { SecretStore } from '../types.js';
import type {
  CoordinationRecord,
  CoordinationStore,
  Lease,
  RecordDeleteOptions,
  RecordValue,
  RecordWriteOptions,
} from '../coordination.js';
import { mapLimit } from '../map-limit.js';

/** Kept apart from other `keyctl/` secrets (the audit key) so that no record key can name one of them. */
const PREFIX = 'keyctl/coordination/';
/** Escaped keys follow this marker; hashed keys follow HASHED. */
const ESCAPED = 'r';
const HASHED = 'h';
/** SecretStore paths are at most 256 characters (providers/document-store.ts, assertValidPath). */
const MAX_PATH = 256;
/** Bytes a path segment takes as they are; `@` is not among them, it starts an escape. */
const PLAIN = /^[A-Za-z0-9._-]$/;
/** Record reads in flight at once while listing. */
const LIST_READS = 8;
/** Attempts of an unguarded delete that keeps losing to concurrent writers. */
const DELETE_ATTEMPTS = 3;

/** A lease as a {@link LeaseBackend} hands it out (the SecretStore-era lease). */
export interface StoreLease {
  name: string;
  /** Who holds it (free text: host, pid, rotation id). */
  owner: string;
  /** Opaque proof of holding; required to renew or release. Not a secret but never printed. */
  token: string;
  /** ISO-8601 expiry. */
  expiresAt: string;
  /** True when this lease took over an expired one. */
  tookOver: boolean;
  /** The owner whose expired lease was taken over, when `tookOver`. */
  previousOwner?: string;
  /**
   * A real fencing token, when the backend keeps a per-name counter. Without it the fence is derived from the
   * expiry (see fenceOf), which only grows with each new holder as long as holders keep their leases to the end.
   */
  fence?: number;
}

/** Where SecretBackedCoordination takes its leases from (e.g. providers/aws/leases.ts). */
export interface LeaseBackend {
  /** Takes the lease, or throws LockedError naming the holder. Two concurrent callers: exactly one wins. */
  lock(name: string, owner: string, ttlMs: number): Promise<StoreLease>;
  /**
   * Takes the lease whoever holds it, with a real fence greater than any issued (CoordinationStore.seize). Optional:
   * without it, and without a real fence, a broken holder could not be told apart, so seize is refused.
   */
  seize?(name: string, owner: string, ttlMs: number): Promise<StoreLease>;
  /** Extends a held lease; LockedError when it was lost. */
  renew(lease: StoreLease, ttlMs: number): Promise<StoreLease>;
  /** Releases a held lease; a lost lease is left alone. */
  unlock(lease: StoreLease): Promise<void>;
  /**
   * The last fence issued for `name` (0 when none was), kept through release. With it a broken holder is refused
   * before the new holder has written anything.
   */
  fence?(name: string): Promise<number>;
}

/** A record's body (the secret field `record`), or its tombstone. */
interface Body {
  v: 1;
  key: string;
  /** The highest fence that wrote the record (0: never a fenced write). */
  fence: number;
  /** ISO-8601, by the injected clock. */
  updatedAt: string;
  /** Absent on a tombstone. */
  value?: RecordValue;
  deleted?: true;
}

interface Found {
  body: Body;
  revision: string;
}

export class SecretBackedCoordination implements CoordinationStore {
  readonly id: string;

  constructor(
    private readonly store: SecretStore,
    private readonly leases: LeaseBackend,
    private readonly clock: () => number = Date.now,
  ) {
    this.id = store.id;
  }

  async now(): Promise<number> {
    return this.clock();
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<Lease> {
    const lease = await this.leases.lock(name, owner, ttlMs);
    return { ...lease, fence: lease.fence ?? fenceOf(lease.expiresAt) };
  }

  /**
   * Only through a backend that seizes with a real fence: the fence derived from the expiry (fenceOf) need not grow
   * when a lease is broken before it expired, and then the broken holder could go on writing.
   */
  async seize(name: string, owner: string, ttlMs: number): Promise<Lease> {
    const unsupported = () =>
      new ProviderError('LEASE_SEIZE_UNSUPPORTED', `The lease "${name}" cannot be broken on this store's legacy coordination.`, {
        hint: 'Run `keyctl init` to move the store to its own coordination backing (for AWS, the DynamoDB table), then re-run.',
      });
    if (!this.leases.seize) throw unsupported();
    const lease = await this.leases.seize(name, owner, ttlMs);
    if (lease.fence === undefined) {
      await this.leases.unlock(lease);
      throw unsupported();
    }
    return { ...lease, fence: lease.fence };
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    const renewed = await this.leases.renew(lease, ttlMs);
    return { ...renewed, fence: lease.fence };
  }

  async release(lease: Lease): Promise<void> {
    await this.leases.unlock(lease);
  }

  async read<T extends RecordValue = RecordValue>(key: string): Promise<CoordinationRecord<T> | null> {
    const found = await this.readAt(pathOf(key), key);
    return found && !found.body.deleted ? toRecord<T>(found) : null;
  }

  async write<T extends RecordValue>(key: string, value: T, options: RecordWriteOptions): Promise<CoordinationRecord<T>> {
    // Round-trip now, so what is stored is exactly what a reader gets back (and non-JSON values fail here).
    const stored = JSON.parse(JSON.stringify(value)) as RecordValue;
    if (options.fence) await this.assertFence(key, options.fence);
    const path = pathOf(key);
    const current = await this.readAt(path, key);
    const visible = current && !current.body.deleted ? current.revision : null;
    if (visible !== options.expect) throw conflict(key);
    if (options.fence && current && current.body.fence > options.fence.fence) throw fenced(key, options.fence);
    const body: Body = {
      v: 1,
      key,
      fence: Math.max(options.fence?.fence ?? 0, current?.body.fence ?? 0),
      updatedAt: new Date(this.clock()).toISOString(),
      value: stored,
    };
    // CAS on what is there, a tombstone included: a delete and re-create never reuses a revision.
    const revision = await this.put(path, body, current?.revision ?? null);
    return toRecord<T>({ body, revision });
  }

  async delete(key: string, options: RecordDeleteOptions = {}): Promise<void> {
    if (options.fence) await this.assertFence(key, options.fence);
    const path = pathOf(key);
    for (let attempt = 0; attempt < DELETE_ATTEMPTS; attempt++) {
      const current = await this.readAt(path, key);
      if (!current || current.body.deleted) {
        if (options.expect !== undefined) throw conflict(key);
        return;
      }
      if (options.expect !== undefined && current.revision !== options.expect) throw conflict(key);
      if (options.fence && current.body.fence > options.fence.fence) throw fenced(key, options.fence);
      const tombstone: Body = {
        v: 1,
        key,
        fence: Math.max(options.fence?.fence ?? 0, current.body.fence),
        updatedAt: new Date(this.clock()).toISOString(),
        deleted: true,
      };
      try {
        await this.put(path, tombstone, current.revision);
        return;
      } catch (err) {
        // A guarded delete lost to another writer: the caller must re-read. An unguarded one deletes what is there now.
        if (!(err instanceof ConflictError) || options.expect !== undefined) throw err;
      }
    }
    throw conflict(key);
  }

  async list(prefix: string): Promise<string[]> {
    // Escaped keys starting with `prefix` are exactly the paths starting with its escape (an escape is a prefix code).
    // Hashed keys are few (only keys too long to escape) and are matched by reading their bodies. Every candidate is
    // read anyway, to skip tombstones.
    const escaped = PREFIX + ESCAPED + escapeKey(prefix);
    const paths = [...(escaped.length <= MAX_PATH ? await this.store.list(escaped) : []), ...(await this.store.list(PREFIX + HASHED))];
    const found = await mapLimit(paths, LIST_READS, (path) => this.readAt(path, null));
    const keys = found.filter((f): f is Found => f !== null && !f.body.deleted).map((f) => f.body.key);
    return keys.filter((k) => k.startsWith(prefix)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  async close(): Promise<void> {
    // The SecretStore is closed by its owner.
  }

  /**
   * Refuses `lease` once a newer fence was issued for its name, when the backend keeps fences. A takeover between this
   * check and the write below it can still slip one write through; the record's own fence refuses the broken holder
   * from the moment the new holder has written (or deleted) the record.
   */
  private async assertFence(key: string, lease: Lease): Promise<void> {
    if (!this.leases.fence) return;
    if ((await this.leases.fence(lease.name)) > lease.fence) throw fenced(key, lease);
  }

  /** Writes `body` at `path` if its CURRENT is still `expect`; returns the new revision. */
  private async put(path: string, body: Body, expect: string | null): Promise<string> {
    try {
      const { version } = await this.store.write(path, {
        secret: { record: JSON.stringify(body) },
        meta: { kind: body.deleted ? 'coordination-tombstone' : 'coordination' },
        stage: 'CURRENT',
        expect,
      });
      return version;
    } catch (err) {
      if (err instanceof ConflictError) throw conflict(body.key, err);
      throw err;
    }
  }

  /**
   * The record (or tombstone) at `path`, null when there is none. `key`: the key the caller asked for, which the body
   * must name; null when listing, where the body's key must map back to `path`. Anything else is STORE_CORRUPT.
   */
  private async readAt(path: string, key: string | null): Promise<Found | null> {
    let found;
    try {
      found = await this.store.read(path, { stage: 'CURRENT' });
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
    const body = parseBody(found.secret.record);
    if (!body || (key !== null ? body.key !== key : pathOf(body.key) !== path)) throw corrupt(path);
    return { body, revision: found.version.id };
  }
}

/** The SecretStore path of the record `key`. */
function pathOf(key: string): string {
  const escaped = PREFIX + ESCAPED + escapeKey(key);
  return escaped.length <= MAX_PATH ? escaped : PREFIX + HASHED + createHash('sha256').update(key, 'utf8').digest('hex');
}

/** UTF-8 bytes of `key`, each outside `[A-Za-z0-9._-]` as `@XX`: injective, and prefix-preserving both ways. */
function escapeKey(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += PLAIN.test(ch) ? ch : `@${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** A body keyctl wrote, or null for anything else (a missing field, a foreign value). */
function parseBody(raw: string | undefined): Body | null {
  if (raw === undefined) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  const b = parsed as Partial<Body>;
  const ok =
    b.v === 1 &&
    typeof b.key === 'string' &&
    Number.isSafeInteger(b.fence) &&
    (b.fence ?? -1) >= 0 &&
    typeof b.updatedAt === 'string' &&
    Number.isFinite(Date.parse(b.updatedAt)) &&
    (b.deleted === true ? !('value' in b) : b.deleted === undefined && 'value' in b);
  return ok ? (b as Body) : null;
}

function toRecord<T extends RecordValue>(found: Found): CoordinationRecord<T> {
  const { body, revision } = found;
  return { key: body.key, value: body.value as T, revision, updatedAt: body.updatedAt };
}

/** Interim fence: the lease's expiry in ms, which grows with every new holder of a name (not with renewals). */
function fenceOf(expiresAt: string): number {
  return Date.parse(expiresAt);
}

function conflict(key: string, cause?: unknown): ConflictError {
  return new ConflictError(`The record ${key} changed since it was read.`, {
    hint: 'Another keyctl wrote it at the same time. Read it again and retry, or re-run the command.',
    ...(cause !== undefined ? { cause } : {}),
  });
}

function fenced(key: string, lease: Lease): FencedError {
  return new FencedError(`The lease ${lease.name} held by ${lease.owner} was taken over; its holder may no longer write ${key}.`, {
    hint: 'Another keyctl took over after this one stalled past its lease. Re-run the command: it resumes from the record.',
  });
}

function corrupt(path: string): ProviderError {
  return new ProviderError('STORE_CORRUPT', `The coordination record at "${path}" holds something keyctl did not write.`, {
    hint: 'It was changed outside keyctl. Move CURRENT back to the version keyctl wrote (on AWS: its AWSPREVIOUS), or delete the secret if losing the record is acceptable.',
  });
}
