import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import type { RotationWindow } from '../../src/config/schema.js';
import {
  dueForRotation,
  dueForVerification,
  nextRotation,
  nextVerification,
  slotSchedule,
  type ScheduledSlot,
} from '../../schedules/due.js';

const utc = (iso: string) => DateTime.fromISO(iso, { zone: 'utc' });
const iso = (t: DateTime | null) => (t ? t.toUTC().toISO({ suppressMilliseconds: true }) : null);

function slot(rotate: Partial<ScheduledSlot['rotate']> = {}, verifyEvery = 'PT1H'): ScheduledSlot {
  return { ref: 'alpha/arb1', rotate: { every: 'P30D', grace: 'PT15M', ...rotate }, verify: { every: verifyEvery } };
}

// 2025-01-03 is a Friday, 2025-01-06 a Monday.
const weekdays: RotationWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '02:00', to: '04:00', zone: 'UTC' };

describe('rotation without a window', () => {
  const s = slot();
  const last = '2025-01-01T00:00:00Z';

  it('next rotation is last + every', () => {
    expect(iso(nextRotation(s, last))).toBe('2025-01-31T00:00:00Z');
    expect(iso(nextRotation(s, utc(last)))).toBe('2025-01-31T00:00:00Z');
  });

  it('is due from that instant on, not a millisecond before', () => {
    expect(dueForRotation(s, { lastRotation: last }, utc('2025-01-30T23:59:59.999Z'))).toBe(false);
    expect(dueForRotation(s, { lastRotation: last }, utc('2025-01-31T00:00:00Z'))).toBe(true);
    expect(dueForRotation(s, { lastRotation: last }, utc('2025-03-01T00:00:00Z'))).toBe(true);
  });

  it('handles short periods', () => {
    const fast = slot({ every: 'PT15M', grace: 'PT1M' });
    expect(iso(nextRotation(fast, '2025-01-01T10:00:00Z'))).toBe('2025-01-01T10:15:00Z');
  });
});

describe('a slot with no key', () => {
  it('has no next rotation, is never due, and is reported missing', () => {
    const s = slot();
    const now = utc('2025-01-01T00:00:00Z');
    expect(nextRotation(s, null)).toBeNull();
    expect(dueForRotation(s, { lastRotation: null }, now)).toBe(false);
    expect(nextVerification(s, { lastRotation: null })).toBeNull();
    expect(dueForVerification(s, { lastRotation: null }, now)).toBe(false);
    expect(slotSchedule(s, { lastRotation: null }, now)).toMatchObject({
      state: 'missing',
      lastRotation: null,
      nextRotation: null,
      rotationDue: false,
      nextVerification: null,
      verificationDue: false,
    });
  });
});

