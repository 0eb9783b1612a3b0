/**
 * A staff member left: every slot they were custodian of is rotated now, with no grace, so every key they could have
 * seen stops working. Master keys they could see cannot be rotated by API: they are listed for rotation by hand. The
 * whole offboarding is one `offboard` event (the audit log records it).
 */
import { staffMember } from '../domain/resolve.js';
import { failpoint } from '../rotation/failpoints.js';
import type { RotationOutcome } from '../rotation/engine.js';
import { mapConcurrent, SLOT_CONCURRENCY } from './concurrency.js';
import type { AppDeps } from './deps.js';
import { failureOf } from './failure.js';
import type { Failure, ProgressListener } from './progress.js';
import type { RotateDeps, SlotRotation } from './rotate.js';

export type OffboardDeps = Pick<AppDeps, 'inventory' | 'events'> & Pick<RotateDeps, 'engine'>;

export interface OffboardInput {
  /** Must be listed under staff (UNKNOWN_STAFF). */
  person: string;
  reason: string;
  progress?: ProgressListener<SlotRotation>;
}

export interface OffboardResult {
  staff: string;
  /** The slots the person was custodian of. */
  slots: string[];
  rotated: RotationOutcome[];
  failures: Failure[];
  /** `@account` refs of the master keys the person could see. */
  masterKeysToRotateByHand: string[];
}

export async function offboard(deps: OffboardDeps, input: OffboardInput): Promise<OffboardResult> {
  const person = staffMember(deps.inventory, input.person);
  const slots = deps.inventory.slots.filter((s) => s.custodians.includes(person));
  const masterKeys = Object.values(deps.inventory.accounts)
    .filter((a) => a.custodians.includes(person))
    .map((a) => `@${a.name}`);
  input.progress?.planned?.(slots.map((s) => s.ref));
  // Several slots at once, as `rotate` does (the rate limiter paces each account); results in inventory order.
  const done = await mapConcurrent(slots, SLOT_CONCURRENCY, async (slot) => {
    input.progress?.started?.(slot.ref);
    try {
      const outcome = await deps.engine.rotate(slot, {
        start: true,
        graceMs: 0,
        revokeNow: true,
        reason: `offboard:${person}:${input.reason}`,
      });
      input.progress?.finished?.(slot.ref, { ok: true, outcome });
      failpoint('offboard.after-slot');
      return { outcome };
    } catch (err) {
      const failure = failureOf(slot.ref, err);
      input.progress?.finished?.(slot.ref, { ok: false, failure });
      return { failure };
    }
  });
  const rotated = done.flatMap((d) => (d.outcome ? [d.outcome] : []));
  const failures: Failure[] = done.flatMap((d) => (d.failure ? [d.failure] : []));
  await deps.events.emit({ type: 'offboard', staff: person, rotated: rotated.length, failed: failures.length, masterKeys });
  return { staff: person, slots: slots.map((s) => s.ref), rotated, failures, masterKeysToRotateByHand: masterKeys };
}
