/**
 * Bitget v2 orders and positions, for the kill's trading steps (src/app/kill-trading.ts), signed with the bot's own
 * key. Only ccxt's implicit endpoint methods are used (one request each, no market list: ccxt.ts), and every answer is
 * parsed against its documented shape: an answer of another shape is EXCHANGE_BAD_RESPONSE, never "no orders".
 *
 * Spot: unfilled orders, cancelled per symbol (cancel-symbol-order). Futures ("mix"): product types USDT-FUTURES and
 * USDC-FUTURES (linear) and COIN-FUTURES (inverse); pending orders cancelled per product type (cancel-all-orders),
 * positions closed at market with close-positions (Bitget's "flash close", which is reduce-only by design). Spot margin
 * orders live on other endpoints keyctl does not call: `markets` leaves margin out, so a kill acts on the rest and
 * reports margin as CAPABILITY_GAP (a request naming margin all the same is refused the same way). Bitget has
 * no options. A key without the trade permission gets 40014 (PERMISSION_DENIED through the descriptor).
 */
import * as v from 'valibot';
import { capabilityGap, createClient, type ExchangeClient } from '../ccxt.js';
import { ExchangeError } from '@keyctl/client/errors';
import { badAnswer, obj, parseAnswer, repeats } from '../normalize.js';
import { decimal, everyOne, isZero, minus, nonEmpty } from '../trading-kit.js';
import type { OpenOrder, OpenPosition, TradingApi, TradingMarket, TradingRequest } from '../types.js';

type ProductType = 'USDT-FUTURES' | 'USDC-FUTURES' | 'COIN-FUTURES';
const PRODUCT_TYPES: readonly ProductType[] = ['USDT-FUTURES', 'USDC-FUTURES', 'COIN-FUTURES'];
const marketOf = (p: ProductType): 'linear' | 'inverse' => (p === 'COIN-FUTURES' ? 'inverse' : 'linear');
/** orders-pending: `limit` "Default: 100, maximum: 100"; pages by `idLessThan` = the answer's `endId`. */
const PAGE = 100;
const MAX_PAGES = 50;

/**
 * Get Current Orders (spot), `GET /api/v2/spot/trade/unfilled-orders`
 * (https://www.bitget.com/api-doc/spot/trade/Get-Unfilled-Orders): `data: [...]`. Read: `orderId`, `symbol`, `side`
 * buy/sell, `size` and `baseVolume` (filled; what is left is their difference).
 */
const spotOrderSchema = v.looseObject({
  orderId: v.pipe(v.string(), v.regex(/^\d+$/, 'an order id')),
  symbol: nonEmpty,
  side: v.picklist(['buy', 'sell']),
  size: decimal,
  baseVolume: decimal,
});

/**
 * Get Pending Orders (futures), `GET /api/v2/mix/order/orders-pending?productType=`
 * (https://www.bitget.com/api-doc/contract/trade/Get-Orders-Pending): `data: {entrustedList, endId}`, the list `null`
 * when there is none. Read: `orderId`, `symbol`, `side`, `size` and `baseVolume` (filled).
 */
const mixOrderSchema = spotOrderSchema;
const mixPageSchema = v.looseObject({
  entrustedList: v.nullable(v.array(mixOrderSchema)),
  endId: v.nullish(v.string()),
});

/**
 * Get All Positions, `GET /api/v2/mix/position/all-position?productType=`
 * (https://www.bitget.com/api-doc/contract/position/get-all-position): `data: [...]`. Read: `symbol`, `holdSide`
 * long/short, `total` (the position's size).
 */
const positionSchema = v.looseObject({
  symbol: nonEmpty,
  holdSide: v.picklist(['long', 'short']),
  total: decimal,
});

function dataOf(answer: unknown): unknown {
  return obj(answer).data;
}

/** What is left of an order: size less what filled. */
function left(o: { size: string; baseVolume: string }, endpoint: string): string {
  const qty = minus(o.size, o.baseVolume);
  if (qty === undefined) badAnswer('bitget', endpoint, 'baseVolume: more filled than the order size');
  return qty;
}

/** Open spot orders, as keyctl reads them. Exported for the answer-shape tests. */
export function parseBitgetSpotOrders(data: unknown): OpenOrder[] {
  const endpoint = 'spot/trade/unfilled-orders';
  return parseAnswer(v.array(spotOrderSchema), data, 'bitget', endpoint).map((o) => ({
    id: o.orderId,
    symbol: o.symbol,
    market: 'spot' as const,
    side: o.side,
    qty: left(o, endpoint),
  }));
}

