/**
 * `keyctl kill` repeats its revoke pass (every version the store holds revoked, then the orphan sweep) until a pass finds
 * nothing left: a rotation whose lease the kill seized may still store the key it was creating, or have created one the
 * first pass's listing did not show. Here the kill is stopped (SIGSTOP, `KEYCTL_FAILPOINT=sweep.after-list:stop`) right
 * after its first pass listed the sub-account's keys; meanwhile keys appear at the exchange under each sub-account
 * (labelled, in no store: created by that rotation). Only a second pass sees them: with the kill's passes cut to one,
 * they stay alive and this test fails. (Nothing is written to the store meanwhile: the stopped kill may hold the
 * store's lock, and a write that breaks it makes the kill's own write fail with STORE_LOCK_LOST, as it should.)
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_IP, type World } from '../helpers/world.js';
import { assertRevoked, countOf, faultWorld, runWithStops, untrackedLabelledEverywhere, warmUp } from './helpers/rotation-world.js';

interface KillJson {
  results: Array<{ ref: string; revoked: string[]; failed: unknown[]; orphansDeleted: number }>;
  failures: Array<{ ref: string; code: string; message: string }>;
}

describe("keyctl kill's later passes", () => {
  const worlds: World[] = [];
  beforeAll(warmUp);
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });

  it('keys that appear while the first pass runs are revoked by the next one', { timeout: 90_000 }, async ({ task }) => {
    const w = await faultWorld();
    worlds.push(w);
    const appeared: string[] = [];
    const key = (sub: string, label: string) =>
      w.sandbox.admin.createKey({
        exchange: w.profile.exchange,
        owner: w.subs[sub]!,
        permissions: { Spot: ['SpotTrade'] },
        ips: [CLIENT_IP],
        label,
      });

    const r = await runWithStops(w, ['kill', 'alpha', '--reason', 'fault-test', '--json'], 'sweep.after-list', async (n) => {
      if (n !== 1) return;
      // The first slot to reach its sweep has listed its keys already: what appears now, only a later pass can see.
      for (const sub of ['arb1', 'arb2']) appeared.push((await key(sub, `keyctl-${randomBytes(6).toString('hex')}`)).apiKey);
      appeared.push((await key('arb1', `keyctl-${randomBytes(6).toString('hex')}`)).apiKey);
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json<KillJson>().failures).toEqual([]);

    const alive = (await w.sandbox.admin.listKeys({ exchange: w.profile.exchange })).map((k) => k.apiKey);
    expect(
      appeared.filter((k) => alive.includes(k)),
      'keys that appeared during the first pass, still alive',
    ).toEqual([]);
    // Two slots, at least two passes each (the pass that acted, and one that found nothing).
    expect(r.stops, 'sweeps the kill made').toBeGreaterThanOrEqual(4);
    expect(await untrackedLabelledEverywhere(w)).toEqual([]);
    await assertRevoked(w, ['arb1', 'arb2'], { paused: true });
    // The hand-made key revoked, each orphan swept: each recorded once.
    expect(await countOf(w, 'revoke', 'alpha/arb1'), 'revoke entries of alpha/arb1').toBe(1);
    expect((await countOf(w, 'rotate.sweep', 'alpha/arb1')) + (await countOf(w, 'rotate.sweep', 'alpha/arb2')), 'sweep entries').toBe(3);
    task.meta.faultOutcome = `exit 0 after ${r.stops} sweeps, nothing alive`;
  });
});
