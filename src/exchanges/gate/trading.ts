/**
 * Gate spot and margin orders, for the kill's trading steps (src/app/kill-trading.ts), signed with the bot's own key.
 * Only ccxt's implicit endpoint methods are used (one request each, no market list: ccxt.ts), and every answer is
 * parsed against its documented shape: an answer of another shape is EXCHANGE_BAD_RESPONSE, never "no orders".
 *
 * Spot orders are account `spot`; margin orders are account `margin` (isolated) and `cross_margin`. Perpetual futures
 * are settle `usdt` (linear) and `btc` (inverse). Delivery futures are not used (keyctl never grants `delivery`), nor
 * options: asked for `option`, listOrders and listPositions throw CAPABILITY_GAP, so the kill says what to check by
 * hand instead of reporting "nothing open".
 */
import * as v from 'valibot';
import { createClient } from '../ccxt.js';
import { ExchangeError } from '@keyctl/client/errors';
import { badAnswer, parseAnswer, repeats } from '../normalize.js';
import { decimal, everyOne, nonEmpty } from '../trading-kit.js';
import type { ExchangeClient } from '../ccxt.js';
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
  return new ExchangeError('CAPABILITY_GAP', `keyctl cannot ${what} on Gate yet (spot, margin and perpetual futures only).`, {
    hint: "Check the bot's options orders and positions in Gate's web UI and cancel or close them there.",
  });
}

function optionsGap(markets: readonly TradingMarket[], what: string): void {
  if (markets.includes('option')) throw gap(`${what} in options`);
}

type Settle = 'usdt' | 'btc';
const SETTLES: ReadonlyArray<[Settle, 'linear' | 'inverse']> = [
  ['usdt', 'linear'],
  ['btc', 'inverse'],
];
const settleOf = (market: 'linear' | 'inverse'): Settle => (market === 'linear' ? 'usdt' : 'btc');
/** Futures order list: `limit` at most 1000 (offset paging). More pages than this is not a list keyctl believes. */
const FUTURES_PAGE = 1000;
const MAX_PAGES = 20;

/** A contract count: an integer, as a JSON number or a string of digits (Gate writes int64 sizes as numbers). */
const contracts = v.union([v.pipe(v.number(), v.safeInteger()), v.pipe(v.string(), v.regex(/^-?\d+$/, 'an integer'))]);

/**
 * List futures orders, `GET /api/v4/futures/{settle}/orders?status=open`
 * (https://www.gate.io/docs/developers/apiv4/en/#list-futures-orders): FuturesOrder `[...]`. Read: `id` (int64),
 * `contract`, `size` ("positive number to make a bid, and negative number to ask") and `left` (what is left, signed
 * like `size`).
 */
const futuresOrderSchema = v.looseObject({
  id: v.union([v.pipe(v.number(), v.safeInteger(), v.minValue(0)), v.pipe(v.string(), v.regex(/^\d+$/, 'an order id'))]),
  contract: nonEmpty,
  size: contracts,
  left: contracts,
});

/**
 * List all positions of a user, `GET /api/v4/futures/{settle}/positions`
 * (https://www.gate.io/docs/developers/apiv4/en/#list-all-positions-of-a-user): Position `[...]`. Read: `contract`,
 * `size` (negative for a short) and `mode` (`single`; `dual_long` / `dual_short` in dual mode), which the closing order
 * must follow.
 */
const positionSchema = v.looseObject({
  contract: nonEmpty,
  size: contracts,
  mode: v.picklist(['single', 'dual_long', 'dual_short']),
});

/** One page of open futures orders, as keyctl reads them. Exported for the answer-shape tests. */
export function parseGateFuturesOrders(answer: unknown, market: 'linear' | 'inverse'): OpenOrder[] {
  const endpoint = 'futures/{settle}/orders';
  return parseAnswer(v.array(futuresOrderSchema), answer, 'gate', endpoint).map((o) => {
    const size = String(o.size);
    const left = String(o.left);
    if (size === '0' || left === '0' || size.startsWith('-') !== left.startsWith('-')) {
      badAnswer('gate', endpoint, 'left: not an open size on the side of the order');
    }
    return { id: String(o.id), symbol: o.contract, market, side: size.startsWith('-') ? 'sell' : 'buy', qty: left.replace(/^-/, '') };
  });
}

interface LivePosition extends OpenPosition {
  mode: 'single' | 'dual_long' | 'dual_short';
}

/** The positions with a size, as keyctl reads them. Exported for the answer-shape tests. */
export function parseGatePositions(answer: unknown, market: 'linear' | 'inverse'): LivePosition[] {
  const endpoint = 'futures/{settle}/positions';
  const out: LivePosition[] = [];
  for (const p of parseAnswer(v.array(positionSchema), answer, 'gate', endpoint)) {
    const size = String(p.size);
    if (size === '0' || size === '-0') continue;
    const short = size.startsWith('-');
    if ((p.mode === 'dual_long' && short) || (p.mode === 'dual_short' && !short))
      badAnswer('gate', endpoint, 'size: its sign contradicts mode');
    out.push({ symbol: p.contract, market, side: short ? 'short' : 'long', size: size.replace(/^-/, ''), mode: p.mode });
  }
  return out;
}

