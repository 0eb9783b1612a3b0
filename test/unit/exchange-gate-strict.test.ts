/**
 * Gate answers are parsed against their documented shape (https://www.gate.io/docs/developers/apiv4/en/: account detail,
 * the main account's keys, the sub-account key endpoints, open orders): an answer of any other shape is an
 * EXCHANGE_BAD_RESPONSE, never a key with fewer permissions and never a shorter listing. A fuzz of every field of the
 * fixtures and of single-fault keys: no mutation of an unsafe key passes, no mutation crashes, and no mutation of a
 * listing, a create answer or an order list changes what keyctl reads from it without an error.
 *
 * ccxt is replaced by a client answering from fixtures, so the real adapter (inspect, listKeys, createKey) runs.
 */
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient } from '../../src/exchanges/ccxt.js';
import { adapter as gateAdapter, capabilities as gateCaps } from '../../src/exchanges/gate/adapter.js';
import { parseGateOpenOrders } from '../../src/exchanges/gate/trading.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import type { KeyTarget } from '../../src/domain/policy.js';
import type { ExchangeAccount, ListedKey } from '../../src/exchanges/types.js';
import { duplicatedEntries, fieldMutations, PROTOTYPE_NAMES, sameTypeMutations, type Answer } from '../helpers/fuzz.js';

vi.mock('../../src/exchanges/ccxt.js', async (importOriginal) => ({
  ...(await importOriginal<Record<string, unknown>>()),
  createClient: vi.fn(),
}));

