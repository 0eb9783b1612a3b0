import type { AssistedExchange } from '../descriptor.js';
import type { ExchangeEmulator } from '../../sandbox/http.js';
import type { ExchangeAdapter } from '../types.js';

/**
 * Kraken (spot): inspect-only. Keys are created only in the web UI (Settings -> API), so rotation is assisted; a key's
 * permissions, IP allowlist and expiry are read with POST /0/private/GetApiKeyInfo
 * (https://docs.kraken.com/api-reference/account-data/get-api-key-info).
 */
export const kraken = {
  id: 'kraken',
  name: 'Kraken',
  passphrase: false,
  rotation: 'assisted',
  why: 'Kraken keys are created only in the web UI',
  // ccxt 4.5.84 kraken `rateLimit`
  rateLimitMs: 1000,
  errors: {
    // https://support.kraken.com/hc/en-us/articles/360001491786-API-error-messages. Kraken answers a bad signature
    // with "EAPI:Invalid key" too (https://support.kraken.com/hc/nl/articles/common-causes-of-invalid-key-error). Its
    // docs name no separate error for a call from outside the key's IP allowlist, so no code here is IP_NOT_ALLOWED:
    // such a refusal reads as a rejected key (never as a pass).
    codes: {
      'EAPI:Invalid key': 'KEY_REJECTED',
      'EAPI:Invalid signature': 'KEY_REJECTED',
      'EAPI:Invalid nonce': 'CLOCK_SKEW',
      'EGeneral:Permission denied': 'PERMISSION_DENIED',
      'EAPI:Rate limit exceeded': 'RATE_LIMITED',
      'EGeneral:Temporary lockout': 'RATE_LIMITED',
    },
    keyOrIp: { codes: ['EAPI:Invalid key'], message: /EAPI:Invalid key/ },
  },
  adapter: async (): Promise<ExchangeAdapter> => (await import('./adapter.js')).adapter,
  sandbox: async (): Promise<ExchangeEmulator> => (await import('./sandbox.js')).emulator,
} as const satisfies AssistedExchange;
