/**
 * Bitget v2 order and position endpoints, authenticated by the Bitget emulator (src/exchanges/bitget/sandbox.ts)
 * exactly like its key endpoints. Answers are `{code: "00000", msg: "success", requestTime, data}` or `{code, msg,
 * requestTime, data: null}`.
 *
 * Spot orders (unfilled-orders, cancel-symbol-order) and futures ("mix": orders-pending, cancel-all-orders,
 * all-position, close-positions). The sandbox reads a futures symbol's product type from its id: `...USDT`
 * USDT-FUTURES, `...PERP` or `...USDC` USDC-FUTURES (linear), `...USD` COIN-FUTURES (inverse). Trading needs a key that is
 * not read-only and holds `stow` (spot) or `coow` (futures), else 40014 "Incorrect permissions"; reading needs any key
 * of the account.
 */
import { json, param, type EmulatorContext, type Reply, type SandboxRequest } from '../http.js';
import type { SandboxKey, SandboxOrder } from '../state.js';
import { decSub, ms, newestFirst, newOrderId, ownOrders, ownPositions, reduce, type TradingRoutes } from './common.js';

type ProductType = 'USDT-FUTURES' | 'USDC-FUTURES' | 'COIN-FUTURES';
const PRODUCT_TYPES: readonly string[] = ['USDT-FUTURES', 'USDC-FUTURES', 'COIN-FUTURES'];

const fail = (ctx: EmulatorContext, code: string, msg: string): Reply => json(400, { code, msg, requestTime: ctx.now, data: null });
const ok = (ctx: EmulatorContext, data: unknown): Reply => json(200, { code: '00000', msg: 'success', requestTime: ctx.now, data });
const denied = (ctx: EmulatorContext): Reply => fail(ctx, '40014', 'Incorrect permissions');

function mayTrade(key: SandboxKey, authority: 'stow' | 'coow'): boolean {
  return !key.readOnly && (key.permissions as string).split(',').includes(authority);
}

function productTypeOf(symbol: string): ProductType {
  if (/USDT$/.test(symbol)) return 'USDT-FUTURES';
  if (/(PERP|USDC)$/.test(symbol)) return 'USDC-FUTURES';
  return 'COIN-FUTURES';
}

function productTypeParam(req: SandboxRequest, ctx: EmulatorContext): ProductType | Reply {
  const p = param(req, 'productType');
  if (!p) return fail(ctx, '40019', 'Parameter productType cannot be empty');
  return PRODUCT_TYPES.includes(p) ? (p as ProductType) : fail(ctx, '40017', 'Parameter productType verification failed');
}

const isFutures = (o: SandboxOrder): boolean => o.market === 'linear' || o.market === 'inverse';

/** An order as Get Current Orders / Get Pending Orders show it (the fields keyctl reads, plus a few of the rest). */
function orderView(o: SandboxOrder): Record<string, unknown> {
  return {
    userId: '',
    symbol: o.symbol,
    orderId: o.id,
    clientOid: o.clientId ?? '',
    price: o.price ?? '0',
    size: o.qty,
    orderType: o.type,
    side: o.side,
    status: 'live',
    baseVolume: '0',
    quoteVolume: '0',
    cTime: String(ms(o.createdAt)),
    uTime: String(ms(o.createdAt)),
  };
}

/** Get Current Orders (spot), https://www.bitget.com/api-doc/spot/trade/Get-Unfilled-Orders: `data: [...]`. */
function spotOrders(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const symbol = param(req, 'symbol');
  const mine = ownOrders(ctx, key).filter((o) => o.market === 'spot' && (symbol === undefined || o.symbol === symbol));
  return ok(ctx, newestFirst(mine).map(orderView));
}

/** Cancel Order by Symbol (spot), https://www.bitget.com/api-doc/spot/trade/Cancel-Symbol-Orders: `data: {symbol}`. */
function spotCancelSymbol(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!mayTrade(key, 'stow')) return denied(ctx);
  const symbol = param(req, 'symbol');
  if (!symbol) return fail(ctx, '40019', 'Parameter symbol cannot be empty');
  ctx.state.removeOrders(ownOrders(ctx, key).filter((o) => o.market === 'spot' && o.symbol === symbol));
  return ok(ctx, { symbol });
}

/**
 * Get Pending Orders (futures), https://www.bitget.com/api-doc/contract/trade/Get-Orders-Pending: `data:
 * {entrustedList, endId}`, the list `null` when empty; paged by `idLessThan` (newest first) and `limit` (at most 100).
 */
