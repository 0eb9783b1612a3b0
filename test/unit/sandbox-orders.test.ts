/**
 * The sandbox's order and position endpoints through the real ccxt client: per exchange, orders and a position seeded
 * through the admin API are listed by ccxt `fetchOpenOrders` / `fetchPositions`, cancelled by ccxt `cancelAllOrders`
 * (OKX: `cancelOrders`, its only bulk cancel), and the position closed by a reduce-only market `createOrder`. Another
 * sub-account's orders stay; a key without the trade permission, a bad signature and a foreign address are refused
 * with the exchange's codes, which reach ccxt as its error classes.
 *
 * The sandbox serves no market lists, so each client gets its markets through ccxt `setMarkets` (the few fields
 * ccxt's order, position and precision code reads).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ccxt, { type Exchange } from 'ccxt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SandboxAdminError } from '../../src/sandbox/admin-client.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { SandboxExchange } from '../../src/sandbox/state.js';
import { client, errorOf, type Creds } from './sandbox-helpers.js';

const CLIENT_IP = '10.0.0.5';
const FOREIGN_IP = '203.0.113.9';

interface MarketSpec {
  id: string;
  symbol: string;
  type: 'spot' | 'swap';
  linear?: boolean;
  contractSize?: number;
  amount: number;
  price: number;
  margin?: boolean;
}

/** A ccxt market structure with what ccxt's order, position and precision code reads. */
function market(m: MarketSpec): Record<string, unknown> {
  const [pair = '', settle] = m.symbol.split(':');
  const [base = '', quote = ''] = pair.split('/');
  const contract = m.type === 'swap';
  return {
    id: m.id,
    symbol: m.symbol,
    base,
    quote,
    settle: settle ?? null,
    baseId: base,
    quoteId: quote,
    settleId: settle ?? null,
    type: m.type,
    spot: !contract,
    margin: m.margin ?? false,
    swap: contract,
    future: false,
    option: false,
    contract,
    linear: contract ? m.linear !== false : null,
    inverse: contract ? m.linear === false : null,
    subType: contract ? (m.linear === false ? 'inverse' : 'linear') : null,
    contractSize: contract ? (m.contractSize ?? 1) : null,
    active: true,
    taker: 0.001,
    maker: 0.001,
    precision: { amount: m.amount, price: m.price },
    limits: { amount: { min: m.amount, max: undefined }, price: {}, cost: {}, leverage: {} },
    // Binance: ccxt checks the order type against the market's own list.
    info: { orderTypes: ['LIMIT', 'MARKET'] },
  };
}

function ccxtFor(
  exchange: SandboxExchange,
  url: string,
  creds: Creds,
  markets: MarketSpec[],
  options: Record<string, unknown> = {},
): Exchange {
  const ex = client(exchange, url, creds);
  Object.assign(ex.options, options);
  ex.setMarkets(markets.map(market) as never);
  return ex;
}

/** The ids of the orders ccxt lists. */
const ids = (orders: Array<{ id?: string }>) => orders.map((o) => o.id).sort();

