/**
 * Binance order and position endpoints, authenticated by the Binance emulator (src/exchanges/binance/sandbox.ts)
 * exactly like its key endpoints (X-MBX-APIKEY, `timestamp`, hex HMAC of the query + body as sent). Binance keeps each
 * market on its own API: spot `/api/v3`, cross margin `/sapi/v1/margin`, USDⓈ-M futures `/fapi` (linear) and COIN-M
 * futures `/dapi` (inverse); positions exist on the two futures APIs only. Options (`/eapi`) and portfolio margin
 * (`/papi`) are not modelled. The sandbox serves every API under the one `/binance` prefix (their paths do not clash).
 *
 * Trading (cancel, create) needs a key that is not read-only and holds "Enable Spot & Margin Trading"
 * (`enableSpotAndMarginTrading`) for spot and margin, "Enable Futures" (`enableFutures`) for futures. Every futures
 * endpoint, reads included, needs `enableFutures`. A missing permission is -2015, Binance's one answer for a bad key,
 * address or permission. Errors are `{code, msg}` from Binance's lists
 * (https://developers.binance.com/docs/binance-spot-api-docs/errors,
 * https://developers.binance.com/docs/derivatives/usds-margined-futures/error-code).
 */
import { header, json, type EmulatorContext, type Reply, type SandboxRequest } from '../http.js';
import type { OrderMarket, SandboxKey, SandboxOrder, SandboxPosition } from '../state.js';
import {
  decMul,
  isDecimal,
  isPositiveDecimal,
  ms,
  newestFirst,
  newOrderId,
  NO_FILLS,
  ownOrders,
  ownPositions,
  reduce,
  reducible,
  restOrder,
  truthy,
  type TradingRoutes,
} from './common.js';

