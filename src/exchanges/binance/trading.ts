/**
 * Binance orders and positions, for the kill's trading steps (src/app/kill-trading.ts), signed with the bot's own key.
 * Only ccxt's implicit endpoint methods are used (one request each, no market list: ccxt.ts), and every answer is
 * parsed against its documented shape: an answer of another shape is EXCHANGE_BAD_RESPONSE, never "no orders".
 *
 * Binance keeps each market on its own API: spot `/api/v3`, cross margin `/sapi/v1/margin`, USDⓈ-M futures `/fapi`
 * (linear), COIN-M futures `/dapi` (inverse) and European options `/eapi` (option). Orders are cancelled per symbol and
 * per API. Positions exist on the futures and options APIs; options take limit orders only, so an option position
 * cannot be closed with a market order (CAPABILITY_GAP: the web UI).
 *
 * A refused key gets -2015 "Invalid API-key, IP, or permissions for action.", one answer for a bad key, a wrong address
 * and a missing permission (KEY_REJECTED through the descriptor). When a cancel or close gets it, keyctl reads the same
 * API with the same key: if that read is answered, the key and the address are fine and the refusal is the missing
 * trade permission (PERMISSION_DENIED).
 */
import * as v from 'valibot';
import { decimal, everyOne, isZero, minus, nonEmpty, signedDecimal } from '../trading-kit.js';
import { ExchangeError, KeyctlError } from '@keyctl/client/errors';
import { createClient, type ExchangeClient } from '../ccxt.js';
import { badAnswer, parseAnswer, repeats } from '../normalize.js';
import type { OpenOrder, OpenPosition, TradingApi, TradingMarket, TradingRequest } from '../types.js';

// Order ids are JSON numbers: one beyond 2^53 would arrive rounded, so it would name another order.
const orderId = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

/**
 * An open order as the spot, margin and futures listings show it: `symbol`, `orderId`, `side` BUY/SELL, `origQty` and
 * `executedQty` (what is left is their difference). Options write `quantity` for `origQty`.
 */
const openOrderSchema = v.looseObject({
  symbol: nonEmpty,
  orderId,
  side: v.picklist(['BUY', 'SELL']),
  origQty: decimal,
  executedQty: decimal,
});
// Option order ids are 19 digits ("orderId": 4728833085436977152): beyond 2^53, they reach keyctl rounded (ccxt parses
// JSON into numbers). Orders are cancelled by symbol, never by id, so a rounded id only misnames the order in messages;
// it is accepted, and two ids that round alike are not taken for one order listed twice.
const optionOrderSchema = v.looseObject({
  symbol: nonEmpty,
  orderId: v.pipe(v.number(), v.integer(), v.minValue(0)),
  side: v.picklist(['BUY', 'SELL']),
  quantity: decimal,
  executedQty: decimal,
});

/** A futures position (`positionAmt` negative for a short in one-way mode; `positionSide` BOTH, LONG or SHORT). */
const futuresPositionSchema = v.looseObject({
  symbol: nonEmpty,
  positionSide: v.picklist(['BOTH', 'LONG', 'SHORT']),
  positionAmt: signedDecimal,
});
/** An option position (Option Position Information: `side` LONG/SHORT, `quantity`). */
const optionPositionSchema = v.looseObject({
  symbol: nonEmpty,
  side: v.picklist(['LONG', 'SHORT']),
  quantity: signedDecimal,
});

/** One Binance API keyctl lists, cancels and closes on. */
interface Api {
  market: TradingMarket;
  /** For messages and EXCHANGE_BAD_RESPONSE. */
  name: string;
  list: string;
  cancel: string;
  /** Checks a cancel answer's documented success shape. */
  cancelled: (answer: unknown, symbol: string) => void;
}

/**
 * Cancel All Open Orders on a Symbol: spot `DELETE /api/v3/openOrders`
 * (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#cancel-all-open-orders-on-a-symbol-trade)
 * and margin `DELETE /sapi/v1/margin/openOrders`
 * (https://developers.binance.com/docs/margin_trading/trade/Margin-Account-Cancel-All-Open-Orders) answer the
 * cancelled orders (and order lists), each of the symbol asked about.
 */
