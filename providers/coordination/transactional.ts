/**
 * The CoordinationStore contract implemented once over a transaction primitive, for the backings that can run a
 * read-modify-write of several entries under mutual exclusion: memory (a queue in one process) and local (a file lock
 * across processes). Vault has no such primitive and implements the contract on KV `cas` itself (vault/coordination.ts).
 *
 * Fencing is real: each lease name keeps a counter (`fence`) that strictly increases on every change of holder and
 * survives release, and a fenced write compares the writer's fence with that counter in the same transaction as the
 * write. A broken holder is refused even when the new holder has not written anything yet.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { ConflictError, FencedError, LockedError, UsageError } from '@keyctl/client/errors';
import type {
  CoordinationRecord,
  CoordinationStore,
  Lease,
  RecordDeleteOptions,
  RecordValue,
  RecordWriteOptions,
} from '../coordination.js';

/** A lease name's state. Kept after release (`held: false`) so its fence is never issued again. */
export interface LeaseState {
  name: string;
  held: boolean;
  owner: string;
  token: string;
  fence: number;
  /** ms since the epoch, by the store's clock. */
  expiresAt: number;
}

export interface RecordState {
  key: string;
  value: RecordValue;
  /** Random, so a record deleted and re-created never gets a revision a stale writer still holds. */
  revision: string;
  /** ms since the epoch, by the store's clock. */
  updatedAt: number;
}

/** What a transaction may read and write. Reads see the transaction's own writes; writes commit at its end. */
export interface CoordinationTx {
  lease(name: string): Promise<LeaseState | null>;
  setLease(state: LeaseState): void;
  record(key: string): Promise<RecordState | null>;
  /** null deletes. */
  setRecord(key: string, state: RecordState | null): void;
}

export abstract class TransactionalCoordination implements CoordinationStore {
  abstract readonly id: string;

  protected constructor(protected readonly clock: () => number) {}

  /** Runs `fn` with exclusive access to the state (across processes where the backing is shared), then commits. */
  protected abstract transaction<T>(fn: (tx: CoordinationTx) => Promise<T>): Promise<T>;

  /** Keys of all records (unsorted). */
  protected abstract recordKeys(): Promise<string[]>;

  /** A record read outside a transaction (its writes are atomic, so a reader sees one whole state). */
  protected abstract readRecord(key: string): Promise<RecordState | null>;

  abstract close(): Promise<void>;

  async now(): Promise<number> {
    return this.clock();
  }

  acquire(name: string, owner: string, ttlMs: number): Promise<Lease> {
    return this.take(name, owner, ttlMs, false);
  }

  seize(name: string, owner: string, ttlMs: number): Promise<Lease> {
    return this.take(name, owner, ttlMs, true);
  }

  /** Acquire, or (force) seize: one transaction reads the lease and writes the next holder with the next fence. */
  private async take(name: string, owner: string, ttlMs: number, force: boolean): Promise<Lease> {
    assertTtl(ttlMs);
    return this.transaction(async (tx) => {
      const current = await tx.lease(name);
      const now = this.clock();
      if (!force && current?.held && current.expiresAt > now) throw lockedBy(name, current.owner, current.expiresAt);
      const tookOver = current?.held === true;
      const state: LeaseState = {
        name,
        held: true,
        owner,
        token: randomBytes(18).toString('base64url'),
        fence: (current?.fence ?? 0) + 1,
        expiresAt: now + ttlMs,
      };
      tx.setLease(state);
      return { ...toLease(state), tookOver, ...(tookOver ? { previousOwner: current.owner } : {}) };
    });
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    assertTtl(ttlMs);
    return this.transaction(async (tx) => {
      const current = await tx.lease(lease.name);
      if (!holds(current, lease)) throw lost(lease.name);
      const state: LeaseState = { ...current, expiresAt: this.clock() + ttlMs };
      tx.setLease(state);
      return { ...lease, expiresAt: new Date(state.expiresAt).toISOString() };
    });
  }

