import type { AssistedExchange } from '../descriptor.js';

/** MEXC: assisted rotation. keyctl has no adapter for it yet. */
export const mexc = {
  id: 'mexc',
  name: 'MEXC',
  passphrase: false,
  rotation: 'assisted',
  why: 'no keyctl adapter for MEXC yet',
  // ccxt 4.5.84 mexc `rateLimit` (ccxt: "default rate limit is 20 times per second")
  rateLimitMs: 50,
} as const satisfies AssistedExchange;