const NOW = Date.parse('2025-06-01T00:00:00Z');
const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/exchanges/gate/${name}.json`, import.meta.url), 'utf8'));

const ACCOUNT: ExchangeAccount = { name: 'main', exchange: 'gate' };
const KEY = { apiKey: 'FAKE-gate-bot-0001', secret: 'FAKE-gate-secret-0001' };
const MASTER_KEY = { apiKey: 'FAKEc0ffee01-gate-master', secret: 'FAKE-gate-secret-0000' };
const SUB = '20001';
const BOT: KeyTarget = { kind: 'bot', scopes: ['spot:trade', 'margin:trade', 'futures:trade'], ips: ['203.0.113.10'], subaccount: SUB };
const MASTER: KeyTarget = { kind: 'master', exchange: 'gate', masterScopes: gateCaps.masterScopes };

/** What the fake ccxt client answers, by implicit method name. */
let answers: Record<string, unknown> = {};
beforeEach(() => {
  answers = {};
  vi.mocked(createClient).mockImplementation(async () => ({
    exchange: 'gate',
    call: async (method: string) => {
      if (!(method in answers)) throw new Error(`unexpected call ${method}`);
      return structuredClone(answers[method]);
    },
    request: async () => {
      throw new Error('unexpected request');
    },
  }));
});

const detailClean = fixture('account-detail-sub-clean') as Answer;
const listing = fixture('sub-account-keys-list') as Answer[];
const cleanEntry = listing[0]!;

/** inspectKey over the real adapter: the path verify, import and rotation take. */
async function checkBot(detail: unknown, keys: unknown) {
  answers = { privateAccountGetDetail: detail, privateSubAccountsGetSubAccountsUserIdKeys: keys };
  return inspectKey({ adapter: gateAdapter, account: ACCOUNT, credentials: KEY, target: BOT, master: MASTER_KEY, options: { now: NOW } });
}
async function checkMaster(detail: unknown, mainKeys: unknown) {
  answers = { privateAccountGetDetail: detail, privateAccountGetMainKeys: mainKeys };
  return inspectKey({ adapter: gateAdapter, account: ACCOUNT, credentials: MASTER_KEY, target: MASTER, options: { now: NOW } });
}
const codesOf = async (p: Promise<{ violations: Array<{ code: string }> }>) => (await p).violations.map((v) => v.code);

/** Every mutation of one object: each field dropped, renamed, retyped, and the same-type oddities. */
const mutationsOf = (answer: Answer, times: readonly string[] = []) => [...fieldMutations(answer), ...sameTypeMutations(answer, { times })];

/** Every mutation of a `perms` list: each entry's fields, entries dropped or doubled, names that are prototype members. */
function permsMutations(perms: Answer[]): Array<{ name: string; perms: unknown }> {
  const out: Array<{ name: string; perms: unknown }> = [];
  perms.forEach((p, i) => {
    for (const m of fieldMutations(p)) out.push({ name: `perm ${i}: ${m.name}`, perms: perms.map((q, j) => (j === i ? m.answer : q)) });
    out.push({ name: `perm ${i} retyped`, perms: perms.map((q, j) => (j === i ? JSON.stringify(q) : q)) });
  });
  for (const name of PROTOTYPE_NAMES) out.push({ name: `perm named ${name}`, perms: [...perms, { name, read_only: false }] });
  out.push({ name: 'perms retyped', perms: JSON.stringify(perms) });
  return out;
}

/** Every mutation of a listing entry, and of the listing around it. */
function listingMutations(keys: Answer[], index = 0): Array<{ name: string; keys: unknown }> {
  const entry = keys[index]!;
  const put = (e: unknown) => keys.map((k, j) => (j === index ? e : k));
  const out: Array<{ name: string; keys: unknown }> = [
    ...mutationsOf(entry, ['created_at']).map((m) => ({ name: m.name, keys: put(m.answer) })),
    ...permsMutations(entry.perms as Answer[]).map((m) => ({ name: m.name, keys: put({ ...entry, perms: m.perms }) })),
    { name: 'entry retyped', keys: put(JSON.stringify(entry)) },
    { name: 'listing an object', keys: { data: keys } },
    { name: 'listing null', keys: null },
  ];
  for (const d of duplicatedEntries(keys)) out.push({ name: d.name, keys: d.list });
  return out;
}

describe('gate: fuzzing bot-key inspection (account detail + the master listing)', () => {
  // Keys with exactly one thing wrong, so that misreading the one field that shows it would make them pass.
  const singleFault: Record<string, { detail: Answer; entry: Answer }> = {
    'withdraw only': {
      detail: detailClean,
      entry: { ...cleanEntry, perms: [...(cleanEntry.perms as Answer[]), { name: 'wallet', read_only: false }] },
    },
    'unknown permission only': {
      detail: detailClean,
      entry: { ...cleanEntry, perms: [...(cleanEntry.perms as Answer[]), { name: 'staking', read_only: true }] },
    },
    'read-only only': {
      detail: detailClean,
      entry: {
        ...cleanEntry,
        perms: [
          { name: 'spot', read_only: true },
          { name: 'futures', read_only: true },
        ],
      },
    },
    'no IP lock only': { detail: { ...detailClean, ip_whitelist: [] }, entry: { ...cleanEntry, ip_whitelist: [] } },
    'open CIDR only': { detail: { ...detailClean, ip_whitelist: ['0.0.0.0/0'] }, entry: { ...cleanEntry, ip_whitelist: ['0.0.0.0/0'] } },
    'foreign IP only': {
      detail: { ...detailClean, ip_whitelist: ['198.51.100.99'] },
      entry: { ...cleanEntry, ip_whitelist: ['198.51.100.99'] },
    },
    'other sub-account only': { detail: { ...detailClean, user_id: 20002 }, entry: { ...cleanEntry, user_id: 20002 } },
  };

  it('reads the clean key as clean (the baseline), and each single fault as unsafe', async () => {
    expect(await codesOf(checkBot(detailClean, listing))).toEqual([]);
    for (const [name, f] of Object.entries(singleFault)) {
      expect(await codesOf(checkBot(f.detail, [f.entry, ...listing.slice(1)])), name).not.toEqual([]);
    }
  });

  it.each(Object.keys(singleFault))('no mutation of the detail or the listing of the unsafe key "%s" passes', async (name) => {
    const f = singleFault[name]!;
    const keys = [f.entry, ...listing.slice(1)];
    const passed: string[] = [];
    for (const m of mutationsOf(f.detail)) if ((await codesOf(checkBot(m.answer, keys))).length === 0) passed.push(`detail ${m.name}`);
    const all = listingMutations(keys);
    for (const m of all) if ((await codesOf(checkBot(f.detail, m.keys))).length === 0) passed.push(`listing ${m.name}`);
    expect(passed).toEqual([]);
    expect(all.length).toBeGreaterThan(80);
  });

  it('no mutation of the clean key crashes an inspection: each is violations or a pass', async () => {
    const results = [
      ...mutationsOf(detailClean).map((m) => checkBot(m.answer, listing)),
      ...listingMutations(listing).map((m) => checkBot(detailClean, m.keys)),
    ];
    for (const r of results) expect(await r.catch((err: unknown) => ({ crashed: String(err) }))).toHaveProperty('violations');
  });

  it('a key its sub-account listing does not hold, or whose allowlist the two answers disagree on, is EXCHANGE_BAD_RESPONSE', async () => {
    const elsewhere = listing.map((k) => ({ ...k, key: `${String(k.key)}-OTHER` }));
    expect(await codesOf(checkBot(detailClean, elsewhere))).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(await codesOf(checkBot({ ...detailClean, ip_whitelist: ['203.0.113.10', '198.51.100.7'] }, listing))).toEqual([
      'EXCHANGE_BAD_RESPONSE',
    ]);
  });
});

describe('gate: fuzzing master-key inspection (account detail + the masked main keys)', () => {
  const detail = fixture('account-detail-master-clean') as Answer;
  const mainKeys = fixture('main-keys-master-clean') as Answer[];
  const withdraw = fixture('main-keys-master-withdraw') as Answer[];

  it('reads the clean master as clean and the wallet master as unsafe (the baselines)', async () => {
    expect(await codesOf(checkMaster(detail, mainKeys))).toEqual([]);
    expect(await codesOf(checkMaster(detail, withdraw))).toEqual(['WITHDRAW_ENABLED']);
  });

  it('no mutation of the wallet master passes, and none of the clean one crashes', async () => {
    const passed: string[] = [];
    for (const m of mutationsOf(detail)) if ((await codesOf(checkMaster(m.answer, withdraw))).length === 0) passed.push(`detail ${m.name}`);
    const all = listingMutations(withdraw);
    for (const m of all) if ((await codesOf(checkMaster(detail, m.keys))).length === 0) passed.push(`main keys ${m.name}`);
    expect(passed).toEqual([]);
    for (const m of listingMutations(mainKeys)) {
      expect(await checkMaster(detail, m.keys).catch((err: unknown) => ({ crashed: `${m.name}: ${String(err)}` }))).toHaveProperty(
        'violations',
      );
    }
  });

  it('a masked key that matches no entry, or several, is EXCHANGE_BAD_RESPONSE, never the first one taken', async () => {
    const [mine, other] = mainKeys;
    expect(await codesOf(checkMaster(detail, [other]))).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(await codesOf(checkMaster(detail, [mine, { ...other, key: 'FAKEc0ffee01*****' }]))).toEqual(['EXCHANGE_BAD_RESPONSE']);
    // A mask too short to tell keys apart, or all stars, matches nothing.
    expect(await codesOf(checkMaster(detail, [{ ...mine, key: 'FAKE*****' }]))).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(await codesOf(checkMaster(detail, [{ ...mine, key: '*****' }]))).toEqual(['EXCHANGE_BAD_RESPONSE']);
  });
});

describe('gate: listing and creating sub-account keys', () => {
  const listKeys = (keys: unknown): Promise<ListedKey[]> => {
    answers = { privateSubAccountsGetSubAccountsUserIdKeys: keys };
    return gateAdapter.listKeys({ account: ACCOUNT, master: MASTER_KEY, subaccount: SUB });
  };
  const createKey = (created: unknown) => {
    answers = { privateSubAccountsPostSubAccountsUserIdKeys: created };
    return gateAdapter.createKey({
      account: ACCOUNT,
      master: MASTER_KEY,
      subaccount: SUB,
      scopes: ['spot:trade', 'margin:trade', 'futures:trade'],
      ips: ['203.0.113.10'],
      label: 'keyctl-alpha-arb1-rot-02',
    });
  };

  it('reads the documented listing, and an empty one as no key', async () => {
    const keys = await listKeys(listing);
    expect(keys.map((k) => [k.apiKey, k.label, k.ips])).toEqual([
      ['FAKE-gate-bot-0001', 'keyctl-alpha-arb1-rot-01', ['203.0.113.10']],
      ['FAKE-gate-bot-0002', 'made by hand', 'unrestricted'],
      ['FAKE-gate-bot-0003', 'watcher', ['198.51.100.7', '203.0.113.10']],
    ]);
    expect(keys[1]!.scopes).toEqual(['read', 'spot:trade', 'margin:trade', 'withdraw', 'unknown:earn', 'unknown:staking']);
    expect(keys[0]!.createdAt).toBe('2025-06-01T00:00:00.000Z');
    expect(await listKeys([])).toEqual([]);
  });

  it('no mutation of the listing changes what listKeys reads without an error', async () => {
    const baseline = JSON.stringify(await listKeys(listing));
    const changed: string[] = [];
    // (A permission named like a prototype member is an unknown permission: the scope tests cover it.)
    const mutations = [0, 1, 2].flatMap((i) => listingMutations(listing, i).map((m) => ({ ...m, name: `entry ${i}: ${m.name}` })));
    for (const m of mutations.filter((m) => !/perm named /.test(m.name))) {
      const outcome = await listKeys(m.keys).then(
        (keys) => JSON.stringify(keys),
        (err: unknown) => (err instanceof Error && 'code' in err ? String(err.code) : `crashed: ${String(err)}`),
      );
      if (outcome !== 'EXCHANGE_BAD_RESPONSE' && outcome !== baseline) changed.push(m.name);
    }
    // A listing without created_at is tolerated (the docs do not promise it): the key is read without a creation time.
    expect(changed).toEqual([0, 1, 2].flatMap((i) => [`entry ${i}: drop created_at`, `entry ${i}: rename created_at`]));
  });

  it('reads the create answer, and no mutation of it yields other credentials than it holds', async () => {
    const created = fixture('sub-account-key-create') as Answer;
    expect(await createKey(created)).toEqual({ apiKey: 'FAKE-gate-bot-0004', secret: 'FAKE-gate-secret-0004' });
    const wrong: string[] = [];
    for (const m of mutationsOf(created)) {
      const outcome = await createKey(m.answer).then(
        (k) => (k.apiKey === created.key && k.secret === created.secret ? 'same' : 'other'),
        (err: unknown) => (err instanceof Error && 'code' in err ? String(err.code) : `crashed: ${String(err)}`),
      );
      if (outcome !== 'same' && outcome !== 'EXCHANGE_BAD_RESPONSE') wrong.push(`${m.name}: ${outcome}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('gate: open orders (the kill switch)', () => {
  const order = { id: '12345', currency_pair: 'BTC_USDT', account: 'spot', side: 'sell', left: '0.5', amount: '0.5', status: 'open' };
  const answer = [{ currency_pair: 'BTC_USDT', total: 1, orders: [order] }];

  it('reads the documented shape', () => {
    expect(parseGateOpenOrders(answer, 'spot')).toEqual([{ id: '12345', symbol: 'BTC_USDT', market: 'spot', side: 'sell', qty: '0.5' }]);
    expect(parseGateOpenOrders([], 'margin')).toEqual([]);
  });

  it('no mutation of an order or its pair yields another reading without an error', () => {
    const baseline = JSON.stringify(parseGateOpenOrders(answer, 'spot'));
    const changed: string[] = [];
    const variants = [
      ...mutationsOf(order).map((m) => ({ name: `order ${m.name}`, a: [{ ...answer[0]!, orders: [m.answer] }] })),
      ...mutationsOf(answer[0]!).map((m) => ({ name: `pair ${m.name}`, a: [m.answer] })),
      { name: 'total larger than the page', a: [{ ...answer[0]!, total: 2 }] },
      { name: 'an order of another pair', a: [{ ...answer[0]!, orders: [{ ...order, currency_pair: 'ETH_USDT' }] }] },
      { name: 'an order of another account', a: [{ ...answer[0]!, orders: [{ ...order, account: 'margin' }] }] },
    ];
    for (const v of variants) {
      let outcome: string;
      try {
        outcome = JSON.stringify(parseGateOpenOrders(v.a, 'spot'));
      } catch (err) {
        outcome = err instanceof Error && 'code' in err ? String(err.code) : `crashed: ${String(err)}`;
      }
      if (outcome !== 'EXCHANGE_BAD_RESPONSE' && outcome !== baseline) changed.push(v.name);
    }
    expect(changed).toEqual([]);
  });
});

