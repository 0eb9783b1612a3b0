import type { AssistedExchange } from '../descriptor.js';

/** Bitget: assisted rotation. keyctl has no adapter for it yet. */
export const bitget = {
  id: 'bitget',
  name: 'Bitget',
  passphrase: true,
  rotation: 'assisted',
  why: 'no keyctl adapter for Bitget yet',
  // ccxt 4.5.84 bitget `rateLimit` (ccxt: "up to 3000 requests per 5 minutes")
  rateLimitMs: 50,
} as const satisfies AssistedExchange;
