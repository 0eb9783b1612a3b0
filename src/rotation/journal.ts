/**
 * The rotation journal: one small record per slot, written to the coordination store BEFORE the exchange is touched
 * and advanced after every step, so a crashed or failed rotation is finished or undone by the next run.
 *
 * Every update is a compare-and-set on the record's revision, fenced by the slot's rotation lease: two processes can
 * never both advance it, and a process whose lease was taken over cannot write it any more.
 */
import type { CoordinationStore, Lease, RecordValue } from '../../providers/coordination.js';
import type { SecretStore } from '../../providers/types.js';
import { NotFoundError, ProviderError } from '@keyctl/client/errors';

const STEPS = ['started', 'stored', 'verified', 'promoted'] as const;
export type RotationStep = (typeof STEPS)[number];

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

/** Where keyctl 0.1 kept a slot's journal: a secret in the secret store, its entry as JSON in the field `entry`. */
export function legacyJournalPath(slotPath: string): string {
  return `keyctl/journal/${slotPath.replace(/^bots\//, '')}`;
}

/**
 * Whether a slot has rotation work to finish (a journal, or one keyctl 0.1 left in the secret store), read without
 * taking the slot's lease: `rotate --due` and the daemon skip a slot that is neither due nor unfinished at the cost of
 * two reads instead of a lease round-trip.
 */
export async function hasPendingRotation(store: SecretStore, coordination: CoordinationStore, slotPath: string): Promise<boolean> {
  if (await coordination.read(journalKey(slotPath))) return true;
  return (await store.describe(legacyJournalPath(slotPath))) !== null;
}

/**
 * Moves a journal that keyctl 0.1 left in the secret store into the coordination store, then deletes the old one.
 * Without this, a rotation interrupted or inside its grace period when keyctl was upgraded would be forgotten, and its
 * PREVIOUS key never revoked. Call it holding the slot's lease, before reading the journal. A crash between the two
 * steps is harmless: the next call finds the record already there, keeps it, and deletes the old one.
 */
export async function adoptLegacyJournal(
  store: SecretStore,
  coordination: CoordinationStore,
  slotPath: string,
  lease: Lease,
): Promise<void> {
  const path = legacyJournalPath(slotPath);
  let raw: string | undefined;
  try {
    raw = (await store.read(path, { stage: 'CURRENT' })).secret.entry;
  } catch (err) {
    if (err instanceof NotFoundError) return;
    throw err;
  }
  if (raw && !(await coordination.read(journalKey(slotPath)))) {
    await coordination.write(journalKey(slotPath), legacyEntry(raw, path) as unknown as RecordValue, { expect: null, fence: lease });
  }
  await store.delete(path);
}

/** A 0.1 journal entry, checked: a record keyctl did not write is not acted on (it could name any key to revoke). */
function legacyEntry(raw: string, path: string): JournalEntry {
  let e: Partial<Record<keyof JournalEntry, unknown>>;
  try {
    e = JSON.parse(raw) as typeof e;
  } catch {
    e = {};
  }
  const optionalString = (v: unknown) => v === undefined || typeof v === 'string';
  const ok =
    typeof e === 'object' &&
    e !== null &&
    typeof e.rotationId === 'string' &&
    STEPS.includes(e.step as RotationStep) &&
    (e.mode === 'automatic' || e.mode === 'assisted') &&
    typeof e.startedAt === 'string' &&
    typeof e.label === 'string' &&
    optionalString(e.newVersion) &&
    optionalString(e.newFingerprint) &&
    (e.oldVersion === null || optionalString(e.oldVersion)) &&
    optionalString(e.oldFingerprint) &&
    optionalString(e.revokeAfter) &&
    optionalString(e.reason);
  if (!ok) {
    throw new ProviderError('STORE_CORRUPT', `The rotation journal keyctl 0.1 left at ${path} is not one keyctl wrote.`, {
      hint: `Check the slot's keys at the exchange and in the store (keyctl key list), then delete ${path} from the store.`,
    });
  }
  return e as JournalEntry;
}
