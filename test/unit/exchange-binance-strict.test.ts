/**
 * Binance answers are parsed against their documented shape (apiRestrictions:
 * https://developers.binance.com/docs/wallet/account/api-key-permission; the master's sub-account IP restriction:
 * https://developers.binance.com/docs/sub_account/api-management): an answer of any other shape is an
 * EXCHANGE_BAD_RESPONSE violation, never a key with fewer permissions. Explicit malformed answers, tolerant ones, then a
 * fuzz of every field of every fixture and of single-fault keys: no mutation of an unsafe key passes, and no mutation of
 * any key crashes (every outcome is violations or a pass). The real adapter.inspect runs, over a fake ccxt client.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { adapter as binanceAdapter, capabilities as binanceCaps, parseBinanceRestrictions } from '../../src/exchanges/binance/adapter.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import { ExchangeError } from '@keyctl/client/errors';
import type { KeyTarget } from '../../src/domain/policy.js';
import { caught } from '../helpers/caught.js';
import { duplicatedEntries, fieldMutations, PROTOTYPE_NAMES, sameTypeMutations, withField } from '../helpers/fuzz.js';

/** What the fake exchange answers: apiRestrictions, the master's ipRestriction (or its refusal), create. */
const answers = vi.hoisted(() => ({
  restrictions: undefined as unknown,
  /** The master's ipRestriction answer: a value, a refusal, or a function of the request's parameters. */
  ip: undefined as unknown,
  created: undefined as unknown,
  /** GET /api/v3/account (a master key's uid). */
  account: undefined as unknown,
  /** Query Sub-account API Key pages, by page number. */
  pages: [] as unknown[],
  /** Parameters of every request, for asserting what keyctl sends. */
  sent: [] as Array<{ method: string; params: Record<string, unknown> }>,
}));

vi.mock('../../src/exchanges/ccxt.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/exchanges/ccxt.js')>();
  const client = {
    exchange: 'binance',
    call: async (method: string, params: Record<string, unknown> = {}) => {
      answers.sent.push({ method, params });
      if (method === 'sapiGetAccountApiRestrictions') return answers.restrictions;
      if (method === 'privateGetAccount') return answers.account;
      if (method === 'sapiGetSubAccountSubAccountApiIpRestriction') {
        if (answers.ip instanceof Error) throw answers.ip;
        return typeof answers.ip === 'function' ? (answers.ip as (p: Record<string, unknown>) => unknown)(params) : answers.ip;
      }
      throw new Error(`unexpected call ${method}`);
    },
    request: async (_path: string, _api: string, method: string, params: Record<string, unknown>) => {
      answers.sent.push({ method, params });
      return method === 'GET' ? answers.pages[Number(params.page) - 1] : answers.created;
    },
  };
  return { ...original, createClient: async () => client };
});

const NOW = Date.parse('2025-06-01T00:00:00Z');
const DAY = 86_400_000;
type Answer = Record<string, unknown>;
const fixture = (name: string): Answer =>
  JSON.parse(readFileSync(new URL(`../fixtures/exchanges/binance/${name}.json`, import.meta.url), 'utf8')) as Answer;

const SUB = 'alpha.arb1@example.com';
/** The key the fixtures' ipRestriction answers describe. */
const KEY = { apiKey: 'FAKE-BINANCE-SUB-CLEAN', secret: 'FAKE-binance-secret-0001' };
const MASTER_KEY = { apiKey: 'FAKE-BINANCE-MASTER', secret: 'FAKE-binance-master-secret' };
const ACCOUNT = { name: 'main', exchange: 'binance' };
// enableSpotAndMarginTrading is spot and margin trading: a slot trading spot on Binance declares both.
const BOT: KeyTarget = {
  kind: 'bot',
  scopes: ['spot:trade', 'margin:trade', 'futures:trade'],
  ips: ['203.0.113.10', '203.0.113.11'],
  subaccount: SUB,
};
const MASTER: KeyTarget = { kind: 'master', exchange: 'binance', masterScopes: binanceCaps.masterScopes };

/** The master refusing the lookup: the key is not in that sub-account. */
const notInSub = () => new ExchangeError('EXCHANGE_REFUSED', 'binance refused: the sub-account API key does not exist.');

/** inspectKey over the real adapter, the exchange answering `restrictions` and `ip`: the path verify, import and rotation take. */
async function check(restrictions: unknown, ip: unknown, target: KeyTarget) {
  answers.restrictions = restrictions;
  answers.ip = ip;
  return inspectKey({
    adapter: binanceAdapter,
    account: ACCOUNT,
    credentials: target.kind === 'master' ? MASTER_KEY : KEY,
    target,
    ...(target.kind === 'bot' ? { master: MASTER_KEY } : {}),
    options: { now: NOW },
  });
}
const codes = async (restrictions: unknown, ip: unknown, target: KeyTarget) =>
  (await check(restrictions, ip, target)).violations.map((v) => v.code).sort();

