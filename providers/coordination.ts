/**
 * The CoordinationStore contract: what several keyctl processes (CLI runs, execs, later the daemon) use to agree
 * with each other. Leases (who is rotating a slot), compare-and-set records (rotation journals, the hand-over
 * registry, per-slot state such as the last verification, open alert conditions and the kill switch's pause flag).
 *
 * Kept apart from the SecretStore contract on purpose (External Secrets Operator keeps leader election out of its
 * provider contract the same way): nothing here is secret, writes here are frequent (a lease renewal every few
 * seconds), and on AWS each SecretStore write is a new secret version with its own quota.
 *
 * Two rules make leases safe when clocks and processes misbehave:
 * - **Time comes from the store.** A lease's expiry is judged by {@link CoordinationStore.now}, the store's clock (the
 *   local file system's host for the local store, the server for Vault), never the caller's.
 * - **Fencing tokens.** Every lease carries `fence`, a number that strictly increases each time the lease changes
 *   holder. A write that passes `fence: lease` is refused with FencedError (code `FENCED`) once a newer fence was issued
 *   for that lease name: a holder whose lease was broken (it stalled past its expiry and someone took over) cannot
 *   write any more, whatever its clock says.
 *
 * The shared suite in test/contract/coordination-suite.ts checks every rule below against every provider.
 * Errors are KeyctlErrors: ConflictError (compare-and-set lost), LockedError (held or lost), FencedError, ProviderError.
 */

/** A lease held on a named lock. */
export interface Lease {
  name: string;
  /** Who holds it (free text: host, pid, rotation id). */
  owner: string;
  /** Opaque proof of holding; required to renew or release. Not a secret but never printed. */
  token: string;
  /** Fencing token: strictly greater than every fence issued before for this name. */
  fence: number;
  /** ISO-8601 expiry, by the store's clock. */
  expiresAt: string;
  /**
   * True when this lease took over one still marked held: an expired one (acquire; the caller should resume the
   * previous holder's work) or, from {@link CoordinationStore.seize}, a live one.
   */
  tookOver: boolean;
  /** The owner whose lease was taken over, when `tookOver`. */
  previousOwner?: string;
}

/** JSON a record holds. */
export type RecordValue = string | number | boolean | null | RecordValue[] | { [key: string]: RecordValue };

/** One record as stored. */
export interface CoordinationRecord<T extends RecordValue = RecordValue> {
  key: string;
  value: T;
  /** Opaque, changes on every write: the compare-and-set guard of the next write. */
  revision: string;
  /** ISO-8601 time of the last write, by the store's clock. */
  updatedAt: string;
}

export interface RecordWriteOptions {
  /** Compare-and-set guard: the revision the record must have now, or `null` for "does not exist". */
  expect: string | null;
  /** Refuse the write (FencedError) when a newer fence than this lease's was issued for its name. */
  fence?: Lease;
}

export interface RecordDeleteOptions {
  /** Compare-and-set guard; omit to delete whatever is there. */
  expect?: string;
  fence?: Lease;
}

export interface CoordinationStore {
  /** Provider id, as for the SecretStore it comes with. */
  readonly id: string;

  /** The store's clock (ms since the epoch). Lease expiry is judged by it. */
  now(): Promise<number>;

  /**
   * Takes the lease `name` for `ttlMs` (by the store's clock). Succeeds when nobody holds it or the holder's lease
   * expired (then `tookOver` is true and the fence increases); throws LockedError naming the holder and its expiry
   * otherwise. Two concurrent callers: exactly one wins.
   */
  acquire(name: string, owner: string, ttlMs: number): Promise<Lease>;

  /**
   * Takes the lease `name` whoever holds it, expired or not: the kill switch breaks a rotation's lease instead of
   * waiting for it. The fence strictly increases as for a takeover, so from this call on the previous holder's renew
   * fails (LockedError) and its fenced writes fail (FencedError). `tookOver` is true, with `previousOwner`, when someone
   * held it. Only for callers that must win at once; everyone else uses {@link acquire}.
   */
  seize(name: string, owner: string, ttlMs: number): Promise<Lease>;

  /** Extends a held lease (same fence). Throws LockedError when the lease was lost (expired and taken over). */
  renew(lease: Lease, ttlMs: number): Promise<Lease>;

  /** Releases a held lease. Releasing a lease that was already lost is a no-op. The fence is never reused. */
  release(lease: Lease): Promise<void>;

  /** The record at `key`, or null. */
  read<T extends RecordValue = RecordValue>(key: string): Promise<CoordinationRecord<T> | null>;

  /** Writes `value` at `key` if the guards hold (ConflictError / FencedError otherwise). */
  write<T extends RecordValue>(key: string, value: T, options: RecordWriteOptions): Promise<CoordinationRecord<T>>;

  /** Removes `key` if the guards hold. Deleting a missing key succeeds (unless `expect` names a revision). */
  delete(key: string, options?: RecordDeleteOptions): Promise<void>;

  /** Keys that start with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;

  /** Releases clients, timers and file handles. */
  close(): Promise<void>;
}
