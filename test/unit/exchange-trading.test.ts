/**
 * The adapters' trading API (what `keyctl kill` cancels and closes with the bot's own key), against the in-process
 * sandbox through the real ccxt client: per exchange, orders seeded in two markets and a position are listed, cancelled
 * (another sub-account's order stays) and closed; a key that may not trade gets the permission code; and answers of
 * another shape are EXCHANGE_BAD_RESPONSE, never an empty list. The sandbox cannot corrupt an answer, so these tests
 * corrupt the real sandbox answer on its way from ccxt to the adapter (createClient wrapped, the rest real).
 */
import ccxt from 'ccxt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import * as ccxtModule from '../../src/exchanges/ccxt.js';
import { adapter as binanceAdapter } from '../../src/exchanges/binance/adapter.js';
import { adapter as bybitAdapter } from '../../src/exchanges/bybit/adapter.js';
import { adapter as gateAdapter } from '../../src/exchanges/gate/adapter.js';
import { adapter as kucoinAdapter } from '../../src/exchanges/kucoin/adapter.js';
import { adapter as mexcAdapter } from '../../src/exchanges/mexc/adapter.js';
import { adapter as okxAdapter } from '../../src/exchanges/okx/adapter.js';
import type { ExchangeClient } from '../../src/exchanges/ccxt.js';
import type { OpenOrder, OpenPosition, TradingApi, TradingMarket, TradingRequest } from '../../src/exchanges/types.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { SandboxExchange } from '../../src/sandbox/state.js';
import { caught } from '../helpers/caught.js';

vi.mock('../../src/exchanges/ccxt.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/exchanges/ccxt.js')>();
  return { ...real, createClient: vi.fn(real.createClient) };
});
const realCreateClient = (await vi.importActual<typeof import('../../src/exchanges/ccxt.js')>('../../src/exchanges/ccxt.js')).createClient;
const createClient = vi.mocked(ccxtModule.createClient);

const CLIENT_IP = '10.0.0.5';
const FOREIGN_IP = '203.0.113.9';
const ALL: TradingMarket[] = ['spot', 'margin', 'linear', 'inverse', 'option'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are corrupted field by field, at any depth
type Json = Record<string, any>;
type Creds = { apiKey: string; secret: string; passphrase?: string };

let sb: RunningSandbox;
let throttle: { mockRestore(): void } | undefined;
beforeAll(async () => {
  sb = await startSandbox({ admin: true, clientIp: CLIENT_IP });
  // ccxt's rate limiter spaces calls as each exchange limits them (Bybit's cancel-all: one a second). That is production
  // behaviour; the sandbox has no limits, so here the waits are skipped to keep the file fast.
  throttle = vi.spyOn(ccxt.Exchange.prototype, 'throttle').mockResolvedValue(undefined as never);
});
afterAll(async () => {
  throttle?.mockRestore();
  await sb.close();
});
beforeEach(async () => {
  await sb.admin.reset();
  await sb.admin.setClientIp(CLIENT_IP);
});
afterEach(() => {
  createClient.mockImplementation(realCreateClient);
});

/** Every call the adapter makes goes through `rewrite` (method, params, the real answer) -> what the adapter sees. */
function intercept(
  rewrite: (method: string, answer: () => Promise<unknown>, params: Record<string, unknown>) => Promise<unknown>,
): string[] {
  const calls: string[] = [];
  createClient.mockImplementation(async (...args) => {
    const client = await realCreateClient(...args);
    const wrapped: ExchangeClient = {
      ...client,
      call: (method, params, spec) => {
        calls.push(method);
        return rewrite(method, () => client.call(method, params, spec), params);
      },
    };
    return wrapped;
  });
  return calls;
}

const REPLACE = Symbol('replace');
/** A mutation that replaces the whole answer. */
const replaceWith = (value: unknown) => (): unknown => ({ [REPLACE]: value });

/** Answers of `method` changed by `mutate` (on a copy); every other answer as the sandbox gave it. */
function corrupt(method: string, mutate: (answer: Json) => unknown): void {
  intercept(async (m, answer) => {
    const real = await answer();
    if (m !== method) return real;
    const copy = structuredClone(real) as Json;
    const out = mutate(copy);
    return out && typeof out === 'object' && REPLACE in out ? (out as Record<symbol, unknown>)[REPLACE] : copy;
  });
}

function requestFor(exchange: SandboxExchange, key: Creds, markets: readonly TradingMarket[] = ALL): TradingRequest {
  return { account: { name: 'main', exchange, baseUrl: `${sb.url}/${exchange}` }, key, markets, attempts: 1 };
}

const byId = (orders: OpenOrder[]) => [...orders].sort((a, b) => a.id.localeCompare(b.id));

/**
 * Each mutation of a real answer must fail the call with EXCHANGE_BAD_RESPONSE: never a shorter list, never a crash.
 * `prepare` runs before each, outside the corruption (a cancel or close really happened at the sandbox: seed again).
 */
async function expectBadAnswers(
  method: string,
  mutations: Record<string, (a: Json) => unknown>,
  run: () => Promise<unknown>,
  prepare?: () => Promise<unknown>,
) {
  for (const [what, mutate] of Object.entries(mutations)) {
    createClient.mockImplementation(realCreateClient);
    await prepare?.();
    corrupt(method, mutate);
    const err = await caught(run());
    expect(err.code, what).toBe('EXCHANGE_BAD_RESPONSE');
  }
  createClient.mockImplementation(realCreateClient);
}

/** By symbol, in code-point order. */
const bySymbol = (positions: OpenPosition[]) => [...positions].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));

/**
 * What a kill must do on every exchange, checked at the sandbox: `orders` cancelled with the bot's key (another
 * sub-account's order `theirs` stays), then every position listed and closed, each confirmed by listing again. Returns
 * the positions it found, for the caller to check.
 */
async function cancelAndClose(
  exchange: SandboxExchange,
  trading: TradingApi,
  request: TradingRequest,
  orders: OpenOrder[],
  owners: { sub: string; other: string; theirs: string },
): Promise<OpenPosition[]> {
  await trading.cancelOrders(request, orders);
  expect(await sb.admin.listOrders({ exchange, owner: owners.sub })).toEqual([]);
  expect((await sb.admin.listOrders({ exchange, owner: owners.other })).map((o) => o.id)).toEqual([owners.theirs]);
  const positions = await trading.listPositions(request);
  for (const p of positions) await trading.closePosition(request, p);
  expect(await sb.admin.listPositions({ exchange, owner: owners.sub })).toEqual([]);
  expect(await trading.listPositions(request)).toEqual([]);
  return positions;
}