const ipClean = fixture('ip-restriction-sub-clean');
/** A clean master holds "Enable Spot & Margin Trading", which Binance requires to manage sub-account keys. */
const masterClean: Answer = { ...fixture('api-restrictions-master-clean'), enableSpotAndMarginTrading: true };
const ipOpen = fixture('ip-restriction-sub-unrestricted');

/** The violation is EXCHANGE_BAD_RESPONSE alone, about `endpoint`, naming fields and never values. */
function expectBadAnswer(result: Awaited<ReturnType<typeof check>>, endpoint: string): void {
  expect(result.violations.map((v) => v.code)).toEqual(['EXCHANGE_BAD_RESPONSE']);
  const detail = result.violations[0]!.detail;
  expect(detail).toContain(`binance answered ${endpoint} in a shape keyctl does not know`);
  expect(detail).not.toContain('203.0.113');
  expect(detail).not.toContain('FAKE-');
}

describe('binance: malformed apiRestrictions answers', () => {
  // A withdraw-capable sub-account key, IP-locked to the bot's address, in the right sub-account: the only thing wrong
  // with it is enableWithdrawals, so the only thing that can stop it is reading that flag correctly.
  const withdrawing: Answer = { ...fixture('api-restrictions-sub-clean'), enableWithdrawals: true };
  const { enableWithdrawals: _w, ...noWithdrawFlag } = withdrawing;

  it('reads the well-formed answer as WITHDRAW_ENABLED (the baseline of the cases below)', async () => {
    expect(await codes(withdrawing, ipClean, BOT)).toEqual(['WITHDRAW_ENABLED']);
  });

  it.each([
    ['enableWithdrawals: "false"', { ...withdrawing, enableWithdrawals: 'false' }],
    ['enableWithdrawals: "true"', { ...withdrawing, enableWithdrawals: 'true' }],
    ['enableWithdrawals: null', { ...withdrawing, enableWithdrawals: null }],
    ['enableWithdrawals: 1', { ...withdrawing, enableWithdrawals: 1 }],
    ['enableWithdrawals missing', noWithdrawFlag],
    ['enableWithdrawals renamed', { ...noWithdrawFlag, enable_withdrawals: true }],
    ['enableInternalTransfer: "false"', { ...withdrawing, enableInternalTransfer: 'false' }],
    ['permitsUniversalTransfer missing', (({ permitsUniversalTransfer: _p, ...rest }) => rest)(withdrawing)],
    ['ipRestrict as a string', { ...withdrawing, ipRestrict: 'true' }],
    ['ipRestrict missing', (({ ipRestrict: _i, ...rest }) => rest)(withdrawing)],
    ['tradingAuthorityExpirationTime as a date string', { ...withdrawing, tradingAuthorityExpirationTime: '2030-01-01' }],
    ['an unknown permission flag as a string', { ...withdrawing, enableCopyTrading: 'true' }],
    ['an unknown permission flag as null', { ...withdrawing, permitsSomethingNew: null }],
    ['the answer as an array', [withdrawing]],
    ['the answer as a string', JSON.stringify(withdrawing)],
    ['the answer null', null],
    ['the whole answer missing', undefined],
  ])('%s: EXCHANGE_BAD_RESPONSE, not a pass', async (_name, restrictions) => {
    expectBadAnswer(await check(restrictions, ipClean, BOT), 'apiRestrictions');
  });

  it('a master key: enableWithdrawals missing or "false" is a bad answer too', async () => {
    const master: Answer = { ...masterClean, enableWithdrawals: true };
    expect(await codes(master, undefined, MASTER)).toEqual(['WITHDRAW_ENABLED']);
    expectBadAnswer(await check({ ...master, enableWithdrawals: 'false' }, undefined, MASTER), 'apiRestrictions');
    expectBadAnswer(await check((({ enableWithdrawals: _e, ...rest }) => rest)(master), undefined, MASTER), 'apiRestrictions');
  });

  it('parseBinanceRestrictions itself throws a typed EXCHANGE_BAD_RESPONSE (exit 5 where no policy applies)', async () => {
    const err = await caught(Promise.resolve().then(() => parseBinanceRestrictions({ ...withdrawing, enableWithdrawals: null }, 'bot')));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.message).toContain('enableWithdrawals: expected boolean');
  });
});

