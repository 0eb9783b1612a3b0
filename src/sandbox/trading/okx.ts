/**
 * OKX v5 order and position endpoints, authenticated by the OKX emulator (src/exchanges/okx/sandbox.ts) exactly like
 * its key endpoints. Answers are `{code, msg, data}`; an order operation that fails answers HTTP 200 with code "1"
 * (all failed) or "2" (some failed) and the reason per order in `data[].sCode` / `sMsg`, as OKX does (ccxt reads
 * `sCode` first).
 *
 * Instrument types follow the instrument id and trade mode: `BTC-USDT` with tdMode cash is SPOT, with cross or
 * isolated MARGIN; `…-SWAP` is SWAP, `BTC-USD-250627` FUTURES (USDT / USDC settled: linear, else inverse);
 * `BTC-USD-250627-50000-C` OPTION. The account is in net mode (account/config `posMode` net_mode): one position per
 * instrument, `pos` signed. OKX's one `trade` permission covers every instrument type; a key without it gets 50120
 * (approximate: OKX documents the code, not which endpoints answer it).
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
  type ReduceRefusal,
  type TradingRoutes,
} from './common.js';

type InstType = 'SPOT' | 'MARGIN' | 'SWAP' | 'FUTURES' | 'OPTION';
const INST_TYPES: readonly InstType[] = ['SPOT', 'MARGIN', 'SWAP', 'FUTURES', 'OPTION'];
/** Most orders cancel-batch-orders and batch-orders take at once. */
const MAX_BATCH = 20;

function fail(status: number, code: string, msg: string): Reply {
  return json(status, { code, msg, data: [] });
}
const ok = (data: unknown[]): Reply => json(200, { code: '0', msg: '', data });
const empty = (name: string): Reply => fail(400, '50014', `Parameter ${name} can not be empty.`);
const badParam = (name: string): Reply => fail(400, '51000', `Parameter ${name} error`);
// The same code and message as the emulator's key endpoints for a key without `trade`.
const noTrade = (): Reply => fail(200, '50120', "This API key doesn't have permission to use this function");

function mayTrade(key: SandboxKey): boolean {
  return (key.permissions as string).split(',').includes('trade');
}

function instTypeOf(o: { symbol: string; market: OrderMarket }): InstType {
  switch (o.market) {
    case 'spot':
      return 'SPOT';
    case 'margin':
      return 'MARGIN';
    case 'option':
      return 'OPTION';
    default:
      return o.symbol.endsWith('-SWAP') ? 'SWAP' : 'FUTURES';
  }
}

/** The market a new order goes to, read from the instrument id and trade mode; undefined for an unknown shape. */
function marketOf(instId: string, tdMode: string): OrderMarket | undefined {
  const parts = instId.split('-');
  if (parts.length === 2) return tdMode === 'cash' ? 'spot' : 'margin';
  if (parts.length === 3 && (parts[2] === 'SWAP' || /^\d{6}$/.test(parts[2]!))) {
    return parts[1] === 'USDT' || parts[1] === 'USDC' ? 'linear' : 'inverse';
  }
  if (parts.length === 5 && (parts[4] === 'C' || parts[4] === 'P')) return 'option';
  return undefined;
}

function settleOf(instId: string): string {
  const [base = '', quote = ''] = instId.split('-');
  return quote === 'USDT' || quote === 'USDC' ? quote : base;
}

function orderView(o: SandboxOrder): Record<string, unknown> {
  const t = String(ms(o.createdAt));
  const contract = o.market !== 'spot' && o.market !== 'margin';
  return {
    accFillSz: '0',
    algoClOrdId: '',
    algoId: '',
    attachAlgoClOrdId: '',
    attachAlgoOrds: [],
    avgPx: '',
    cTime: t,
    cancelSource: '',
    cancelSourceReason: '',
    category: 'normal',
    ccy: '',
    clOrdId: o.clientId ?? '',
    fee: '0',
    feeCcy: '',
    fillPx: '',
    fillSz: '0',
    fillTime: '',
    instId: o.symbol,
    instType: instTypeOf(o),
    isTpLimit: 'false',
    lever: o.market === 'spot' ? '' : '10',
    linkedAlgoOrd: { algoId: '' },
    ordId: o.id,
    ordType: o.type,
    pnl: '0',
    posSide: contract ? 'net' : '',
    px: o.price ?? '',
    pxType: '',
    pxUsd: '',
    pxVol: '',
    quickMgnType: '',
    rebate: '0',
    rebateCcy: '',
    reduceOnly: String(o.reduceOnly === true),
    side: o.side,
    slOrdPx: '',
    slTriggerPx: '',
    slTriggerPxType: '',
    source: '',
    state: 'live',
    stpId: '',
    stpMode: 'cancel_maker',
    sz: o.qty,
    tag: '',
    tdMode: o.market === 'spot' ? 'cash' : 'cross',
    tgtCcy: '',
    tpOrdPx: '',
    tpTriggerPx: '',
    tpTriggerPxType: '',
    tradeId: '',
    uTime: t,
  };
}

