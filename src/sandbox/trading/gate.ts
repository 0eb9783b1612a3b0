/**
 * Gate order and position endpoints, authenticated by the Gate emulator (src/exchanges/gate/sandbox.ts) exactly like
 * its key endpoints.
 * - Spot and margin: list all open orders and cancel all open orders of a pair, per account (`spot`; the sandbox's
 *   margin orders are answered under `margin`, and `cross_margin` holds none).
 * - Perpetual futures (https://www.gate.io/docs/developers/apiv4/en/#futures): settle `usdt` holds the sandbox's linear
 *   orders and positions, `btc` its inverse ones. List open orders (`status=open`, `limit`/`offset`), cancel all open
 *   orders of a contract, list positions (single mode), and a closing order (`size` 0 with `close: true`, or a
 *   reduce-only IOC market order: `price` "0", `tif` "ioc"), filled at once. Delivery and options are not modelled.
 *
 * Cancelling and closing need the market's permission read-write (`spot` for spot and margin, `futures`), else 401
 * READ_ONLY "API key is read-only" (approximate: Gate documents the label, not which endpoint answers it); listing needs
 * any key of the account.
 */
import { json, param, type Reply } from '../http.js';
import type { SandboxKey, SandboxOrder } from '../state.js';
import { isPositiveDecimal, ms, NO_FILLS, ownOrders, ownPositions, reduce, type TradingRoutes } from './common.js';

const fail = (status: number, label: string, message: string): Reply => json(status, { label, message });

const ACCOUNTS = ['spot', 'margin', 'cross_margin'];

/** The sandbox's market for a Gate `account` (cross_margin holds nothing here). */
function holds(account: string, o: SandboxOrder): boolean {
  return account === 'spot' ? o.market === 'spot' : account === 'margin' && o.market === 'margin';
}

/** An order as the spot order endpoints show it (https://www.gate.io/docs/developers/apiv4/en/#list-all-open-orders). */
function view(o: SandboxOrder, account: string, status: 'open' | 'cancelled'): Record<string, unknown> {
  const t = ms(o.createdAt);
  return {
    id: o.id,
    text: o.clientId ?? 'apiv4',
    amend_text: '-',
    create_time: String(Math.floor(t / 1000)),
    update_time: String(Math.floor(t / 1000)),
    create_time_ms: t,
    update_time_ms: t,
    status,
    currency_pair: o.symbol,
    type: o.type,
    account,
    side: o.side,
    amount: o.qty,
    price: o.price ?? '0',
    time_in_force: 'gtc',
    iceberg: '0',
    left: o.qty,
    filled_amount: '0',
    fill_price: '0',
    filled_total: '0',
    fee: '0',
    fee_currency: o.symbol.split('_')[1] ?? '',
    point_fee: '0',
    gt_fee: '0',
    gt_discount: false,
    rebated_fee: '0',
    rebated_fee_currency: o.symbol.split('_')[1] ?? '',
    finish_as: status === 'open' ? 'open' : 'cancelled',
  };
}

function mayTrade(key: SandboxKey, permission: 'spot' | 'futures' = 'spot'): boolean {
  const perms = key.permissions as Record<string, boolean>;
  return !key.readOnly && Object.hasOwn(perms, permission) && perms[permission] === false;
}

const readOnly = (): Reply => fail(401, 'READ_ONLY', 'API key is read-only');
const MARKET_OF_SETTLE: Record<string, 'linear' | 'inverse'> = { usdt: 'linear', btc: 'inverse' };
const FUTURES = /^\/api\/v4\/futures\/([^/]+)\/(orders|positions)$/;

/** A futures order (FuturesOrder): `size` and `left` in contracts, negative for a sell. */
function futuresView(o: SandboxOrder, status: 'open' | 'finished', finishAs: string): Record<string, unknown> {
  const sign = o.side === 'sell' ? -1 : 1;
  const t = ms(o.createdAt) / 1000;
  return {
    id: Number(o.id),
    user: 0,
    contract: o.symbol,
    create_time: t,
    finish_time: status === 'finished' ? t : null,
    finish_as: finishAs,
    status,
    size: sign * Number(o.qty),
    left: status === 'open' ? sign * Number(o.qty) : 0,
    iceberg: 0,
    price: o.price ?? '0',
    fill_price: '0',
    is_reduce_only: o.reduceOnly === true,
    is_close: false,
    is_liq: false,
    tif: 'gtc',
    text: o.clientId ?? 'api',
    tkfr: '0.0005',
    mkfr: '0.0002',
    refu: 0,
    stp_act: '-',
    stp_id: 0,
  };
}