describe('sandbox orders and positions: bybit v5 through real ccxt', () => {
  const MAIN = '24700000';
  const SUB = '24700001';
  const OTHER = '24700002';
  const MARKETS: MarketSpec[] = [
    { id: 'BTCUSDT', symbol: 'BTC/USDT:USDT', type: 'swap', amount: 0.001, price: 0.1 },
    { id: 'ETHUSDT', symbol: 'ETH/USDT:USDT', type: 'swap', amount: 0.01, price: 0.01 },
    { id: 'BTCUSDT', symbol: 'BTC/USDT', type: 'spot', amount: 0.000001, price: 0.01 },
  ];
  const TRADER = { ContractTrade: ['Order', 'Position'], Spot: ['SpotTrade'] };
  let sb: RunningSandbox;
  let bot: Creds;
  let reader: Creds;
  let other: Creds;

  beforeAll(async () => {
    sb = await startSandbox({ admin: true, clientIp: CLIENT_IP });
  });
  afterAll(async () => {
    await sb.close();
  });
  beforeEach(async () => {
    await sb.admin.reset();
    await sb.admin.createAccount('bybit', MAIN);
    await sb.admin.createSubaccount('bybit', MAIN, SUB);
    await sb.admin.createSubaccount('bybit', MAIN, OTHER);
    // The master makes the tree a unified trading account (see docs/sandbox.md).
    await sb.admin.createKey({
      exchange: 'bybit',
      owner: MAIN,
      master: true,
      permissions: { Wallet: ['AccountTransfer'], Derivatives: ['DerivativesTrade'] },
      ips: [CLIENT_IP],
    });
    bot = await sb.admin.createKey({ exchange: 'bybit', owner: SUB, permissions: TRADER, ips: [CLIENT_IP] });
    reader = await sb.admin.createKey({ exchange: 'bybit', owner: SUB, permissions: TRADER, ips: [CLIENT_IP], readOnly: true });
    other = await sb.admin.createKey({ exchange: 'bybit', owner: OTHER, permissions: TRADER, ips: [CLIENT_IP] });
  });

  it('lists, cancels and closes with ccxt; another sub-account is untouched', async () => {
    const a = await sb.admin.seedOrder({
      exchange: 'bybit',
      owner: SUB,
      symbol: 'BTCUSDT',
      side: 'buy',
      market: 'linear',
      qty: '0.01',
      price: '50000',
    });
    const b = await sb.admin.seedOrder({
      exchange: 'bybit',
      owner: SUB,
      symbol: 'ETHUSDT',
      side: 'sell',
      market: 'linear',
      qty: '0.1',
      price: '4000',
    });
    const s = await sb.admin.seedOrder({
      exchange: 'bybit',
      owner: SUB,
      symbol: 'BTCUSDT',
      side: 'buy',
      market: 'spot',
      qty: '0.001',
      price: '40000',
    });
    const theirs = await sb.admin.seedOrder({
      exchange: 'bybit',
      owner: OTHER,
      symbol: 'BTCUSDT',
      side: 'sell',
      market: 'linear',
      qty: '1',
      price: '60000',
    });
    await sb.admin.seedPosition({
      exchange: 'bybit',
      owner: SUB,
      symbol: 'BTCUSDT',
      side: 'long',
      size: '0.5',
      market: 'linear',
      entryPrice: '50000',
    });

    const ex = ccxtFor('bybit', sb.url, bot, MARKETS);
    // No symbol: ccxt asks for category linear, settleCoin USDT.
    const open = await ex.fetchOpenOrders();
    expect(ids(open)).toEqual([a.id, b.id].sort());
    expect(open.find((o) => o.id === a.id)).toMatchObject({
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'limit',
      price: 50000,
      amount: 0.01,
      status: 'open',
    });
    expect(ids(await ex.fetchOpenOrders('BTC/USDT'))).toEqual([s.id]);

    await ex.cancelAllOrders();
    expect((await sb.admin.listOrders({ exchange: 'bybit', owner: SUB })).map((o) => o.id)).toEqual([s.id]);
    await ex.cancelAllOrders('BTC/USDT');
    expect(await sb.admin.listOrders({ exchange: 'bybit', owner: SUB })).toEqual([]);
    expect((await sb.admin.listOrders({ exchange: 'bybit', owner: OTHER })).map((o) => o.id)).toEqual([theirs.id]);
    expect(ids(await ccxtFor('bybit', sb.url, other, MARKETS).fetchOpenOrders())).toEqual([theirs.id]);

    const [pos, ...more] = await ex.fetchPositions();
    expect(more).toEqual([]);
    expect(pos).toMatchObject({ symbol: 'BTC/USDT:USDT', side: 'long', contracts: 0.5 });

    // Reduce-only: too large, or the position's own side, is 110017 (InvalidOrder); the exact size closes it.
    const big = await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 0.6, undefined, { reduceOnly: true }));
    expect(big.error).toBeInstanceOf(ccxt.InvalidOrder);
    expect(big.error.message).toContain('"retCode":110017');
    expect((await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'buy', 0.1, undefined, { reduceOnly: true }))).error).toBeInstanceOf(
      ccxt.InvalidOrder,
    );
    await ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 0.2, undefined, { reduceOnly: true });
    expect((await sb.admin.listPositions({ exchange: 'bybit', owner: SUB }))[0]).toMatchObject({ side: 'long', size: '0.3' });
    await ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 0.3, undefined, { reduceOnly: true });
    expect(await sb.admin.listPositions({ exchange: 'bybit', owner: SUB })).toEqual([]);
    expect(await ex.fetchPositions()).toEqual([]);
    const none = await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 0.3, undefined, { reduceOnly: true }));
    expect(none.error.message).toContain('"retCode":110017');
    // A reduce-only limit order needs a position to reduce too.
    expect((await errorOf(ex.createOrder('BTC/USDT:USDT', 'limit', 'sell', 0.1, 70000, { reduceOnly: true }))).error.message).toContain(
      '"retCode":110017',
    );
    // Without reduceOnly a market order would need an order book: refused (10001); a limit order rests.
    expect((await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'buy', 0.1))).error).toBeInstanceOf(ccxt.BadRequest);
    const resting = await ex.createOrder('BTC/USDT:USDT', 'limit', 'buy', 0.1, 30000);
    expect(ids(await ex.fetchOpenOrders('BTC/USDT:USDT'))).toEqual([resting.id]);
  });

  it('refuses a read-only key (10005), a bad signature (10004) and a foreign address (10010)', async () => {
    await sb.admin.seedOrder({
      exchange: 'bybit',
      owner: SUB,
      symbol: 'BTCUSDT',
      side: 'buy',
      market: 'linear',
      qty: '0.01',
      price: '50000',
    });
    await sb.admin.seedPosition({ exchange: 'bybit', owner: SUB, symbol: 'BTCUSDT', side: 'short', size: '1', market: 'linear' });
    const ro = ccxtFor('bybit', sb.url, reader, MARKETS);
    expect(await ro.fetchOpenOrders()).toHaveLength(1);
    const cancel = await errorOf(ro.cancelAllOrders());
    expect(cancel.error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(cancel.error.message).toContain('"retCode":10005');
    expect((await errorOf(ro.createOrder('BTC/USDT:USDT', 'market', 'buy', 1, undefined, { reduceOnly: true }))).error).toBeInstanceOf(
      ccxt.PermissionDenied,
    );
    // A key without ContractTrade cannot trade contracts either.
    const spotOnly = await sb.admin.createKey({ exchange: 'bybit', owner: SUB, permissions: { Spot: ['SpotTrade'] }, ips: [CLIENT_IP] });
    expect((await errorOf(ccxtFor('bybit', sb.url, spotOnly, MARKETS).cancelAllOrders())).error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(await sb.admin.listOrders({ exchange: 'bybit', owner: SUB })).toHaveLength(1);

    const forged = await errorOf(ccxtFor('bybit', sb.url, { ...bot, secret: 'FAKE-other-secret' }, MARKETS).cancelAllOrders());
    expect(forged.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(forged.error.message).toContain('"retCode":10004');

    const ex = ccxtFor('bybit', sb.url, bot, MARKETS);
    await ex.fetchOpenOrders(); // ccxt caches the account mode; the next call is the order endpoint itself
    await sb.admin.setClientIp(FOREIGN_IP);
    const ip = await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'buy', 1, undefined, { reduceOnly: true }));
    expect(ip.error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(ip.error.message).toContain('"retCode":10010');
    await sb.admin.setClientIp(CLIENT_IP);
    expect(await sb.admin.listOrders({ exchange: 'bybit', owner: SUB })).toHaveLength(1);
    expect(await sb.admin.listPositions({ exchange: 'bybit', owner: SUB })).toHaveLength(1);
  });
});

