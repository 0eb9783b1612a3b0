/**
 * Gate spot and margin orders, for the kill's trading steps (src/app/kill-trading.ts), signed with the bot's own key.
 * Only ccxt's implicit endpoint methods are used (one request each, no market list: ccxt.ts), and every answer is
 * parsed against its documented shape: an answer of another shape is EXCHANGE_BAD_RESPONSE, never "no orders".
 *
 * Spot orders are account `spot`; margin orders are account `margin` (isolated) and `cross_margin`. Futures, delivery
 * and options (linear, inverse, option) are not implemented yet: asked for them, listOrders and listPositions throw
 * CAPABILITY_GAP, so the kill says what to check by hand instead of reporting "nothing open".
 */
import * as v from 'valibot';
import { createClient } from '../ccxt.js';
import { ExchangeError } from '../../errors.js';
import { badAnswer, parseAnswer, repeats } from '../normalize.js';
import { decimal, everyOne, nonEmpty } from '../trading-kit.js';
import type { OpenOrder, OpenPosition, TradingApi, TradingMarket, TradingRequest } from '../types.js';

type GateAccount = 'spot' | 'margin' | 'cross_margin';
const ACCOUNTS: Record<'spot' | 'margin', readonly GateAccount[]> = { spot: ['spot'], margin: ['margin', 'cross_margin'] };
/** open_orders: `limit` "Maximum number of records returned in one page in each currency pair", at most 100. */
const LIMIT = 100;

/**
 * List all open orders, `GET /api/v4/spot/open_orders?account=`
 * (https://www.gate.io/docs/developers/apiv4/en/#list-all-open-orders): `[{currency_pair, total, orders: [...]}]`.
 * Read: the pair, `total` (all of the pair's open orders; more than the page holds is refused rather than cut short),
 * and per order `id`, `currency_pair`, `account`, `side` buy/sell and `left` (what is left to fill).
 */
const orderSchema = v.looseObject({
  id: nonEmpty,
  currency_pair: nonEmpty,
  account: nonEmpty,
  side: v.picklist(['buy', 'sell']),
  left: decimal,
});
const pairSchema = v.looseObject({
  currency_pair: nonEmpty,
  total: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  orders: v.array(orderSchema),
});

/** One account's open orders, as keyctl reads them. Exported for the answer-shape tests. */
export function parseGateOpenOrders(answer: unknown, account: GateAccount): OpenOrder[] {
  const endpoint = 'spot/open_orders';
  const out: OpenOrder[] = [];
  for (const pair of parseAnswer(v.array(pairSchema), answer, 'gate', endpoint)) {
    if (pair.total !== pair.orders.length) badAnswer('gate', endpoint, 'total: more open orders than the page holds');
    for (const o of pair.orders) {
      if (o.currency_pair !== pair.currency_pair) badAnswer('gate', endpoint, 'currency_pair: an order of another pair');
      if (o.account !== account) badAnswer('gate', endpoint, 'account: an order of another account');
      out.push({ id: o.id, symbol: o.currency_pair, market: account === 'spot' ? 'spot' : 'margin', side: o.side, qty: o.left });
    }
  }
  return out;
}

function gap(what: string): ExchangeError {
  return new ExchangeError('CAPABILITY_GAP', `keyctl cannot ${what} on Gate yet (only spot and margin orders).`, {
    hint: "Check the bot's futures, delivery and options orders and positions in Gate's web UI and cancel or close them there.",
  });
}

function derivativesGap(markets: readonly TradingMarket[], what: string): void {
  const wanted = markets.filter((m) => m !== 'spot' && m !== 'margin');
  if (wanted.length > 0) throw gap(`${what} in ${wanted.join(', ')}`);
}

export const gateTrading: TradingApi = {
  async listOrders(request: TradingRequest): Promise<OpenOrder[]> {
    derivativesGap(request.markets, 'list open orders');
    const client = await createClient(request.account, request.key, request);
    const orders: OpenOrder[] = [];
    for (const market of ['spot', 'margin'] as const) {
      if (!request.markets.includes(market)) continue;
      for (const account of ACCOUNTS[market]) {
        const answer = await client.call('privateSpotGetOpenOrders', { account, limit: LIMIT }, { action: 'listing open orders' });
        orders.push(...parseGateOpenOrders(answer, account));
      }
    }
    if (repeats(orders.map((o) => o.id)) > 0) badAnswer('gate', 'spot/open_orders', 'id: an order listed twice');
    return orders;
  },

  async cancelOrders(request: TradingRequest, orders: readonly OpenOrder[]): Promise<void> {
    if (orders.length === 0) return;
    const client = await createClient(request.account, request.key, request);
    const tasks: Array<() => Promise<void>> = [];
    // Cancel all open orders in specified currency pair, `DELETE /api/v4/spot/orders?currency_pair=&account=`
    // (https://www.gate.io/docs/developers/apiv4/en/#cancel-all-open-orders-in-specified-currency-pair): the orders it
    // cancelled. An order does not say here whether it was isolated or cross margin: both are cancelled for its pair.
    for (const market of ['spot', 'margin'] as const) {
      const pairs = [...new Set(orders.filter((o) => o.market === market).map((o) => o.symbol))];
      for (const pair of pairs) {
        for (const account of ACCOUNTS[market]) {
          tasks.push(async () => {
            const answer = await client.call(
              'privateSpotDeleteOrders',
              { currency_pair: pair, account },
              { action: 'cancelling open orders' },
            );
            parseAnswer(v.array(v.looseObject({ id: nonEmpty })), answer, 'gate', 'spot/orders cancel');
          });
        }
      }
    }
    await everyOne(tasks);
  },

  async listPositions(request: TradingRequest): Promise<OpenPosition[]> {
    derivativesGap(request.markets, 'list positions');
    return [];
  },

  closePosition(): Promise<void> {
    return Promise.reject(gap('close positions'));
  },
};
