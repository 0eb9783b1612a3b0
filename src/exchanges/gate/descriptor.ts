import type { AutomaticExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/**
 * Gate API v4 (https://www.gate.io/docs/developers/apiv4/en/). Gate answers errors as `{"label": ..., "message": ...}`
 * with a label instead of a numeric code; ccxt.ts reads `label` as the code. Labels:
 * https://www.gate.io/docs/developers/apiv4/en/#label-list
 */
export const gate = {
  id: 'gate',
  name: 'Gate',
  passphrase: false,
  rotation: 'automatic',
  operations: {
    inspect: true,
    create: true,
    delete: true,
    list: true,
    // Gate does not document which permission the sub-account key endpoints (/sub_accounts/{user_id}/keys) need. The
    // account-level permission `account` (read-write) is the one that governs the account's settings, and keyctl
    // requires it, and nothing else, on a master (the fail-closed reading: a master holding trade or wallet
    // permissions is flagged).
    masterScopes: ['keys:manage'],
    // Gate's `spot` permission is "spot/margin" (gateapi SubAccountKeyPerms): one permission for both.
    boundScopes: [['spot:trade', 'margin:trade']],
  },
  // ccxt 4.5.84 gate `rateLimit` (ccxt: "200 requests per 10 second or 50ms"). Gate's limits per endpoint group:
  // https://www.gate.io/docs/developers/apiv4/en/#frequency-limit-rule
  rateLimitMs: 50,
  errors: {
    codes: {
      // "Request Timestamp is far from the server time" (the 60 s window of Gate's signing rules).
      REQUEST_EXPIRED: 'CLOCK_SKEW',
      INVALID_KEY: 'KEY_REJECTED',
      INVALID_SIGNATURE: 'KEY_REJECTED',
      INVALID_CREDENTIALS: 'KEY_REJECTED',
      MISSING_REQUIRED_HEADER: 'KEY_REJECTED',
      // "Request IP not in whitelist": exactly the key's allowlist.
      IP_FORBIDDEN: 'IP_NOT_ALLOWED',
      // "API key is read-only" and "Account has no permission to request operation".
      READ_ONLY: 'PERMISSION_DENIED',
      FORBIDDEN: 'PERMISSION_DENIED',
      TOO_MANY_REQUESTS: 'RATE_LIMITED',
      TOO_FAST: 'RATE_LIMITED',
    },
  },
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AutomaticExchange;
