/**
 * Gate spot and margin order endpoints, authenticated by the Gate emulator (src/exchanges/gate/sandbox.ts) exactly like
 * its key endpoints. Modelled: list all open orders and cancel all open orders of a pair, per account (`spot`; `margin`
 * and `cross_margin` both hold the sandbox's margin orders, so the sandbox answers margin orders under `margin` and
 * none under `cross_margin`). Futures, delivery and options endpoints are not modelled.
 *
 * Cancelling needs the key's `spot` permission read-write, else 401 READ_ONLY "API key is read-only" (approximate: Gate
 * documents the label, not which endpoint answers it); listing needs any key of the account.
 */
import { json, param, type Reply } from '../http.js';
import type { SandboxKey, SandboxOrder } from '../state.js';
import { ms, ownOrders, type TradingRoutes } from './common.js';

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

function mayTrade(key: SandboxKey): boolean {
  const perms = key.permissions as Record<string, boolean>;
  return !key.readOnly && Object.hasOwn(perms, 'spot') && perms.spot === false;
}

export const gateTrading: TradingRoutes = (req, ctx) => ({
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