/** One page of pending futures orders of one product type, as keyctl reads it. Exported for the answer-shape tests. */
export function parseBitgetMixOrders(data: unknown, productType: ProductType): { orders: OpenOrder[]; endId?: string } {
  const endpoint = 'mix/order/orders-pending';
  const r = parseAnswer(mixPageSchema, data, 'bitget', endpoint);
  const orders = (r.entrustedList ?? []).map((o) => ({
    id: o.orderId,
    symbol: o.symbol,
    market: marketOf(productType),
    side: o.side,
    qty: left(o, endpoint),
  }));
  return { orders, ...(r.endId ? { endId: r.endId } : {}) };
}

/** The positions of one product type with a size, as keyctl reads them. Exported for the answer-shape tests. */
export function parseBitgetPositions(data: unknown, productType: ProductType): OpenPosition[] {
  return parseAnswer(v.array(positionSchema), data, 'bitget', 'mix/position/all-position')
    .filter((p) => !isZero(p.total))
    .map((p) => ({ symbol: p.symbol, market: marketOf(productType), side: p.holdSide, size: p.total }));
}

/** The product types whose markets the request asks about. */
function productTypes(markets: readonly TradingMarket[]): ProductType[] {
  return PRODUCT_TYPES.filter((p) => markets.includes(marketOf(p)));
}

function marginGap(markets: readonly TradingMarket[]): void {
  if (markets.includes('margin')) capabilityGap('bitget', "list spot margin orders (keyctl does not call Bitget's margin endpoints)");
}

async function readMixOrders(client: ExchangeClient, productType: ProductType): Promise<OpenOrder[]> {
  const orders: OpenOrder[] = [];
  let cursor: string | undefined;
  for (let page = 1; ; page++) {
    if (page > MAX_PAGES) badAnswer('bitget', 'mix/order/orders-pending', `endId: more than ${MAX_PAGES} pages`);
    const answer = await client.call(
      'privateMixGetV2MixOrderOrdersPending',
      { productType, limit: String(PAGE), ...(cursor ? { idLessThan: cursor } : {}) },
      { action: 'listing open orders' },
    );
    const r = parseBitgetMixOrders(dataOf(answer), productType);
    orders.push(...r.orders);
    if (r.orders.length < PAGE || !r.endId || r.endId === cursor) break;
    cursor = r.endId;
  }
  return orders;
}

async function readPositions(client: ExchangeClient, productType: ProductType): Promise<OpenPosition[]> {
  const answer = await client.call('privateMixGetV2MixPositionAllPosition', { productType }, { action: 'listing positions' });
  return parseBitgetPositions(dataOf(answer), productType);
}

function productTypeOf(symbol: string, market: 'linear' | 'inverse'): ProductType {
  // Bitget's v2 futures symbols: `BTCUSDT` (USDT-FUTURES), `BTCPERP` / `...USDC` (USDC-FUTURES), `BTCUSD` (COIN-FUTURES).
  if (market === 'inverse') return 'COIN-FUTURES';
  return /USDT$/.test(symbol) ? 'USDT-FUTURES' : 'USDC-FUTURES';
}

