import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { revoke } from '../../src/app/revoke.js';
import { fingerprint } from '../../src/domain/credentials.js';
import { resolveSlot } from '../../src/domain/resolve.js';
import { ExchangeError } from '@keyctl/client/errors';
import type { ExchangeAdapter } from '../../src/exchanges/types.js';
import { REVOKE_PASSES } from '../../src/rotation/engine.js';
import { appWorld, CLIENT_IP, liveKeys, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('revoke', () => {
  it("deletes the slot's keys at the exchange, drops their material, and emits key.revoked per key", async () => {
    w = await appWorld({ sandbox: true });
    const engine = createRotationEngine(w.deps, { owner: 'test:1' });
    const { slot } = resolveSlot(w.deps.inventory, 'alpha/arb1');
    const outcome = await revoke({ engine }, { slot, reason: 'leaked' });
    expect(outcome).toEqual({
      ref: 'alpha/arb1',
      revoked: [fingerprint(w.keys.arb1!.apiKey)],
      failed: [],
      orphansDeleted: 0,
      orphansKept: [],
    });
    expect(await liveKeys(w, 'arb1')).toEqual([]);
    const info = await w.store.describe('bots/alpha/arb1');
    expect(info?.versions.every((v) => v.destroyed)).toBe(true);
    expect(w.recorder.of('key.revoked')).toEqual([expect.objectContaining({ ref: 'alpha/arb1', outcome: 'ok', reason: 'leaked' })]);
  });

  it('a key the exchange would not delete is a failure in the outcome and a failed key.revoked event', async () => {
    w = await appWorld({ sandbox: true });
    await w.sandbox!.admin.addFault({ exchange: 'bybit', path: '/v5/user/delete-sub-api', kind: '5xx' });
    const engine = createRotationEngine(w.deps, { owner: 'test:1' });
    const outcome = await revoke({ engine }, { slot: resolveSlot(w.deps.inventory, 'alpha/arb1').slot, reason: 'leaked' });
    expect(outcome.revoked).toEqual([]);
    expect(outcome.failed.map((f) => f.code)).toContain('EXCHANGE_UNAVAILABLE');
    expect(await liveKeys(w, 'arb1')).toEqual([w.keys.arb1!.apiKey]);
    expect(w.recorder.of('key.revoked')).toEqual([expect.objectContaining({ outcome: 'failed', error: 'EXCHANGE_UNAVAILABLE' })]);
  });

  it('refuses while a rotation holds the slot; an emergency seizes its lease at once and says whose it was', async () => {
    w = await appWorld({ sandbox: true });
    const engine = createRotationEngine(w.deps, { owner: 'test:1', leaseMs: 60_000 });
    const { slot } = resolveSlot(w.deps.inventory, 'alpha/arb1');
    const held = await w.deps.coordination.acquire('rotate/bots/alpha/arb1', 'other-host:1', 60_000);
    await expect(revoke({ engine }, { slot, reason: 'leaked' })).rejects.toMatchObject({ code: 'ROTATION_IN_PROGRESS' });
    expect(await liveKeys(w, 'arb1')).toHaveLength(1);
    const t0 = performance.now();
    expect((await revoke({ engine }, { slot, reason: 'leaked', emergency: true })).revoked).toHaveLength(1);
    // Not after the holder's 60 s lease: at once.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(await liveKeys(w, 'arb1')).toEqual([]);
    expect(w.recorder.of('lease.gained').at(-1)).toMatchObject({ owner: 'test:1', tookOver: true, previousOwner: 'other-host:1' });
    // The broken holder can no longer renew or write its journal.
    await expect(w.deps.coordination.renew(held, 60_000)).rejects.toMatchObject({ code: 'LOCKED' });
    await expect(w.deps.coordination.write('journal/alpha/arb1', { step: 'stored' }, { expect: null, fence: held })).rejects.toMatchObject({
      code: 'FENCED',
    });
  });
});

describe('an emergency revoke racing a rotation', () => {
  /** The sandbox adapter with `hooks` run before the real call (Object.create keeps the adapter's own methods). */
  function hooked(world: AppWorld, hooks: Partial<Record<'createKey' | 'listKeys' | 'deleteKey', () => Promise<void>>>) {
    return async (exchange: string) => {
      const real = await world.deps.adapter(exchange);
      const wrapped = Object.create(real) as ExchangeAdapter;
      for (const [name, hook] of Object.entries(hooks)) {
        const method = name as 'createKey' | 'listKeys' | 'deleteKey';
        const original = real[method].bind(real) as (request: never) => Promise<unknown>;
        (wrapped as unknown as Record<string, unknown>)[method] = async (request: never) => {
          await hook();
          return original(request);
        };
      }
      return wrapped;
    };
  }

  /** A gate a hook waits at: `reached` resolves when the first caller arrives; `open` lets every caller through. */
  function gate() {
    let open!: () => void;
    let arrived!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    const reached = new Promise<void>((r) => (arrived = r));
    let first = true;
    return {
      reached,
      open,
      /** Waits at the gate the first time only. */
      once: async () => {
        if (!first) return;
        first = false;
        arrived();
        await opened;
      },
    };
  }

  it('a rotation caught creating its key: the kill returns at once, the rotation deletes the key it could not journal', async () => {
    w = await appWorld({ sandbox: true });
    const world = w;
    const creating = gate();
    const rotator = createRotationEngine(
      { ...world.deps, adapter: hooked(world, { createKey: creating.once }) },
      { owner: 'rotator:1', leaseMs: 60_000 },
    );
    const killer = createRotationEngine(world.deps, { owner: 'killer:2', leaseMs: 60_000 });
    const { slot } = resolveSlot(world.deps.inventory, 'alpha/arb1');
    const rotating = rotator.rotate(slot, { start: true, reason: 'manual', graceMs: 0 }).catch((err: unknown) => err);
    await creating.reached;

    const outcome = await revoke({ engine: killer }, { slot, reason: 'incident', emergency: true });
    expect(outcome).toMatchObject({ revoked: [fingerprint(world.keys.arb1!.apiKey)], failed: [], orphansDeleted: 0 });
    expect(await liveKeys(world, 'arb1')).toEqual([]);

    // The rotation's create goes through now, after the kill: its journal write is fenced, so it deletes the key.
    creating.open();
    expect(await rotating).toMatchObject({ code: 'FENCED', exitCode: 6 });
    expect(await liveKeys(world, 'arb1')).toEqual([]);
    const info = await world.store.describe('bots/alpha/arb1');
    expect(info?.versions.filter((v) => !v.destroyed)).toEqual([]);
    expect(info?.stages).toEqual({});
    expect(world.recorder.of('rotation.step').map((e) => [e.step, e.why])).toEqual([
      ['created', undefined],
      ['discarded', 'its journal write failed'],
    ]);
  });

  it('a rotation whose lease was seized before it created anything stops there (LEASE_LOST): no key is made', async () => {
    w = await appWorld({ sandbox: true });
    const world = w;
    const sweeping = gate();
    let creates = 0;
    const rotator = createRotationEngine(
      { ...world.deps, adapter: hooked(world, { listKeys: sweeping.once, createKey: async () => void (creates += 1) }) },
      { owner: 'rotator:1', leaseMs: 60_000 },
    );
    const killer = createRotationEngine(world.deps, { owner: 'killer:2', leaseMs: 60_000 });
    const { slot } = resolveSlot(world.deps.inventory, 'alpha/arb1');
    // The rotation's own sweep, just before it creates its key, stalls.
    const rotating = rotator.rotate(slot, { start: true, reason: 'manual', graceMs: 0 }).catch((err: unknown) => err);
    await sweeping.reached;
    expect((await revoke({ engine: killer }, { slot, reason: 'incident', emergency: true })).failed).toEqual([]);
    sweeping.open();
    expect(await rotating).toMatchObject({ code: 'LEASE_LOST', exitCode: 6 });
    expect(creates).toBe(0);
    expect(await liveKeys(world, 'arb1')).toEqual([]);
  });

  it('keeps passing until a pass finds nothing: a version stored during the sweep is revoked by the next pass', async () => {
    w = await appWorld({ sandbox: true });
    const world = w;
    const sweeping = gate();
    const killer = createRotationEngine({ ...world.deps, adapter: hooked(world, { listKeys: sweeping.once }) }, { owner: 'killer:2' });
    const { slot } = resolveSlot(world.deps.inventory, 'alpha/arb1');
    const killing = revoke({ engine: killer }, { slot, reason: 'incident', emergency: true });
    await sweeping.reached;
    // What a rotation whose lease was just seized may still do: store the key it created (PENDING is not fenced).
    const late = await world.sandbox!.admin.createKey({
      exchange: 'bybit',
      owner: world.subs.arb1!,
      permissions: { Spot: ['SpotTrade'] },
      ips: [CLIENT_IP],
      label: 'keyctl-0123456789ab',
    });
    await world.store.write('bots/alpha/arb1', {
      secret: { apiKey: late.apiKey, secret: late.secret },
      meta: { fingerprint: fingerprint(late.apiKey), source: 'rotation', rotationId: '0123456789ab' },
      stage: 'PENDING',
      expect: null,
    });
    sweeping.open();
    const outcome = await killing;
    expect(outcome.failed).toEqual([]);
    expect(outcome.revoked).toEqual([fingerprint(world.keys.arb1!.apiKey), fingerprint(late.apiKey)]);
    expect(await liveKeys(world, 'arb1')).toEqual([]);
  });

  it('a slot where keys keep appearing is a failure after REVOKE_PASSES passes, never a success', async () => {
    w = await appWorld({ sandbox: true });
    const world = w;
    let n = 0;
    // Something (a runaway process with the master key) creates a labelled key before every listing.
    const spawnKey = async () => {
      n += 1;
      await world.sandbox!.admin.createKey({
        exchange: 'bybit',
        owner: world.subs.arb1!,
        permissions: { Spot: ['SpotTrade'] },
        ips: [CLIENT_IP],
        label: `keyctl-${String(n).padStart(12, '0')}`,
      });
    };
    const killer = createRotationEngine({ ...world.deps, adapter: hooked(world, { listKeys: spawnKey }) }, { owner: 'killer:2' });
    const { slot } = resolveSlot(world.deps.inventory, 'alpha/arb1');
    const outcome = await revoke({ engine: killer }, { slot, reason: 'incident', emergency: true });
    expect(n).toBe(REVOKE_PASSES);
    expect(outcome.orphansDeleted).toBe(REVOKE_PASSES);
    expect(outcome.failed.map((f) => f.code)).toEqual(['REVOKE_UNSETTLED']);
  });

  it('an orphan the exchange will not delete is a failure, not only a note', async () => {
    w = await appWorld({ sandbox: true });
    const world = w;
    const stuck = await world.sandbox!.admin.createKey({
      exchange: 'bybit',
      owner: world.subs.arb1!,
      permissions: { Spot: ['SpotTrade'] },
      ips: [CLIENT_IP],
      label: 'keyctl-0123456789ab',
    });
    // Deletes of that key are refused for good (as KuCoin refuses a key whose passphrase keyctl never stored).
    const adapter = async (exchange: string) => {
      const real = await world.deps.adapter(exchange);
      const wrapped = Object.create(real) as ExchangeAdapter;
      wrapped.deleteKey = async (request) => {
        if (request.apiKey === stuck.apiKey) throw new ExchangeError('PERMISSION_DENIED', 'The exchange refused to delete this key.');
        return real.deleteKey(request);
      };
      return wrapped;
    };
    const killer = createRotationEngine({ ...world.deps, adapter }, { owner: 'killer:2' });
    const { slot } = resolveSlot(world.deps.inventory, 'alpha/arb1');
    const outcome = await revoke({ engine: killer }, { slot, reason: 'incident', emergency: true });
    expect(outcome.orphansKept.map((k) => k.fingerprint)).toEqual([fingerprint(stuck.apiKey)]);
    expect(outcome.failed).toEqual([expect.objectContaining({ fingerprint: fingerprint(stuck.apiKey), code: 'PERMISSION_DENIED' })]);
  });
});
