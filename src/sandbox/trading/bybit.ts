/**
 * Bybit v5 order and position endpoints, authenticated by the Bybit emulator (src/exchanges/bybit/sandbox.ts) exactly
 * like its key endpoints. Every answer is HTTP 200 with `{retCode, retMsg, result, retExtInfo, time}`.
 *
 * Categories (`category`): `spot` holds the account's spot and margin orders (a margin order is a spot order with
 * `isLeverage` 1), `linear`, `inverse` and `option` their own. Trading (cancel, create) needs a key that is not
 * read-only and holds the category's trade permission (Spot SpotTrade; ContractTrade Order for linear and inverse;
 * Options OptionsTrade), else 10005; reading needs any key of the account.
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

type Category = 'spot' | 'linear' | 'inverse' | 'option';
const CATEGORIES: readonly Category[] = ['spot', 'linear', 'inverse', 'option'];

function reply(ctx: EmulatorContext, retCode: number, retMsg: string, result: unknown = {}): Reply {
  return json(200, { retCode, retMsg, result, retExtInfo: {}, time: ctx.now });
}
const ok = (ctx: EmulatorContext, result: unknown): Reply => reply(ctx, 0, 'OK', result);
const badParam = (ctx: EmulatorContext, msg: string): Reply => reply(ctx, 10001, msg);
const denied = (ctx: EmulatorContext): Reply => reply(ctx, 10005, 'Permission denied, please check your API key permissions.');

/**
 * Whether the account tree is a unified trading account: the Bybit emulator's own rule (a key of the tree holds
 * `Derivatives: [DerivativesTrade]`, see src/exchanges/bybit/sandbox.ts), repeated here for account/info.
 */
function isUta(ctx: EmulatorContext, mainUid: string): boolean {
  return ctx.state
    .keys({ exchange: 'bybit', mainUid })
    .some((k) => ((k.permissions as Record<string, string[]>).Derivatives ?? []).includes('DerivativesTrade'));
}

function marketsOf(category: Category): OrderMarket[] {
  return category === 'spot' ? ['spot', 'margin'] : [category];
}

/** The permission a key needs to trade in a category. */
const TRADE_PERMISSION: Record<Category, [string, string]> = {
  spot: ['Spot', 'SpotTrade'],
  linear: ['ContractTrade', 'Order'],
  inverse: ['ContractTrade', 'Order'],
  option: ['Options', 'OptionsTrade'],
};

function mayTrade(key: SandboxKey, category: Category): boolean {
  const [group, perm] = TRADE_PERMISSION[category];
  return !key.readOnly && ((key.permissions as Record<string, string[]>)[group] ?? []).includes(perm);
}

