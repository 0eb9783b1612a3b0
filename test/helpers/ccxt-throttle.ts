/**
 * ccxt spaces each instance's calls by the exchange's `rateLimit` (Kraken: seconds apart). That is production behaviour,
 * and keyctl's own limiter (src/exchanges/rate-limit.ts) still runs; but the sandbox has no such limits, so a file that
 * makes hundreds of calls skips ccxt's waits to stay fast. Call inside a describe block (or at the top of a file).
 */
import ccxt from 'ccxt';
import { afterAll, beforeAll, vi } from 'vitest';

export function skipCcxtThrottle(): void {
  let throttle: { mockRestore(): void } | undefined;
  beforeAll(() => {
    throttle = vi.spyOn(ccxt.Exchange.prototype, 'throttle').mockResolvedValue(undefined as never);
  });
  afterAll(() => {
    throttle?.mockRestore();
  });
}