function fail(status: number, code: number, msg: string): Reply {
  return json(status, { code, msg });
}
const invalidKey = (): Reply => fail(401, -2015, 'Invalid API-key, IP, or permissions for action.');
const mandatory = (name: string): Reply => fail(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
const invalidParam = (name: string): Reply => fail(400, -1130, `Data sent for parameter '${name}' is not valid.`);

/** Parameters as Binance reads them: the query string, then a form body; the query wins (as the emulator reads them). */
function param(req: SandboxRequest, name: string): string | undefined {
  const q = new URLSearchParams(req.rawQuery).get(name);
  if (q !== null) return q === '' ? undefined : q;
  if (!header(req, 'content-type')?.includes('application/x-www-form-urlencoded')) return undefined;
  const b = new URLSearchParams(req.rawBody).get(name);
  return b === null || b === '' ? undefined : b;
}

function flag(key: SandboxKey, name: string): boolean {
  return (key.permissions as Record<string, boolean>)[name] === true;
}

const spotTrading = (key: SandboxKey): boolean => !key.readOnly && flag(key, 'enableSpotAndMarginTrading');

/** One futures API: USDⓈ-M (`/fapi`, linear, settled in USDT) or COIN-M (`/dapi`, inverse, settled in the base coin). */
interface FuturesApi {
  prefix: '/fapi' | '/dapi';
  market: 'linear' | 'inverse';
}
const FAPI: FuturesApi = { prefix: '/fapi', market: 'linear' };
const DAPI: FuturesApi = { prefix: '/dapi', market: 'inverse' };

/** Spot and margin orders as Binance lists them (Current open orders; Query Margin Account's Open Orders). */
function spotView(o: SandboxOrder): Record<string, unknown> {
  const t = ms(o.createdAt);
  return {
    symbol: o.symbol,
    orderId: Number(o.id),
    orderListId: -1,
    clientOrderId: o.clientId ?? `sandbox${o.id}`,
    price: o.price ?? '0',
    origQty: o.qty,
    executedQty: '0',
    cummulativeQuoteQty: '0',
    status: 'NEW',
    timeInForce: 'GTC',
    type: o.type.toUpperCase(),
    side: o.side.toUpperCase(),
    stopPrice: '0',
    icebergQty: '0',
    time: t,
    updateTime: t,
    isWorking: true,
    workingTime: t,
    origQuoteOrderQty: '0',
    selfTradePreventionMode: 'NONE',
    ...(o.market === 'margin' ? { isIsolated: false } : {}),
  };
}

function futuresView(o: SandboxOrder, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const t = ms(o.createdAt);
  return {
    orderId: Number(o.id),
    symbol: o.symbol,
    ...(o.market === 'inverse' ? { pair: o.symbol.replace(/_.*$/, '') } : {}),
    status: 'NEW',
    clientOrderId: o.clientId ?? `sandbox${o.id}`,
    price: o.price ?? '0',
    avgPrice: '0',
    origQty: o.qty,
    executedQty: '0',
    ...(o.market === 'inverse' ? { cumBase: '0' } : { cumQuote: '0' }),
    timeInForce: 'GTC',
    type: o.type.toUpperCase(),
    reduceOnly: o.reduceOnly === true,
    closePosition: false,
    side: o.side.toUpperCase(),
    positionSide: 'BOTH',
    stopPrice: '0',
    workingType: 'CONTRACT_PRICE',
    priceProtect: false,
    origType: o.type.toUpperCase(),
    priceMatch: 'NONE',
    selfTradePreventionMode: 'NONE',
    goodTillDate: 0,
    time: t,
    updateTime: t,
    ...extra,
  };
}

/**
 * Current open orders (USER_DATA), `GET /api/v3/openOrders`
 * (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#current-open-orders-user_data),
 * and Query Margin Account's Open Orders, `GET /sapi/v1/margin/openOrders`
 * (https://developers.binance.com/docs/margin_trading/trade/Query-Margin-Account-Open-Orders): `symbol` optional, all
 * symbols without it. ccxt `fetchOpenOrders` (spot; `type: 'margin'` or `marginMode: 'cross'` for margin).
 */
function spotOpenOrders(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, market: 'spot' | 'margin'): Reply {
  if (market === 'margin' && truthy(param(req, 'isIsolated'))) return invalidParam('isIsolated');
  const symbol = param(req, 'symbol');
  const list = newestFirst(ownOrders(ctx, key)).filter((o) => o.market === market && (symbol === undefined || o.symbol === symbol));
  return json(200, list.map(spotView));
}

/**
 * Cancel All Open Orders on a Symbol (TRADE), `DELETE /api/v3/openOrders`
 * (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#cancel-all-open-orders-on-a-symbol-trade),
 * and Margin Account Cancel all Open Orders on a Symbol, `DELETE /sapi/v1/margin/openOrders`
 * (https://developers.binance.com/docs/margin_trading/trade/Margin-Account-Cancel-All-Open-Orders): `symbol` is
 * mandatory; answers the cancelled orders. A symbol without open orders gets -2011 "Unknown order sent." (as observed
 * on Binance). ccxt `cancelAllOrders(symbol)` (a symbol is required).
 */
function spotCancelAll(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, market: 'spot' | 'margin'): Reply {
  if (!spotTrading(key)) return invalidKey();
  const symbol = param(req, 'symbol');
  if (!symbol) return mandatory('symbol');
  const gone = ctx.state.removeOrders(ownOrders(ctx, key).filter((o) => o.market === market && o.symbol === symbol));
  if (gone.length === 0) return fail(400, -2011, 'Unknown order sent.');
  return json(
    200,
    gone.map((o) => ({
      ...spotView(o),
      origClientOrderId: o.clientId ?? `sandbox${o.id}`,
      clientOrderId: `sandboxcancel${o.id}`,
      transactTime: ctx.now,
      status: 'CANCELED',
    })),
  );
}

/**
 * New order (TRADE), `POST /api/v3/order`
 * (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/trading-endpoints#new-order-trade): `symbol`,
 * `side`, `type`, `quantity`, `price` and `timeInForce` for LIMIT, `newClientOrderId`. Spot has no reduce-only and no
 * positions: a LIMIT order rests; any other order gets -2010 NEW_ORDER_REJECTED (the sandbox has no order book).
 */
function spotCreate(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!spotTrading(key)) return invalidKey();
  const symbol = param(req, 'symbol');
  if (!symbol) return mandatory('symbol');
  const side = param(req, 'side');
  if (side !== 'BUY' && side !== 'SELL') return mandatory('side');
  const type = param(req, 'type');
  if (!type) return mandatory('type');
  if (type !== 'LIMIT') return fail(400, -2010, NO_FILLS);
  const quantity = param(req, 'quantity');
  if (!isPositiveDecimal(quantity)) return mandatory('quantity');
  const price = param(req, 'price');
  if (!isDecimal(price)) return mandatory('price');
  if (!param(req, 'timeInForce')) return mandatory('timeInForce');
  const clientId = param(req, 'newClientOrderId');
  const o = restOrder(ctx, key, {
    symbol,
    side: side === 'BUY' ? 'buy' : 'sell',
    type: 'limit',
    price,
    qty: quantity,
    market: 'spot',
    ...(clientId !== undefined ? { clientId } : {}),
  });
  return json(200, { ...spotView(o), transactTime: ctx.now, fills: [] });
}

