/**
 * The representative subset of the fault matrix on the AWS store (Secrets Manager for the keys, DynamoDB for the
 * journal, leases and pauses), against moto (`python3 -m moto.server`, test/helpers/moto.ts): one crash per rotation
 * step, a refused PENDING write, and a crash inside revoke. Each case converges with every invariant of
 * rotation-world.ts and each step audited once. One moto server for the file; each world has a prefix of its own.
 * Skipped when moto is missing, unless CI=true (then it fails, so a CI image without moto cannot go green).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_AWS_ENV, skipWithoutMoto, startMoto, type MotoServer } from '../helpers/moto.js';
import type { World } from '../helpers/world.js';
import {
  again,
  assertInvariants,
  assertRevoked,
  cli,
  countOf,
  crash,
  faultWorld,
  LEASE_MS,
  ONE_ROTATION,
  parseRotate,
  REF,
  rerun,
  sleep,
  untrackedLabelledEverywhere,
  warmUp,
} from './helpers/rotation-world.js';

const PER_STEP = [
  'rotate.after-create',
  'rotate.after-store',
  'rotate.after-verify',
  'rotate.after-promote',
  'rotate.after-revoke-exchange',
] as const;

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

  it.concurrent.for(PER_STEP)('aws, killed at %s: the re-run converges', { timeout: 120_000 }, async (failpoint, { task }) => {
    const w = await awsWorld();
    await crash(w, ['rotate', REF, '--grace', '0s', '--json'], failpoint);
    await sleep(LEASE_MS + 100);
    const r = await rerun(w);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const swept = failpoint === 'rotate.after-create' ? 1 : 0;
    expect(parseRotate(r)!.results[0]).toMatchObject({ previousRevoked: true, orphansDeleted: swept });
    await assertInvariants(w, { audit: { ...ONE_ROTATION, 'rotate.sweep': swept } });
    task.meta.faultOutcome = `crash, ${parseRotate(r)!.results[0]!.status}`;
  });

  it.concurrent(
    'aws, the store refuses the PENDING write: nothing untracked is left, the re-run converges',
    { timeout: 120_000 },
    async ({ task }) => {
      const w = await awsWorld();
      const failed = await cli(w, ['rotate', REF, '--grace', '0s', '--json'], { KEYCTL_FAILPOINT: 'store.write-pending:fail' });
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(await untrackedLabelledEverywhere(w), 'right after the refused write').toEqual([]);
      const r = await rerun(w);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      await assertInvariants(w, { audit: ONE_ROTATION });
      task.meta.faultOutcome = 'exit 6, nothing untracked, rotated';
    },
  );

  it.concurrent('aws, revoke killed at revoke.after-exchange: the re-run revokes what is left', { timeout: 120_000 }, async ({ task }) => {
    const w = await awsWorld();
    const REVOKE = ['revoke', REF, '--reason', 'fault-test', '--json'];
    await crash(w, REVOKE, 'revoke.after-exchange');
    const r = await again(w, REVOKE);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await assertRevoked(w, ['arb1'], { paused: false });
    expect(await countOf(w, 'revoke', REF)).toBe(1);
    task.meta.faultOutcome = 'crash, revoked';
  });
});