function spotCancelled(name: string) {
  const schema = v.array(v.looseObject({ symbol: nonEmpty }));
  return (answer: unknown, symbol: string) => {
    const r = parseAnswer(schema, answer, 'binance', name);
    if (r.some((o) => o.symbol !== symbol)) badAnswer('binance', name, 'symbol: an order of another symbol');
  };
}

/**
 * Cancel All Open Orders, `DELETE /fapi/v1/allOpenOrders`
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Cancel-All-Open-Orders) and
 * `DELETE /dapi/v1/allOpenOrders`
 * (https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/rest-api/Cancel-All-Open-Orders):
 * `{"code": 200, "msg": "The operation of cancel all open order is done."}`. Options, `DELETE /eapi/v1/allOpenOrders`
 * (https://developers.binance.com/docs/derivatives/option/trade/Cancel-all-Option-orders-on-specific-symbol):
 * `{"code": 0, "msg": "success"}`.
 */
function codeCancelled(name: string, success: number) {
  const schema = v.looseObject({ code: v.union([v.number(), v.string()]), msg: v.optional(v.string()) });
  return (answer: unknown) => {
    const r = parseAnswer(schema, answer, 'binance', name);
    if (String(r.code) !== String(success)) {
      throw new ExchangeError('EXCHANGE_REFUSED', `binance did not confirm ${name} (code ${String(r.code)}).`, {
        details: { exchange: 'binance', endpoint: name, exchangeCode: String(r.code) },
        hint: "Check the bot's open orders in Binance's web UI and cancel them there.",
      });
    }
  };
}

const APIS: Record<TradingMarket, Api> = {
  // Current open orders, `GET /api/v3/openOrders` (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#current-open-orders-user_data):
  // without `symbol`, "orders for all symbols will be returned in an array".
  spot: {
    market: 'spot',
    name: 'api/v3/openOrders',
    list: 'privateGetOpenOrders',
    cancel: 'privateDeleteOpenOrders',
    cancelled: spotCancelled('api/v3/openOrders'),
  },
  // Query Margin Account's Open Orders, `GET /sapi/v1/margin/openOrders`
  // (https://developers.binance.com/docs/margin_trading/trade/Query-Margin-Account-Open-Orders): cross margin, every
  // symbol without `symbol` (isolated margin needs a symbol per call: not listed).
  margin: {
    market: 'margin',
    name: 'sapi/v1/margin/openOrders',
    list: 'sapiGetMarginOpenOrders',
    cancel: 'sapiDeleteMarginOpenOrders',
    cancelled: spotCancelled('sapi/v1/margin/openOrders'),
  },
  // Current All Open Orders, `GET /fapi/v1/openOrders`
  // (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Current-All-Open-Orders).
  linear: {
    market: 'linear',
    name: 'fapi/v1/openOrders',
    list: 'fapiPrivateGetOpenOrders',
    cancel: 'fapiPrivateDeleteAllOpenOrders',
    cancelled: codeCancelled('fapi/v1/allOpenOrders', 200),
  },
  // Current All Open Orders, `GET /dapi/v1/openOrders`
  // (https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/rest-api/Current-All-Open-Orders).
  inverse: {
    market: 'inverse',
    name: 'dapi/v1/openOrders',
    list: 'dapiPrivateGetOpenOrders',
    cancel: 'dapiPrivateDeleteAllOpenOrders',
    cancelled: codeCancelled('dapi/v1/allOpenOrders', 200),
  },
  // Query Current Open Option Orders, `GET /eapi/v1/openOrders`
  // (https://developers.binance.com/docs/derivatives/option/trade/Query-Current-Open-Option-Orders).
  option: {
    market: 'option',
    name: 'eapi/v1/openOrders',
    list: 'eapiPrivateGetOpenOrders',
    cancel: 'eapiPrivateDeleteAllOpenOrders',
    cancelled: codeCancelled('eapi/v1/allOpenOrders', 0),
  },
};

/** One API's open orders, as keyctl reads them. Exported for the answer-shape tests. */
export function parseBinanceOpenOrders(answer: unknown, market: TradingMarket): OpenOrder[] {
  const endpoint = APIS[market].name;
  const rows =
    market === 'option'
      ? parseAnswer(v.array(optionOrderSchema), answer, 'binance', endpoint).map((o) => ({ ...o, origQty: o.quantity }))
      : parseAnswer(v.array(openOrderSchema), answer, 'binance', endpoint);
  return rows.map((o) => {
    const qty = minus(o.origQty, o.executedQty);
    if (qty === undefined) badAnswer('binance', endpoint, 'executedQty: more filled than the order quantity');
    return { id: BigInt(o.orderId).toString(), symbol: o.symbol, market, side: o.side === 'BUY' ? 'buy' : 'sell', qty };
  });
}

