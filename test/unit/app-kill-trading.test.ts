/**
 * The kill's trading steps, orchestrated: with the bot's own key, in the slot's markets, confirmed by listing again; a
 * drill changes nothing. The exchange side (each exchange's endpoints) is test/unit/exchange-trading.test.ts; here a
 * recording TradingApi stands in for it, on top of the real sandbox adapter for everything else.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { killBots } from '../../src/app/kill.js';
import { marketsOf } from '../../src/app/kill-trading.js';
import type { OpenOrder, OpenPosition, TradingApi, TradingRequest } from '../../src/exchanges/types.js';
import { appWorld, liveKeys, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

/** An exchange's books for the test: orders and positions per apiKey, and what was asked of them. */
function fakeTrading(books: Record<string, { orders: OpenOrder[]; positions: OpenPosition[] }>, options: { stubborn?: boolean } = {}) {
  const calls: string[] = [];
  const book = (r: TradingRequest) => (books[r.key.apiKey] ??= { orders: [], positions: [] });
  const api: TradingApi = {
    listOrders: async (r) => {
      calls.push(`list-orders ${r.markets.join(',')}`);
      return [...book(r).orders];
    },
    cancelOrders: async (r, orders) => {
      calls.push(`cancel ${orders.length}`);
      if (!options.stubborn) book(r).orders = book(r).orders.filter((o) => !orders.some((x) => x.id === o.id));
    },
    listPositions: async (r) => {
      calls.push('list-positions');
      return [...book(r).positions];
    },
    closePosition: async (r, p) => {
      calls.push(`close ${p.symbol}`);
      book(r).positions = book(r).positions.filter((x) => x.symbol !== p.symbol);
    },
  };
  return { api, calls };
}

function withTrading(world: AppWorld, trading: TradingApi) {
  const deps = {
    ...world.deps,
    adapter: async (exchange: string) => Object.assign(Object.create(await world.deps.adapter(exchange)) as object, { trading }),
  } as typeof world.deps;
  return { ...deps, engine: createRotationEngine(deps, { owner: 'test:1' }) };
}

const order = (id: string, symbol = 'BTCUSDT'): OpenOrder => ({ id, symbol, market: 'spot', side: 'buy', qty: '0.01' });
const position: OpenPosition = { symbol: 'BTCUSDT', market: 'linear', side: 'long', size: '0.5' };

describe('kill: orders and positions', () => {
  it("acts in the markets the exchange's trading API covers and reports the others as CAPABILITY_GAP, never as none", async () => {
    w = await appWorld({ sandbox: true, scopes: 'read, spot:trade, futures:trade' });
    const arb1 = w.keys.arb1!.apiKey;
    const books = { [arb1]: { orders: [order('1')], positions: [] } };
    const { api, calls } = fakeTrading(books);
    // Like MEXC: spot only (its futures are another API keyctl does not drive).
    const spotOnly: TradingApi = { ...api, markets: ['spot'] };
    const result = await killBots(withTrading(w, spotOnly), {
      bots: ['alpha'],
      reason: 'incident',
      actor: 'alice',
      trading: { flatten: true },
    });
    expect(books[arb1]!.orders).toEqual([]);
    expect(calls).toContain('list-orders spot');
    expect(calls.filter((c) => c.startsWith('list-orders') && c !== 'list-orders spot')).toEqual([]);
    expect(result.trading['alpha/arb1']).toMatchObject({ cancelled: 1 });
    expect(result.trading['alpha/arb1']!.problems).toEqual([
      { step: 'orders', code: 'CAPABILITY_GAP', message: expect.stringContaining('linear, inverse orders') },
      { step: 'positions', code: 'CAPABILITY_GAP', message: expect.stringContaining('linear, inverse positions') },
    ]);
    expect(result.failures.filter((f) => f.ref === 'alpha/arb1').map((f) => f.code)).toContain('CAPABILITY_GAP');
    // The key is revoked all the same: the gap is reported, the kill goes on.
    expect(await liveKeys(w, 'arb1')).toEqual([]);
  });

  it("cancels with the bot's own key, flattens, confirms by listing again, then revokes; another bot is untouched", async () => {
    w = await appWorld({ sandbox: true });
    const arb1 = w.keys.arb1!.apiKey;
    const mm = w.keys.mm!.apiKey;
    const books = {
      [arb1]: { orders: [order('1'), order('2', 'ETHUSDT')], positions: [position] },
      [mm]: { orders: [order('9')], positions: [position] },
    };
    const { api, calls } = fakeTrading(books);
    const result = await killBots(withTrading(w, api), { bots: ['alpha'], reason: 'incident', actor: 'alice', trading: { flatten: true } });
    expect(result.failures).toEqual([]);
    expect(result.trading['alpha/arb1']).toMatchObject({ cancelled: 2, closed: 1, problems: [] });
    expect(books[arb1]).toEqual({ orders: [], positions: [] });
    expect(books[mm]!.orders).toHaveLength(1);
    expect(calls.filter((c) => c.startsWith('list-orders'))[0]).toBe(
      `list-orders ${marketsOf(w.deps.inventory.slots[0]!.scopes).join(',')}`,
    );
    expect(await liveKeys(w, 'arb1')).toEqual([]);
    expect(w.recorder.entries.filter((e) => e.command === 'kill.trading' && e.ref === 'alpha/arb1')).toEqual([
      expect.objectContaining({
        outcome: 'ok',
        detail: expect.objectContaining({ ordersFound: 2, cancelled: 2, positionsFound: 1, closed: 1 }),
      }),
    ]);
  });

  it('reports orders the exchange left open (ORDERS_LEFT) instead of claiming success, and still revokes', async () => {
    w = await appWorld({ sandbox: true });
    const { api } = fakeTrading({ [w.keys.arb1!.apiKey]: { orders: [order('1')], positions: [] } }, { stubborn: true });
    const result = await killBots(withTrading(w, api), { bots: ['alpha'], reason: 'incident', actor: 'alice' });
    expect(result.failures).toEqual([expect.objectContaining({ ref: 'alpha/arb1', code: 'ORDERS_LEFT' })]);
    expect(await liveKeys(w, 'arb1')).toEqual([]);
  });

  it('--dry-run lists what a kill would do and changes nothing: no pause, no cancel, no revoke', async () => {
    w = await appWorld({ sandbox: true });
    const arb1 = w.keys.arb1!.apiKey;
    const books = { [arb1]: { orders: [order('1')], positions: [position] } };
    const { api, calls } = fakeTrading(books);
    const deps = withTrading(w, api);
    const result = await killBots(deps, { bots: ['alpha'], reason: 'drill', actor: 'alice', trading: { flatten: true, dryRun: true } });
    expect(result.dryRun).toBe(true);
    expect(result.trading['alpha/arb1']?.orders).toHaveLength(1);
    expect(result.trading['alpha/arb1']?.positions).toHaveLength(1);
    expect(result.wouldRevoke['alpha/arb1']).toHaveLength(1);
    expect(calls.some((c) => c.startsWith('cancel') || c.startsWith('close'))).toBe(false);
    expect(books[arb1]!.orders).toHaveLength(1);
    expect(await liveKeys(w, 'arb1')).toEqual([arb1]);
    // Not paused: a rotation still works.
    const slot = w.deps.inventory.slots.find((s) => s.ref === 'alpha/arb1')!;
    await expect(deps.engine.rotate(slot, { start: true, reason: 'manual', graceMs: 0 })).resolves.toMatchObject({ status: 'rotated' });
    expect(w.recorder.entries.filter((e) => e.command === 'kill.drill')).toHaveLength(1);
  });
});