describe('binance: malformed ipRestriction answers (the master describing a sub-account key)', () => {
  const clean = fixture('api-restrictions-sub-clean');
  const open = { ...clean, ipRestrict: false };
  const { ipList: _l, ...ipNoList } = ipClean;

  it.each([
    ['ipRestrict as a number', clean, { ...ipClean, ipRestrict: 1 }],
    ['ipRestrict as "TRUE"', clean, { ...ipClean, ipRestrict: 'TRUE' }],
    ['ipRestrict as "yes"', clean, { ...ipClean, ipRestrict: 'yes' }],
    ['ipRestrict null', clean, { ...ipClean, ipRestrict: null }],
    ['ipRestrict missing', clean, (({ ipRestrict: _i, ...rest }) => rest)(ipClean)],
    ['an ipList that is not addresses', clean, { ...ipClean, ipList: ['203.0.113.10', 'anywhere'] }],
    ['an ipList entry that is a number', clean, { ...ipClean, ipList: ['203.0.113.10', 7] }],
    ['an ipList as a comma string', clean, { ...ipClean, ipList: '203.0.113.10' }],
    ['an ipList nested', clean, { ...ipClean, ipList: [['203.0.113.10']] }],
    ['an ipList missing while ipRestrict is "true"', clean, ipNoList],
    ['an ipList empty while ipRestrict is "true"', clean, { ...ipClean, ipList: [] }],
    ['an answer about another key', clean, { ...ipClean, apiKey: 'FAKE-BINANCE-OTHER' }],
    ['apiKey missing', clean, (({ apiKey: _k, ...rest }) => rest)(ipClean)],
    // An unlocked key the master calls locked to the bot's address: the old parser believed the master and passed it.
    ['ipRestrict contradicting apiRestrictions', open, ipClean],
    ['a locked key the master calls unlocked', clean, ipOpen],
    ['the answer as an array', clean, [ipClean]],
    ['the whole answer missing', clean, undefined],
  ])('%s: EXCHANGE_BAD_RESPONSE, not a pass', async (_name, restrictions, ip) => {
    expectBadAnswer(await check(restrictions, ip, BOT), 'subAccountApi/ipRestriction');
  });
});

describe('binance: tolerant where the docs allow', () => {
  const clean = fixture('api-restrictions-sub-clean');

  it('ignores unknown fields, and reads optional fields absent or present', async () => {
    expect(await codes(clean, ipClean, BOT)).toEqual([]);
    expect(await codes({ ...clean, somethingNew: { nested: [1, 2] }, note: 'x' }, { ...ipClean, somethingNew: 7 }, BOT)).toEqual([]);
    const { createTime: _c, ...noCreateTime } = clean;
    expect(await codes(noCreateTime, ipClean, BOT)).toEqual([]);
    const { updateTime: _u, ...noUpdateTime } = ipClean;
    expect(await codes(clean, noUpdateTime, BOT)).toEqual([]);
    expect(await codes(clean, { ...ipClean, updateTime: 'whenever' }, BOT)).toEqual([]);
    expect(await codes({ ...clean, tradingAuthorityExpirationTime: NOW + 365 * DAY }, ipClean, BOT)).toEqual([]);
  });

  it('reads ipRestrict as the documented string or as a boolean', async () => {
    expect(await codes(clean, { ...ipClean, ipRestrict: true }, BOT)).toEqual([]);
    const open = { ...clean, ipRestrict: false };
    expect(await codes(open, ipOpen, BOT)).toEqual(['NOT_IP_LOCKED']);
    expect(await codes(open, { ...ipOpen, ipRestrict: false }, BOT)).toEqual(['NOT_IP_LOCKED']);
    // The docs give ipList only for keys with an allowlist.
    const { ipList: _l, ...openNoList } = ipOpen;
    expect(await codes(open, openNoList, BOT)).toEqual(['NOT_IP_LOCKED']);
  });

  it('an unknown permission flag that is true is UNKNOWN_PERMISSION, one that is false is nothing', async () => {
    expect(await codes({ ...clean, enableCopyTrading: true }, ipClean, BOT)).toEqual(['UNKNOWN_PERMISSION']);
    expect(await codes({ ...clean, enableCopyTrading: false }, ipClean, BOT)).toEqual([]);
  });

  it('a key the master cannot find in the sub-account is WRONG_ACCOUNT, not a bad answer', async () => {
    expect(await codes(clean, notInSub(), BOT)).toEqual(['WRONG_ACCOUNT']);
  });
});