describe('sandbox orders and positions: okx v5 through real ccxt', () => {
  const MAIN = '81000000';
  const SUB = 'okxbotsub1';
  const OTHER = 'okxbotsub2';
  const MARKETS: MarketSpec[] = [
    { id: 'BTC-USDT-SWAP', symbol: 'BTC/USDT:USDT', type: 'swap', contractSize: 0.01, amount: 0.01, price: 0.1 },
    { id: 'ETH-USDT-SWAP', symbol: 'ETH/USDT:USDT', type: 'swap', contractSize: 0.1, amount: 0.01, price: 0.01 },
    { id: 'BTC-USD-SWAP', symbol: 'BTC/USD:BTC', type: 'swap', linear: false, contractSize: 100, amount: 1, price: 0.1 },
    { id: 'BTC-USDT', symbol: 'BTC/USDT', type: 'spot', amount: 0.00000001, price: 0.1 },
  ];
  let sb: RunningSandbox;
  let bot: Creds;
  let reader: Creds;
  let other: Creds;

  beforeAll(async () => {
    sb = await startSandbox({ admin: true, clientIp: CLIENT_IP });
  });
  afterAll(async () => {
    await sb.close();
  });
  beforeEach(async () => {
    await sb.admin.reset();
    await sb.admin.createAccount('okx', MAIN);
    await sb.admin.createSubaccount('okx', MAIN, SUB);
    await sb.admin.createSubaccount('okx', MAIN, OTHER);
    bot = await sb.admin.createKey({ exchange: 'okx', owner: SUB, permissions: 'read_only,trade', ips: [CLIENT_IP] });
    reader = await sb.admin.createKey({ exchange: 'okx', owner: SUB, permissions: 'read_only', ips: [CLIENT_IP] });
    other = await sb.admin.createKey({ exchange: 'okx', owner: OTHER, permissions: 'read_only,trade', ips: [CLIENT_IP] });
  });

  it('lists, cancels and closes with ccxt; another sub-account is untouched', async () => {
    const a = await sb.admin.seedOrder({
      exchange: 'okx',
      owner: SUB,
      symbol: 'BTC-USDT-SWAP',
      side: 'buy',
      market: 'linear',
      qty: 1,
      price: 50000,
    });
    const b = await sb.admin.seedOrder({
      exchange: 'okx',
      owner: SUB,
      symbol: 'ETH-USDT-SWAP',
      side: 'sell',
      market: 'linear',
      qty: 2,
      price: 4000,
    });
    const s = await sb.admin.seedOrder({
      exchange: 'okx',
      owner: SUB,
      symbol: 'BTC-USDT',
      side: 'buy',
      market: 'spot',
      qty: '0.001',
      price: 40000,
    });
    const theirs = await sb.admin.seedOrder({
      exchange: 'okx',
      owner: OTHER,
      symbol: 'BTC-USDT-SWAP',
      side: 'sell',
      market: 'linear',
      qty: 1,
      price: 60000,
    });
    await sb.admin.seedPosition({
      exchange: 'okx',
      owner: SUB,
      symbol: 'BTC-USDT-SWAP',
      side: 'long',
      size: 3,
      market: 'linear',
      entryPrice: 50000,
    });
    await sb.admin.seedPosition({ exchange: 'okx', owner: SUB, symbol: 'BTC-USD-SWAP', side: 'short', size: 5, market: 'inverse' });

    const ex = ccxtFor('okx', sb.url, bot, MARKETS);
    const open = await ex.fetchOpenOrders();
    expect(ids(open)).toEqual([a.id, b.id, s.id].sort());
    expect(open.find((o) => o.id === a.id)).toMatchObject({
      symbol: 'BTC/USDT:USDT',
      side: 'buy',
      type: 'limit',
      price: 50000,
      amount: 1,
      status: 'open',
    });
    expect(ids(await ex.fetchOpenOrders('BTC/USDT:USDT'))).toEqual([a.id]);

    // OKX has no cancel-all for ordinary orders; ccxt cancels by id through cancel-batch-orders.
    expect((await errorOf(ex.cancelAllOrders())).error).toBeInstanceOf(ccxt.NotSupported);
    await ex.cancelOrders([a.id], 'BTC/USDT:USDT');
    await ex.cancelOrders([b.id], 'ETH/USDT:USDT');
    await ex.cancelOrder(s.id, 'BTC/USDT');
    expect(await sb.admin.listOrders({ exchange: 'okx', owner: SUB })).toEqual([]);
    const gone = await errorOf(ex.cancelOrders([a.id], 'BTC/USDT:USDT'));
    expect(gone.error).toBeInstanceOf(ccxt.OrderNotFound);
    expect(gone.error.message).toContain('"sCode":"51400"');
    // Another sub-account's order is not this key's to cancel, nor to see.
    expect((await errorOf(ex.cancelOrders([theirs.id], 'BTC/USDT:USDT'))).error).toBeInstanceOf(ccxt.OrderNotFound);
    expect(ids(await ccxtFor('okx', sb.url, other, MARKETS).fetchOpenOrders())).toEqual([theirs.id]);

    const positions = await ex.fetchPositions();
    expect(positions.map((p) => [p.symbol, p.side, p.contracts]).sort()).toEqual([
      ['BTC/USD:BTC', 'short', 5],
      ['BTC/USDT:USDT', 'long', 3],
    ]);

    // Reduce-only: no position that way is 51169, the position's own side 51170 (no ccxt class: ExchangeError).
    const big = await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 4, undefined, { reduceOnly: true }));
    expect(big.error).toBeInstanceOf(ccxt.ExchangeError);
    expect(big.error.message).toContain('"sCode":"51169"');
    const same = await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'buy', 1, undefined, { reduceOnly: true }));
    expect(same.error.message).toContain('"sCode":"51170"');
    await ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 3, undefined, { reduceOnly: true });
    await ex.createOrder('BTC/USD:BTC', 'market', 'buy', 5, undefined, { reduceOnly: true });
    expect(await sb.admin.listPositions({ exchange: 'okx', owner: SUB })).toEqual([]);
    expect(await ex.fetchPositions()).toEqual([]);
    expect((await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 1, undefined, { reduceOnly: true }))).error.message).toContain(
      '"sCode":"51169"',
    );
    const resting = await ex.createOrder('BTC/USDT:USDT', 'limit', 'buy', 1, 30000);
    expect(ids(await ex.fetchOpenOrders('BTC/USDT:USDT'))).toEqual([resting.id]);
  });

  it('refuses a read-only key (50120), a bad signature (50113) and a foreign address (50110)', async () => {
    const a = await sb.admin.seedOrder({
      exchange: 'okx',
      owner: SUB,
      symbol: 'BTC-USDT-SWAP',
      side: 'buy',
      market: 'linear',
      qty: 1,
      price: 50000,
    });
    await sb.admin.seedPosition({ exchange: 'okx', owner: SUB, symbol: 'BTC-USDT-SWAP', side: 'long', size: 3, market: 'linear' });
    const ro = ccxtFor('okx', sb.url, reader, MARKETS);
    expect(ids(await ro.fetchOpenOrders())).toEqual([a.id]);
    expect(await ro.fetchPositions()).toHaveLength(1);
    // OKX's code for a key without Trade; ccxt 4.5.84 has no class for it.
    const cancel = await errorOf(ro.cancelOrders([a.id], 'BTC/USDT:USDT'));
    expect(cancel.name).toBe('ExchangeError');
    expect(cancel.error.message).toContain('"code":"50120"');
    expect((await errorOf(ro.createOrder('BTC/USDT:USDT', 'market', 'sell', 3, undefined, { reduceOnly: true }))).error.message).toContain(
      '"code":"50120"',
    );
    const forged = await errorOf(
      ccxtFor('okx', sb.url, { ...bot, secret: 'FAKE-other-secret' }, MARKETS).cancelOrders([a.id], 'BTC/USDT:USDT'),
    );
    expect(forged.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(forged.error.message).toContain('"code":"50113"');
    await sb.admin.setClientIp(FOREIGN_IP);
    const ip = await errorOf(
      ccxtFor('okx', sb.url, bot, MARKETS).createOrder('BTC/USDT:USDT', 'market', 'sell', 3, undefined, { reduceOnly: true }),
    );
    expect(ip.error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(ip.error.message).toContain('"code":"50110"');
    await sb.admin.setClientIp(CLIENT_IP);
    expect(await sb.admin.listOrders({ exchange: 'okx', owner: SUB })).toHaveLength(1);
    expect(await sb.admin.listPositions({ exchange: 'okx', owner: SUB })).toHaveLength(1);
  });
});

