import type { AutomaticExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/** KuCoin. Error codes: https://www.kucoin.com/docs-new/error-code */
export const kucoin = {
  id: 'kucoin',
  name: 'KuCoin',
  passphrase: true,
  rotation: 'automatic',
  operations: {
    inspect: true,
    create: true,
    // Deleting a sub key needs that key's own passphrase (https://www.kucoin.com/docs-new/api-3470137): a key whose
    // passphrase keyctl never stored is PASSPHRASE_UNKNOWN, to delete in KuCoin's web UI.
    delete: true,
    list: true,
    masterScopes: ['keys:manage'],
    boundScopes: [],
  },
  // ccxt 4.5.84 kucoin `rateLimit` (ccxt: "4000 requests per 30 seconds (VIP0 for spot)"); beyond its limit KuCoin
  // answers 429000.
  rateLimitMs: 7.5,
  errors: {
    codes: {
      '400002': 'CLOCK_SKEW',
      '400001': 'KEY_REJECTED',
      '400003': 'KEY_REJECTED',
      '400004': 'KEY_REJECTED',
      '400005': 'KEY_REJECTED',
      '400008': 'KEY_REJECTED',
      '400009': 'KEY_REJECTED',
      // "Invalid request IP, the current client IP is: %s." (gateway errors 400xxx; the older spot table words it "The
      // requested ip address is not in the api whitelist"). ccxt raises it as AuthenticationError.
      '400006': 'IP_NOT_ALLOWED',
      '400007': 'PERMISSION_DENIED',
      '429000': 'RATE_LIMITED',
    },
  },
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AutomaticExchange;
