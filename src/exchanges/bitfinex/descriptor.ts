import type { AssistedExchange } from '../descriptor.js';

/** Bitfinex: assisted rotation. Keys are created only in the web UI (no key-creation endpoint in API v2). */
export const bitfinex = {
  id: 'bitfinex',
  name: 'Bitfinex',
  passphrase: false,
  rotation: 'assisted',
  why: 'Bitfinex keys are created only in the web UI',
  // ccxt 4.5.84 bitfinex `rateLimit`
  rateLimitMs: 250,
} as const satisfies AssistedExchange;