async function readPositions(client: ExchangeClient, market: 'linear' | 'inverse'): Promise<LivePosition[]> {
  const answer = await client.call(
    'privateFuturesGetSettlePositions',
    { settle: settleOf(market), holding: true },
    { action: 'listing positions' },
  );
  return parseGatePositions(answer, market);
}

export const gateTrading: TradingApi = {
  async listOrders(request: TradingRequest): Promise<OpenOrder[]> {
    optionsGap(request.markets, 'list open orders');
    const client = await createClient(request.account, request.key, request);
    const orders: OpenOrder[] = [];
    for (const market of ['spot', 'margin'] as const) {
      if (!request.markets.includes(market)) continue;
      for (const account of ACCOUNTS[market]) {
        const answer = await client.call('privateSpotGetOpenOrders', { account, limit: LIMIT }, { action: 'listing open orders' });
        orders.push(...parseGateOpenOrders(answer, account));
      }
    }
    for (const [settle, market] of SETTLES) {
      if (!request.markets.includes(market)) continue;
      for (let page = 0; ; page += 1) {
        if (page >= MAX_PAGES) badAnswer('gate', 'futures/{settle}/orders', `more than ${MAX_PAGES} pages of open orders`);
        const answer = await client.call(
          'privateFuturesGetSettleOrders',
          { settle, status: 'open', limit: FUTURES_PAGE, offset: page * FUTURES_PAGE },
          { action: 'listing open orders' },
        );
        const found = parseGateFuturesOrders(answer, market);
        orders.push(...found);
        if (found.length < FUTURES_PAGE) break;
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
    // Cancel all open orders matched, `DELETE /api/v4/futures/{settle}/orders?contract=`
    // (https://www.gate.io/docs/developers/apiv4/en/#cancel-all-open-orders-matched): the orders it cancelled.
    for (const market of ['linear', 'inverse'] as const) {
      for (const contract of new Set(orders.filter((o) => o.market === market).map((o) => o.symbol))) {
        tasks.push(async () => {
          const answer = await client.call(
            'privateFuturesDeleteSettleOrders',
            { settle: settleOf(market), contract },
            { action: 'cancelling open orders' },
          );
          parseAnswer(v.array(v.looseObject({ id: v.union([v.number(), nonEmpty]) })), answer, 'gate', 'futures/{settle}/orders cancel');
        });
      }
    }
    await everyOne(tasks);
  },

  async listPositions(request: TradingRequest): Promise<OpenPosition[]> {
    optionsGap(request.markets, 'list positions');
    const wanted = SETTLES.filter(([, market]) => request.markets.includes(market));
    if (wanted.length === 0) return [];
    const client = await createClient(request.account, request.key, request);
    const positions: LivePosition[] = [];
    for (const [, market] of wanted) positions.push(...(await readPositions(client, market)));
    if (repeats(positions.map((p) => `${p.market} ${p.symbol} ${p.mode}`)) > 0) {
      badAnswer('gate', 'futures/{settle}/positions', 'contract: a position listed twice');
    }
    return positions.map(({ mode: _mode, ...p }) => p);
  },

  async closePosition(request: TradingRequest, position: OpenPosition): Promise<void> {
    if (position.market === 'option') throw gap('close positions in options');
    const client = await createClient(request.account, request.key, request);
    // The position as it is now (its mode decides the closing order).
    const live = (await readPositions(client, position.market)).find((p) => p.symbol === position.symbol && p.side === position.side);
    if (!live) return; // Already closed: the caller lists again to confirm.
    // Create a futures order, `POST /api/v4/futures/{settle}/orders`
    // (https://www.gate.io/docs/developers/apiv4/en/#create-a-futures-order): in single mode "set size to 0 and close to
    // true" closes the position; in dual mode `auto_size` close_long / close_short with `reduce_only`. A market order is
    // `price` "0" with `tif` "ioc". Answers the FuturesOrder.
    const order =
      live.mode === 'single'
        ? { contract: live.symbol, size: 0, price: '0', tif: 'ioc', close: true }
        : {
            contract: live.symbol,
            size: 0,
            price: '0',
            tif: 'ioc',
            reduce_only: true,
            auto_size: live.side === 'long' ? 'close_long' : 'close_short',
          };
    const answer = await client.call(
      'privateFuturesPostSettleOrders',
      { settle: settleOf(live.market as 'linear' | 'inverse'), ...order },
      { action: 'closing a position', retry: 'refused-only' },
    );
    parseAnswer(v.looseObject({ id: v.union([v.number(), nonEmpty]) }), answer, 'gate', 'futures/{settle}/orders');
  },
};
