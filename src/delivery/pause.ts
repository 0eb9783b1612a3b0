/**
 * The pause flag of a slot (`keyctl kill` sets it, `keyctl resume` lifts it): while it is set, no `exec` or `issue`
 * hands out the slot's key and no rotation creates one. Kept in the coordination store at `pause/<bot>/<sub>`, so every
 * keyctl process sharing the store (other hosts, the daemon) sees it. Light on purpose: `keyctl exec` reads it before a
 * bot starts.
 */
import { randomUUID } from 'node:crypto';
import type { CoordinationStore } from '../../providers/coordination.js';
import { ExitCode, KeyctlError } from '@keyctl/client/errors';

// A type, not an interface: it must be assignable to the coordination store's record value.
export type PauseRecord = {
  reason: string;
  /** Who paused it (the actor), and when (ISO, the store's clock). */
  by: string;
  at: string;
  /**
   * Random, set when the pause is written: a supervisor woken by `keyctl kill` names the pause it saw, and the kill
   * counts its confirmation only when it is this store's pause (another store on the host may have a slot of that name).
   * Absent in records written before it existed.
   */
  id?: string;
  /**
   * What an earlier kill of the slot could not confirm, comma-separated (`orders`, `positions`): a re-run whose key is
   * already revoked can no longer check them, and says so instead of reporting them done. Absent: nothing left.
   */
  left?: string;
  /**
   * Set when the pause is written and cleared once its audit entry is: a kill that died between the two leaves it, and
   * the next kill of the slot writes the entry then (a pause nobody audited would be a hole in the trail).
   */
  unaudited?: true;
};

/** Whether two reads of a pause are the same pause (the id where both have one, else who and when). */
export function samePause(a: Pick<PauseRecord, 'id' | 'at' | 'by'>, b: Pick<PauseRecord, 'id' | 'at' | 'by'>): boolean {
  if (a.id !== undefined || b.id !== undefined) return a.id === b.id;
  return a.at === b.at && a.by === b.by;
}

/** `bots/alpha/arb1` -> `pause/alpha/arb1`. */
export function pauseKey(slotPath: string): string {
  return `pause/${slotPath.replace(/^bots\//, '')}`;
}

export async function readPause(coordination: Pick<CoordinationStore, 'read'>, slotPath: string): Promise<PauseRecord | null> {
  return (await coordination.read<PauseRecord>(pauseKey(slotPath)))?.value ?? null;
}

export class PausedError extends KeyctlError {
  constructor(ref: string, pause: PauseRecord) {
    super('SLOT_PAUSED', `${ref} is paused (by ${pause.by} at ${pause.at}: ${pause.reason}).`, ExitCode.POLICY, {
      hint: `Nothing hands out or creates a key for it until \`keyctl resume ${ref.split('/')[0]} --reason <why>\`.`,
      details: { ref, by: pause.by, at: pause.at },
    });
  }
}

/** Throws SLOT_PAUSED (exit 3) when the slot is paused. */
export async function assertNotPaused(coordination: Pick<CoordinationStore, 'read'>, ref: string, slotPath: string): Promise<void> {
  const pause = await readPause(coordination, slotPath);
  if (pause) throw new PausedError(ref, pause);
}

/** Sets the flag (idempotent: an existing pause keeps its first reason). */
export async function pause(
  coordination: Pick<CoordinationStore, 'read' | 'write' | 'now'>,
  slotPath: string,
  input: { reason: string; by: string },
): Promise<PauseRecord> {
  return (await ensurePaused(coordination, slotPath, input)).record;
}

/** {@link pause}, saying whether this call set it (`created`) or found it set (a re-run of a kill). */
export async function ensurePaused(
  coordination: Pick<CoordinationStore, 'read' | 'write' | 'now'>,
  slotPath: string,
  input: { reason: string; by: string },
): Promise<{ record: PauseRecord; created: boolean }> {
  const key = pauseKey(slotPath);
  for (;;) {
    const existing = await coordination.read<PauseRecord>(key);
    if (existing) return { record: existing.value, created: false };
    const record: PauseRecord = {
      reason: input.reason,
      by: input.by,
      at: new Date(await coordination.now()).toISOString(),
      id: randomUUID(),
      unaudited: true,
    };
    try {
      await coordination.write(key, record, { expect: null });
      return { record, created: true };
    } catch (err) {
      if (!(err instanceof KeyctlError && err.code === 'CONFLICT')) throw err;
    }
  }
}

/**
 * Changes a pause record in place (compare-and-set, retried on conflict); `change` returns the new record, or null for
 * no change. Returns the record as it is now, or null when the slot is not paused (then nothing is written: a resume
 * won, and the pause stays lifted).
 */
export async function updatePause(
  coordination: Pick<CoordinationStore, 'read' | 'write'>,
  slotPath: string,
  change: (current: PauseRecord) => PauseRecord | null,
): Promise<PauseRecord | null> {
  const key = pauseKey(slotPath);
  for (;;) {
    const existing = await coordination.read<PauseRecord>(key);
    if (!existing) return null;
    const next = change({ ...existing.value });
    if (next === null) return existing.value;
    try {
      await coordination.write(key, next, { expect: existing.revision });
      return next;
    } catch (err) {
      if (!(err instanceof KeyctlError && err.code === 'CONFLICT')) throw err;
    }
  }
}

/** Lifts the flag; returns the pause that was lifted, or null when the slot was not paused. */
export async function unpause(coordination: Pick<CoordinationStore, 'read' | 'delete'>, slotPath: string): Promise<PauseRecord | null> {
  const key = pauseKey(slotPath);
  const existing = await coordination.read<PauseRecord>(key);
  if (!existing) return null;
  await coordination.delete(key);
  return existing.value;
}
