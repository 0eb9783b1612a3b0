/**
 * Every slot's last and next rotation and verification, and whether each is due now: what `keyctl schedule` shows
 * and what `verifyDue` and the daemon's queue go by.
 *
 * Last rotation is the creation time of the slot's CURRENT version in the store; last verification is the latest
 * `verify` entry for the slot in the audit log (read, not verified: `keyctl audit verify` says whether to trust it).
 * The arithmetic lives in schedules/due.ts, shared with `rotateDue`.
 */
import { DateTime } from 'luxon';
import { slotSchedule, type SlotHistory, type SlotSchedule } from '../../schedules/due.js';
import { lastVerifications } from '../audit/verifications.js';
import type { AuditLog } from '../audit/types.js';
import { storePath } from '../domain/refs.js';
import { mapConcurrent, STORE_CONCURRENCY } from './concurrency.js';
import type { AppDeps } from './deps.js';

export type ScheduleDeps = Pick<AppDeps, 'inventory' | 'store' | 'now'> & { audit: Pick<AuditLog, 'latest'> };

/** Each declared slot's schedule at `deps.now()`, in inventory order. */
export async function buildSchedule(deps: ScheduleDeps): Promise<SlotSchedule[]> {
  const { inventory, store } = deps;
  const now = DateTime.fromMillis(deps.now(), { zone: 'utc' });
  const verified = await lastVerifications(deps.audit, new Set(inventory.slots.map((s) => s.ref)));
  // Described several at once: a network store answers each in tens of milliseconds, and thousands of slots add up.
  return mapConcurrent(inventory.slots, STORE_CONCURRENCY, async (slot) => {
    const info = await store.describe(storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }));
    const currentId = info?.stages.CURRENT;
    const current = currentId ? info?.versions.find((v) => v.id === currentId) : undefined;
    const v = verified.get(slot.ref);
    const history: SlotHistory = {
      lastRotation: current?.createdAt ?? null,
      lastVerification: v?.time ?? null,
      lastVerificationOutcome: v?.outcome ?? null,
    };
    return slotSchedule(slot, history, now);
  });
}
