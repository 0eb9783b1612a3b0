/**
 * The representative subset of the fault matrix beyond Bybit with no grace period (which rotation-crash,
 * rotation-store-faults and rotation-path-faults cover in full): one failpoint per step (create, store, test, promote,
 * revoke, plus a refused store write and a crash inside a revoke) on OKX, a crash after the create and after the
 * exchange delete on Bitget (orphan found by label, v3 delete), and the rotate steps with a grace period,
 * where the revoke happens in a later run than the promotion. Each case then converges with every invariant and each
 * step audited once. A propagation delay (new keys unknown to the exchange for a while) joins two crash cases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { World } from '../helpers/world.js';
import {
  again,
  assertInvariants,
  crash,
  faultWorld,
  keysAtSlot,
  LEASE_MS,
  ONE_ROTATION,
  parseRotate,
  REF,
  rerun,
  sleep,
  slotState,
  subsetCases,
  SUBSET_STEPS,
  untrackedLabelledEverywhere,
  warmUp,
} from './helpers/rotation-world.js';

/** One failpoint per step of the rotation. */

/** The grace period of the grace cases: long enough for the checks made inside it, short for the suite. */
const GRACE_MS = 4_000;

describe('OKX: one failpoint per step', () => {
  const worlds: World[] = [];
  beforeAll(async () => {
    await warmUp();
    await getAdapter('okx');
  });
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });

  it.concurrent.for(SUBSET_STEPS)('okx, killed at %s: the re-run converges', { timeout: 90_000 }, async (failpoint, { task }) => {
    const w = await faultWorld({ exchange: 'okx' });
    worlds.push(w);
    task.meta.faultOutcome = await subsetCases.crashAtStep(w, failpoint);
  });

  it.concurrent(
    'okx, the store refuses the PENDING write: nothing untracked is left, the re-run converges',
    { timeout: 90_000 },
    async ({ task }) => {
      const w = await faultWorld({ exchange: 'okx' });
      worlds.push(w);
      task.meta.faultOutcome = await subsetCases.refusedPendingWrite(w);
    },
  );

  it.concurrent('okx, revoke killed at revoke.after-exchange: the re-run revokes what is left', { timeout: 90_000 }, async ({ task }) => {
    const w = await faultWorld({ exchange: 'okx' });
    worlds.push(w);
    task.meta.faultOutcome = await subsetCases.revokeCrash(w);
  });
});

describe('Bitget: a crash after the create and after the exchange delete', () => {
  const worlds: World[] = [];
  beforeAll(async () => {
    await warmUp();
    await getAdapter('bitget');
  });
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });

  // After the create: the orphan is found by its label in Bitget's key listing and deleted through the v3 delete.
  it.concurrent.for(['rotate.after-create', 'rotate.after-revoke-exchange'] as const)(
    'bitget, killed at %s: the re-run converges',
    { timeout: 90_000 },
    async (failpoint, { task }) => {
      const w = await faultWorld({ exchange: 'bitget' });
      worlds.push(w);
      task.meta.faultOutcome = await subsetCases.crashAtStep(w, failpoint);
    },
  );
});

