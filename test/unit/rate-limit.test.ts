import ccxt from 'ccxt';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DOCUMENTED_LIMITS,
  RateLimiters,
  safetyMarginMs,
  windowOf,
  WindowLimiter,
  type LimitedCall,
} from '../../src/exchanges/rate-limit.js';

/** Acquires `n` slots of `limiter` in a row and returns when each was let through, in ms since the start. */
async function times(limiter: WindowLimiter, n: number, weight = 1): Promise<number[]> {
  const t0 = Date.now();
  return Promise.all(Array.from({ length: n }, () => limiter.acquire(weight).then(() => Date.now() - t0)));
}

describe('WindowLimiter', () => {
  it('lets `count` calls through at once, the next only when the first leaves the rolling window (plus its margin)', async () => {
    const limiter = new WindowLimiter({ count: 3, windowMs: 200 });
    const window = 200 + safetyMarginMs(200);
    const at = await times(limiter, 7);
    expect(at.slice(0, 3).every((t) => t < 30)).toBe(true);
    // The 4th to 6th wait for the first three to leave the window, the 7th for the 4th to 6th.
    for (const t of at.slice(3, 6)) expect(t).toBeGreaterThanOrEqual(window - 5);
    expect(at[6]).toBeGreaterThanOrEqual(2 * window - 10);
    expect(at[6]).toBeLessThan(2 * window + 150);
    expect(limiter.waited).toBe(4);
  });

  it('counts weights against the window, and lets a call heavier than the whole limit go alone', async () => {
    const limiter = new WindowLimiter({ count: 10, windowMs: 150 });
    const at = await times(limiter, 3, 4);
    expect(at[0]).toBeLessThan(30);
    expect(at[1]).toBeLessThan(30);
    expect(at[2]).toBeGreaterThanOrEqual(150);
    const heavy = new WindowLimiter({ count: 2, windowMs: 100 });
    const [first] = await times(heavy, 1, 5);
    expect(first).toBeLessThan(30);
  });

  it('serves waiting calls first come, first served', async () => {
    const limiter = new WindowLimiter({ count: 1, windowMs: 60 });
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3].map((i) => limiter.acquire().then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2, 3]);
  });

  it('after a rate-limit answer pauses, then lets half as much through until a quiet window doubles it back', async () => {
    let now = 0;
    const limiter = new WindowLimiter({ count: 8, windowMs: 1000 }, () => now);
    expect(limiter.capacity).toBe(8);
    limiter.limited();
    expect(limiter.capacity).toBe(4);
    limiter.limited();
    expect(limiter.capacity).toBe(2);
    // Repeated answers never take it below one call a window.
    for (let i = 0; i < 10; i++) limiter.limited();
    expect(limiter.capacity).toBe(1);
    expect(limiter.limitedAnswers).toBe(12);
    // Answers within the window do not count as quiet; a window after the last answer doubles the share.
    now += 500;
    limiter.succeeded();
    expect(limiter.capacity).toBe(1);
    now += 1000;
    limiter.succeeded();
    expect(limiter.capacity).toBe(2);
    for (let i = 0; i < 3; i++) {
      now += 1100;
      limiter.succeeded();
    }
    expect(limiter.capacity).toBe(8);
  });

  it('holds every call during the pause after a rate-limit answer', async () => {
    const limiter = new WindowLimiter({ count: 100, windowMs: 300 });
    limiter.limited();
    const t0 = Date.now();
    await limiter.acquire();
    // The pause is a second at most, and never longer than the window (plus margin).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300 + safetyMarginMs(300) - 5);
  });
});

describe('windowOf', () => {
  it('turns calls a second into a rolling window of whole calls', () => {
    expect(windowOf(5)).toEqual({ count: 5, windowMs: 1000 });
    expect(windowOf(2.5)).toEqual({ count: 2, windowMs: 800 });
    expect(windowOf(0.5)).toEqual({ count: 1, windowMs: 2000 });
    expect(() => windowOf(0)).toThrow(RangeError);
    expect(() => windowOf(Number.POSITIVE_INFINITY)).toThrow(RangeError);
  });
});

