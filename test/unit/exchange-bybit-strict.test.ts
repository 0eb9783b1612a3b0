/**
 * Bybit answers are parsed against their documented shape (https://bybit-exchange.github.io/docs/v5/user/apikey-info):
 * an answer of any other shape is an EXCHANGE_BAD_RESPONSE violation, never a key with fewer permissions. The review's
 * five malformed query-api answers that used to pass `keyctl verify`, then a fuzz of every field of every fixture: no
 * mutation of an unsafe key passes, and no mutation of any key crashes (every outcome is violations or a pass).
 */
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  capabilities as bybitCaps,
  adapter as bybitAdapter,
  bybitPermissionsFor,
  parseBybitKey,
} from '../../src/exchanges/bybit/adapter.js';
import { createClient } from '../../src/exchanges/ccxt.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import type { KeyTarget } from '../../src/domain/policy.js';
import type { ExchangeAccount, ExchangeAdapter } from '../../src/exchanges/types.js';
import { caught } from '../helpers/caught.js';
import {
  crashing,
  duplicatedEntries,
  fieldMutations,
  passing,
  PROTOTYPE_NAMES,
  retypes,
  sameTypeMutations,
  withField,
} from '../helpers/fuzz.js';

// The listing and create tests run the real adapter over a fake ccxt client (the inspection tests need no client).
vi.mock('../../src/exchanges/ccxt.js', async (importOriginal) => ({
  ...(await importOriginal<Record<string, unknown>>()),
  createClient: vi.fn(),
}));

const NOW = Date.parse('2025-06-01T00:00:00Z');
type Answer = Record<string, unknown>;
const fixture = (name: string): Answer =>
  (JSON.parse(readFileSync(new URL(`../fixtures/exchanges/bybit/${name}.json`, import.meta.url), 'utf8')) as { result: Answer }).result;

const BOT: KeyTarget = {
  kind: 'bot',
  scopes: ['spot:trade', 'futures:trade'],
  ips: ['203.0.113.10', '203.0.113.11'],
  subaccount: '24600001',
};
const MASTER: KeyTarget = { kind: 'master', exchange: 'bybit', masterScopes: bybitCaps.masterScopes };
/** A spot-only slot: the slot a unified account's automatic Derivatives permission must neither fail nor fool. */
const SPOT_BOT: KeyTarget = { ...BOT, scopes: ['read', 'spot:trade'] };

/**
 * inspectKey over an adapter whose query-api answer is `answer`: the path verify, import and rotation take. `asked` is
 * the key asked about (the fuzz passes its base fixture's), so an answer about another key shows.
 */
async function check(answer: unknown, target: KeyTarget, asked?: string) {
  const adapter: ExchangeAdapter = { ...bybitAdapter, inspect: async () => parseBybitKey(answer, NOW, asked) };
  return inspectKey({
    adapter,
    account: { id: 'main', exchange: 'bybit', options: {} } as never,
    credentials: { apiKey: 'FAKE-bybit-key-0001', secret: 'FAKE-bybit-secret-0001' },
    target,
    options: { now: NOW },
  });
}
const codes = async (answer: unknown, target: KeyTarget, asked?: string) =>
  (await check(answer, target, asked)).violations.map((v) => v.code);

