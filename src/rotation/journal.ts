/**
 * The rotation journal: one small record per slot, written to the coordination store BEFORE the exchange is touched
 * and advanced after every step, so a crashed or failed rotation is finished or undone by the next run.
 *
 * Every update is a compare-and-set on the record's revision, fenced by the slot's rotation lease: two processes can
 * never both advance it, and a process whose lease was taken over cannot write it any more.
 */
import type { CoordinationStore, Lease, RecordValue } from '../../providers/coordination.js';

export type RotationStep = 'started' | 'stored' | 'verified' | 'promoted';

export interface JournalEntry {
  rotationId: string;
  step: RotationStep;
  mode: 'automatic' | 'assisted';
  startedAt: string;
  /** Label given to the new key at the exchange: `keyctl-<rotationId>`. */
  label: string;
  /** Store version of the new key, once stored as PENDING. */
  newVersion?: string;
  newFingerprint?: string;
  /** The version that was CURRENT when the rotation started (null: the slot had no key). */
  oldVersion?: string | null;
  oldFingerprint?: string;
  /** When PREVIOUS may be revoked (ISO), once promoted. */
  revokeAfter?: string;
  /** Why the rotation was started: schedule, force, offboard:<staff>, ... */
  reason?: string;
}

/** The journal's record key for a slot's store path (`bots/alpha/arb1` -> `journal/alpha/arb1`). */
export function journalKey(slotPath: string): string {
  return `journal/${slotPath.replace(/^bots\//, '')}`;
}

export interface JournalHandle {
  entry: JournalEntry;
  /** Revision of the journal record, the CAS guard for the next update. */
  version: string;
}

export async function readJournal(coordination: CoordinationStore, slotPath: string): Promise<JournalHandle | null> {
  const record = await coordination.read(journalKey(slotPath));
  if (!record || typeof record.value !== 'object' || record.value === null) return null;
  return { entry: record.value as unknown as JournalEntry, version: record.revision };
}

/**
 * Writes the next journal state; fails with ConflictError when someone else advanced it since `previous`, and with
 * FencedError when `lease` was taken over.
 */
export async function writeJournal(
  coordination: CoordinationStore,
  slotPath: string,
  entry: JournalEntry,
  previous: string | null,
  lease?: Lease,
): Promise<JournalHandle> {
  const record = await coordination.write(journalKey(slotPath), entry as unknown as RecordValue, {
    expect: previous,
    ...(lease?.token ? { fence: lease } : {}),
  });
  return { entry, version: record.revision };
}

/** Ends a rotation: the journal record goes away (its history stays in the audit log). */
export async function clearJournal(coordination: CoordinationStore, slotPath: string, lease?: Lease): Promise<void> {
  await coordination.delete(journalKey(slotPath), lease?.token ? { fence: lease } : {});
}
