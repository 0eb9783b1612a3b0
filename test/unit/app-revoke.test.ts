import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { revoke } from '../../src/app/revoke.js';
import { fingerprint } from '../../src/domain/credentials.js';
import { resolveSlot } from '../../src/domain/resolve.js';
import { appWorld, liveKeys, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('revoke', () => {
  it("deletes the slot's keys at the exchange, drops their material, and emits key.revoked per key", async () => {
    w = await appWorld({ sandbox: true });
    const engine = createRotationEngine(w.deps, { owner: 'test:1' });
    const { slot } = resolveSlot(w.deps.inventory, 'alpha/arb1');
    const outcome = await revoke({ engine }, { slot, reason: 'leaked' });
    expect(outcome).toEqual({
      ref: 'alpha/arb1',
      revoked: [fingerprint(w.keys.arb1!.apiKey)],
      failed: [],
      orphansDeleted: 0,
      orphansKept: [],
    });
    expect(await liveKeys(w, 'arb1')).toEqual([]);
    const info = await w.store.describe('bots/alpha/arb1');
    expect(info?.versions.every((v) => v.destroyed)).toBe(true);
    expect(w.recorder.of('key.revoked')).toEqual([expect.objectContaining({ ref: 'alpha/arb1', outcome: 'ok', reason: 'leaked' })]);
  });

  it('a key the exchange would not delete is a failure in the outcome and a failed key.revoked event', async () => {
    w = await appWorld({ sandbox: true });
    await w.sandbox!.admin.addFault({ exchange: 'bybit', path: '/v5/user/delete-sub-api', kind: '5xx' });
    const engine = createRotationEngine(w.deps, { owner: 'test:1' });
    const outcome = await revoke({ engine }, { slot: resolveSlot(w.deps.inventory, 'alpha/arb1').slot, reason: 'leaked' });
    expect(outcome.revoked).toEqual([]);
    expect(outcome.failed.map((f) => f.code)).toContain('EXCHANGE_UNAVAILABLE');
    expect(await liveKeys(w, 'arb1')).toEqual([w.keys.arb1!.apiKey]);
    expect(w.recorder.of('key.revoked')).toEqual([expect.objectContaining({ outcome: 'failed', error: 'EXCHANGE_UNAVAILABLE' })]);
  });

  it('waits for a rotation holding the slot, unless it is an emergency', async () => {
    w = await appWorld({ sandbox: true });
    const engine = createRotationEngine(w.deps, { owner: 'test:1' });
    const { slot } = resolveSlot(w.deps.inventory, 'alpha/arb1');
    await w.deps.coordination.acquire('rotate/bots/alpha/arb1', 'other-host:1', 60_000);
    await expect(revoke({ engine }, { slot, reason: 'leaked' })).rejects.toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
    expect(await liveKeys(w, 'arb1')).toHaveLength(1);
    expect((await revoke({ engine }, { slot, reason: 'leaked', emergency: true })).revoked).toHaveLength(1);
  });
});
