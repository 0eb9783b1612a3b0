/**
 * The kill's trading steps for one slot, with the bot's own CURRENT key: cancel every open order in the markets its
 * scopes allow (unless --keep-orders), close its derivative positions with reduce-only market orders (--flatten), and
 * list both again to confirm. A dry run only lists. Spot balances are never touched: a kill stops trading, it does
 * not sell.
 *
 * A key the store no longer holds (revoked by an earlier kill) has nothing left to cancel with: the step reports it
 * and the exchange's web UI is the way.
 */
import { credentialsFrom } from '../domain/credentials.js';
import type { Slot } from '../domain/inventory.js';
import { accountOf } from '../domain/resolve.js';
import { storePath } from '../domain/refs.js';
import type { DeclarableScope } from '../domain/scopes.js';
import { ExchangeError, KeyctlError, NotFoundError } from '@keyctl/client/errors';
import { isKeyRejected } from '../exchanges/ccxt.js';
import { exchangeAccount, type OpenOrder, type OpenPosition, type TradingMarket, type TradingRequest } from '../exchanges/types.js';
import type { AppDeps } from './deps.js';

export type KillTradingDeps = Pick<AppDeps, 'inventory' | 'store' | 'adapter' | 'call'>;

export interface TradingOptions {
  keepOrders: boolean;
  flatten: boolean;
  dryRun: boolean;
}

export interface TradingOutcome {
  /** Open orders found before the kill acted (what a dry run would cancel). */
  orders: OpenOrder[];
  /** Orders cancelled (confirmed by listing again). */
  cancelled: number;
  positions: OpenPosition[];
  closed: number;
  /** What could not be done or confirmed (each a code and a message); empty when every step is verified. */
  problems: Array<{ step: 'orders' | 'positions'; code: string; message: string }>;
  /** Why nothing was tried (no key, an exchange keyctl cannot trade on). */
  skipped?: string;
  /**
   * The reason as a code: `options` (--keep-orders without --flatten: nothing asked), `exchange` (keyctl cannot trade
   * there), `no-key` (the slot holds no CURRENT key to act with: revoked by an earlier kill, or never imported).
   */
  skippedBecause?: 'options' | 'exchange' | 'no-key';
}

const MARKETS: Partial<Record<DeclarableScope, TradingMarket[]>> = {
  'spot:trade': ['spot'],
  'margin:trade': ['margin'],
  'futures:trade': ['linear', 'inverse'],
  'options:trade': ['option'],
};

/** The markets a slot's scopes let its bot trade in. */
export function marketsOf(scopes: readonly DeclarableScope[]): TradingMarket[] {
  return [...new Set(scopes.flatMap((s) => MARKETS[s] ?? []))];
}

export async function killTrading(deps: KillTradingDeps, slot: Slot, options: TradingOptions): Promise<TradingOutcome> {
  const outcome: TradingOutcome = { orders: [], cancelled: 0, positions: [], closed: 0, problems: [] };
  if (options.keepOrders && !options.flatten) return { ...outcome, skipped: '--keep-orders and no --flatten', skippedBecause: 'options' };
  const account = accountOf(deps.inventory, slot);
  const adapter = await deps.adapter(account.exchange);
  if (!adapter.trading)
    return {
      ...outcome,
      skipped: `keyctl cannot trade on ${account.exchange}: check orders and positions in its web UI`,
      skippedBecause: 'exchange',
    };
  let key;
  try {
    key = credentialsFrom((await deps.store.read(storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }), { stage: 'CURRENT' })).secret);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  if (!key) {
    return {
      ...outcome,
      skipped: 'no CURRENT key to act with (already revoked?): check orders and positions in the web UI',
      skippedBecause: 'no-key',
    };
  }
  const trading = adapter.trading;
  const wanted = marketsOf(slot.scopes);
  // Markets the exchange's trading API does not cover (MEXC futures, Bitget spot margin) are reported, and the kill
  // still acts in every market it can reach.
  const markets = trading.markets ? wanted.filter((m) => trading.markets!.includes(m)) : wanted;
  const unreachable = wanted.filter((m) => !markets.includes(m));
  const request: TradingRequest = { account: exchangeAccount(account), key, markets, ...deps.call };
  const gap = (name: 'orders' | 'positions') => {
    if (unreachable.length === 0) return;
    outcome.problems.push({
      step: name,
      code: 'CAPABILITY_GAP',
      message: `keyctl does not act on ${account.exchange} ${unreachable.join(', ')} ${name}: check them in the exchange's web UI.`,
    });
  };

  if (!options.keepOrders) {
    gap('orders');
    await step(outcome, 'orders', async () => {
      if (markets.length === 0) return;
      outcome.orders = await trading.listOrders(request);
      if (options.dryRun || outcome.orders.length === 0) return;
      await trading.cancelOrders(request, outcome.orders);
      const left = await trading.listOrders(request);
      outcome.cancelled = outcome.orders.length - left.length;
      if (left.length > 0) throw new ExchangeError('ORDERS_LEFT', `${left.length} order(s) still open after cancelling.`);
    });
  }
  if (options.flatten) {
    gap('positions');
    await step(outcome, 'positions', async () => {
      if (markets.length === 0) return;
      outcome.positions = await trading.listPositions(request);
      if (options.dryRun) return;
      // Every position gets its close, even after one fails (an option the exchange will not close by market order):
      // the listing below says what is still open.
      const errors: unknown[] = [];
      for (const position of outcome.positions) await trading.closePosition(request, position).catch((err: unknown) => errors.push(err));
      const left = await trading.listPositions(request);
      outcome.closed = outcome.positions.length - left.length;
      if (left.length > 0 && errors[0] instanceof KeyctlError) throw errors[0];
      if (left.length > 0) throw new ExchangeError('POSITIONS_LEFT', `${left.length} position(s) still open after closing.`);
    });
  }
  return outcome;
}

/**
 * Runs one step; a failure is recorded (the kill goes on to revoke), never thrown. A key the exchange says does not
 * exist (deleted in its web UI after an assisted kill asked for it) has nothing left to act with: like no key at all.
 */
async function step(outcome: TradingOutcome, name: 'orders' | 'positions', fn: () => Promise<void>): Promise<void> {
  if (outcome.skippedBecause === 'no-key') return;
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof KeyctlError)) throw err;
    const rejected: boolean = isKeyRejected(err as unknown);
    if (rejected) {
      outcome.skipped = 'the key no longer works at the exchange (deleted?): check orders and positions in the web UI';
      outcome.skippedBecause = 'no-key';
      outcome.problems = [];
      return;
    }
    outcome.problems.push({ step: name, code: err.code, message: err.message });
  }
}