describe('gate: kill --read-only reads the key before and after the update', () => {
  const makeReadOnly = (entry: unknown) => {
    answers = { privateSubAccountsGetSubAccountsUserIdKeysKey: entry, privateSubAccountsPutSubAccountsUserIdKeysKey: '' };
    return gateAdapter.makeReadOnly!({ account: ACCOUNT, master: MASTER_KEY, subaccount: SUB, apiKey: KEY.apiKey });
  };
  const readOnlyEntry = { ...cleanEntry, perms: (cleanEntry.perms as Answer[]).map((p) => ({ ...p, read_only: true })) };

  it('accepts a key that reads back read-only', async () => {
    await expect(makeReadOnly(readOnlyEntry)).resolves.toBeUndefined();
  });

  it('refuses a key that still writes after the update, an answer about another key or sub-account, or of another shape', async () => {
    for (const entry of [
      cleanEntry,
      { ...readOnlyEntry, key: 'FAKE-gate-bot-0009' },
      { ...readOnlyEntry, user_id: 20002 },
      { ...readOnlyEntry, perms: 'spot' },
      [readOnlyEntry],
    ]) {
      await expect(makeReadOnly(entry)).rejects.toMatchObject({ code: 'EXCHANGE_BAD_RESPONSE' });
    }
  });
});