describe('bybit trading', () => {
  const MAIN = '24800000';
  const SUB = '24800001';
  const OTHER = '24800002';
  const TRADER = { ContractTrade: ['Order', 'Position'], Spot: ['SpotTrade'] };
  const trading = bybitAdapter.trading!;
  let bot: Creds;
  let reader: Creds;

  beforeEach(async () => {
    await sb.admin.createAccount('bybit', MAIN);
    await sb.admin.createSubaccount('bybit', MAIN, SUB);
    await sb.admin.createSubaccount('bybit', MAIN, OTHER);
    // The master makes the tree a unified trading account, which has options (docs/sandbox.md).
    await sb.admin.createKey({
      exchange: 'bybit',
      owner: MAIN,
      master: true,
      permissions: { Wallet: ['AccountTransfer'], Derivatives: ['DerivativesTrade'] },
      ips: [CLIENT_IP],
    });
    bot = await sb.admin.createKey({ exchange: 'bybit', owner: SUB, permissions: TRADER, ips: [CLIENT_IP] });
    reader = await sb.admin.createKey({ exchange: 'bybit', owner: SUB, permissions: TRADER, ips: [CLIENT_IP], readOnly: true });
  });

  async function seed() {
    const seedOrder = (symbol: string, market: 'spot' | 'margin' | 'linear' | 'inverse', side: 'buy' | 'sell', qty: string, owner = SUB) =>
      sb.admin.seedOrder({ exchange: 'bybit', owner, symbol, side, market, qty, price: '50000' });
    const lin = await seedOrder('BTCUSDT', 'linear', 'buy', '0.01');
    const usdc = await seedOrder('ETHPERP', 'linear', 'sell', '0.2');
    const inv = await seedOrder('BTCUSD', 'inverse', 'sell', '100');
    const spot = await seedOrder('ETHUSDT', 'spot', 'buy', '0.5');
    const margin = await seedOrder('BTCUSDT', 'margin', 'sell', '0.002');
    const theirs = await seedOrder('BTCUSDT', 'linear', 'sell', '1', OTHER);
    await sb.admin.seedPosition({ exchange: 'bybit', owner: SUB, symbol: 'BTCUSDT', side: 'long', size: '0.5', market: 'linear' });
    await sb.admin.seedPosition({ exchange: 'bybit', owner: SUB, symbol: 'BTCUSD', side: 'short', size: '300', market: 'inverse' });
    return { lin, usdc, inv, spot, margin, theirs };
  }

  it("lists, cancels and closes with the bot's own key; another sub-account's order stays", async () => {
    const s = await seed();
    const request = requestFor('bybit', bot);
    const orders = await trading.listOrders(request);
    expect(byId(orders)).toEqual(
      byId([
        { id: s.lin.id, symbol: 'BTCUSDT', market: 'linear', side: 'buy', qty: '0.01' },
        { id: s.usdc.id, symbol: 'ETHPERP', market: 'linear', side: 'sell', qty: '0.2' },
        { id: s.inv.id, symbol: 'BTCUSD', market: 'inverse', side: 'sell', qty: '100' },
        { id: s.spot.id, symbol: 'ETHUSDT', market: 'spot', side: 'buy', qty: '0.5' },
        { id: s.margin.id, symbol: 'BTCUSDT', market: 'margin', side: 'sell', qty: '0.002' },
      ]),
    );
    // Only the markets asked about.
    expect((await trading.listOrders(requestFor('bybit', bot, ['margin']))).map((o) => o.id)).toEqual([s.margin.id]);

    await trading.cancelOrders(request, orders);
    expect(await sb.admin.listOrders({ exchange: 'bybit', owner: SUB })).toEqual([]);
    expect((await sb.admin.listOrders({ exchange: 'bybit', owner: OTHER })).map((o) => o.id)).toEqual([s.theirs.id]);
    expect(await trading.listOrders(request)).toEqual([]);

    const positions = await trading.listPositions(request);
    expect(positions).toEqual(
      expect.arrayContaining<OpenPosition>([
        { symbol: 'BTCUSDT', market: 'linear', side: 'long', size: '0.5' },
        { symbol: 'BTCUSD', market: 'inverse', side: 'short', size: '300' },
      ]),
    );
    expect(positions).toHaveLength(2);
    for (const p of positions) await trading.closePosition(request, p);
    expect(await sb.admin.listPositions({ exchange: 'bybit', owner: SUB })).toEqual([]);
    expect(await trading.listPositions(request)).toEqual([]);
    // Closing what is already closed does nothing (the caller lists again to confirm).
    await trading.closePosition(request, positions[0]!);
  });

  it('reads every page of a long listing', async () => {
    for (let i = 0; i < 55; i++) {
      await sb.admin.seedOrder({
        exchange: 'bybit',
        owner: SUB,
        symbol: 'ETHUSDT',
        side: 'buy',
        market: 'spot',
        qty: '1',
        price: String(1000 + i),
      });
    }
    const calls = intercept((_m, answer) => answer());
    expect(await trading.listOrders(requestFor('bybit', bot, ['spot']))).toHaveLength(55);
    expect(calls.filter((m) => m === 'privateGetV5OrderRealtime')).toHaveLength(2);
  });

  it('asks for options only on a unified trading account', async () => {
    await sb.admin.reset();
    await sb.admin.createAccount('bybit', MAIN);
    await sb.admin.createSubaccount('bybit', MAIN, SUB);
    const classic = await sb.admin.createKey({ exchange: 'bybit', owner: SUB, permissions: TRADER, ips: [CLIENT_IP] });
    const calls = intercept((_m, answer) => answer());
    expect(await trading.listOrders(requestFor('bybit', classic, ['option']))).toEqual([]);
    expect(await trading.listPositions(requestFor('bybit', classic, ['option']))).toEqual([]);
    expect(calls).toEqual(['privateGetV5AccountInfo', 'privateGetV5AccountInfo']);
  });

  it('a read-only key cannot cancel or close: PERMISSION_DENIED (10005); a foreign address is IP_NOT_ALLOWED', async () => {
    await seed();
    const request = requestFor('bybit', reader);
    const orders = await trading.listOrders(request);
    expect(orders).toHaveLength(5);
    const cancel = await caught(trading.cancelOrders(request, orders));
    expect(cancel.code).toBe('PERMISSION_DENIED');
    expect(cancel.details?.exchangeCode).toBe('10005');
    const [position] = await trading.listPositions(request);
    expect((await caught(trading.closePosition(request, position!))).code).toBe('PERMISSION_DENIED');
    await sb.admin.setClientIp(FOREIGN_IP);
    expect((await caught(trading.listOrders(requestFor('bybit', bot)))).code).toBe('IP_NOT_ALLOWED');
    await sb.admin.setClientIp(CLIENT_IP);
    expect(await sb.admin.listOrders({ exchange: 'bybit', owner: SUB })).toHaveLength(5);
    expect(await sb.admin.listPositions({ exchange: 'bybit', owner: SUB })).toHaveLength(2);
  });

  it('answers of another shape are EXCHANGE_BAD_RESPONSE, never an empty list', async () => {
    await seed();
    const request = requestFor('bybit', bot);
    const order = (a: Json) => a.result.list[0];
    await expectBadAnswers(
      'privateGetV5OrderRealtime',
      {
        'no list': (a) => delete a.result.list,
        'list is null': (a) => (a.result.list = null),
        'no result': (a) => delete a.result,
        'no nextPageCursor': (a) => delete a.result.nextPageCursor,
        'another category': (a) => (a.result.category = 'option'),
        'no orderId': (a) => delete order(a).orderId,
        'empty orderId': (a) => (order(a).orderId = ''),
        'no symbol': (a) => delete order(a).symbol,
        'side BUY': (a) => (order(a).side = 'BUY'),
        'no leavesQty': (a) => delete order(a).leavesQty,
        'leavesQty a number': (a) => (order(a).leavesQty = 0.01),
        'leavesQty negative': (a) => (order(a).leavesQty = '-1'),
        'spot isLeverage missing': (a) => {
          if (a.result.category === 'spot') delete order(a).isLeverage;
          else a.result.list = 'x';
        },
        'the same order twice': (a) => a.result.list.push(order(a)),
        // The sandbox's cursor is an offset: "0" is a cursor it accepts, which then comes back.
        'a cursor that comes back': (a) => (a.result.nextPageCursor = '0'),
      },
      () => trading.listOrders(request),
    );
    const position = (a: Json) => a.result.list[0];
    await expectBadAnswers(
      'privateGetV5PositionList',
      {
        'no list': (a) => delete a.result.list,
        'size a number': (a) => (position(a).size = 0.5),
        'size missing': (a) => delete position(a).size,
        'side empty on a position with a size': (a) => (position(a).side = ''),
        'positionIdx 3': (a) => (position(a).positionIdx = 3),
        'no nextPageCursor': (a) => delete a.result.nextPageCursor,
      },
      () => trading.listPositions(request),
    );
    const orders = await trading.listOrders(request);
    await expectBadAnswers(
      'privatePostV5OrderCancelAll',
      { 'no list': (a) => delete a.result.list, 'result null': (a) => (a.result = null) },
      () => trading.cancelOrders(request, orders),
    );
    const [p] = await trading.listPositions(request);
    await expectBadAnswers(
      'privatePostV5OrderCreate',
      { 'no orderId': (a) => delete a.result.orderId, 'result a list': (a) => (a.result = [a.result]) },
      () => trading.closePosition(request, p!),
      seed,
    );
    // A cancel Bybit answers as failed ("success": "0") is an error too.
    corrupt('privatePostV5OrderCancelAll', (a) => (a.result.success = '0'));
    expect((await caught(trading.cancelOrders(request, orders))).code).toBe('EXCHANGE_REFUSED');
  });
});