/** The futures routes of one settle currency; the path carries it. */
function futuresRoutes(req: Parameters<TradingRoutes>[0], ctx: Parameters<TradingRoutes>[1]): Record<string, (key: SandboxKey) => Reply> {
  const m = FUTURES.exec(req.path);
  if (!m) return {};
  const market = MARKET_OF_SETTLE[m[1]!];
  if (!market) return { [`${req.method} ${req.path}`]: () => fail(400, 'INVALID_PARAM_VALUE', 'Invalid parameter value: settle') };
  const mine = (key: SandboxKey) => ownOrders(ctx, key).filter((o) => o.market === market);
  if (m[2] === 'positions') {
    return {
      [`GET ${req.path}`]: (key) =>
        json(
          200,
          ownPositions(ctx, key)
            .filter((p) => p.market === market)
            .map((p) => ({
              user: 0,
              contract: p.symbol,
              size: (p.side === 'short' ? -1 : 1) * Number(p.size),
              leverage: '10',
              risk_limit: '1000000',
              value: '0',
              margin: '0',
              entry_price: p.entryPrice ?? '0',
              mark_price: '0',
              unrealised_pnl: '0',
              realised_pnl: '0',
              mode: 'single',
              cross_leverage_limit: '0',
              update_time: Math.floor(ms(p.createdAt) / 1000),
              open_time: Math.floor(ms(p.createdAt) / 1000),
            })),
        ),
    };
  }
  return {
    [`GET ${req.path}`]: (key) => {
      if (param(req, 'status') !== 'open') return fail(400, 'INVALID_PARAM_VALUE', 'Invalid parameter value: status');
      const limit = Number(param(req, 'limit') ?? '100');
      const offset = Number(param(req, 'offset') ?? '0');
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return fail(400, 'INVALID_PARAM_VALUE', 'Invalid parameter value: limit');
      if (!Number.isInteger(offset) || offset < 0) return fail(400, 'INVALID_PARAM_VALUE', 'Invalid parameter value: offset');
      const contract = param(req, 'contract');
      const open = mine(key)
        .filter((o) => contract === undefined || o.symbol === contract)
        .sort((a, b) => Number(a.id) - Number(b.id));
      return json(
        200,
        open.slice(offset, offset + limit).map((o) => futuresView(o, 'open', '_new')),
      );
    },
    [`DELETE ${req.path}`]: (key) => {
      const contract = param(req, 'contract');
      if (!contract) return fail(400, 'MISSING_REQUIRED_PARAM', 'Missing required parameter: contract');
      if (!mayTrade(key, 'futures')) return readOnly();
      const gone = ctx.state.removeOrders(mine(key).filter((o) => o.symbol === contract));
      return json(
        200,
        gone.map((o) => futuresView(o, 'finished', 'cancelled')),
      );
    },
    [`POST ${req.path}`]: (key) => {
      if (!mayTrade(key, 'futures')) return readOnly();
      const contract = param(req, 'contract');
      if (!contract) return fail(400, 'MISSING_REQUIRED_PARAM', 'Missing required parameter: contract');
      const size = Number(req.params.size);
      if (!Number.isInteger(size)) return fail(400, 'INVALID_PARAM_VALUE', 'Invalid parameter value: size');
      const position = ctx.state.position('gate', key.owner, contract);
      const closing = req.params.close === true && size === 0;
      const reduceOnly = req.params.reduce_only === true && param(req, 'price') === '0' && param(req, 'tif') === 'ioc' && size !== 0;
      if (!closing && !reduceOnly) return fail(400, 'INVALID_PARAM_VALUE', NO_FILLS);
      if (!position || position.market !== market) return fail(400, 'POSITION_EMPTY', 'Position is empty');
      const side = closing ? (position.side === 'long' ? 'sell' : 'buy') : size < 0 ? 'sell' : 'buy';
      const qty = closing ? position.size : String(Math.abs(size));
      if (!isPositiveDecimal(qty)) return fail(400, 'INVALID_PARAM_VALUE', 'Invalid parameter value: size');
      const done = reduce(ctx.state, key, contract, side, qty, { trim: closing });
      if ('refused' in done) return fail(400, 'REDUCE_ONLY_FAIL', 'Reduce-only order would increase the position');
      const id = ctx.state.nextNumber();
      return json(201, {
        ...futuresView(
          {
            exchange: 'gate',
            owner: key.owner,
            id,
            symbol: contract,
            side,
            type: 'market',
            price: null,
            qty: done.filled,
            market,
            reduceOnly: true,
            createdAt: new Date(ctx.now).toISOString(),
          },
          'finished',
          'filled',
        ),
        is_close: closing,
        fill_price: position.entryPrice ?? '0',
      });
    },
  };
}

export const gateTrading: TradingRoutes = (req, ctx) => ({
  ...futuresRoutes(req, ctx),
  'GET /api/v4/spot/open_orders': (key) => {
    const account = param(req, 'account') ?? 'spot';
    if (!ACCOUNTS.includes(account)) return fail(400, 'INVALID_PARAM_VALUE', 'Invalid parameter value: account');
    const mine = ownOrders(ctx, key).filter((o) => holds(account, o));
    const pairs = [...new Set(mine.map((o) => o.symbol))].sort();
    return json(
      200,
      pairs.map((pair) => {
        const orders = mine.filter((o) => o.symbol === pair);
        return { currency_pair: pair, total: orders.length, orders: orders.map((o) => view(o, account, 'open')) };
      }),
    );
  },
  'DELETE /api/v4/spot/orders': (key) => {
    const pair = param(req, 'currency_pair');
    if (!pair) return fail(400, 'MISSING_REQUIRED_PARAM', 'Missing required parameter: currency_pair');
    const account = param(req, 'account') ?? 'spot';
    if (!ACCOUNTS.includes(account)) return fail(400, 'INVALID_PARAM_VALUE', 'Invalid parameter value: account');
    if (!mayTrade(key)) return fail(401, 'READ_ONLY', 'API key is read-only');
    const gone = ctx.state.removeOrders(ownOrders(ctx, key).filter((o) => o.symbol === pair && holds(account, o)));
    return json(
      200,
      gone.map((o) => view(o, account, 'cancelled')),
    );
  },
});
