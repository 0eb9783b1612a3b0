import type { AutomaticExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/**
 * MEXC spot v3. Error codes: https://www.mexc.com/api-docs/spot-v3/error-code (and ccxt 4.5.84 mexc.js `exceptions`,
 * which quotes MEXC's messages).
 */
export const mexc = {
  id: 'mexc',
  name: 'MEXC',
  passphrase: false,
  rotation: 'automatic',
  operations: {
    // MEXC documents no endpoint that tells a key its own permissions: a bot key is read through the master's listing
    // of its sub-account's keys (GET /api/v3/sub-account/apiKey), after a signed call with the key itself.
    inspect: true,
    create: true,
    delete: true,
    list: true,
    // Create, query and delete sub-account keys need SPOT_ACCOUNT_READ on the master key
    // (https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints).
    masterScopes: ['keys:manage'],
    boundScopes: [],
  },
  // ccxt 4.5.84 mexc `rateLimit` (ccxt: "default rate limit is 20 times per second").
  rateLimitMs: 50,
  errors: {
    codes: {
      // "Timestamp for this request is outside of the recvWindow."
      '700003': 'CLOCK_SKEW',
      // 700001 / 700002 "Signature for this request is not valid." (ccxt: "same message for expired API keys"),
      // 10072 "Api key info invalid", 401 "No authority".
      '700001': 'KEY_REJECTED',
      '700002': 'KEY_REJECTED',
      '10072': 'KEY_REJECTED',
      '401': 'KEY_REJECTED',
      // "IP [x.x.x.x] not in the ip white list" (ccxt: "IP non white list"); ccxt raises it as BadRequest.
      '700006': 'IP_NOT_ALLOWED',
      // "No permission to access the endpoint."
      '700007': 'PERMISSION_DENIED',
      // "Too Many Requests" (MEXC answers HTTP 429 beyond a limit).
      '429': 'RATE_LIMITED',
    },
  },
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AutomaticExchange;