describe('okx trading', () => {
  const MAIN = '82000000';
  const SUB = 'okxkillsub1';
  const OTHER = 'okxkillsub2';
  const trading = okxAdapter.trading!;
  let bot: Creds;
  let reader: Creds;

  beforeEach(async () => {
    await sb.admin.createAccount('okx', MAIN);
    await sb.admin.createSubaccount('okx', MAIN, SUB);
    await sb.admin.createSubaccount('okx', MAIN, OTHER);
    bot = await sb.admin.createKey({ exchange: 'okx', owner: SUB, permissions: 'read_only,trade', ips: [CLIENT_IP] });
    reader = await sb.admin.createKey({ exchange: 'okx', owner: SUB, permissions: 'read_only', ips: [CLIENT_IP] });
  });

  async function seed() {
    const seedOrder = (symbol: string, market: 'spot' | 'margin' | 'linear' | 'inverse', qty: string, owner = SUB) =>
      sb.admin.seedOrder({ exchange: 'okx', owner, symbol, side: 'buy', market, qty, price: '50000' });
    const swap = await seedOrder('BTC-USDT-SWAP', 'linear', '2');
    const fut = await seedOrder('BTC-USD-250627', 'inverse', '3');
    const spot = await seedOrder('BTC-USDT', 'spot', '0.001');
    const margin = await seedOrder('ETH-USDT', 'margin', '0.1');
    const theirs = await seedOrder('BTC-USDT-SWAP', 'linear', '1', OTHER);
    await sb.admin.seedPosition({ exchange: 'okx', owner: SUB, symbol: 'BTC-USDT-SWAP', side: 'long', size: '3', market: 'linear' });
    await sb.admin.seedPosition({ exchange: 'okx', owner: SUB, symbol: 'BTC-USD-SWAP', side: 'short', size: '5', market: 'inverse' });
    return { swap, fut, spot, margin, theirs };
  }

  it("lists, cancels and closes with the bot's own key; another sub-account's order stays", async () => {
    const s = await seed();
    const request = requestFor('okx', bot);
    const orders = await trading.listOrders(request);
    expect(byId(orders)).toEqual(
      byId([
        { id: s.swap.id, symbol: 'BTC-USDT-SWAP', market: 'linear', side: 'buy', qty: '2' },
        { id: s.fut.id, symbol: 'BTC-USD-250627', market: 'inverse', side: 'buy', qty: '3' },
        { id: s.spot.id, symbol: 'BTC-USDT', market: 'spot', side: 'buy', qty: '0.001' },
        { id: s.margin.id, symbol: 'ETH-USDT', market: 'margin', side: 'buy', qty: '0.1' },
      ]),
    );
    expect((await trading.listOrders(requestFor('okx', bot, ['inverse']))).map((o) => o.id)).toEqual([s.fut.id]);

    const positions = await cancelAndClose('okx', trading, request, orders, { sub: SUB, other: OTHER, theirs: s.theirs.id });
    expect(bySymbol(positions)).toEqual([
      { symbol: 'BTC-USD-SWAP', market: 'inverse', side: 'short', size: '5' },
      { symbol: 'BTC-USDT-SWAP', market: 'linear', side: 'long', size: '3' },
    ]);
  });

  it('cancels at most 20 orders per call; a partly filled order shows what is left', async () => {
    for (let i = 0; i < 23; i++) {
      await sb.admin.seedOrder({
        exchange: 'okx',
        owner: SUB,
        symbol: 'ETH-USDT-SWAP',
        side: 'sell',
        market: 'linear',
        qty: 1,
        price: 4000 + i,
      });
    }
    const request = requestFor('okx', bot, ['linear']);
    const orders = await trading.listOrders(request);
    expect(orders).toHaveLength(23);
    const calls = intercept((_m, answer) => answer());
    await trading.cancelOrders(request, orders);
    expect(calls.filter((m) => m === 'privatePostTradeCancelBatchOrders')).toHaveLength(2);
    expect(await sb.admin.listOrders({ exchange: 'okx', owner: SUB })).toEqual([]);

    await sb.admin.seedOrder({ exchange: 'okx', owner: SUB, symbol: 'BTC-USDT', side: 'buy', market: 'spot', qty: '0.3', price: 1 });
    corrupt('privateGetTradeOrdersPending', (a) => {
      for (const o of a.data) o.accFillSz = '0.12';
    });
    expect((await trading.listOrders(requestFor('okx', bot, ['spot']))).map((o) => o.qty)).toEqual(['0.18']);
  });

  it("a per-order failure carries OKX's sCode; it is never taken for done", async () => {
    await seed();
    const request = requestFor('okx', bot);
    const gone: OpenOrder = { id: '699999999999999999', symbol: 'BTC-USDT-SWAP', market: 'linear', side: 'buy', qty: '1' };
    const err = await caught(trading.cancelOrders(request, [gone]));
    expect(err.code).toBe('EXCHANGE_REFUSED');
    expect(err.details?.exchangeCode).toBe('51400');
    // One failed order among good ones (code "2", which ccxt lets through): still an error, after the others went.
    const orders = await trading.listOrders(request);
    const mixed = await caught(
      trading.cancelOrders(request, [
        ...orders,
        { id: '699999999999999998', symbol: 'BTC-USDT-SWAP', market: 'linear', side: 'buy', qty: '1' },
      ]),
    );
    expect(mixed.details?.exchangeCode).toBe('51400');
    expect(await sb.admin.listOrders({ exchange: 'okx', owner: SUB })).toEqual([]);
  });

  it('a key without trade cannot cancel or close: PERMISSION_DENIED (50120)', async () => {
    await seed();
    const request = requestFor('okx', reader);
    const orders = await trading.listOrders(request);
    expect(orders).toHaveLength(4);
    const cancel = await caught(trading.cancelOrders(request, orders));
    expect(cancel.code).toBe('PERMISSION_DENIED');
    expect(cancel.details?.exchangeCode).toBe('50120');
    const [position] = await trading.listPositions(request);
    expect((await caught(trading.closePosition(request, position!))).code).toBe('PERMISSION_DENIED');
    expect(await sb.admin.listOrders({ exchange: 'okx', owner: SUB })).toHaveLength(4);
    expect(await sb.admin.listPositions({ exchange: 'okx', owner: SUB })).toHaveLength(2);
    // Options cannot be closed with a market order at OKX: said, not tried.
    const option: OpenPosition = { symbol: 'BTC-USD-250627-50000-C', market: 'option', side: 'long', size: '1' };
    expect((await caught(trading.closePosition(requestFor('okx', bot), option))).code).toBe('CAPABILITY_GAP');
  });

  it('answers of another shape are EXCHANGE_BAD_RESPONSE, never an empty list', async () => {
    await seed();
    const request = requestFor('okx', bot);
    const first = (a: Json) => a.data[0] ?? {};
    await expectBadAnswers(
      'privateGetTradeOrdersPending',
      {
        'no data': (a) => delete a.data,
        'data an object': (a) => (a.data = {}),
        'no ordId': (a) => delete first(a).ordId,
        'ordId a number': (a) => (first(a).ordId = 12),
        'side Buy': (a) => (first(a).side = 'Buy'),
        'no sz': (a) => delete first(a).sz,
        'no accFillSz': (a) => delete first(a).accFillSz,
        'more filled than the size': (a) => (first(a).accFillSz = '100000'),
        'another instType': (a) => a.data.push({ ...first(a), instType: a.data[0]?.instType === 'SPOT' ? 'SWAP' : 'SPOT', ordId: '1' }),
        'an order twice': (a) => a.data.push(first(a)),
      },
      () => trading.listOrders(request),
    );
    await expectBadAnswers(
      'privateGetAccountPositions',
      {
        'no data': (a) => delete a.data,
        'pos a number': (a) => (first(a).pos = 3),
        'no posSide': (a) => delete first(a).posSide,
        'mgnMode unknown': (a) => (first(a).mgnMode = 'portfolio'),
        'negative pos in long/short mode': (a) => Object.assign(first(a), { posSide: 'long', pos: '-3' }),
      },
      () => trading.listPositions(request),
    );
    await expectBadAnswers(
      'privatePostTradeCancelBatchOrders',
      {
        'no data': (a) => delete a.data,
        'a result missing': (a) => a.data.pop(),
        'another order': (a) => (first(a).ordId = '1'),
        'no sCode': (a) => delete first(a).sCode,
        'code 2 with every sCode 0': (a) => (a.code = '2'),
      },
      async () => trading.cancelOrders(request, await trading.listOrders(request)),
      seed,
    );
    const [p] = await trading.listPositions(request);
    await expectBadAnswers(
      'privatePostTradeOrder',
      { 'no data': (a) => delete a.data, 'empty data': (a) => (a.data = []), 'no ordId': (a) => (first(a).ordId = '') },
      () => trading.closePosition(request, p!),
      seed,
    );
  });
});

