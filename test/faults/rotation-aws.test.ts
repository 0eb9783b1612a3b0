/**
 * The representative subset of the fault matrix on the AWS store (Secrets Manager for the keys, DynamoDB for the
 * journal, leases and pauses), against moto (`python3 -m moto.server`, test/helpers/moto.ts): one crash per rotation
 * step, a refused PENDING write, and a crash inside revoke. Each case converges with every invariant of
 * rotation-world.ts and each step audited once. One moto server for the file; each world has a prefix of its own.
 * Skipped when moto is missing, unless CI=true (then it fails, so a CI image without moto cannot go green).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { FAKE_AWS_ENV, skipWithoutMoto, startMoto, type MotoServer } from '../helpers/moto.js';
import type { World } from '../helpers/world.js';
import { faultWorld, subsetCases, SUBSET_STEPS, warmUp } from './helpers/rotation-world.js';

describe.skipIf(skipWithoutMoto)('the AWS store (moto): one failpoint per step', () => {
  let moto: MotoServer;
  const worlds: World[] = [];
  beforeAll(async () => {
    // The in-process checks open the same store through the AWS SDK, which reads its credentials from here.
    Object.assign(process.env, FAKE_AWS_ENV);
    moto = await startMoto();
    await warmUp();
  });
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
    await moto?.stop();
  });

  async function awsWorld(): Promise<World> {
    const w = await faultWorld({
      aws: { endpoint: moto.endpoint, region: FAKE_AWS_ENV.AWS_REGION, prefix: `keyctl-fault-${randomBytes(4).toString('hex')}/` },
      env: { ...FAKE_AWS_ENV },
    });
    worlds.push(w);
    return w;
  }

  it.concurrent.for(SUBSET_STEPS)('aws, killed at %s: the re-run converges', { timeout: 120_000 }, async (failpoint, { task }) => {
    const w = await awsWorld();
    task.meta.faultOutcome = await subsetCases.crashAtStep(w, failpoint);
  });

  it.concurrent(
    'aws, the store refuses the PENDING write: nothing untracked is left, the re-run converges',
    { timeout: 120_000 },
    async ({ task }) => {
      const w = await awsWorld();
      task.meta.faultOutcome = await subsetCases.refusedPendingWrite(w);
    },
  );

  it.concurrent('aws, revoke killed at revoke.after-exchange: the re-run revokes what is left', { timeout: 120_000 }, async ({ task }) => {
    const w = await awsWorld();
    task.meta.faultOutcome = await subsetCases.revokeCrash(w);
  });
});