/** Symbols a futures account has an order or a position in, for positionRisk and leverageBracket. */
function futuresSymbols(ctx: EmulatorContext, key: SandboxKey, api: FuturesApi): string[] {
  return [
    ...new Set([
      ...ownPositions(ctx, key)
        .filter((p) => p.market === api.market)
        .map((p) => p.symbol),
      ...ownOrders(ctx, key)
        .filter((o) => o.market === api.market)
        .map((o) => o.symbol),
    ]),
  ];
}

/**
 * Current All Open Orders (USER_DATA), `GET /fapi/v1/openOrders`
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Current-All-Open-Orders) and
 * `GET /dapi/v1/openOrders` (https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/rest-api/Current-All-Open-Orders):
 * `symbol` optional. ccxt `fetchOpenOrders` on a linear / inverse symbol.
 */
function futuresOpenOrders(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, api: FuturesApi): Reply {
  const symbol = param(req, 'symbol');
  const list = newestFirst(ownOrders(ctx, key)).filter((o) => o.market === api.market && (symbol === undefined || o.symbol === symbol));
  return json(
    200,
    list.map((o) => futuresView(o)),
  );
}

/**
 * Cancel All Open Orders (TRADE), `DELETE /fapi/v1/allOpenOrders`
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Cancel-All-Open-Orders) and
 * `DELETE /dapi/v1/allOpenOrders`: `symbol` mandatory; answers `{"code": 200, "msg": "The operation of cancel all open
 * order is done."}` whether or not there was anything to cancel. ccxt `cancelAllOrders(symbol)`.
 */
function futuresCancelAll(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, api: FuturesApi): Reply {
  if (key.readOnly) return invalidKey();
  const symbol = param(req, 'symbol');
  if (!symbol) return mandatory('symbol');
  ctx.state.removeOrders(ownOrders(ctx, key).filter((o) => o.market === api.market && o.symbol === symbol));
  return json(200, { code: 200, msg: 'The operation of cancel all open order is done.' });
}

/**
 * A position's signed notional, whose sign is how clients (ccxt) tell a long from a short: the amount times the entry
 * price (USDⓈ-M, in USDT) or over it (COIN-M, in coin, a contract counted as 1 USD). The sandbox has no prices: without
 * a seeded entry price it counts 1.
 */
function notionalOf(amt: string, price: string, api: FuturesApi): string {
  const p = Number(price) > 0 ? price : '1';
  if (api.market === 'linear') return decMul(amt, p);
  return (Number(amt) / Number(p)).toFixed(8);
}

function signedAmt(p: SandboxPosition | undefined): string {
  if (!p) return '0';
  return p.side === 'short' ? `-${p.size}` : p.size;
}

/**
 * Position Information V3 (USER_DATA), `GET /fapi/v3/positionRisk`
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/Position-Information-V3): "Only
 * symbol that has position or open orders will be returned"; V2 `GET /fapi/v2/positionRisk` and COIN-M `GET
 * /dapi/v1/positionRisk` (https://developers.binance.com/docs/derivatives/coin-margined-futures/trade/rest-api/Position-Information)
 * in their own shapes. One-way mode (`positionSide` BOTH, `positionAmt` negative for a short). ccxt `fetchPositions`
 * (positionRisk: fapi v3 by default, dapi for `subType: 'inverse'`).
 */
