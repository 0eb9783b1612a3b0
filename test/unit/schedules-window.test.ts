import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import type { RotationWindow } from '../../src/config/schema.js';
import { describeWindow, inWindow, nextWindowStart, openAtOrAfter } from '../../schedules/window.js';

const utc = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' });
const iso = (t: DateTime) => t.toUTC().toISO({ suppressMilliseconds: true });
const ALL: RotationWindow['days'] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

// 2025-01-06 is a Monday. Europe/London: clocks go forward 2025-03-30 01:00Z (01:00 GMT -> 02:00 BST) and back
// 2025-10-26 01:00Z (02:00 BST -> 01:00 GMT).
const weekdays: RotationWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '02:00', to: '04:00', zone: 'UTC' };

describe('no window', () => {
  it('is always open and opens at once', () => {
    const t = utc('2025-01-04T13:37:00Z');
    expect(inWindow(undefined, t)).toBe(true);
    expect(inWindow(null, t)).toBe(true);
    expect(iso(nextWindowStart(undefined, t))).toBe('2025-01-04T13:37:00Z');
    expect(iso(openAtOrAfter(undefined, t))).toBe('2025-01-04T13:37:00Z');
  });
});

describe('a weekday window in UTC', () => {
  it.each([
    ['2025-01-06T01:59:00Z', false],
    ['2025-01-06T02:00:00Z', true],
    ['2025-01-06T03:59:59Z', true],
    ['2025-01-06T04:00:00Z', false],
    ['2025-01-10T02:30:00Z', true], // Friday
    ['2025-01-11T02:30:00Z', false], // Saturday
    ['2025-01-12T02:30:00Z', false], // Sunday
  ])('at %s open=%s', (t, open) => {
    expect(inWindow(weekdays, utc(t))).toBe(open);
  });

  it('waits over the weekend for Monday 02:00', () => {
    expect(iso(nextWindowStart(weekdays, utc('2025-01-10T05:00:00Z')))).toBe('2025-01-13T02:00:00Z');
    expect(iso(nextWindowStart(weekdays, utc('2025-01-11T12:00:00Z')))).toBe('2025-01-13T02:00:00Z');
  });

  it('next start is strictly after; openAtOrAfter keeps a time already inside', () => {
    const start = utc('2025-01-06T02:00:00Z');
    expect(iso(nextWindowStart(weekdays, start))).toBe('2025-01-07T02:00:00Z');
    expect(iso(nextWindowStart(weekdays, utc('2025-01-06T03:00:00Z')))).toBe('2025-01-07T02:00:00Z');
    expect(iso(openAtOrAfter(weekdays, utc('2025-01-06T03:00:00Z')))).toBe('2025-01-06T03:00:00Z');
    expect(iso(openAtOrAfter(weekdays, utc('2025-01-06T04:00:00Z')))).toBe('2025-01-07T02:00:00Z');
  });
});

describe('a window crossing midnight', () => {
  const mondayNight: RotationWindow = { days: ['mon'], from: '22:00', to: '02:00', zone: 'UTC' };

  it.each([
    ['2025-01-06T21:59:00Z', false],
    ['2025-01-06T22:00:00Z', true], // Monday: it starts on the day named
    ['2025-01-06T23:59:00Z', true],
    ['2025-01-07T00:00:00Z', true], // Tuesday morning is still Monday's window
    ['2025-01-07T01:59:00Z', true],
    ['2025-01-07T02:00:00Z', false],
    ['2025-01-07T22:30:00Z', false], // Tuesday night: not a window day
    ['2025-01-06T01:00:00Z', false], // Monday early morning would be Sunday's window
  ])('Monday-only 22:00-02:00 at %s open=%s', (t, open) => {
    expect(inWindow(mondayNight, utc(t))).toBe(open);
  });

  it('opens next on Monday 22:00', () => {
    expect(iso(nextWindowStart(mondayNight, utc('2025-01-07T01:00:00Z')))).toBe('2025-01-13T22:00:00Z');
    expect(iso(nextWindowStart(mondayNight, utc('2025-01-04T00:00:00Z')))).toBe('2025-01-06T22:00:00Z');
  });

  it('a daily crossing window is open across each midnight', () => {
    const nightly: RotationWindow = { days: ALL, from: '23:30', to: '00:30', zone: 'UTC' };
    expect(inWindow(nightly, utc('2025-01-04T23:45:00Z'))).toBe(true);
    expect(inWindow(nightly, utc('2025-01-05T00:15:00Z'))).toBe(true);
    expect(inWindow(nightly, utc('2025-01-05T00:30:00Z'))).toBe(false);
    expect(iso(nextWindowStart(nightly, utc('2025-01-05T00:15:00Z')))).toBe('2025-01-05T23:30:00Z');
  });
});

