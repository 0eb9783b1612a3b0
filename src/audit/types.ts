/**
 * The audit log contract. Entries are JSON lines, hash-chained: each carries the HMAC of the previous entry, and its
 * own HMAC over its content, under a key kept in the secret store (so only holders of the store can forge entries).
 * Entries never hold secrets: refs, fingerprints, outcomes and small non-secret details only.
 */
export type AuditOutcome = 'ok' | 'failed' | 'refused';

export interface AuditInput {
  /** The command or engine step, e.g. `key import`, `rotate.promote`. */
  command: string;
  /** Target ref (`alpha/arb1`, `@bybit-main`), when there is one. */
  ref?: string;
  /** Key fingerprint (never the key). */
  fingerprint?: string;
  outcome: AuditOutcome;
  /** Small non-secret facts: error code, violation codes, rotation id. */
  detail?: Record<string, string | number | boolean | null>;
}

export interface AuditEntry extends AuditInput {
  /** 1-based sequence number; consecutive. */
  seq: number;
  /** ISO-8601 time. */
  time: string;
  /** KEYCTL_ACTOR or the OS user. */
  actor: string;
  /** HMAC of the previous entry (`genesis` for the first). */
  prev: string;
  /** HMAC of this entry (all fields above, canonical JSON). */
  mac: string;
}

export interface AuditProblem {
  /** Sequence number concerned, when known. */
  seq: number | null;
  /** 1-based line in the log file. */
  line: number;
  /** `anchor-lost`: an append found the head anchor missing, unreadable, forged or not matching the log, and recorded
   * it; reported until an operator acknowledges it (`keyctl audit ack`). */
  kind: 'edited' | 'removed' | 'reordered' | 'inserted' | 'truncated' | 'malformed' | 'anchor-lost';
  message: string;
}

export interface AuditVerifyReport {
  ok: boolean;
  entries: number;
  problems: AuditProblem[];
}

export interface AuditLog {
  /** Appends one entry; safe against concurrent appends from several processes. */
  append(input: AuditInput & { actor: string }): Promise<AuditEntry>;
  /** Checks every entry's HMAC and the chain; reports every problem, each with the entry it concerns. */
  verify(): Promise<AuditVerifyReport>;
  /**
   * Records that an operator investigated every `anchor-lost` entry so far, with their reason (an entry itself).
   * Returns the seqs acknowledged, empty (and nothing written) when there was nothing to acknowledge.
   */
  acknowledge(input: { reason: string; actor: string }): Promise<{ acknowledged: number[]; entry: AuditEntry | null }>;
  /** The last `n` entries, oldest first. */
  tail(n: number): Promise<AuditEntry[]>;
  /**
   * The newest entry of each kind (same command, ref and subject; src/audit/latest.ts) among `commands`, oldest first,
   * without reading the whole log: for the commands in LATEST_COMMANDS only.
   */
  latest(commands: readonly string[]): Promise<AuditEntry[]>;
  /** Checks the end of the chain only (last entry genuine, head anchor matching, no unacknowledged anchor loss). */
  checkEnd(): Promise<{ ok: boolean; entries: number; problem?: string }>;
}
