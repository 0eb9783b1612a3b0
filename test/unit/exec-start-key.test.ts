import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../providers/memory/index.js';
import { readCurrent } from '../../src/delivery/current.js';
import { readStartKey, rotatesAtOf } from '../../src/delivery/exec.js';
import type { SlotKey } from '../../src/domain/resolve.js';
import type { RotationWindow, Slot } from '../../src/domain/inventory.js';
import { MissingKeyError } from '@keyctl/client/errors';
import { configDurationMs } from '../../schedules/duration.js';

function slotKey(rotate: Slot['rotate']): SlotKey {
  const slot: Slot = {
    ref: 'alpha/arb1',
    bot: 'alpha',
    sub: 'arb1',
    account: 'main',
    uid: '100001',
    scopes: ['read'],
    ips: ['203.0.113.7'],
    custodians: [],
    rotate,
    verify: { every: 'PT1H', onViolation: 'alert' },
  };
  return {
    kind: 'slot',
    ref: slot.ref,
    path: 'bots/alpha/arb1',
    account: { name: 'main', exchange: 'bybit', custodians: [], verify: { every: 'PT1H' } },
    slot,
  };
}

const weekdays: RotationWindow = { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '02:00', to: '04:00', zone: 'Europe/Berlin' };
const ROTATIONS: Array<Slot['rotate']> = [
  { every: 'P30D', grace: 'PT1H' },
  { every: 'PT15M', grace: 'PT1M' },
  { every: 'P1M', grace: 'P1D' },
  { every: 'P1Y', grace: 'P1D' },
  { every: 'P7D', grace: 'PT1H', window: weekdays },
];
const CREATED = ['2025-01-01T00:00:00.000Z', '2025-03-30T00:59:59.999Z', '2026-12-03T10:20:04.423Z', '2025-01-03T03:00:00Z'];

describe("exec's start key", () => {
  it.each(ROTATIONS.flatMap((rotate) => CREATED.map((createdAt) => [rotate, createdAt] as const)))(
    'KEYCTL_ROTATES_AT for %j, created %s, is what the schedule says',
    async (rotate, createdAt) => {
      const key = slotKey(rotate);
      const { nextRotation } = await import('../../schedules/due.js');
      const expected = nextRotation(key.slot, createdAt)?.toUTC().toISO({ suppressMilliseconds: true });
      expect(await rotatesAtOf(key, createdAt, configDurationMs(rotate.every))).toBe(expected);
    },
  );

  it('reads the same credentials as readCurrent, and fails the same way on an empty slot', async () => {
    let now = Date.parse('2026-01-02T03:04:05.678Z');
    const store = new MemoryStore({ now: () => now });
    const key = slotKey({ every: 'P30D', grace: 'PT1H' });
    await expect(readStartKey(store, key, configDurationMs('P30D'))).rejects.toBeInstanceOf(MissingKeyError);
    await store.write(key.path, {
      secret: { apiKey: 'FAKE-apikey-0001', secret: 'FAKE-secret-0001', passphrase: 'FAKE-pass-0001' },
      meta: { fingerprint: 'fakefakefake0001' },
      stage: 'CURRENT',
      expect: null,
    });
    now += 1000;
    const mine = await readStartKey(store, key, configDurationMs('P30D'));
    expect(mine).toEqual(await readCurrent(store, key));
    expect(mine.rotatesAt).toBe('2026-02-01T03:04:05.678Z');
  });
});
