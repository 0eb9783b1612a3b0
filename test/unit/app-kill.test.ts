import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { killBots, resumeBots, type KillDeps, type SlotKill } from '../../src/app/kill.js';
import type { AuditInput } from '../../src/audit/types.js';
import { pause, readPause, type PauseRecord } from '../../src/delivery/pause.js';
import type { BotStop } from '../../src/delivery/supervisors.js';
import { fingerprint } from '../../src/domain/credentials.js';
import type { ExchangeAdapter, OpenOrder, TradingApi } from '../../src/exchanges/types.js';
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
      progress: { finished: (ref, r: SlotKill) => finished.push([ref, r.failures.length === 0]) },
    });
    expect(result.slots).toEqual(['alpha/arb1', 'alpha/arb2', 'beta/mm']);
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ code: 'EXCHANGE_UNAVAILABLE' });
    expect(result.revoked).toBe(2);
    expect(finished.filter(([, ok]) => !ok)).toHaveLength(1);
    expect(w.recorder.of('kill')).toEqual([expect.objectContaining({ bots: ['alpha', 'beta'], all: true, revoked: 2, failed: 1 })]);
    expect(w.recorder.entries.filter((e) => e.command === 'revoke' && e.outcome === 'failed').map((e) => e.detail?.error)).toEqual([
      'EXCHANGE_UNAVAILABLE',
    ]);
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
  it('does not wait for the rotation holding the lease: it revokes the key that rotation stored, and no key of the bot is left', async () => {
    w = await appWorld({ sandbox: true });
    const deps = depsOf(w);
    // A rotation of alpha/arb1 holds the slot's lease (another process, by the store's clock) and has stored its new key.
    await w.deps.coordination.acquire('rotate/bots/alpha/arb1', 'rotator:1', 60_000);
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
    const started = performance.now();
    const result = await killBots(deps, { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(result.failures).toEqual([]);
    expect(await liveKeys(w, 'arb1')).toEqual([]);
    expect(result.results.find((r) => r.ref === 'alpha/arb1')?.revoked).toContain(fingerprint(created.apiKey));
  }, 60_000);
});

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

/** Kill deps, and the audit entries their events map to so far (as the CLI's audit log would hold them). */
function withSteps(world: AppWorld, extra: Partial<KillDeps> = {}) {
  const deps: KillDeps = { ...depsOf(world), ...extra };
  const steps = (): AuditInput[] => world.recorder.entries.map(({ seq: _s, time: _t, actor: _a, prev: _p, mac: _m, ...e }) => e);
  return { deps, steps };
}

/** The world's adapter with some methods replaced (the rest is the real Bybit adapter on the sandbox). */
function adapterWith(world: AppWorld, override: (real: ExchangeAdapter) => Partial<ExchangeAdapter>) {
  return async (exchange: string) => {
    const real = await world.deps.adapter(exchange);
    return Object.assign(Object.create(real) as ExchangeAdapter, override(real));
  };
}

function engineDeps(world: AppWorld, deps: Partial<KillDeps>): KillDeps {
  const base = { ...world.deps, ...deps };
  return { ...base, engine: createRotationEngine(base, { owner: 'test:1' }) } as KillDeps;
}

