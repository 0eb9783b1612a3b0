import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { killBots, resumeBots, type SlotKill } from '../../src/app/kill.js';
import { pause } from '../../src/delivery/pause.js';
import { fingerprint } from '../../src/domain/credentials.js';
import { appWorld, CLIENT_IP, liveKeys, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const depsOf = (world: AppWorld) => ({ ...world.deps, engine: createRotationEngine(world.deps, { owner: 'test:1' }) });

describe('killBots', () => {
  it('revokes every key of the bot at the exchange and in the store, leaves other bots alone, and emits one kill event', async () => {
    w = await appWorld({ sandbox: true });
    const planned: string[][] = [];
    const result = await killBots(depsOf(w), {
      bots: ['alpha'],
      reason: 'incident',
      actor: 'alice',
      progress: { planned: (r) => planned.push([...r]) },
    });
    expect(planned).toEqual([['alpha/arb1', 'alpha/arb2']]);
    expect(result).toMatchObject({ slots: ['alpha/arb1', 'alpha/arb2'], failures: [], revoked: 2 });
    expect(result.results.map((r) => [r.ref, r.revoked])).toEqual([
      ['alpha/arb1', [fingerprint(w.keys.arb1!.apiKey)]],
      ['alpha/arb2', [fingerprint(w.keys.arb2!.apiKey)]],
    ]);
    expect(await liveKeys(w, 'arb1')).toEqual([]);
    expect(await liveKeys(w, 'arb2')).toEqual([]);
    expect(await liveKeys(w, 'mm')).toEqual([w.keys.mm!.apiKey]);
    expect((await w.store.describe('bots/alpha/arb1'))?.stages.CURRENT).toBeUndefined();
    expect(w.recorder.of('kill')).toEqual([
      expect.objectContaining({ bots: ['alpha'], all: false, reason: 'incident', revoked: 2, failed: 0 }),
    ]);
    expect(w.recorder.entries.map((e) => [e.command, e.ref, e.outcome, e.detail?.reason])).toEqual(
      expect.arrayContaining([
        ['revoke', 'alpha/arb1', 'ok', 'incident'],
        ['revoke', 'alpha/arb2', 'ok', 'incident'],
      ]),
    );
  });

  it('--all covers every bot; what could not be revoked is a failure per key, in inventory order', async () => {
    w = await appWorld({ sandbox: true });
    await w.sandbox!.admin.addFault({ exchange: 'bybit', path: '/v5/user/delete-sub-api', kind: '5xx', times: 1 });
    const finished: Array<[string, boolean]> = [];
    const result = await killBots(depsOf(w), {
      bots: 'all',
      reason: 'incident',
      actor: 'alice',
      progress: { finished: (ref, r: SlotKill) => finished.push([ref, r.ok && r.outcome.failed.length === 0]) },
    });
    expect(result.slots).toEqual(['alpha/arb1', 'alpha/arb2', 'beta/mm']);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ code: 'EXCHANGE_UNAVAILABLE' });
    expect(result.revoked).toBe(2);
    expect(finished.filter(([, ok]) => !ok)).toHaveLength(1);
    expect(w.recorder.of('kill')).toEqual([expect.objectContaining({ bots: ['alpha', 'beta'], all: true, revoked: 2, failed: 1 })]);
    expect(w.recorder.entries.filter((e) => e.outcome === 'failed').map((e) => e.detail?.error)).toEqual(['EXCHANGE_UNAVAILABLE']);
  });

  it('an unknown bot is UNKNOWN_BOT before anything is revoked', async () => {
    w = await appWorld({ sandbox: true });
    await expect(killBots(depsOf(w), { bots: ['alpha', 'gamma'], reason: 'x', actor: 'alice' })).rejects.toMatchObject({
      code: 'UNKNOWN_BOT',
    });
    expect(await liveKeys(w, 'arb1')).toHaveLength(1);
    expect(w.recorder.events).toEqual([]);
  });
});

