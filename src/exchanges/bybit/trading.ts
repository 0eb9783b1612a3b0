/**
 * Bybit v5 orders and positions, for the kill's trading steps (src/app/kill-trading.ts), signed with the bot's own key.
 * Only ccxt's implicit endpoint methods are used (one request each, no market list: ccxt.ts), and every answer is
 * parsed against its documented shape: an answer of another shape is EXCHANGE_BAD_RESPONSE, never "no orders".
 *
 * Categories: `spot` holds spot and margin orders (a margin order is a spot order with `isLeverage` "1"), `linear`
 * (USDT and USDC settled), `inverse`, and `option` (unified trading accounts only: a classic account has none, which
 * Get Account Info tells). A key without the category's trade permission, or a read-only key, gets 10005
 * (PERMISSION_DENIED through the descriptor).
 */
import * as v from 'valibot';
import { decimal, everyOne, isZero, nonEmpty } from '../trading-kit.js';
import { ExchangeError } from '@keyctl/client/errors';
import { createClient, type ExchangeClient } from '../ccxt.js';
import { badAnswer, obj, parseAnswer, repeats } from '../normalize.js';
import type { OpenOrder, OpenPosition, TradingApi, TradingMarket, TradingRequest } from '../types.js';

type Category = 'spot' | 'linear' | 'inverse' | 'option';

/** Bybit's linear settle coins: "settleCoin: USDT, USDC" (open-order, position pages). */
const LINEAR_SETTLE_COINS = ['USDT', 'USDC'] as const;
/** Most pages keyctl reads of one listing before it calls the answer unreadable (50 orders or 200 positions a page). */
const MAX_PAGES = 50;

/**
 * Get Open & Closed Orders, `GET /v5/order/realtime` (https://bybit-exchange.github.io/docs/v5/order/open-order):
 * `result: {category, list, nextPageCursor}`. Read: `orderId`, `symbol`, `side` Buy/Sell, `leavesQty` (what is left
 * to fill) and, for spot, `isLeverage` ("0" spot, "1" margin: it decides the market, so it must be one of them).
 */
const openOrderSchema = v.looseObject({
  orderId: nonEmpty,
  symbol: nonEmpty,
  side: v.picklist(['Buy', 'Sell']),
  leavesQty: decimal,
  isLeverage: v.optional(v.string()),
});
const openOrdersSchema = v.looseObject({
  category: v.optional(v.string()),
  list: v.array(openOrderSchema),
  nextPageCursor: v.string(),
});

/**
 * Get Position Info, `GET /v5/position/list` (https://bybit-exchange.github.io/docs/v5/position): `result: {category,
 * list, nextPageCursor}`; each entry `symbol`, `side` Buy/Sell ("" for an empty position), `size` (positive) and
 * `positionIdx` (0 one-way, 1 hedge buy side, 2 hedge sell side), which a closing order must repeat.
 */
const positionSchema = v.looseObject({
  symbol: nonEmpty,
  side: v.string(),
  size: decimal,
  positionIdx: v.picklist([0, 1, 2]),
});
const positionsSchema = v.looseObject({
  category: v.optional(v.string()),
  list: v.array(positionSchema),
  nextPageCursor: v.string(),
});

/**
 * Cancel All Orders, `POST /v5/order/cancel-all` (https://bybit-exchange.github.io/docs/v5/order/cancel-all):
 * `result: {list: [{orderId, orderLinkId}], success}`, `success` "1" success, "0" fail.
 */
const cancelAllSchema = v.looseObject({
  list: v.array(v.looseObject({ orderId: v.string() })),
  success: v.optional(v.string()),
});

/** Place Order, `POST /v5/order/create` (https://bybit-exchange.github.io/docs/v5/order/create-order): `{orderId, orderLinkId}`. */
const createdSchema = v.looseObject({ orderId: nonEmpty });

/**
 * Get Account Info, `GET /v5/account/info` (https://bybit-exchange.github.io/docs/v5/account/account-info):
 * `unifiedMarginStatus` 1 classic account, 3-6 unified trading account.
 */
const accountInfoSchema = v.looseObject({ unifiedMarginStatus: v.pipe(v.number(), v.safeInteger()) });
const CLASSIC = 1;

function resultOf(answer: unknown): unknown {
  return obj(answer).result;
}

/** Whether the account has options at all: a classic account has no `option` category (open-order and position pages). */
async function hasOptions(client: ExchangeClient): Promise<boolean> {
  const answer = await client.call('privateGetV5AccountInfo', {}, { action: 'reading the account mode' });
  const info = parseAnswer(accountInfoSchema, resultOf(answer), 'bybit', 'account/info');
  return info.unifiedMarginStatus !== CLASSIC;
}