function mixOrders(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const productType = productTypeParam(req, ctx);
  if (typeof productType !== 'string') return productType;
  const limit = Math.min(100, Number(param(req, 'limit') ?? '100') || 100);
  const before = param(req, 'idLessThan');
  let mine = newestFirst(ownOrders(ctx, key).filter((o) => isFutures(o) && productTypeOf(o.symbol) === productType));
  if (before !== undefined) {
    const at = mine.findIndex((o) => o.id === before);
    mine = at < 0 ? [] : mine.slice(at + 1);
  }
  const page = mine.slice(0, limit);
  return ok(ctx, { entrustedList: page.length > 0 ? page.map(orderView) : null, endId: page.at(-1)?.id ?? null });
}

/** Cancel All Orders (futures), https://www.bitget.com/api-doc/contract/trade/Cancel-All-Orders: `{successList, failureList}`. */
function mixCancelAll(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!mayTrade(key, 'coow')) return denied(ctx);
  const productType = productTypeParam(req, ctx);
  if (typeof productType !== 'string') return productType;
  const gone = ctx.state.removeOrders(ownOrders(ctx, key).filter((o) => isFutures(o) && productTypeOf(o.symbol) === productType));
  return ok(ctx, { successList: gone.map((o) => ({ orderId: o.id, clientOid: o.clientId ?? '' })), failureList: [] });
}

/** Get All Positions, https://www.bitget.com/api-doc/contract/position/get-all-position: `data: [...]`. */
function positions(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  const productType = productTypeParam(req, ctx);
  if (typeof productType !== 'string') return productType;
  return ok(
    ctx,
    ownPositions(ctx, key)
      .filter((p) => productTypeOf(p.symbol) === productType)
      .map((p) => ({
        symbol: p.symbol,
        marginCoin: productType === 'COIN-FUTURES' ? p.symbol.replace(/USD$/, '') : productType.split('-')[0],
        holdSide: p.side,
        openDelegateSize: '0',
        marginSize: '0',
        available: p.size,
        locked: '0',
        total: p.size,
        leverage: '10',
        openPriceAvg: p.entryPrice ?? '0',
        marginMode: 'crossed',
        posMode: 'hedge_mode',
        cTime: String(ms(p.createdAt)),
        uTime: String(ms(p.createdAt)),
      })),
  );
}

/**
 * Flash Close Position, https://www.bitget.com/api-doc/contract/trade/Flash-Close-Position: `symbol`, `productType`,
 * `holdSide`; closes at market. Answers `{successList: [{orderId, clientOid, symbol}], failureList}`; with no position
 * to close, 22002 "No position to close".
 */
function closePositions(req: SandboxRequest, ctx: EmulatorContext, key: SandboxKey): Reply {
  if (!mayTrade(key, 'coow')) return denied(ctx);
  const productType = productTypeParam(req, ctx);
  if (typeof productType !== 'string') return productType;
  const symbol = param(req, 'symbol');
  const holdSide = param(req, 'holdSide');
  const targets = ownPositions(ctx, key).filter(
    (p) =>
      productTypeOf(p.symbol) === productType &&
      (symbol === undefined || p.symbol === symbol) &&
      (holdSide === undefined || p.side === holdSide),
  );
  if (targets.length === 0) return fail(ctx, '22002', 'No position to close');
  const successList = targets.map((p) => {
    reduce(ctx.state, key, p.symbol, p.side === 'long' ? 'sell' : 'buy', decSub(p.size, '0'));
    return { orderId: newOrderId('bitget', ctx.state), clientOid: '', symbol: p.symbol };
  });
  return ok(ctx, { successList, failureList: [] });
}

export const bitgetTrading: TradingRoutes = (req, ctx) => ({
  'GET /api/v2/spot/trade/unfilled-orders': (k) => spotOrders(req, ctx, k),
  'POST /api/v2/spot/trade/cancel-symbol-order': (k) => spotCancelSymbol(req, ctx, k),
  'GET /api/v2/mix/order/orders-pending': (k) => mixOrders(req, ctx, k),
  'POST /api/v2/mix/order/cancel-all-orders': (k) => mixCancelAll(req, ctx, k),
  'GET /api/v2/mix/position/all-position': (k) => positions(req, ctx, k),
  'POST /api/v2/mix/order/close-positions': (k) => closePositions(req, ctx, k),
});