function positionView(p: SandboxPosition): Record<string, unknown> {
  const t = String(ms(p.createdAt));
  return {
    adl: '1',
    availPos: '',
    avgPx: p.entryPrice ?? '',
    baseBal: '',
    baseBorrowed: '',
    baseInterest: '',
    bePx: '',
    bizRefId: '',
    bizRefType: '',
    cTime: t,
    ccy: settleOf(p.symbol),
    closeOrderAlgo: [],
    deltaBS: '',
    deltaPA: '',
    fee: '0',
    fundingFee: '0',
    gammaBS: '',
    gammaPA: '',
    idxPx: '',
    imr: '',
    instId: p.symbol,
    instType: instTypeOf(p),
    interest: '',
    last: p.entryPrice ?? '',
    lever: '10',
    liab: '',
    liabCcy: '',
    liqPenalty: '0',
    liqPx: '',
    margin: '',
    markPx: p.entryPrice ?? '',
    mgnMode: 'cross',
    mgnRatio: '',
    mmr: '',
    notionalUsd: '',
    optVal: '',
    pendingCloseOrdLiabVal: '',
    pnl: '0',
    // Net mode: a short is a negative `pos`.
    pos: p.side === 'short' ? `-${p.size}` : p.size,
    posCcy: '',
    posId: `${t}${p.owner.replace(/\D/g, '').slice(-4)}`,
    posSide: 'net',
    quoteBal: '',
    quoteBorrowed: '',
    quoteInterest: '',
    realizedPnl: '0',
    spotInUseAmt: '',
    spotInUseCcy: '',
    thetaBS: '',
    thetaPA: '',
    tradeId: '',
    uTime: t,
    upl: '0',
    uplLastPx: '0',
    uplRatio: '0',
    uplRatioLastPx: '0',
    usdPx: '',
    vegaBS: '',
    vegaPA: '',
  };
}

/**
 * Get order list, `GET /api/v5/trade/orders-pending`
 * (https://www.okx.com/docs-v5/en/#order-book-trading-trade-get-order-list): `instType`, `instId`, `ordType`, `state`
 * filters, `limit` default and maximum 100, newest first. ccxt `fetchOpenOrders` (instId from the symbol).
 */
function ordersPending(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const instType = param(req, 'instType');
  if (instType !== undefined && !(INST_TYPES as readonly string[]).includes(instType)) return badParam('instType');
  const instId = param(req, 'instId');
  const ordType = param(req, 'ordType');
  const state = param(req, 'state');
  if (state !== undefined && state !== 'live' && state !== 'partially_filled') return badParam('state');
  const limit = Number(param(req, 'limit') ?? '100');
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) return badParam('limit');
  const list = newestFirst(ownOrders(ctx, key)).filter(
    (o) =>
      (instType === undefined || instTypeOf(o) === instType) &&
      (instId === undefined || o.symbol === instId) &&
      (ordType === undefined || ordType.split(',').includes(o.type)) &&
      state !== 'partially_filled',
  );
  return ok(list.slice(0, limit).map(orderView));
}

/** The body of a batch endpoint: a JSON array of objects (a single object counts as one). */
function batch(req: SandboxRequest): Array<Record<string, unknown>> | Reply {
  let body: unknown;
  try {
    body = JSON.parse(req.rawBody);
  } catch {
    return fail(400, '50002', 'Json data format error');
  }
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return fail(400, '50000', 'Body can not be empty');
  if (items.some((x) => typeof x !== 'object' || x === null || Array.isArray(x))) return fail(400, '50002', 'Json data format error');
  if (items.length > MAX_BATCH) return fail(200, '50025', `Parameter orders count exceeds the limit ${MAX_BATCH}`);
  return items as Array<Record<string, unknown>>;
}