function category(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Category | Reply {
  const c = param(req, 'category');
  if (!c) return badParam(ctx, 'category can not be empty');
  if (!(CATEGORIES as readonly string[]).includes(c)) return badParam(ctx, `Illegal category: ${c}`);
  // Classic accounts have no options (open-order and position pages: "classic account: linear, inverse, spot").
  if (c === 'option' && !isUta(ctx, key.mainUid)) return badParam(ctx, 'Illegal category: option is for unified trading accounts');
  return c as Category;
}

/** The settle coin of a linear or inverse symbol (`BTCUSDT` USDT, `BTCPERP` USDC, `BTCUSD` BTC), the sandbox's reading. */
function settleOf(symbol: string, market: OrderMarket): string {
  if (market === 'inverse') return symbol.replace(/USD.*$/, '');
  return symbol.includes('USDT') ? 'USDT' : 'USDC';
}

function baseOf(symbol: string): string {
  return symbol.replace(/(USDT|USDC|PERP|USD)[A-Z0-9-]*$/, '');
}

/** symbol > baseCoin > settleCoin, as Bybit applies them ("the system will process them according to this priority"). */
function matches(req: SandboxRequest, o: { symbol: string; market: OrderMarket }): boolean {
  const symbol = param(req, 'symbol');
  if (symbol) return symbol.split(',').includes(o.symbol);
  const baseCoin = param(req, 'baseCoin');
  if (baseCoin) return baseOf(o.symbol) === baseCoin;
  const settleCoin = param(req, 'settleCoin');
  if (settleCoin && o.market !== 'spot' && o.market !== 'margin') return settleOf(o.symbol, o.market) === settleCoin;
  return true;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function orderView(o: SandboxOrder): Record<string, unknown> {
  const t = String(ms(o.createdAt));
  return {
    orderId: o.id,
    orderLinkId: o.clientId ?? '',
    blockTradeId: '',
    symbol: o.symbol,
    price: o.price ?? '0',
    qty: o.qty,
    side: cap(o.side),
    isLeverage: o.market === 'margin' ? '1' : o.market === 'spot' ? '0' : '',
    positionIdx: 0,
    orderStatus: 'New',
    createType: 'CreateByUser',
    cancelType: 'UNKNOWN',
    rejectReason: 'EC_NoError',
    avgPrice: '',
    leavesQty: o.qty,
    leavesValue: '0',
    cumExecQty: '0',
    cumExecValue: '0',
    cumExecFee: '0',
    timeInForce: o.type === 'market' ? 'IOC' : 'GTC',
    orderType: cap(o.type),
    stopOrderType: '',
    orderIv: '',
    marketUnit: '',
    triggerPrice: '',
    takeProfit: '',
    stopLoss: '',
    tpslMode: '',
    ocoTriggerBy: '',
    tpLimitPrice: '',
    slLimitPrice: '',
    tpTriggerBy: '',
    slTriggerBy: '',
    triggerDirection: 0,
    triggerBy: '',
    lastPriceOnCreated: '',
    basePrice: '',
    reduceOnly: o.reduceOnly === true,
    closeOnTrigger: false,
    placeType: '',
    smpType: 'None',
    smpGroup: 0,
    smpOrderId: '',
    createdTime: t,
    updatedTime: t,
  };
}

/** An empty position entry: what Bybit answers for a symbol asked for by name with no position held. */
function positionView(p: SandboxPosition | undefined, symbol: string, now: number): Record<string, unknown> {
  const t = String(p ? ms(p.createdAt) : now);
  return {
    positionIdx: 0,
    riskId: 1,
    riskLimitValue: '2000000',
    symbol,
    side: p ? (p.side === 'long' ? 'Buy' : 'Sell') : '',
    size: p?.size ?? '0',
    avgPrice: p?.entryPrice ?? '0',
    positionValue: '0',
    tradeMode: 0,
    autoAddMargin: 0,
    positionStatus: 'Normal',
    leverage: '10',
    markPrice: p?.entryPrice ?? '0',
    liqPrice: '',
    bustPrice: '',
    positionIM: '0',
    positionMM: '0',
    positionBalance: '0',
    tpslMode: 'Full',
    takeProfit: '',
    stopLoss: '',
    trailingStop: '0',
    sessionAvgPrice: '',
    delta: '',
    gamma: '',
    vega: '',
    theta: '',
    unrealisedPnl: '0',
    curRealisedPnl: '0',
    cumRealisedPnl: '0',
    adlRankIndicator: p ? 2 : 0,
    isReduceOnly: false,
    mmrSysUpdatedTime: '',
    leverageSysUpdatedTime: '',
    createdTime: t,
    updatedTime: t,
    seq: 0,
  };
}

/**
 * Get Open & Closed Orders, `GET /v5/order/realtime` (https://bybit-exchange.github.io/docs/v5/order/open-order):
 * `category` required; for linear one of `symbol`, `baseCoin`, `settleCoin`; `limit` [1, 50] default 20, newest first,
 * `nextPageCursor`. Open orders only (`openOnly` 0; the sandbox keeps no closed ones). ccxt `fetchOpenOrders`.
 */
function openOrders(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const c = category(req, ctx, key);
  if (typeof c !== 'string') return c;
  if (c === 'linear' && !param(req, 'symbol') && !param(req, 'baseCoin') && !param(req, 'settleCoin')) {
    return badParam(ctx, 'symbol, baseCoin or settleCoin is required for linear');
  }
  const limit = Number(param(req, 'limit') ?? '20');
  if (!Number.isInteger(limit) || limit < 1 || limit > 50) return badParam(ctx, 'limit must be 1-50');
  const cursor = param(req, 'cursor') ?? '';
  // The sandbox's cursor is the offset; Bybit's is opaque.
  if (cursor !== '' && !/^\d+$/.test(cursor)) return badParam(ctx, 'Invalid cursor.');
  const start = cursor === '' ? 0 : Number(cursor);
  const all = newestFirst(ownOrders(ctx, key).filter((o) => marketsOf(c).includes(o.market) && matches(req, o)));
  const orderId = param(req, 'orderId');
  const orderLinkId = param(req, 'orderLinkId');
  const picked = all.filter((o) => (!orderId || o.id === orderId) && (!orderLinkId || o.clientId === orderLinkId));
  return ok(ctx, {
    category: c,
    nextPageCursor: start + limit < picked.length ? String(start + limit) : '',
    list: picked.slice(start, start + limit).map(orderView),
  });
}

/**
 * Cancel All Orders, `POST /v5/order/cancel-all` (https://bybit-exchange.github.io/docs/v5/order/cancel-all):
 * `category` required; linear and inverse need one of `symbol`, `baseCoin`, `settleCoin` ("for linear and inverse,
 * you must specify one of them"); spot and option without any cancel every order of the category. Answers
 * `{list: [{orderId, orderLinkId}], success: "1"}`. ccxt `cancelAllOrders` (category from the symbol or `type` /
 * `subType`; with neither, ccxt sends linear + settleCoin USDT).
 */
function cancelAll(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const c = category(req, ctx, key);
  if (typeof c !== 'string') return c;
  if (!mayTrade(key, c)) return denied(ctx);
  if ((c === 'linear' || c === 'inverse') && !param(req, 'symbol') && !param(req, 'baseCoin') && !param(req, 'settleCoin')) {
    return badParam(ctx, 'symbol, baseCoin or settleCoin is required for linear and inverse');
  }
  const gone = ctx.state.removeOrders(ownOrders(ctx, key).filter((o) => marketsOf(c).includes(o.market) && matches(req, o)));
  return ok(ctx, { list: gone.map((o) => ({ orderId: o.id, orderLinkId: o.clientId ?? '' })), success: '1' });
}

/**
 * Get Position Info, `GET /v5/position/list` (https://bybit-exchange.github.io/docs/v5/position): `category` linear,
 * inverse or option; linear needs `symbol` or `settleCoin`. "If symbol passed, it returns data regardless of having
 * position or not" (an empty entry: side "", size "0"); otherwise only positions with a size. ccxt `fetchPositions`.
 */
function positionList(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const c = category(req, ctx, key);
  if (typeof c !== 'string') return c;
  if (c === 'spot') return badParam(ctx, 'category only support linear, inverse, option');
  const symbol = param(req, 'symbol');
  if (c === 'linear' && !symbol && !param(req, 'settleCoin')) return badParam(ctx, 'symbol or settleCoin is required for linear');
  const held = ownPositions(ctx, key).filter((p) => p.market === c);
  const list = symbol
    ? symbol.split(',').map((s) =>
        positionView(
          held.find((p) => p.symbol === s),
          s,
          ctx.now,
        ),
      )
    : held.filter((p) => matches(req, p)).map((p) => positionView(p, p.symbol, ctx.now));
  return ok(ctx, { category: c, nextPageCursor: '', list });
}

/**
 * Place Order, `POST /v5/order/create` (https://bybit-exchange.github.io/docs/v5/order/create-order): `category`,
 * `symbol`, `side` Buy/Sell, `orderType` Market/Limit, `qty`, `price` (Limit), `reduceOnly` ("valid for linear,
 * inverse & option"), `orderLinkId`, `isLeverage` (spot). Answers `{orderId, orderLinkId}`. ccxt `createOrder`
 * (`reduceOnly: true` is sent as is).
 *
 * A reduce-only market order fills at once against the position: none, or one on the same side, or a quantity above
 * the position's size, gets 110017 "Reduce-only rule not satisfied" (Bybit's error table; Bybit may trim an oversize
 * order instead: unconfirmed). A limit order rests as an open order (reduce-only: only against an opposite position,
 * else 110017); any other market order gets 10001 (the sandbox has no order book).
 */
function create(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const c = category(req, ctx, key);
  if (typeof c !== 'string') return c;
  const symbol = param(req, 'symbol');
  const sideRaw = param(req, 'side');
  const typeRaw = param(req, 'orderType');
  const qty = param(req, 'qty');
  if (!symbol) return badParam(ctx, 'symbol can not be empty');
  if (sideRaw !== 'Buy' && sideRaw !== 'Sell') return badParam(ctx, 'side invalid');
  if (typeRaw !== 'Market' && typeRaw !== 'Limit') return badParam(ctx, 'orderType invalid');
  if (!isPositiveDecimal(qty)) return badParam(ctx, 'Qty invalid');
  if (!mayTrade(key, c)) return denied(ctx);
  const side = sideRaw === 'Buy' ? 'buy' : 'sell';
  const reduceOnly = truthy(req.params.reduceOnly);
  if (reduceOnly && c === 'spot') return badParam(ctx, 'reduceOnly is not supported for spot');
  const orderLinkId = param(req, 'orderLinkId') ?? '';
  const market: OrderMarket = c === 'spot' ? (param(req, 'isLeverage') === '1' ? 'margin' : 'spot') : c;
  if (typeRaw === 'Limit') {
    const price = param(req, 'price');
    if (!isDecimal(price)) return badParam(ctx, 'price can not be empty for a Limit order');
    if (reduceOnly && reducible(ctx.state, key, symbol, side)) return reply(ctx, 110017, 'Reduce-only rule not satisfied');
    const o = restOrder(ctx, key, { symbol, side, type: 'limit', price, qty, market, reduceOnly, clientId: orderLinkId });
    return ok(ctx, { orderId: o.id, orderLinkId });
  }
  if (!reduceOnly) return badParam(ctx, NO_FILLS);
  const done = reduce(ctx.state, key, symbol, side, qty);
  if ('refused' in done) return reply(ctx, 110017, 'Reduce-only rule not satisfied');
  return ok(ctx, { orderId: newOrderId('bybit', ctx.state), orderLinkId });
}

/**
 * Get Account Info, `GET /v5/account/info` (https://bybit-exchange.github.io/docs/v5/account/account-info):
 * `unifiedMarginStatus` 1 classic, 5 UTA 2.0 (the account mode of the Bybit emulator). ccxt calls it, with query-api,
 * before every order call (`isUnifiedEnabled`).
 */
function accountInfo(ctx: EmulatorContext, key: SandboxKey): Reply {
  return ok(ctx, {
    marginMode: 'REGULAR_MARGIN',
    updatedTime: String(Date.parse(key.createdAt)),
    unifiedMarginStatus: isUta(ctx, key.mainUid) ? 5 : 1,
    dcpStatus: 'OFF',
    timeWindow: 10,
    smpGroup: 0,
    isMasterTrader: false,
    spotHedgingStatus: 'OFF',
  });
}

export const bybitTrading: TradingRoutes = (req, ctx) => ({
  'GET /v5/account/info': (k) => accountInfo(ctx, k),
  'GET /v5/order/realtime': (k) => openOrders(req, ctx, k),
  'POST /v5/order/cancel-all': (k) => cancelAll(req, ctx, k),
  'GET /v5/position/list': (k) => positionList(req, ctx, k),
  'POST /v5/order/create': (k) => create(req, ctx, k),
});