interface LivePosition extends OpenPosition {
  /** BOTH in one-way mode; LONG or SHORT in hedge mode, where a closing order names it. Options: undefined. */
  positionSide?: 'BOTH' | 'LONG' | 'SHORT';
}

/**
 * The positions with a size of one futures API, as keyctl reads them: Position Information V3, `GET
 * /fapi/v3/positionRisk` (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3),
 * and COIN-M's `GET /dapi/v1/positionRisk`
 * (https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/rest-api/Position-Information).
 * Exported for the answer-shape tests.
 */
export function parseBinanceFuturesPositions(answer: unknown, market: 'linear' | 'inverse'): LivePosition[] {
  const endpoint = market === 'linear' ? 'fapi/v3/positionRisk' : 'dapi/v1/positionRisk';
  const out: LivePosition[] = [];
  for (const p of parseAnswer(v.array(futuresPositionSchema), answer, 'binance', endpoint)) {
    if (isZero(p.positionAmt)) continue;
    const negative = p.positionAmt.startsWith('-');
    if (p.positionSide === 'LONG' && negative) badAnswer('binance', endpoint, 'positionAmt: negative on the LONG side');
    if (p.positionSide === 'SHORT' && !negative) badAnswer('binance', endpoint, 'positionAmt: positive on the SHORT side');
    out.push({
      symbol: p.symbol,
      market,
      side: negative ? 'short' : 'long',
      size: negative ? p.positionAmt.slice(1) : p.positionAmt,
      positionSide: p.positionSide,
    });
  }
  return out;
}

/**
 * Option positions with a size: Option Position Information, `GET /eapi/v1/position`
 * (https://developers.binance.com/docs/derivatives/option/trade/Option-Position-Information). Exported for the
 * answer-shape tests.
 */
export function parseBinanceOptionPositions(answer: unknown): LivePosition[] {
  return parseAnswer(v.array(optionPositionSchema), answer, 'binance', 'eapi/v1/position')
    .filter((p) => !isZero(p.quantity))
    .map((p) => ({
      symbol: p.symbol,
      market: 'option' as const,
      side: p.side === 'LONG' ? ('long' as const) : ('short' as const),
      size: p.quantity.replace(/^-/, ''),
    }));
}

async function readPositions(client: ExchangeClient, market: 'linear' | 'inverse' | 'option', symbol?: string): Promise<LivePosition[]> {
  const action = 'listing positions';
  if (market === 'option') {
    return parseBinanceOptionPositions(await client.call('eapiPrivateGetPosition', symbol ? { symbol } : {}, { action }));
  }
  if (market === 'linear') {
    return parseBinanceFuturesPositions(await client.call('fapiPrivateV3GetPositionRisk', symbol ? { symbol } : {}, { action }), market);
  }
  // COIN-M filters by `pair` (BTCUSD for BTCUSD_PERP and BTCUSD_250627), not by symbol.
  const params = symbol ? { pair: symbol.replace(/_.*$/, '') } : {};
  return parseBinanceFuturesPositions(await client.call('dapiPrivateGetPositionRisk', params, { action }), market);
}

/**
 * A -2015 on a trading call, told apart: when `read` (a signed read of the same API with the same key) is answered,
 * the key and the address are fine, so Binance refused the permission to trade: PERMISSION_DENIED. Otherwise the
 * original, ambiguous KEY_REJECTED stands.
 */
async function told(err: unknown, read: () => Promise<unknown>, action: string): Promise<unknown> {
  if (!(err instanceof KeyctlError) || err.details?.exchangeCode !== '-2015') return err;
  try {
    await read();
  } catch {
    return err;
  }
  return new ExchangeError(
    'PERMISSION_DENIED',
    `binance refused ${action}: the key may not trade here (-2015), although it can read the same account from this address.`,
    {
      cause: err,
      details: { ...err.details, possibleCauses: ['permission'] },
      hint: "This key cannot trade (read-only, or without Spot & Margin or Futures trading): cancel and close in Binance's web UI.",
    },
  );
}

