import type { AutomaticExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/**
 * Binance spot `sapi`. Error codes: https://developers.binance.com/docs/binance-spot-api-docs/errors (only codes listed
 * there; -2008 is not, and ccxt's AuthenticationError for it maps to KEY_REJECTED anyway).
 */
export const binance = {
  id: 'binance',
  name: 'Binance',
  passphrase: false,
  rotation: 'automatic',
  operations: {
    inspect: true,
    create: true,
    delete: true,
    // GET /sapi/v1/sub-account/subAccountApi, "Query Sub-account API Key (For Master Account) (USER_DATA)":
    // https://developers.binance.com/en/docs/catalog/vip-and-institutional-sub-account/api/rest-api/api-management
    list: true,
    // A master manages sub keys only with "Enable Spot & Margin Trading" (Create / Delete Sub-account API Key are TRADE:
    // https://developers.binance.com/legacy-docs/sub_account/api-management/Create-Sub-account-API-Key), and that one
    // permission is spot and margin trading.
    masterScopes: ['keys:manage', 'spot:trade', 'margin:trade'],
    // canTrade ("Spot & Margin trading permission") grants both: a key created for either holds both.
    boundScopes: [['spot:trade', 'margin:trade']],
  },
  // ccxt 4.5.84 binance `rateLimit`. Binance counts request weight per IP and UID (creating a sub-account key weighs
  // 3000 UID) and answers -1003 / HTTP 429 beyond it: https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits
  rateLimitMs: 50,
  errors: {
    codes: {
      '-1021': 'CLOCK_SKEW',
      '-1022': 'KEY_REJECTED',
      '-2014': 'KEY_REJECTED',
      '-2015': 'KEY_REJECTED',
      '-1002': 'PERMISSION_DENIED',
      '-1003': 'RATE_LIMITED',
    },
    // Binance has no IP code: -2015 REJECTED_MBX_KEY "Invalid API-key, IP, or permissions for action." covers a bad
    // key, a wrong address and a missing permission alike (ccxt maps it to OperationRejected on api.binance.com but to
    // AuthenticationError elsewhere).
    keyOrIp: { codes: ['-2015'], message: /Invalid API-key, IP, or permissions for action/i },
  },
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AutomaticExchange;