const text = (v: unknown): string | undefined =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' && Number.isFinite(v) ? String(v) : undefined;

/** Code "0" when every order went through, "1" when none did, "2" when some did (OKX's bulk answer). */
function perOrder(results: Array<Record<string, unknown>>): Reply {
  const failed = results.filter((r) => r.sCode !== '0').length;
  if (failed === 0) return ok(results);
  if (failed === results.length) return json(200, { code: '1', msg: 'All operations failed', data: results });
  return json(200, { code: '2', msg: 'Bulk operation partially succeeded', data: results });
}

/**
 * Cancel order(s): `POST /api/v5/trade/cancel-order` (one `{instId, ordId | clOrdId}`,
 * https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-cancel-order) and `POST
 * /api/v5/trade/cancel-batch-orders` (an array of up to 20,
 * https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-cancel-multiple-orders). An order that is not the
 * account's open order gets sCode 51400 "Cancellation failed as the order does not exist". ccxt `cancelOrder` /
 * `cancelOrders(ids, symbol)`; OKX has no cancel-all for ordinary orders (ccxt 4.5.84: `cancelAllOrders: false`).
 */
function cancel(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, many: boolean): Reply {
  const items = many ? batch(req) : [req.params];
  if (!Array.isArray(items)) return items;
  if (!mayTrade(key)) return noTrade();
  for (const item of items) {
    if (!text(item.instId)) return empty('instId');
    if (!text(item.ordId) && !text(item.clOrdId)) return fail(400, '51407', 'Either order ID or client order ID is required.');
  }
  const results: Array<Record<string, unknown>> = [];
  for (const item of items) {
    const instId = text(item.instId)!;
    const ordId = text(item.ordId);
    const clOrdId = text(item.clOrdId);
    const order = ownOrders(ctx, key).find(
      (o) => o.symbol === instId && (ordId ? o.id === ordId : o.clientId !== undefined && o.clientId === clOrdId),
    );
    if (!order) {
      results.push({
        clOrdId: clOrdId ?? '',
        ordId: ordId ?? '',
        ts: String(ctx.now),
        sCode: '51400',
        sMsg: 'Cancellation failed as the order does not exist.',
      });
      continue;
    }
    ctx.state.removeOrders([order]);
    results.push({ clOrdId: order.clientId ?? '', ordId: order.id, ts: String(ctx.now), sCode: '0', sMsg: '' });
  }
  return perOrder(results);
}

/**
 * Get positions, `GET /api/v5/account/positions`
 * (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-positions): `instType` MARGIN, SWAP, FUTURES or
 * OPTION, `instId` (up to 10, comma-separated), `posId`; only positions held. ccxt `fetchPositions`.
 */
function positions(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const instType = param(req, 'instType');
  if (instType !== undefined && !['MARGIN', 'SWAP', 'FUTURES', 'OPTION'].includes(instType)) return badParam('instType');
  const instIds = param(req, 'instId')?.split(',');
  if (instIds && instIds.length > 10) return badParam('instId');
  const posId = param(req, 'posId');
  const list = ownPositions(ctx, key)
    .map(positionView)
    .filter(
      (p) =>
        (instType === undefined || p.instType === instType) &&
        (instIds === undefined || instIds.includes(p.instId as string)) &&
        (posId === undefined || p.posId === posId),
    );
  return ok(list);
}

const REDUCE_REFUSALS: Record<ReduceRefusal, [string, string]> = {
  'no-position': ['51169', "Order failed because you don't have any positions in this direction for this contract to reduce or close."],
  'same-side': ['51170', "Failed to place order. A reduce-only order can't be the same side as your existing position."],
  // Approximate: OKX documents no code of its own for a reduce-only size above the position's.
  'too-large': ['51169', "Order failed because you don't have any positions in this direction for this contract to reduce or close."],
};

interface PlaceRequest {
  instId: string;
  tdMode: string;
  side: 'buy' | 'sell';
  ordType: string;
  sz: string;
  px: string | undefined;
  reduceOnly: boolean;
  clOrdId: string;
}

