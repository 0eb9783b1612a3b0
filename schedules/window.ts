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
import { DateTime, IANAZone } from 'luxon';
import { WEEKDAYS, type RotationWindow, type Weekday } from '../src/domain/inventory.js';
import { InternalError } from '@keyctl/client/errors';

export type { RotationWindow, Weekday };

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Far enough for any window: one opening a week, plus weeks whose only opening a DST change swallowed. */
const SEARCH_DAYS = 400;

// Zone look-ups go through Intl and are the slow part (tens of microseconds each), so the code below asks for a
// zone's UTC offset as rarely as it can and does the rest with plain arithmetic on "wall-clock milliseconds": the
// local date and time of an instant, written as if it were UTC.
const zones = new Map<string, IANAZone>();
function zoneOf(name: string): IANAZone {
  let zone = zones.get(name);
  if (!zone) {
    zone = IANAZone.create(name);
    if (!zone.isValid) throw new InternalError(`Unknown time zone "${name}" in a rotation window.`);
    zones.set(name, zone);
  }
  return zone;
}

function minutes(clock: string): number {
  const [h, m] = clock.split(':');
  return Number(h) * 60 + Number(m);
}

/** The config's weekday name of a wall-clock time. */
function weekdayOf(wall: number): Weekday {
  return WEEKDAYS[(new Date(wall).getUTCDay() + 6) % 7]!;
}

/** Whether the window is open when the zone's clock shows `wall`. */
function openAtWall(window: RotationWindow, wall: number): boolean {
  const d = new Date(wall);
  const now = d.getUTCHours() * 60 + d.getUTCMinutes();
  const from = minutes(window.from);
  const to = minutes(window.to);
  const today = window.days.includes(weekdayOf(wall));
  if (from < to) return today && now >= from && now < to;
  // Crossing midnight: this day's window from `from` to midnight, or yesterday's window until `to`.
  return (today && now >= from) || (now < to && window.days.includes(weekdayOf(wall - DAY)));
}

function openAt(window: RotationWindow, zone: IANAZone, t: number): boolean {
  return openAtWall(window, t + zone.offset(t) * MINUTE);
}

/** True when scheduled rotation may run at `at`. No window: always true. */
export function inWindow(window: RotationWindow | undefined | null, at: DateTime): boolean {
  if (!window) return true;
  return openAt(window, zoneOf(window.zone), at.toMillis());
}

/**
 * The first instant strictly after `after` at which the window opens (was closed the minute before, is open now).
 * No window: `after` itself, since an absent window never closes.
 */
export function nextWindowStart(window: RotationWindow | undefined | null, after: DateTime): DateTime {
  if (!window) return after;
  const zone = zoneOf(window.zone);
  const a = after.toMillis();
  const firstDay = Math.floor((a + zone.offset(a) * MINUTE) / DAY) * DAY;
  const from = minutes(window.from) * MINUTE;
  // A DST change found while looking at one day can lie in the next, so keep the earliest opening found and stop
  // only once no later day can hold an earlier one.
  let best: number | undefined;
  for (let i = -1; i < SEARCH_DAYS; i++) {
    const day = firstDay + i * DAY;
    if (best !== undefined && day - 14 * HOUR > best) break;
    // Only a window day, or the day after one (a window crossing midnight), can hold an opening.
    if (!window.days.includes(weekdayOf(day)) && !window.days.includes(weekdayOf(day - DAY))) continue;
    // Every instant whose local date is `day` lies in [lo, hi], offsets being within +-14 h.
    const lo = day - 14 * HOUR;
    const hi = day + DAY + 14 * HOUR;
    const before = zone.offset(lo);
    const afterwards = zone.offset(hi);
    let candidates: number[];
    let opens: (t: number) => boolean;
    if (before === afterwards) {
      // The usual day: one offset throughout, so the window opens exactly when the clock shows `from`.
      const t = day + from - before * MINUTE;
      candidates = [t];
      opens = (u) => openAtWall(window, u + before * MINUTE) && !openAtWall(window, u - MINUTE + before * MINUTE);
    } else {
      // A DST change: the clock may show `from` twice (fall back) or never (spring forward), and the jump itself
      // may open the window.
      candidates = [before, afterwards].map((o) => day + from - o * MINUTE).filter((t, k) => zone.offset(t) === [before, afterwards][k]);
      candidates.push(offsetChange(zone, lo, hi));
      candidates.sort((x, y) => x - y);
      opens = (u) => openAt(window, zone, u) && !openAt(window, zone, u - MINUTE);
    }
    for (const t of candidates) {
      if (t > a && (best === undefined || t < best) && opens(t)) best = t;
    }
  }
  if (best !== undefined) return DateTime.fromMillis(best, { zone: 'utc' });
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

/** The first minute in (lo, hi] at which the zone's offset differs from its offset at `lo` (one change assumed). */
function offsetChange(zone: IANAZone, lo: number, hi: number): number {
  const start = zone.offset(lo);
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / (2 * MINUTE)) * MINUTE;
    if (zone.offset(mid) === start) lo = mid;
    else hi = mid;
  }
  return hi;
}