  async release(lease: Lease): Promise<void> {
    await this.transaction(async (tx) => {
      const current = await tx.lease(lease.name);
      // A lost lease is someone else's now: leave it alone.
      if (holds(current, lease)) tx.setLease({ ...current, held: false, owner: '', token: '' });
    });
  }

  async read<T extends RecordValue = RecordValue>(key: string): Promise<CoordinationRecord<T> | null> {
    const state = await this.readRecord(key);
    return state ? toRecord<T>(state) : null;
  }

  async write<T extends RecordValue>(key: string, value: T, options: RecordWriteOptions): Promise<CoordinationRecord<T>> {
    // Round-trip now, so what is stored is exactly what a reader gets back (and non-JSON values fail here).
    const stored = JSON.parse(JSON.stringify(value)) as RecordValue;
    return this.transaction(async (tx) => {
      if (options.fence) await assertFence(tx, key, options.fence);
      const current = await tx.record(key);
      if ((current?.revision ?? null) !== options.expect) throw conflict(key);
      const state: RecordState = { key, value: stored, revision: randomBytes(12).toString('base64url'), updatedAt: this.clock() };
      tx.setRecord(key, state);
      return toRecord<T>(state);
    });
  }

  async delete(key: string, options: RecordDeleteOptions = {}): Promise<void> {
    await this.transaction(async (tx) => {
      if (options.fence) await assertFence(tx, key, options.fence);
      const current = await tx.record(key);
      if (options.expect !== undefined && current?.revision !== options.expect) throw conflict(key);
      if (current) tx.setRecord(key, null);
    });
  }

  async list(prefix: string): Promise<string[]> {
    return (await this.recordKeys()).filter((k) => k.startsWith(prefix)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

function holds(current: LeaseState | null, lease: Lease): current is LeaseState {
  return current !== null && current.held && current.fence === lease.fence && sameToken(current.token, lease.token);
}

async function assertFence(tx: CoordinationTx, key: string, lease: Lease): Promise<void> {
  const current = await tx.lease(lease.name);
  if (current && current.fence > lease.fence) throw fenced(key, lease);
}

function toLease(state: LeaseState): Omit<Lease, 'tookOver'> {
  return {
    name: state.name,
    owner: state.owner,
    token: state.token,
    fence: state.fence,
    expiresAt: new Date(state.expiresAt).toISOString(),
  };
}

function toRecord<T extends RecordValue>(state: RecordState): CoordinationRecord<T> {
  return { key: state.key, value: state.value as T, revision: state.revision, updatedAt: new Date(state.updatedAt).toISOString() };
}

export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function assertTtl(ttlMs: number): void {
  if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new UsageError('INVALID_TTL', 'A lease TTL must be a positive number of ms.');
}

export function lockedBy(name: string, owner: string, expiresAt: number): LockedError {
  const until = new Date(expiresAt).toISOString();
  return new LockedError(`"${name}" is locked by ${owner} until ${until}.`, {
    hint: 'Another keyctl is working on it. Wait for it to finish, or for the lease to expire, then re-run.',
    details: { holder: owner, expiresAt: until },
  });
}

export function lost(name: string): LockedError {
  return new LockedError(`The lease on "${name}" was lost.`, {
    hint: 'It expired and another process took it over. Stop, then re-run to resume.',
  });
}

export function conflict(key: string): ConflictError {
  return new ConflictError(`The record ${key} changed since it was read.`, {
    hint: 'Another keyctl wrote it at the same time. Read it again and retry, or re-run the command.',
  });
}

export function fenced(key: string, lease: Lease): FencedError {
  return new FencedError(`The lease ${lease.name} held by ${lease.owner} was taken over; its holder may no longer write ${key}.`, {
    hint: 'Another keyctl took over after this one stalled past its lease. Re-run the command: it resumes from the record.',
  });
}