describe('with a grace period: the revoke comes in a later run', () => {
  const worlds: World[] = [];
  beforeAll(warmUp);
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });
  const ROTATE = ['rotate', REF, '--json'];

  /** Inside the grace period: the new key CURRENT, the old one PREVIOUS, both alive and held, nothing else. */
  async function assertInGrace(w: World): Promise<void> {
    const state = await slotState(w);
    expect(state.current?.apiKey, 'CURRENT is new').not.toBe(w.botKeys.arb1!.apiKey);
    expect(state.live.map((v) => v.stages.join()).sort(), 'live versions in grace').toEqual(['CURRENT', 'PREVIOUS']);
    expect((await keysAtSlot(w)).map((k) => k.apiKey).sort(), 'keys alive in grace').toEqual(state.live.map((v) => v.apiKey).sort());
    expect(state.journal?.step, 'journal in grace').toBe('promoted');
    expect(await untrackedLabelledEverywhere(w)).toEqual([]);
  }

  /** Waits out the grace period, then the plain `rotate` that finishes the revoke (and starts nothing new). */
  async function finishGrace(w: World): Promise<void> {
    const revokeAfter = Date.parse((await slotState(w)).journal!.revokeAfter!);
    await sleep(Math.max(0, revokeAfter - Date.now()) + 200);
    const r = await again(w, ROTATE);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(parseRotate(r)!.results[0]).toMatchObject({ status: 'revoked-previous', previousRevoked: true, revokeReason: 'grace-over' });
  }

  it.concurrent.for(SUBSET_STEPS.filter((f) => !f.startsWith('rotate.after-revoke')))(
    'grace 4 s, killed at %s: the re-run promotes and keeps the old key for the grace period, a later run revokes it',
    { timeout: 90_000 },
    async (failpoint, { task }) => {
      const w = await faultWorld({ grace: `PT${GRACE_MS / 1000}S` });
      worlds.push(w);
      await crash(w, ROTATE, failpoint);
      await sleep(LEASE_MS + 100);
      const r = await again(w, ROTATE);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const swept = failpoint === 'rotate.after-create' ? 1 : 0;
      expect(parseRotate(r)!.results[0]).toMatchObject({ status: 'rotated', previousRevoked: false, orphansDeleted: swept });
      await assertInGrace(w);
      await finishGrace(w);
      await assertInvariants(w, { audit: { ...ONE_ROTATION, 'rotate.sweep': swept } });
      task.meta.faultOutcome = 'crash, promoted (old key kept in grace), revoked after it';
    },
  );

  it.concurrent.for(['rotate.after-revoke-exchange', 'rotate.after-revoke-store'] as const)(
    'grace 4 s, the run after the grace period killed at %s: the re-run finishes the revoke',
    { timeout: 90_000 },
    async (failpoint, { task }) => {
      const w = await faultWorld({ grace: `PT${GRACE_MS / 1000}S` });
      worlds.push(w);
      const rotated = await again(w, ROTATE);
      expect(rotated.code, rotated.stdout + rotated.stderr).toBe(0);
      await assertInGrace(w);
      await sleep(GRACE_MS + 200);
      await crash(w, ROTATE, failpoint);
      await sleep(LEASE_MS + 100);
      const r = await again(w, ROTATE);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(parseRotate(r)!.results[0]).toMatchObject({ status: 'revoked-previous', previousRevoked: true });
      await assertInvariants(w, { audit: ONE_ROTATION });
      task.meta.faultOutcome = 'rotated in grace, crash, revoked';
    },
  );
});

describe('with a propagation delay at the exchange', () => {
  const worlds: World[] = [];
  beforeAll(warmUp);
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });

  it.concurrent.for(['rotate.after-create', 'rotate.after-verify'] as const)(
    'new keys unknown for 1.5 s, killed at %s: the re-run waits for its key and converges',
    { timeout: 90_000 },
    async (failpoint, { task }) => {
      const w = await faultWorld();
      worlds.push(w);
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '*', kind: 'propagation', ms: 1_500 });
      await crash(w, ['rotate', REF, '--grace', '0s', '--json'], failpoint);
      await sleep(LEASE_MS + 100);
      const r = await rerun(w);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const swept = failpoint === 'rotate.after-create' ? 1 : 0;
      await assertInvariants(w, { audit: { ...ONE_ROTATION, 'rotate.sweep': swept } });
      task.meta.faultOutcome = `crash, ${parseRotate(r)!.results[0]!.status}`;
    },
  );
});

describe('Gate: crash and resume', () => {
  const worlds: World[] = [];
  beforeAll(async () => {
    await warmUp();
    await getAdapter('gate');
  });
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });

  // After the create (the orphan is found by its name in the master's listing and swept) and after the promotion.
  it.concurrent.for(['rotate.after-create', 'rotate.after-promote'] as const)(
    'gate, killed at %s: the re-run converges',
    { timeout: 90_000 },
    async (failpoint, { task }) => {
      const w = await faultWorld({ exchange: 'gate' });
      worlds.push(w);
      task.meta.faultOutcome = await subsetCases.crashAtStep(w, failpoint);
    },
  );
});
