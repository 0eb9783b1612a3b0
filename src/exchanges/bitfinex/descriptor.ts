import type { AssistedExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/**
 * Bitfinex (API v2): inspect-only. Keys are created only in the web UI (API v2 has no key-creation endpoint), so
 * rotation is assisted; a key's permissions are read with POST /v2/auth/r/permissions
 * (https://docs.bitfinex.com/reference/key-permissions), which reports neither the key's IP access restriction nor
 * whose account it is: `ip-lock` and `owner` are unverifiable (accounts.<name>.accept lists them to accept the gaps).
 */
export const bitfinex = {
  id: 'bitfinex',
  name: 'Bitfinex',
  passphrase: false,
  rotation: 'assisted',
  why: 'Bitfinex keys are created only in the web UI',
  // ccxt 4.5.84 bitfinex `rateLimit`
  rateLimitMs: 250,
  // Bitfinex errors are `["error", <code>, "<text>"]` (HTTP 500), which ccxt 4.5.84 classifies by code in its
  // `exceptions` (10100 AuthenticationError, 10114 InvalidNonce, 10001 PermissionDenied, 11010 RateLimitExceeded): the
  // ccxt class decides, so no code is listed here. keyctl found no Bitfinex code for a call from outside the key's IP
  // restriction: the sandbox answers it as 10100 (a rejected key, never a pass).
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AssistedExchange;