describe('binance: the create answer', () => {
  const request = {
    account: ACCOUNT,
    master: MASTER_KEY,
    subaccount: SUB,
    scopes: ['spot:trade' as const],
    ips: ['203.0.113.10'],
    label: 'rot-0001',
  };
  const documented = {
    apiName: 'rot-0001',
    apiKey: 'FAKE-BINANCE-NEW-KEY',
    secretKey: 'FAKE-BINANCE-NEW-SECRET',
    canTrade: true,
    canMarginLoanRepay: false,
    canFuturesTrade: false,
    canUniversalTransfer: false,
    canVanillaOptions: false,
    status: 2,
    ipList: ['203.0.113.10'],
  };

  it('reads the key and secret of the documented answer, ignoring other fields', async () => {
    answers.created = { ...documented, somethingNew: true };
    expect(await binanceAdapter.createKey(request)).toEqual({ apiKey: 'FAKE-BINANCE-NEW-KEY', secret: 'FAKE-BINANCE-NEW-SECRET' });
  });

  it.each([
    ['secretKey missing', (({ secretKey: _s, ...rest }) => rest)(documented)],
    ['secretKey empty', { ...documented, secretKey: '' }],
    ['secretKey as a number', { ...documented, secretKey: 12345 }],
    ['apiKey null', { ...documented, apiKey: null }],
    ['the answer as an array', [documented]],
    ['the whole answer missing', undefined],
  ])('%s: EXCHANGE_BAD_RESPONSE, without the secret in the message', async (_name, created) => {
    answers.created = created;
    const err = await caught(binanceAdapter.createKey(request));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.message).not.toContain('FAKE-BINANCE-NEW');
  });

  it('sends the email, label and IP list percent-encoded, and never asks for margin loan/repay', async () => {
    answers.created = documented;
    answers.sent = [];
    await binanceAdapter.createKey({ ...request, subaccount: 'bot+alpha@example.invalid', scopes: ['spot:trade', 'margin:trade'] });
    expect(answers.sent[0]!.params).toMatchObject({
      email: 'bot%2Balpha%40example.invalid',
      apiName: 'rot-0001',
      ipAddress: '203.0.113.10',
      canTrade: true,
      canMarginLoanRepay: false,
      canUniversalTransfer: false,
    });
  });
});

describe('binance: policy readings of the master and of a lapsed key', () => {
  it('a master without "Enable Spot & Margin Trading" lacks what Binance requires to manage sub keys (MISSING_SCOPE)', async () => {
    const noTrading = { ...fixture('api-restrictions-master-clean'), enableSpotAndMarginTrading: false };
    expect(await codes(noTrading, undefined, MASTER)).toEqual(['MISSING_SCOPE']);
    expect(await codes(masterClean, undefined, MASTER)).toEqual([]);
    const result = await check(noTrading, undefined, MASTER);
    expect(result.violations[0]!.detail).toContain('keys:manage, spot:trade, margin:trade');
  });

  it('a sub key whose spot & margin trading lapsed (no IP allowlist) is MISSING_SCOPE, not KEY_REJECTED', async () => {
    const lapsed = { ...fixture('api-restrictions-sub-clean'), ipRestrict: false, enableSpotAndMarginTrading: false, enableFutures: false };
    expect(await codes(lapsed, ipOpen, { ...BOT, scopes: ['spot:trade', 'margin:trade'] })).toEqual(['MISSING_SCOPE', 'NOT_IP_LOCKED']);
  });
});

