/**
 * KuCoin orders and positions, for the kill's trading steps (src/app/kill-trading.ts), signed with the bot's own key.
 * Only ccxt's implicit endpoint methods are used (one request each, no market list: ccxt.ts), and every answer is
 * parsed against its documented shape: an answer of another shape is EXCHANGE_BAD_RESPONSE, never "no orders".
 *
 * Spot and margin go through the high-frequency (HF) order endpoints, which list open orders per symbol: the symbols
 * with open orders are read first (Get Symbols With Open Order). Margin is cross (MARGIN_TRADE) and isolated
 * (MARGIN_ISOLATED_TRADE). Futures (linear: USDT / USDC settled; inverse: coin settled) are on the futures API.
 * KuCoin has no options. Classic (non-HF) spot orders and the unified account's trading endpoints are not used.
 * A key without the market's trade permission, or a read-only one, gets 400007 (PERMISSION_DENIED through the
 * descriptor).
 */
import { randomUUID } from 'node:crypto';
import * as v from 'valibot';
import { decimal, everyOne, isZero, minus, nonEmpty } from '../trading-kit.js';
import { createClient, type ExchangeClient } from '../ccxt.js';
import { badAnswer, obj, parseAnswer, repeats } from '../normalize.js';
import type { OpenOrder, OpenPosition, TradingApi, TradingMarket, TradingRequest } from '../types.js';

type MarginType = 'MARGIN_TRADE' | 'MARGIN_ISOLATED_TRADE';
const MARGIN_TYPES: readonly MarginType[] = ['MARGIN_TRADE', 'MARGIN_ISOLATED_TRADE'];
/** Futures order list: `pageSize` at most 1000. */
const PAGE_SIZE = 1000;
const MAX_PAGES = 50;

/** A size KuCoin writes as a JSON number or a decimal string ("filledSize": 1, "filledSize": "0"). */
const size = v.union([v.pipe(v.number(), v.finite(), v.minValue(0)), decimal]);
const signedSize = v.union([v.pipe(v.number(), v.finite()), v.pipe(v.string(), v.regex(/^-?\d+(\.\d+)?$/, 'a decimal'))]);

/** A size as a plain decimal string; a number JavaScript writes otherwise (`1e-7`) is an answer keyctl cannot read. */
function plain(value: number | string, endpoint: string, field: string): string {
  const s = String(value);
  if (!/^-?\d+(\.\d+)?$/.test(s)) badAnswer('kucoin', endpoint, `${field}: expected a plain decimal`);
  return s;
}

/**
 * Get Symbols With Open Order: spot `GET /api/v1/hf/orders/active/symbols`
 * (https://www.kucoin.com/docs-new/rest/spot-trading/orders/get-symbols-with-open-order), `data: {symbols}`; margin
 * `GET /api/v3/hf/margin/order/active/symbols?tradeType=`
 * (https://www.kucoin.com/docs-new/rest/margin-trading/orders/get-symbols-with-open-order), `data: {symbolSize, symbols}`.
 */
const symbolsSchema = v.looseObject({ symbols: v.array(nonEmpty), symbolSize: v.optional(v.number()) });

/**
 * Get Open Orders (HF): spot `GET /api/v1/hf/orders/active?symbol=`
 * (https://www.kucoin.com/docs-new/rest/spot-trading/orders/get-open-orders) and margin `GET
 * /api/v3/hf/margin/orders/active?symbol=&tradeType=` (https://www.kucoin.com/docs-new/rest/margin-trading/orders/get-open-orders):
 * `data: [...]`. Read: `id`, `symbol`, `side` buy/sell, `remainSize` (what is left).
 */
const hfOrderSchema = v.looseObject({
  id: nonEmpty,
  symbol: nonEmpty,
  side: v.picklist(['buy', 'sell']),
  remainSize: decimal,
});

