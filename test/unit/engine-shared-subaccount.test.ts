/**
 * Two slots on one sub-account (the config allows it; the checklist flags it): the orphan sweep of one must never
 * delete the other's keyctl-labelled keys, stored or still being created by its own rotation. Before the fix the sweep
 * held only the rotated slot's keys, so rotating alpha/arb2 deleted alpha/arb1's live key.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { fingerprint } from '../../src/domain/credentials.js';
import type { RotationEngine } from '../../src/rotation/engine.js';
import { writeJournal } from '../../src/rotation/journal.js';
import { appWorld, CLIENT_IP, liveKeys, SAFE_BOT, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

function engineOf(world: AppWorld): RotationEngine {
  return createRotationEngine(world.deps, { owner: 'test:1', propagationWaitMs: 0 });
}

const slotOf = (world: AppWorld, ref: string) => world.deps.inventory.slots.find((s) => s.ref === ref)!;

describe('the orphan sweep on a sub-account two slots share', () => {
  it("rotating one slot leaves the other slot's rotated (keyctl-labelled) key alive", async () => {
    w = await appWorld({ sandbox: true, shareSub: { arb2: 'arb1' } });
    const engine = engineOf(w);
    const first = await engine.rotate(slotOf(w, 'alpha/arb1'), { start: true, reason: 'manual', graceMs: 0 });
    expect(first.status).toBe('rotated');
    const second = await engine.rotate(slotOf(w, 'alpha/arb2'), { start: true, reason: 'manual', graceMs: 0 });
    expect(second.status).toBe('rotated');
    const live = (await liveKeys(w, 'arb1')).map(fingerprint).sort();
    expect(live).toEqual([first.newFingerprint, second.newFingerprint].sort());
    expect(w.recorder.of('key.swept')).toEqual([]);
  });

  it("the periodic sweep spares a key the other slot's rotation created but has not stored yet, and deletes a true orphan", async () => {
    w = await appWorld({ sandbox: true, shareSub: { arb2: 'arb1' } });
    const sub = w.subs.arb1!;
    const mint = (label: string) =>
      w!.sandbox!.admin.createKey({ exchange: 'bybit', owner: sub, permissions: SAFE_BOT, ips: [CLIENT_IP], label });
    // alpha/arb1's rotation wrote its journal and created its key, then stopped before storing it.
    await writeJournal(
      w.deps.coordination,
      'bots/alpha/arb1',
      { rotationId: 'a1b2c3d4e5f6', step: 'started', mode: 'automatic', startedAt: new Date().toISOString(), label: 'keyctl-a1b2c3d4e5f6' },
      null,
    );
    const inFlight = await mint('keyctl-a1b2c3d4e5f6');
    const orphan = await mint('keyctl-0a0b0c0d0e0f');
    const swept = await engineOf(w).sweepOrphans(slotOf(w, 'alpha/arb2'));
    expect(swept).toEqual({ deleted: 1, kept: [] });
    const live = await liveKeys(w, 'arb1');
    expect(live).toContain(inFlight.apiKey);
    expect(live).toContain(w.keys.arb1!.apiKey);
    expect(live).toContain(w.keys.arb2!.apiKey);
    expect(live).not.toContain(orphan.apiKey);
  });
});