describe('binance: the sub-account key listing (Query Sub-account API Key), read by the orphan sweep', () => {
  const row = (apikey: string, apiName: string, extra: Answer = {}): Answer => ({
    email: SUB,
    apiName,
    apikey,
    canTrade: true,
    canMarginLoanRepay: false,
    canFuturesTrade: true,
    canUniversalTransfer: false,
    canVanillaOptions: false,
    timestamp: NOW,
    ...extra,
  });
  const ipOf = (params: Record<string, unknown>): Answer => ({ ...ipClean, apiKey: params.subAccountApiKey });
  const list = () => binanceAdapter.listKeys({ account: ACCOUNT, master: MASTER_KEY, subaccount: SUB });

  it("reads every page, the label, the scopes and each key's IP list; sends the email percent-encoded", async () => {
    const first = Array.from({ length: 100 }, (_, i) => row(`FAKE-BINANCE-K${i}`, `keyctl-${i}`));
    answers.pages = [
      { total: 101, list: first },
      { total: 101, list: [row('FAKE-BINANCE-LAST', 'manual', { canTrade: false, canUniversalTransfer: true })] },
    ];
    answers.ip = ipOf;
    answers.sent = [];
    const keys = await list();
    expect(keys).toHaveLength(101);
    expect(keys[0]).toEqual({
      apiKey: 'FAKE-BINANCE-K0',
      label: 'keyctl-0',
      scopes: ['read', 'spot:trade', 'margin:trade', 'futures:trade'],
      ips: ['203.0.113.10'],
      createdAt: new Date(NOW).toISOString(),
    });
    expect(keys[100]).toMatchObject({ apiKey: 'FAKE-BINANCE-LAST', label: 'manual', scopes: ['read', 'futures:trade', 'transfer'] });
    const pages = answers.sent.filter((r) => r.method === 'GET');
    expect(pages.map((r) => r.params)).toEqual([
      { email: encodeURIComponent(SUB), page: 1, size: 100 },
      { email: encodeURIComponent(SUB), page: 2, size: 100 },
    ]);
  });

  it('an empty sub-account is an empty list', async () => {
    answers.pages = [{ total: 0, list: [] }];
    expect(await list()).toEqual([]);
  });

  it.each([
    ['list missing', { total: 1 }],
    ['list renamed to rows', { total: 1, rows: [row('FAKE-BINANCE-K1', 'keyctl-1')] }],
    ['total missing', { list: [row('FAKE-BINANCE-K1', 'keyctl-1')] }],
    ['total as a string', { total: '1', list: [row('FAKE-BINANCE-K1', 'keyctl-1')] }],
    ['apikey missing', { total: 1, list: [(({ apikey: _k, ...rest }) => rest)(row('FAKE-BINANCE-K1', 'keyctl-1'))] }],
    [
      'apiKey spelled as in other answers',
      { total: 1, list: [{ ...(({ apikey: _k, ...rest }) => rest)(row('x', 'keyctl-1')), apiKey: 'x' }] },
    ],
    ['apiName as a number', { total: 1, list: [row('FAKE-BINANCE-K1', 'keyctl-1', { apiName: 7 })] }],
    ['canTrade as a string', { total: 1, list: [row('FAKE-BINANCE-K1', 'keyctl-1', { canTrade: 'true' })] }],
    ['an entry of another sub-account', { total: 1, list: [row('FAKE-BINANCE-K1', 'keyctl-1', { email: 'other@example.invalid' })] }],
    ['fewer keys than total', { total: 2, list: [row('FAKE-BINANCE-K1', 'keyctl-1')] }],
    ['the answer as an array', [row('FAKE-BINANCE-K1', 'keyctl-1')]],
    ['the whole answer missing', undefined],
  ])('%s: EXCHANGE_BAD_RESPONSE, never an empty or partial list', async (_name, answer) => {
    answers.pages = [answer];
    answers.ip = ipOf;
    const err = await caught(list());
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.message).not.toContain('FAKE-');
  });

  it.each([
    ['about another key', () => ({ ...ipClean, apiKey: 'FAKE-BINANCE-OTHER' })],
    [
      'an IP list that is not addresses',
      (p: Record<string, unknown>) => ({ ...ipClean, apiKey: p.subAccountApiKey, ipList: ['anywhere'] }),
    ],
    ['restricted without a list', (p: Record<string, unknown>) => ({ ipRestrict: 'true', apiKey: p.subAccountApiKey })],
  ])("a listed key's IP answer %s: EXCHANGE_BAD_RESPONSE", async (_name, ip) => {
    answers.pages = [{ total: 1, list: [row('FAKE-BINANCE-K1', 'keyctl-1')] }];
    answers.ip = ip;
    expect((await caught(list())).code).toBe('EXCHANGE_BAD_RESPONSE');
  });
});

interface Case {
  restrictions: Answer;
  /** The master's ipRestriction answer, or its refusal; unused for a master key. */
  ip?: Answer | Error;
}