export const bitgetTrading: TradingApi = {
  markets: ['spot', 'linear', 'inverse'],

  async listOrders(request: TradingRequest): Promise<OpenOrder[]> {
    marginGap(request.markets);
    const client = await createClient(request.account, request.key, request);
    const orders: OpenOrder[] = [];
    if (request.markets.includes('spot')) {
      const answer = await client.call('privateSpotGetV2SpotTradeUnfilledOrders', {}, { action: 'listing open orders' });
      orders.push(...parseBitgetSpotOrders(dataOf(answer)));
    }
    for (const productType of productTypes(request.markets)) orders.push(...(await readMixOrders(client, productType)));
    // Bitget has no options: nothing to list for `option`.
    if (repeats(orders.map((o) => o.id)) > 0) badAnswer('bitget', 'open orders', 'orderId: an order listed twice');
    return orders;
  },

  async cancelOrders(request: TradingRequest, orders: readonly OpenOrder[]): Promise<void> {
    if (orders.length === 0) return;
    const client = await createClient(request.account, request.key, request);
    const action = 'cancelling open orders';
    const tasks: Array<() => Promise<void>> = [];
    // Cancel Order by Symbol, `POST /api/v2/spot/trade/cancel-symbol-order`
    // (https://www.bitget.com/api-doc/spot/trade/Cancel-Symbol-Orders): `{symbol}` -> `data: {symbol}`.
    for (const symbol of new Set(orders.filter((o) => o.market === 'spot').map((o) => o.symbol))) {
      tasks.push(async () => {
        const answer = await client.call('privateSpotPostV2SpotTradeCancelSymbolOrder', { symbol }, { action });
        const r = parseAnswer(v.looseObject({ symbol: nonEmpty }), dataOf(answer), 'bitget', 'spot/trade/cancel-symbol-order');
        if (r.symbol !== symbol) badAnswer('bitget', 'spot/trade/cancel-symbol-order', 'symbol: another symbol than asked');
      });
    }
    // Cancel All Orders, `POST /api/v2/mix/order/cancel-all-orders`
    // (https://www.bitget.com/api-doc/contract/trade/Cancel-All-Orders): `{productType}` -> `data: {successList,
    // failureList}`; an order in failureList was not cancelled.
    const types = new Set(
      orders.flatMap((o) => (o.market === 'linear' || o.market === 'inverse' ? [productTypeOf(o.symbol, o.market)] : [])),
    );
    for (const productType of types) {
      tasks.push(async () => {
        const answer = await client.call('privateMixPostV2MixOrderCancelAllOrders', { productType }, { action });
        const r = parseAnswer(
          v.looseObject({
            successList: v.array(v.looseObject({ orderId: v.string() })),
            failureList: v.array(v.looseObject({ orderId: v.string(), errorMsg: v.optional(v.string()) })),
          }),
          dataOf(answer),
          'bitget',
          'mix/order/cancel-all-orders',
        );
        if (r.failureList.length > 0) {
          throw new ExchangeError('EXCHANGE_REFUSED', `bitget did not cancel ${r.failureList.length} ${productType} order(s).`, {
            hint: "Check the bot's open orders in Bitget's web UI and cancel them there.",
            details: { exchange: 'bitget', orderIds: r.failureList.map((f) => f.orderId) },
          });
        }
      });
    }
    await everyOne(tasks);
  },

  async listPositions(request: TradingRequest): Promise<OpenPosition[]> {
    const types = productTypes(request.markets);
    if (types.length === 0) return [];
    const client = await createClient(request.account, request.key, request);
    const positions: OpenPosition[] = [];
    for (const productType of types) positions.push(...(await readPositions(client, productType)));
    if (repeats(positions.map((p) => `${p.symbol} ${p.side}`)) > 0) {
      badAnswer('bitget', 'mix/position/all-position', 'symbol: a position listed twice');
    }
    return positions;
  },

  async closePosition(request: TradingRequest, position: OpenPosition): Promise<void> {
    if (position.market === 'option') capabilityGap('bitget', 'close options positions (Bitget has no options)');
    const client = await createClient(request.account, request.key, request);
    const productType = productTypeOf(position.symbol, position.market);
    // Flash Close Position, `POST /api/v2/mix/order/close-positions`
    // (https://www.bitget.com/api-doc/contract/trade/Flash-Close-Position): closes at market; `holdSide` in hedge mode
    // (one-way mode ignores it). Answers `data: {successList, failureList}`.
    const answer = await client.call(
      'privateMixPostV2MixOrderClosePositions',
      { symbol: position.symbol, productType, holdSide: position.side },
      { action: 'closing a position', retry: 'refused-only' },
    );
    const r = parseAnswer(
      v.looseObject({
        successList: v.array(v.looseObject({ orderId: v.string(), symbol: v.optional(v.string()) })),
        failureList: v.array(v.looseObject({ errorMsg: v.optional(v.string()), errorCode: v.optional(v.string()) })),
      }),
      dataOf(answer),
      'bitget',
      'mix/order/close-positions',
    );
    if (r.failureList.length > 0 || r.successList.length === 0) {
      throw new ExchangeError('EXCHANGE_REFUSED', `bitget did not close the ${position.side} position on ${position.symbol}.`, {
        hint: "Close it in Bitget's web UI.",
        details: {
          exchange: 'bitget',
          symbol: position.symbol,
          ...(r.failureList[0]?.errorCode ? { exchangeCode: r.failureList[0].errorCode } : {}),
        },
      });
    }
  },
};