describe('the window is read in its own zone', () => {
  it('uses the local day, not the UTC day', () => {
    // Sunday 23:30 UTC is Monday 08:30 in Tokyo.
    const tokyoMonday: RotationWindow = { days: ['mon'], from: '08:00', to: '09:00', zone: 'Asia/Tokyo' };
    expect(inWindow(tokyoMonday, utc('2025-01-05T23:30:00Z'))).toBe(true);
    expect(inWindow(tokyoMonday, utc('2025-01-06T23:30:00Z'))).toBe(false);
    expect(iso(nextWindowStart(tokyoMonday, utc('2025-01-01T00:00:00Z')))).toBe('2025-01-05T23:00:00Z');
  });
});

describe('Europe/London across DST changes', () => {
  const london: RotationWindow = { days: ALL, from: '02:00', to: '04:00', zone: 'Europe/London' };

  it('follows the wall clock in winter and summer', () => {
    expect(inWindow(london, utc('2025-01-15T02:00:00Z'))).toBe(true); // 02:00 GMT
    expect(inWindow(london, utc('2025-01-15T01:30:00Z'))).toBe(false);
    expect(inWindow(london, utc('2025-07-15T01:00:00Z'))).toBe(true); // 02:00 BST
    expect(inWindow(london, utc('2025-07-15T03:00:00Z'))).toBe(false); // 04:00 BST
  });

  it('opens an hour earlier in UTC once the clocks go forward in March', () => {
    expect(iso(nextWindowStart(london, utc('2025-03-28T12:00:00Z')))).toBe('2025-03-29T02:00:00Z');
    expect(iso(nextWindowStart(london, utc('2025-03-29T12:00:00Z')))).toBe('2025-03-30T01:00:00Z');
    expect(iso(nextWindowStart(london, utc('2025-03-30T12:00:00Z')))).toBe('2025-03-31T01:00:00Z');
  });

  it('opens an hour later in UTC once the clocks go back in October', () => {
    expect(iso(nextWindowStart(london, utc('2025-10-25T12:00:00Z')))).toBe('2025-10-26T02:00:00Z');
    expect(inWindow(london, utc('2025-10-26T01:30:00Z'))).toBe(false); // 01:30 GMT, the repeated hour
    expect(inWindow(london, utc('2025-10-26T03:59:00Z'))).toBe(true);
  });

  it('a window starting in the skipped hour opens when the clock jumps past its start', () => {
    const sundayEarly: RotationWindow = { days: ['sun'], from: '01:30', to: '03:00', zone: 'Europe/London' };
    // 01:30 does not exist on 2025-03-30: the clock goes 00:59 GMT -> 02:00 BST at 01:00Z, and the window is open then.
    expect(iso(nextWindowStart(sundayEarly, utc('2025-03-29T00:00:00Z')))).toBe('2025-03-30T01:00:00Z');
    expect(inWindow(sundayEarly, utc('2025-03-30T00:59:00Z'))).toBe(false);
    expect(inWindow(sundayEarly, utc('2025-03-30T01:00:00Z'))).toBe(true);
    expect(inWindow(sundayEarly, utc('2025-03-30T02:00:00Z'))).toBe(false); // 03:00 BST
  });

  it('a window wholly inside the skipped hour does not open that day', () => {
    const lost: RotationWindow = { days: ['sun'], from: '01:10', to: '01:50', zone: 'Europe/London' };
    expect(iso(nextWindowStart(lost, utc('2025-03-22T00:00:00Z')))).toBe('2025-03-23T01:10:00Z'); // GMT
    expect(iso(nextWindowStart(lost, utc('2025-03-29T00:00:00Z')))).toBe('2025-04-06T00:10:00Z'); // BST, a week on
  });

  it('a window in the repeated hour is open both times round', () => {
    const repeated: RotationWindow = { days: ALL, from: '01:00', to: '01:30', zone: 'Europe/London' };
    expect(iso(nextWindowStart(repeated, utc('2025-10-25T12:00:00Z')))).toBe('2025-10-26T00:00:00Z'); // 01:00 BST
    expect(inWindow(repeated, utc('2025-10-26T00:15:00Z'))).toBe(true);
    expect(inWindow(repeated, utc('2025-10-26T00:45:00Z'))).toBe(false); // 01:45 BST
    expect(iso(nextWindowStart(repeated, utc('2025-10-26T00:15:00Z')))).toBe('2025-10-26T01:00:00Z'); // 01:00 GMT
    expect(inWindow(repeated, utc('2025-10-26T01:15:00Z'))).toBe(true);
    expect(iso(nextWindowStart(repeated, utc('2025-10-26T01:15:00Z')))).toBe('2025-10-27T01:00:00Z');
  });

  it('a Saturday-night window crossing midnight keeps local times across the change', () => {
    const satNight: RotationWindow = { days: ['sat'], from: '23:00', to: '03:00', zone: 'Europe/London' };
    // Saturday 2025-03-29 23:00 GMT to Sunday 03:00 BST (= 02:00Z): three hours of real time, as the wall clock skips one.
    expect(iso(nextWindowStart(satNight, utc('2025-03-29T12:00:00Z')))).toBe('2025-03-29T23:00:00Z');
    expect(inWindow(satNight, utc('2025-03-30T01:30:00Z'))).toBe(true); // 02:30 BST
    expect(inWindow(satNight, utc('2025-03-30T02:00:00Z'))).toBe(false); // 03:00 BST
  });
});

