/**
 * Crash and resume on MEXC: keyctl killed right after creating the new key (the re-run's orphan sweep finds it through
 * MEXC's sub-account key listing, by its note, and deletes it) and right after revoking the old key at the exchange
 * (the re-run finishes the revoke). Each case converges with every invariant and each step audited once.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { World } from '../helpers/world.js';
import { faultWorld, subsetCases, warmUp } from './helpers/rotation-world.js';

describe('MEXC: crash and resume', () => {
  const worlds: World[] = [];
  beforeAll(async () => {
    await warmUp();
    await getAdapter('mexc');
  });
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });

  it.concurrent.for(['rotate.after-create', 'rotate.after-revoke-exchange'] as const)(
    'mexc, killed at %s: the re-run converges',
    { timeout: 90_000 },
    async (failpoint, { task }) => {
      const w = await faultWorld({ exchange: 'mexc' });
      worlds.push(w);
      task.meta.faultOutcome = await subsetCases.crashAtStep(w, failpoint);
    },
  );
});
