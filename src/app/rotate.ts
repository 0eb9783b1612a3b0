/**
 * Rotating slots: by hand (`keyctl rotate <ref>`), forced (`--force`), or on schedule (`keyctl rotate --due`, and the
 * daemon). Several slots at once (each under its own lease), paced by each exchange's rate limit
 * (src/exchanges/rate-limit.ts); results in the order of the slots. A slot that fails is reported and the others go on.
 */
import { DateTime } from 'luxon';
import { dueForRotation } from '../../schedules/due.js';
import type { Slot } from '../domain/inventory.js';
import { keyState } from '../domain/key-state.js';
import { storePath } from '../domain/refs.js';
import type { RotationEngine, RotationOutcome } from '../rotation/engine.js';
import { hasPendingRotation } from '../rotation/journal.js';
import { mapConcurrent, SLOT_CONCURRENCY } from './concurrency.js';
import type { AppDeps } from './deps.js';
import { failureOf } from './failure.js';
import type { Failure, ProgressListener } from './progress.js';

/**
 * manual: finish what is pending and start a new rotation (unless the last one's old key is still in its grace period);
 * force: also revoke a key in its grace period now; due: start a new rotation only where one is due and inside its
 * window (pending work is finished everywhere).
 */
export type RotateMode = 'manual' | 'force' | 'due';

export type RotateDeps = Pick<AppDeps, 'inventory' | 'store' | 'now' | 'coordination'> & { engine: RotationEngine };

export interface RotateInput {
  /** The slots to rotate (domain/resolve.ts `selectSlots`); default every declared slot. */
  slots?: readonly Slot[];
  mode: RotateMode;
  /** Grace period of the key being replaced (ms); default each slot's rotate.grace. */
  graceMs?: number;
  /** Why, for the audit trail (rotation.started); default by mode: manual, forced, schedule. */
  reason?: string;
  progress?: ProgressListener<SlotRotation>;
  /** Slots rotated at once (default {@link SLOT_CONCURRENCY}); 1 rotates one after another. */
  concurrency?: number;
}

/** One slot's rotation: its outcome, or why it did not finish. */
export type SlotRotation = { ok: true; outcome: RotationOutcome } | { ok: false; failure: Failure };

export interface RotateResult {
  results: RotationOutcome[];
  failures: Failure[];
}

export async function rotate(deps: RotateDeps, input: RotateInput): Promise<RotateResult> {
  const slots = input.slots ?? deps.inventory.slots;
  const now = DateTime.fromMillis(deps.now(), { zone: 'utc' });
  input.progress?.planned?.(slots.map((s) => s.ref));
  const done = await mapConcurrent(slots, input.concurrency ?? SLOT_CONCURRENCY, (slot) => rotateOne(deps, input, slot, now));
  const results: RotationOutcome[] = [];
  const failures: Failure[] = [];
  for (const d of done) {
    if (d.ok) results.push(d.outcome);
    else failures.push(d.failure);
  }
  return { results, failures };
}

async function rotateOne(deps: RotateDeps, input: RotateInput, slot: Slot, now: DateTime): Promise<SlotRotation> {
  input.progress?.started?.(slot.ref);
  // Outside the per-slot catch: a store that cannot describe a slot fails the whole run (exit 4), as it always did.
  // No other slot starts after that; those already started finish first (mapConcurrent).
  const start = input.mode === 'due' ? await isDue(deps, slot, now) : true;
  if (!start && !(await hasPendingRotation(deps.store, deps.coordination, storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub })))) {
    // Neither due nor unfinished: nothing the engine would do, so no lease is taken for it.
    const outcome: RotationOutcome = {
      ref: slot.ref,
      status: 'nothing-to-do',
      previousRevoked: false,
      orphansDeleted: 0,
      orphansKept: [],
      resumed: false,
    };
    input.progress?.finished?.(slot.ref, { ok: true, outcome });
    return { ok: true, outcome };
  }
  let done: SlotRotation;
  try {
    const outcome = await deps.engine.rotate(slot, {
      start,
      ...(input.graceMs !== undefined ? { graceMs: input.graceMs } : {}),
      revokeNow: input.mode === 'force',
      reason: input.reason ?? REASONS[input.mode],
    });
    done = { ok: true, outcome };
  } catch (err) {
    done = { ok: false, failure: failureOf(slot.ref, err) };
  }
  input.progress?.finished?.(slot.ref, done);
  return done;
}

/** What cron and the daemon run: every slot (or those given) finishes pending work; due slots rotate. */
export function rotateDue(deps: RotateDeps, input: Omit<RotateInput, 'mode'> = {}): Promise<RotateResult> {
  return rotate(deps, { ...input, mode: 'due' });
}

const REASONS: Record<RotateMode, string> = { manual: 'manual', force: 'forced', due: 'schedule' };

/**
 * Due by the slot's schedule, counting from when its CURRENT key was created; or at once, whatever the schedule and
 * window, when that key was stored flagged (`key import --accept-violations`): a key known to be unsafe is replaced
 * at the first chance.
 */
async function isDue(deps: Pick<AppDeps, 'store'>, slot: Slot, now: DateTime): Promise<boolean> {
  const info = await deps.store.describe(storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }));
  const current = info?.versions.find((v) => v.id === info.stages.CURRENT);
  if (current && keyState(slot.ref, current.meta, undefined).flagged.length > 0) return true;
  return dueForRotation(slot, { lastRotation: current?.createdAt ?? null }, now);
}
