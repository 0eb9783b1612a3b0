/**
 * Rotation windows: days of the week and a wall-clock time range in a named zone, outside which scheduled rotation
 * waits (on-demand rotation ignores them).
 *
 * A window is wall-clock time, the way an operator reads it: `02:00-04:00 Europe/London` is open while a London
 * clock shows 02:00 to 03:59, whatever the UTC offset that day. Consequences at DST changes, which the tests pin:
 * - spring forward: the clock skips an hour, so a window partly in the skipped hour opens when the clock jumps past
 *   its start, and a window wholly inside it does not open that day;
 * - fall back: the clock repeats an hour, so a window in the repeated hour is open both times round.
 *
 * `to` earlier than `from` crosses midnight; `days` names the day the window STARTS (a Monday-only 22:00-02:00
 * window runs from Monday 22:00 to Tuesday 02:00). No window means always open.
 */
import { DateTime } from 'luxon';
import { WEEKDAYS, type RotationWindow } from '../src/config/schema.js';
import { InternalError } from '../src/errors.js';

export type { RotationWindow };
export type Weekday = (typeof WEEKDAYS)[number];

const MINUTE = 60_000;
/** Far enough for any window: one opening a week, plus weeks whose only opening a DST change swallowed. */
const SEARCH_DAYS = 400;

function minutes(clock: string): number {
  const [h, m] = clock.split(':');
  return Number(h) * 60 + Number(m);
}

/** luxon weekday (1 = Monday .. 7 = Sunday) to the config's names. */
function weekdayName(weekday: number): Weekday {
  return WEEKDAYS[(weekday - 1) % 7]!;
}

/** True when scheduled rotation may run at `at`. No window: always true. */
export function inWindow(window: RotationWindow | undefined | null, at: DateTime): boolean {
  if (!window) return true;
  const local = at.setZone(window.zone);
  const now = local.hour * 60 + local.minute;
  const from = minutes(window.from);
  const to = minutes(window.to);
  const days = new Set<string>(window.days);
  const today = days.has(weekdayName(local.weekday));
  if (from < to) return today && now >= from && now < to;
  // Crossing midnight: this day's window from `from` to midnight, or yesterday's window until `to`.
  const yesterday = days.has(weekdayName(local.minus({ days: 1 }).weekday));
  return (today && now >= from) || (yesterday && now < to);
}

/**
 * The first instant strictly after `after` at which the window opens (was closed the minute before, is open now).
 * No window: `after` itself, since an absent window never closes.
 */
export function nextWindowStart(window: RotationWindow | undefined | null, after: DateTime): DateTime {
  if (!window) return after;
  const zone = window.zone;
  const startDay = after.setZone(zone).startOf('day');
  const opensAt = (t: number) => inWindow(window, DateTime.fromMillis(t)) && !inWindow(window, DateTime.fromMillis(t - MINUTE));
  for (let i = -1; i < SEARCH_DAYS; i++) {
    const day = startDay.plus({ days: i });
    const candidates = [...localInstants(day, window.from, zone), ...dstChanges(day, zone)].sort((a, b) => a - b);
    for (const t of candidates) {
      if (t > after.toMillis() && opensAt(t)) return DateTime.fromMillis(t, { zone: 'utc' });
    }
  }
  throw new InternalError(`No opening of the rotation window found within ${SEARCH_DAYS} days.`);
}

/**
 * When scheduled rotation may first run at or after `at`: `at` itself when the window is open then, otherwise the
 * window's next opening.
 */
export function openAtOrAfter(window: RotationWindow | undefined | null, at: DateTime): DateTime {
  return inWindow(window, at) ? at : nextWindowStart(window, at);
}

/** A short human description: `mon-fri 02:00-04:00 UTC`, `every day 22:00-02:00 Europe/London`. */
export function describeWindow(window: RotationWindow | undefined | null): string {
  if (!window) return 'any time';
  const idx = [...new Set(window.days)].map((d) => WEEKDAYS.indexOf(d)).sort((a, b) => a - b);
  let days: string;
  if (idx.length === 7) days = 'every day';
  else if (idx.length > 2 && idx.every((d, i) => i === 0 || d === idx[i - 1]! + 1)) days = `${WEEKDAYS[idx[0]!]}-${WEEKDAYS[idx.at(-1)!]}`;
  else days = idx.map((d) => WEEKDAYS[d]).join(',');
  return `${days} ${window.from}-${window.to} ${window.zone}`;
}

/**
 * Every instant on local `day` whose wall clock reads `clock`: usually one, two in a repeated (fall-back) hour,
 * none in a skipped (spring-forward) hour.
 */
function localInstants(day: DateTime, clock: string, zone: string): number[] {
  const wall = Date.UTC(day.year, day.month - 1, day.day) + minutes(clock) * MINUTE;
  const offsets = new Set([day.offset, day.endOf('day').offset]);
  const out: number[] = [];
  for (const offset of offsets) {
    const t = wall - offset * MINUTE;
    if (DateTime.fromMillis(t, { zone }).offset === offset) out.push(t);
  }
  return out;
}

/** The instant(s) on local `day` at which the zone's UTC offset changes (found to the minute by bisection). */
function dstChanges(day: DateTime, zone: string): number[] {
  const start = day.toMillis();
  const end = day.plus({ days: 1 }).toMillis();
  const offsetAt = (t: number) => DateTime.fromMillis(t, { zone }).offset;
  if (offsetAt(start) === offsetAt(end)) return [];
  let lo = start; // offset as at start
  let hi = end; // offset differs from start
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / (2 * MINUTE)) * MINUTE;
    if (offsetAt(mid) === offsetAt(start)) lo = mid;
    else hi = mid;
  }
  return [hi];
}
