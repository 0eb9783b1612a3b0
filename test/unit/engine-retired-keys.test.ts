/**
 * Retired keys: a key import pushes the key it replaces into PREVIOUS, and the next import or promotion pushes that
 * one out of every stage while it is still alive at the exchange. The rotation's revoke step must revoke it too.
 * Before the fix it stayed alive, live in the store, never revoked (found by the fault suite).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { importKey } from '../../src/app/import-key.js';
import { fingerprint } from '../../src/domain/credentials.js';
import { resolveKey } from '../../src/domain/resolve.js';
import { appWorld, CLIENT_IP, liveKeys, SAFE_BOT, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const byHand = (world: AppWorld) =>
  world.sandbox!.admin.createKey({
    exchange: 'bybit',
    owner: world.subs.arb1!,
    permissions: SAFE_BOT,
    ips: [CLIENT_IP],
    label: 'made-by-hand',
  });

describe('keys pushed out of every stage by imports', () => {
  it('two imports then a rotation: every replaced key is revoked at the exchange and destroyed in the store', async () => {
    w = await appWorld({ sandbox: true });
    const key = resolveKey(w.deps.inventory, 'alpha/arb1');
    const first = w.keys.arb1!;
    const second = await byHand(w);
    const third = await byHand(w);
    expect(await importKey(w.deps, { key, credentials: second, actor: 'ops' })).toMatchObject({ status: 'stored' });
    // The first key is now PREVIOUS; this import pushes it out of every stage, still alive.
    expect(await importKey(w.deps, { key, credentials: third, actor: 'ops' })).toMatchObject({ status: 'stored' });
    expect((await liveKeys(w, 'arb1')).sort()).toEqual([first.apiKey, second.apiKey, third.apiKey].sort());

    const engine = createRotationEngine(w.deps, { owner: 'test:1', propagationWaitMs: 0 });
    const slot = w.deps.inventory.slots.find((s) => s.ref === 'alpha/arb1')!;
    const outcome = await engine.rotate(slot, { start: true, reason: 'manual', graceMs: 0 });
    expect(outcome).toMatchObject({ status: 'rotated', previousRevoked: true });

    const live = await liveKeys(w, 'arb1');
    expect(live.map(fingerprint)).toEqual([outcome.newFingerprint]);
    const info = await w.store.describe('bots/alpha/arb1');
    expect(info?.versions.filter((v) => !v.destroyed).map((v) => v.meta.fingerprint)).toEqual([outcome.newFingerprint]);
    // Each revoked key is audited once.
    const revoked = w.recorder
      .of('rotation.step')
      .filter((e) => e.step === 'revoked-previous')
      .map((e) => e.fingerprint);
    expect(revoked.sort()).toEqual([first, second, third].map((k) => fingerprint(k.apiKey)).sort());
  });

  it('a key in its grace period is not touched before the grace is over', async () => {
    w = await appWorld({ sandbox: true });
    const key = resolveKey(w.deps.inventory, 'alpha/arb1');
    const second = await byHand(w);
    await importKey(w.deps, { key, credentials: second, actor: 'ops' });
    const engine = createRotationEngine(w.deps, { owner: 'test:1', propagationWaitMs: 0 });
    const slot = w.deps.inventory.slots.find((s) => s.ref === 'alpha/arb1')!;
    const outcome = await engine.rotate(slot, { start: true, reason: 'manual', graceMs: 3_600_000 });
    expect(outcome).toMatchObject({ status: 'rotated', previousRevoked: false });
    // The imported key is PREVIOUS, in its grace period; the first key, out of every stage, waits with it.
    expect(await liveKeys(w, 'arb1')).toHaveLength(3);
    const again = await engine.rotate(slot, { start: false, reason: 'manual', revokeNow: true });
    expect(again.previousRevoked).toBe(true);
    expect((await liveKeys(w, 'arb1')).map(fingerprint)).toEqual([outcome.newFingerprint]);
  });
});
