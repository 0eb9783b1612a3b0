/**
 * What the exchanges' order and position endpoints share: decimal arithmetic on quantity strings, order ids in
 * each exchange's format, the account a key acts for, and the one rule every reduce-only order follows. The sandbox
 * keeps no prices and no order book: a resting order never fills, and only a reduce-only market order changes a
 * position (it closes or reduces it at once).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { EmulatorContext, Reply, SandboxRequest } from '../http.js';
import type { OrderMarket, SandboxExchange, SandboxKey, SandboxOrder, SandboxPosition, SandboxState } from '../state.js';

/** The routes one exchange adds, built per request: `METHOD /path` -> handler of the authenticated key. */
export type TradingRoutes = (req: SandboxRequest, ctx: EmulatorContext) => Record<string, (key: SandboxKey) => Reply>;

const DECIMAL = /^\d+(\.\d+)?$/;

/** A non-negative decimal written plainly (`1`, `0.25`): what the sandbox accepts as a quantity or a price. */
export function isDecimal(v: string | undefined): v is string {
  return v !== undefined && DECIMAL.test(v);
}

export function isPositiveDecimal(v: string | undefined): v is string {
  return isDecimal(v) && /[1-9]/.test(v);
}

function scaled(a: string, b: string): [bigint, bigint, number] {
  const digits = Math.max((a.split('.')[1] ?? '').length, (b.split('.')[1] ?? '').length);
  const toInt = (s: string) => {
    const [i = '0', f = ''] = s.split('.');
    return BigInt(i + f.padEnd(digits, '0'));
  };
  return [toInt(a), toInt(b), digits];
}

function unscale(n: bigint, digits: number): string {
  const neg = n < 0n;
  const s = (neg ? -n : n).toString().padStart(digits + 1, '0');
  const int = s.slice(0, s.length - digits);
  const frac = digits > 0 ? s.slice(s.length - digits).replace(/0+$/, '') : '';
  return `${neg ? '-' : ''}${int}${frac ? `.${frac}` : ''}`;
}

/** -1, 0 or 1 as a < b, a = b, a > b (both plain decimals). */
export function decCmp(a: string, b: string): number {
  const [x, y] = scaled(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function decSub(a: string, b: string): string {
  const [x, y, d] = scaled(a, b);
  return unscale(x - y, d);
}

export function decMul(a: string, b: string): string {
  const [x, y, d] = scaled(a, b);
  return unscale(x * y, 2 * d);
}

/** The decimal without insignificant zeros (`1.500` -> `1.5`). */
export function decNorm(a: string): string {
  return decSub(a, '0');
}

/** A new order id in the exchange's own format. */
export function newOrderId(exchange: SandboxExchange, state: SandboxState): string {
  switch (exchange) {
    case 'bybit':
      return randomUUID();
    case 'kucoin':
      return randomBytes(12).toString('hex');
    case 'okx':
      // OKX order ids are 18-19 digit strings.
      return `6${state.nextNumber().padStart(17, '0')}`;
    case 'binance':
    case 'gate':
      return state.nextNumber();
    case 'mexc':
      // MEXC spot v3 order ids look like "C02__443776347957968896" (https://www.mexc.com/api-docs/spot-v3/spot-account-trade).
      return `C02__${state.nextNumber().padStart(18, '4')}`;
    case 'bitget':
      // Bitget order ids are 19-digit strings.
      return `1${state.nextNumber().padStart(18, '0')}`;
    default:
      // An exchange without sandbox trading routes (inspect-only) never gets here.
      throw new Error(`The sandbox has no orders on ${exchange}.`);
  }
}

/** The account a key acts for: orders and positions are the caller's own account's, never another's. */
export function ownOrders(ctx: EmulatorContext, key: SandboxKey): SandboxOrder[] {
  return ctx.state.orders({ exchange: key.exchange, owner: key.owner });
}

export function ownPositions(ctx: EmulatorContext, key: SandboxKey): SandboxPosition[] {
  return ctx.state.positions({ exchange: key.exchange, owner: key.owner });
}

/** Newest first, as the exchanges list open orders. */
export function newestFirst(orders: SandboxOrder[]): SandboxOrder[] {
  return [...orders].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));
}

export type ReduceRefusal = 'no-position' | 'same-side' | 'too-large';

/**
 * The reduce-only rule: a buy reduces a short, a sell a long, by at most the position's size. `trim` (KuCoin's
 * documented behaviour) cancels the excess instead of refusing the order. On success the position is reduced (and
 * removed at zero) and the filled quantity returned; nothing changes on a refusal.
 */
export function reduce(
  state: SandboxState,
  key: SandboxKey,
  symbol: string,
  side: 'buy' | 'sell',
  qty: string,
  options: { trim?: boolean } = {},
): { filled: string; position: SandboxPosition } | { refused: ReduceRefusal; position?: SandboxPosition } {
  const position = state.position(key.exchange, key.owner, symbol);
  if (!position) return { refused: 'no-position' };
  if ((position.side === 'long') === (side === 'buy')) return { refused: 'same-side', position };
  let filled = decNorm(qty);
  if (decCmp(filled, position.size) > 0) {
    if (!options.trim) return { refused: 'too-large', position };
    filled = position.size;
  }
  const left = decSub(position.size, filled);
  if (decCmp(left, '0') === 0) state.removePosition(position);
  else state.setPosition({ ...position, size: left });
  return { filled, position };
}

/**
 * Whether a reduce-only order could reduce the position now (an opposite position exists), without changing anything:
 * the check a resting reduce-only limit order gets when it is placed.
 */
export function reducible(state: SandboxState, key: SandboxKey, symbol: string, side: 'buy' | 'sell'): ReduceRefusal | undefined {
  const position = state.position(key.exchange, key.owner, symbol);
  if (!position) return 'no-position';
  return (position.side === 'long') === (side === 'buy') ? 'same-side' : undefined;
}

/** Records a resting order for the caller's account. */
export function restOrder(
  ctx: EmulatorContext,
  key: SandboxKey,
  o: {
    symbol: string;
    side: 'buy' | 'sell';
    type: 'limit' | 'market';
    price: string | null;
    qty: string;
    market: OrderMarket;
    reduceOnly?: boolean;
    clientId?: string;
  },
): SandboxOrder {
  return ctx.state.addOrder({
    exchange: key.exchange,
    owner: key.owner,
    id: newOrderId(key.exchange, ctx.state),
    ...(o.clientId !== undefined && o.clientId !== '' ? { clientId: o.clientId } : {}),
    symbol: o.symbol,
    side: o.side,
    type: o.type,
    price: o.price === null ? null : decNorm(o.price),
    qty: decNorm(o.qty),
    market: o.market,
    ...(o.reduceOnly ? { reduceOnly: true } : {}),
    createdAt: new Date(ctx.now).toISOString(),
  });
}

/** A boolean request parameter as exchanges send it: JSON `true` or the string `"true"`. */
export function truthy(v: unknown): boolean {
  return v === true || v === 'true' || v === 'TRUE' || v === 'True';
}

/** Order time in ms. */
export function ms(iso: string): number {
  return Date.parse(iso);
}

/** The message every refused non-reduce-only market order carries: the sandbox has no order book to fill it. */
export const NO_FILLS =
  'sandbox: only reduce-only market orders are filled (the sandbox has no order book); place a limit order to rest one';
