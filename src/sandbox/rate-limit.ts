/**
 * The exchanges' own rate limit, as the sandbox enforces it when asked (`POST /_admin/rate-limit`): at most
 * `perSecond` requests per key and endpoint in any rolling window of `windowMs`, answered beyond that with the
 * exchange's rate-limit error (Bybit 10006 "Too many visits!"). Bybit counts "the rolling time window per second and
 * UID" per endpoint (https://bybit-exchange.github.io/docs/v5/rate-limit); the sandbox counts per key, which is the
 * UID's for every key keyctl signs a given endpoint with, and it counts refused requests too, so a client that keeps
 * knocking stays locked out: never laxer than the exchange.
 *
 * A request is counted when it arrives: after a `latency` fault's wait, as a real exchange sees a request only once
 * it crossed the network.
 */
import type { SandboxExchange } from './state.js';

/** The header each exchange carries the API key in (how the sandbox tells keys apart before authenticating). */
const KEY_HEADER: Record<SandboxExchange, string> = {
  bybit: 'x-bapi-api-key',
  okx: 'ok-access-key',
  binance: 'x-mbx-apikey',
  kucoin: 'kc-api-key',
  mexc: 'x-mexc-apikey',
  bitget: 'access-key',
  // A CDP key's name travels inside the JWT, and the bearer token is new per request: the sandbox's rate limit counts
  // each Coinbase request on its own (it never limits Coinbase).
  coinbase: 'authorization',
  kraken: 'api-key',
  bitfinex: 'bfx-apikey',
  gate: 'key',
};

export interface RateLimitSpec {
  perSecond: number;
  /** The rolling window (default 1000 ms): `perSecond` requests at most in any window this long. */
  windowMs?: number;
}

export interface RateLimitStats {
  perSecond: number;
  windowMs: number;
  /** Requests counted (let through or refused). */
  requests: number;
  /** Requests refused with the exchange's rate-limit answer. */
  limited: number;
}

/** Validates an admin request body; returns an error message instead when it is malformed. */
export function parseRateLimitSpec(body: Record<string, unknown>): RateLimitSpec | string {
  const { perSecond, windowMs } = body;
  if (typeof perSecond !== 'number' || !Number.isInteger(perSecond) || perSecond < 1) {
    return 'perSecond must be a positive integer: requests let through per key and endpoint in each window';
  }
  if (windowMs !== undefined && (typeof windowMs !== 'number' || !Number.isInteger(windowMs) || windowMs < 1)) {
    return 'windowMs must be a positive integer';
  }
  return { perSecond, ...(windowMs !== undefined ? { windowMs } : {}) };
}

export class RateLimitTable {
  private readonly limits = new Map<SandboxExchange, RateLimitStats>();
  /** Arrival times per exchange, key and endpoint, oldest first. */
  private readonly arrivals = new Map<string, number[]>();

  set(exchange: SandboxExchange, spec: RateLimitSpec): void {
    this.limits.set(exchange, { perSecond: spec.perSecond, windowMs: spec.windowMs ?? 1000, requests: 0, limited: 0 });
    for (const k of this.arrivals.keys()) if (k.startsWith(`${exchange}\u0000`)) this.arrivals.delete(k);
  }

  clear(): void {
    this.limits.clear();
    this.arrivals.clear();
  }

  stats(): Partial<Record<SandboxExchange, RateLimitStats>> {
    return Object.fromEntries([...this.limits].map(([exchange, s]) => [exchange, { ...s }]));
  }

  /**
   * Counts one request arriving at `now`; true when it is over the limit and must get the rate-limit answer. Without a
   * limit set for the exchange, nothing is counted.
   */
  refuse(
    exchange: SandboxExchange,
    method: string,
    path: string,
    headers: Record<string, string | string[] | undefined>,
    now: number,
  ): boolean {
    const limit = this.limits.get(exchange);
    if (!limit) return false;
    const raw = headers[KEY_HEADER[exchange]];
    const key = Array.isArray(raw) ? (raw[0] ?? '') : (raw ?? '');
    const id = `${exchange}\u0000${key}\u0000${method} ${path}`;
    const times = this.arrivals.get(id) ?? [];
    let expired = 0;
    while (expired < times.length && times[expired]! <= now - limit.windowMs) expired++;
    if (expired > 0) times.splice(0, expired);
    const over = times.length >= limit.perSecond;
    times.push(now);
    this.arrivals.set(id, times);
    limit.requests += 1;
    if (over) limit.limited += 1;
    return over;
  }
}
