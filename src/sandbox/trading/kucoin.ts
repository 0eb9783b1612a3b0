/**
 * KuCoin order and position endpoints, authenticated by the KuCoin emulator (src/exchanges/kucoin/sandbox.ts) exactly
 * like its key endpoints. Answers are `{code: "200000", data}` or `{code, msg}`.
 *
 * KuCoin splits spot and futures across two hosts whose paths overlap (`/api/v1/orders` is a classic spot endpoint on
 * api.kucoin.com and the futures one on api-futures.kucoin.com). The sandbox serves both under the one `/kucoin`
 * prefix, so it models spot and margin with the high-frequency (HF) endpoints only (`/api/v1/hf/...`,
 * `/api/v3/hf/margin/...`), answers `GET /api/v1/hf/accounts/opened` true so that ccxt picks them, and gives
 * `/api/v1/orders` and `/api/v1/positions` to futures. Classic (non-HF) spot orders and the unified account (UTA)
 * trading endpoints are not modelled; `GET /api/ua/v1/account/mode` answers CLASSIC.
 *
 * Trading (cancel, create) needs a key that is not read-only and holds Spot (spot), Margin (margin) or Futures
 * (futures), else 400007 "Access denied, require more permission." (HTTP 400, as the emulator answers it); reading
 * needs any key of the account.
 */