/** Every mutation of both answers: each field; extra permission flags; the IP flag as other strings; bad IP lists. */
function mutations(c: Case): Array<{ name: string; restrictions: Answer; ip: unknown }> {
  const out: Array<{ name: string; restrictions: Answer; ip: unknown }> = [];
  const { restrictions, ip } = c;
  for (const m of fieldMutations(restrictions)) out.push({ name: `apiRestrictions: ${m.name}`, restrictions: m.answer, ip });
  for (const m of sameTypeMutations(restrictions, { times: ['createTime', 'tradingAuthorityExpirationTime'] })) {
    out.push({ name: `apiRestrictions: ${m.name}`, restrictions: m.answer, ip });
  }
  // Permission-like unknown fields that are not booleans, in any case.
  for (const field of ['withdrawEnabled', 'canTransfer', 'allowTrade', 'ENABLE_NEW', 'permitX', 'tradePermission']) {
    for (const value of ['true', 1, null, { on: true }]) {
      out.push({ name: `apiRestrictions: ${field} = ${JSON.stringify(value)}`, restrictions: { ...restrictions, [field]: value }, ip });
    }
  }
  for (const extra of ['true', 1, null, { on: true }, ['true']]) {
    out.push({
      name: `apiRestrictions: extra flag ${JSON.stringify(extra)}`,
      restrictions: { ...restrictions, enableNewThing: extra },
      ip,
    });
  }
  if (ip === undefined || ip instanceof Error) return out;
  for (const m of fieldMutations(ip)) out.push({ name: `ipRestriction: ${m.name}`, restrictions, ip: m.answer });
  for (const m of sameTypeMutations(ip)) out.push({ name: `ipRestriction: ${m.name}`, restrictions, ip: m.answer });
  for (const flag of ['TRUE', 'False', 'yes', '1', '', ' true']) {
    out.push({ name: `ipRestriction: ipRestrict ${JSON.stringify(flag)}`, restrictions, ip: { ...ip, ipRestrict: flag } });
  }
  const ips = (ip.ipList ?? []) as unknown[];
  for (const bad of [[...ips, 7], [...ips, 'not-an-ip'], [...ips, null], [...ips, '203.0.113.10/99'], [ips], ips.join(',')]) {
    out.push({ name: `ipRestriction: ipList ${JSON.stringify(bad)}`, restrictions, ip: { ...ip, ipList: bad } });
  }
  if (ips.length > 0) {
    for (const wide of ['0.0.0.0/00', '::0/0', '0::/0', '1.2.3.4/0', '::ffff:0.0.0.0/0', '10.0.0.0/8', '2001:db8::/32']) {
      out.push({ name: `ipRestriction: ipList + ${wide}`, restrictions, ip: { ...ip, ipList: [...ips, wide] } });
    }
  }
  out.push({ name: 'ipRestriction: another key', restrictions, ip: { ...ip, apiKey: 'FAKE-BINANCE-OTHER' } });
  return out;
}

describe('binance: fuzzing apiRestrictions and ipRestriction answers', () => {
  // Keys with exactly one thing wrong, so that misreading the one field that shows it would make them pass. An expiring
  // trading permission alone and an unknown flag alone are left out: both are optional fields, and an answer without
  // them is well-formed (the expiring-unknown fixture, which has both, is fuzzed instead).
  const clean = fixture('api-restrictions-sub-clean');
  const singleFault: Record<string, Case> = {
    'withdraw only': { restrictions: { ...clean, enableWithdrawals: true }, ip: ipClean },
    'internal transfer only': { restrictions: { ...clean, enableInternalTransfer: true }, ip: ipClean },
    'universal transfer only': { restrictions: { ...clean, permitsUniversalTransfer: true }, ip: ipClean },
    // (An undeclared margin:trade is no single fault any more: spot trading brings it.)
    'options (undeclared) only': { restrictions: { ...clean, enableVanillaOptions: true }, ip: ipClean },
    'no IP lock only': { restrictions: { ...clean, ipRestrict: false }, ip: ipOpen },
    'foreign IP only': { restrictions: clean, ip: { ...ipClean, ipList: ['198.51.100.99'] } },
    'other sub-account only': { restrictions: clean, ip: notInSub() },
    'master withdrawing only': { restrictions: { ...masterClean, enableWithdrawals: true } },
  };
  const fixtures: Record<string, Case> = {
    'withdraw-transfer': { restrictions: fixture('api-restrictions-withdraw-transfer'), ip: ipClean },
    'doc example': { restrictions: fixture('api-restrictions-doc-example'), ip: ipOpen },
    'expiring-unknown': { restrictions: fixture('api-restrictions-expiring-unknown'), ip: ipClean },
    'sub-clean with a mismatched IP list': { restrictions: clean, ip: fixture('ip-restriction-sub-mismatch') },
    'doc example as master': { restrictions: fixture('api-restrictions-doc-example') },
    // Read-only where the slot trades: the master fixture as Binance answers it without spot & margin trading.
    'read-only master fixture where a bot key belongs': { restrictions: fixture('api-restrictions-master-clean'), ip: ipClean },
  };
  const targetOf = (c: Case): KeyTarget => (c.ip === undefined ? MASTER : BOT);
  const unsafe = Object.entries({ ...singleFault, ...fixtures });

  it.each(unsafe)('no mutation of the unsafe key "%s" passes', async (_name, c) => {
    const target = targetOf(c);
    expect(await codes(c.restrictions, c.ip, target)).not.toEqual([]);
    const passed: string[] = [];
    const all = mutations(c);
    for (const m of all) if ((await codes(m.restrictions, m.ip, target)).length === 0) passed.push(m.name);
    expect(passed).toEqual([]);
    expect(all.length).toBeGreaterThan(c.ip === undefined || c.ip instanceof Error ? 120 : 150);
  });

  it.each([
    ['sub-clean', { restrictions: clean, ip: ipClean }],
    ['master-clean', { restrictions: masterClean }],
    ['sub without an IP lock', { restrictions: { ...clean, ipRestrict: false }, ip: ipOpen }],
  ] as Array<[string, Case]>)('no mutation of %s crashes: each is violations or a pass', async (_name, c) => {
    const target = targetOf(c);
    expect(await codes(c.restrictions, c.ip, target)).toEqual(target.kind === 'bot' && c.ip === ipOpen ? ['NOT_IP_LOCKED'] : []);
    for (const m of mutations(c)) {
      const result = await check(m.restrictions, m.ip, target).catch((err: unknown) => ({ crashed: `${m.name}: ${String(err)}` }));
      expect(result).toHaveProperty('violations');
    }
  });
});

