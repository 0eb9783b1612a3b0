/**
 * The rotation journal: one small record per slot, written to the secret store BEFORE the exchange is touched and
 * advanced after every step, so a crashed or failed rotation is finished or undone by the next run.
 *
 * It lives in the store like any secret (so it is as durable and as private as the keys), at
 * `keyctl/journal/<bot>/<sub>`, and every update is a compare-and-set on its CURRENT stage: two processes can never
 * both advance it.
 */
import { NotFoundError } from '../errors.js';
import type { SecretStore } from '../../providers/types.js';

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

export function journalPath(slotPath: string): string {
  return `keyctl/journal/${slotPath.replace(/^bots\//, '')}`;
}

export interface JournalHandle {
  entry: JournalEntry;
  /** Store version of the journal record, the CAS guard for the next update. */
  version: string;
}

export async function readJournal(store: SecretStore, slotPath: string): Promise<JournalHandle | null> {
  const path = journalPath(slotPath);
  try {
    const v = await store.read(path, { stage: 'CURRENT' });
    const raw = v.secret.entry;
    if (!raw) return null;
    return { entry: JSON.parse(raw) as JournalEntry, version: v.version.id };
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
}

/** Writes the next journal state; fails with ConflictError when someone else advanced it since `previous`. */
export async function writeJournal(
  store: SecretStore,
  slotPath: string,
  entry: JournalEntry,
  previous: string | null,
): Promise<JournalHandle> {
  const { version } = await store.write(journalPath(slotPath), {
    secret: { entry: JSON.stringify(entry) },
    meta: { rotationId: entry.rotationId, step: entry.step },
    stage: 'CURRENT',
    expect: previous,
  });
  return { entry, version };
}

/** Ends a rotation: the journal record goes away (its history stays in the audit log). */
export async function clearJournal(store: SecretStore, slotPath: string): Promise<void> {
  await store.delete(journalPath(slotPath));
}