/** The queries that cover `markets`: linear needs a settle coin (or a symbol) on both listings. */
async function queries(client: ExchangeClient, markets: readonly TradingMarket[], kind: 'orders' | 'positions') {
  const out: Array<{ category: Category; params: Record<string, unknown> }> = [];
  const wants = (m: TradingMarket) => markets.includes(m);
  if (kind === 'orders' && (wants('spot') || wants('margin'))) out.push({ category: 'spot', params: {} });
  if (wants('linear')) for (const settleCoin of LINEAR_SETTLE_COINS) out.push({ category: 'linear', params: { settleCoin } });
  if (wants('inverse')) out.push({ category: 'inverse', params: {} });
  if (wants('option') && (await hasOptions(client))) out.push({ category: 'option', params: {} });
  return out;
}

/** Reads a cursor-paged listing to its end; an endless or contradictory one is an answer keyctl cannot read. */
async function pages<T>(
  endpoint: string,
  fetchPage: (cursor: string | undefined) => Promise<{ list: T[]; nextPageCursor?: string | undefined }>,
): Promise<T[]> {
  const out: T[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; ; page++) {
    if (page === MAX_PAGES) badAnswer('bybit', endpoint, `nextPageCursor: the listing did not end after ${MAX_PAGES} pages`);
    const r = await fetchPage(cursor);
    out.push(...r.list);
    cursor = r.nextPageCursor;
    if (!cursor) return out;
    if (r.list.length === 0) badAnswer('bybit', endpoint, 'nextPageCursor: an empty page that is not the last');
    if (seen.has(cursor)) badAnswer('bybit', endpoint, 'nextPageCursor: a cursor came back twice');
    seen.add(cursor);
  }
}

function checkCategory(answered: string | undefined, asked: Category, endpoint: string): void {
  if (answered !== undefined && answered !== '' && answered !== asked) badAnswer('bybit', endpoint, `category: not the category asked for`);
}

/** The open orders of one category answer, as keyctl reads them. Exported for the answer-shape tests. */
export function parseBybitOpenOrders(result: unknown, category: Category): { orders: OpenOrder[]; nextPageCursor: string } {
  const endpoint = 'order/realtime';
  const r = parseAnswer(openOrdersSchema, result, 'bybit', endpoint);
  checkCategory(r.category, category, endpoint);
  const orders = r.list.map((o): OpenOrder => {
    let market: TradingMarket = category;
    if (category === 'spot') {
      if (o.isLeverage !== '0' && o.isLeverage !== '1') badAnswer('bybit', endpoint, 'list.isLeverage: expected "0" or "1" for spot');
      market = o.isLeverage === '1' ? 'margin' : 'spot';
    }
    return { id: o.orderId, symbol: o.symbol, market, side: o.side === 'Buy' ? 'buy' : 'sell', qty: o.leavesQty };
  });
  return { orders, nextPageCursor: r.nextPageCursor };
}

interface LivePosition extends OpenPosition {
  positionIdx: 0 | 1 | 2;
}

/** The positions with a size in one category answer. Exported for the answer-shape tests. */
export function parseBybitPositions(
  result: unknown,
  category: 'linear' | 'inverse' | 'option',
): { positions: LivePosition[]; nextPageCursor: string } {
  const endpoint = 'position/list';
  const r = parseAnswer(positionsSchema, result, 'bybit', endpoint);
  checkCategory(r.category, category, endpoint);
  const positions: LivePosition[] = [];
  for (const p of r.list) {
    if (isZero(p.size)) continue;
    // A position with a size has a side; anything else is an answer keyctl cannot close from.
    if (p.side !== 'Buy' && p.side !== 'Sell') badAnswer('bybit', endpoint, 'list.side: expected Buy or Sell for a position with a size');
    positions.push({
      symbol: p.symbol,
      market: category,
      side: p.side === 'Buy' ? 'long' : 'short',
      size: p.size,
      positionIdx: p.positionIdx,
    });
  }
  return { positions, nextPageCursor: r.nextPageCursor };
}

async function readPositions(client: ExchangeClient, category: 'linear' | 'inverse' | 'option', params: Record<string, unknown>) {
  return pages('position/list', async (cursor) => {
    const answer = await client.call(
      'privateGetV5PositionList',
      { category, limit: 200, ...params, ...(cursor ? { cursor } : {}) },
      { action: 'listing positions' },
    );
    const r = parseBybitPositions(resultOf(answer), category);
    return { list: r.positions, nextPageCursor: r.nextPageCursor };
  });
}