describe("binance: the review's gaps in apiRestrictions", () => {
  const clean = fixture('api-restrictions-sub-clean');

  it.each([...PROTOTYPE_NAMES])('a true flag named %s is UNKNOWN_PERMISSION, never a crash or a dropped flag', async (name) => {
    // Through JSON, as an answer arrives: `__proto__` is then an own field, which valibot's looseObject drops.
    const answer = JSON.parse(JSON.stringify(withField(clean, name, true))) as Answer;
    expect(await codes(answer, ipClean, BOT)).toEqual(['UNKNOWN_PERMISSION']);
    expect(await codes(withField(masterClean, name, true), undefined, MASTER)).toEqual(['UNKNOWN_PERMISSION']);
  });

  it.each([
    ['withdrawEnabled', 'true'],
    ['canTransfer', 1],
    ['allowTrade', null],
    ['ENABLE_SOMETHING', 'yes'],
    ['permitX', { on: true }],
    ['universalTransferLimit', 100],
  ])('an unknown permission-like field %s that is not a boolean is EXCHANGE_BAD_RESPONSE', async (field, value) => {
    expectBadAnswer(await check({ ...clean, [field]: value }, ipClean, BOT), 'apiRestrictions');
  });

  it('an unknown permission-like field that is true is UNKNOWN_PERMISSION; one unlike a permission is ignored', async () => {
    expect(await codes({ ...clean, canTransfer: true }, ipClean, BOT)).toEqual(['UNKNOWN_PERMISSION']);
    expect(await codes({ ...clean, note: 'x', updateTime: 7 }, ipClean, BOT)).toEqual([]);
  });

  it.each([9e15, 2 ** 53, 1e20, 100_000_001, 7])(
    'tradingAuthorityExpirationTime %j is EXCHANGE_BAD_RESPONSE, never "no expiry"',
    async (t) => {
      expectBadAnswer(await check({ ...clean, tradingAuthorityExpirationTime: t }, ipClean, BOT), 'apiRestrictions');
    },
  );

  it.each([['0.0.0.0/00'], ['::0/0'], ['1.2.3.4/0'], ['::ffff:0.0.0.0/0'], ['203.0.113.0/16']])(
    'a sub key whose master-reported ipList holds %s is NOT_IP_LOCKED',
    async (entry) => {
      expect(await codes(clean, { ...ipClean, ipList: ['203.0.113.10', entry] }, BOT)).toEqual(['NOT_IP_LOCKED']);
    },
  );
});

describe("binance: a master key's owner (GET /api/v3/account `uid`)", () => {
  const inspectMaster = (uid: string | undefined, account: unknown) => {
    answers.restrictions = masterClean;
    answers.account = account;
    answers.sent = [];
    return inspectKey({
      adapter: binanceAdapter,
      account: { ...ACCOUNT, ...(uid ? { uid } : {}) },
      credentials: MASTER_KEY,
      target: { ...MASTER, ...(uid ? { uid } : {}) } as KeyTarget,
      options: { now: NOW },
    });
  };

  it('confirms the declared uid, and reports another as WRONG_ACCOUNT', async () => {
    const same = await inspectMaster('354937868', { uid: 354937868, canTrade: true });
    expect(same.violations).toEqual([]);
    expect(same.inspection?.owner.uid).toBe('354937868');
    const other = await inspectMaster('354937868', { uid: 111, canTrade: true });
    expect(other.violations.map((v) => v.code)).toEqual(['WRONG_ACCOUNT']);
    expect(other.violations[0]!.detail).toContain('111');
  });

  it('asks nothing more when no uid is declared', async () => {
    expect((await inspectMaster(undefined, undefined)).violations).toEqual([]);
    expect(answers.sent.map((r) => r.method)).toEqual(['sapiGetAccountApiRestrictions']);
  });

  it.each([
    ['uid missing', { canTrade: true }],
    ['uid as a string', { uid: '354937868' }],
    ['uid negative', { uid: -1 }],
    ['no answer', undefined],
  ])('an account answer with %s is EXCHANGE_BAD_RESPONSE', async (_name, account) => {
    const result = await inspectMaster('354937868', account);
    expect(result.violations.map((v) => v.code)).toEqual(['EXCHANGE_BAD_RESPONSE']);
  });
});

