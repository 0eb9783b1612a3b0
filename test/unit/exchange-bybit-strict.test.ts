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
import { crashing, fieldMutations, passing, retypes } from '../helpers/fuzz.js';

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

/** inspectKey over an adapter whose query-api answer is `answer`: the path verify, import and rotation take. */
async function check(answer: unknown, target: KeyTarget) {
  const adapter: ExchangeAdapter = { ...bybitAdapter, inspect: async () => parseBybitKey(answer, NOW) };
  return inspectKey({
    adapter,
    account: { id: 'main', exchange: 'bybit', options: {} } as never,
    credentials: { apiKey: 'FAKE-bybit-key-0001', secret: 'FAKE-bybit-secret-0001' },
    target,
    options: { now: NOW },
  });
}
const codes = async (answer: unknown, target: KeyTarget) => (await check(answer, target)).violations.map((v) => v.code);

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
    expect(await codes(base, target)).not.toEqual([]);
    const all = mutations(base);
    expect(await passing(all, (a) => codes(a, target))).toEqual([]);
    expect(all.length).toBeGreaterThan(150);
  });

  it.each([
    ['query-api-sub-clean', BOT],
    ['query-api-master-clean', MASTER],
    ['query-api-sub-readonly', BOT],
  ] as Array<[string, KeyTarget]>)('no mutation of %s crashes: each is violations or a pass', async (name, target) => {
    expect(await crashing(mutations(fixture(name)), (a) => check(a, target))).toEqual([]);
  });
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
});
