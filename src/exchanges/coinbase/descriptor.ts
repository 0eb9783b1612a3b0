import type { AssistedExchange } from '../descriptor.js';

/** Coinbase Advanced Trade: assisted rotation. Keys are created only in the CDP portal. */
export const coinbase = {
  id: 'coinbase',
  name: 'Coinbase Advanced Trade',
  passphrase: false,
  rotation: 'assisted',
  why: 'Coinbase Advanced Trade keys are created only in the CDP portal',
  // ccxt 4.5.84 coinbase `rateLimit`
  rateLimitMs: 34,
} as const satisfies AssistedExchange;
