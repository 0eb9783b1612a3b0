import type { AutomaticExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/** Bybit v5. Error codes: https://bybit-exchange.github.io/docs/v5/error */
export const bybit = {
  id: 'bybit',
  name: 'Bybit',
  passphrase: false,
  rotation: 'automatic',
  operations: {
    inspect: true,
    create: true,
    delete: true,
    list: true,
    // Bybit lets only a read-write master key holding a Wallet transfer (or withdraw) permission manage sub keys.
    masterScopes: ['keys:manage', 'transfer'],
    boundScopes: [],
    // "Options: Permission of USDC Contract. It supports trade option and USDC perpetual."
    // (https://bybit-exchange.github.io/docs/v5/user/apikey-info): a key made for options trades USDC perpetuals too.
    impliedScopes: { 'options:trade': ['futures:trade'] },
  },
  // ccxt 4.5.84 bybit `rateLimit`. Bybit limits per UID per second by endpoint (10006 "Too many visits!") and
  // 600 requests per 5 s per IP: https://bybit-exchange.github.io/docs/v5/rate-limit
  rateLimitMs: 20,
  errors: {
    codes: {
      '10002': 'CLOCK_SKEW',
      '10003': 'KEY_REJECTED',
      '10004': 'KEY_REJECTED',
      '10007': 'KEY_REJECTED',
      '33004': 'KEY_REJECTED',
      '10005': 'PERMISSION_DENIED',
      '10009': 'PERMISSION_DENIED',
      // "Unmatched IP, please check your API key's bound IP addresses."
      '10010': 'IP_NOT_ALLOWED',
      '10006': 'RATE_LIMITED',
      '10018': 'RATE_LIMITED',
    },
    // 10009 "IP has been banned.": a ban of the address by Bybit, not the key's allowlist.
    addressBanned: ['10009'],
  },
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AutomaticExchange;
