/**
 * MEXC spot order endpoints, authenticated by the MEXC emulator (src/exchanges/mexc/sandbox.ts) exactly like its key
 * endpoints (X-MEXC-APIKEY, `timestamp`, lowercase hex HMAC of the query + body as sent). Spot only: MEXC futures live
 * on another API with another signature (https://www.mexc.com/api-docs/futures/integration-guide), not modelled.
 *
 * Reading open orders needs SPOT_DEAL_READ, cancelling and placing SPOT_DEAL_WRITE
 * (https://www.mexc.com/api-docs/spot-v3/spot-account-trade); a missing one is 700007 "No permission to access the
 * endpoint.". Errors are `{code, msg}` from https://www.mexc.com/api-docs/spot-v3/error-code.
 */
import { json, type EmulatorContext, type Reply, type SandboxRequest } from '../http.js';
import type { SandboxKey, SandboxOrder } from '../state.js';
import { commaList } from '../http.js';
import { isDecimal, isPositiveDecimal, ms, newestFirst, NO_FILLS, ownOrders, restOrder, type TradingRoutes } from './common.js';

function fail(status: number, code: number, msg: string): Reply {
  return json(status, { code, msg });
}
const noPermission = (): Reply => fail(403, 700007, 'No permission to access the endpoint.');
/** -1121 "Invalid symbol." */
const invalidSymbol = (): Reply => fail(400, -1121, 'Invalid symbol.');
const badParam = (): Reply => fail(400, 730002, 'Your input param is invalid');

/** Parameters as the emulator reads them: the query string (ccxt sends every spot parameter there). */
function param(req: SandboxRequest, name: string): string | undefined {
  const q = new URLSearchParams(req.rawQuery).get(name);
  return q === null || q === '' ? undefined : q;
}

const holds = (key: SandboxKey, name: string): boolean => commaList(key.permissions as string).includes(name);

/** An open order as Current Open Orders shows it (response example of GET /api/v3/openOrders). */
function view(o: SandboxOrder) {
  return {
    symbol: o.symbol,
    orderId: o.id,
    orderListId: -1,
    clientOrderId: o.clientId ?? null,
    price: o.price ?? '0',
    origQty: o.qty,
    executedQty: '0',
    cummulativeQuoteQty: '0',
    status: 'NEW',
    timeInForce: null,
    type: o.type === 'limit' ? 'LIMIT' : 'MARKET',
    side: o.side === 'buy' ? 'BUY' : 'SELL',
    stopPrice: null,
    icebergQty: null,
    time: ms(o.createdAt),
    updateTime: null,
    isWorking: true,
    origQuoteOrderQty: '0',
  };
}

/**
 * Current Open Orders, `GET /api/v3/openOrders`. MEXC's page lists `symbol` as mandatory; ccxt 4.5.84 calls it without
 * one for "every symbol" (fetchOpenOrders), which is how keyctl's kill lists orders. The sandbox answers both: with a
 * symbol, that symbol's orders; without, every open order (docs/sandbox.md says this is ccxt's reading, unconfirmed).
 */
function openOrders(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!holds(key, 'SPOT_DEAL_READ')) return noPermission();
  const symbol = param(req, 'symbol');
  return json(
    200,
    newestFirst(ownOrders(ctx, key))
      .filter((o) => o.market === 'spot' && (symbol === undefined || o.symbol === symbol))
      .map(view),
  );
}

/**
 * Cancel all Open Orders on a Symbol, `DELETE /api/v3/openOrders` (`symbol` mandatory): answers the cancelled orders,
 * each with status CANCELED (https://www.mexc.com/api-docs/spot-v3/spot-account-trade, response example).
 */
function cancelAll(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!holds(key, 'SPOT_DEAL_WRITE')) return noPermission();
  const symbol = param(req, 'symbol');
  if (!symbol) return invalidSymbol();
  const gone = ctx.state.removeOrders(ownOrders(ctx, key).filter((o) => o.market === 'spot' && o.symbol === symbol));
  return json(
    200,
    gone.map((o) => ({ ...view(o), origClientOrderId: o.clientId ?? null, status: 'CANCELED' })),
  );
}

/**
 * New Order, `POST /api/v3/order`: `symbol`, `side` BUY/SELL, `type`, `quantity`, `price`. A LIMIT order rests; any
 * other type is refused (the sandbox has no order book to fill it).
 */
function create(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!holds(key, 'SPOT_DEAL_WRITE')) return noPermission();
  const symbol = param(req, 'symbol');
  if (!symbol) return invalidSymbol();
  const side = param(req, 'side');
  const type = param(req, 'type');
  if ((side !== 'BUY' && side !== 'SELL') || !type) return badParam();
  if (type !== 'LIMIT') return fail(400, 730002, NO_FILLS);
  const quantity = param(req, 'quantity');
  const price = param(req, 'price');
  if (!isPositiveDecimal(quantity) || !isDecimal(price)) return badParam();
  const clientId = param(req, 'newClientOrderId');
  const o = restOrder(ctx, key, {
    symbol,
    side: side === 'BUY' ? 'buy' : 'sell',
    type: 'limit',
    price,
    qty: quantity,
    market: 'spot',
    ...(clientId ? { clientId } : {}),
  });
  return json(200, {
    symbol: o.symbol,
    orderId: o.id,
    orderListId: -1,
    price: o.price,
    origQty: o.qty,
    type: 'LIMIT',
    side,
    transactTime: ms(o.createdAt),
  });
}

export const mexcTrading: TradingRoutes = (req, ctx) => ({
  'GET /api/v3/openOrders': (k) => openOrders(req, ctx, k),
  'DELETE /api/v3/openOrders': (k) => cancelAll(req, ctx, k),
  'POST /api/v3/order': (k) => create(req, ctx, k),
});