describe('sandbox orders and positions: binance spot, margin and futures through real ccxt', () => {
  const MAIN = '91000000';
  const SUB = 'bot1_virtual@sandbox.invalid';
  const OTHER = 'bot2_virtual@sandbox.invalid';
  const MARKETS: MarketSpec[] = [
    { id: 'BTCUSDT', symbol: 'BTC/USDT', type: 'spot', amount: 0.00001, price: 0.01, margin: true },
    { id: 'BTCUSDT', symbol: 'BTC/USDT:USDT', type: 'swap', amount: 0.001, price: 0.1 },
    { id: 'BTCUSD_PERP', symbol: 'BTC/USD:BTC', type: 'swap', linear: false, contractSize: 100, amount: 1, price: 0.1 },
  ];
  const TRADER = { enableReading: true, enableSpotAndMarginTrading: true, enableFutures: true };
  let sb: RunningSandbox;
  let bot: Creds;
  let reader: Creds;
  let other: Creds;

  beforeAll(async () => {
    sb = await startSandbox({ admin: true, clientIp: CLIENT_IP });
  });
  afterAll(async () => {
    await sb.close();
  });
  beforeEach(async () => {
    await sb.admin.reset();
    await sb.admin.createAccount('binance', MAIN);
    await sb.admin.createSubaccount('binance', MAIN, SUB);
    await sb.admin.createSubaccount('binance', MAIN, OTHER);
    bot = await sb.admin.createKey({ exchange: 'binance', owner: SUB, permissions: TRADER, ips: [CLIENT_IP] });
    // Reading only: no "Enable Spot & Margin Trading"; futures enabled but the key is read-only.
    reader = await sb.admin.createKey({
      exchange: 'binance',
      owner: SUB,
      permissions: { enableReading: true, enableFutures: true },
      ips: [CLIENT_IP],
      readOnly: true,
    });
    other = await sb.admin.createKey({ exchange: 'binance', owner: OTHER, permissions: TRADER, ips: [CLIENT_IP] });
  });

  it('lists, cancels and closes with ccxt; another sub-account is untouched', async () => {
    const seed = (symbol: string, market: 'spot' | 'margin' | 'linear' | 'inverse', owner = SUB) =>
      sb.admin.seedOrder({ exchange: 'binance', owner, symbol, side: 'buy', market, qty: market === 'inverse' ? 2 : '0.01', price: 50000 });
    const spot = await seed('BTCUSDT', 'spot');
    const margin = await seed('BTCUSDT', 'margin');
    const lin1 = await seed('BTCUSDT', 'linear');
    const lin2 = await seed('BTCUSDT', 'linear');
    const inv = await seed('BTCUSD_PERP', 'inverse');
    const theirs = await seed('BTCUSDT', 'linear', OTHER);
    await sb.admin.seedPosition({
      exchange: 'binance',
      owner: SUB,
      symbol: 'BTCUSDT',
      side: 'short',
      size: '0.25',
      market: 'linear',
      entryPrice: 50000,
    });
    await sb.admin.seedPosition({
      exchange: 'binance',
      owner: SUB,
      symbol: 'BTCUSD_PERP',
      side: 'long',
      size: 7,
      market: 'inverse',
      entryPrice: 50000,
    });

    const ex = ccxtFor('binance', sb.url, bot, MARKETS);
    expect(ids(await ex.fetchOpenOrders('BTC/USDT'))).toEqual([spot.id]);
    expect(ids(await ex.fetchOpenOrders('BTC/USDT', undefined, undefined, { type: 'margin' }))).toEqual([margin.id]);
    const linear = await ex.fetchOpenOrders('BTC/USDT:USDT');
    expect(ids(linear)).toEqual([lin1.id, lin2.id].sort());
    expect(linear[0]).toMatchObject({ symbol: 'BTC/USDT:USDT', side: 'buy', type: 'limit', price: 50000, amount: 0.01, status: 'open' });
    expect(ids(await ex.fetchOpenOrders('BTC/USD:BTC'))).toEqual([inv.id]);

    // Binance cancels per symbol and per API: spot, margin, USDⓈ-M, COIN-M.
    await ex.cancelAllOrders('BTC/USDT:USDT');
    await ex.cancelAllOrders('BTC/USD:BTC');
    await ex.cancelAllOrders('BTC/USDT');
    await ex.cancelAllOrders('BTC/USDT', { type: 'margin' });
    expect(await sb.admin.listOrders({ exchange: 'binance', owner: SUB })).toEqual([]);
    // Nothing left on spot: Binance answers -2011 (OrderNotFound); futures answers code 200 either way.
    expect((await errorOf(ex.cancelAllOrders('BTC/USDT'))).error).toBeInstanceOf(ccxt.OrderNotFound);
    await ex.cancelAllOrders('BTC/USDT:USDT');
    expect(ids(await ccxtFor('binance', sb.url, other, MARKETS).fetchOpenOrders('BTC/USDT:USDT'))).toEqual([theirs.id]);

    const [lin, ...more] = await ex.fetchPositions();
    expect(more).toEqual([]);
    expect(lin).toMatchObject({ symbol: 'BTC/USDT:USDT', side: 'short', contracts: 0.25 });
    const [inverse] = await ex.fetchPositions(undefined, { subType: 'inverse' });
    expect(inverse).toMatchObject({ symbol: 'BTC/USD:BTC', side: 'long', contracts: 7 });

    // Reduce-only: too large, or the position's side, is -2022. ccxt maps it to InvalidOrder only for a fapi.binance.com
    // URL (getExceptionsByUrl); at the sandbox's address it is a plain ExchangeError.
    const big = await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'buy', 0.3, undefined, { reduceOnly: true }));
    expect(big.name).toBe('ExchangeError');
    expect(big.error.message).toContain('"code":-2022,"msg":"ReduceOnly Order is rejected."');
    expect(
      (await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 0.1, undefined, { reduceOnly: true }))).error.message,
    ).toContain('"code":-2022');
    const closed = await ex.createOrder('BTC/USDT:USDT', 'market', 'buy', 0.25, undefined, { reduceOnly: true });
    expect(closed).toMatchObject({ status: 'closed', filled: 0.25, reduceOnly: true });
    await ex.createOrder('BTC/USD:BTC', 'market', 'sell', 7, undefined, { reduceOnly: true });
    expect(await sb.admin.listPositions({ exchange: 'binance', owner: SUB })).toEqual([]);
    expect(await ex.fetchPositions()).toEqual([]);
    expect((await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'buy', 0.1, undefined, { reduceOnly: true }))).error.message).toContain(
      '"code":-2022',
    );
    const resting = await ex.createOrder('BTC/USDT', 'limit', 'buy', 0.01, 30000);
    expect(ids(await ex.fetchOpenOrders('BTC/USDT'))).toEqual([resting.id]);
  });

  it('refuses a key without trading (-2015), a bad signature (-1022) and a foreign address (-2015)', async () => {
    await sb.admin.seedOrder({
      exchange: 'binance',
      owner: SUB,
      symbol: 'BTCUSDT',
      side: 'buy',
      market: 'spot',
      qty: '0.01',
      price: 50000,
    });
    await sb.admin.seedOrder({
      exchange: 'binance',
      owner: SUB,
      symbol: 'BTCUSDT',
      side: 'buy',
      market: 'linear',
      qty: '0.01',
      price: 50000,
    });
    await sb.admin.seedPosition({ exchange: 'binance', owner: SUB, symbol: 'BTCUSDT', side: 'long', size: 1, market: 'linear' });
    // A fresh instance each time: after one successful private call ccxt reports -2015 as DDoSProtection.
    const ro = () => ccxtFor('binance', sb.url, reader, MARKETS);
    const spot = await errorOf(ro().cancelAllOrders('BTC/USDT'));
    expect(spot.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(spot.error.message).toContain('"code":-2015');
    expect((await errorOf(ro().cancelAllOrders('BTC/USDT:USDT'))).error).toBeInstanceOf(ccxt.AuthenticationError);
    expect((await errorOf(ro().createOrder('BTC/USDT:USDT', 'market', 'sell', 1, undefined, { reduceOnly: true }))).error).toBeInstanceOf(
      ccxt.AuthenticationError,
    );
    expect(await ro().fetchOpenOrders('BTC/USDT:USDT')).toHaveLength(1);
    // A key without "Enable Futures" cannot even read futures.
    const spotOnly = await sb.admin.createKey({
      exchange: 'binance',
      owner: SUB,
      permissions: { enableReading: true, enableSpotAndMarginTrading: true },
      ips: [CLIENT_IP],
    });
    expect((await errorOf(ccxtFor('binance', sb.url, spotOnly, MARKETS).fetchPositions())).error).toBeInstanceOf(ccxt.AuthenticationError);

    const forged = await errorOf(
      ccxtFor('binance', sb.url, { ...bot, secret: 'FAKE-other-secret' }, MARKETS).cancelAllOrders('BTC/USDT:USDT'),
    );
    expect(forged.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(forged.error.message).toContain('"code":-1022');
    await sb.admin.setClientIp(FOREIGN_IP);
    const ip = await errorOf(ccxtFor('binance', sb.url, bot, MARKETS).cancelAllOrders('BTC/USDT'));
    expect(ip.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(ip.error.message).toContain('"code":-2015');
    await sb.admin.setClientIp(CLIENT_IP);
    expect(await sb.admin.listOrders({ exchange: 'binance', owner: SUB })).toHaveLength(2);
    expect(await sb.admin.listPositions({ exchange: 'binance', owner: SUB })).toHaveLength(1);
  });
});

describe('sandbox orders and positions: kucoin spot (HF) and futures through real ccxt', () => {
  const MAIN = '71000000';
  const SUB = 'kcbotsub1';
  const OTHER = 'kcbotsub2';
  const MARKETS: MarketSpec[] = [
    { id: 'BTC-USDT', symbol: 'BTC/USDT', type: 'spot', amount: 0.00000001, price: 0.1, margin: true },
    { id: 'XBTUSDTM', symbol: 'BTC/USDT:USDT', type: 'swap', contractSize: 0.001, amount: 1, price: 0.1 },
    { id: 'XBTUSDM', symbol: 'BTC/USD:BTC', type: 'swap', linear: false, contractSize: 1, amount: 1, price: 0.1 },
  ];
  let sb: RunningSandbox;
  let bot: Creds;
  let reader: Creds;
  let other: Creds;

  /** A ccxt kucoin that, as after loadMarkets, has asked the sandbox whether the account uses the HF endpoints. */
  async function kucoin(creds: Creds): Promise<Exchange> {
    const ex = ccxtFor('kucoin', sb.url, creds, MARKETS);
    await (ex as unknown as { loadMigrationStatus(): Promise<unknown> }).loadMigrationStatus();
    expect(ex.options.hf).toBe(true);
    return ex;
  }

  beforeAll(async () => {
    sb = await startSandbox({ admin: true, clientIp: CLIENT_IP });
  });
  afterAll(async () => {
    await sb.close();
  });
  beforeEach(async () => {
    await sb.admin.reset();
    await sb.admin.createAccount('kucoin', MAIN);
    await sb.admin.createSubaccount('kucoin', MAIN, SUB);
    await sb.admin.createSubaccount('kucoin', MAIN, OTHER);
    bot = await sb.admin.createKey({ exchange: 'kucoin', owner: SUB, permissions: 'General,Spot,Futures', ips: [CLIENT_IP] });
    reader = await sb.admin.createKey({ exchange: 'kucoin', owner: SUB, permissions: 'General', ips: [CLIENT_IP] });
    other = await sb.admin.createKey({ exchange: 'kucoin', owner: OTHER, permissions: 'General,Spot,Futures', ips: [CLIENT_IP] });
  });

  it('lists, cancels and closes with ccxt; another sub-account is untouched', async () => {
    const spot = await sb.admin.seedOrder({
      exchange: 'kucoin',
      owner: SUB,
      symbol: 'BTC-USDT',
      side: 'buy',
      market: 'spot',
      qty: '0.001',
      price: 40000,
    });
    const f1 = await sb.admin.seedOrder({
      exchange: 'kucoin',
      owner: SUB,
      symbol: 'XBTUSDTM',
      side: 'buy',
      market: 'linear',
      qty: 2,
      price: 50000,
    });
    const f2 = await sb.admin.seedOrder({
      exchange: 'kucoin',
      owner: SUB,
      symbol: 'XBTUSDM',
      side: 'sell',
      market: 'inverse',
      qty: 10,
      price: 70000,
    });
    const theirs = await sb.admin.seedOrder({
      exchange: 'kucoin',
      owner: OTHER,
      symbol: 'XBTUSDTM',
      side: 'sell',
      market: 'linear',
      qty: 1,
      price: 60000,
    });
    await sb.admin.seedPosition({
      exchange: 'kucoin',
      owner: SUB,
      symbol: 'XBTUSDTM',
      side: 'long',
      size: 3,
      market: 'linear',
      entryPrice: 50000,
    });

    const ex = await kucoin(bot);
    expect(ids(await ex.fetchOpenOrders('BTC/USDT'))).toEqual([spot.id]);
    const linear = await ex.fetchOpenOrders('BTC/USDT:USDT');
    expect(ids(linear)).toEqual([f1.id]);
    expect(linear[0]).toMatchObject({ symbol: 'BTC/USDT:USDT', side: 'buy', type: 'limit', price: 50000, amount: 2, status: 'open' });
    expect(ids(await ex.fetchOpenOrders(undefined, undefined, undefined, { type: 'swap' }))).toEqual([f1.id, f2.id].sort());

    await ex.cancelAllOrders(undefined, { type: 'swap' });
    await ex.cancelAllOrders('BTC/USDT');
    expect(await sb.admin.listOrders({ exchange: 'kucoin', owner: SUB })).toEqual([]);
    // Without a symbol ccxt cancels every HF spot order.
    const s2 = await ex.createOrder('BTC/USDT', 'limit', 'sell', 0.002, 90000);
    expect(ids(await ex.fetchOpenOrders('BTC/USDT'))).toEqual([s2.id]);
    await ex.cancelAllOrders();
    expect(await sb.admin.listOrders({ exchange: 'kucoin', owner: SUB })).toEqual([]);
    expect(ids(await (await kucoin(other)).fetchOpenOrders('BTC/USDT:USDT'))).toEqual([theirs.id]);

    const [pos, ...more] = await ex.fetchPositions();
    expect(more).toEqual([]);
    expect(pos).toMatchObject({ symbol: 'BTC/USDT:USDT', side: 'long', contracts: 3 });

    // A reduce-only order on the position's own side has nothing to reduce: 300009 (InvalidOrder).
    const same = await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'buy', 1, undefined, { reduceOnly: true }));
    expect(same.error).toBeInstanceOf(ccxt.InvalidOrder);
    expect(same.error.message).toContain('"code":"300009"');
    await ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 1, undefined, { reduceOnly: true });
    expect((await sb.admin.listPositions({ exchange: 'kucoin', owner: SUB }))[0]).toMatchObject({ size: '2' });
    // KuCoin cancels the excess of a reduce-only order ("the extra size will be canceled"): 5 lots close the 2 left.
    await ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 5, undefined, { reduceOnly: true });
    expect(await sb.admin.listPositions({ exchange: 'kucoin', owner: SUB })).toEqual([]);
    expect(await ex.fetchPositions()).toEqual([]);
    const none = await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'sell', 1, undefined, { reduceOnly: true }));
    expect(none.error).toBeInstanceOf(ccxt.InvalidOrder);
    expect(none.error.message).toContain('"msg":"No open positions to close."');
  });

  it('refuses a key without trading (400007), a bad signature (400005) and a foreign address (400006)', async () => {
    await sb.admin.seedOrder({ exchange: 'kucoin', owner: SUB, symbol: 'XBTUSDTM', side: 'buy', market: 'linear', qty: 2, price: 50000 });
    await sb.admin.seedOrder({
      exchange: 'kucoin',
      owner: SUB,
      symbol: 'BTC-USDT',
      side: 'buy',
      market: 'spot',
      qty: '0.001',
      price: 40000,
    });
    await sb.admin.seedPosition({ exchange: 'kucoin', owner: SUB, symbol: 'XBTUSDTM', side: 'short', size: 3, market: 'linear' });
    const ro = await kucoin(reader);
    expect(await ro.fetchOpenOrders('BTC/USDT:USDT')).toHaveLength(1);
    expect(await ro.fetchPositions()).toHaveLength(1);
    const cancel = await errorOf(ro.cancelAllOrders(undefined, { type: 'swap' }));
    expect(cancel.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(cancel.error.message).toContain('"code":"400007"');
    expect((await errorOf(ro.cancelAllOrders('BTC/USDT'))).error.message).toContain('"code":"400007"');
    expect((await errorOf(ro.createOrder('BTC/USDT:USDT', 'market', 'buy', 3, undefined, { reduceOnly: true }))).error.message).toContain(
      '"code":"400007"',
    );
    // The account mode ccxt would otherwise ask first is set, so that the refused request is the order endpoint itself.
    const forged = ccxtFor('kucoin', sb.url, { ...bot, secret: 'FAKE-other-secret' }, MARKETS, { hf: true, uta: false });
    const sig = await errorOf(forged.cancelAllOrders(undefined, { type: 'swap' }));
    expect(sig.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(sig.error.message).toContain('"code":"400005"');
    const ex = await kucoin(bot);
    await ex.fetchPositions(); // ccxt caches the account mode; the next call is the order endpoint itself
    await sb.admin.setClientIp(FOREIGN_IP);
    const ip = await errorOf(ex.createOrder('BTC/USDT:USDT', 'market', 'buy', 3, undefined, { reduceOnly: true }));
    expect(ip.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(ip.error.message).toContain('"code":"400006"');
    await sb.admin.setClientIp(CLIENT_IP);
    expect(await sb.admin.listOrders({ exchange: 'kucoin', owner: SUB })).toHaveLength(2);
    expect(await sb.admin.listPositions({ exchange: 'kucoin', owner: SUB })).toHaveLength(1);
  });
});

describe('sandbox orders and positions: admin API and state file', () => {
  it('seeds, lists and persists orders and positions; refuses malformed seeds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyctl-sandbox-orders-'));
    const file = join(dir, 'state.json');
    try {
      const sb = await startSandbox({ admin: true, stateFile: file });
      await sb.admin.createAccount('okx', '81000001');
      const sub = await sb.admin.createSubaccount('okx', '81000001', 'persisted');
      const order = await sb.admin.seedOrder({
        exchange: 'okx',
        owner: sub.id,
        symbol: 'BTC-USDT-SWAP',
        side: 'sell',
        market: 'linear',
        qty: '2.50',
        price: '61000.0',
      });
      expect(order).toMatchObject({ owner: 'persisted', type: 'limit', qty: '2.5', price: '61000', market: 'linear' });
      expect(order.id).toMatch(/^\d{18}$/);
      // A main account holds orders and positions of its own too.
      await sb.admin.seedPosition({
        exchange: 'okx',
        owner: '81000001',
        symbol: 'BTC-USD-SWAP',
        side: 'short',
        size: 4,
        market: 'inverse',
      });
      // A second position in the same symbol replaces the first (one-way mode).
      await sb.admin.seedPosition({ exchange: 'okx', owner: sub.id, symbol: 'BTC-USDT-SWAP', side: 'long', size: 1, market: 'linear' });
      await sb.admin.seedPosition({ exchange: 'okx', owner: sub.id, symbol: 'BTC-USDT-SWAP', side: 'short', size: 2, market: 'linear' });
      expect(await sb.admin.listPositions({ owner: sub.id })).toEqual([expect.objectContaining({ side: 'short', size: '2' })]);
      const bad = async (p: Promise<unknown>, message: RegExp) => {
        const e = await errorOf(p);
        expect(e.error).toBeInstanceOf(SandboxAdminError);
        expect(e.error.message).toMatch(message);
      };
      await bad(
        sb.admin.seedOrder({ exchange: 'okx', owner: 'nobody', symbol: 'X', side: 'buy', market: 'spot', qty: 1 }),
        /no main account or sub-account nobody/,
      );
      await bad(
        sb.admin.seedOrder({ exchange: 'okx', owner: sub.id, symbol: 'X', side: 'buy', market: 'futures' as never, qty: 1 }),
        /market must be one of/,
      );
      await bad(
        sb.admin.seedOrder({ exchange: 'okx', owner: sub.id, symbol: 'X', side: 'buy', market: 'spot', qty: '-1' }),
        /qty must be a positive decimal/,
      );
      await bad(
        sb.admin.seedOrder({ exchange: 'okx', owner: sub.id, symbol: 'X', side: 'buy', market: 'spot', qty: 1, type: 'limit' }),
        /needs a price/,
      );
      await bad(
        sb.admin.seedPosition({ exchange: 'okx', owner: sub.id, symbol: 'X', side: 'long', size: 1, market: 'spot' as never }),
        /market must be one of linear, inverse/,
      );
      await sb.close();

      const again = await startSandbox({ admin: true, stateFile: file });
      expect((await again.admin.listOrders({ exchange: 'okx' })).map((o) => o.id)).toEqual([order.id]);
      expect(await again.admin.listPositions({ exchange: 'okx' })).toHaveLength(2);
      await again.admin.reset();
      expect(await again.admin.listOrders()).toEqual([]);
      expect(await again.admin.listPositions()).toEqual([]);
      await again.close();

      // A state file from before orders existed loads, with none.
      const old = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      delete old.orders;
      delete old.positions;
      writeFileSync(file, JSON.stringify(old));
      const older = await startSandbox({ admin: true, stateFile: file });
      expect(await older.admin.listOrders()).toEqual([]);
      await older.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
