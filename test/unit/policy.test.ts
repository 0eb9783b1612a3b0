import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  evaluateKey,
  badResponse,
  parseAllowlistEntry,
  keyRejected,
  VIOLATION_CODES,
  type BotKeyTarget,
  type KeyTarget,
  type MasterKeyTarget,
  type ViolationCode,
} from '../../src/domain/policy.js';
import { applyBinanceIpRestriction, capabilities as binanceCaps, parseBinanceRestrictions } from '../../src/exchanges/binance/adapter.js';
import { capabilities as bitgetCaps, parseBitgetInfo } from '../../src/exchanges/bitget/adapter.js';
import { capabilities as bybitCaps, parseBybitKey } from '../../src/exchanges/bybit/adapter.js';
import { parseBitfinexPermissions } from '../../src/exchanges/bitfinex/adapter.js';
import { parseCoinbasePermissions } from '../../src/exchanges/coinbase/adapter.js';
import { parseKrakenKeyInfo } from '../../src/exchanges/kraken/adapter.js';
import { capabilities as gateCaps, parseGateBot, parseGateMaster } from '../../src/exchanges/gate/adapter.js';
import { capabilities as kucoinCaps, parseKucoinKey } from '../../src/exchanges/kucoin/adapter.js';
import { capabilities as mexcCaps, parseMexcListedKey, parseMexcMaster } from '../../src/exchanges/mexc/adapter.js';
import { capabilities as okxCaps, parseOkxConfig } from '../../src/exchanges/okx/adapter.js';
import type { KeyInspection } from '../../src/exchanges/types.js';

