import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { rotate, rotateDue, type SlotRotation } from '../../src/app/rotate.js';
import { fingerprint } from '../../src/domain/credentials.js';
import { violationFlags } from '../../src/domain/key-state.js';
import { selectSlots } from '../../src/domain/resolve.js';
import { ExchangeError, ProviderError } from '@keyctl/client/errors';
import type { RotationEngine } from '../../src/rotation/engine.js';
import type { SecretStore } from '../../providers/types.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { CreateKeyRequest, DeleteKeyRequest, ExchangeAdapter } from '../../src/exchanges/types.js';
import { appWorld, CLIENT_IP, liveKeys, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const engineOf = (world: AppWorld) => ({ ...world.deps, engine: createRotationEngine(world.deps, { owner: 'test:1' }) });
const DAY = 86_400_000;

describe('rotate', () => {
  it('rotates the selected slots, reports each as it starts and ends, and emits the steps the audit log records', async () => {
    w = await appWorld({ sandbox: true });
    const seen: string[] = [];
    const slots = selectSlots(w.deps.inventory, ['alpha']);
    const result = await rotate(engineOf(w), {
      slots,
      mode: 'manual',
      graceMs: 0,
      progress: {
        planned: (refs) => seen.push(`planned ${refs.join(',')}`),
        started: (ref) => seen.push(`started ${ref}`),
        finished: (ref, r: SlotRotation) => seen.push(`finished ${ref} ${r.ok ? r.outcome.status : r.failure.code}`),
      },
    });
    expect(result.failures).toEqual([]);
    expect(result.results.map((r) => [r.ref, r.status, r.previousRevoked])).toEqual([
      ['alpha/arb1', 'rotated', true],
      ['alpha/arb2', 'rotated', true],
    ]);
    // Both at once: each slot starts before it finishes, the plan comes first; the order between slots is the run's.
    expect(seen[0]).toBe('planned alpha/arb1,alpha/arb2');
    expect([...seen].sort()).toEqual([
      'finished alpha/arb1 rotated',
      'finished alpha/arb2 rotated',
      'planned alpha/arb1,alpha/arb2',
      'started alpha/arb1',
      'started alpha/arb2',
    ]);
    for (const ref of ['alpha/arb1', 'alpha/arb2'])
      expect(seen.indexOf(`started ${ref}`)).toBeLessThan(seen.indexOf(`finished ${ref} rotated`));
    // The hand-made key is gone at the exchange; the one alive is the new CURRENT.
    const [live] = await liveKeys(w, 'arb1');
    expect(await liveKeys(w, 'arb1')).toHaveLength(1);
    expect(fingerprint(live!)).toBe(result.results[0]!.newFingerprint);
    expect(await liveKeys(w, 'mm')).toEqual([w.keys.mm!.apiKey]); // not selected, not touched
    expect(w.recorder.entries.filter((e) => e.ref === 'alpha/arb1').map((e) => e.command)).toEqual([
      'rotate.start',
      'rotate.create',
      'rotate.test',
      'rotate.promote',
      'rotate.revoke',
    ]);
    expect(w.recorder.of('rotation.started').map((e) => e.reason)).toEqual(['manual', 'manual']);
  });

  it('an orphan the exchange will not let keyctl delete is reported and kept; the other orphans go and the rotation finishes', async () => {
    w = await appWorld({ sandbox: true });
    const seed = (label: string) =>
      w!.sandbox!.admin.createKey({
        exchange: 'bybit',
        owner: w!.subs.arb1!,
        permissions: { Spot: ['SpotTrade'] },
        ips: [CLIENT_IP],
        label,
      });
    const stuck = await seed('keyctl-r-stuck');
    const plain = await seed('keyctl-r-plain');
    const bybit = await getAdapter('bybit');
    // As KuCoin answers for an orphan whose passphrase was never stored: a final refusal for that one key.
    const adapter: ExchangeAdapter = Object.assign(Object.create(bybit) as ExchangeAdapter, {
      deleteKey: (req: DeleteKeyRequest) =>
        req.apiKey === stuck.apiKey
          ? Promise.reject(new ExchangeError('PASSPHRASE_UNKNOWN', 'FAKE refusal', { hint: 'Delete it in the web UI.' }))
          : bybit.deleteKey(req),
    });
    const deps = { ...w.deps, adapter: async () => adapter };
    const result = await rotate(
      { ...deps, engine: createRotationEngine(deps, { owner: 'test:1' }) },
      { slots: selectSlots(w.deps.inventory, ['alpha/arb1']), mode: 'manual', graceMs: 0 },
    );
    expect(result.failures).toEqual([]);
    expect(result.results[0]).toMatchObject({ status: 'rotated', orphansDeleted: 1 });
    expect(result.results[0]!.orphansKept).toEqual([
      {
        fingerprint: fingerprint(stuck.apiKey),
        label: 'keyctl-r-stuck',
        code: 'PASSPHRASE_UNKNOWN',
        message: 'FAKE refusal',
        hint: 'Delete it in the web UI.',
      },
    ]);
    const live = await liveKeys(w, 'arb1');
    expect(live).toContain(stuck.apiKey);
    expect(live).not.toContain(plain.apiKey);
    expect(w.recorder.entries.filter((e) => e.command === 'rotate.sweep').map((e) => [e.fingerprint, e.outcome])).toEqual([
      [fingerprint(stuck.apiKey), 'failed'],
      [fingerprint(plain.apiKey), 'ok'],
    ]);
  });

  it('a slot that fails is reported and the others go on', async () => {
    w = await appWorld({ sandbox: true });
    const bybit = await getAdapter('bybit');
    // The exchange refuses arb1's create (and only that one) while the other slots rotate at the same time.
    const adapter: ExchangeAdapter = Object.assign(Object.create(bybit) as ExchangeAdapter, {
      createKey: (req: CreateKeyRequest) =>
        req.subaccount === w!.subs.arb1
          ? Promise.reject(new ExchangeError('EXCHANGE_REFUSED', 'FAKE refusal of the create'))
          : bybit.createKey(req),
    });
    const deps = { ...w.deps, adapter: async () => adapter };
    const result = await rotate(
      { ...deps, engine: createRotationEngine(deps, { owner: 'test:1' }) },
      { slots: selectSlots(w.deps.inventory, ['alpha', 'beta']), mode: 'manual', graceMs: 0 },
    );
    expect(result.failures).toEqual([expect.objectContaining({ ref: 'alpha/arb1', code: 'EXCHANGE_REFUSED' })]);
    expect(result.results.map((r) => [r.ref, r.status])).toEqual([
      ['alpha/arb2', 'rotated'],
      ['beta/mm', 'rotated'],
    ]);
    expect(w.recorder.of('rotation.failed').map((e) => [e.ref, e.code])).toEqual([['alpha/arb1', 'EXCHANGE_REFUSED']]);
    expect(await liveKeys(w, 'arb1')).toEqual([w.keys.arb1!.apiKey]);
  });

  it('a rate-limit answer is waited out and retried: the slot rotates', async () => {
    w = await appWorld({ sandbox: true });
    await w.sandbox!.admin.addFault({ exchange: 'bybit', path: '/v5/user/create-sub-api', kind: 'ratelimit', times: 1 });
    const deps = { ...w.deps, call: { ...w.deps.call, attempts: 3 } };
    const result = await rotate(
      { ...deps, engine: createRotationEngine(deps, { owner: 'test:1' }) },
      { slots: selectSlots(w.deps.inventory, ['alpha/arb1']), mode: 'manual', graceMs: 0 },
    );
    expect(result.failures).toEqual([]);
    expect(result.results.map((r) => [r.ref, r.status])).toEqual([['alpha/arb1', 'rotated']]);
  });

  it('with one attempt allowed (KEYCTL_EXCHANGE_ATTEMPTS=1) a rate-limit answer fails the slot, and only it', async () => {
    w = await appWorld({ sandbox: true });
    await w.sandbox!.admin.addFault({ exchange: 'bybit', path: '/v5/user/create-sub-api', kind: 'ratelimit', times: 1 });
    const result = await rotate(engineOf(w), {
      slots: selectSlots(w.deps.inventory, ['alpha']),
      mode: 'manual',
      graceMs: 0,
      concurrency: 1,
    });
    expect(result.failures).toEqual([expect.objectContaining({ ref: 'alpha/arb1', code: 'RATE_LIMITED' })]);
    expect(result.results.map((r) => r.ref)).toEqual(['alpha/arb2']);
  });

  it('a store that cannot describe a slot fails the whole run: no slot starts after it, those started finish first', async () => {
    w = await appWorld();
    const seen: string[] = [];
    const store = Object.assign(Object.create(w.store) as SecretStore, {
      describe: async (path: string) => {
        if (path === 'bots/alpha/arb2') throw new ProviderError('FAKE_STORE_DOWN', 'FAKE: the store is down');
        if (path === 'bots/alpha/arb1') await new Promise((r) => setTimeout(r, 50));
        return w!.store.describe(path);
      },
    });
    const engine = { rotate: () => Promise.reject(new Error('nothing is due: the engine is not called')) } as unknown as RotationEngine;
    const run = rotate(
      { ...w.deps, store, engine },
      {
        mode: 'due',
        concurrency: 2,
        progress: { started: (ref) => seen.push(`started ${ref}`), finished: (ref) => seen.push(`finished ${ref}`) },
      },
    ).catch((err: unknown) => {
      seen.push('rejected');
      throw err;
    });
    await expect(run).rejects.toMatchObject({ code: 'FAKE_STORE_DOWN', exitCode: 4 });
    // arb1 and arb2 started together; arb2 failed the run, arb1 finished before the run said so, beta/mm never started.
    expect(seen).toEqual(['started alpha/arb1', 'started alpha/arb2', 'finished alpha/arb1', 'rejected']);
  });

  it('force revokes a key still in its grace period and starts a new rotation; manual waits for the grace period', async () => {
    w = await appWorld({ sandbox: true });
    const deps = engineOf(w);
    const [slot] = selectSlots(w.deps.inventory, ['alpha/arb1']);
    const first = await rotate(deps, { slots: [slot!], mode: 'manual', graceMs: DAY });
    expect(first.results[0]).toMatchObject({ status: 'rotated', previousRevoked: false });
    expect(await liveKeys(w, 'arb1')).toHaveLength(2);
    expect((await rotate(deps, { slots: [slot!], mode: 'manual' })).results[0]?.status).toBe('awaiting-grace');
    const forced = await rotate(deps, { slots: [slot!], mode: 'force', graceMs: DAY });
    expect(forced.results[0]).toMatchObject({ status: 'rotated', previousRevoked: true, revokeReason: 'forced' });
    expect(await liveKeys(w, 'arb1')).toHaveLength(1);
    expect(w.recorder.of('rotation.started').map((e) => e.reason)).toEqual(['manual', 'forced']);
  });
});

describe('rotateDue', () => {
  it('starts rotations only where one is due, by when the CURRENT key was created', async () => {
    let now = Date.parse('2025-01-01T00:00:00Z');
    w = await appWorld({ sandbox: true, now: () => now });
    // Keys were stored at `now`; 31 days later every slot is due (P30D). arb2 is rotated on day 20, so it is not.
    now += 20 * DAY;
    const deps = engineOf(w);
    await rotate(deps, { slots: selectSlots(w.deps.inventory, ['alpha/arb2']), mode: 'manual', graceMs: 0 });
    now += 11 * DAY;
    const result = await rotateDue(deps);
    expect(result.failures).toEqual([]);
    expect(result.results.map((r) => [r.ref, r.status])).toEqual([
      ['alpha/arb1', 'rotated'],
      ['alpha/arb2', 'nothing-to-do'],
      ['beta/mm', 'rotated'],
    ]);
    const started = w.recorder.of('rotation.started').map((e) => [e.ref, e.reason]);
    expect(started[0]).toEqual(['alpha/arb2', 'manual']);
    // The due slots rotate at the same time: either may start first.
    expect(started.slice(1).sort()).toEqual([
      ['alpha/arb1', 'schedule'],
      ['beta/mm', 'schedule'],
    ]);
  });

  it('replaces a key stored flagged (--accept-violations) at once, long before its schedule', async () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    w = await appWorld({ sandbox: true, now: () => now });
    const path = 'bots/alpha/arb1';
    const current = await w.deps.store.read(path, { stage: 'CURRENT' });
    await w.deps.store.write(path, {
      secret: current.secret,
      meta: { ...current.version.meta, flags: violationFlags(['NOT_IP_LOCKED']) },
      stage: 'CURRENT',
      expect: current.version.id,
    });
    const result = await rotateDue(engineOf(w));
    expect(result.failures).toEqual([]);
    expect(result.results.map((r) => [r.ref, r.status])).toEqual([
      ['alpha/arb1', 'rotated'],
      ['alpha/arb2', 'nothing-to-do'],
      ['beta/mm', 'nothing-to-do'],
    ]);
  });
});