import { json, param, type EmulatorContext, type Reply, type SandboxRequest } from '../http.js';
import type { OrderMarket, SandboxKey, SandboxOrder, SandboxPosition } from '../state.js';
import {
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

function fail(status: number, code: string, msg: string): Reply {
  return json(status, { code, msg });
}
const ok = (data: unknown): Reply => json(200, { code: '200000', data });
const badParam = (msg: string): Reply => fail(400, '400100', msg);
const denied = (): Reply => fail(400, '400007', 'Access denied, require more permission.');

const PERMISSION: Record<'spot' | 'margin' | 'futures', string> = { spot: 'Spot', margin: 'Margin', futures: 'Futures' };

function mayTrade(key: SandboxKey, what: 'spot' | 'margin' | 'futures'): boolean {
  return !key.readOnly && (key.permissions as string).split(',').includes(PERMISSION[what]);
}

const isContract = (m: OrderMarket): boolean => m === 'linear' || m === 'inverse';

/** A futures symbol's market: `XBTUSDTM` / `ETHUSDCM` linear, `XBTUSDM` inverse (the sandbox's reading of the ids). */
function contractMarket(symbol: string): 'linear' | 'inverse' {
  return /(USDT|USDC)M$/.test(symbol) ? 'linear' : 'inverse';
}

function settleOf(symbol: string): string {
  const m = /(USDT|USDC)M$/.exec(symbol);
  return m ? m[1]! : symbol.replace(/USDM$/, '');
}

/** A spot or margin order as the HF order endpoints show it. */
function hfView(o: SandboxOrder): Record<string, unknown> {
  const t = ms(o.createdAt);
  return {
    id: o.id,
    clientOid: o.clientId ?? '',
    symbol: o.symbol,
    opType: 'DEAL',
    type: o.type,
    side: o.side,
    price: o.price ?? '0',
    size: o.qty,
    funds: '0',
    dealSize: '0',
    dealFunds: '0',
    cancelledSize: '0',
    cancelledFunds: '0',
    remainSize: o.qty,
    remainFunds: '0',
    fee: '0',
    feeCurrency: o.symbol.split('-')[1] ?? '',
    stp: '',
    timeInForce: 'GTC',
    postOnly: false,
    hidden: false,
    iceberg: false,
    visibleSize: '0',
    cancelAfter: 0,
    channel: 'API',
    remark: '',
    tags: '',
    cancelExist: false,
    tradeType: o.market === 'margin' ? 'MARGIN_TRADE' : 'TRADE',
    inOrderBook: true,
    active: true,
    tax: '0',
    createdAt: t,
    lastUpdatedAt: t,
  };
}

function futuresView(o: SandboxOrder): Record<string, unknown> {
  const t = ms(o.createdAt);
  return {
    id: o.id,
    symbol: o.symbol,
    type: o.type,
    side: o.side,
    price: o.price ?? '0',
    size: Number(o.qty),
    value: '0',
    dealValue: '0',
    dealSize: 0,
    stp: '',
    stop: '',
    stopPriceType: '',
    stopTriggered: false,
    stopPrice: null,
    timeInForce: 'GTC',
    postOnly: false,
    hidden: false,
    iceberg: false,
    leverage: '1',
    forceHold: false,
    closeOrder: false,
    visibleSize: 0,
    clientOid: o.clientId ?? '',
    remark: null,
    tags: '',
    isActive: true,
    cancelExist: false,
    createdAt: t,
    updatedAt: t,
    endAt: null,
    orderTime: t * 1_000_000,
    settleCurrency: settleOf(o.symbol),
    marginMode: 'ISOLATED',
    avgDealPrice: '0',
    filledSize: 0,
    filledValue: '0',
    status: 'open',
    reduceOnly: o.reduceOnly === true,
  };
}

function positionView(p: SandboxPosition, now: number): Record<string, unknown> {
  const qty = Number(p.size) * (p.side === 'short' ? -1 : 1);
  const price = Number(p.entryPrice ?? '0');
  return {
    id: `${p.owner.replace(/\D/g, '').slice(-6)}${ms(p.createdAt)}`,
    symbol: p.symbol,
    autoDeposit: false,
    crossMode: false,
    maintMarginReq: 0.005,
    riskLimit: 200000,
    realLeverage: 0,
    delevPercentage: 0,
    openingTimestamp: ms(p.createdAt),
    currentTimestamp: now,
    currentQty: qty,
    currentCost: 0,
    currentComm: 0,
    unrealisedCost: 0,
    realisedGrossCost: 0,
    realisedCost: 0,
    isOpen: true,
    markPrice: price,
    markValue: 0,
    posCost: 0,
    posCross: 0,
    posInit: 0,
    posComm: 0,
    posLoss: 0,
    posMargin: 0,
    posMaint: 0,
    maintMargin: 0,
    realisedGrossPnl: 0,
    realisedPnl: 0,
    unrealisedPnl: 0,
    unrealisedPnlPcnt: 0,
    unrealisedRoePcnt: 0,
    avgEntryPrice: price,
    liquidationPrice: 0,
    bankruptPrice: 0,
    settleCurrency: settleOf(p.symbol),
    isInverse: p.market === 'inverse',
    marginMode: 'ISOLATED',
    positionSide: 'BOTH',
    leverage: 1,
  };
}

/** `tradeType` of the HF margin endpoints: MARGIN_TRADE (cross) or MARGIN_ISOLATED_TRADE; both are the sandbox's margin. */
function marginTradeType(req: SandboxRequest): Reply | undefined {
  const t = param(req, 'tradeType');
  if (!t) return badParam('tradeType is required');
  if (t !== 'MARGIN_TRADE' && t !== 'MARGIN_ISOLATED_TRADE') return badParam('tradeType is invalid');
  return undefined;
}

/**
 * Get Open Orders (HF), `GET /api/v1/hf/orders/active?symbol=`
 * (https://www.kucoin.com/docs-new/rest/spot-trading/orders/get-open-orders), and the margin one, `GET
 * /api/v3/hf/margin/orders/active?symbol=&tradeType=`
 * (https://www.kucoin.com/docs-new/rest/margin-trading/orders/get-open-orders): `symbol` required; answers the list.
 * ccxt `fetchOpenOrders(symbol)` (HF needs a symbol; `marginMode: 'cross'` for margin).
 */
function hfOpenOrders(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, market: 'spot' | 'margin'): Reply {
  const symbol = param(req, 'symbol');
  if (!symbol) return badParam('symbol is required');
  if (market === 'margin') {
    const bad = marginTradeType(req);
    if (bad) return bad;
  }
  return ok(
    newestFirst(ownOrders(ctx, key))
      .filter((o) => o.market === market && o.symbol === symbol)
      .map(hfView),
  );
}

/**
 * Cancel All Orders By Symbol (HF), `DELETE /api/v1/hf/orders?symbol=`
 * (https://www.kucoin.com/docs-new/rest/spot-trading/orders/cancel-all-orders-by-symbol) -> `"success"`; the margin
 * one, `DELETE /api/v3/hf/margin/orders?symbol=&tradeType=`
 * (https://www.kucoin.com/docs-new/rest/margin-trading/orders/cancel-all-orders-by-symbol); and Cancel All Orders
 * (HF, every symbol), `DELETE /api/v1/hf/orders/cancelAll`
 * (https://www.kucoin.com/docs-new/rest/spot-trading/orders/cancel-all-orders) -> `{succeedSymbols, failedSymbols}`.
 * ccxt `cancelAllOrders` (with or without a symbol; `marginMode: 'cross'` and a symbol for margin).
 */
function hfCancel(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, market: 'spot' | 'margin', everySymbol: boolean): Reply {
  if (!mayTrade(key, market)) return denied();
  if (everySymbol) {
    const gone = ctx.state.removeOrders(ownOrders(ctx, key).filter((o) => o.market === 'spot'));
    return ok({ succeedSymbols: [...new Set(gone.map((o) => o.symbol))], failedSymbols: [] });
  }
  const symbol = param(req, 'symbol');
  if (!symbol) return badParam('symbol is required');
  if (market === 'margin') {
    const bad = marginTradeType(req);
    if (bad) return bad;
  }
  ctx.state.removeOrders(ownOrders(ctx, key).filter((o) => o.market === market && o.symbol === symbol));
  return ok('success');
}

/**
 * Add Order (HF), `POST /api/v1/hf/orders` (https://www.kucoin.com/docs-new/rest/spot-trading/orders/add-order):
 * `clientOid`, `symbol`, `type`, `side`, `price`, `size`. Spot has no positions: a limit order rests; a market order
 * gets 400100 (the sandbox has no order book). Answers `{orderId, clientOid}`.
 */
function hfCreate(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!mayTrade(key, 'spot')) return denied();
  const symbol = param(req, 'symbol');
  if (!symbol) return badParam('symbol is required');
  const side = param(req, 'side');
  if (side !== 'buy' && side !== 'sell') return badParam('side is invalid');
  const type = param(req, 'type');
  if (type !== 'limit' && type !== 'market') return badParam('type is invalid');
  if (type === 'market') return badParam(NO_FILLS);
  const size = param(req, 'size');
  if (!isPositiveDecimal(size)) return badParam('size is invalid');
  const price = param(req, 'price');
  if (!isDecimal(price)) return badParam('price is required for a limit order');
  const clientOid = param(req, 'clientOid') ?? '';
  const o = restOrder(ctx, key, { symbol, side, type: 'limit', price, qty: size, market: 'spot', clientId: clientOid });
  return ok({ orderId: o.id, clientOid });
}