describe('kill: the bots under keyctl exec', () => {
  it('asks for them right after the pause and before any order is cancelled; a bot not confirmed stopped is a failure', async () => {
    w = await appWorld({ sandbox: true });
    const world = w;
    const order: string[] = [];
    const trading: TradingApi = {
      listOrders: async () => (order.push('orders'), []),
      cancelOrders: async () => undefined,
      listPositions: async () => [],
      closePosition: async () => undefined,
    };
    const seen: Array<[string, PauseRecord]> = [];
    const stopBots = async (slotPath: string, p: PauseRecord): Promise<BotStop[]> => {
      order.push('stop');
      seen.push([slotPath, p]);
      // Called with the pause already written: a supervisor asked now finds it.
      expect(await readPause(world.deps.coordination, slotPath)).toEqual(p);
      return slotPath.endsWith('arb1')
        ? [
            { execId: 'a', host: 'here', pid: 11, botPid: 12, state: 'stopped', detail: 'ok', exit: { code: null, signal: 'SIGTERM' } },
            { execId: 'b', host: 'there', pid: 21, botPid: null, state: 'told', detail: 'on another host' },
          ]
        : [{ execId: 'c', host: 'here', pid: 31, botPid: 32, state: 'unconfirmed', detail: 'still stopping after 15 s' }];
    };
    const adapter = adapterWith(world, () => ({ trading }));
    const { steps, deps } = withSteps(world, engineDeps(world, { adapter, stopBots }));
    const result = await killBots(deps, { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    expect(seen.map(([path]) => path).sort()).toEqual(['bots/alpha/arb1', 'bots/alpha/arb2']);
    expect(order.indexOf('stop')).toBeLessThan(order.indexOf('orders'));
    expect(order.lastIndexOf('stop')).toBeLessThan(order.lastIndexOf('orders'));
    expect(result.kills.find((k) => k.ref === 'alpha/arb1')?.bots.map((b) => b.state)).toEqual(['stopped', 'told']);
    // The told bot on another host is no failure; the unconfirmed one here is, and the keys were revoked regardless.
    expect(result.failures).toEqual([
      expect.objectContaining({ ref: 'alpha/arb2', code: 'BOT_NOT_CONFIRMED', message: expect.stringContaining('pid 31') }),
    ]);
    expect(await liveKeys(world, 'arb2')).toEqual([]);
    expect(steps().filter((e) => e.command === 'kill.stop')).toEqual(
      expect.arrayContaining([
        { command: 'kill.stop', ref: 'alpha/arb1', outcome: 'ok', detail: { stopped: 1, exited: 0, told: 1, unconfirmed: 0 } },
        { command: 'kill.stop', ref: 'alpha/arb2', outcome: 'failed', detail: { stopped: 0, exited: 0, told: 0, unconfirmed: 1 } },
      ]),
    );
  });
});

describe('kill: re-running continues where it stopped', () => {
  it('a key the exchange would not delete is left for the next run, which revokes it; the first pause and its reason stay', async () => {
    w = await appWorld({ sandbox: true });
    await w.sandbox!.admin.addFault({ exchange: 'bybit', path: '/v5/user/delete-sub-api', kind: '5xx', times: 1 });
    const first = await killBots(depsOf(w), { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    expect(first.failures).toEqual([expect.objectContaining({ code: 'EXCHANGE_UNAVAILABLE' })]);
    expect(first.revoked).toBe(1);
    const second = await killBots(depsOf(w), { bots: ['alpha'], reason: 'again', actor: 'bob' });
    expect(second.failures).toEqual([]);
    // What the first run revoked is fine (nothing to do); the key it could not delete is gone now.
    expect(second.revoked).toBe(1);
    expect(await liveKeys(w, 'arb1')).toEqual([]);
    expect(await liveKeys(w, 'arb2')).toEqual([]);
    expect(await readPause(w.deps.coordination, 'bots/alpha/arb1')).toMatchObject({ reason: 'incident', by: 'alice' });
    // The pause is audited once, when it was set.
    expect(w.recorder.entries.filter((e) => e.command === 'pause' && e.ref === 'alpha/arb1')).toHaveLength(1);
  });

  it('orders an earlier run could not confirm are not reported done once the key is gone; --keep-orders records them handled', async () => {
    w = await appWorld({ sandbox: true });
    const world = w;
    const stuck: OpenOrder = { id: '1', symbol: 'BTCUSDT', market: 'spot', side: 'buy', qty: '0.01' };
    const trading: TradingApi = {
      listOrders: async () => [stuck],
      cancelOrders: async () => undefined, // the exchange accepts the cancel and the order stays
      listPositions: async () => [],
      closePosition: async () => undefined,
    };
    const deps = engineDeps(world, { adapter: adapterWith(world, () => ({ trading })) });
    const first = await killBots(deps, { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    expect(first.failures.map((f) => [f.ref, f.code])).toEqual([
      ['alpha/arb1', 'ORDERS_LEFT'],
      ['alpha/arb2', 'ORDERS_LEFT'],
    ]);
    expect(await liveKeys(world, 'arb1')).toEqual([]);
    expect((await readPause(world.deps.coordination, 'bots/alpha/arb1'))?.left).toBe('orders');

    const second = await killBots(deps, { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    expect(second.failures.map((f) => [f.ref, f.code])).toEqual([
      ['alpha/arb1', 'ORDERS_UNCONFIRMED'],
      ['alpha/arb2', 'ORDERS_UNCONFIRMED'],
    ]);
    expect(second.failures[0]?.hint).toContain('--keep-orders');

    const third = await killBots(deps, { bots: ['alpha'], reason: 'incident', actor: 'alice', trading: { keepOrders: true } });
    expect(third.failures).toEqual([]);
    expect((await readPause(world.deps.coordination, 'bots/alpha/arb1'))?.left).toBeUndefined();
    const fourth = await killBots(deps, { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    expect(fourth.failures).toEqual([]);
  });

  it('assisted (no master key stored): says which key to delete in the web UI, fails until it is gone, then passes', async () => {
    w = await appWorld({ sandbox: true, importMaster: false });
    const first = await killBots(depsOf(w), { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    const arb1 = first.failures.find((f) => f.ref === 'alpha/arb1');
    expect(arb1).toMatchObject({ code: 'ASSISTED_REVOKE_PENDING' });
    expect(arb1?.message).toContain(fingerprint(w.keys.arb1!.apiKey));
    expect(arb1?.message).toContain(`sub-account ${w.subs.arb1}`);
    expect(arb1?.hint).toMatch(/web UI/);
    expect(`${arb1?.message} ${arb1?.hint}`).not.toContain(w.keys.arb1!.apiKey);
    // The operator deletes both keys in the web UI (here: through the exchange's API with the master key).
    const adapter = await w.deps.adapter('bybit');
    const account = { exchange: 'bybit', baseUrl: `${w.sandbox!.url}/bybit` };
    await adapter.deleteKey({ account, master: w.master!, subaccount: w.subs.arb1!, apiKey: w.keys.arb1!.apiKey, ...w.deps.call });
    const second = await killBots(depsOf(w), { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    expect(second.failures.map((f) => [f.ref, f.code])).toEqual([['alpha/arb2', 'ASSISTED_REVOKE_PENDING']]);
    await adapter.deleteKey({ account, master: w.master!, subaccount: w.subs.arb2!, apiKey: w.keys.arb2!.apiKey, ...w.deps.call });
    const third = await killBots(depsOf(w), { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    expect(third.failures).toEqual([]);
  });
});

describe('kill --read-only', () => {
  it('switches every key to read-only on Bybit and confirms it at the exchange; the keys stay stored, the slot paused', async () => {
    w = await appWorld({ sandbox: true });
    const { deps, steps } = withSteps(w);
    const result = await killBots(deps, { bots: ['alpha'], reason: 'watch only', actor: 'alice', readOnly: true });
    expect(result.failures).toEqual([]);
    expect(result.results).toEqual([]);
    expect(result.kills.map((k) => k.readOnly?.readOnly)).toEqual([[fingerprint(w.keys.arb1!.apiKey)], [fingerprint(w.keys.arb2!.apiKey)]]);
    const keys = await w.sandbox!.admin.listKeys({ exchange: 'bybit', owner: w.subs.arb1! });
    expect(keys.map((k) => [k.apiKey, k.readOnly, k.ips])).toEqual([[w.keys.arb1!.apiKey, true, [CLIENT_IP]]]);
    expect((await w.store.describe('bots/alpha/arb1'))?.stages.CURRENT).toBeDefined();
    expect(await readPause(w.deps.coordination, 'bots/alpha/arb1')).not.toBeNull();
    // Another bot's key can still trade.
    expect((await w.sandbox!.admin.listKeys({ exchange: 'bybit', owner: w.subs.mm! }))[0]?.readOnly).toBe(false);
    expect(
      steps()
        .filter((e) => e.command === 'kill.read-only')
        .map((e) => [e.ref, e.outcome, e.detail?.state]),
    ).toEqual(
      expect.arrayContaining([
        ['alpha/arb1', 'ok', 'read-only'],
        ['alpha/arb2', 'ok', 'read-only'],
      ]),
    );
  });

  it('a re-run finds the keys read-only already and changes nothing', async () => {
    w = await appWorld({ sandbox: true });
    let switches = 0;
    const adapter = adapterWith(w, (real) => ({
      makeReadOnly: async (r) => {
        switches += 1;
        return real.makeReadOnly!(r);
      },
    }));
    const deps = engineDeps(w, { adapter });
    expect((await killBots(deps, { bots: ['alpha'], reason: 'x', actor: 'a', readOnly: true })).failures).toEqual([]);
    expect(switches).toBe(2);
    expect((await killBots(deps, { bots: ['alpha'], reason: 'x', actor: 'a', readOnly: true })).failures).toEqual([]);
    expect(switches).toBe(2);
  });

  it('a switch the exchange acknowledged but the key does not show is READ_ONLY_NOT_CONFIRMED', async () => {
    w = await appWorld({ sandbox: true });
    const adapter = adapterWith(w, () => ({ makeReadOnly: async () => undefined }));
    const result = await killBots(engineDeps(w, { adapter }), { bots: ['alpha'], reason: 'x', actor: 'a', readOnly: true });
    expect(result.failures.map((f) => [f.ref, f.code])).toEqual([
      ['alpha/arb1', 'READ_ONLY_NOT_CONFIRMED'],
      ['alpha/arb2', 'READ_ONLY_NOT_CONFIRMED'],
    ]);
  });

  it('an exchange without the API is refused for that slot with a hint to revoke; its keys are left, the slot paused', async () => {
    w = await appWorld({ sandbox: true });
    const adapter = adapterWith(w, () => ({ makeReadOnly: undefined }));
    const result = await killBots(engineDeps(w, { adapter }), { bots: ['alpha'], reason: 'x', actor: 'a', readOnly: true });
    expect(result.failures.map((f) => f.code)).toEqual(['READ_ONLY_UNSUPPORTED', 'READ_ONLY_UNSUPPORTED']);
    expect(result.failures[0]?.hint).toMatch(/without --read-only/);
    expect(await liveKeys(w, 'arb1')).toEqual([w.keys.arb1!.apiKey]);
    expect(await readPause(w.deps.coordination, 'bots/alpha/arb1')).not.toBeNull();
    // Re-running without --read-only continues: the keys are revoked.
    expect((await killBots(depsOf(w), { bots: ['alpha'], reason: 'x', actor: 'a' })).failures).toEqual([]);
    expect(await liveKeys(w, 'arb1')).toEqual([]);
  });

  it('a keyctl-labelled key the store does not hold (a rotation caught mid-way) is switched too; unlabelled keys are not touched', async () => {
    w = await appWorld({ sandbox: true });
    const orphan = await w.sandbox!.admin.createKey({
      exchange: 'bybit',
      owner: w.subs.arb1!,
      permissions: { Spot: ['SpotTrade'] },
      ips: [CLIENT_IP],
      label: 'keyctl-0123456789ab',
    });
    const manual = await w.sandbox!.admin.createKey({
      exchange: 'bybit',
      owner: w.subs.arb1!,
      permissions: { Spot: ['SpotTrade'] },
      ips: [CLIENT_IP],
      label: 'desk-manual',
    });
    const result = await killBots(depsOf(w), { bots: ['alpha'], reason: 'x', actor: 'a', readOnly: true });
    expect(result.failures).toEqual([]);
    expect(result.kills[0]?.readOnly?.orphans).toEqual(['keyctl-0123456789ab']);
    const keys = await w.sandbox!.admin.listKeys({ exchange: 'bybit', owner: w.subs.arb1! });
    expect(keys.find((k) => k.apiKey === orphan.apiKey)?.readOnly).toBe(true);
    expect(keys.find((k) => k.apiKey === manual.apiKey)?.readOnly).toBe(false);
  });
});