/**
 * Get Order List (futures), `GET /api/v1/orders?status=active`
 * (https://www.kucoin.com/docs-new/rest/futures-trading/orders/get-order-list): `data: {currentPage, pageSize, totalNum,
 * totalPage, items}`. Read: `id`, `symbol`, `side`, `size` and `filledSize` (lots; what is left is their difference),
 * `settleCurrency` (USDT / USDC: linear; else inverse).
 */
const futuresOrderSchema = v.looseObject({
  id: nonEmpty,
  symbol: nonEmpty,
  side: v.picklist(['buy', 'sell']),
  size,
  filledSize: size,
  settleCurrency: nonEmpty,
});
const futuresPageSchema = v.looseObject({
  currentPage: v.pipe(v.number(), v.safeInteger()),
  totalPage: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  items: v.array(futuresOrderSchema),
});

/**
 * Get Position List, `GET /api/v1/positions` (https://www.kucoin.com/docs-new/rest/futures-trading/positions/get-position-list):
 * `data: [...]`. Read: `symbol`, `currentQty` (lots; negative for a short in one-way mode), `isInverse`, and where
 * given `positionSide` (BOTH one-way; LONG / SHORT hedge mode) and `marginMode` (ISOLATED / CROSS), which a closing
 * order must repeat.
 */
const positionSchema = v.looseObject({
  symbol: nonEmpty,
  currentQty: signedSize,
  isInverse: v.boolean(),
  positionSide: v.optional(v.picklist(['BOTH', 'LONG', 'SHORT'])),
  marginMode: v.optional(v.picklist(['ISOLATED', 'CROSS'])),
});

function dataOf(answer: unknown): unknown {
  return obj(answer).data;
}

/** Symbols with open HF orders, as keyctl reads them. Exported for the answer-shape tests. */
export function parseKucoinSymbols(data: unknown, endpoint: string): string[] {
  const r = parseAnswer(symbolsSchema, data, 'kucoin', endpoint);
  if (r.symbolSize !== undefined && r.symbolSize !== r.symbols.length)
    badAnswer('kucoin', endpoint, 'symbolSize: not the number of symbols');
  return r.symbols;
}

/** One symbol's open HF orders, as keyctl reads them. Exported for the answer-shape tests. */
export function parseKucoinHfOrders(data: unknown, market: 'spot' | 'margin', symbol: string, endpoint: string): OpenOrder[] {
  return parseAnswer(v.array(hfOrderSchema), data, 'kucoin', endpoint).map((o) => {
    if (o.symbol !== symbol) badAnswer('kucoin', endpoint, 'symbol: an order of another symbol');
    return { id: o.id, symbol: o.symbol, market, side: o.side, qty: o.remainSize };
  });
}

/** One page of open futures orders, as keyctl reads it. Exported for the answer-shape tests. */
export function parseKucoinFuturesOrders(data: unknown): { orders: OpenOrder[]; totalPage: number } {
  const endpoint = 'futures orders';
  const r = parseAnswer(futuresPageSchema, data, 'kucoin', endpoint);
  const orders = r.items.map((o): OpenOrder => {
    const qty = minus(plain(o.size, endpoint, 'size'), plain(o.filledSize, endpoint, 'filledSize'));
    if (qty === undefined) badAnswer('kucoin', endpoint, 'filledSize: more filled than the order size');
    const market = o.settleCurrency === 'USDT' || o.settleCurrency === 'USDC' ? 'linear' : 'inverse';
    return { id: o.id, symbol: o.symbol, market, side: o.side, qty };
  });
  return { orders, totalPage: r.totalPage };
}

interface LivePosition extends OpenPosition {
  positionSide: 'BOTH' | 'LONG' | 'SHORT';
  marginMode: 'ISOLATED' | 'CROSS' | undefined;
}