describe('binance trading', () => {
  const MAIN = '92000000';
  const SUB = 'killbot1_virtual@sandbox.invalid';
  const OTHER = 'killbot2_virtual@sandbox.invalid';
  const TRADER = { enableReading: true, enableSpotAndMarginTrading: true, enableFutures: true };
  const trading = binanceAdapter.trading!;
  const MARKETS: TradingMarket[] = ['spot', 'margin', 'linear', 'inverse'];
  let bot: Creds;
  let reader: Creds;

  beforeEach(async () => {
    await sb.admin.createAccount('binance', MAIN);
    await sb.admin.createSubaccount('binance', MAIN, SUB);
    await sb.admin.createSubaccount('binance', MAIN, OTHER);
    bot = await sb.admin.createKey({ exchange: 'binance', owner: SUB, permissions: TRADER, ips: [CLIENT_IP] });
    reader = await sb.admin.createKey({
      exchange: 'binance',
      owner: SUB,
      permissions: { enableReading: true, enableFutures: true },
      ips: [CLIENT_IP],
      readOnly: true,
    });
  });

  async function seed() {
    const seedOrder = (symbol: string, market: 'spot' | 'margin' | 'linear' | 'inverse', qty: string, owner = SUB) =>
      sb.admin.seedOrder({ exchange: 'binance', owner, symbol, side: 'buy', market, qty, price: '50000' });
    const spot = await seedOrder('BTCUSDT', 'spot', '0.01');
    const margin = await seedOrder('ETHUSDT', 'margin', '0.2');
    const lin = await seedOrder('BTCUSDT', 'linear', '0.003');
    const inv = await seedOrder('BTCUSD_PERP', 'inverse', '2');
    const theirs = await seedOrder('BTCUSDT', 'linear', '1', OTHER);
    await sb.admin.seedPosition({
      exchange: 'binance',
      owner: SUB,
      symbol: 'BTCUSDT',
      side: 'short',
      size: '0.25',
      market: 'linear',
      entryPrice: 50000,
    });
    await sb.admin.seedPosition({ exchange: 'binance', owner: SUB, symbol: 'BTCUSD_PERP', side: 'long', size: '7', market: 'inverse' });
    return { spot, margin, lin, inv, theirs };
  }

  it("lists, cancels and closes with the bot's own key; another sub-account's order stays", async () => {
    const s = await seed();
    const request = requestFor('binance', bot, MARKETS);
    const orders = await trading.listOrders(request);
    expect(byId(orders)).toEqual(
      byId([
        { id: s.spot.id, symbol: 'BTCUSDT', market: 'spot', side: 'buy', qty: '0.01' },
        { id: s.margin.id, symbol: 'ETHUSDT', market: 'margin', side: 'buy', qty: '0.2' },
        { id: s.lin.id, symbol: 'BTCUSDT', market: 'linear', side: 'buy', qty: '0.003' },
        { id: s.inv.id, symbol: 'BTCUSD_PERP', market: 'inverse', side: 'buy', qty: '2' },
      ]),
    );
    const positions = await cancelAndClose('binance', trading, request, orders, { sub: SUB, other: OTHER, theirs: s.theirs.id });
    expect(bySymbol(positions)).toEqual([
      { symbol: 'BTCUSDT', market: 'linear', side: 'short', size: '0.25' },
      { symbol: 'BTCUSD_PERP', market: 'inverse', side: 'long', size: '7' },
    ]);
    // Options take limit orders only: said, not tried.
    const option: OpenPosition = { symbol: 'BTC-250627-50000-C', market: 'option', side: 'long', size: '1' };
    expect((await caught(trading.closePosition(request, option))).code).toBe('CAPABILITY_GAP');
  });

  it('options (/eapi, which the sandbox does not model): listed, cancelled per symbol, positions read', async () => {
    // Documented answers (https://developers.binance.com/docs/derivatives/option/trade/Query-Current-Open-Option-Orders,
    // .../Option-Position-Information, .../Cancel-all-Option-orders-on-specific-symbol), as ccxt 4.5.84 quotes them.
    const order = (orderId: number, symbol: string) => ({
      orderId,
      symbol,
      price: '10.0',
      quantity: '1.00',
      executedQty: '0.25',
      fee: '0',
      side: 'BUY',
      type: 'LIMIT',
      timeInForce: 'GTC',
      reduceOnly: false,
      postOnly: false,
      createTime: 1676083034462,
      updateTime: 1676083034462,
      status: 'ACCEPTED',
      avgPrice: '0',
      clientOrderId: '',
      priceScale: 1,
      quantityScale: 2,
      optionSide: 'CALL',
      quoteAsset: 'USDT',
      mmp: false,
    });
    const position = { entryPrice: '27.7', symbol: 'ETH-230426-1850-C', side: 'SHORT', quantity: '-0.50000000', optionSide: 'CALL' };
    const cancelled: unknown[] = [];
    let cancelAnswer: unknown = { code: 0, msg: 'success' };
    intercept(async (method, answer, params) => {
      if (method === 'eapiPrivateGetOpenOrders') {
        // JSON.parse of `4728833085436977152` (the docs' id) and the next id: one and the same double.
        const id = (digits: string) => Number(digits);
        return [
          order(id('4728833085436977152'), 'ETH-230211-1500-C'),
          order(id('4728833085436977153'), 'ETH-230211-1500-C'),
          order(id('4728833085436979000'), 'BTC-230211-20000-P'),
        ];
      }
      if (method === 'eapiPrivateDeleteAllOpenOrders') return (cancelled.push(params), cancelAnswer);
      if (method === 'eapiPrivateGetPosition') return [position, { ...position, symbol: 'BTC-230211-20000-P', quantity: '0' }];
      return answer();
    });
    const request = requestFor('binance', bot, ['option']);
    const orders = await trading.listOrders(request);
    // Two 19-digit ids that round alike are still two orders (cancelled by symbol, never by id).
    expect(orders).toHaveLength(3);
    expect(orders[0]).toMatchObject({ symbol: 'ETH-230211-1500-C', market: 'option', side: 'buy', qty: '0.75' });
    expect(orders[0]!.id).toMatch(/^47288330854369\d{5}$/);
    await trading.cancelOrders(request, orders);
    expect(cancelled).toEqual([{ symbol: 'ETH-230211-1500-C' }, { symbol: 'BTC-230211-20000-P' }]);
    expect(await trading.listPositions(request)).toEqual([
      { symbol: 'ETH-230426-1850-C', market: 'option', side: 'short', size: '0.50000000' },
    ]);
    cancelAnswer = { code: -1, msg: 'failed' };
    expect((await caught(trading.cancelOrders(request, orders))).code).toBe('EXCHANGE_REFUSED');
    cancelAnswer = [{ code: 0 }];
    expect((await caught(trading.cancelOrders(request, orders))).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('-2015 on a cancel is PERMISSION_DENIED only when the same key can read the same API from here', async () => {
    await seed();
    const request = requestFor('binance', reader, MARKETS);
    const orders = await trading.listOrders(request);
    expect(orders).toHaveLength(4);
    for (const market of ['spot', 'linear'] as const) {
      const err = await caught(
        trading.cancelOrders(
          request,
          orders.filter((o) => o.market === market),
        ),
      );
      expect(err.code, market).toBe('PERMISSION_DENIED');
      expect(err.details?.exchangeCode).toBe('-2015');
    }
    const [position] = await trading.listPositions(request);
    expect((await caught(trading.closePosition(request, position!))).code).toBe('PERMISSION_DENIED');
    // Without "Enable Futures" the key cannot even read futures: Binance's one answer stays ambiguous.
    const spotOnly = await sb.admin.createKey({
      exchange: 'binance',
      owner: SUB,
      permissions: { enableReading: true, enableSpotAndMarginTrading: true },
      ips: [CLIENT_IP],
    });
    const futures = await caught(
      trading.cancelOrders(
        requestFor('binance', spotOnly),
        orders.filter((o) => o.market === 'linear'),
      ),
    );
    expect(futures.code).toBe('KEY_REJECTED');
    // A foreign address is never read as a missing permission.
    await sb.admin.setClientIp(FOREIGN_IP);
    const ip = await caught(
      trading.cancelOrders(
        requestFor('binance', bot),
        orders.filter((o) => o.market === 'spot'),
      ),
    );
    expect(ip.code).toBe('KEY_REJECTED');
    await sb.admin.setClientIp(CLIENT_IP);
    expect(await sb.admin.listOrders({ exchange: 'binance', owner: SUB })).toHaveLength(4);
    expect(await sb.admin.listPositions({ exchange: 'binance', owner: SUB })).toHaveLength(2);
  });

  it('answers of another shape are EXCHANGE_BAD_RESPONSE, never an empty list', async () => {
    await seed();
    const request = requestFor('binance', bot, MARKETS);
    const first = (a: Json) => (Array.isArray(a) ? a[0] : {}) as Json;
    for (const method of ['privateGetOpenOrders', 'sapiGetMarginOpenOrders', 'fapiPrivateGetOpenOrders', 'dapiPrivateGetOpenOrders']) {
      await expectBadAnswers(
        method,
        {
          'an object': replaceWith({ code: 0, msg: 'ok' }),
          'orderId a string': (a) => (first(a).orderId = String(first(a).orderId)),
          'orderId beyond 2^53': (a) => (first(a).orderId = 2 ** 60),
          'side buy': (a) => (first(a).side = 'buy'),
          'no origQty': (a) => delete first(a).origQty,
          'executedQty a number': (a) => (first(a).executedQty = 0),
          'more executed than ordered': (a) => (first(a).executedQty = '99999'),
        },
        () => trading.listOrders(request),
      );
    }
    for (const method of ['fapiPrivateV3GetPositionRisk', 'dapiPrivateGetPositionRisk']) {
      await expectBadAnswers(
        method,
        {
          'positionAmt a number': (a) => (first(a).positionAmt = -0.25),
          'no positionSide': (a) => delete first(a).positionSide,
          'a short on the LONG side': (a) => Object.assign(first(a), { positionSide: 'LONG', positionAmt: '-1' }),
        },
        () => trading.listPositions(request),
      );
    }
    const orders = await trading.listOrders(request);
    await expectBadAnswers('fapiPrivateDeleteAllOpenOrders', { 'no code': (a) => delete a.code, 'a list': replaceWith([]) }, () =>
      trading.cancelOrders(
        request,
        orders.filter((o) => o.market === 'linear'),
      ),
    );
    corrupt('fapiPrivateDeleteAllOpenOrders', (a) => (a.code = 400));
    expect(
      (
        await caught(
          trading.cancelOrders(
            request,
            orders.filter((o) => o.market === 'linear'),
          ),
        )
      ).code,
    ).toBe('EXCHANGE_REFUSED');
    await expectBadAnswers(
      'privateDeleteOpenOrders',
      { 'another symbol': (a) => (first(a).symbol = 'ETHUSDT'), 'an object': replaceWith({ code: 200 }) },
      async () =>
        trading.cancelOrders(
          request,
          (await trading.listOrders(request)).filter((o) => o.market === 'spot'),
        ),
      seed,
    );
    const [p] = await trading.listPositions(request);
    await expectBadAnswers(
      'fapiPrivatePostOrder',
      { 'no orderId': (a) => delete a.orderId, 'another symbol': (a) => (a.symbol = 'ETHUSDT') },
      () => trading.closePosition(request, p!),
      seed,
    );
  });
});

describe('kucoin trading', () => {
  const MAIN = '72000000';
  const SUB = 'kckillsub1';
  const OTHER = 'kckillsub2';
  const trading = kucoinAdapter.trading!;
  let bot: Creds;
  let reader: Creds;

  beforeEach(async () => {
    await sb.admin.createAccount('kucoin', MAIN);
    await sb.admin.createSubaccount('kucoin', MAIN, SUB);
    await sb.admin.createSubaccount('kucoin', MAIN, OTHER);
    bot = await sb.admin.createKey({ exchange: 'kucoin', owner: SUB, permissions: 'General,Spot,Margin,Futures', ips: [CLIENT_IP] });
    reader = await sb.admin.createKey({ exchange: 'kucoin', owner: SUB, permissions: 'General', ips: [CLIENT_IP] });
  });

  /**
   * The sandbox does not serve Get Symbols With Open Order (spot and margin HF): answered here from the sandbox's own
   * state, as KuCoin would answer it; every other call goes to the sandbox.
   */
  function withSymbolsEndpoint(): string[] {
    return intercept(async (method, answer, params) => {
      const open = async (market: 'spot' | 'margin') => [
        ...new Set((await sb.admin.listOrders({ exchange: 'kucoin', owner: SUB })).filter((o) => o.market === market).map((o) => o.symbol)),
      ];
      if (method === 'privateGetHfOrdersActiveSymbols') return { code: '200000', data: { symbols: await open('spot') } };
      if (method === 'privateGetHfMarginOrderActiveSymbols') {
        // The sandbox's margin is cross margin.
        const symbols = params.tradeType === 'MARGIN_TRADE' ? await open('margin') : [];
        return { code: '200000', data: { symbolSize: symbols.length, symbols } };
      }
      return answer();
    });
  }

  async function seed() {
    const seedOrder = (symbol: string, market: 'spot' | 'margin' | 'linear' | 'inverse', qty: string, owner = SUB) =>
      sb.admin.seedOrder({ exchange: 'kucoin', owner, symbol, side: 'sell', market, qty, price: '70000' });
    const lin = await seedOrder('XBTUSDTM', 'linear', '2');
    const inv = await seedOrder('XBTUSDM', 'inverse', '10');
    const spot = await seedOrder('BTC-USDT', 'spot', '0.001');
    const margin = await seedOrder('ETH-USDT', 'margin', '0.5');
    const theirs = await seedOrder('XBTUSDTM', 'linear', '1', OTHER);
    await sb.admin.seedPosition({ exchange: 'kucoin', owner: SUB, symbol: 'XBTUSDTM', side: 'long', size: '3', market: 'linear' });
    await sb.admin.seedPosition({ exchange: 'kucoin', owner: SUB, symbol: 'XBTUSDM', side: 'short', size: '40', market: 'inverse' });
    return { lin, inv, spot, margin, theirs };
  }

  it("lists, cancels and closes with the bot's own key; another sub-account's order stays", async () => {
    const s = await seed();
    withSymbolsEndpoint();
    const request = requestFor('kucoin', bot);
    const orders = await trading.listOrders(request);
    expect(byId(orders)).toEqual(
      byId([
        { id: s.lin.id, symbol: 'XBTUSDTM', market: 'linear', side: 'sell', qty: '2' },
        { id: s.inv.id, symbol: 'XBTUSDM', market: 'inverse', side: 'sell', qty: '10' },
        { id: s.spot.id, symbol: 'BTC-USDT', market: 'spot', side: 'sell', qty: '0.001' },
        { id: s.margin.id, symbol: 'ETH-USDT', market: 'margin', side: 'sell', qty: '0.5' },
      ]),
    );
    const positions = await cancelAndClose('kucoin', trading, request, orders, { sub: SUB, other: OTHER, theirs: s.theirs.id });
    expect(bySymbol(positions)).toEqual([
      { symbol: 'XBTUSDM', market: 'inverse', side: 'short', size: '40' },
      { symbol: 'XBTUSDTM', market: 'linear', side: 'long', size: '3' },
    ]);
  });

  it('futures alone need nothing the sandbox lacks; spot without the symbols endpoint is an error, never "no orders"', async () => {
    const s = await seed();
    const request = requestFor('kucoin', bot, ['linear', 'inverse']);
    expect((await trading.listOrders(request)).map((o) => o.id).sort()).toEqual([s.lin.id, s.inv.id].sort());
    const spot = await caught(trading.listOrders(requestFor('kucoin', bot, ['spot'])));
    expect(spot.code).not.toBe('EXCHANGE_BAD_RESPONSE');
    expect(spot.details?.exchangeCode).toBe('404');
  });

  it('a key without trading cannot cancel or close: PERMISSION_DENIED (400007)', async () => {
    await seed();
    withSymbolsEndpoint();
    const request = requestFor('kucoin', reader);
    const orders = await trading.listOrders(request);
    expect(orders).toHaveLength(4);
    for (const market of ['spot', 'margin', 'linear'] as const) {
      const err = await caught(
        trading.cancelOrders(
          request,
          orders.filter((o) => o.market === market),
        ),
      );
      expect(err.code, market).toBe('PERMISSION_DENIED');
      expect(err.details?.exchangeCode).toBe('400007');
    }
    const [position] = await trading.listPositions(request);
    expect((await caught(trading.closePosition(request, position!))).code).toBe('PERMISSION_DENIED');
    expect(await sb.admin.listOrders({ exchange: 'kucoin', owner: SUB })).toHaveLength(4);
    expect(await sb.admin.listPositions({ exchange: 'kucoin', owner: SUB })).toHaveLength(2);
  });

  it('answers of another shape are EXCHANGE_BAD_RESPONSE, never an empty list', async () => {
    await seed();
    const request = requestFor('kucoin', bot, ['linear', 'inverse']);
    const item = (a: Json) => a.data.items[0];
    await expectBadAnswers(
      'futuresPrivateGetOrders',
      {
        'data a list': (a) => (a.data = a.data.items),
        'no items': (a) => delete a.data.items,
        'no totalPage': (a) => delete a.data.totalPage,
        'no id': (a) => delete item(a).id,
        'side SELL': (a) => (item(a).side = 'SELL'),
        'size missing': (a) => delete item(a).size,
        'size negative': (a) => (item(a).size = -1),
        'filledSize above size': (a) => (item(a).filledSize = 1000),
        'size in exponent form': (a) => (item(a).size = 1e-7),
        'no settleCurrency': (a) => delete item(a).settleCurrency,
        'an order twice': (a) => a.data.items.push(item(a)),
        'more pages than items': (a) => Object.assign(a.data, { totalPage: 99, items: [] }),
      },
      () => trading.listOrders(request),
    );
    await expectBadAnswers(
      'futuresPrivateGetPositions',
      {
        'data an object': (a) => (a.data = {}),
        'currentQty a word': (a) => (a.data[0].currentQty = 'three'),
        'no isInverse': (a) => delete a.data[0].isInverse,
        'a short on the LONG side': (a) => Object.assign(a.data[0], { positionSide: 'LONG', currentQty: -3 }),
      },
      () => trading.listPositions(request),
    );
    const orders = await trading.listOrders(request);
    await expectBadAnswers('futuresPrivateDeleteOrders', { 'no cancelledOrderIds': (a) => (a.data = {}) }, () =>
      trading.cancelOrders(request, orders),
    );
    const [p] = await trading.listPositions(request);
    await expectBadAnswers('futuresPrivatePostOrders', { 'no orderId': (a) => (a.data = {}) }, () => trading.closePosition(request, p!));
    // Spot and margin (HF): the symbols, each symbol's orders, and the "success" of a cancel.
    const spotRequest = requestFor('kucoin', bot, ['spot', 'margin']);
    const hf = async (mutate: (method: string, answer: Json) => void, run: () => Promise<unknown>) => {
      withSymbolsEndpoint();
      const inner = createClient.getMockImplementation()!;
      createClient.mockImplementation(async (...args) => {
        const c = await inner(...args);
        return {
          ...c,
          call: async (m, params, spec) => {
            const copy = structuredClone(await c.call(m, params, spec)) as Json;
            mutate(m, copy);
            return copy;
          },
        };
      });
      expect((await caught(run())).code).toBe('EXCHANGE_BAD_RESPONSE');
    };
    await hf(
      (m, a) => m === 'privateGetHfOrdersActiveSymbols' && delete a.data.symbols,
      () => trading.listOrders(spotRequest),
    );
    await hf(
      (m, a) => m === 'privateGetHfMarginOrderActiveSymbols' && (a.data.symbolSize = 7),
      () => trading.listOrders(spotRequest),
    );
    await hf(
      (m, a) => m === 'privateGetHfOrdersActive' && (a.data[0].symbol = 'ETH-BTC'),
      () => trading.listOrders(spotRequest),
    );
    await hf(
      (m, a) => m === 'privateGetHfOrdersActive' && delete a.data[0].remainSize,
      () => trading.listOrders(spotRequest),
    );
    withSymbolsEndpoint();
    const hfOrders = await trading.listOrders(spotRequest);
    await hf(
      (m, a) => m === 'privateDeleteHfOrders' && (a.data = 'failed'),
      () => trading.cancelOrders(spotRequest, hfOrders),
    );
  });
});

describe('mexc trading (spot)', () => {
  const MAIN = '73000000';
  const SUB = 'mexckillsub1';
  const OTHER = 'mexckillsub2';
  const trading = mexcAdapter.trading!;
  let bot: Creds;
  let reader: Creds;

  beforeEach(async () => {
    await sb.admin.createAccount('mexc', MAIN);
    await sb.admin.createSubaccount('mexc', MAIN, SUB);
    await sb.admin.createSubaccount('mexc', MAIN, OTHER);
    bot = await sb.admin.createKey({
      exchange: 'mexc',
      owner: SUB,
      permissions: 'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE',
      ips: [CLIENT_IP],
    });
    reader = await sb.admin.createKey({ exchange: 'mexc', owner: SUB, permissions: 'SPOT_ACCOUNT_READ,SPOT_DEAL_READ', ips: [CLIENT_IP] });
  });

  async function seed() {
    const seedOrder = (symbol: string, qty: string, owner = SUB) =>
      sb.admin.seedOrder({ exchange: 'mexc', owner, symbol, side: 'sell', market: 'spot', qty, price: '70000' });
    return {
      btc: await seedOrder('BTCUSDT', '0.001'),
      eth: await seedOrder('ETHUSDT', '0.5'),
      theirs: await seedOrder('BTCUSDT', '1', OTHER),
    };
  }

  it("lists and cancels spot orders with the bot's own key; another sub-account's order stays; spot has no positions", async () => {
    const s = await seed();
    const request = requestFor('mexc', bot, ['spot']);
    const orders = await trading.listOrders(request);
    expect(byId(orders)).toEqual(
      byId([
        { id: s.btc.id, symbol: 'BTCUSDT', market: 'spot', side: 'sell', qty: '0.001' },
        { id: s.eth.id, symbol: 'ETHUSDT', market: 'spot', side: 'sell', qty: '0.5' },
      ]),
    );
    await trading.cancelOrders(request, orders);
    expect(await sb.admin.listOrders({ exchange: 'mexc', owner: SUB })).toEqual([]);
    expect((await sb.admin.listOrders({ exchange: 'mexc', owner: OTHER })).map((o) => o.id)).toEqual([s.theirs.id]);
    expect(await trading.listPositions(request)).toEqual([]);
  });

  it('futures are a CAPABILITY_GAP (another API keyctl does not drive), never "no orders"', async () => {
    await seed();
    for (const markets of [['spot', 'linear'], ['linear'], ['margin']] as TradingMarket[][]) {
      expect((await caught(trading.listOrders(requestFor('mexc', bot, markets)))).code).toBe('CAPABILITY_GAP');
      expect((await caught(trading.listPositions(requestFor('mexc', bot, markets)))).code).toBe('CAPABILITY_GAP');
    }
  });

  it('a key without SPOT_DEAL_WRITE cannot cancel: PERMISSION_DENIED (700007)', async () => {
    await seed();
    const request = requestFor('mexc', reader, ['spot']);
    const orders = await trading.listOrders(request);
    expect(orders).toHaveLength(2);
    const err = await caught(trading.cancelOrders(request, orders));
    expect(err.code).toBe('PERMISSION_DENIED');
    expect(err.details?.exchangeCode).toBe('700007');
    expect(await sb.admin.listOrders({ exchange: 'mexc', owner: SUB })).toHaveLength(2);
  });

  it('answers of another shape are EXCHANGE_BAD_RESPONSE, never an empty list', async () => {
    await seed();
    const request = requestFor('mexc', bot, ['spot']);
    await expectBadAnswers(
      'spotPrivateGetOpenOrders',
      {
        'not a list': replaceWith({ orders: [] }),
        'orderId as a number': (a) => (a[0].orderId = 7),
        'side lower-case': (a) => (a[0].side = 'sell'),
        'origQty missing': (a) => delete a[0].origQty,
        'more filled than ordered': (a) => (a[0].executedQty = '5'),
        'an order listed twice': (a) => a.push(a[0]),
      },
      () => trading.listOrders(request),
    );
    const orders = await trading.listOrders(request);
    await expectBadAnswers(
      'spotPrivateDeleteOpenOrders',
      { 'not a list': replaceWith({ code: 200 }), 'an order of another symbol': (a) => (a[0].symbol = 'XRPUSDT') },
      () => trading.cancelOrders(request, orders),
      seed,
    );
  });
});

describe('every automatic exchange offers trading', () => {
  it.each([bybitAdapter, okxAdapter, binanceAdapter, kucoinAdapter, mexcAdapter])('$id', (adapter) => {
    const trading: TradingApi | undefined = adapter.trading;
    expect(trading).toBeDefined();
  });
});

describe('gate trading', () => {
  const MAIN = '73000000';
  const SUB = '73000001';
  const OTHER = '73000002';
  const trading = gateAdapter.trading!;
  const MARKETS: TradingMarket[] = ['spot', 'margin', 'linear', 'inverse'];
  let bot: Creds;
  let reader: Creds;

  beforeEach(async () => {
    await sb.admin.createAccount('gate', MAIN);
    await sb.admin.createSubaccount('gate', MAIN, SUB);
    await sb.admin.createSubaccount('gate', MAIN, OTHER);
    bot = await sb.admin.createKey({ exchange: 'gate', owner: SUB, permissions: { spot: false, futures: false }, ips: [CLIENT_IP] });
    reader = await sb.admin.createKey({ exchange: 'gate', owner: SUB, permissions: { spot: true, futures: true }, ips: [CLIENT_IP] });
  });

  async function seed() {
    const seedOrder = (symbol: string, market: 'spot' | 'margin' | 'linear' | 'inverse', qty: string, owner = SUB) =>
      sb.admin.seedOrder({ exchange: 'gate', owner, symbol, side: 'sell', market, qty, price: '70000' });
    const lin = await seedOrder('BTC_USDT', 'linear', '2');
    const inv = await seedOrder('BTC_USD', 'inverse', '10');
    const spot = await seedOrder('BTC_USDT', 'spot', '0.001');
    const margin = await seedOrder('ETH_USDT', 'margin', '0.5');
    const theirs = await seedOrder('BTC_USDT', 'linear', '1', OTHER);
    await sb.admin.seedPosition({ exchange: 'gate', owner: SUB, symbol: 'BTC_USDT', side: 'long', size: '3', market: 'linear' });
    await sb.admin.seedPosition({ exchange: 'gate', owner: SUB, symbol: 'BTC_USD', side: 'short', size: '40', market: 'inverse' });
    return { lin, inv, spot, margin, theirs };
  }

  it("lists, cancels and closes with the bot's own key; another sub-account's order stays", async () => {
    const s = await seed();
    const request = requestFor('gate', bot, MARKETS);
    const orders = await trading.listOrders(request);
    expect(byId(orders)).toEqual(
      byId([
        { id: s.lin.id, symbol: 'BTC_USDT', market: 'linear', side: 'sell', qty: '2' },
        { id: s.inv.id, symbol: 'BTC_USD', market: 'inverse', side: 'sell', qty: '10' },
        { id: s.spot.id, symbol: 'BTC_USDT', market: 'spot', side: 'sell', qty: '0.001' },
        { id: s.margin.id, symbol: 'ETH_USDT', market: 'margin', side: 'sell', qty: '0.5' },
      ]),
    );
    const positions = await cancelAndClose('gate', trading, request, orders, { sub: SUB, other: OTHER, theirs: s.theirs.id });
    expect(bySymbol(positions)).toEqual([
      { symbol: 'BTC_USD', market: 'inverse', side: 'short', size: '40' },
      { symbol: 'BTC_USDT', market: 'linear', side: 'long', size: '3' },
    ]);
  });

  it('asks only for the markets it is given, and says options must be checked by hand (CAPABILITY_GAP), never "nothing open"', async () => {
    const s = await seed();
    expect((await trading.listOrders(requestFor('gate', bot, ['spot']))).map((o) => o.id)).toEqual([s.spot.id]);
    expect(await trading.listPositions(requestFor('gate', bot, ['spot', 'margin']))).toEqual([]);
    for (const run of [() => trading.listOrders(requestFor('gate', bot)), () => trading.listPositions(requestFor('gate', bot))]) {
      const err = await caught(run());
      expect(err.code).toBe('CAPABILITY_GAP');
      expect(err.message).toContain('options');
      expect(err.hint).toContain("Gate's web UI");
    }
  });

  it('a read-only key cannot cancel or close: PERMISSION_DENIED (READ_ONLY)', async () => {
    await seed();
    const request = requestFor('gate', reader, MARKETS);
    const orders = await trading.listOrders(request);
    expect(orders).toHaveLength(4);
    for (const market of ['spot', 'margin', 'linear'] as const) {
      const err = await caught(
        trading.cancelOrders(
          request,
          orders.filter((o) => o.market === market),
        ),
      );
      expect(err.code, market).toBe('PERMISSION_DENIED');
      expect(err.details?.exchangeCode).toBe('READ_ONLY');
    }
    const [position] = await trading.listPositions(request);
    expect((await caught(trading.closePosition(request, position!))).code).toBe('PERMISSION_DENIED');
    expect(await sb.admin.listOrders({ exchange: 'gate', owner: SUB })).toHaveLength(4);
    expect(await sb.admin.listPositions({ exchange: 'gate', owner: SUB })).toHaveLength(2);
  });

  it('answers of another shape are EXCHANGE_BAD_RESPONSE, never an empty list', async () => {
    await seed();
    const spotRequest = requestFor('gate', bot, ['spot']);
    const futuresRequest = requestFor('gate', bot, ['linear']);
    await expectBadAnswers(
      'privateSpotGetOpenOrders',
      {
        'an object': replaceWith({ orders: [] }),
        'total above the page': (a) => (a[0].total = 5),
        'no orders': (a) => delete a[0].orders,
        'no left': (a) => delete a[0].orders[0].left,
        'left a word': (a) => (a[0].orders[0].left = 'some'),
        'side SELL': (a) => (a[0].orders[0].side = 'SELL'),
        'an order of another account': (a) => (a[0].orders[0].account = 'margin'),
        'an order of another pair': (a) => (a[0].orders[0].currency_pair = 'ETH_USDT'),
        'an order twice': (a) => a.push(structuredClone(a[0])),
      },
      () => trading.listOrders(spotRequest),
    );
    await expectBadAnswers(
      'privateFuturesGetSettleOrders',
      {
        'an object': replaceWith({ orders: [] }),
        'no id': (a) => delete a[0].id,
        'size zero': (a) => (a[0].size = 0),
        'left on the other side': (a) => (a[0].left = -a[0].left),
        'left fractional': (a) => (a[0].left = -1.5),
        'no contract': (a) => delete a[0].contract,
      },
      () => trading.listOrders(futuresRequest),
    );
    await expectBadAnswers(
      'privateFuturesGetSettlePositions',
      {
        'an object': replaceWith({}),
        'size a word': (a) => (a[0].size = 'three'),
        'no mode': (a) => delete a[0].mode,
        'a short in dual_long mode': (a) => Object.assign(a[0], { mode: 'dual_long', size: -3 }),
      },
      () => trading.listPositions(futuresRequest),
    );
    const orders = await trading.listOrders(futuresRequest);
    await expectBadAnswers('privateFuturesDeleteSettleOrders', { 'an object': replaceWith({ cancelled: 1 }) }, () =>
      trading.cancelOrders(futuresRequest, orders),
    );
    const spotOrders = await trading.listOrders(spotRequest);
    await expectBadAnswers('privateSpotDeleteOrders', { 'an object': replaceWith({ cancelled: 1 }) }, () =>
      trading.cancelOrders(spotRequest, spotOrders),
    );
    const [p] = await trading.listPositions(futuresRequest);
    await expectBadAnswers(
      'privateFuturesPostSettleOrders',
      { 'no id': (a) => delete a.id },
      () => trading.closePosition(futuresRequest, p!),
      () => sb.admin.seedPosition({ exchange: 'gate', owner: SUB, symbol: 'BTC_USDT', side: 'long', size: '3', market: 'linear' }),
    );
  });
});
