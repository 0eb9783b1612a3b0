import type { AutomaticExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/** Binance spot `sapi`. Error codes: https://developers.binance.com/docs/binance-spot-api-docs/errors */
export const binance = {
  id: 'binance',
  name: 'Binance',
  passphrase: false,
  rotation: 'automatic',
  operations: {
    inspect: true,
    create: true,
    delete: true,
    // Binance documents no listing of a sub-account's keys.
    list: false,
    // Binance has no permission flag for key management: any master key may manage sub keys.
    masterScopes: ['keys:manage'],
    boundScopes: [],
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
      '-2008': 'KEY_REJECTED',
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
