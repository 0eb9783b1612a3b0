import type { AssistedExchange } from '../descriptor.js';

/** HTX: assisted rotation. Its sub-key API needs the parent account's live Google Authenticator code. */
export const htx = {
  id: 'htx',
  name: 'HTX',
  passphrase: false,
  rotation: 'assisted',
  why: "HTX creates sub keys only with the parent's live 2FA code",
  // ccxt 4.5.84 htx `rateLimit`
  rateLimitMs: 100,
} as const satisfies AssistedExchange;
