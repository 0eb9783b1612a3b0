/**
 * The one list of exchanges keyctl knows, and every per-exchange list derived from it. Adding an exchange: its folder
 * (`<id>/descriptor.ts`, plus `adapter.ts` and `sandbox.ts` when rotation is automatic or the exchange is inspect-only)
 * and its entry in EXCHANGES.
 * See docs/contributing/new-exchange.md.
 *
 * Reading this module loads descriptors only: adapters (and ccxt) and sandbox emulators are imported on first use.
 */
import { ExchangeError } from '@keyctl/client/errors';
import { binance } from './binance/descriptor.js';
import { bitfinex } from './bitfinex/descriptor.js';
import { bitget } from './bitget/descriptor.js';
import { bybit } from './bybit/descriptor.js';
import { coinbase } from './coinbase/descriptor.js';
import { gate } from './gate/descriptor.js';
import { htx } from './htx/descriptor.js';
import { kraken } from './kraken/descriptor.js';
import { kucoin } from './kucoin/descriptor.js';
import { mexc } from './mexc/descriptor.js';
import { okx } from './okx/descriptor.js';
import type { AssistedExchange, AutomaticExchange, ExchangeDescriptor } from './descriptor.js';
import type { ExchangeEmulator } from '../sandbox/http.js';
import type { ExchangeAdapter } from './types.js';

/** Every exchange keyctl knows, in the order messages list them: automatic first, then assisted. */
const ALL = [bybit, okx, binance, kucoin, mexc, bitget, gate, coinbase, kraken, bitfinex, htx] as const;

export const EXCHANGES: readonly ExchangeDescriptor[] = ALL;

const byId = new Map<string, ExchangeDescriptor>(EXCHANGES.map((d) => [d.id, d]));
if (byId.size !== EXCHANGES.length) throw new Error('Two exchange descriptors share an id.');

/** The descriptor of a ccxt exchange id, or undefined for an exchange keyctl does not know. */
export function exchangeDescriptor(id: string): ExchangeDescriptor | undefined {
  return byId.get(id);
}

const isAutomatic = (d: ExchangeDescriptor): d is AutomaticExchange => d.rotation === 'automatic';

/** Exchanges with an automated adapter. */
export const ADAPTER_IDS: readonly string[] = EXCHANGES.filter(isAutomatic).map((d) => d.id);

/** Exchanges keyctl knows but rotates with a person's help (see each descriptor's `why`). */
export const ASSISTED_IDS: readonly string[] = EXCHANGES.filter((d) => !isAutomatic(d)).map((d) => d.id);

type Emulated = AutomaticExchange | (AssistedExchange & Required<Pick<AssistedExchange, 'adapter' | 'sandbox'>>);
const isEmulated = (d: ExchangeDescriptor): d is Emulated => d.sandbox !== undefined;

/** Assisted exchanges whose keys keyctl can still inspect by API (inspect-only: Coinbase, Kraken, Bitfinex). */
export const INSPECT_ONLY_IDS: readonly string[] = EXCHANGES.filter((d) => !isAutomatic(d) && isEmulated(d)).map((d) => d.id);

/** True when the exchange's keys carry a passphrase (ccxt's `password`); false for an exchange keyctl does not know. */
export function requiresPassphrase(exchange: string): boolean {
  return exchangeDescriptor(exchange)?.passphrase ?? false;
}

/** The exchanges the sandbox emulates (also its URL prefixes): every automatic and every inspect-only exchange. */
export type SandboxExchange = Extract<(typeof ALL)[number], { sandbox: unknown }>['id'];

/** The sandbox exchanges keyctl rotates automatically (the ones whose sandbox also serves orders and key management). */
export type AutomaticSandboxExchange = Extract<(typeof ALL)[number], { rotation: 'automatic' }>['id'];

export const SANDBOX_IDS = EXCHANGES.filter(isEmulated).map((d) => d.id) as readonly SandboxExchange[];

/** Loads every sandbox emulator, keyed by exchange id in registry order. */
export async function loadEmulators(): Promise<Record<SandboxExchange, ExchangeEmulator>> {
  const emulated = EXCHANGES.filter(isEmulated);
  const emulators = await Promise.all(emulated.map((d) => d.sandbox()));
  return Object.fromEntries(emulated.map((d, i) => [d.id, emulators[i]!])) as Record<SandboxExchange, ExchangeEmulator>;
}

/** The adapter for a ccxt exchange id. Throws ExchangeError `UNSUPPORTED_EXCHANGE` for an exchange keyctl does not know. */
export async function getAdapter(exchange: string): Promise<ExchangeAdapter> {
  const descriptor = exchangeDescriptor(exchange);
  if (descriptor?.adapter) return descriptor.adapter();
  if (descriptor?.rotation === 'assisted') return (await import('./assisted.js')).assistedAdapter(descriptor);
  throw new ExchangeError('UNSUPPORTED_EXCHANGE', `keyctl has no adapter for the exchange "${exchange}".`, {
    hint: `Supported: ${ADAPTER_IDS.join(', ')} (automatic); ${ASSISTED_IDS.join(', ')} (assisted). See docs/exchanges.md.`,
  });
}
