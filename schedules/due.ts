/**
 * When each slot's next rotation and verification fall due. Pure functions of the slot's config, what is known of its
 * past (when the CURRENT key was created, when it was last verified) and `now`: no I/O, so `keyctl schedule`,
 * `keyctl rotate --due` and the daemon all agree.
 *
 * Rules (docs/schedules.md):
 * - last rotation = creation time of the CURRENT version (an import counts: it is when this key began);
 * - next rotation = last rotation + `rotate.every`, moved to the window's next opening when it falls outside;
 * - due for rotation = a key exists, now >= next rotation, and the window is open now. A slot with no key is never
 *   due for rotation: it is `missing` and needs `keyctl key import`;
 * - next verification = last verification + `verify.every`; a key never verified is due from its creation, and one
 *   whose last verification failed stays due until a verification passes. Windows do not apply to verification.
 *
 * Intervals are added as exact milliseconds in UTC (see duration.ts for how P1M and P1Y convert).
 */
import { DateTime } from 'luxon';
import type { Slot } from '../src/domain/inventory.js';
import type { AuditOutcome } from '../src/audit/types.js';
import { InternalError } from '@keyctl/client/errors';
import { configDurationMs } from './duration.js';
import { inWindow, nextWindowStart, openAtOrAfter, type RotationWindow } from './window.js';

/** The part of a slot's config that schedules read. */
export type ScheduledSlot = Pick<Slot, 'ref' | 'rotate'> & { verify: Pick<Slot['verify'], 'every'> };

/** What is known of a slot's past. Times are ISO-8601. */
export interface SlotHistory {
  /** Creation time of the CURRENT version, or null when the slot holds no key. */
  lastRotation: string | null;
  /** Time of the latest verification of this slot, or null when never verified (or not known). */
  lastVerification?: string | null;
  /** Outcome of that verification; anything but `ok` keeps verification due. Default `ok`. */
  lastVerificationOutcome?: AuditOutcome | null;
}

/** One slot's schedule as `keyctl schedule --json` prints it. Times are ISO-8601 UTC, or null. */
export interface SlotSchedule {
  ref: string;
  lastRotation: string | null;
  /**
   * When scheduled rotation will next run: the nominal time while it lies ahead; once passed, that time while the
   * window is open (overdue), or the window's next opening while it is closed. Null when the slot has no key.
   */
  nextRotation: string | null;
  rotationDue: boolean;
  window: RotationWindow | null;
  /** Whether the rotation window is open at `now` (always true without a window). */
  windowOpen: boolean;
  lastVerification: string | null;
  lastVerificationOutcome: AuditOutcome | null;
  /** Null when the slot has no key. */
  nextVerification: string | null;
  verificationDue: boolean;
  state: 'ok' | 'missing';
}

function at(time: string | DateTime): DateTime {
  const t = typeof time === 'string' ? DateTime.fromISO(time, { zone: 'utc' }) : time;
  if (!t.isValid) throw new InternalError(`A stored time is not ISO-8601: ${String(time)}.`);
  return t.toUTC();
}

/**
 * The nominal next rotation: `lastRotation` + `rotate.every`, moved to the window's next opening when it falls
 * outside the window. Null when the slot has no key (nothing to rotate).
 */
export function nextRotation(slot: ScheduledSlot, lastRotation: string | DateTime | null): DateTime | null {
  if (lastRotation === null) return null;
  const nominal = at(lastRotation).plus(configDurationMs(slot.rotate.every));
  return openAtOrAfter(slot.rotate.window, nominal);
}

/** True when scheduled rotation should run now: a key exists, its next rotation has come, and the window is open. */
export function dueForRotation(slot: ScheduledSlot, history: Pick<SlotHistory, 'lastRotation'>, now: DateTime): boolean {
  const next = nextRotation(slot, history.lastRotation);
  return next !== null && now.toMillis() >= next.toMillis() && inWindow(slot.rotate.window, now);
}

/**
 * The next verification: last verification + `verify.every`. A key never verified is due from its creation, one
 * whose last verification did not pass is due from then. Null when the slot has no key.
 */
export function nextVerification(slot: ScheduledSlot, history: SlotHistory): DateTime | null {
  if (history.lastRotation === null) return null;
  const last = history.lastVerification ?? null;
  if (last === null) return at(history.lastRotation);
  if ((history.lastVerificationOutcome ?? 'ok') !== 'ok') return at(last);
  return at(last).plus(configDurationMs(slot.verify.every));
}

/** True when the slot has a key and its next verification has come. */
export function dueForVerification(slot: ScheduledSlot, history: SlotHistory, now: DateTime): boolean {
  const next = nextVerification(slot, history);
  return next !== null && now.toMillis() >= next.toMillis();
}

/** Everything `keyctl schedule` shows for one slot. */
export function slotSchedule(slot: ScheduledSlot, history: SlotHistory, now: DateTime): SlotSchedule {
  const window = slot.rotate.window ?? null;
  const open = inWindow(window, now);
  let next = nextRotation(slot, history.lastRotation);
  // Past its time with the window shut: it really runs at the next opening.
  if (next && next.toMillis() <= now.toMillis() && !open) next = nextWindowStart(window, now);
  const verifyNext = nextVerification(slot, history);
  const iso = (t: DateTime | null) => (t ? t.toUTC().toISO({ suppressMilliseconds: true }) : null);
  return {
    ref: slot.ref,
    lastRotation: history.lastRotation === null ? null : iso(at(history.lastRotation)),
    nextRotation: iso(next),
    rotationDue: dueForRotation(slot, history, now),
    window,
    windowOpen: open,
    lastVerification: history.lastVerification ? iso(at(history.lastVerification)) : null,
    lastVerificationOutcome: history.lastVerification ? (history.lastVerificationOutcome ?? 'ok') : null,
    nextVerification: iso(verifyNext),
    verificationDue: dueForVerification(slot, history, now),
    state: history.lastRotation === null ? 'missing' : 'ok',
  };
}
