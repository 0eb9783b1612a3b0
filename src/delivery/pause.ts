/**
 * The pause flag of a slot (`keyctl kill` sets it, `keyctl resume` lifts it): while it is set, no `exec` or `issue`
 * hands out the slot's key and no rotation creates one. Kept in the coordination store at `pause/<bot>/<sub>`, so every
 * keyctl process sharing the store (other hosts, the daemon) sees it. Light on purpose: `keyctl exec` reads it before a
 * bot starts.
 */
import type { CoordinationStore } from '../../providers/coordination.js';
import { ExitCode, KeyctlError } from '../errors.js';

export interface PauseRecord {
  [key: string]: string;
  reason: string;
  /** Who paused it (the actor), and when (ISO, the store's clock). */
  by: string;
  at: string;
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
  const key = pauseKey(slotPath);
  for (;;) {
    const existing = await coordination.read<PauseRecord>(key);
    if (existing) return existing.value;
    const record: PauseRecord = { reason: input.reason, by: input.by, at: new Date(await coordination.now()).toISOString() };
    try {
      await coordination.write(key, record, { expect: null });
      return record;
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
