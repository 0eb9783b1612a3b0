/**
 * The sandbox as a rate-limited exchange: Bybit counts "the rolling time window per second and UID" per endpoint and
 * answers 10006 "Too many visits!" beyond it (https://bybit-exchange.github.io/docs/v5/rate-limit); the sandbox counts
 * per key and endpoint when a limit is set, and a latency fault can jitter.
 */
import ccxt from 'ccxt';
import { afterEach, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf } from './sandbox-helpers.js';

let sb: RunningSandbox | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

async function twoKeys(s: RunningSandbox) {
  await s.admin.createAccount('bybit', '42');
  const permissions = { Wallet: ['AccountTransfer'] };
  const a = await s.admin.createKey({ exchange: 'bybit', owner: '42', master: true, permissions });
  const b = await s.admin.createKey({ exchange: 'bybit', owner: '42', master: true, permissions });
  return { a: client('bybit', s.url, a), b: client('bybit', s.url, b) };
}

describe('sandbox rate limit', () => {
  it('answers 10006 past the limit per key and endpoint in a rolling window; other keys and endpoints go on', async () => {
    sb = await startSandbox({ admin: true });
    const { a, b } = await twoKeys(sb);
    await sb.admin.setRateLimit('bybit', { perSecond: 2, windowMs: 400 });
    const query = (ex: typeof a) => call(ex, 'privateGetV5UserQueryApi');
    expect((await query(a)).retCode).toBe(0);
    expect((await query(a)).retCode).toBe(0);
    const refused = await errorOf(query(a));
    expect(refused.error).toBeInstanceOf(ccxt.RateLimitExceeded);
    expect(refused.error.message).toContain('"retCode":10006');
    // Another key, and another endpoint of the same key, have counts of their own.
    expect((await query(b)).retCode).toBe(0);
    expect((await call(a, 'privateGetV5AccountWalletBalance', { accountType: 'UNIFIED' })).retCode).toBe(0);
    // The refused call counted too: the window must pass from the last of the three before the key is let through.
    await new Promise((r) => setTimeout(r, 420));
    expect((await query(a)).retCode).toBe(0);
    expect(await sb.admin.rateLimitStats()).toEqual({ bybit: { perSecond: 2, windowMs: 400, requests: 6, limited: 1 } });
    await sb.admin.clearRateLimits();
    for (let i = 0; i < 4; i++) expect((await query(a)).retCode).toBe(0);
    expect(await sb.admin.rateLimitStats()).toEqual({});
  });

  it('refuses a malformed limit, and reset clears it', async () => {
    sb = await startSandbox({ admin: true });
    await expect(sb.admin.setRateLimit('bybit', { perSecond: 0 })).rejects.toThrow(/perSecond must be a positive integer/);
    await expect(sb.admin.setRateLimit('bybit', { perSecond: 2, windowMs: -1 })).rejects.toThrow(/windowMs/);
    await sb.admin.setRateLimit('bybit', { perSecond: 1 });
    await sb.admin.reset();
    expect(await sb.admin.rateLimitStats()).toEqual({});
  });

  it('a latency fault with maxMs waits a random time between ms and maxMs', async () => {
    sb = await startSandbox({ admin: true });
    const { a } = await twoKeys(sb);
    await expect(sb.admin.addFault({ exchange: 'bybit', path: '*', kind: '5xx', maxMs: 10 })).rejects.toThrow(/latency fault only/);
    await expect(sb.admin.addFault({ exchange: 'bybit', path: '*', kind: 'latency', ms: 50, maxMs: 10 })).rejects.toThrow(/at least ms/);
    await sb.admin.addFault({ exchange: 'bybit', path: '*', kind: 'latency', ms: 60, maxMs: 120 });
    const took: number[] = [];
    for (let i = 0; i < 6; i++) {
      const t0 = performance.now();
      await call(a, 'privateGetV5UserQueryApi');
      took.push(performance.now() - t0);
    }
    for (const t of took) {
      expect(t).toBeGreaterThanOrEqual(58);
      expect(t).toBeLessThan(400);
    }
  });
});