/**
 * Get Order List (futures), `GET /api/v1/orders?status=active`
 * (https://www.kucoin.com/docs-new/rest/futures-trading/orders/get-order-list): `status` active or done (the sandbox
 * keeps no done orders), `symbol`, `side`, `type`; answers a page `{currentPage, pageSize, totalNum, totalPage,
 * items}`. ccxt `fetchOpenOrders` on a contract symbol (or `type: 'swap'`).
 */
function futuresOrders(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const status = param(req, 'status') ?? 'active';
  if (status !== 'active' && status !== 'done') return badParam('status is invalid');
  const symbol = param(req, 'symbol');
  const side = param(req, 'side');
  const type = param(req, 'type');
  const pageSize = Number(param(req, 'pageSize') ?? '50');
  const currentPage = Number(param(req, 'currentPage') ?? '1');
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 1000) return badParam('pageSize is invalid');
  if (!Number.isInteger(currentPage) || currentPage < 1) return badParam('currentPage is invalid');
  const items =
    status === 'done'
      ? []
      : newestFirst(ownOrders(ctx, key)).filter(
          (o) =>
            isContract(o.market) &&
            (symbol === undefined || o.symbol === symbol) &&
            (side === undefined || o.side === side) &&
            (type === undefined || o.type === type),
        );
  return ok({
    currentPage,
    pageSize,
    totalNum: items.length,
    totalPage: Math.ceil(items.length / pageSize),
    items: items.slice((currentPage - 1) * pageSize, currentPage * pageSize).map(futuresView),
  });
}

/**
 * Cancel All Orders (futures), `DELETE /api/v1/orders?symbol=`
 * (https://www.kucoin.com/docs-new/rest/futures-trading/orders/cancel-all-orders): every open futures order, or the
 * symbol's; answers `{cancelledOrderIds}`. ccxt `cancelAllOrders` on a contract symbol (or `type: 'swap'`).
 */
function futuresCancelAll(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!mayTrade(key, 'futures')) return denied();
  const symbol = param(req, 'symbol');
  const gone = ctx.state.removeOrders(
    ownOrders(ctx, key).filter((o) => isContract(o.market) && (symbol === undefined || o.symbol === symbol)),
  );
  return ok({ cancelledOrderIds: gone.map((o) => o.id) });
}

/**
 * Get Position List, `GET /api/v1/positions` (https://www.kucoin.com/docs-new/rest/futures-trading/positions/get-position-list):
 * open positions, `currency` (settle currency) filter; `currentQty` negative for a short. ccxt `fetchPositions`.
 */
function positions(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const currency = param(req, 'currency');
  return ok(
    ownPositions(ctx, key)
      .filter((p) => currency === undefined || settleOf(p.symbol) === currency)
      .map((p) => positionView(p, ctx.now)),
  );
}