describe('describeWindow', () => {
  it.each([
    [undefined, 'any time'],
    [weekdays, 'mon-fri 02:00-04:00 UTC'],
    [{ days: ALL, from: '22:00', to: '02:00', zone: 'Europe/London' }, 'every day 22:00-02:00 Europe/London'],
    [{ days: ['sun', 'mon'], from: '01:00', to: '02:00', zone: 'UTC' }, 'mon,sun 01:00-02:00 UTC'],
    [{ days: ['mon', 'wed', 'fri'], from: '01:00', to: '02:00', zone: 'UTC' }, 'mon,wed,fri 01:00-02:00 UTC'],
  ] as Array<[RotationWindow | undefined, string]>)('%j reads %j', (w, text) => {
    expect(describeWindow(w)).toBe(text);
  });
});

describe('nextWindowStart agrees with a minute-by-minute scan around DST changes', () => {
  // Zones with spring-forward and fall-back changes at different local times, and Lord Howe's 30-minute shift.
  const cases: Array<[zone: string, around: string]> = [
    ['Europe/London', '2025-03-30T01:00:00Z'],
    ['Europe/London', '2025-10-26T01:00:00Z'],
    ['America/New_York', '2025-03-09T07:00:00Z'],
    ['America/New_York', '2025-11-02T06:00:00Z'],
    ['Australia/Sydney', '2025-04-05T16:00:00Z'],
    ['Australia/Sydney', '2025-10-04T16:00:00Z'],
    ['Australia/Lord_Howe', '2025-04-05T15:00:00Z'],
    ['Australia/Lord_Howe', '2025-10-04T15:30:00Z'],
  ];
  // Windows starting before, inside and after the changed hour, one crossing midnight, one ending inside it.
  const windows: Array<[string, string]> = [
    ['01:30', '03:00'],
    ['02:15', '02:45'],
    ['01:00', '01:30'],
    ['23:00', '02:30'],
    ['03:00', '01:45'],
  ];

  it.each(cases)('%s around %s', (zone, around) => {
    for (const [from, to] of windows) {
      const w: RotationWindow = { days: ALL, from, to, zone };
      const after = utc(around).minus({ hours: 4 });
      let t = after.toMillis() + 60_000;
      let prevOpen = inWindow(w, DateTime.fromMillis(t - 60_000));
      for (;;) {
        const open = inWindow(w, DateTime.fromMillis(t));
        if (open && !prevOpen) break;
        prevOpen = open;
        t += 60_000;
      }
      expect(`${from}-${to} ${iso(nextWindowStart(w, after))}`).toBe(`${from}-${to} ${iso(DateTime.fromMillis(t))}`);
    }
  });
});
