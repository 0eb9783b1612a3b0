/**
 * A store that fails a write at each step of a rotation (`KEYCTL_FAILPOINT=store.<step>:fail`, src/rotation/failpoints.ts:
 * the write throws a ProviderError, once): the run stops with exit 6, and at once, before any re-run could sweep,
 * no keyctl-labelled key is alive at the exchange (under any sub-account of the master) that the store does not hold.
 * The re-run then finishes the rotation and every invariant holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORE_FAILPOINTS } from '../../src/rotation/failpoints.js';
import type { RotationStep } from '../../src/rotation/journal.js';
import type { World } from '../helpers/world.js';
import { assertInvariants, faultWorld, parseRotate, rerun, rotate, slotState, warmUp } from './helpers/rotation-world.js';

/** The journal step each failed write leaves (the re-run resumes from it). */
const JOURNAL_AFTER: Record<(typeof STORE_FAILPOINTS)[number], RotationStep> = {
  // The new key was created, the store refused it: the run deleted it at the exchange; nothing to resume but the start.
  'store.write-pending': 'started',
  // The journal could not record the stored key: the run discarded it (exchange and store).
  'store.journal': 'started',
  'store.promote': 'verified',
  'store.destroy': 'promoted',
};

describe('rotation with a store write failing, then re-run', () => {
  const worlds: World[] = [];
  beforeAll(warmUp);
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });

  it.concurrent.for(STORE_FAILPOINTS)(
    '%s:fail: no untracked key is left alive, and the re-run finishes the rotation',
    { timeout: 60_000 },
    async (failpoint, { task }) => {
      const w = await faultWorld();
      worlds.push(w);
      const failed = await rotate(w, { KEYCTL_FAILPOINT: `${failpoint}:fail` });
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual(['STORE_WRITE_FAILED']);

      // Before any re-run: what the failed run itself left behind.
      const state = await slotState(w);
      expect(state.journal?.step ?? null, 'journal step after the failed write').toBe(JOURNAL_AFTER[failpoint]);
      const held = new Set(state.live.map((v) => v.apiKey));
      const everywhere = await w.sandbox.admin.listKeys({ exchange: w.profile.exchange });
      expect(
        everywhere.filter((k) => k.label?.startsWith('keyctl-') && !held.has(k.apiKey)).map((k) => k.label),
        'keyctl-labelled keys alive under the master that the store does not hold',
      ).toEqual([]);
      expect(state.current?.apiKey, 'CURRENT after the failed write').toBe(
        failpoint === 'store.destroy' ? state.live.find((v) => v.rotationId)?.apiKey : w.botKeys.arb1!.apiKey,
      );

      const again = await rerun(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      await assertInvariants(w);
      task.meta.faultOutcome = `exit ${failed.code}, journal ${JOURNAL_AFTER[failpoint]}; ${parseRotate(again)!.results[0]!.status}`;
    },
  );
});
