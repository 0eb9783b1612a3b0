import { TRADE_SCOPES } from '../../domain/scopes.js';
import type { AutomaticExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/** OKX v5. Error codes: https://www.okx.com/docs-v5/en/#error-code */
export const okx = {
  id: 'okx',
  name: 'OKX',
  passphrase: true,
  rotation: 'automatic',
  operations: {
    inspect: true,
    create: true,
    delete: true,
    list: true,
    // OKX requires the Trade permission (and an IP-bound key) to manage sub-account keys.
    masterScopes: ['keys:manage', ...TRADE_SCOPES],
    // One `trade` permission covers spot, margin, futures and options.
    boundScopes: [[...TRADE_SCOPES]],
  },
  // ccxt 4.5.84 okx `rateLimit` (100 ms plus ccxt's 10% tolerance). OKX limits each endpoint per 2 s and answers
  // 50011 beyond it: https://www.okx.com/docs-v5/en/#overview-rate-limit
  rateLimitMs: 100 * 1.1,
  errors: {
    // https://www.okx.com/docs-v5/en/#error-code-rest-api-public ("API Class", 501xx)
    codes: {
      '50102': 'CLOCK_SKEW',
      '50105': 'KEY_REJECTED',
      '50111': 'KEY_REJECTED',
      '50113': 'KEY_REJECTED',
      '50114': 'KEY_REJECTED',
      // "API key doesn't exist": what OKX answers for a deleted (or expired, which OKX deletes) well-formed key. ccxt
      // 4.5.84 has no class for it (plain ExchangeError), so without this a deleted key would not read as rejected.
      '50119': 'KEY_REJECTED',
      // "This API key doesn't have permission to use this function"; 50035 (HTTP 403) "This endpoint requires that
      // APIKey must be bound to IP" (sub-account key management needs an IP-bound key). Neither has a ccxt class.
      '50120': 'PERMISSION_DENIED',
      '50035': 'PERMISSION_DENIED',
      // HTTP 401 "Your IP {param0} is not included in your API key's IP whitelist." (REST authentication errors 501xx)
      '50110': 'IP_NOT_ALLOWED',
      '50011': 'RATE_LIMITED',
    },
  },
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AutomaticExchange;