describe('bybit: the malformed answers that used to pass', () => {
  // A withdraw-capable sub-account key, IP-locked to the bot's address, in the right sub-account: the only thing wrong
  // with it is the Withdraw permission, so the only thing that can stop it is reading `permissions` correctly.
  const withdrawing = { ...fixture('query-api-sub-clean'), permissions: { Spot: ['SpotTrade'], Wallet: ['Withdraw'] } };

  it('reads the well-formed answer as WITHDRAW_ENABLED (the baseline of the cases below)', async () => {
    expect(await codes(withdrawing, BOT)).toContain('WITHDRAW_ENABLED');
  });

  it.each([
    ['a permission group as a string', { ...withdrawing, permissions: { Spot: ['SpotTrade'], Wallet: 'Withdraw' } }],
    ['permissions: null', { ...withdrawing, permissions: null }],
    ['permissions as a comma string', { ...withdrawing, permissions: 'SpotTrade,Withdraw' }],
    ['a group as an object', { ...withdrawing, permissions: { Spot: ['SpotTrade'], Wallet: { 0: 'Withdraw' } } }],
    ['readOnly: "maybe"', { ...withdrawing, readOnly: 'maybe' }],
    ['permissions missing', (({ permissions: _p, ...rest }) => rest)(withdrawing)],
    ['an IP list that is not addresses', { ...withdrawing, ips: ['203.0.113.10', 'anywhere'] }],
    ['the whole result missing', undefined],
  ])('%s: EXCHANGE_BAD_RESPONSE, not a pass', async (_name, answer) => {
    const result = await check(answer, BOT);
    expect(result.violations.map((v) => v.code)).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(result.violations[0]!.detail).toMatch(/bybit answered query-api in a shape keyctl does not know/);
    // The detail names fields, never values (an answer may carry a secret).
    expect(result.violations[0]!.detail).not.toContain('Withdraw');
  });

  it('parseBybitKey itself throws a typed EXCHANGE_BAD_RESPONSE (exit 5 where no policy applies)', async () => {
    const err = await caught(Promise.resolve().then(() => parseBybitKey({ ...withdrawing, permissions: null }, NOW)));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('stays tolerant where the docs allow: unknown fields, and the expiry fields absent or sentinel on IP-bound keys', async () => {
    const clean = fixture('query-api-sub-clean');
    const { deadlineDay: _d, expiredAt: _e, ...noExpiry } = clean;
    expect(await codes({ ...clean, somethingNew: { nested: [1, 2] } }, BOT)).toEqual([]);
    expect(await codes(noExpiry, BOT)).toEqual([]);
    expect(await codes({ ...clean, deadlineDay: -1, expiredAt: '' }, BOT)).toEqual([]);
    // An unknown permission name stays UNKNOWN_PERMISSION, not a bad answer.
    expect(await codes({ ...clean, permissions: { ...(clean.permissions as Answer), Moon: ['Land'] } }, BOT)).toEqual([
      'UNKNOWN_PERMISSION',
    ]);
  });
});

/** Every mutation of an answer: each field dropped, retyped, renamed; each permission group likewise; extra groups. */
function mutations(answer: Answer): Array<{ name: string; answer: Answer }> {
  const out: Array<{ name: string; answer: Answer }> = [];
  out.push(...fieldMutations(answer));
  const permissions = answer.permissions as Record<string, unknown>;
  for (const [group, names] of Object.entries(permissions)) {
    const { [group]: _g, ...others } = permissions;
    retypes(names).forEach((r, i) =>
      out.push({ name: `retype permissions.${group} #${i}`, answer: { ...answer, permissions: { ...others, [group]: r } } }),
    );
    out.push({ name: `rename permissions.${group}`, answer: { ...answer, permissions: { ...others, [group.toLowerCase()]: names } } });
  }
  for (const extra of [['Withdraw'], 'Withdraw', { Withdraw: true }, null]) {
    out.push({ name: `extra group ${JSON.stringify(extra)}`, answer: { ...answer, permissions: { ...permissions, NewGroup: extra } } });
  }
  const ips = answer.ips as unknown[];
  for (const bad of [[...ips, 7], [...ips, 'not-an-ip'], [...ips, null], [ips], ips.join(',')]) {
    out.push({ name: `ips ${JSON.stringify(bad)}`, answer: { ...answer, ips: bad } });
  }
  // "Anywhere" in other spellings, and ranges too wide to lock a key: each must read as no IP lock.
  for (const wide of [
    '0.0.0.0/00',
    '::0/0',
    '0::/0',
    '0:0:0:0:0:0:0:0/0',
    '1.2.3.4/0',
    '::ffff:0.0.0.0/0',
    '10.0.0.0/8',
    '2001:db8::/32',
  ]) {
    out.push({ name: `ips + ${wide}`, answer: { ...answer, ips: [...ips, wide] } });
  }
  out.push(...sameTypeMutations(answer, { times: ['expiredAt', 'createdAt'] }));
  out.push({ name: 'deadlineDay = 0', answer: { ...answer, deadlineDay: 0 } });
  // Groups and permission names that are members of Object.prototype, or that valibot drops.
  for (const name of PROTOTYPE_NAMES) {
    out.push({ name: `group ${name}`, answer: { ...answer, permissions: withField(permissions, name, ['SpotTrade']) } });
    out.push({ name: `group ${name} (Withdraw)`, answer: { ...answer, permissions: withField(permissions, name, ['Withdraw']) } });
    out.push({ name: `Spot name ${name}`, answer: { ...answer, permissions: { ...permissions, Spot: [name] } } });
    out.push({ name: `Wallet name ${name}`, answer: { ...answer, permissions: { ...permissions, Wallet: ['Withdraw', name] } } });
  }
  return out;
}

describe('bybit: fuzzing query-api answers', () => {
  // Keys with exactly one thing wrong, so that misreading the one field that shows it would make them pass.
  const clean = fixture('query-api-sub-clean');
  const singleFault: Record<string, Answer> = {
    'withdraw only': { ...clean, permissions: { ...(clean.permissions as object), Wallet: ['Withdraw'] } },
    'transfer only': { ...clean, permissions: { ...(clean.permissions as object), Wallet: ['AccountTransfer'] } },
    'no IP lock only': { ...clean, ips: ['*'] },
    'foreign IP only': { ...clean, ips: ['198.51.100.99'] },
    'other sub-account only': { ...clean, userID: 24600999 },
    'master key only': { ...clean, isMaster: true },
  };
  const unsafe: Array<[string, KeyTarget]> = [
    ...Object.keys(singleFault).map((k): [string, KeyTarget] => [k, BOT]),
    ['query-api-sub-no-ip', BOT],
    ['query-api-sub-extra', BOT],
    ['query-api-doc-example', BOT],
    ['query-api-master-withdraw', MASTER],
    ['query-api-master-clean', BOT], // a master key where a bot key belongs
  ];
  it.each(unsafe)('no mutation of the unsafe key "%s" passes', async (name, target) => {
    const base = singleFault[name] ?? fixture(name);
    const asked = String(base.apiKey);
    expect(await codes(base, target, asked)).not.toEqual([]);
    const all = mutations(base);
    expect(await passing(all, (a) => codes(a, target, asked))).toEqual([]);
    expect(all.length).toBeGreaterThan(300);
  });

  it.each([
    ['query-api-sub-clean', BOT],
    ['query-api-master-clean', MASTER],
    ['query-api-sub-readonly', BOT],
    ['query-api-sub-no-ip', BOT],
  ] as Array<[string, KeyTarget]>)('no mutation of %s crashes: each is violations or a pass', async (name, target) => {
    const base = fixture(name);
    expect(await crashing(mutations(base), (a) => check(a, target, String(base.apiKey)))).toEqual([]);
  });

  it('no same-type or prototype-named mutation of a clean key passes but the harmless ones', async () => {
    // A clean key: only a mutation that changes no fact about it (a field keyctl ignores, a sentinel) may still pass.
    const clean = fixture('query-api-sub-clean');
    const passed = await passing(mutations(clean), (a) => codes(a, BOT, String(clean.apiKey)));
    const harmless =
      /^(extra field|type = |retype (id|secret|type|parentUid|note|createdAt)|drop (id|secret|type|parentUid|note|createdAt|deadlineDay|expiredAt|apiKey)|rename (id|secret|type|parentUid|note|createdAt|deadlineDay|expiredAt|apiKey)|retype (deadlineDay|expiredAt) #|retype permissions\.(Wallet|Options|Derivatives|CopyTrading|BlockTrade|Exchange|NFT|Affiliate|Earn) |rename permissions\.(Wallet|Options|Derivatives|CopyTrading|BlockTrade|Exchange|NFT|Affiliate|Earn)$)/;
    expect(passed.filter((name) => !harmless.test(name))).toEqual([]);
  });
});

describe('bybit: expiry fields (https://bybit-exchange.github.io/docs/v5/user/apikey-info)', () => {
  const clean = fixture('query-api-sub-clean');
  const DAY = 86_400_000;

  it.each(['soon', '2025-13-45', '2025-02-30T00:00:00Z', ' 2025-06-04T00:00:00Z', '99999999999999999999', '9999-12-31T00:00:00Z'])(
    'expiredAt %j is EXCHANGE_BAD_RESPONSE, never "no expiry"',
    async (expiredAt) => {
      expect(await codes({ ...clean, expiredAt }, BOT)).toEqual(['EXCHANGE_BAD_RESPONSE']);
    },
  );

  it.each([-2, -90, 100_000_001, 1e9])('deadlineDay %j is EXCHANGE_BAD_RESPONSE, never a crash or "no expiry"', async (deadlineDay) => {
    expect(await codes({ ...clean, deadlineDay }, BOT)).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(await codes({ ...clean, deadlineDay, expiredAt: '2030-01-01T00:00:00Z' }, BOT)).toEqual(['EXCHANGE_BAD_RESPONSE']);
  });

  it('reads deadlineDay 0 as expiring now, and takes the earlier of expiredAt and deadlineDay', async () => {
    expect(await codes({ ...clean, deadlineDay: 0 }, BOT)).toEqual(['EXPIRING']);
    const farWithDeadline = { ...clean, expiredAt: '2030-01-01T00:00:00Z', deadlineDay: 3 };
    expect(parseBybitKey(farWithDeadline, NOW).expiresAt).toBe(new Date(NOW + 3 * DAY).toISOString());
    expect(await codes(farWithDeadline, BOT)).toEqual(['EXPIRING']);
    const soonWithFarDeadline = { ...clean, expiredAt: '2025-06-03T00:00:00Z', deadlineDay: 80 };
    expect(parseBybitKey(soonWithFarDeadline, NOW).expiresAt).toBe('2025-06-03T00:00:00.000Z');
  });

  it('keeps the documented sentinels and forms: -1 and "", ISO times with Z, digits as epoch', async () => {
    expect(await codes({ ...clean, deadlineDay: -1, expiredAt: '' }, BOT)).toEqual([]);
    expect(await codes({ ...clean, deadlineDay: 40, expiredAt: '2025-07-11T00:00:00Z' }, BOT)).toEqual([]);
    expect(parseBybitKey({ ...clean, expiredAt: String(NOW + 40 * DAY) }, NOW).expiresAt).toBe(new Date(NOW + 40 * DAY).toISOString());
    expect(await codes({ ...clean, createdAt: 'yesterday' }, BOT)).toEqual(['EXCHANGE_BAD_RESPONSE']);
  });
});

describe('bybit: a read-only key holding Wallet permissions', () => {
  const readOnly = fixture('query-api-sub-readonly');
  const READ_SLOT: KeyTarget = { ...BOT, scopes: ['read'] };

  it('passes the documented read-only key: its trade groups say what it reads', async () => {
    expect(await codes(readOnly, READ_SLOT)).toEqual([]);
  });

  it('keeps Withdraw and transfers on a readOnly: 1 key, so the policy flags them', async () => {
    const wallet = { ...readOnly, permissions: { Wallet: ['Withdraw', 'AccountTransfer'] } };
    expect(parseBybitKey(wallet, NOW).scopes).toEqual(['read', 'withdraw', 'transfer']);
    expect((await codes(wallet, READ_SLOT)).sort()).toEqual(['TRANSFER_ENABLED', 'WITHDRAW_ENABLED']);
  });
});

describe('bybit: names of Object.prototype members and names valibot drops', () => {
  const clean = fixture('query-api-sub-clean');
  const permissions = clean.permissions as Answer;

  it.each(['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'])(
    'a permission named %s is UNKNOWN_PERMISSION, in a known group or an unknown one',
    async (name) => {
      expect(await codes({ ...clean, permissions: { ...permissions, Spot: ['SpotTrade', name] } }, BOT)).toEqual(['UNKNOWN_PERMISSION']);
      expect(await codes({ ...clean, permissions: { ...permissions, Moon: [name] } }, BOT)).toEqual(['UNKNOWN_PERMISSION']);
    },
  );

  it.each(['toString', 'valueOf', 'hasOwnProperty'])('a group named %s is UNKNOWN_PERMISSION', async (group) => {
    expect(await codes({ ...clean, permissions: withField(permissions, group, ['Withdraw']) }, BOT)).toEqual(['UNKNOWN_PERMISSION']);
  });

  it.each(['__proto__', 'constructor', 'prototype'])('a group named %s (which valibot drops) is EXCHANGE_BAD_RESPONSE', async (group) => {
    const answer = JSON.parse(JSON.stringify({ ...clean, permissions: withField(permissions, group, ['Withdraw']) })) as Answer;
    expect(Object.keys(answer.permissions as object)).toContain(group);
    expect(await codes(answer, BOT)).toEqual(['EXCHANGE_BAD_RESPONSE']);
  });
});

describe('bybit: query-api about another key, and allowlists that let anyone in', () => {
  it('an answer whose apiKey is not the key asked about is EXCHANGE_BAD_RESPONSE', async () => {
    const clean = fixture('query-api-sub-clean');
    expect(await codes(clean, BOT, 'FAKE-BYBIT-SUB-CLEAN')).toEqual([]);
    expect(await codes(clean, BOT, 'FAKE-BYBIT-SOMEONE-ELSE')).toEqual(['EXCHANGE_BAD_RESPONSE']);
  });

  it.each([['0.0.0.0/00'], ['::0/0'], ['0::/0'], ['0:0:0:0:0:0:0:0/0'], ['1.2.3.4/0'], ['::ffff:0.0.0.0/0'], ['192.0.2.0/16']])(
    'a master key allowed from %s is NOT_IP_LOCKED',
    async (ip) => {
      expect(await codes({ ...fixture('query-api-master-clean'), ips: [ip] }, MASTER)).toEqual(['NOT_IP_LOCKED']);
    },
  );
});

describe('bybit: unified trading accounts (uta) and the Derivatives permission', () => {
  const clean = fixture('query-api-sub-clean');
  const spotOnly = { ...clean, permissions: { Spot: ['SpotTrade'] } };
  // What Bybit shows for a spot-only key of a unified trading account: DerivativesTrade is added to every UTA key
  // (https://bybit-exchange.github.io/docs/v5/user/apikey-info).
  const utaSpot = { ...clean, permissions: { Spot: ['SpotTrade'], Derivatives: ['DerivativesTrade'] }, uta: 1, unified: 1 };

  it('reads {"Spot":["SpotTrade"]} with unified: 1 as a spot-only key that passes a [read, spot:trade] slot', async () => {
    const answer = { ...spotOnly, unified: 1 };
    expect(parseBybitKey(answer, NOW).scopes).toEqual(['read', 'spot:trade']);
    expect(await codes(answer, SPOT_BOT)).toEqual([]);
  });

  it("passes a UTA spot-only key: DerivativesTrade is the account's marker when uta is 1", async () => {
    expect(parseBybitKey(utaSpot, NOW).scopes).toEqual(['read', 'spot:trade']);
    expect(await codes(utaSpot, SPOT_BOT)).toEqual([]);
    expect(parseBybitKey(utaSpot, NOW).native).toMatchObject({ uta: 1 });
  });

  it('fails a UTA key that can trade contracts on a spot-only slot (EXCESS_SCOPE)', async () => {
    const contracts = { ...utaSpot, permissions: { ...utaSpot.permissions, ContractTrade: ['Order', 'Position'] } };
    expect(await codes(contracts, SPOT_BOT)).toEqual(['EXCESS_SCOPE']);
    const options = { ...utaSpot, permissions: { ...utaSpot.permissions, Options: ['OptionsTrade'] } };
    expect(await codes(options, SPOT_BOT)).toEqual(['EXCESS_SCOPE']);
  });

  it.each([
    ['a classic account (uta: 0), where the docs say Derivatives is always []', { ...utaSpot, uta: 0, unified: 0 }],
    ['no uta field', (({ uta: _u, ...rest }) => rest)(utaSpot)],
    ['only the deprecated unified: 1', (({ uta: _u, ...rest }) => ({ ...rest, unified: 1 }))(utaSpot)],
  ])('reads DerivativesTrade as futures:trade on %s (the safe reading)', async (_name, answer) => {
    expect(parseBybitKey(answer, NOW).scopes).toContain('futures:trade');
    expect(await codes(answer, SPOT_BOT)).toEqual(['EXCESS_SCOPE']);
  });

  it('keeps another Derivatives name unknown on a UTA, and reads a uta that is not 0 or 1 as a bad answer', async () => {
    expect(await codes({ ...utaSpot, permissions: { Spot: ['SpotTrade'], Derivatives: ['Moon'] } }, SPOT_BOT)).toEqual([
      'UNKNOWN_PERMISSION',
    ]);
    for (const uta of ['1', true, 2, null]) expect(await codes({ ...utaSpot, uta }, SPOT_BOT)).toEqual(['EXCHANGE_BAD_RESPONSE']);
  });

  it('passes a clean UTA master key (the marker is no excess scope)', async () => {
    const master = fixture('query-api-master-clean');
    const uta = { ...master, uta: 1, permissions: { ...(master.permissions as object), Derivatives: ['DerivativesTrade'] } };
    expect(await codes(uta, MASTER)).toEqual([]);
  });

  it('no mutation of an unsafe UTA key passes a spot-only slot', async () => {
    const unsafe: Answer[] = [
      { ...utaSpot, permissions: { ...utaSpot.permissions, ContractTrade: ['Order'] } },
      { ...utaSpot, uta: 0 },
      { ...utaSpot, permissions: { ...utaSpot.permissions, Wallet: ['AccountTransfer'] } },
      { ...utaSpot, ips: ['*'] },
    ];
    for (const base of unsafe) {
      expect(await codes(base, SPOT_BOT)).not.toEqual([]);
      expect(await passing(mutations(base), (a) => codes(a, SPOT_BOT))).toEqual([]);
    }
    expect(await crashing(mutations(utaSpot), (a) => check(a, SPOT_BOT))).toEqual([]);
  });
});

const ACCOUNT: ExchangeAccount = { name: 'main', exchange: 'bybit' };
const MASTER_CREDS = { apiKey: 'FAKE-bybit-master-0001', secret: 'FAKE-bybit-secret-0000' };

describe('bybit: create-sub-api and the sub-apikeys listing through the real adapter', () => {
  /** The fake ccxt client's calls, and its answers by method (a function answers per call). */
  let calls: Array<{ method: string; params: Record<string, unknown> }> = [];
  let answer: (method: string, params: Record<string, unknown>) => unknown = () => undefined;
  beforeEach(() => {
    calls = [];
    vi.mocked(createClient).mockImplementation(async () => ({
      exchange: 'bybit',
      call: async (method: string, params: Record<string, unknown> = {}) => {
        calls.push({ method, params: structuredClone(params) });
        return structuredClone(answer(method, params));
      },
      request: async () => {
        throw new Error('unexpected request');
      },
    }));
  });
  const ok = (result: unknown) => ({ retCode: 0, retMsg: 'OK', result, retExtInfo: {}, time: NOW });
  const entry = (apiKey: string, readOnly: unknown, extra: Answer = {}) => ({
    id: '1',
    ips: ['203.0.113.10'],
    apiKey,
    note: 'keyctl-alpha-arb1-rot-01',
    status: 1,
    expiredAt: '',
    createdAt: '2025-05-01T08:00:00Z',
    type: 1,
    permissions: { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'], Wallet: [] },
    secret: '******',
    readOnly,
    deadlineDay: -1,
    flag: 'hmac',
    ...extra,
  });
  const list = () => bybitAdapter.listKeys({ account: ACCOUNT, master: MASTER_CREDS, subaccount: '24600001' });

  it('sends a non-empty permissions object for a read-only slot: Exchange ExchangeHistory, readOnly 1', async () => {
    expect(bybitPermissionsFor(['read'])).toEqual({ Exchange: ['ExchangeHistory'] });
    // What keyctl asks for a read-only key reads as `read` alone, even with readOnly lost.
    expect(parseBybitKey({ ...fixture('query-api-sub-clean'), permissions: bybitPermissionsFor(['read']) }, NOW).scopes).toEqual(['read']);
    answer = () => ok({ id: '9', apiKey: 'FAKE-bybit-new-0001', secret: 'FAKE-bybit-new-secret', readOnly: 1 });
    await bybitAdapter.createKey({
      account: ACCOUNT,
      master: MASTER_CREDS,
      subaccount: '24600001',
      scopes: ['read'],
      ips: ['203.0.113.10'],
      label: 'keyctl-alpha-arb1-rot-02',
    });
    expect(calls).toEqual([
      {
        method: 'privatePostV5UserCreateSubApi',
        params: expect.objectContaining({ readOnly: 1, permissions: { Exchange: ['ExchangeHistory'] } }) as unknown,
      },
    ]);
  });

  it('reads readOnly by its documented meaning: true is read and write, false is read only', async () => {
    answer = () => ok({ result: [entry('FAKE-RW', true), entry('FAKE-RO', false)], nextPageCursor: '' });
    const keys = await list();
    expect(keys.find((k) => k.apiKey === 'FAKE-RW')?.scopes).toEqual(['read', 'spot:trade', 'futures:trade']);
    expect(keys.find((k) => k.apiKey === 'FAKE-RO')?.scopes).toEqual(['read']);
  });

  it.each([0, 1, 'true', null, undefined])('reads readOnly %j in the listing as a bad answer, never a shorter list', async (ro) => {
    answer = () => ok({ result: [entry('FAKE-RW', true), entry('FAKE-X', ro)], nextPageCursor: '' });
    expect((await caught(list())).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('sends the cursor back exactly as Bybit gave it, and fails on a cursor that comes back or never ends', async () => {
    const token = 'offset=20/limit%2B20%25';
    answer = (_m, params) =>
      params.cursor === undefined
        ? ok({ result: [entry('FAKE-A', true)], nextPageCursor: token })
        : ok({ result: [entry('FAKE-B', true)], nextPageCursor: '' });
    expect((await list()).map((k) => k.apiKey)).toEqual(['FAKE-A', 'FAKE-B']);
    expect(calls.map((c) => c.params.cursor)).toEqual([undefined, token]);

    answer = () => ok({ result: [entry('FAKE-A', true)], nextPageCursor: token });
    const looping = await caught(list());
    expect(looping.code).toBe('EXCHANGE_BAD_RESPONSE');
    let n = 0;
    answer = () => ok({ result: [entry(`FAKE-${n}`, true)], nextPageCursor: `page-${++n}` });
    expect((await caught(list())).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it.each([
    [
      'an entry without note (the orphan sweep finds keyctl keys by it)',
      { result: [without(entry('FAKE-A', true), 'note')], nextPageCursor: '' },
    ],
    ['an entry whose note is a number', { result: [entry('FAKE-A', true, { note: 7 })], nextPageCursor: '' }],
    ['nextPageCursor missing', { result: [entry('FAKE-A', true)] }],
    ['nextPageCursor null', { result: [entry('FAKE-A', true)], nextPageCursor: null }],
    ['an empty page that still has a cursor', { result: [], nextPageCursor: 'offset=20' }],
    ['a key listed twice', { result: [entry('FAKE-A', true), entry('FAKE-A', true)], nextPageCursor: '' }],
    [
      'an entry with a group valibot drops',
      {
        result: [JSON.parse('{"apiKey":"FAKE-A","note":"x","readOnly":true,"permissions":{"__proto__":["Withdraw"]}}')],
        nextPageCursor: '',
      },
    ],
    ['an entry with a createdAt that is no time', { result: [entry('FAKE-A', true, { createdAt: 'soon' })], nextPageCursor: '' }],
  ])('a listing with %s is EXCHANGE_BAD_RESPONSE, never a key hidden from the sweep', async (_name, result) => {
    answer = () => ok(result);
    expect((await caught(list())).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('reads an empty note as no label, and an empty last page as the end', async () => {
    answer = () => ok({ result: [entry('FAKE-A', true, { note: '' })], nextPageCursor: '' });
    expect((await list())[0]).not.toHaveProperty('label');
    answer = () => ok({ result: [], nextPageCursor: '' });
    expect(await list()).toEqual([]);
  });

  it('fails on a key listed again on a later page', async () => {
    answer = (_m, params) =>
      params.cursor === undefined
        ? ok({ result: [entry('FAKE-A', true)], nextPageCursor: 'next' })
        : ok({ result: [entry('FAKE-A', true)], nextPageCursor: '' });
    expect((await caught(list())).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('no mutation of a listing hides a key or a label: each throws, or lists every key as it is', async () => {
    const items = [entry('FAKE-A', true), entry('FAKE-B', false, { note: 'manual' })];
    answer = () => ok({ result: items, nextPageCursor: '' });
    const expected = await list();
    const page = (result: unknown[]) => ({ result, nextPageCursor: '' });
    const variants = [
      ...items.flatMap((item, i) =>
        // (Another apiKey in a listing is just another key: only the exchange knows which keys it has.)
        [...fieldMutations(item), ...sameTypeMutations(item, { times: ['createdAt', 'expiredAt'] })]
          .filter((m) => m.name !== "another key's apiKey")
          .map((m) => ({
            name: `entry ${i}: ${m.name}`,
            body: page(items.map((k, j) => (j === i ? m.answer : k))),
          })),
      ),
      ...duplicatedEntries(items).map((d) => ({ name: d.name, body: page(d.list) })),
      ...fieldMutations({ result: items, nextPageCursor: '' }).map((m) => ({ name: `page: ${m.name}`, body: m.answer })),
    ];
    const quiet: string[] = [];
    for (const variant of variants) {
      answer = () => ok(variant.body);
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
          if (e.scopes.some((s) => !k.scopes.includes(s)) && !k.scopes.some((s) => s.startsWith('unknown:'))) return true;
          return k.ips !== 'unrestricted' && JSON.stringify(k.ips) !== JSON.stringify(e.ips);
        });
      if (changed) quiet.push(variant.name);
    }
    expect(quiet).toEqual([]);
    expect(variants.length).toBeGreaterThan(150);
  });

  it.each([
    ['apiKey as a number', { id: '9', apiKey: 12345, secret: 'FAKE-bybit-new-secret' }],
    ['secret as a number', { id: '9', apiKey: 'FAKE-bybit-new-0001', secret: 12345 }],
    ['secret empty', { id: '9', apiKey: 'FAKE-bybit-new-0001', secret: '' }],
    ['secret missing', { id: '9', apiKey: 'FAKE-bybit-new-0001' }],
  ])('a create answer with %s is EXCHANGE_BAD_RESPONSE that says the key may exist', async (_name, result) => {
    answer = () => ok(result);
    const err = await caught(
      bybitAdapter.createKey({
        account: ACCOUNT,
        master: MASTER_CREDS,
        subaccount: '24600001',
        scopes: ['spot:trade'],
        ips: ['203.0.113.10'],
        label: 'keyctl-alpha-arb1-rot-02',
      }),
    );
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.hint).toMatch(/may have been created/);
  });
});

describe('bybit: update-sub-api (make read-only) through the real adapter', () => {
  // Modify Sub API Key (https://bybit-exchange.github.io/docs/v5/user/modify-sub-apikey): the master lists the
  // sub-account's keys for the key's allowlist, then sends it back with readOnly 1 ("don't pass ips ... means no bind").
  let calls: Array<{ method: string; params: Record<string, unknown> }> = [];
  let updated: (params: Record<string, unknown>) => unknown = () => undefined;
  let listed: unknown[] = [];
  beforeEach(() => {
    calls = [];
    vi.mocked(createClient).mockImplementation(async () => ({
      exchange: 'bybit',
      call: async (method: string, params: Record<string, unknown> = {}) => {
        calls.push({ method, params: structuredClone(params) });
        if (method === 'privateGetV5UserSubApikeys') return structuredClone(ok({ result: listed, nextPageCursor: '' }));
        if (method === 'privatePostV5UserUpdateSubApi') return structuredClone(updated(params));
        throw new Error(`unexpected ${method}`);
      },
      request: async () => {
        throw new Error('unexpected request');
      },
    }));
  });
  const ok = (result: unknown) => ({ retCode: 0, retMsg: 'OK', result, retExtInfo: {}, time: NOW });
  const KEY = 'FAKE-bybit-bot-0001';
  const PERMS = { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'], Wallet: [] };
  const listing = (apiKey: string, ips: unknown) => ({
    id: '1',
    ...(ips !== undefined ? { ips } : {}),
    apiKey,
    note: 'keyctl-alpha-arb1-rot-01',
    status: 1,
    expiredAt: '',
    createdAt: '2025-05-01T08:00:00Z',
    type: 1,
    permissions: PERMS,
    secret: '******',
    readOnly: true,
    deadlineDay: -1,
    flag: 'hmac',
  });
  /** The documented answer: the key as it now is, read-only, its allowlist as sent. */
  const documented = (params: Record<string, unknown>): Answer => ({
    id: '16651472',
    note: 'keyctl-alpha-arb1-rot-01',
    apiKey: params.apikey,
    readOnly: 1,
    secret: '',
    permissions: { ...PERMS, Options: [], Derivatives: [], CopyTrading: [], BlockTrade: [], Exchange: [], NFT: [] },
    ips: String(params.ips).split(','),
  });
  const makeReadOnly = (apiKey = KEY) =>
    bybitAdapter.makeReadOnly!({
      account: ACCOUNT,
      master: MASTER_CREDS,
      subaccount: '24600001',
      apiKey,
      label: 'keyctl-alpha-arb1-rot-01',
    });

  it('lists the key with the master key, then sends readOnly 1 with its allowlist as listed, and no permissions', async () => {
    listed = [listing('FAKE-other', ['198.51.100.1']), listing(KEY, ['203.0.113.10', '203.0.113.11'])];
    updated = (params) => ok(documented(params));
    await makeReadOnly();
    expect(calls).toEqual([
      { method: 'privateGetV5UserSubApikeys', params: expect.objectContaining({ subMemberId: '24600001' }) as unknown },
      { method: 'privatePostV5UserUpdateSubApi', params: { apikey: KEY, readOnly: 1, ips: '203.0.113.10,203.0.113.11' } },
    ]);
    expect(vi.mocked(createClient).mock.calls.every(([, creds]) => creds === MASTER_CREDS)).toBe(true);
  });

  it('keeps an unbound key unbound ("*"), and refuses a listing without ips rather than unbinding the key', async () => {
    listed = [listing(KEY, ['*'])];
    updated = (params) => ok(documented(params));
    await makeReadOnly();
    expect(calls.at(-1)?.params.ips).toBe('*');
    calls = [];
    listed = [listing(KEY, undefined)];
    expect((await caught(makeReadOnly())).code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(calls.map((c) => c.method)).toEqual(['privateGetV5UserSubApikeys']);
  });

  it('refuses a key the declared sub-account does not list, without changing anything', async () => {
    listed = [listing('FAKE-other', ['198.51.100.1'])];
    const err = await caught(makeReadOnly());
    expect(err.code).toBe('EXCHANGE_REFUSED');
    expect(err.message).toContain('sub-account 24600001');
    // Named by fingerprint and label, never by the API key.
    expect(err.message).not.toContain(KEY);
    expect(err.message).toContain('keyctl-alpha-arb1-rot-01');
    expect(calls.map((c) => c.method)).toEqual(['privateGetV5UserSubApikeys']);
  });

  it.each([
    ['readOnly 0', (p: Record<string, unknown>) => ok({ ...documented(p), readOnly: 0 })],
    ['readOnly "1"', (p: Record<string, unknown>) => ok({ ...documented(p), readOnly: '1' })],
    ['readOnly true', (p: Record<string, unknown>) => ok({ ...documented(p), readOnly: true })],
    ['readOnly missing', (p: Record<string, unknown>) => ok(without(documented(p), 'readOnly'))],
    ['another key', (p: Record<string, unknown>) => ok({ ...documented(p), apiKey: 'FAKE-bybit-bot-0002' })],
    ['apiKey missing', (p: Record<string, unknown>) => ok(without(documented(p), 'apiKey'))],
    ['the allowlist dropped', (p: Record<string, unknown>) => ok({ ...documented(p), ips: ['*'] })],
    ['the allowlist changed', (p: Record<string, unknown>) => ok({ ...documented(p), ips: ['203.0.113.10'] })],
    ['ips missing', (p: Record<string, unknown>) => ok(without(documented(p), 'ips'))],
    ['ips as a string', (p: Record<string, unknown>) => ok({ ...documented(p), ips: String(p.ips) })],
    ['ips not addresses', (p: Record<string, unknown>) => ok({ ...documented(p), ips: ['anywhere'] })],
    ['permissions null', (p: Record<string, unknown>) => ok({ ...documented(p), permissions: null })],
    ['result missing', () => ({ retCode: 0, retMsg: 'OK', retExtInfo: {}, time: NOW })],
    ['result null', () => ({ retCode: 0, retMsg: 'OK', result: null, retExtInfo: {}, time: NOW })],
    ['retCode not 0', (p: Record<string, unknown>) => ({ ...ok(documented(p)), retCode: 10001 })],
    ['retCode missing', (p: Record<string, unknown>) => without(ok(documented(p)), 'retCode')],
    ['no answer', () => undefined],
  ])('an answer with %s is EXCHANGE_BAD_RESPONSE, never a key made read-only', async (_name, answer) => {
    listed = [listing(KEY, ['203.0.113.10', '203.0.113.11'])];
    updated = answer;
    const err = await caught(makeReadOnly());
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.message).not.toContain(KEY);
  });

  it('takes the allowlist in any order and spelling Bybit gives it back, and no fuzzed answer passes that is not read-only', async () => {
    listed = [listing(KEY, ['203.0.113.10', '203.0.113.11'])];
    updated = (p) => ok({ ...documented(p), ips: ['203.0.113.11', ' 203.0.113.10'] });
    await makeReadOnly();
    const base = documented({ apikey: KEY, ips: '203.0.113.10,203.0.113.11' });
    const quiet: string[] = [];
    const mutated = [...fieldMutations(base), ...sameTypeMutations(base)];
    expect(mutated.length).toBeGreaterThan(80);
    for (const m of mutated) {
      updated = () => ok(m.answer);
      const got = await makeReadOnly().catch((err: unknown) => err);
      const a = m.answer as Answer;
      const fine = a.readOnly === 1 && a.apiKey === KEY && JSON.stringify(a.ips) === JSON.stringify(base.ips);
      if (got === undefined && !fine) quiet.push(m.name);
      if (got !== undefined && (got as { code?: string }).code !== 'EXCHANGE_BAD_RESPONSE') quiet.push(`${m.name}: ${String(got)}`);
    }
    expect(quiet).toEqual([]);
  });
});

const without = (answer: Answer, field: string): Answer => Object.fromEntries(Object.entries(answer).filter(([k]) => k !== field));