const NOW = Date.parse('2025-06-01T00:00:00Z');
const fixture = (exchange: string, name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../fixtures/exchanges/${exchange}/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

const bybit = (name: string) => parseBybitKey(fixture('bybit', name).result, NOW);
const okx = (name: string) => parseOkxConfig((fixture('okx', name).data as unknown[])[0]);
const kucoin = (name: string) => parseKucoinKey(fixture('kucoin', name).data);
/** One key of a MEXC sub-account key listing (the master's answer), as if listed in `subaccount`. */
const mexc = (name: string, index: number, subaccount = 'alphaarb1') =>
  parseMexcListedKey((fixture('mexc', name).subAccount as unknown[])[index], subaccount);
const bitget = (name: string) => parseBitgetInfo(fixture('bitget', name).data);
const binanceBot = (restrictions: string, ipAnswer?: string) => {
  const base = parseBinanceRestrictions(fixture('binance', restrictions), 'bot');
  return ipAnswer ? applyBinanceIpRestriction(base, fixture('binance', ipAnswer), BINANCE_SUB) : base;
};
const binanceMaster = (name: string) => parseBinanceRestrictions(fixture('binance', name), 'master');
/** A Gate bot key: its own account detail, and the master's listing of the sub-account (one listing, three keys). */
const gateBot = (detail: string, apiKey: string) => parseGateBot(fixture('gate', detail), fixture('gate', 'sub-account-keys-list'), apiKey);
const gateMaster = (detail: string, mainKeys: string, apiKey: string) =>
  parseGateMaster(fixture('gate', detail), fixture('gate', mainKeys), apiKey);
/** Gate's `spot` permission is spot and margin in one, so a Gate trading slot declares both. */
const GATE_TRADE: BotKeyTarget['scopes'] = ['spot:trade', 'margin:trade', 'futures:trade'];

const BINANCE_SUB = 'alpha.arb1@example.com';
/** enableSpotAndMarginTrading grants spot and margin together, so a Binance trading slot declares both. */
const BINANCE_TRADE: BotKeyTarget['scopes'] = ['spot:trade', 'margin:trade', 'futures:trade'];
const bot = (subaccount: string, scopes: BotKeyTarget['scopes'] = ['spot:trade', 'futures:trade']): KeyTarget => ({
  kind: 'bot',
  scopes,
  ips: ['203.0.113.10', '203.0.113.11'],
  subaccount,
});
const master = (exchange: string, masterScopes: MasterKeyTarget['masterScopes']): KeyTarget => ({
  kind: 'master',
  exchange,
  masterScopes,
});
const OKX_ALL_TRADE = ['read', 'spot:trade', 'margin:trade', 'futures:trade', 'options:trade'] as const;

const codes = (inspection: KeyInspection, target: KeyTarget): ViolationCode[] =>
  evaluateKey(inspection, target, { now: NOW })
    .map((v) => v.code)
    .sort();

interface Case {
  name: string;
  inspection: () => KeyInspection;
  target: KeyTarget;
  expected: ViolationCode[];
}

const cases: Case[] = [
  // Bitfinex (inspect-only): auth/r/permissions reports neither the IP restriction nor the owner.
  {
    name: 'bitfinex trade key (IP restriction and owner not reported)',
    inspection: () => parseBitfinexPermissions(fixture('bitfinex', 'key-permissions-trade') as unknown),
    target: bot('sub1', ['spot:trade', 'margin:trade', 'futures:trade']),
    expected: ['UNVERIFIABLE', 'UNVERIFIABLE'],
  },
  {
    name: 'bitfinex key with withdraw, wallet transfers and margin funding',
    inspection: () => parseBitfinexPermissions(fixture('bitfinex', 'key-permissions-withdraw-funding') as unknown),
    target: bot('sub1', ['spot:trade', 'margin:trade', 'futures:trade']),
    expected: ['TRANSFER_ENABLED', 'UNKNOWN_PERMISSION', 'UNVERIFIABLE', 'UNVERIFIABLE', 'WITHDRAW_ENABLED'],
  },
  // Kraken (inspect-only): GetApiKeyInfo reports permissions, the allowlist, the expiry and the account's IIBAN.
  {
    name: 'kraken clean trade key',
    inspection: () => parseKrakenKeyInfo(fixture('kraken', 'get-api-key-info-trade')),
    target: bot('AA88 FAKE WOAK NMOI', ['spot:trade', 'margin:trade']),
    expected: [],
  },
  {
    name: 'kraken doc example (withdraw, no allowlist, another account)',
    inspection: () => parseKrakenKeyInfo(fixture('kraken', 'get-api-key-info-doc-example')),
    target: bot('AA88 FAKE WOAK NMOI', ['spot:trade', 'margin:trade']),
    expected: ['NOT_IP_LOCKED', 'WITHDRAW_ENABLED', 'WRONG_ACCOUNT'],
  },
  // Coinbase (inspect-only): key_permissions reports no IP allowlist, so the ip-lock check is UNVERIFIABLE.
  {
    name: 'coinbase trade key on its portfolio (IP allowlist not reported)',
    inspection: () => parseCoinbasePermissions(fixture('coinbase', 'key-permissions-trade')),
    target: bot('0b6f8b1e-fake-4c1d-9a55-000000000001'),
    expected: ['UNVERIFIABLE'],
  },
  // Bybit
  {
    name: 'bybit doc example (transfer, foreign IP, other sub, expired)',
    inspection: () => bybit('query-api-doc-example'),
    target: bot('24600001'),
    expected: ['EXPIRING', 'IP_MISMATCH', 'MISSING_SCOPE', 'TRANSFER_ENABLED', 'WRONG_ACCOUNT'],
  },
  { name: 'bybit clean sub key', inspection: () => bybit('query-api-sub-clean'), target: bot('24600001'), expected: [] },
  {
    name: 'bybit sub key without IP binding, expiring',
    inspection: () => bybit('query-api-sub-no-ip'),
    target: bot('24600001'),
    expected: ['EXPIRING', 'NOT_IP_LOCKED'],
  },
  {
    name: 'bybit sub key with options, copy trading, earn, extra IP, other sub',
    inspection: () => bybit('query-api-sub-extra'),
    target: bot('24600001'),
    expected: ['EXCESS_SCOPE', 'IP_MISMATCH', 'UNKNOWN_PERMISSION', 'WRONG_ACCOUNT'],
  },
  {
    name: 'bybit read-only key for a trading slot',
    inspection: () => bybit('query-api-sub-readonly'),
    target: bot('24600001'),
    expected: ['MISSING_SCOPE'],
  },
  {
    name: 'bybit clean master key',
    inspection: () => bybit('query-api-master-clean'),
    target: master('bybit', bybitCaps.masterScopes),
    expected: [],
  },
  {
    name: 'bybit master key with withdraw, trading, no IP',
    inspection: () => bybit('query-api-master-withdraw'),
    target: master('bybit', bybitCaps.masterScopes),
    expected: ['EXCESS_SCOPE', 'NOT_IP_LOCKED', 'WITHDRAW_ENABLED'],
  },
  {
    name: 'bybit master key used by a bot',
    inspection: () => bybit('query-api-master-clean'),
    target: bot('24600001'),
    expected: ['EXCESS_SCOPE', 'IP_MISMATCH', 'MISSING_SCOPE', 'TRANSFER_ENABLED', 'WRONG_ACCOUNT'],
  },
  // OKX
  {
    name: 'okx doc example as master (withdraw, no IP)',
    inspection: () => okx('account-config-doc-example'),
    target: master('okx', okxCaps.masterScopes),
    expected: ['NOT_IP_LOCKED', 'WITHDRAW_ENABLED'],
  },
  {
    name: 'okx doc example used by a bot',
    inspection: () => okx('account-config-doc-example'),
    target: bot('alphaarb1', OKX_ALL_TRADE),
    expected: ['EXCESS_SCOPE', 'NOT_IP_LOCKED', 'WITHDRAW_ENABLED', 'WRONG_ACCOUNT'],
  },
  {
    name: 'okx clean master key',
    inspection: () => okx('account-config-master-clean'),
    target: master('okx', okxCaps.masterScopes),
    expected: [],
  },
  {
    name: 'okx clean sub key, slot declares every trade scope',
    inspection: () => okx('account-config-sub-clean'),
    target: bot('alphaarb1', OKX_ALL_TRADE),
    expected: [],
  },
  {
    name: 'okx trade key for a spot-only slot (OKX trade covers every instrument)',
    inspection: () => okx('account-config-sub-clean'),
    target: bot('alphaarb1', ['spot:trade']),
    expected: ['EXCESS_SCOPE'],
  },
  {
    name: 'okx sub key with an undeclared IP',
    inspection: () => okx('account-config-sub-ip-mismatch'),
    target: bot('alphaarb1', OKX_ALL_TRADE),
    expected: ['IP_MISMATCH'],
  },
  {
    name: 'okx sub key with an unknown permission and no IP',
    inspection: () => okx('account-config-sub-unknown'),
    target: bot('alphaarb1', OKX_ALL_TRADE),
    expected: ['NOT_IP_LOCKED', 'UNKNOWN_PERMISSION'],
  },
  {
    name: 'okx read-only sub key for a trading slot',
    inspection: () => okx('account-config-sub-readonly'),
    target: bot('alphaarb1', OKX_ALL_TRADE),
    expected: ['MISSING_SCOPE'],
  },
  // Binance
  {
    name: 'binance doc example (portfolio margin, no IP restriction)',
    inspection: () => binanceBot('api-restrictions-doc-example'),
    target: bot(BINANCE_SUB),
    expected: ['EXCESS_SCOPE', 'MISSING_SCOPE', 'NOT_IP_LOCKED'],
  },
  {
    name: 'binance clean sub key with its IP list',
    inspection: () => binanceBot('api-restrictions-sub-clean', 'ip-restriction-sub-clean'),
    target: bot(BINANCE_SUB, BINANCE_TRADE),
    expected: [],
  },
  {
    name: 'binance sub key with an undeclared IP',
    inspection: () => binanceBot('api-restrictions-sub-clean', 'ip-restriction-sub-mismatch'),
    target: bot(BINANCE_SUB, BINANCE_TRADE),
    expected: ['IP_MISMATCH'],
  },
  {
    name: 'binance IP-restricted sub key whose list was not read',
    inspection: () => binanceBot('api-restrictions-sub-clean'),
    target: bot(BINANCE_SUB, BINANCE_TRADE),
    expected: ['IP_MISMATCH'],
  },
  {
    name: 'binance sub key with withdraw and transfers',
    inspection: () => binanceBot('api-restrictions-withdraw-transfer', 'ip-restriction-sub-clean'),
    target: bot(BINANCE_SUB, BINANCE_TRADE),
    expected: ['TRANSFER_ENABLED', 'WITHDRAW_ENABLED'],
  },
  {
    name: 'binance trading permission expiring, unknown flag',
    inspection: () => binanceBot('api-restrictions-expiring-unknown', 'ip-restriction-sub-clean'),
    target: bot(BINANCE_SUB, BINANCE_TRADE),
    expected: ['EXPIRING', 'UNKNOWN_PERMISSION'],
  },
  {
    name: 'binance key outside the declared sub-account',
    inspection: () => ({
      ...binanceBot('api-restrictions-sub-clean', 'ip-restriction-sub-clean'),
      owner: { isMaster: false, subaccount: null },
    }),
    target: bot(BINANCE_SUB, BINANCE_TRADE),
    expected: ['WRONG_ACCOUNT'],
  },
  {
    name: 'binance clean master key',
    inspection: () => binanceMaster('api-restrictions-master-clean'),
    target: master('binance', binanceCaps.masterScopes),
    expected: [],
  },
  {
    name: 'binance doc example as master',
    inspection: () => binanceMaster('api-restrictions-doc-example'),
    target: master('binance', binanceCaps.masterScopes),
    expected: ['EXCESS_SCOPE', 'MISSING_SCOPE', 'NOT_IP_LOCKED'],
  },
  // KuCoin
  {
    name: 'kucoin doc example (other sub, foreign IP)',
    inspection: () => kucoin('user-api-key-doc-example'),
    target: bot('alphaarb1'),
    expected: ['IP_MISMATCH', 'MISSING_SCOPE', 'WRONG_ACCOUNT'],
  },
  { name: 'kucoin clean sub key', inspection: () => kucoin('user-api-key-sub-clean'), target: bot('alphaarb1'), expected: [] },
  {
    name: 'kucoin sub key with inner transfer, earn, no IP',
    inspection: () => kucoin('user-api-key-sub-transfer-unknown'),
    target: bot('alphaarb1'),
    expected: ['NOT_IP_LOCKED', 'TRANSFER_ENABLED', 'UNKNOWN_PERMISSION'],
  },
  {
    name: 'kucoin master key with Transfer (withdrawal) and spot',
    inspection: () => kucoin('user-api-key-master-withdraw'),
    target: master('kucoin', kucoinCaps.masterScopes),
    expected: ['EXCESS_SCOPE', 'WITHDRAW_ENABLED'],
  },
  {
    name: 'kucoin clean master key',
    inspection: () => kucoin('user-api-key-master-clean'),
    target: master('kucoin', kucoinCaps.masterScopes),
    expected: [],
  },
  // MEXC: bot keys as the master's sub-account key listing shows them; master keys from Account Information.
  {
    name: 'mexc doc example (other sub, foreign IPs, SPOT_ACCOUNT_WRITE)',
    inspection: () => mexc('sub-account-apikey-doc-example', 0, 'mexc1'),
    target: bot('alphaarb1'),
    expected: ['EXCESS_SCOPE', 'IP_MISMATCH', 'MISSING_SCOPE', 'WRONG_ACCOUNT'],
  },
  { name: 'mexc clean sub key', inspection: () => mexc('sub-account-apikey-list', 0), target: bot('alphaarb1'), expected: [] },
  {
    name: 'mexc sub key with transfer, earn, no futures, no IP',
    inspection: () => mexc('sub-account-apikey-list', 1),
    target: bot('alphaarb1'),
    expected: ['MISSING_SCOPE', 'NOT_IP_LOCKED', 'TRANSFER_ENABLED', 'UNKNOWN_PERMISSION'],
  },
  {
    name: 'mexc sub key with SPOT_WITHDRAW_WRITE',
    inspection: () => mexc('sub-account-apikey-list', 2),
    target: bot('alphaarb1'),
    expected: ['WITHDRAW_ENABLED'],
  },
  {
    name: 'mexc doc account example as master (canTrade, canWithdraw)',
    inspection: () => parseMexcMaster(fixture('mexc', 'account-doc-example'), true),
    target: master('mexc', mexcCaps.masterScopes),
    // MEXC reports no IP whitelist for a key: UNVERIFIABLE until the account accepts it.
    expected: ['EXCESS_SCOPE', 'UNVERIFIABLE', 'WITHDRAW_ENABLED'],
  },
  {
    name: 'mexc clean master key (its IP whitelist unverifiable)',
    inspection: () => parseMexcMaster({ ...fixture('mexc', 'account-doc-example'), canTrade: false, canWithdraw: false }, true),
    target: master('mexc', mexcCaps.masterScopes),
    expected: ['UNVERIFIABLE'],
  },
  {
    name: 'mexc key that may not list sub-accounts, as master',
    inspection: () => parseMexcMaster({ ...fixture('mexc', 'account-doc-example'), canTrade: false, canWithdraw: false }, false),
    target: master('mexc', mexcCaps.masterScopes),
    expected: ['MISSING_SCOPE', 'UNVERIFIABLE'],
  },
  // Bitget
  {
    name: 'bitget doc example (legacy trade/readonly authorities, foreign IP, other sub)',
    inspection: () => bitget('account-info-doc-example'),
    target: bot('6200000001'),
    expected: ['IP_MISMATCH', 'MISSING_SCOPE', 'UNKNOWN_PERMISSION', 'WRONG_ACCOUNT'],
  },
  { name: 'bitget clean sub key', inspection: () => bitget('account-info-sub-clean'), target: bot('6200000001'), expected: [] },
  {
    name: 'bitget sub key with withdrawal, transfer, copy trading, no IP',
    inspection: () => bitget('account-info-sub-withdraw-transfer'),
    target: bot('6200000001'),
    expected: ['NOT_IP_LOCKED', 'TRANSFER_ENABLED', 'UNKNOWN_PERMISSION', 'WITHDRAW_ENABLED'],
  },
  {
    name: 'bitget clean master key',
    inspection: () => bitget('account-info-master-clean'),
    target: master('bitget', bitgetCaps.masterScopes),
    expected: [],
  },
  // Gate
  {
    name: 'gate clean sub key',
    inspection: () => gateBot('account-detail-sub-clean', 'FAKE-gate-bot-0001'),
    target: bot('20001', GATE_TRADE),
    expected: [],
  },
  {
    name: 'gate clean sub key checked against another sub-account',
    inspection: () => gateBot('account-detail-sub-clean', 'FAKE-gate-bot-0001'),
    target: bot('20002', GATE_TRADE),
    expected: ['WRONG_ACCOUNT'],
  },
  {
    name: 'gate sub key with wallet (withdrawals), earn, an unknown permission, no IP',
    inspection: () => gateBot('account-detail-sub-no-ip', 'FAKE-gate-bot-0002'),
    target: bot('20001', GATE_TRADE),
    expected: ['MISSING_SCOPE', 'NOT_IP_LOCKED', 'UNKNOWN_PERMISSION', 'WITHDRAW_ENABLED'],
  },
  {
    name: 'gate read-only sub key with a foreign IP',
    inspection: () => gateBot('account-detail-sub-ip-mismatch', 'FAKE-gate-bot-0003'),
    target: bot('20001', GATE_TRADE),
    expected: ['IP_MISMATCH', 'MISSING_SCOPE'],
  },
  {
    name: 'gate clean master key (account read-write), found among the masked main keys',
    inspection: () => gateMaster('account-detail-master-clean', 'main-keys-master-clean', 'FAKEc0ffee01-gate-master'),
    target: master('gate', gateCaps.masterScopes),
    expected: [],
  },
  {
    name: 'gate master key with wallet read-write (withdrawals)',
    inspection: () => gateMaster('account-detail-master-clean', 'main-keys-master-withdraw', 'FAKEc0ffee01-gate-master'),
    target: master('gate', gateCaps.masterScopes),
    expected: ['WITHDRAW_ENABLED'],
  },
  {
    name: 'gate main-keys doc example as master (spot read-write, no account, no IP)',
    inspection: () => gateMaster('account-detail-main-doc', 'main-keys-doc-example', 'c5dcfbf1f3a7FAKE0000000000000000'),
    target: master('gate', gateCaps.masterScopes),
    expected: ['EXCESS_SCOPE', 'MISSING_SCOPE', 'NOT_IP_LOCKED'],
  },
];

describe('key policy over recorded exchange payloads', () => {
  it.each(cases)('$name', ({ inspection, target, expected }) => {
    expect(codes(inspection(), target)).toEqual([...expected].sort());
  });

  it('every violation code is produced by some payload (KEY_REJECTED comes from the exchange refusing the key, EXCHANGE_BAD_RESPONSE from an answer of an unknown shape: exchange-bybit-strict.test.ts)', () => {
    const seen = new Set(cases.flatMap((c) => c.expected));
    seen.add(keyRejected('x').code);
    seen.add(badResponse('x').code);
    expect([...seen].sort()).toEqual([...VIOLATION_CODES].sort());
  });

  it('gives a human detail naming what is wrong', () => {
    const v = evaluateKey(bybit('query-api-sub-extra'), bot('24600001'), { now: NOW });
    const byCode = Object.fromEntries(v.map((x) => [x.code, x.detail]));
    expect(byCode.EXCESS_SCOPE).toContain('options:trade');
    expect(byCode.UNKNOWN_PERMISSION).toContain('CopyTrading.CopyTrading');
    expect(byCode.IP_MISMATCH).toContain('198.51.100.7');
    expect(byCode.WRONG_ACCOUNT).toContain('24600002');
  });
});

describe('key policy rules', () => {
  const clean: KeyInspection = {
    scopes: ['read', 'spot:trade'],
    native: {},
    ips: ['203.0.113.10'],
    readOnly: false,
    owner: { isMaster: false, subaccount: 'sub1' },
  };
  const slot: KeyTarget = { kind: 'bot', scopes: ['spot:trade'], ips: ['203.0.113.10', '203.0.113.11'], subaccount: 'sub1' };

  it('accepts an allowlist that is a subset of the declared addresses', () => {
    expect(evaluateKey(clean, slot, { now: NOW })).toEqual([]);
  });

  it('treats read as implied, even when the slot does not declare it', () => {
    expect(evaluateKey({ ...clean, scopes: ['read', 'spot:trade'] }, slot)).toEqual([]);
  });

  it('flags keys:manage on a bot key as an excess scope', () => {
    expect(evaluateKey({ ...clean, scopes: ['read', 'spot:trade', 'keys:manage'] }, slot).map((v) => v.code)).toEqual(['EXCESS_SCOPE']);
  });

  it('honours the expiry warning window', () => {
    const soon = { ...clean, expiresAt: new Date(NOW + 10 * 86_400_000).toISOString() };
    expect(evaluateKey(soon, slot, { now: NOW })).toEqual([]);
    expect(evaluateKey(soon, slot, { now: NOW, expiryWarningMs: 14 * 86_400_000 }).map((v) => v.code)).toEqual(['EXPIRING']);
  });

  it('flags a sub-account id that differs, case-insensitively equal ones pass', () => {
    expect(evaluateKey({ ...clean, owner: { subaccount: 'SUB1' } }, slot)).toEqual([]);
    expect(evaluateKey({ ...clean, owner: { subaccount: 'sub2' } }, slot).map((v) => v.code)).toEqual(['WRONG_ACCOUNT']);
  });

  it('requires a master key to hold what its exchange needs, and to belong to the configured account', () => {
    const m: KeyInspection = { scopes: ['read'], native: {}, ips: ['192.0.2.5'], readOnly: false, owner: { isMaster: true, uid: '1' } };
    const target: KeyTarget = { kind: 'master', exchange: 'bybit', masterScopes: ['keys:manage', 'transfer'], uid: '2' };
    expect(codes(m, target)).toEqual(['MISSING_SCOPE', 'WRONG_ACCOUNT']);
    expect(codes({ ...m, owner: { isMaster: false } }, { ...target, uid: undefined }).sort()).toEqual(['MISSING_SCOPE', 'WRONG_ACCOUNT']);
  });

  it('accepts a master key that is IP-locked without the exchange listing its addresses', () => {
    const m: KeyInspection = { scopes: ['read', 'keys:manage'], native: {}, ips: 'restricted', readOnly: false, owner: { isMaster: true } };
    expect(evaluateKey(m, { kind: 'master', exchange: 'binance', masterScopes: ['keys:manage'] })).toEqual([]);
  });

  it('flags an unreadable expiresAt as a bad answer, never as "no expiry"', () => {
    for (const expiresAt of ['soon', '', ' ', '2025-13-45']) {
      expect(codes({ ...clean, expiresAt }, slot), expiresAt).toEqual(['EXCHANGE_BAD_RESPONSE']);
    }
  });
});

describe('key policy: what counts as an IP lock', () => {
  const bot: KeyInspection = {
    scopes: ['read', 'spot:trade'],
    native: {},
    ips: ['203.0.113.10'],
    readOnly: false,
    owner: { isMaster: false, subaccount: 'sub1' },
  };
  const slot: KeyTarget = { kind: 'bot', scopes: ['spot:trade'], ips: ['203.0.113.10', '2001:db8::10'], subaccount: 'sub1' };
  const masterKey: KeyInspection = {
    scopes: ['read', 'keys:manage'],
    native: {},
    ips: ['192.0.2.5'],
    readOnly: false,
    owner: { isMaster: true },
  };
  const masterTarget: KeyTarget = { kind: 'master', exchange: 'binance', masterScopes: ['keys:manage'] };

  it.each([
    [['0.0.0.0/00']],
    [['::0/0']],
    [['0::/0']],
    [['0:0:0:0:0:0:0:0/0']],
    [['1.2.3.4/0']],
    [['::ffff:0.0.0.0/0']],
    [['::ffff:0.0.0.0/96']],
    [['::/64']],
    [['0.0.0.0/1', '128.0.0.0/1']],
    [['192.0.2.5', '10.0.0.0/8']],
    [['192.0.2.0/23']],
    [['2001:db8::/47']],
    [['::ffff:192.0.2.0/119']],
    [[]],
    [['not-an-address']],
  ])('a master key allowed from %j is NOT_IP_LOCKED', (ips) => {
    const violations = evaluateKey({ ...masterKey, ips }, masterTarget);
    expect(violations.map((v) => v.code)).toEqual(['NOT_IP_LOCKED']);
  });

  it('says the range is too wide', () => {
    const [violation] = evaluateKey({ ...masterKey, ips: ['10.0.0.0/8'] }, masterTarget);
    expect(violation!.detail).toMatch(/10\.0\.0\.0\/8: a range too wide to be an IP lock/);
    const [empty] = evaluateKey({ ...bot, ips: [] }, slot);
    expect(empty).toMatchObject({ code: 'NOT_IP_LOCKED', detail: expect.stringMatching(/empty IP allowlist/) as unknown });
  });

  it.each([
    [['0.0.0.0/00']],
    [['1.2.3.4/0']],
    [['::ffff:0.0.0.0/0']],
    [['203.0.113.10', '203.0.113.0/8']],
    [['203.0.113.10', '2001:db8::/32']],
    [[]],
  ])('a bot key allowed from %j is NOT_IP_LOCKED, even beside a declared address', (ips) => {
    expect(codes({ ...bot, ips }, slot)).toEqual(['NOT_IP_LOCKED']);
  });

  it('accepts blocks up to /24 and /48 on a master key, and compares a bot key in canonical form', () => {
    for (const ips of [['192.0.2.0/24'], ['2001:db8:1::/48'], ['::ffff:192.0.2.0/120'], ['192.0.2.5/32']]) {
      expect(evaluateKey({ ...masterKey, ips }, masterTarget), ips.join()).toEqual([]);
    }
    // The same addresses in other spellings: a single-address block, an IPv6 spelling, an IPv4-mapped address.
    for (const ips of [['203.0.113.10/32'], ['2001:0DB8:0:0::10'], ['::ffff:203.0.113.10'], ['2001:db8::10/128']]) {
      expect(evaluateKey({ ...bot, ips }, slot), ips.join()).toEqual([]);
    }
    // A narrow block the slot does not declare is still IP_MISMATCH.
    expect(codes({ ...bot, ips: ['203.0.113.0/24'] }, slot)).toEqual(['IP_MISMATCH']);
  });
});

describe('parseAllowlistEntry', () => {
  it.each([
    ['*', { prefix: 0, text: '*', anywhere: true }],
    ['0.0.0.0/00', { family: 4, prefix: 0, anywhere: true }],
    ['::0/0', { family: 6, prefix: 0, anywhere: true }],
    ['0:0:0:0:0:0:0:0/0', { family: 6, prefix: 0, anywhere: true }],
    ['1.2.3.4/0', { family: 4, prefix: 0, text: '0.0.0.0/0', anywhere: true }],
    ['::ffff:0.0.0.0/0', { prefix: 0, anywhere: true }],
    ['::ffff:0:0/95', { family: 6, anywhere: true }],
    ['203.0.113.7/24', { family: 4, prefix: 24, text: '203.0.113.0/24', anywhere: false }],
    ['203.0.113.7/0024', { family: 4, prefix: 24, text: '203.0.113.0/24' }],
    ['203.0.113.7/32', { family: 4, prefix: 32, text: '203.0.113.7' }],
    ['::ffff:203.0.113.7', { family: 4, prefix: 32, text: '203.0.113.7' }],
    ['::ffff:cb00:7107/120', { family: 4, prefix: 24, text: '203.0.113.0/24' }],
    ['2001:0DB8:0:0:0:0:0:1', { family: 6, prefix: 128, text: '2001:db8::1' }],
    ['2001:db8:0:1:0:0:0:1', { family: 6, text: '2001:db8:0:1::1' }],
    ['1:0:0:2:0:0:0:3', { family: 6, text: '1:0:0:2::3' }],
    ['2001:db8:1:2:3:4:5:6/48', { family: 6, prefix: 48, text: '2001:db8:1::/48' }],
  ])('reads %s', (entry, expected) => {
    expect(parseAllowlistEntry(entry)).toMatchObject(expected);
  });

  it.each([
    '',
    'anywhere',
    '1.2.3.4/33',
    '::/129',
    '1.2.3.4/a',
    '1.2.3.4/',
    '1.2.3.4//8',
    '1.2.3.4/8/8',
    'fe80::1%eth0',
    '01.2.3.4',
    ' 1.2.3.4',
    // IPv4 spellings ipaddr.js would parse but node:net refuses: hex, octal, fewer than four parts, one number.
    '0x7f.0.0.1',
    '010.0.0.1',
    '0177.0.0.1/8',
    '127.1',
    '1.2.3',
    '2130706433',
    '::ffff:0x7f.0.0.1',
    '::ffff:010.0.0.1',
    '::ffff:1.2.3.4%eth0',
    '1.2.3.4/-1',
    '1.2.3.4/+8',
    '1.2.3.4/123456',
  ])('refuses %j', (entry) => {
    expect(parseAllowlistEntry(entry)).toBeUndefined();
  });

  it.each([
    ['192.0.2.1', 4, 32, '192.0.2.1', false],
    ['192.0.2.255/25', 4, 25, '192.0.2.128/25', false],
    ['255.255.255.255/1', 4, 1, '128.0.0.0/1', false],
    ['10.1.2.3/8', 4, 8, '10.0.0.0/8', false],
    ['::', 6, 128, '::', false],
    ['::1', 6, 128, '::1', false],
    ['0:0:0:0:0:0:0:1/128', 6, 128, '::1', false],
    ['2001:DB8::/32', 6, 32, '2001:db8::/32', false],
    ['2001:db8:0:0:1:0:0:1', 6, 128, '2001:db8::1:0:0:1', false],
    ['2001:db8::ff00:42:8329/64', 6, 64, '2001:db8::/64', false],
    ['2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff/127', 6, 127, '2001:db8:aaaa:bbbb:cccc:dddd:eeee:fffe/127', false],
    ['fe80::1:2/10', 6, 10, 'fe80::/10', false],
    ['1:0:0:0:2:0:0:0', 6, 128, '1::2:0:0:0', false],
    ['1:2:3:4:5:6:7:0', 6, 128, '1:2:3:4:5:6:7:0', false],
    // The deprecated IPv4-compatible form is the IPv6 address ::102:304, not the IPv4-mapped ::ffff:1.2.3.4.
    ['::1.2.3.4', 6, 128, '::102:304', false],
    ['0:0:0:0:0:ffff:192.0.2.7/104', 4, 8, '192.0.0.0/8', false],
    ['::ffff:192.0.2.7/96', 4, 0, '0.0.0.0/0', true],
    ['::ffff:c000:207/128', 4, 32, '192.0.2.7', false],
    ['::/96', 6, 96, '::/96', false],
    ['::/95', 6, 95, '::/95', false],
    ['::/94', 6, 94, '::/94', false],
    ['::ffff:0:0/94', 6, 94, '::fffc:0:0/94', true],
    ['::ffff:1.2.3.4/80', 6, 80, '::/80', true],
    ['1::/80', 6, 80, '1::/80', false],
    ['::/0', 6, 0, '::/0', true],
  ] as const)('canonicalises %s', (entry, family, prefix, text, anywhere) => {
    expect(parseAllowlistEntry(entry)).toEqual({ family, prefix, text, anywhere });
  });
});