/** One order of a place request, checked for shape: a malformed one fails the whole request (HTTP 400), as on OKX. */
function parsePlace(item: Record<string, unknown>): PlaceRequest | Reply {
  const instId = text(item.instId);
  if (!instId) return empty('instId');
  const tdMode = text(item.tdMode);
  if (!tdMode) return empty('tdMode');
  if (!['cash', 'cross', 'isolated', 'spot_isolated'].includes(tdMode)) return badParam('tdMode');
  const side = item.side;
  if (side !== 'buy' && side !== 'sell') return badParam('side');
  const ordType = text(item.ordType);
  if (!ordType) return empty('ordType');
  if (!['market', 'limit', 'post_only', 'fok', 'ioc'].includes(ordType)) return badParam('ordType');
  const sz = text(item.sz);
  if (!isPositiveDecimal(sz)) return badParam('sz');
  const px = text(item.px);
  if (ordType !== 'market' && !isDecimal(px)) return empty('px');
  return { instId, tdMode, side, ordType, sz, px, reduceOnly: truthy(item.reduceOnly), clOrdId: text(item.clOrdId) ?? '' };
}

/** Places one well-formed order: its result, with sCode "0" or the reason it was refused. */
function placeOne(o: PlaceRequest, ctx: EmulatorContext, key: SandboxKey): Record<string, unknown> {
  const at = { clOrdId: o.clOrdId, ordId: '', tag: '', ts: String(ctx.now) };
  const refuse = (sCode: string, sMsg: string) => ({ ...at, sCode, sMsg });
  const market = marketOf(o.instId, o.tdMode);
  if (!market) return refuse('51001', "Instrument ID doesn't exist.");
  // "Only applicable to MARGIN orders, and FUTURES/SWAP orders in net mode" (place-order `reduceOnly`).
  if (o.reduceOnly && (market === 'spot' || market === 'option')) return refuse('51000', 'Parameter reduceOnly error');
  if (o.ordType !== 'market') {
    if (o.reduceOnly) {
      const refusal = reducible(ctx.state, key, o.instId, o.side);
      if (refusal) return refuse(...REDUCE_REFUSALS[refusal]);
    }
    const placed = restOrder(ctx, key, {
      symbol: o.instId,
      side: o.side,
      type: 'limit',
      price: o.px ?? '0',
      qty: o.sz,
      market,
      reduceOnly: o.reduceOnly,
      clientId: o.clOrdId,
    });
    return { ...at, ordId: placed.id, sCode: '0', sMsg: 'Order placed' };
  }
  if (!o.reduceOnly || market === 'margin') return refuse('51000', `Parameter ordType error (${NO_FILLS})`);
  const done = reduce(ctx.state, key, o.instId, o.side, o.sz);
  if ('refused' in done) return refuse(...REDUCE_REFUSALS[done.refused]);
  return { ...at, ordId: newOrderId('okx', ctx.state), sCode: '0', sMsg: 'Order placed' };
}

/**
 * Place order(s): `POST /api/v5/trade/order` (https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-place-order)
 * and `POST /api/v5/trade/batch-orders` (up to 20,
 * https://www.okx.com/docs-v5/en/#order-book-trading-trade-post-place-multiple-orders): `instId`, `tdMode`, `side`,
 * `ordType`, `sz`, `px`, `reduceOnly`, `clOrdId`. ccxt `createOrder` sends a one-order batch-orders by default
 * (`reduceOnly: true` as is). A reduce-only market order on a SWAP or FUTURES position fills at once: no position gets
 * sCode 51169, one on the same side 51170, a size above the position 51169 (approximate). A limit order rests
 * (reduce-only: only against an opposite position); any other market order gets 51000 (the sandbox has no order
 * book). A malformed order fails the whole request before any order is placed.
 */
function place(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey, many: boolean): Reply {
  const items = many ? batch(req) : [req.params];
  if (!Array.isArray(items)) return items;
  if (!mayTrade(key)) return noTrade();
  const orders: PlaceRequest[] = [];
  for (const item of items) {
    const o = parsePlace(item);
    if ('status' in o) return o;
    orders.push(o);
  }
  return perOrder(orders.map((o) => placeOne(o, ctx, key)));
}

export const okxTrading: TradingRoutes = (req, ctx) => ({
  'GET /api/v5/trade/orders-pending': (k) => ordersPending(req, ctx, k),
  'POST /api/v5/trade/cancel-order': (k) => cancel(req, ctx, k, false),
  'POST /api/v5/trade/cancel-batch-orders': (k) => cancel(req, ctx, k, true),
  'GET /api/v5/account/positions': (k) => positions(req, ctx, k),
  'POST /api/v5/trade/order': (k) => place(req, ctx, k, false),
  'POST /api/v5/trade/batch-orders': (k) => place(req, ctx, k, true),
});
