/**
 * The inspect-only adapters' parsers and permission tables (Kraken and Bitfinex here; Coinbase in
 * policy-unverifiable.test.ts), and
 * how their error answers map: Kraken's `{"error":["EAPI:..."]}` and Coinbase's `{"error":"PERMISSION_DENIED"}` carry
 * the code in `error`.
 */
import { readFileSync } from 'node:fs';
import ccxt from 'ccxt';
import { describe, expect, it } from 'vitest';
import {
  BITFINEX_SCOPES,
  BITFINEX_WRITE,
  bitfinexPermissionsFor,
  bitfinexScopes,
  parseBitfinexPermissions,
} from '../../src/exchanges/bitfinex/adapter.js';
import { exchangeFeedback, mapExchangeError } from '../../src/exchanges/ccxt.js';
import { KRAKEN_PERMISSIONS, krakenPermissionsFor, krakenScopes, parseKrakenKeyInfo } from '../../src/exchanges/kraken/adapter.js';

const fixture = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../fixtures/exchanges/kraken/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

describe('kraken: GetApiKeyInfo parsing and permissions', () => {
  it('reads scopes, allowlist, account, label and creation time; expiry when set', () => {
    const i = parseKrakenKeyInfo(fixture('get-api-key-info-trade'));
    expect(i).toMatchObject({
      scopes: ['read', 'spot:trade', 'margin:trade'],
      ips: ['203.0.113.10'],
      readOnly: false,
      owner: { subaccount: 'AA88 FAKE WOAK NMOI' },
      label: 'FAKE-bot-key',
      createdAt: '2026-03-03T13:01:40.000Z',
    });
    expect(i.expiresAt).toBeUndefined();
    const r = fixture('get-api-key-info-trade').result as Record<string, unknown>;
    expect(parseKrakenKeyInfo({ error: [], result: { ...r, validUntil: '1800000000' } }).expiresAt).toBe('2027-01-15T08:00:00.000Z');
  });

  it('maps permissions both ways; an unknown value is unknown:<name>', () => {
    expect(krakenScopes(['query-funds', 'withdraw-funds', 'earn-funds', 'fake-new'])).toEqual([
      'read',
      'withdraw',
      'transfer',
      'unknown:fake-new',
    ]);
    expect(krakenScopes(['add-withdraw-address'])).toEqual(['withdraw']);
    expect(krakenScopes(['toString'])).toEqual(['unknown:toString']);
    expect(krakenScopes(krakenPermissionsFor(['spot:trade']))).toEqual(['read', 'spot:trade', 'margin:trade']);
    expect(krakenScopes(krakenPermissionsFor(['read']))).toEqual(['read']);
    for (const scopes of Object.values(KRAKEN_PERMISSIONS)) expect(scopes.length).toBeGreaterThan(0);
  });

  it('refuses an answer not in the documented shape, another key, or an allowlist entry that is no address', () => {
    const good = fixture('get-api-key-info-trade');
    const r = good.result as Record<string, unknown>;
    for (const bad of [
      { error: [], result: { ...r, ipAllowlist: 'x' } },
      { error: [], result: { ...r, permissions: 'query-funds' } },
      { error: [], result: { ...r, validUntil: 'never' } },
      { error: [], result: { ...r, ipAllowlist: ['somewhere'] } },
      { error: ['EGeneral:Internal error'], result: r },
      { error: [] },
    ]) {
      expect(() => parseKrakenKeyInfo(bad)).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    }
    expect(() => parseKrakenKeyInfo(good, 'FAKE-another-key')).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
  });
});

describe('inspect-only error answers', () => {
  it("reads the code from Kraken's and Coinbase's `error` field", () => {
    expect(exchangeFeedback('kraken {"error":["EAPI:Invalid nonce"]}').code).toBe('EAPI:Invalid nonce');
    expect(exchangeFeedback('coinbase {"error":"PERMISSION_DENIED","message":"no"}')).toMatchObject({
      code: 'PERMISSION_DENIED',
      msg: 'no',
    });
  });

  it('maps Kraken codes by the descriptor, whatever class ccxt threw', () => {
    const as = (cls: new (m: string) => Error, body: string) => mapExchangeError(new cls(`kraken ${body}`), 'kraken');
    expect(as(ccxt.ExchangeError, '{"error":["EAPI:Invalid signature"]}').code).toBe('KEY_REJECTED');
    expect(as(ccxt.InvalidNonce, '{"error":["EAPI:Invalid nonce"]}').code).toBe('CLOCK_SKEW');
    expect(as(ccxt.PermissionDenied, '{"error":["EGeneral:Permission denied"]}').code).toBe('PERMISSION_DENIED');
    expect(as(ccxt.DDoSProtection, '{"error":["EGeneral:Temporary lockout"]}').code).toBe('RATE_LIMITED');
    const key = as(ccxt.AuthenticationError, '{"error":["EAPI:Invalid key"]}');
    // Kraken names no separate answer for the IP allowlist: a rejected key, worded to name the address as a cause.
    expect(key.code).toBe('KEY_REJECTED');
    expect(key.message).toContain('allowlist');
  });
});

describe('bitfinex: key permissions parsing', () => {
  const trade = (): unknown =>
    JSON.parse(readFileSync(new URL('../fixtures/exchanges/bitfinex/key-permissions-trade.json', import.meta.url), 'utf8')) as unknown;

  it('reads scopes; the IP restriction and the owner are unverifiable', () => {
    expect(parseBitfinexPermissions(trade())).toMatchObject({
      scopes: ['read', 'spot:trade', 'margin:trade', 'futures:trade'],
      ips: 'unreported',
      readOnly: false,
      owner: {},
      unverifiable: ['owner'],
    });
  });

  it('maps permissions both ways; write without a keyctl scope and unknown scopes are unknown:<name>', () => {
    expect(
      bitfinexScopes([
        ['funding', 1, 1],
        ['settings', 0, 1],
        ['eaas_withdraw', 0, 1],
        ['eaas_deposit', 0, 0],
      ]),
    ).toEqual(['read', 'unknown:eaas_withdraw', 'unknown:funding.write', 'unknown:settings.write']);
    expect(
      bitfinexScopes([
        ['ui_withdraw', 0, 1],
        ['wallets', 1, 1],
      ]),
    ).toEqual(['read', 'withdraw', 'transfer']);
    expect(bitfinexScopes(bitfinexPermissionsFor(['spot:trade']))).toEqual(['read', 'spot:trade', 'margin:trade', 'futures:trade']);
    expect(bitfinexScopes(bitfinexPermissionsFor(['read']))).toEqual(['read']);
    expect(Object.keys(BITFINEX_WRITE).every((s) => BITFINEX_SCOPES.includes(s))).toBe(true);
  });

  it('refuses an answer not in the documented shape or listing a scope twice', () => {
    for (const bad of [
      [],
      [['orders', 1, 2]],
      [['orders', 1]],
      { orders: [1, 1] },
      [
        ['orders', 1, 1],
        ['orders', 0, 0],
      ],
    ]) {
      expect(() => parseBitfinexPermissions(bad)).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    }
  });
});