describe('RateLimiters', () => {
  const limiters = new RateLimiters();
  afterEach(() => limiters.clear());
  const call = (over: Partial<LimitedCall> = {}): LimitedCall => ({
    exchange: 'bybit',
    account: 'main',
    baseUrl: 'http://127.0.0.1:1/bybit',
    keyId: 'fp-master',
    endpoint: 'private POST v5/user/create-sub-api',
    ...over,
  });

  it("uses each exchange's documented figure: Bybit creates and deletes sub-account keys 5 a second", () => {
    const create = limiters.gate(call())!;
    expect([create.kind, create.limiter.count, create.limiter.windowMs, create.weight]).toEqual(['create', 5, 1000, 1]);
    const del = limiters.gate(call({ endpoint: 'private POST v5/user/delete-sub-api' }))!;
    expect([del.kind, del.limiter.count]).toEqual(['delete', 5]);
    expect(del.limiter).not.toBe(create.limiter);
    const inspect = limiters.gate(call({ endpoint: 'private GET v5/user/query-api', keyId: 'fp-bot' }))!;
    expect([inspect.kind, inspect.limiter.count]).toEqual(['inspect', 10]);
  });

  it('keeps one pool per account, key and endpoint; an address pool is shared by every key', () => {
    const pool = (over: Partial<LimitedCall> = {}) => limiters.gate(call(over))?.limiter;
    const a = pool();
    expect(a).toBeDefined();
    expect(pool()).toBe(a);
    expect(pool({ keyId: 'fp-other' })).not.toBe(a);
    expect(pool({ account: 'other' })).not.toBe(a);
    expect(pool({ baseUrl: 'http://127.0.0.1:2/bybit' })).not.toBe(a);
    const ping = (keyId: string) => limiters.gate({ exchange: 'binance', keyId, endpoint: 'private GET account', account: 'x' });
    expect(ping('fp-1')?.limiter).toBe(ping('fp-2')?.limiter);
    expect(ping('fp-3')?.weight).toBe(20);
  });

  it('shares a weighted pool across endpoints where the exchange does (KuCoin management)', () => {
    const create = limiters.gate({ exchange: 'kucoin', keyId: 'k', endpoint: 'private POST sub/api-key' })!;
    const del = limiters.gate({ exchange: 'kucoin', keyId: 'k', endpoint: 'private DELETE sub/api-key' })!;
    expect(create.limiter).toBe(del.limiter);
    expect([create.weight, del.weight, create.limiter.count, create.limiter.windowMs]).toEqual([20, 30, 2000, 30_000]);
  });

  it("keys Gate's table as ccxt's gate methods call request(): every key endpoint the adapter calls has its pool", async () => {
    const ex = new ccxt.gate({ apiKey: 'FAKE-gate-key', secret: 'FAKE-gate-secret' });
    const endpoints: string[] = [];
    ex.request = async (path: string, api: unknown, method: string) => {
      endpoints.push(`${Array.isArray(api) ? api.join('/') : String(api)} ${method.toUpperCase()} ${path}`);
      return {};
    };
    const implicit = ex as unknown as Record<string, (params: Record<string, unknown>) => Promise<unknown>>;
    const kinds: Record<string, string> = {
      privateSubAccountsPostSubAccountsUserIdKeys: 'create',
      privateSubAccountsGetSubAccountsUserIdKeys: 'list',
      privateSubAccountsPutSubAccountsUserIdKeysKey: 'update',
      privateSubAccountsDeleteSubAccountsUserIdKeysKey: 'delete',
      privateAccountGetDetail: 'inspect',
      privateAccountGetMainKeys: 'inspect',
      privateSpotGetAccounts: 'ping',
    };
    for (const [method, kind] of Object.entries(kinds)) {
      await implicit[method]!({ user_id: '20001', key: 'FAKE-gate-bot' });
      const endpoint = endpoints.at(-1)!;
      const pool = limiters.gate({ exchange: 'gate', keyId: 'k', endpoint });
      expect(pool?.kind, `${method}: ${endpoint}`).toBe(kind);
    }
    expect(
      limiters.gate({ exchange: 'gate', keyId: 'k', endpoint: 'private/subAccounts POST sub_accounts/{user_id}/keys' })!.limiter,
    ).toMatchObject({
      count: 80,
      windowMs: 10_000,
    });
  });

  it("an account's rateLimit replaces the figures: perSecond for all, endpoints.<kind> for one", () => {
    const setting = { perSecond: 2, endpoints: { create: 0.5 } };
    const create = limiters.gate(call({ setting }))!;
    expect([create.limiter.count, create.limiter.windowMs]).toEqual([1, 2000]);
    const list = limiters.gate(call({ setting, endpoint: 'private GET v5/user/sub-apikeys' }))!;
    expect([list.kind, list.limiter.count, list.limiter.windowMs]).toEqual(['list', 2, 1000]);
  });

  it("leaves an endpoint the table does not list to ccxt's throttle, unless the account sets a limit for it", () => {
    expect(limiters.gate(call({ endpoint: 'private POST v5/order/cancel-all' }))).toBeUndefined();
    const order = limiters.gate(call({ endpoint: 'private POST v5/order/cancel-all', setting: { endpoints: { trading: 1 } } }));
    expect([order?.kind, order?.limiter.count, order?.limiter.windowMs]).toEqual(['trading', 1, 1000]);
  });

  it('reports rate-limit answers and waits per account and kind, without keys', () => {
    limiters.gate(call())!.limiter.limited();
    expect(limiters.stats()).toEqual([{ account: 'main', kind: 'create', limitedAnswers: 1, waited: 0, waitedMs: 0 }]);
  });

  it('drops idle pools once there are many', () => {
    const small = new RateLimiters({ maxIdle: 3 });
    for (let i = 0; i < 10; i++) small.gate(call({ keyId: `fp-${i}` }));
    expect(small.size).toBeLessThanOrEqual(4);
  });

  it('documents a source and a positive figure for every endpoint it lists', () => {
    for (const [exchange, limits] of Object.entries(DOCUMENTED_LIMITS)) {
      expect(limits.source, exchange).toMatch(/^https:\/\//);
      for (const [endpoint, rule] of Object.entries(limits.endpoints)) {
        const pool = limits.pools[rule.pool];
        expect(pool, `${exchange} ${endpoint}`).toBeDefined();
        expect(pool!.count).toBeGreaterThanOrEqual(rule.weight ?? 1);
      }
    }
  });
});
