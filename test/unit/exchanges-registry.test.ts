import ccxt from 'ccxt';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ExchangeError } from '@keyctl/client/errors';
import { createClient } from '../../src/exchanges/ccxt.js';
import { capabilitiesOf } from '../../src/exchanges/descriptor.js';
import {
  ADAPTER_IDS,
  ASSISTED_IDS,
  EXCHANGES,
  exchangeDescriptor,
  getAdapter,
  INSPECT_ONLY_IDS,
  loadEmulators,
  requiresPassphrase,
  SANDBOX_IDS,
  type SandboxExchange,
} from '../../src/exchanges/registry.js';
import { SANDBOX_EXCHANGES } from '../../src/sandbox/state.js';

type CcxtExchange = { rateLimit: number; requiredCredentials: Record<string, boolean> };
const ccxtExchange = (id: string) => new (ccxt as unknown as Record<string, new () => CcxtExchange>)[id]!();

describe('exchange registry', () => {
  it('lists every exchange once, automatic ones first', () => {
    const ids = EXCHANGES.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ADAPTER_IDS).toEqual(['bybit', 'okx', 'binance', 'kucoin', 'mexc', 'bitget', 'gate']);
    expect(ASSISTED_IDS).toEqual(['coinbase', 'kraken', 'bitfinex', 'htx']);
    expect([...ADAPTER_IDS, ...ASSISTED_IDS]).toEqual(ids);
  });

  it.each(EXCHANGES.map((d) => [d.id, d] as const))('%s has an adapter or is assisted with a reason', async (id, d) => {
    const adapter = await getAdapter(id);
    expect(adapter.id).toBe(id);
    expect(adapter.capabilities).toEqual(capabilitiesOf(d));
    if (d.rotation === 'automatic') {
      expect(adapter.capabilities).toMatchObject({ inspect: true, create: true, delete: true, rotation: 'automatic' });
    } else {
      expect(d.why).not.toBe('');
      // Inspect-only exchanges (an adapter and a sandbox) read keys by API; the others are capability gaps throughout.
      expect(adapter.capabilities.inspect).toBe(INSPECT_ONLY_IDS.includes(id));
      expect(adapter.capabilities).toMatchObject({ create: false, delete: false, list: false, rotation: 'assisted' });
      await expect(adapter.createKey({} as never)).rejects.toMatchObject({
        code: 'CAPABILITY_GAP',
        message: expect.stringContaining(d.why),
      });
    }
  });

  it('passphrase exchanges are exactly those whose descriptor says so, as ccxt agrees', async () => {
    expect(EXCHANGES.filter((d) => requiresPassphrase(d.id)).map((d) => d.id)).toEqual(['okx', 'kucoin', 'bitget']);
    for (const d of EXCHANGES) {
      expect(requiresPassphrase(d.id), d.id).toBe(d.passphrase);
      expect(ccxtExchange(d.id).requiredCredentials.password, d.id).toBe(d.passphrase);
      expect((await getAdapter(d.id)).capabilities.passphrase, d.id).toBe(d.passphrase);
    }
    expect(requiresPassphrase('nosuchexchange')).toBe(false);
    expect(requiresPassphrase('constructor')).toBe(false);
    await expect(createClient({ exchange: 'okx' }, { apiKey: 'k', secret: 's' })).rejects.toMatchObject({ code: 'PASSPHRASE_MISSING' });
  });

  it("each descriptor's rate limit is ccxt's", () => {
    for (const d of EXCHANGES) expect(d.rateLimitMs, d.id).toBe(ccxtExchange(d.id).rateLimit);
  });

  it('every automatic and inspect-only exchange has a sandbox emulator, served under its id', async () => {
    expect(INSPECT_ONLY_IDS).toEqual(['coinbase', 'kraken', 'bitfinex']);
    expect(SANDBOX_IDS).toEqual([...ADAPTER_IDS, ...INSPECT_ONLY_IDS]);
    expect(SANDBOX_EXCHANGES).toEqual(SANDBOX_IDS);
    const emulators = await loadEmulators();
    expect(Object.keys(emulators)).toEqual(SANDBOX_IDS);
    for (const [id, emulator] of Object.entries(emulators)) expect(emulator.id).toBe(id);
    expectTypeOf<SandboxExchange>().toEqualTypeOf<
      'bybit' | 'okx' | 'binance' | 'kucoin' | 'mexc' | 'bitget' | 'gate' | 'coinbase' | 'kraken' | 'bitfinex'
    >();
  });

  it('maps each IP-allowlist code from the descriptors', () => {
    const ipCodes = EXCHANGES.flatMap((d) =>
      Object.entries(d.errors?.codes ?? {})
        .filter(([, kind]) => kind === 'IP_NOT_ALLOWED')
        .map(([code]) => `${d.id} ${code}`),
    );
    expect(ipCodes).toEqual(['bybit 10010', 'okx 50110', 'kucoin 400006', 'mexc 700006', 'bitget 40018', 'gate IP_FORBIDDEN']);
    expect(exchangeDescriptor('binance')?.errors?.keyOrIp?.codes).toEqual(['-2015']);
  });

  it('refuses an unknown exchange with UNSUPPORTED_EXCHANGE naming the known ones', async () => {
    for (const id of ['nosuchexchange', 'constructor', 'kucoinfutures']) {
      const err = await getAdapter(id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExchangeError);
      expect(err).toMatchObject({
        code: 'UNSUPPORTED_EXCHANGE',
        message: `keyctl has no adapter for the exchange "${id}".`,
        hint: 'Supported: bybit, okx, binance, kucoin, mexc, bitget, gate (automatic); coinbase, kraken, bitfinex, htx (assisted). See docs/exchanges.md.',
      });
    }
  });
});