export const binanceTrading: TradingApi = {
  async listOrders(request: TradingRequest): Promise<OpenOrder[]> {
    const client = await createClient(request.account, request.key, request);
    const orders: OpenOrder[] = [];
    for (const market of new Set(request.markets)) {
      const api = APIS[market];
      orders.push(...parseBinanceOpenOrders(await client.call(api.list, {}, { action: 'listing open orders' }), market));
    }
    const exact = orders.filter((o) => o.market !== 'option');
    if (repeats(exact.map((o) => `${o.market} ${o.id}`)) > 0) badAnswer('binance', 'openOrders', 'orderId: an order listed twice');
    return orders;
  },

  async cancelOrders(request: TradingRequest, orders: readonly OpenOrder[]): Promise<void> {
    if (orders.length === 0) return;
    const client = await createClient(request.account, request.key, request);
    const groups = new Map<string, { api: Api; symbol: string }>();
    for (const o of orders) groups.set(`${o.market} ${o.symbol}`, { api: APIS[o.market], symbol: o.symbol });
    const action = 'cancelling open orders';
    await everyOne(
      [...groups.values()].map(({ api, symbol }) => async () => {
        let answer: unknown;
        try {
          answer = await client.call(api.cancel, { symbol }, { action });
        } catch (err) {
          throw await told(err, () => client.call(api.list, { symbol }, { action: 'listing open orders' }), action);
        }
        api.cancelled(answer, symbol);
      }),
    );
  },

  async listPositions(request: TradingRequest): Promise<OpenPosition[]> {
    const client = await createClient(request.account, request.key, request);
    const positions: LivePosition[] = [];
    for (const market of ['linear', 'inverse', 'option'] as const) {
      if (request.markets.includes(market)) positions.push(...(await readPositions(client, market)));
    }
    const keys = positions.map((p) => `${p.market} ${p.symbol} ${p.positionSide ?? p.side}`);
    if (repeats(keys) > 0) badAnswer('binance', 'positionRisk', 'symbol: a position listed twice');
    return positions.map(({ positionSide: _ps, ...p }) => p);
  },

  async closePosition(request: TradingRequest, position: OpenPosition): Promise<void> {
    if (position.market === 'option') {
      // New Order (options): "type: LIMIT (only support limit order)"
      // (https://developers.binance.com/docs/derivatives/option/trade/New-Order).
      throw new ExchangeError('CAPABILITY_GAP', `binance options take limit orders only: keyctl cannot close ${position.symbol}.`, {
        hint: "Close the option position in Binance's web UI.",
        details: { exchange: 'binance', symbol: position.symbol },
      });
    }
    const market = position.market;
    const client = await createClient(request.account, request.key, request);
    // The position as it is now: its position side (hedge mode needs it on the order) and its current size.
    const live = (await readPositions(client, market, position.symbol)).find(
      (p) => p.symbol === position.symbol && p.side === position.side,
    );
    if (!live) return; // Already closed: the caller lists again to confirm.
    const action = 'closing a position';
    // New Order, `POST /fapi/v1/order` (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order)
    // and `POST /dapi/v1/order` (https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/rest-api/New-Order):
    // `reduceOnly` "true" in one-way mode ("cannot be sent in Hedge Mode", where the order names the side it closes).
    const method = market === 'linear' ? 'fapiPrivatePostOrder' : 'dapiPrivatePostOrder';
    const params = {
      symbol: live.symbol,
      side: live.side === 'long' ? 'SELL' : 'BUY',
      type: 'MARKET',
      quantity: live.size,
      ...(live.positionSide === 'BOTH' || live.positionSide === undefined ? { reduceOnly: 'true' } : { positionSide: live.positionSide }),
    };
    let answer: unknown;
    try {
      answer = await client.call(method, params, { action, retry: 'refused-only' });
    } catch (err) {
      throw await told(err, () => readPositions(client, market, position.symbol), action);
    }
    const endpoint = market === 'linear' ? 'fapi/v1/order' : 'dapi/v1/order';
    const r = parseAnswer(v.looseObject({ orderId, symbol: nonEmpty }), answer, 'binance', endpoint);
    if (r.symbol !== live.symbol) badAnswer('binance', endpoint, 'symbol: not the symbol of the order');
  },
};
