import type { AssistedExchange } from '../descriptor.js';

/** Kraken: assisted rotation. Keys are created only in the web UI. */
export const kraken = {
  id: 'kraken',
  name: 'Kraken',
  passphrase: false,
  rotation: 'assisted',
  why: 'Kraken keys are created only in the web UI',
  // ccxt 4.5.84 kraken `rateLimit`
  rateLimitMs: 1000,
} as const satisfies AssistedExchange;