function positionRisk(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, api: FuturesApi, version: 1 | 2 | 3): Reply {
  const symbol = param(req, 'symbol');
  const pair = param(req, 'pair');
  const held = ownPositions(ctx, key).filter((p) => p.market === api.market);
  const symbols = futuresSymbols(ctx, key, api).filter(
    (s) => (symbol === undefined || s === symbol) && (pair === undefined || s.startsWith(`${pair}_`)),
  );
  return json(
    200,
    symbols.map((s) => {
      const p = held.find((x) => x.symbol === s);
      const amt = signedAmt(p);
      const price = p?.entryPrice ?? '0';
      const updateTime = p ? ms(p.createdAt) : 0;
      const notional = notionalOf(amt, price, api);
      if (version === 3) {
        return {
          symbol: s,
          positionSide: 'BOTH',
          positionAmt: amt,
          entryPrice: price,
          breakEvenPrice: price,
          markPrice: price,
          unRealizedProfit: '0',
          liquidationPrice: '0',
          isolatedMargin: '0',
          notional,
          marginAsset: 'USDT',
          isolatedWallet: '0',
          initialMargin: '0',
          maintMargin: '0',
          positionInitialMargin: '0',
          openOrderInitialMargin: '0',
          adl: 0,
          bidNotional: '0',
          askNotional: '0',
          updateTime,
        };
      }
      return {
        symbol: s,
        positionAmt: amt,
        entryPrice: price,
        breakEvenPrice: price,
        markPrice: price,
        unRealizedProfit: '0',
        liquidationPrice: '0',
        leverage: '10',
        ...(api.market === 'inverse' ? { maxQty: '1000', notionalValue: notional } : { maxNotionalValue: '1000000', notional }),
        marginType: 'cross',
        isolatedMargin: '0',
        isAutoAddMargin: 'false',
        positionSide: 'BOTH',
        isolatedWallet: '0',
        updateTime,
      };
    }),
  );
}

/**
 * Notional and Leverage Brackets (USER_DATA), `GET /fapi/v1/leverageBracket`
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/account/rest-api/Notional-and-Leverage-Brackets)
 * and `GET /dapi/v2/leverageBracket`: one flat bracket per symbol the account trades. ccxt loads it before parsing
 * positions (`loadLeverageBrackets`).
 */
function leverageBracket(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, api: FuturesApi): Reply {
  const symbol = param(req, 'symbol');
  const symbols = symbol !== undefined ? [symbol] : futuresSymbols(ctx, key, api);
  const bracket =
    api.market === 'linear'
      ? { bracket: 1, initialLeverage: 125, notionalCap: 1_000_000_000, notionalFloor: 0, maintMarginRatio: 0.004, cum: 0 }
      : { bracket: 1, initialLeverage: 125, qtyCap: 1_000_000, qtyFloor: 0, maintMarginRatio: 0.004, cum: 0 };
  return json(
    200,
    symbols.map((s) =>
      api.market === 'linear' ? { symbol: s, notionalCoef: 1, brackets: [bracket] } : { pair: s.replace(/_.*$/, ''), brackets: [bracket] },
    ),
  );
}

/**
 * New Order (TRADE), `POST /fapi/v1/order`
 * (https://developers.binance.com/docs/derivatives/usds-margined-futures/trade/rest-api/New-Order) and `POST
 * /dapi/v1/order`: `symbol`, `side`, `type`, `quantity`, `price` + `timeInForce` for LIMIT, `reduceOnly` ("true" /
 * "false"), `positionSide` (BOTH only: one-way mode), `newClientOrderId`. A reduce-only MARKET order fills at once
 * against the position; none, one on the same side, or a quantity above its size gets -2022 "ReduceOnly Order is
 * rejected." A LIMIT order rests (reduce-only: only against an opposite position, else -2022); any other order gets
 * -2010 (the sandbox has no order book). ccxt `createOrder` on a
 * linear / inverse symbol (`reduceOnly: true` sent as "true").
 */
