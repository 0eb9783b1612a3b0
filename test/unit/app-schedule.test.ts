import { afterEach, describe, expect, it } from 'vitest';
import { buildSchedule } from '../../src/app/schedule.js';
import { appWorld, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const DAY = 86_400_000;
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

describe('buildSchedule', () => {
  it("gives each slot its last rotation (CURRENT's creation), last verification (the audit log) and what is due", async () => {
    const start = Date.parse('2025-03-01T00:00:00Z');
    let now = start;
    w = await appWorld({ now: () => now, withoutKey: ['beta/mm'] });
    now += 2 * HOUR;
    await w.deps.events.emit({ type: 'verification.result', ref: 'alpha/arb1', fingerprint: 'fp', outcome: 'ok', violations: [] });
    await w.deps.events.emit({
      type: 'verification.result',
      ref: 'alpha/arb2',
      fingerprint: 'fp',
      outcome: 'violation',
      violations: ['X'],
    });
    now = start + 31 * DAY;
    const slots = await buildSchedule(w.deps);
    expect(slots.map((s) => s.ref)).toEqual(['alpha/arb1', 'alpha/arb2', 'beta/mm']);
    expect(slots[0]).toMatchObject({
      state: 'ok',
      lastRotation: iso(start),
      nextRotation: iso(start + 30 * DAY),
      rotationDue: true,
      lastVerification: iso(start + 2 * HOUR),
      lastVerificationOutcome: 'ok',
      nextVerification: iso(start + 3 * HOUR),
      verificationDue: true,
    });
    // A verification that did not pass makes the slot due again at once.
    expect(slots[1]).toMatchObject({ lastVerificationOutcome: 'refused', nextVerification: iso(start + 2 * HOUR) });
    expect(slots[2]).toMatchObject({ state: 'missing', lastRotation: null, rotationDue: false, verificationDue: false });
  });

  it('nothing is due right after a key was stored and verified', async () => {
    const now = Date.parse('2025-03-01T00:00:00Z');
    w = await appWorld({ now: () => now });
    for (const ref of ['alpha/arb1', 'alpha/arb2', 'beta/mm'])
      await w.deps.events.emit({ type: 'verification.result', ref, fingerprint: 'fp', outcome: 'ok', violations: [] });
    const slots = await buildSchedule(w.deps);
    expect(slots.map((s) => [s.rotationDue, s.verificationDue])).toEqual([
      [false, false],
      [false, false],
      [false, false],
    ]);
  });
});
