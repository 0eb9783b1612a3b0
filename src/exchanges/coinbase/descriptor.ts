import type { AssistedExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/**
 * Coinbase Advanced Trade: inspect-only. Keys are created only in the CDP portal, so rotation is assisted; a key's
 * permissions are read with GET /api/v3/brokerage/key_permissions
 * (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/data-api/get-api-key-permissions), which
 * reports no IP allowlist: the `ip-lock` check is unverifiable (accounts.<name>.accept: [ip-lock-unverifiable]).
 */
export const coinbase = {
  id: 'coinbase',
  name: 'Coinbase Advanced Trade',
  passphrase: false,
  rotation: 'assisted',
  why: 'Coinbase Advanced Trade keys are created only in the CDP portal',
  // ccxt 4.5.84 coinbase `rateLimit`
  rateLimitMs: 34,
  errors: {
    // Coinbase answers 401 "Unauthorized" for a bad JWT, an unknown or deleted key, and (the CDP docs name no separate
    // code for it) a call from outside the key's IP allowlist: KEY_REJECTED, worded to name the allowlist as a cause.
    // Error ids: ccxt 4.5.84 coinbase.js `exceptions` (`unauthorized`, `PERMISSION_DENIED`, `rate_limit_exceeded`).
    codes: { unauthorized: 'KEY_REJECTED', PERMISSION_DENIED: 'PERMISSION_DENIED', rate_limit_exceeded: 'RATE_LIMITED' },
    // Its 401 is a plain-text body, so ccxt's message carries only the status line: matched by message.
    keyOrIp: { codes: ['unauthorized'], message: /(^|\s)401 Unauthorized\b/ },
  },
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AssistedExchange;
