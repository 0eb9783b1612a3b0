/**
 * Two `keyctl rotate` processes for the same slot started at the same moment: the slot's lease lets exactly one of
 * them rotate; the other stops with exit 6 (ROTATION_IN_PROGRESS) without touching the exchange, and exactly one new
 * key results.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../src/audit/log.js';
import { loadAuditKey } from '../../src/audit/key.js';
import { loadConfig } from '../../src/config/load.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import type { World } from '../helpers/world.js';
import { assertInvariants, faultWorld, parseRotate, REF, rotate, warmUp, withStore } from './helpers/rotation-world.js';

describe('two rotations of one slot started at once', () => {
  let w: World | undefined;
  beforeAll(warmUp);
  afterAll(async () => w?.close());

  it('exactly one rotates, the other stops with ROTATION_IN_PROGRESS; one new key, every invariant holds', async () => {
    w = await faultWorld();
    // The winner's create takes 1.5 s, so the loser surely arrives while the winner holds the slot, however the two
    // processes happen to be scheduled.
    await w.sandbox.admin.addFault({
      exchange: 'bybit',
      method: 'POST',
      path: '/v5/user/create-sub-api',
      kind: 'latency',
      ms: 1500,
      times: 1,
    });

    const [a, b] = await Promise.all([rotate(w), rotate(w)]);
    const outcomes = [a, b].map((r) => ({ code: r.code, json: parseRotate(r), out: r.stdout + r.stderr }));
    const winners = outcomes.filter((o) => o.code === 0);
    const losers = outcomes.filter((o) => o.code !== 0);
    expect(winners, outcomes.map((o) => o.out).join('\n---\n')).toHaveLength(1);
    expect(winners[0]!.json!.results[0]).toMatchObject({ ref: REF, status: 'rotated', previousRevoked: true });
    expect(losers).toHaveLength(1);
    expect(losers[0]!.code).toBe(6);
    expect(losers[0]!.json!.failures.map((f) => f.code)).toEqual(['ROTATION_IN_PROGRESS']);

    // No re-run: the winner finished everything (a re-run would start a fresh rotation), so the state is final now.
    const current = await assertInvariants(w);
    expect(fingerprint(current)).toBe(winners[0]!.json!.results[0]!.newFingerprint);

    // Exactly one key was ever created: one rotation started, one create, no discard, no orphan sweep.
    const config = loadConfig(join(w.dir, 'keyctl.yaml')).config;
    const entries = await withStore(w, async (store) =>
      openAuditLog({ path: config.auditPath, key: await loadAuditKey(store) }).tail(1000),
    );
    const count = (command: string) => entries.filter((e) => e.command === command && e.ref === REF).length;
    expect({
      start: count('rotate.start'),
      create: count('rotate.create'),
      discard: count('rotate.discard'),
      sweep: count('rotate.sweep'),
    }).toEqual({
      start: 1,
      create: 1,
      discard: 0,
      sweep: 0,
    });
  });

  it('the CLI agrees with the in-process checks: verify and audit verify exit 0 after a contended rotation', async () => {
    // Same world as above (tests in this file run in order): cross-checks the in-process invariants against the CLI.
    expect(w, 'the first test built the world').toBeDefined();
    const verify = await w!.cli(['verify', REF, '--json']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const audit = await w!.cli(['audit', 'verify']);
    expect(audit.code, audit.stdout + audit.stderr).toBe(0);
  });
});
