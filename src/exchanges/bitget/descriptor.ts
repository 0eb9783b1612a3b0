import type { AutomaticExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/**
 * Bitget v2 (virtual sub-account keys) plus the v3 unified-account (UTA) delete. Error codes: Bitget's common error
 * table (https://www.bitget.com/api-doc/common/error-code/restapi), as ccxt 4.5.84 bitget.js `exceptions` mirrors it.
 */
export const bitget = {
  id: 'bitget',
  name: 'Bitget',
  passphrase: true,
  rotation: 'automatic',
  operations: {
    inspect: true,
    create: true,
    // Only through POST /api/v3/user/delete-sub-api, which "only supports deleting API Keys of sub-accounts under a
    // unified account" (https://www.bitget.com/api-doc/uta/account/sub-account/SubAccount-API-Delete). On a classic
    // account the adapter answers CAPABILITY_GAP naming the key to delete in Bitget's web UI (assisted revoke).
    delete: true,
    list: true,
    // `chow` ("subaccount manage", Get Account Information's authorities) lets a main account's key manage its
    // virtual sub-accounts' keys.
    masterScopes: ['keys:manage'],
    boundScopes: [],
  },
  // ccxt 4.5.84 bitget `rateLimit` (ccxt: "up to 3000 requests per 5 minutes"); Bitget answers 429 beyond an
  // endpoint's limit (https://www.bitget.com/api-doc/common/error-code/restapi).
  rateLimitMs: 50,
  errors: {
    codes: {
      // "Request timestamp expired" / "Invalid ACCESS_TIMESTAMP" / "Request timestamp expired" (ccxt: InvalidNonce).
      '40004': 'CLOCK_SKEW',
      '40005': 'CLOCK_SKEW',
      '40008': 'CLOCK_SKEW',
      // Missing headers, "Invalid ACCESS_KEY", "sign signature error", "apikey/password is incorrect", and 40037
      // "Apikey does not exist": what Bitget answers for a deleted key.
      '40001': 'KEY_REJECTED',
      '40002': 'KEY_REJECTED',
      '40003': 'KEY_REJECTED',
      '40006': 'KEY_REJECTED',
      '40009': 'KEY_REJECTED',
      '40010': 'KEY_REJECTED',
      '40011': 'KEY_REJECTED',
      '40012': 'KEY_REJECTED',
      '40037': 'KEY_REJECTED',
      // "Incorrect permissions".
      '40014': 'PERMISSION_DENIED',
      // "Invalid IP": the request came from outside the key's IP whitelist (ccxt raises it as PermissionDenied).
      '40018': 'IP_NOT_ALLOWED',
      // "Too Many Requests".
      '429': 'RATE_LIMITED',
    },
  },
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AutomaticExchange;
