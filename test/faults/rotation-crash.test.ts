/**
 * A rotation killed at every step boundary (a real `keyctl rotate` child process that SIGKILLs itself at the named
 * failpoint, as a power cut or OOM kill would) and re-run: the re-run finishes (or undoes) the interrupted rotation
 * and the slot ends in the same clean state as after an uninterrupted one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILPOINTS, type Failpoint } from '../../src/rotation/failpoints.js';
import type { RotationStep } from '../../src/rotation/journal.js';
import type { World } from '../helpers/world.js';
import {
  assertInvariants,
  ONE_ROTATION,
  faultWorld,
  keysAtSlot,
  LEASE_MS,
  parseRotate,
  rerun,
  rotate,
  sleep,
  slotState,
  warmUp,
} from './helpers/rotation-world.js';

/** What the store and the sandbox hold right after the kill, and what the re-run reports. */
interface AfterKill {
  journal: RotationStep | null;
  /** Keys alive at the sandbox for the sub-account. */
  keysAtSandbox: number;
  /** Alive at the sandbox but not held by the store (created, then killed before the store write). */
  untracked: number;
  /** CURRENT is still the key the world started with. */
  currentIsOld: boolean;
  /** The old key's material is still in the store. */
  oldInStore: boolean;
  rerunStatus: 'rotated' | 'revoked-previous';
  resumed: boolean;
  orphansDeleted: number;
}

const EXPECTED: Record<Failpoint, AfterKill> = {
  'rotate.after-lock': {
    journal: null,
    keysAtSandbox: 1,
    untracked: 0,
    currentIsOld: true,
    oldInStore: true,
    rerunStatus: 'rotated',
    resumed: false,
    orphansDeleted: 0,
  },
  'rotate.after-journal': {
    journal: 'started',
    keysAtSandbox: 1,
    untracked: 0,
    currentIsOld: true,
    oldInStore: true,
    rerunStatus: 'rotated',
    resumed: true,
    orphansDeleted: 0,
  },
  'rotate.after-create': {
    journal: 'started',
    keysAtSandbox: 2,
    untracked: 1,
    currentIsOld: true,
    oldInStore: true,
    rerunStatus: 'rotated',
    resumed: true,
    orphansDeleted: 1,
  },
  'rotate.after-store': {
    journal: 'started',
    keysAtSandbox: 2,
    untracked: 0,
    currentIsOld: true,
    oldInStore: true,
    rerunStatus: 'rotated',
    resumed: true,
    orphansDeleted: 0,
  },
  'rotate.after-verify': {
    journal: 'verified',
    keysAtSandbox: 2,
    untracked: 0,
    currentIsOld: true,
    oldInStore: true,
    rerunStatus: 'rotated',
    resumed: true,
    orphansDeleted: 0,
  },
  'rotate.after-promote': {
    journal: 'verified',
    keysAtSandbox: 2,
    untracked: 0,
    currentIsOld: false,
    oldInStore: true,
    rerunStatus: 'rotated',
    resumed: true,
    orphansDeleted: 0,
  },
  'rotate.after-revoke-exchange': {
    journal: 'promoted',
    keysAtSandbox: 1,
    untracked: 0,
    currentIsOld: false,
    oldInStore: true,
    rerunStatus: 'revoked-previous',
    resumed: false,
    orphansDeleted: 0,
  },
  'rotate.after-revoke-store': {
    journal: 'promoted',
    keysAtSandbox: 1,
    untracked: 0,
    currentIsOld: false,
    oldInStore: false,
    rerunStatus: 'revoked-previous',
    resumed: false,
    orphansDeleted: 0,
  },
};

describe('rotation killed at a step boundary, then re-run', () => {
  const worlds: World[] = [];
  beforeAll(warmUp);
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });

  it('covers every failpoint the engine declares', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...FAILPOINTS].sort());
  });

  it.concurrent.for(FAILPOINTS)(
    'killed at %s: the re-run finishes the rotation and every invariant holds',
    { timeout: 60_000 },
    async (failpoint, { task }) => {
      const w = await faultWorld();
      worlds.push(w);
      const expected = EXPECTED[failpoint];

      const killed = await rotate(w, { KEYCTL_FAILPOINT: failpoint });
      // SIGKILL: no exit code, no output beyond what was flushed before.
      expect(killed.code, `${failpoint}: ${killed.stderr}`).toBeNull();

      const state = await slotState(w);
      const atSandbox = await keysAtSlot(w);
      const held = new Set(state.live.map((v) => v.apiKey));
      expect(state.journal?.step ?? null, 'journal step after the kill').toBe(expected.journal);
      expect(atSandbox, 'keys at the sandbox after the kill').toHaveLength(expected.keysAtSandbox);
      expect(
        atSandbox.filter((k) => !held.has(k.apiKey)),
        'untracked keys after the kill',
      ).toHaveLength(expected.untracked);
      expect(state.current?.apiKey === w.botKeys.arb1!.apiKey, 'CURRENT is still the old key').toBe(expected.currentIsOld);
      expect(held.has(w.botKeys.arb1!.apiKey), 'old key still in the store').toBe(expected.oldInStore);

      // The dead run's lease runs out within LEASE_MS; rerun() also retries on ROTATION_IN_PROGRESS.
      await sleep(LEASE_MS + 100);
      const again = await rerun(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      const result = parseRotate(again)!.results[0]!;
      expect(result).toMatchObject({
        status: expected.rerunStatus,
        resumed: expected.resumed,
        orphansDeleted: expected.orphansDeleted,
        previousRevoked: true,
      });

      // Each step recorded exactly once: the re-run records what the killed run did but had not recorded yet (the
      // create of a stored key, the promotion, the revoke), and nothing twice. The key killed before it was stored is
      // recorded by the re-run's sweep that deleted it.
      await assertInvariants(w, { audit: { ...ONE_ROTATION, 'rotate.sweep': expected.orphansDeleted } });
      task.meta.faultOutcome = `journal ${expected.journal ?? 'none'}; ${expected.rerunStatus}`;
    },
  );
});