/** The futures positions with a size, as keyctl reads them. Exported for the answer-shape tests. */
export function parseKucoinPositions(data: unknown): LivePosition[] {
  const endpoint = 'futures positions';
  const out: LivePosition[] = [];
  for (const p of parseAnswer(v.array(positionSchema), data, 'kucoin', endpoint)) {
    const qty = plain(p.currentQty, endpoint, 'currentQty');
    if (isZero(qty)) continue;
    const negative = qty.startsWith('-');
    const positionSide = p.positionSide ?? 'BOTH';
    if ((positionSide === 'LONG' && negative) || (positionSide === 'SHORT' && !negative)) {
      badAnswer('kucoin', endpoint, 'currentQty: its sign contradicts positionSide');
    }
    out.push({
      symbol: p.symbol,
      market: p.isInverse ? 'inverse' : 'linear',
      side: negative ? 'short' : 'long',
      size: negative ? qty.slice(1) : qty,
      positionSide,
      marginMode: p.marginMode,
    });
  }
  return out;
}

async function readPositions(client: ExchangeClient): Promise<LivePosition[]> {
  return parseKucoinPositions(dataOf(await client.call('futuresPrivateGetPositions', {}, { action: 'listing positions' })));
}

/** The symbols with open margin orders of one trade type (cross or isolated). */
async function marginSymbols(client: ExchangeClient, tradeType: MarginType): Promise<string[]> {
  const endpoint = 'hf/margin/order/active/symbols';
  const answer = await client.call('privateGetHfMarginOrderActiveSymbols', { tradeType }, { action: 'listing open orders' });
  return parseKucoinSymbols(dataOf(answer), endpoint);
}

/** "success": the documented answer of both HF cancel-all-by-symbol endpoints. */
function checkSuccess(data: unknown, endpoint: string): void {
  parseAnswer(v.literal('success'), data, 'kucoin', endpoint);
}