describe('rotation with a window', () => {
  const s = slot({ every: 'P1D', window: weekdays });

  it('keeps a next rotation that falls inside the window', () => {
    expect(iso(nextRotation(s, '2025-01-06T03:00:00Z'))).toBe('2025-01-07T03:00:00Z');
  });

  it('moves one that falls outside to the next opening', () => {
    // Friday 03:00 + 1 day = Saturday 03:00, outside: Monday 02:00.
    expect(iso(nextRotation(s, '2025-01-03T03:00:00Z'))).toBe('2025-01-06T02:00:00Z');
    // Monday 05:00 + 1 day = Tuesday 05:00, after the window closed: Wednesday 02:00.
    expect(iso(nextRotation(s, '2025-01-06T05:00:00Z'))).toBe('2025-01-08T02:00:00Z');
  });

  it('is due only while the window is open', () => {
    const h = { lastRotation: '2025-01-03T03:00:00Z' };
    expect(dueForRotation(s, h, utc('2025-01-04T05:00:00Z'))).toBe(false); // Saturday
    expect(dueForRotation(s, h, utc('2025-01-06T01:59:00Z'))).toBe(false);
    expect(dueForRotation(s, h, utc('2025-01-06T02:00:00Z'))).toBe(true);
    expect(dueForRotation(s, h, utc('2025-01-06T04:30:00Z'))).toBe(false); // missed today's window
    expect(dueForRotation(s, h, utc('2025-01-07T02:10:00Z'))).toBe(true); // caught at the next one
  });

  it('shows an overdue rotation whose window is shut at the next opening', () => {
    const sched = slotSchedule(s, { lastRotation: '2025-01-03T03:00:00Z' }, utc('2025-01-06T04:30:00Z'));
    expect(sched).toMatchObject({ nextRotation: '2025-01-07T02:00:00Z', rotationDue: false, windowOpen: false, window: weekdays });
    const open = slotSchedule(s, { lastRotation: '2025-01-03T03:00:00Z' }, utc('2025-01-06T03:00:00Z'));
    expect(open).toMatchObject({ nextRotation: '2025-01-06T02:00:00Z', rotationDue: true, windowOpen: true });
  });

  it('applies DST in the window zone (Europe/London, March change)', () => {
    const london = slot({ every: 'P1D', window: { days: ['sun'], from: '02:00', to: '03:00', zone: 'Europe/London' } });
    // Saturday 2025-03-29 12:00Z + 1 day lands after Sunday's window (02:00 BST = 01:00Z): the next Sunday, 01:00Z.
    expect(iso(nextRotation(london, '2025-03-29T12:00:00Z'))).toBe('2025-04-06T01:00:00Z');
    // Saturday 2025-03-29 00:30Z + 1 day = Sunday 00:30Z (00:30 GMT): moved to 02:00 BST = 01:00Z the same day.
    expect(iso(nextRotation(london, '2025-03-29T00:30:00Z'))).toBe('2025-03-30T01:00:00Z');
  });
});

describe('verification', () => {
  const s = slot({}, 'PT1H');
  const created = '2025-01-01T00:00:00Z';

  it('a key never verified is due from its creation', () => {
    expect(iso(nextVerification(s, { lastRotation: created, lastVerification: null }))).toBe(created);
    expect(dueForVerification(s, { lastRotation: created }, utc(created))).toBe(true);
  });

  it('after a passing verification it is due every verify.every, ignoring the rotation window', () => {
    const w = slot({ window: weekdays }, 'PT1H');
    const h = { lastRotation: created, lastVerification: '2025-01-04T10:00:00Z', lastVerificationOutcome: 'ok' as const };
    expect(iso(nextVerification(w, h))).toBe('2025-01-04T11:00:00Z');
    expect(dueForVerification(w, h, utc('2025-01-04T10:59:59Z'))).toBe(false);
    expect(dueForVerification(w, h, utc('2025-01-04T11:00:00Z'))).toBe(true); // a Saturday: no window for verify
  });

  it('stays due after a failed verification until one passes', () => {
    const h = { lastRotation: created, lastVerification: '2025-01-04T10:00:00Z', lastVerificationOutcome: 'failed' as const };
    expect(iso(nextVerification(s, h))).toBe('2025-01-04T10:00:00Z');
    expect(dueForVerification(s, h, utc('2025-01-04T10:00:01Z'))).toBe(true);
  });
});

describe('slotSchedule', () => {
  it('reports every field in ISO-8601 UTC', () => {
    const s = slot({ every: 'P30D' }, 'PT6H');
    const result = slotSchedule(
      s,
      { lastRotation: '2025-01-01T01:00:00.000+01:00', lastVerification: '2025-01-10T00:00:00Z', lastVerificationOutcome: 'ok' },
      utc('2025-01-10T01:00:00Z'),
    );
    expect(result).toEqual({
      ref: 'alpha/arb1',
      lastRotation: '2025-01-01T00:00:00Z',
      nextRotation: '2025-01-31T00:00:00Z',
      rotationDue: false,
      window: null,
      windowOpen: true,
      lastVerification: '2025-01-10T00:00:00Z',
      lastVerificationOutcome: 'ok',
      nextVerification: '2025-01-10T06:00:00Z',
      verificationDue: false,
      state: 'ok',
    });
  });

  it('marks both due when both have come', () => {
    const result = slotSchedule(slot(), { lastRotation: '2024-01-01T00:00:00Z', lastVerification: null }, utc('2025-01-10T00:00:00Z'));
    expect(result).toMatchObject({ rotationDue: true, verificationDue: true, lastVerificationOutcome: null, state: 'ok' });
  });
});