function futuresCreate(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, api: FuturesApi): Reply {
  if (key.readOnly) return invalidKey();
  const symbol = param(req, 'symbol');
  if (!symbol) return mandatory('symbol');
  const side = param(req, 'side');
  if (side !== 'BUY' && side !== 'SELL') return mandatory('side');
  const type = param(req, 'type');
  if (!type) return mandatory('type');
  const positionSide = param(req, 'positionSide') ?? 'BOTH';
  if (positionSide !== 'BOTH') return fail(400, -4061, "Order's position side does not match user's setting.");
  const quantity = param(req, 'quantity');
  if (!isPositiveDecimal(quantity)) return mandatory('quantity');
  const reduceOnly = truthy(param(req, 'reduceOnly'));
  const clientId = param(req, 'newClientOrderId');
  const market: OrderMarket = api.market;
  if (type === 'LIMIT') {
    const price = param(req, 'price');
    if (!isDecimal(price)) return mandatory('price');
    if (!param(req, 'timeInForce')) return mandatory('timeInForce');
    if (reduceOnly && reducible(ctx.state, key, symbol, side === 'BUY' ? 'buy' : 'sell'))
      return fail(400, -2022, 'ReduceOnly Order is rejected.');
    const o = restOrder(ctx, key, {
      symbol,
      side: side === 'BUY' ? 'buy' : 'sell',
      type: 'limit',
      price,
      qty: quantity,
      market,
      reduceOnly,
      ...(clientId !== undefined ? { clientId } : {}),
    });
    return json(200, futuresView(o));
  }
  if (type !== 'MARKET' || !reduceOnly) return fail(400, -2010, NO_FILLS);
  const done = reduce(ctx.state, key, symbol, side === 'BUY' ? 'buy' : 'sell', quantity);
  if ('refused' in done) return fail(400, -2022, 'ReduceOnly Order is rejected.');
  const filled: SandboxOrder = {
    exchange: 'binance',
    owner: key.owner,
    id: newOrderId('binance', ctx.state),
    ...(clientId !== undefined ? { clientId } : {}),
    symbol,
    side: side === 'BUY' ? 'buy' : 'sell',
    type: 'market',
    price: null,
    qty: done.filled,
    market,
    reduceOnly: true,
    createdAt: new Date(ctx.now).toISOString(),
  };
  return json(200, futuresView(filled, { status: 'FILLED', executedQty: done.filled }));
}

/** Every futures endpoint needs "Enable Futures" on the key, reads included. */
function futures(key: SandboxKey, run: () => Reply): Reply {
  return flag(key, 'enableFutures') ? run() : invalidKey();
}

export const binanceTrading: TradingRoutes = (req, ctx) => {
  const routes: Record<string, (key: SandboxKey) => Reply> = {
    'GET /api/v3/openOrders': (k) => spotOpenOrders(req, ctx, k, 'spot'),
    'DELETE /api/v3/openOrders': (k) => spotCancelAll(req, ctx, k, 'spot'),
    'POST /api/v3/order': (k) => spotCreate(req, ctx, k),
    'GET /sapi/v1/margin/openOrders': (k) => spotOpenOrders(req, ctx, k, 'margin'),
    'DELETE /sapi/v1/margin/openOrders': (k) => spotCancelAll(req, ctx, k, 'margin'),
    'GET /fapi/v3/positionRisk': (k) => futures(k, () => positionRisk(req, ctx, k, FAPI, 3)),
    'GET /fapi/v2/positionRisk': (k) => futures(k, () => positionRisk(req, ctx, k, FAPI, 2)),
    'GET /dapi/v1/positionRisk': (k) => futures(k, () => positionRisk(req, ctx, k, DAPI, 1)),
    'GET /fapi/v1/leverageBracket': (k) => futures(k, () => leverageBracket(req, ctx, k, FAPI)),
    'GET /dapi/v2/leverageBracket': (k) => futures(k, () => leverageBracket(req, ctx, k, DAPI)),
  };
  for (const api of [FAPI, DAPI]) {
    routes[`GET ${api.prefix}/v1/openOrders`] = (k) => futures(k, () => futuresOpenOrders(req, ctx, k, api));
    routes[`DELETE ${api.prefix}/v1/allOpenOrders`] = (k) => futures(k, () => futuresCancelAll(req, ctx, k, api));
    routes[`POST ${api.prefix}/v1/order`] = (k) => futures(k, () => futuresCreate(req, ctx, k, api));
  }
  return routes;
};