export const kucoinTrading: TradingApi = {
  async listOrders(request: TradingRequest): Promise<OpenOrder[]> {
    const client = await createClient(request.account, request.key, request);
    const action = 'listing open orders';
    const orders: OpenOrder[] = [];
    const wants = (m: TradingMarket) => request.markets.includes(m);
    if (wants('spot')) {
      const symbols = parseKucoinSymbols(
        dataOf(await client.call('privateGetHfOrdersActiveSymbols', {}, { action })),
        'hf/orders/active/symbols',
      );
      for (const symbol of symbols) {
        const answer = await client.call('privateGetHfOrdersActive', { symbol }, { action });
        orders.push(...parseKucoinHfOrders(dataOf(answer), 'spot', symbol, 'hf/orders/active'));
      }
    }
    if (wants('margin')) {
      for (const tradeType of MARGIN_TYPES) {
        for (const symbol of await marginSymbols(client, tradeType)) {
          const answer = await client.call('privateGetHfMarginOrdersActive', { symbol, tradeType }, { action });
          orders.push(...parseKucoinHfOrders(dataOf(answer), 'margin', symbol, 'hf/margin/orders/active'));
        }
      }
    }
    if (wants('linear') || wants('inverse')) {
      for (let page = 1; ; page++) {
        if (page > MAX_PAGES) badAnswer('kucoin', 'futures orders', `totalPage: more than ${MAX_PAGES} pages`);
        const answer = await client.call(
          'futuresPrivateGetOrders',
          { status: 'active', pageSize: PAGE_SIZE, currentPage: page },
          { action },
        );
        const r = parseKucoinFuturesOrders(dataOf(answer));
        orders.push(...r.orders.filter((o) => wants(o.market)));
        if (page >= r.totalPage) break;
        if (r.orders.length === 0) badAnswer('kucoin', 'futures orders', 'items: an empty page that is not the last');
      }
    }
    // KuCoin has no options: nothing to list for `option`.
    if (repeats(orders.map((o) => o.id)) > 0) badAnswer('kucoin', 'open orders', 'id: an order listed twice');
    return orders;
  },

  async cancelOrders(request: TradingRequest, orders: readonly OpenOrder[]): Promise<void> {
    if (orders.length === 0) return;
    const client = await createClient(request.account, request.key, request);
    const action = 'cancelling open orders';
    const symbolsOf = (pick: (o: OpenOrder) => boolean) => [...new Set(orders.filter(pick).map((o) => o.symbol))];
    const tasks: Array<() => Promise<void>> = [];
    // Cancel All Orders By Symbol (HF), `DELETE /api/v1/hf/orders?symbol=`
    // (https://www.kucoin.com/docs-new/rest/spot-trading/orders/cancel-all-orders-by-symbol): data "success".
    for (const symbol of symbolsOf((o) => o.market === 'spot')) {
      tasks.push(async () => checkSuccess(dataOf(await client.call('privateDeleteHfOrders', { symbol }, { action })), 'hf/orders'));
    }
    // The margin one, `DELETE /api/v3/hf/margin/orders?symbol=&tradeType=`
    // (https://www.kucoin.com/docs-new/rest/margin-trading/orders/cancel-all-orders-by-symbol): data "success". An order
    // does not say whether it is cross or isolated, so each trade type's symbols with open orders are read again.
    const margin = symbolsOf((o) => o.market === 'margin');
    if (margin.length > 0) {
      for (const tradeType of MARGIN_TYPES) {
        tasks.push(async () => {
          const open = await marginSymbols(client, tradeType);
          await everyOne(
            margin
              .filter((s) => open.includes(s))
              .map((symbol) => async () => {
                const answer = await client.call('privateDeleteHfMarginOrders', { symbol, tradeType }, { action });
                checkSuccess(dataOf(answer), 'hf/margin/orders');
              }),
          );
        });
      }
    }
    // Cancel All Orders (futures), `DELETE /api/v1/orders?symbol=`
    // (https://www.kucoin.com/docs-new/rest/futures-trading/orders/cancel-all-orders): data `{cancelledOrderIds}`.
    for (const symbol of symbolsOf((o) => o.market === 'linear' || o.market === 'inverse')) {
      tasks.push(async () => {
        const answer = await client.call('futuresPrivateDeleteOrders', { symbol }, { action });
        parseAnswer(v.looseObject({ cancelledOrderIds: v.array(v.string()) }), dataOf(answer), 'kucoin', 'futures orders cancel');
      });
    }
    await everyOne(tasks);
  },

  async listPositions(request: TradingRequest): Promise<OpenPosition[]> {
    if (!request.markets.includes('linear') && !request.markets.includes('inverse')) return [];
    const client = await createClient(request.account, request.key, request);
    const positions = (await readPositions(client)).filter((p) => request.markets.includes(p.market));
    if (repeats(positions.map((p) => `${p.symbol} ${p.positionSide}`)) > 0)
      badAnswer('kucoin', 'futures positions', 'symbol: a position listed twice');
    return positions.map(({ positionSide: _ps, marginMode: _mm, ...p }) => p);
  },

  async closePosition(request: TradingRequest, position: OpenPosition): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    // The position as it is now: its position side and margin mode (the order repeats them) and its current size.
    const live = (await readPositions(client)).find((p) => p.symbol === position.symbol && p.side === position.side);
    if (!live) return; // Already closed: the caller lists again to confirm.
    // Add Order (futures), `POST /api/v1/orders` (https://www.kucoin.com/docs-new/rest/futures-trading/orders/add-order):
    // `reduceOnly` "only the orders reducing the position size will be executed"; `size` in lots. Answers
    // `{orderId, clientOid}`.
    const answer = await client.call(
      'futuresPrivatePostOrders',
      {
        clientOid: randomUUID(),
        symbol: live.symbol,
        side: live.side === 'long' ? 'sell' : 'buy',
        type: 'market',
        // Lots are integers (ccxt sends them as JSON numbers); a fractional size is sent as KuCoin wrote it.
        size: /^\d+$/.test(live.size) ? Number(live.size) : live.size,
        reduceOnly: true,
        ...(live.marginMode ? { marginMode: live.marginMode } : {}),
        ...(live.positionSide !== 'BOTH' ? { positionSide: live.positionSide } : {}),
      },
      { action: 'closing a position', retry: 'refused-only' },
    );
    parseAnswer(v.looseObject({ orderId: nonEmpty }), dataOf(answer), 'kucoin', 'futures order');
  },
};