describe('binance: the listing contradicting itself', () => {
  const row = (apikey: string, apiName: string): Answer => ({
    email: SUB,
    apiName,
    apikey,
    canTrade: true,
    canMarginLoanRepay: false,
    canFuturesTrade: true,
    canUniversalTransfer: false,
    canVanillaOptions: false,
    timestamp: NOW,
  });
  const ipOf = (params: Record<string, unknown>): Answer => ({ ...ipClean, apiKey: params.subAccountApiKey });
  const list = () => binanceAdapter.listKeys({ account: ACCOUNT, master: MASTER_KEY, subaccount: SUB });
  const full = Array.from({ length: 100 }, (_, i) => row(`FAKE-BINANCE-K${i}`, `keyctl-${i}`));

  it.each([
    ['a key twice on one page', [{ total: 2, list: [row('FAKE-BINANCE-K1', 'a'), row('FAKE-BINANCE-K1', 'a')] }]],
    [
      'a key again on the next page',
      [
        { total: 101, list: full },
        { total: 101, list: [row('FAKE-BINANCE-K0', 'keyctl-0')] },
      ],
    ],
    [
      'total changing between pages',
      [
        { total: 101, list: full },
        { total: 102, list: [row('FAKE-BINANCE-LAST', 'x')] },
      ],
    ],
    ['more keys than total', [{ total: 1, list: [row('FAKE-BINANCE-K1', 'a'), row('FAKE-BINANCE-K2', 'b')] }]],
    ['a page beyond total', [{ total: 100, list: [...full, row('FAKE-BINANCE-K100', 'x')] }]],
  ])('%s: EXCHANGE_BAD_RESPONSE, never a listing the sweep believes', async (_name, pages) => {
    answers.pages = pages;
    answers.ip = ipOf;
    expect((await caught(list())).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('no mutation of a listing hides a key or its label: each throws, or lists every key as it is', async () => {
    const items = [
      row('FAKE-BINANCE-K1', 'keyctl-1'),
      { ...row('FAKE-BINANCE-K2', 'manual'), canTrade: false, canUniversalTransfer: true },
    ];
    answers.pages = [{ total: 2, list: items }];
    answers.ip = ipOf;
    const expected = await list();
    const variants = [
      ...items.flatMap((item, i) =>
        [...fieldMutations(item), ...sameTypeMutations(item, { times: ['timestamp'] })]
          // (Another apikey in a listing is just another key: only the exchange knows which keys it has.)
          .filter((m) => m.name !== "another key's apiKey")
          .map((m) => ({ name: `key ${i}: ${m.name}`, pages: [{ total: 2, list: items.map((k, j) => (j === i ? m.answer : k)) }] })),
      ),
      ...duplicatedEntries(items).map((d) => ({ name: d.name, pages: [{ total: 2, list: d.list }] })),
      ...duplicatedEntries(items).map((d) => ({ name: `${d.name}, total counting it`, pages: [{ total: 3, list: d.list }] })),
      ...fieldMutations({ total: 2, list: items }).map((m) => ({ name: `page: ${m.name}`, pages: [m.answer] })),
      ...[1, 3, 0, -1, 2.5].map((total) => ({ name: `total ${total}`, pages: [{ total, list: items }] })),
    ];
    const quiet: string[] = [];
    for (const variant of variants) {
      answers.pages = variant.pages;
      const got = await list().catch((err: unknown) => err);
      if (got instanceof Error) {
        if ((got as { code?: string }).code !== 'EXCHANGE_BAD_RESPONSE') quiet.push(`${variant.name}: ${String(got)}`);
        continue;
      }
      const keys = got as typeof expected;
      const changed =
        keys.length !== expected.length ||
        expected.some((e, i) => {
          const k = keys[i]!;
          if (k.apiKey !== e.apiKey || k.label !== e.label) return true;
          return e.scopes.some((s) => !k.scopes.includes(s));
        });
      if (changed) quiet.push(variant.name);
    }
    expect(quiet).toEqual([]);
    expect(variants.length).toBeGreaterThan(100);
  });
});