describe('the pause a kill leaves', () => {
  it('refuses rotation of a killed bot until resume; the next rotation then creates a fresh key; both are audited', async () => {
    w = await appWorld({ sandbox: true });
    const deps = depsOf(w);
    await killBots(deps, { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    const slot = w.deps.inventory.slots.find((s) => s.ref === 'alpha/arb1')!;
    await expect(deps.engine.rotate(slot, { start: true, reason: 'manual' })).rejects.toMatchObject({ code: 'SLOT_PAUSED', exitCode: 3 });
    expect(await liveKeys(w, 'arb1')).toEqual([]);
    // Another bot is not paused.
    const mm = w.deps.inventory.slots.find((s) => s.ref === 'beta/mm')!;
    await expect(deps.engine.rotate(mm, { start: true, reason: 'manual', graceMs: 0 })).resolves.toMatchObject({ status: 'rotated' });

    expect(await resumeBots(w.deps, { bots: ['alpha'], reason: 'incident closed' })).toEqual(['alpha/arb1', 'alpha/arb2']);
    expect(await resumeBots(w.deps, { bots: ['alpha'], reason: 'again' })).toEqual([]);
    const fresh = await deps.engine.rotate(slot, { start: true, reason: 'manual', graceMs: 0 });
    expect(fresh.status).toBe('rotated');
    expect(await liveKeys(w, 'arb1')).toHaveLength(1);
    expect(w.recorder.entries.filter((e) => e.ref === 'alpha/arb1' && ['pause', 'resume'].includes(e.command))).toEqual([
      expect.objectContaining({ command: 'pause', outcome: 'ok', detail: { reason: 'incident' } }),
      expect.objectContaining({ command: 'resume', outcome: 'ok', detail: { reason: 'incident closed' } }),
    ]);
  });
});

describe('a kill during a rotation', () => {
  it('waits for the rotation holding the lease to let go, then revokes the key it created: no key of the bot is left alive', async () => {
    w = await appWorld({ sandbox: true });
    const deps = depsOf(w);
    // A rotation of alpha/arb1 holds the slot's lease (another process, by the store's clock).
    const held = await w.deps.coordination.acquire('rotate/bots/alpha/arb1', 'rotator:1', 30_000);
    const killing = killBots(deps, { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    // The kill's first pass revokes the key it can see...
    await until(async () => !(await liveKeys(w!, 'arb1')).includes(w!.keys.arb1!.apiKey));
    // ...while the rotation creates and stores its new key, then stops on the pause and lets go of the lease.
    const created = await w.sandbox!.admin.createKey({
      exchange: 'bybit',
      owner: w.subs.arb1!,
      permissions: { Spot: ['SpotTrade'] },
      ips: [CLIENT_IP],
      label: 'keyctl-0123456789ab',
    });
    await w.deps.store.write('bots/alpha/arb1', {
      secret: { apiKey: created.apiKey, secret: created.secret },
      meta: { fingerprint: fingerprint(created.apiKey), source: 'rotation', rotationId: '0123456789ab' },
      stage: 'PENDING',
      expect: null,
    });
    await w.deps.coordination.release(held);
    const result = await killing;
    expect(result.failures).toEqual([]);
    expect(await liveKeys(w, 'arb1')).toEqual([]);
    expect(result.results.find((r) => r.ref === 'alpha/arb1')?.revoked).toContain(fingerprint(created.apiKey));
  }, 60_000);
});

async function until(cond: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a rotation that finds its slot paused', () => {
  it('never promotes the key it made: it stops before promotion with SLOT_PAUSED, CURRENT unchanged', async () => {
    w = await appWorld({ sandbox: true });
    const world = w;
    const before = (await world.store.describe('bots/alpha/arb1'))!.stages.CURRENT;
    // The kill's pause lands while the rotation tests its new key.
    const adapter = async (exchange: string) => {
      const real = await world.deps.adapter(exchange);
      const wrapped = Object.create(real) as typeof real;
      wrapped.inspect = async (request) => {
        if (request.role === 'bot') await pause(world.deps.coordination, 'bots/alpha/arb1', { reason: 'incident', by: 'alice' });
        return real.inspect(request);
      };
      return wrapped;
    };
    const deps = { ...world.deps, adapter };
    const engine = createRotationEngine(deps, { owner: 'test:1' });
    const slot = world.deps.inventory.slots.find((s) => s.ref === 'alpha/arb1')!;
    await expect(engine.rotate(slot, { start: true, reason: 'manual', graceMs: 0 })).rejects.toMatchObject({ code: 'SLOT_PAUSED' });
    const info = await world.store.describe('bots/alpha/arb1');
    expect(info?.stages.CURRENT).toBe(before);
    expect(info?.stages.PENDING).toBeDefined();
  });
});
