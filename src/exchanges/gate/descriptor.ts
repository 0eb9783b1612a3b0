import type { AssistedExchange } from '../descriptor.js';

/** Gate: assisted rotation. keyctl has no adapter for it yet. */
export const gate = {
  id: 'gate',
  name: 'Gate',
  passphrase: false,
  rotation: 'assisted',
  why: 'no keyctl adapter for Gate yet',
  // ccxt 4.5.84 gate `rateLimit` (ccxt: "200 requests per 10 second or 50ms")
  rateLimitMs: 50,
} as const satisfies AssistedExchange;
