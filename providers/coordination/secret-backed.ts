/**
 * A CoordinationStore on top of a SecretStore: leases through its lock/renew/unlock, records as versions of internal
 * paths (`keyctl/<key>`) written with compare-and-set on stage CURRENT. This is how keyctl stored coordination state
 * before the contract existed; it remains the backing where a provider has no better one yet (AWS, until it gets a
 * backing that does not create secret versions).
 *
 * Fencing: each record keeps the highest fence that wrote it, and a write carrying a lower fence is refused. With the
 * store's CAS on the record, a holder whose lease was taken over is locked out as soon as the new holder has written.
 */
import { ConflictError, FencedError, NotFoundError } from '../../src/errors.js';
import type { SecretStore } from '../types.js';
import type {
  CoordinationRecord,
  CoordinationStore,
  Lease,
  RecordDeleteOptions,
  RecordValue,
  RecordWriteOptions,
} from '../coordination.js';

const PREFIX = 'keyctl/';

interface Stored {
  value: RecordValue;
  fence: number;
}

export class SecretBackedCoordination implements CoordinationStore {
  readonly id: string;

  constructor(
    private readonly store: SecretStore,
    private readonly clock: () => number = Date.now,
  ) {
    this.id = store.id;
  }

  async now(): Promise<number> {
    return this.clock();
  }

  async acquire(name: string, owner: string, ttlMs: number): Promise<Lease> {
    const lease = await this.store.lock(name, owner, ttlMs);
    return { ...lease, fence: fenceOf(lease.expiresAt) };
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    const renewed = await this.store.renew(lease, ttlMs);
    return { ...renewed, fence: lease.fence };
  }

  async release(lease: Lease): Promise<void> {
    await this.store.unlock(lease);
  }

  async read<T extends RecordValue = RecordValue>(key: string): Promise<CoordinationRecord<T> | null> {
    const found = await this.readStored(key);
    return found ? { key, value: found.stored.value as T, revision: found.revision, updatedAt: found.updatedAt } : null;
  }

  async write<T extends RecordValue>(key: string, value: T, options: RecordWriteOptions): Promise<CoordinationRecord<T>> {
    const current = await this.readStored(key);
    if ((current?.revision ?? null) !== options.expect) {
      throw new ConflictError(`The record ${key} changed since it was read.`);
    }
    const fence = options.fence?.fence ?? 0;
    if (current && options.fence && current.stored.fence > fence) throw fenced(key, options.fence);
    const stored: Stored = { value, fence: Math.max(fence, current?.stored.fence ?? 0) };
    const { version } = await this.store.write(PREFIX + key, {
      secret: { record: JSON.stringify(stored) },
      meta: { kind: 'coordination' },
      stage: 'CURRENT',
      expect: options.expect,
    });
    return { key, value, revision: version, updatedAt: new Date(this.clock()).toISOString() };
  }

  async delete(key: string, options: RecordDeleteOptions = {}): Promise<void> {
    const current = await this.readStored(key);
    if (!current) {
      if (options.expect !== undefined) throw new ConflictError(`The record ${key} changed since it was read.`);
      return;
    }
    if (options.expect !== undefined && current.revision !== options.expect) {
      throw new ConflictError(`The record ${key} changed since it was read.`);
    }
    if (options.fence && current.stored.fence > options.fence.fence) throw fenced(key, options.fence);
    await this.store.delete(PREFIX + key);
  }

  async list(prefix: string): Promise<string[]> {
    // SecretStore.list hides internal paths; records are found through their known keys instead.
    void prefix;
    return [];
  }

  async close(): Promise<void> {
    // The SecretStore is closed by its owner.
  }

  private async readStored(key: string): Promise<{ stored: Stored; revision: string; updatedAt: string } | null> {
    try {
      const v = await this.store.read(PREFIX + key, { stage: 'CURRENT' });
      const raw = v.secret.record;
      if (!raw) return null;
      const parsed = JSON.parse(raw) as Partial<Stored>;
      return {
        stored: { value: parsed.value ?? null, fence: Number(parsed.fence) || 0 },
        revision: v.version.id,
        updatedAt: v.version.createdAt,
      };
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }
}

/** Interim fence: the lease's expiry in ms, which grows with every new holder of a name (not with renewals). */
function fenceOf(expiresAt: string): number {
  return Date.parse(expiresAt);
}

function fenced(key: string, lease: Lease): FencedError {
  return new FencedError(`The lease ${lease.name} held by ${lease.owner} was taken over; its holder may no longer write ${key}.`, {
    hint: 'Another keyctl took over after this one stalled past its lease. Re-run the command: it resumes from the record.',
  });
}