export const bybitTrading: TradingApi = {
  async listOrders(request: TradingRequest): Promise<OpenOrder[]> {
    const client = await createClient(request.account, request.key, request);
    const orders: OpenOrder[] = [];
    for (const q of await queries(client, request.markets, 'orders')) {
      const found = await pages('order/realtime', async (cursor) => {
        const answer = await client.call(
          'privateGetV5OrderRealtime',
          { category: q.category, openOnly: 0, limit: 50, ...q.params, ...(cursor ? { cursor } : {}) },
          { action: 'listing open orders' },
        );
        const r = parseBybitOpenOrders(resultOf(answer), q.category);
        return { list: r.orders, nextPageCursor: r.nextPageCursor };
      });
      orders.push(...found.filter((o) => request.markets.includes(o.market)));
    }
    // The same order twice (on two pages, or under two settle coins): a listing that contradicts itself.
    if (repeats(orders.map((o) => o.id)) > 0) badAnswer('bybit', 'order/realtime', 'orderId: an order listed twice');
    return orders;
  },

  async cancelOrders(request: TradingRequest, orders: readonly OpenOrder[]): Promise<void> {
    if (orders.length === 0) return;
    const client = await createClient(request.account, request.key, request);
    // Spot (with margin) and option: one cancel-all for the whole category. Linear and inverse need a symbol, base coin
    // or settle coin ("for linear and inverse, you must specify one of them"): linear one call per settle coin, as it is
    // listed (a symbol does not reliably name its settle coin); inverse one call per symbol. ccxt spaces cancel-all
    // calls a second apart (Bybit's limit), so fewer calls is a faster kill.
    const calls = new Map<string, Record<string, unknown>>();
    for (const o of orders) {
      const category: Category = o.market === 'margin' ? 'spot' : o.market;
      if (category === 'spot' || category === 'option') {
        calls.set(category, { category });
      } else if (category === 'linear') {
        for (const settleCoin of LINEAR_SETTLE_COINS) calls.set(`linear ${settleCoin}`, { category, settleCoin });
      } else {
        calls.set(`${category} ${o.symbol}`, { category, symbol: o.symbol });
      }
    }
    await everyOne(
      [...calls.values()].map((params) => async () => {
        const answer = await client.call('privatePostV5OrderCancelAll', params, { action: 'cancelling open orders' });
        const r = parseAnswer(cancelAllSchema, resultOf(answer), 'bybit', 'order/cancel-all');
        if (r.success !== undefined && r.success !== '1') {
          throw new ExchangeError(
            'EXCHANGE_REFUSED',
            `bybit did not cancel the ${String(params.category)} orders (success "${r.success}").`,
            {
              details: { exchange: 'bybit', endpoint: 'order/cancel-all', ...params },
              hint: "Check the bot's open orders in Bybit's web UI and cancel them there.",
            },
          );
        }
      }),
    );
  },

  async listPositions(request: TradingRequest): Promise<OpenPosition[]> {
    const client = await createClient(request.account, request.key, request);
    const positions: LivePosition[] = [];
    for (const q of await queries(client, request.markets, 'positions')) {
      positions.push(...(await readPositions(client, q.category as 'linear' | 'inverse' | 'option', q.params)));
    }
    const keys = positions.map((p) => `${p.market} ${p.symbol} ${p.positionIdx}`);
    if (repeats(keys) > 0) badAnswer('bybit', 'position/list', 'symbol: a position listed twice');
    return positions.map(({ positionIdx: _idx, ...p }) => p);
  },

  async closePosition(request: TradingRequest, position: OpenPosition): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    const category = position.market;
    // The position as it is now: its positionIdx (hedge mode needs it on the order) and its current size.
    const live = (await readPositions(client, category, { symbol: position.symbol })).find(
      (p) => p.symbol === position.symbol && p.side === position.side,
    );
    if (!live) return; // Already closed: the caller lists again to confirm.
    const answer = await client.call(
      'privatePostV5OrderCreate',
      {
        category,
        symbol: live.symbol,
        side: live.side === 'long' ? 'Sell' : 'Buy',
        orderType: 'Market',
        qty: live.size,
        // "reduceOnly: true means your position can only reduce in size. Valid for linear, inverse & option."
        reduceOnly: true,
        positionIdx: live.positionIdx,
      },
      { action: 'closing a position', retry: 'refused-only' },
    );
    parseAnswer(createdSchema, resultOf(answer), 'bybit', 'order/create');
  },
};
