import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { offboard } from '../../src/app/offboard.js';
import { fingerprint } from '../../src/domain/credentials.js';
import { appWorld, liveKeys, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const depsOf = (world: AppWorld) => ({ ...world.deps, engine: createRotationEngine(world.deps, { owner: 'test:1' }) });

describe('offboard', () => {
  it('rotates with no grace every slot the person could see, lists their master keys, and emits one offboard event', async () => {
    w = await appWorld({ sandbox: true });
    const result = await offboard(depsOf(w), { person: 'alice', reason: 'left' });
    expect(result.slots).toEqual(['alpha/arb1', 'beta/mm']);
    expect(result.failures).toEqual([]);
    expect(result.rotated.map((r) => [r.ref, r.previousRevoked])).toEqual([
      ['alpha/arb1', true],
      ['beta/mm', true],
    ]);
    expect(result.masterKeysToRotateByHand).toEqual(['@main']);
    // alice's keys are dead at the exchange; bob's is untouched.
    expect(await liveKeys(w, 'arb1')).not.toContain(w.keys.arb1!.apiKey);
    expect(await liveKeys(w, 'mm')).not.toContain(w.keys.mm!.apiKey);
    expect(await liveKeys(w, 'arb2')).toEqual([w.keys.arb2!.apiKey]);
    expect(w.recorder.of('rotation.started').map((e) => e.reason)).toEqual(['offboard:alice:left', 'offboard:alice:left']);
    expect(w.recorder.entries.at(-1)).toMatchObject({
      command: 'offboard',
      outcome: 'ok',
      detail: { staff: 'alice', rotated: 2, failed: 0, masterKeys: '@main' },
    });
    expect(result.rotated[0]?.oldFingerprint).toBe(fingerprint(w.keys.arb1!.apiKey));
  });

  it('a slot that does not rotate is a failure and the rest go on; the event says so', async () => {
    w = await appWorld({ sandbox: true });
    await w.sandbox!.admin.addFault({ exchange: 'bybit', path: '/v5/user/create-sub-api', kind: 'ratelimit', times: 1 });
    const result = await offboard(depsOf(w), { person: 'alice', reason: 'left' });
    // The slots rotate at once: whichever reaches the create first takes the fault; the other rotates.
    expect(result.failures.map((f) => f.code)).toEqual(['RATE_LIMITED']);
    expect(result.rotated).toHaveLength(1);
    expect([...result.failures.map((f) => f.ref), ...result.rotated.map((r) => r.ref)].sort()).toEqual(['alpha/arb1', 'beta/mm']);
    expect(w.recorder.of('offboard')).toEqual([expect.objectContaining({ staff: 'alice', rotated: 1, failed: 1 })]);
    expect(w.recorder.entries.at(-1)).toMatchObject({ command: 'offboard', outcome: 'failed' });
  });

  it('someone with nothing to rotate is offboarded with nothing rotated; someone not on staff is UNKNOWN_STAFF', async () => {
    w = await appWorld({ sandbox: true });
    expect(await offboard(depsOf(w), { person: 'carol', reason: 'left' })).toMatchObject({
      slots: [],
      rotated: [],
      masterKeysToRotateByHand: [],
    });
    await expect(offboard(depsOf(w), { person: 'mallory', reason: 'left' })).rejects.toMatchObject({ code: 'UNKNOWN_STAFF' });
    expect(w.recorder.of('offboard').map((e) => e.staff)).toEqual(['carol']);
  });
});