/**
 * Add Order (futures), `POST /api/v1/orders` (https://www.kucoin.com/docs-new/rest/futures-trading/orders/add-order):
 * `clientOid`, `side`, `symbol`, `type`, `size` (lots, an integer), `price`, `leverage`, `reduceOnly`, `closeOrder`.
 * `reduceOnly`: "If set to true, only the orders reducing the position size will be executed. If the reduce-only
 * order size exceeds the position size, the extra size will be canceled": a reduce-only market order fills at once up
 * to the position's size; without a position to reduce (none, or one on the same side) it gets 300009 "No open
 * positions to close." `closeOrder` closes the whole position (side and size ignored). A limit order rests
 * (reduce-only: only against an opposite position, else 300009); any other market order gets 400100 (the sandbox has
 * no order book). Answers `{orderId, clientOid}`. ccxt `createOrder` on a contract symbol (`reduceOnly: true` sent as
 * is).
 */
function futuresCreate(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!mayTrade(key, 'futures')) return denied();
  const clientOid = param(req, 'clientOid');
  if (!clientOid) return badParam('clientOid is required');
  const symbol = param(req, 'symbol');
  if (!symbol) return badParam('symbol is required');
  const closeOrder = truthy(req.params.closeOrder);
  const type = param(req, 'type') ?? 'limit';
  if (type !== 'limit' && type !== 'market') return badParam('type is invalid');
  if (closeOrder) {
    const p = ctx.state.position('kucoin', key.owner, symbol);
    if (!p) return fail(200, '300009', 'No open positions to close.');
    reduce(ctx.state, key, symbol, p.side === 'long' ? 'sell' : 'buy', p.size);
    return ok({ orderId: newOrderId('kucoin', ctx.state), clientOid });
  }
  const side = param(req, 'side');
  if (side !== 'buy' && side !== 'sell') return badParam('side is invalid');
  const size = param(req, 'size');
  if (!size || !/^[1-9]\d*$/.test(size)) return badParam('size must be a positive integer (lots)');
  const reduceOnly = truthy(req.params.reduceOnly);
  if (type === 'limit') {
    const price = param(req, 'price');
    if (!isDecimal(price)) return badParam('price is required for a limit order');
    if (reduceOnly && reducible(ctx.state, key, symbol, side)) return fail(200, '300009', 'No open positions to close.');
    const o = restOrder(ctx, key, {
      symbol,
      side,
      type: 'limit',
      price,
      qty: size,
      market: contractMarket(symbol),
      reduceOnly,
      clientId: clientOid,
    });
    return ok({ orderId: o.id, clientOid });
  }
  if (!reduceOnly) return badParam(NO_FILLS);
  const done = reduce(ctx.state, key, symbol, side, size, { trim: true });
  if ('refused' in done) return fail(200, '300009', 'No open positions to close.');
  return ok({ orderId: newOrderId('kucoin', ctx.state), clientOid });
}

export const kucoinTrading: TradingRoutes = (req, ctx) => ({
  // Get Account Type (spot HF migration), https://www.kucoin.com/docs-new/rest/account-info/account-funding/get-account-type-spot:
  // ccxt reads it during loadMarkets (loadMigrationStatus) and then uses the HF endpoints.
  'GET /api/v1/hf/accounts/opened': () => ok(true),
  // Get Account Mode, https://www.kucoin.com/docs-new/rest/ua/get-account-mode: ccxt `isUTAEnabled` before every order
  // call. The sandbox models classic accounts only.
  'GET /api/ua/v1/account/mode': () => ok({ selfAccountMode: 'CLASSIC' }),
  'GET /api/v1/hf/orders/active': (k) => hfOpenOrders(req, ctx, k, 'spot'),
  'DELETE /api/v1/hf/orders': (k) => hfCancel(req, ctx, k, 'spot', false),
  'DELETE /api/v1/hf/orders/cancelAll': (k) => hfCancel(req, ctx, k, 'spot', true),
  'POST /api/v1/hf/orders': (k) => hfCreate(req, ctx, k),
  'GET /api/v3/hf/margin/orders/active': (k) => hfOpenOrders(req, ctx, k, 'margin'),
  'DELETE /api/v3/hf/margin/orders': (k) => hfCancel(req, ctx, k, 'margin', false),
  'GET /api/v1/orders': (k) => futuresOrders(req, ctx, k),
  'DELETE /api/v1/orders': (k) => futuresCancelAll(req, ctx, k),
  'GET /api/v1/positions': (k) => positions(req, ctx, k),
  'POST /api/v1/orders': (k) => futuresCreate(req, ctx, k),
});
