/**
 * Exchange id -> adapter, loaded lazily. Exchanges keyctl knows but cannot drive by API (no key-management endpoints,
 * or none implemented yet) get an assisted adapter: every method is a capability gap, and rotation is done by a human
 * in the exchange's UI with keyctl reading the new key from stdin.
 */
import { ExchangeError } from '../errors.js';
import { capabilityGap } from './ccxt.js';
import type { ExchangeAdapter, ExchangeCapabilities } from './types.js';

const loaders: Record<string, () => Promise<ExchangeAdapter>> = {
  bybit: async () => (await import('./bybit.js')).adapter,
  okx: async () => (await import('./okx.js')).adapter,
  binance: async () => (await import('./binance.js')).adapter,
  kucoin: async () => (await import('./kucoin.js')).adapter,
};

/**
 * Known exchanges without an automated adapter, and why. Coinbase and Kraken create keys only in their UI; the others
 * have APIs keyctl does not drive yet (HTX's also needs the parent's live 2FA code).
 */
export const ASSISTED_EXCHANGES: Record<string, { passphrase: boolean; why: string }> = {
  coinbase: { passphrase: false, why: 'Coinbase Advanced Trade keys are created only in the CDP portal' },
  kraken: { passphrase: false, why: 'Kraken keys are created only in the web UI' },
  gate: { passphrase: false, why: 'no keyctl adapter for Gate yet' },
  bitget: { passphrase: true, why: 'no keyctl adapter for Bitget yet' },
  htx: { passphrase: false, why: "HTX creates sub keys only with the parent's live 2FA code" },
  mexc: { passphrase: false, why: 'no keyctl adapter for MEXC yet' },
};

/** Exchanges with an automated adapter. */
export const ADAPTER_IDS = Object.keys(loaders);

/** An adapter whose every method is a capability gap. */
export function assistedAdapter(id: string): ExchangeAdapter {
  const entry = ASSISTED_EXCHANGES[id];
  const capabilities: ExchangeCapabilities = {
    inspect: false,
    create: false,
    delete: false,
    list: false,
    passphrase: entry?.passphrase ?? false,
    rotation: 'assisted',
    masterScopes: [],
    boundScopes: [],
  };
  const why = entry?.why ?? 'unsupported';
  return {
    id,
    capabilities,
    inspect: async () => capabilityGap(id, `inspect a key (${why})`),
    createKey: async () => capabilityGap(id, `create keys (${why})`),
    deleteKey: async () => capabilityGap(id, `delete keys (${why})`),
    listKeys: async () => capabilityGap(id, `list keys (${why})`),
    ping: async () => capabilityGap(id, `check a key (${why})`),
  };
}

/** The adapter for a ccxt exchange id. Throws ExchangeError `UNSUPPORTED_EXCHANGE` for an exchange keyctl does not know. */
export async function getAdapter(exchange: string): Promise<ExchangeAdapter> {
  const load = loaders[exchange];
  if (load) return load();
  if (ASSISTED_EXCHANGES[exchange]) return assistedAdapter(exchange);
  throw new ExchangeError('UNSUPPORTED_EXCHANGE', `keyctl has no adapter for the exchange "${exchange}".`, {
    hint: `Supported: ${ADAPTER_IDS.join(', ')} (automatic); ${Object.keys(ASSISTED_EXCHANGES).join(', ')} (assisted). See docs/exchanges.md.`,
  });
}
