/**
 * MEXC spot orders, for the kill's trading steps (src/app/kill-trading.ts), signed with the bot's own key. Only ccxt's
 * implicit endpoint methods are used, and every answer is parsed against its documented shape: an answer of another
 * shape is EXCHANGE_BAD_RESPONSE, never "no orders".
 *
 * Spot only. MEXC futures are another API with another signature (https://www.mexc.com/api-docs/futures/integration-guide)
 * that keyctl does not drive: `markets` says so, and the kill acts on spot and reports futures as CAPABILITY_GAP (check
 * by hand). A request naming futures all the same is refused the same way.
 */
import * as v from 'valibot';
import { ExchangeError } from '@keyctl/client/errors';
import { createClient } from '../ccxt.js';
import { badAnswer, parseAnswer, repeats } from '../normalize.js';
import { decimal, everyOne, minus, nonEmpty } from '../trading-kit.js';
import type { OpenOrder, OpenPosition, TradingApi, TradingRequest } from '../types.js';

/**
 * An open order as Current Open Orders shows it (https://www.mexc.com/api-docs/spot-v3/spot-account-trade):
 * `symbol`, `orderId` (a string), `side` BUY/SELL, `origQty` and `executedQty` (what is left is their difference).
 */
const openOrderSchema = v.looseObject({
  symbol: nonEmpty,
  orderId: nonEmpty,
  side: v.picklist(['BUY', 'SELL']),
  origQty: decimal,
  executedQty: decimal,
});
/** Cancel all Open Orders on a Symbol answers the cancelled orders, each of the symbol asked about. */
const cancelledSchema = v.array(v.looseObject({ symbol: nonEmpty }));

const ENDPOINT = 'api/v3/openOrders';

function futuresGap(what: string): never {
  throw new ExchangeError('CAPABILITY_GAP', `mexc: keyctl does not ${what} on MEXC futures (another API, not driven by keyctl).`, {
    hint: "Check the bot's futures orders and positions in MEXC's web UI and close them there.",
    details: { exchange: 'mexc' },
  });
}

/** Open spot orders, as keyctl reads them. Exported for the answer-shape tests. */
export function parseMexcOpenOrders(answer: unknown): OpenOrder[] {
  const rows = parseAnswer(v.array(openOrderSchema), answer, 'mexc', ENDPOINT);
  if (repeats(rows.map((o) => o.orderId)) > 0) badAnswer('mexc', ENDPOINT, 'orderId: an order listed twice');
  return rows.map((o) => {
    const qty = minus(o.origQty, o.executedQty);
    if (qty === undefined) badAnswer('mexc', ENDPOINT, 'executedQty: more filled than the order quantity');
    return { id: o.orderId, symbol: o.symbol, market: 'spot', side: o.side === 'BUY' ? 'buy' : 'sell', qty };
  });
}

export const mexcTrading: TradingApi = {
  markets: ['spot'],

  async listOrders(request: TradingRequest): Promise<OpenOrder[]> {
    if (request.markets.some((m) => m !== 'spot')) futuresGap('list orders');
    if (!request.markets.includes('spot')) return [];
    const client = await createClient(request.account, request.key, request);
    // Without `symbol`, as ccxt 4.5.84's fetchOpenOrders asks for every symbol. MEXC's page lists `symbol` as
    // mandatory: should MEXC refuse, the kill fails with that refusal (never "no orders").
    return parseMexcOpenOrders(await client.call('spotPrivateGetOpenOrders', {}, { action: 'listing open orders' }));
  },

  async cancelOrders(request: TradingRequest, orders: readonly OpenOrder[]): Promise<void> {
    if (orders.length === 0) return;
    if (orders.some((o) => o.market !== 'spot')) futuresGap('cancel orders');
    const client = await createClient(request.account, request.key, request);
    const symbols = [...new Set(orders.map((o) => o.symbol))];
    await everyOne(
      symbols.map((symbol) => async () => {
        const answer = await client.call('spotPrivateDeleteOpenOrders', { symbol }, { action: 'cancelling open orders' });
        const r = parseAnswer(cancelledSchema, answer, 'mexc', ENDPOINT);
        if (r.some((o) => o.symbol !== symbol)) badAnswer('mexc', ENDPOINT, 'symbol: an order of another symbol');
      }),
    );
  },

  async listPositions(request: TradingRequest): Promise<OpenPosition[]> {
    // Spot has no positions; futures positions are on the API keyctl does not drive.
    if (request.markets.some((m) => m !== 'spot')) futuresGap('list positions');
    return [];
  },

  async closePosition(): Promise<void> {
    futuresGap('close positions');
  },
};
