/**
 * OKX answers are parsed against their documented shape
 * (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-account-configuration, and the sub-account API key
 * pages for create and list): an answer of any other shape is an EXCHANGE_BAD_RESPONSE, never a key with fewer
 * permissions and never a shorter listing. The review's malformed account/config answers (a renamed `perm` passed),
 * then a fuzz of every field of every fixture and of single-fault keys: no mutation of an unsafe key passes, no mutation
 * of any key crashes, and no mutation of a listing changes what keyctl reads from it without an error.
 *
 * ccxt is replaced by a client answering from fixtures, so the real adapter (inspect, listKeys, createKey) runs.
 */
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient } from '../../src/exchanges/ccxt.js';
import { adapter as okxAdapter, capabilities as okxCaps, parseOkxConfig } from '../../src/exchanges/okx/adapter.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import type { KeyTarget } from '../../src/domain/policy.js';
import type { ExchangeAccount, ListedKey } from '../../src/exchanges/types.js';
import { caught } from '../helpers/caught.js';
import { duplicatedEntries, fieldMutations, PROTOTYPE_NAMES, prototypeTokenMutations, sameTypeMutations } from '../helpers/fuzz.js';

vi.mock('../../src/exchanges/ccxt.js', async (importOriginal) => ({
  ...(await importOriginal<Record<string, unknown>>()),
  createClient: vi.fn(),
}));

const NOW = Date.parse('2025-06-01T00:00:00Z');
type Answer = Record<string, unknown>;
const fixture = (name: string): Answer =>
  JSON.parse(readFileSync(new URL(`../fixtures/exchanges/okx/${name}.json`, import.meta.url), 'utf8')) as Answer;
/** account/config's one entry, as policy.test.ts reads the fixtures. */
const entryOf = (name: string): Answer => (fixture(name).data as Answer[])[0]!;
const wrap = (...data: unknown[]): Answer => ({ code: '0', msg: '', data });

const ACCOUNT: ExchangeAccount = { name: 'main', exchange: 'okx' };
const KEY = { apiKey: 'FAKE-okx-key-0001', secret: 'FAKE-okx-secret-0001', passphrase: 'FAKE-okx-pass-0001' };
const MASTER_KEY = { apiKey: 'FAKE-okx-master-0001', secret: 'FAKE-okx-secret-0000', passphrase: 'FAKE-okx-pass-0000' };
const SUB = 'alphaarb1';
const BOT: KeyTarget = {
  kind: 'bot',
  scopes: ['read', 'spot:trade', 'margin:trade', 'futures:trade', 'options:trade'],
  ips: ['203.0.113.10', '203.0.113.11'],
  subaccount: SUB,
};
const MASTER: KeyTarget = { kind: 'master', exchange: 'okx', masterScopes: okxCaps.masterScopes };

/** What the fake ccxt client answers, by implicit method name. */
let answers: Record<string, unknown> = {};
beforeEach(() => {
  answers = {};
  vi.mocked(createClient).mockImplementation(async () => ({
    exchange: 'okx',
    call: async (method: string) => {
      if (!(method in answers)) throw new Error(`unexpected call ${method}`);
      return structuredClone(answers[method]);
    },
    request: async () => {
      throw new Error('unexpected request');
    },
  }));
});

/**
 * inspectKey over the real adapter, account/config answering `response`: the path verify, import and rotation take.
 * With `lookup`, the master's sub-account listing answers `lookup.listing` (the owner check of a bot key).
 */
async function check(response: unknown, target: KeyTarget, lookup?: { listing: unknown }) {
  answers = { privateGetAccountConfig: response, ...(lookup ? { privateGetUsersSubaccountApikey: lookup.listing } : {}) };
  return inspectKey({
    adapter: okxAdapter,
    account: ACCOUNT,
    credentials: KEY,
    target,
    ...(lookup ? { master: MASTER_KEY } : {}),
    options: { now: NOW },
  });
}
const codes = async (response: unknown, target: KeyTarget, lookup?: { listing: unknown }) =>
  (await check(response, target, lookup)).violations.map((v) => v.code);

const listKeys = (listing: unknown): Promise<ListedKey[]> => {
  answers = { privateGetUsersSubaccountApikey: listing };
  return okxAdapter.listKeys({ account: ACCOUNT, master: MASTER_KEY, subaccount: SUB });
};
const createKey = (created: unknown) => {
  answers = { privatePostUsersSubaccountApikey: created };
  return okxAdapter.createKey({
    account: ACCOUNT,
    master: MASTER_KEY,
    subaccount: SUB,
    scopes: ['spot:trade', 'margin:trade', 'futures:trade', 'options:trade'],
    ips: ['203.0.113.10'],
    label: 'keyctl-alpha-arb1-rot-02',
  });
};

const without = (answer: Answer, field: string): Answer => Object.fromEntries(Object.entries(answer).filter(([k]) => k !== field));
const renamed = (answer: Answer, field: string, to: string): Answer => ({ ...without(answer, field), [to]: answer[field] });

describe('okx: the malformed account/config answers that used to pass', () => {
  // A withdraw-capable sub-account key, IP-locked to the bot's address: the only thing wrong with it is `withdraw`, so
  // the only thing that can stop it is reading `perm` correctly.
  const clean = entryOf('account-config-sub-clean');
  const withdrawing = { ...clean, perm: 'read_only,trade,withdraw' };
  // A main-account key with nothing else wrong, in a bot's slot: only uid/mainUid can show it is the master (and so
  // that its `trade` also manages keys).
  const masterOnly = { ...clean, uid: clean.mainUid, type: '0' };

  it('reads the well-formed answers as unsafe (the baselines of the cases below)', async () => {
    expect(await codes(wrap(withdrawing), BOT)).toEqual(['WITHDRAW_ENABLED']);
    expect(await codes(wrap(masterOnly), BOT)).toEqual(['EXCESS_SCOPE', 'WRONG_ACCOUNT']);
  });

  it.each([
    ['perm renamed to perms', wrap(renamed(withdrawing, 'perm', 'perms'))],
    ['perm missing', wrap(without(withdrawing, 'perm'))],
    ['perm: null', wrap({ ...withdrawing, perm: null })],
    ['perm: a number', wrap({ ...withdrawing, perm: 7 })],
    ['perm: an array', wrap({ ...withdrawing, perm: ['read_only', 'trade', 'withdraw'] })],
    ['perm: an empty string', wrap({ ...withdrawing, perm: '' })],
    ['perm: not a comma list of names', wrap({ ...withdrawing, perm: 'read_only trade withdraw' })],
    ['an ip that is not addresses', wrap({ ...withdrawing, ip: '203.0.113.10,anywhere' })],
    ['ip: an array', wrap({ ...withdrawing, ip: ['203.0.113.10'] })],
    ['ip missing', wrap(without(withdrawing, 'ip'))],
    ['uid: a number', wrap({ ...withdrawing, uid: 4470589234 })],
    ['a type that disagrees with the uids', wrap({ ...withdrawing, type: '0' })],
    ['mainUid missing on a master key', wrap(without(masterOnly, 'mainUid'))],
    ['mainUid: null on a master key', wrap({ ...masterOnly, mainUid: null })],
    ['uid renamed on a master key', wrap(renamed(masterOnly, 'uid', 'userId'))],
    ['the whole data missing', { code: '0', msg: '' }],
    ['data: null', { code: '0', msg: '', data: null }],
    ['data: empty', wrap()],
    ['data: two entries', wrap(withdrawing, clean)],
    ['data: the entry itself, not a list', { code: '0', msg: '', data: withdrawing }],
    ['data: [null]', wrap(null)],
    ['no answer at all', undefined],
  ])('%s: EXCHANGE_BAD_RESPONSE, not a pass', async (_name, response) => {
    const result = await check(response, BOT);
    expect(result.violations.map((v) => v.code)).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(result.violations[0]!.detail).toMatch(/okx answered account\/config in a shape keyctl does not know/);
    // The detail names fields, never values (an answer may carry a secret).
    for (const value of ['withdraw', '203.0.113', '4470589234']) expect(result.violations[0]!.detail).not.toContain(value);
  });

  it('parseOkxConfig itself throws a typed EXCHANGE_BAD_RESPONSE (exit 5 where no policy applies)', async () => {
    const err = await caught(Promise.resolve().then(() => parseOkxConfig(renamed(withdrawing, 'perm', 'perms'))));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect((await caught(Promise.resolve().then(() => parseOkxConfig(undefined)))).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('stays tolerant where the docs allow: unknown or non-verdict fields, no label, no type', async () => {
    expect(await codes(wrap({ ...clean, somethingNew: { nested: [1, 2] } }), BOT)).toEqual([]);
    expect(await codes(fixture('account-config-sub-full'), BOT)).toEqual([]);
    expect(await codes(wrap(without(clean, 'label')), BOT)).toEqual([]);
    expect(await codes(wrap({ ...clean, label: '' }), BOT)).toEqual([]);
    expect(await codes(wrap(without(clean, 'type')), BOT)).toEqual([]);
    const bare = ['acctLv', 'kycLv', 'level', 'roleType'].reduce(without, clean);
    expect(await codes(wrap(bare), BOT)).toEqual([]);
    expect(await codes(wrap({ ...clean, perm: 'trade,read_only' }), BOT)).toEqual([]);
    expect(await codes(wrap({ ...clean, ip: '203.0.113.10, 203.0.113.11' }), BOT)).toEqual([]);
    expect(await codes(fixture('account-config-master-clean'), MASTER)).toEqual([]);
    // An unknown permission name stays UNKNOWN_PERMISSION, not a bad answer; "" is the documented "no IP bound".
    expect(await codes(wrap({ ...clean, perm: 'read_only,trade,earn' }), BOT)).toEqual(['UNKNOWN_PERMISSION']);
    expect(await codes(wrap({ ...clean, ip: '' }), BOT)).toEqual(['NOT_IP_LOCKED']);
  });
});

describe('okx: the sub-account lookup during inspection', () => {
  const clean = fixture('account-config-sub-clean');
  const listing = fixture('subaccount-apikey-list');
  const entries = listing.data as Answer[];

  it('finds the key in its sub-account, or reports WRONG_ACCOUNT from a well-formed listing', async () => {
    const found = await check(clean, BOT, { listing });
    expect(found.violations).toEqual([]);
    expect(found.inspection?.owner.subaccount).toBe(SUB);
    expect(found.inspection?.createdAt).toBe('2024-06-01T00:00:00.000Z');
    expect(await codes(clean, BOT, { listing: wrap(entries[1]) })).toEqual(['WRONG_ACCOUNT']);
    expect(await codes(clean, BOT, { listing: wrap() })).toEqual(['WRONG_ACCOUNT']);
  });

  it.each([
    ['the whole data missing', { code: '0', msg: '' }],
    ['data: null', { code: '0', msg: '', data: null }],
    ['an entry without apiKey', wrap(without(entries[0]!, 'apiKey'), entries[1])],
    ['apiKey: a number', wrap({ ...entries[0], apiKey: 1 })],
    ['perm: null', wrap({ ...entries[0], perm: null })],
    ['an ip that is not addresses', wrap({ ...entries[0], ip: 'anywhere' })],
    ['label missing', wrap(without(entries[0]!, 'label'))],
  ])('%s: EXCHANGE_BAD_RESPONSE, not "the key is elsewhere"', async (_name, bad) => {
    const result = await check(clean, BOT, { listing: bad });
    expect(result.violations.map((v) => v.code)).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(result.violations[0]!.detail).toMatch(/okx answered users\/subaccount\/apikey in a shape keyctl does not know/);
  });
});

describe('okx: listing and creating sub-account keys', () => {
  const listing = fixture('subaccount-apikey-list');
  const entries = listing.data as Answer[];
  const expected: ListedKey[] = [
    {
      apiKey: 'FAKE-okx-key-0001',
      label: 'keyctl-alpha-arb1-rot-01',
      scopes: ['read', 'spot:trade', 'margin:trade', 'futures:trade', 'options:trade'],
      ips: ['203.0.113.10', '203.0.113.11'],
      createdAt: '2024-06-01T00:00:00.000Z',
    },
    { apiKey: 'FAKE-okx-key-0002', label: 'manual', scopes: ['read'], ips: 'unrestricted', createdAt: '2024-06-01T00:00:01.000Z' },
  ];

  it('reads the documented listing, and an empty one as no key', async () => {
    expect(await listKeys(listing)).toEqual(expected);
    expect(await listKeys(wrap())).toEqual([]);
    // Fields the listing may go without: the creation time.
    expect(await listKeys(wrap(without(entries[0]!, 'ts')))).toEqual([without(expected[0] as unknown as Answer, 'createdAt')]);
  });

  it.each([
    ['the whole data missing', { code: '0', msg: '' }],
    ['data: null', { code: '0', msg: '', data: null }],
    ['data: an object', { code: '0', msg: '', data: { 0: entries[0] } }],
    ['an entry without apiKey (it would vanish from the orphan sweep)', wrap(entries[0], without(entries[1]!, 'apiKey'))],
    ['an entry as a string', wrap(entries[0], 'FAKE-okx-key-0002')],
    ['label missing (the sweep finds keyctl keys by label)', wrap(without(entries[0]!, 'label'), entries[1])],
    ['label renamed', wrap(renamed(entries[0]!, 'label', 'note'), entries[1])],
    ['perm: null', wrap({ ...entries[0], perm: null }, entries[1])],
    ['an ip that is not addresses', wrap({ ...entries[0], ip: '203.0.113.10;203.0.113.11' }, entries[1])],
  ])('a listing with %s throws EXCHANGE_BAD_RESPONSE, never a shorter list', async (_name, bad) => {
    const err = await caught(listKeys(bad));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.message).toMatch(/okx answered users\/subaccount\/apikey in a shape keyctl does not know/);
  });

  it('reads the documented create answer', async () => {
    const created = await createKey(fixture('subaccount-apikey-create'));
    expect(created).toEqual({ apiKey: 'FAKE-okx-key-0003', secret: 'FAKE-okx-secret-0003', passphrase: expect.any(String) });
  });

  const createdEntry = (fixture('subaccount-apikey-create').data as Answer[])[0]!;
  it.each([
    ['the whole data missing', { code: '0', msg: '' }],
    ['data: empty', wrap()],
    ['apiKey missing', wrap(without(createdEntry, 'apiKey'))],
    ['secretKey: null', wrap({ ...createdEntry, secretKey: null })],
    ['secretKey: empty', wrap({ ...createdEntry, secretKey: '' })],
  ])('a create answer with %s throws EXCHANGE_BAD_RESPONSE pointing at the orphan sweep', async (_name, bad) => {
    const err = await caught(createKey(bad));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.hint).toMatch(/orphan sweep/);
    expect(err.message).not.toContain('FAKE-okx-secret');
  });
});

/**
 * Every mutation of one entry: each field dropped, renamed, retyped; same-type mutations (the listing's `ts` as no
 * time, prototype-named fields, another apiKey); `perm` and `ip` also as malformed strings, with prototype-named
 * permissions, and with "anywhere" in other spellings or ranges too wide to lock a key.
 */
function entryMutations(entry: Answer): Array<{ name: string; entry: Answer }> {
  const out: Array<{ name: string; entry: Answer }> = [];
  for (const m of fieldMutations(entry)) out.push({ name: m.name, entry: m.answer });
  for (const m of sameTypeMutations(entry, { times: ['ts'] })) out.push({ name: m.name, entry: m.answer });
  if (typeof entry.perm === 'string') for (const m of prototypeTokenMutations(entry, 'perm')) out.push({ name: m.name, entry: m.answer });
  const perm = String(entry.perm);
  for (const bad of [perm.split(','), '', `${perm},`, perm.replace(/,/g, ' '), perm.replace(/,/g, ';'), `${perm},trade withdraw`]) {
    if (bad !== perm) out.push({ name: `perm ${JSON.stringify(bad)}`, entry: { ...entry, perm: bad } });
  }
  const ip = String(entry.ip);
  for (const bad of [
    ip.split(','),
    `${ip},`,
    `${ip},not-an-ip`,
    `${ip},7`,
    `${ip},300.1.1.1`,
    ip.replace(/,/g, ';'),
    ip.replace(/,/g, ' '),
  ]) {
    if (bad !== ip) out.push({ name: `ip ${JSON.stringify(bad)}`, entry: { ...entry, ip: bad } });
  }
  for (const wide of ['0.0.0.0/00', '::0/0', '0::/0', '1.2.3.4/0', '::ffff:0.0.0.0/0', '0.0.0.0/1,128.0.0.0/1', '10.0.0.0/8']) {
    out.push({ name: `ip + ${wide}`, entry: { ...entry, ip: ip ? `${ip},${wide}` : wide } });
  }
  return out;
}

/** Mutations of the answer around its entries: `data` gone, of another type, holding something else. */
function dataMutations(entries: Answer[]): Array<{ name: string; response: unknown }> {
  return [
    { name: 'drop data', response: { code: '0', msg: '' } },
    { name: 'rename data', response: { code: '0', msg: '', result: entries } },
    ...[null, 'x', 7, {}, entries[0], { 0: entries[0] }, [null], ['x'], [entries], JSON.stringify(entries)].map((data, i) => ({
      name: `retype data #${i}`,
      response: { code: '0', msg: '', data },
    })),
    { name: 'no answer', response: undefined },
  ];
}

/** Every mutation of an account/config answer. Two entries or none are malformed here: one key describes itself. */
function configMutations(entry: Answer): Array<{ name: string; response: unknown }> {
  return [
    ...entryMutations(entry).map((m) => ({ name: m.name, response: wrap(m.entry) })),
    ...dataMutations([entry]),
    { name: 'data empty', response: wrap() },
    { name: 'data doubled', response: wrap(entry, entry) },
  ];
}

/** Every mutation of a listing: each field of each entry, and the answer around them. */
function listingMutations(listing: Answer): Array<{ name: string; response: unknown }> {
  const entries = listing.data as Answer[];
  const out = dataMutations(entries);
  entries.forEach((entry, i) => {
    for (const m of entryMutations(entry)) {
      out.push({ name: `entry ${i}: ${m.name}`, response: wrap(...entries.map((e, j) => (j === i ? m.entry : e))) });
    }
    out.push({ name: `entry ${i} retyped`, response: wrap(...entries.map((e, j) => (j === i ? JSON.stringify(e) : e))) });
  });
  for (const d of duplicatedEntries(entries)) out.push({ name: d.name, response: wrap(...d.list) });
  return out;
}

describe('okx: fuzzing account/config answers', () => {
  // Keys with exactly one thing wrong, so that misreading the one field that shows it would make them pass.
  const clean = entryOf('account-config-sub-clean');
  const singleFault: Record<string, Answer> = {
    'withdraw only': { ...clean, perm: 'read_only,trade,withdraw' },
    'unknown permission only': { ...clean, perm: 'read_only,trade,earn' },
    'read-only only': { ...clean, perm: 'read_only' },
    'no IP lock only': { ...clean, ip: '' },
    'open CIDR only': { ...clean, ip: '0.0.0.0/0' },
    'foreign IP only': { ...clean, ip: '198.51.100.99' },
    'master key only': { ...clean, uid: clean.mainUid, type: '0' },
  };
  const unsafe: Array<[string, KeyTarget]> = [
    ...Object.keys(singleFault).map((k): [string, KeyTarget] => [k, BOT]),
    ['account-config-sub-ip-mismatch', BOT],
    ['account-config-sub-unknown', BOT],
    ['account-config-sub-readonly', BOT],
    ['account-config-doc-example', BOT],
    ['account-config-doc-example', MASTER],
    ['account-config-master-clean', BOT], // a master key where a bot key belongs
  ];
  it.each(unsafe)('no mutation of the unsafe key "%s" passes', async (name, target) => {
    const base = singleFault[name] ?? entryOf(name);
    expect(await codes(wrap(base), target)).not.toEqual([]);
    const passed: string[] = [];
    const all = configMutations(base);
    for (const m of all) if ((await codes(m.response, target)).length === 0) passed.push(m.name);
    expect(passed).toEqual([]);
    expect(all.length).toBeGreaterThan(120);
  });

  it.each([
    ['account-config-sub-clean', BOT],
    ['account-config-sub-full', BOT],
    ['account-config-master-clean', MASTER],
    ['account-config-sub-readonly', BOT],
  ] as Array<[string, KeyTarget]>)('no mutation of %s crashes: each is violations or a pass', async (name, target) => {
    for (const m of configMutations(entryOf(name))) {
      const result = await check(m.response, target).catch((err: unknown) => ({ crashed: `${m.name}: ${String(err)}` }));
      expect(result).toHaveProperty('violations');
    }
  });
});

describe('okx: fuzzing sub-account listings', () => {
  const clean = fixture('account-config-sub-clean');
  const listing = fixture('subaccount-apikey-list');

  it('no mutation of the listing lets a key outside the sub-account pass', async () => {
    // A clean key except that the declared sub-account's listing does not hold it.
    const elsewhere = { ...listing, data: (listing.data as Answer[]).map((e) => ({ ...e, apiKey: `${String(e.apiKey)}-other` })) };
    expect(await codes(clean, BOT, { listing: elsewhere })).toEqual(['WRONG_ACCOUNT']);
    const passed: string[] = [];
    const all = listingMutations(elsewhere);
    for (const m of all) if ((await codes(clean, BOT, { listing: m.response })).length === 0) passed.push(m.name);
    expect(passed).toEqual([]);
    expect(all.length).toBeGreaterThan(100);
  });

  it('no mutation of the listing crashes an inspection', async () => {
    for (const m of listingMutations(listing)) {
      const result = await check(clean, BOT, { listing: m.response }).catch((err: unknown) => ({ crashed: `${m.name}: ${String(err)}` }));
      expect(result).toHaveProperty('violations');
    }
  });

  it('no mutation of the listing changes what listKeys reads without an error', async () => {
    const baseline = (await listKeys(listing)).map(({ createdAt: _c, ...k }) => k);
    const changed: string[] = [];
    // (Another apiKey in a listing is just another key, `ip` + a range changes the list by design (the policy judges
    // ranges), and a permission named like a prototype member lists as that unknown permission (checked below); the
    // rest must throw or change nothing.)
    const mutations = listingMutations(listing);
    for (const m of mutations.filter((m) => /: perm [+=] token /.test(m.name))) {
      const keys = await listKeys(m.response);
      expect(
        keys.some((k) => k.scopes.some((s) => s.startsWith('unknown:'))),
        m.name,
      ).toBe(true);
    }
    for (const m of mutations.filter((m) => !/another key's apiKey|: ip \+ |: perm [+=] token /.test(m.name))) {
      const outcome = await listKeys(m.response).then(
        (keys) => keys.map(({ createdAt: _c, ...k }) => k),
        (err: unknown) => (err instanceof Error && 'code' in err ? String(err.code) : `crashed: ${String(err)}`),
      );
      if (outcome !== 'EXCHANGE_BAD_RESPONSE' && JSON.stringify(outcome) !== JSON.stringify(baseline)) changed.push(m.name);
    }
    expect(changed).toEqual([]);
  });

  it('no mutation of the create answer yields other credentials than it holds', async () => {
    const created = fixture('subaccount-apikey-create');
    const entry = (created.data as Answer[])[0]!;
    const wrong: string[] = [];
    // (Another apiKey is another well-formed answer: the new key is inspected before it is used anyway.)
    const all = [...entryMutations(entry).map((e) => ({ name: e.name, response: wrap(e.entry) })), ...dataMutations([entry])];
    for (const m of all.filter((m) => m.name !== "another key's apiKey")) {
      const outcome = await createKey(m.response).then(
        (k) => (k.apiKey === entry.apiKey && k.secret === entry.secretKey ? 'same' : 'other'),
        (err: unknown) => (err instanceof Error && 'code' in err ? String(err.code) : `crashed: ${String(err)}`),
      );
      if (outcome !== 'same' && outcome !== 'EXCHANGE_BAD_RESPONSE') wrong.push(`${m.name}: ${outcome}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('okx: allowlists, permission names and answers the review found', () => {
  const clean = entryOf('account-config-sub-clean');
  const masterEntry = entryOf('account-config-master-clean');

  it.each(['0.0.0.0/00', '::0/0', '0::/0', '0:0:0:0:0:0:0:0/0', '1.2.3.4/0', '::ffff:0.0.0.0/0', '0.0.0.0/1,128.0.0.0/1', '192.0.2.0/8'])(
    'a master key with ip %j is NOT_IP_LOCKED',
    async (ip) => {
      expect(await codes(wrap({ ...masterEntry, ip }), MASTER)).toEqual(['NOT_IP_LOCKED']);
    },
  );

  it.each(PROTOTYPE_NAMES)('a permission named %s is UNKNOWN_PERMISSION, never a crash', async (name) => {
    expect(await codes(wrap({ ...clean, perm: `read_only,trade,${name}` }), BOT)).toEqual(['UNKNOWN_PERMISSION']);
  });

  it('a listing with a key twice, or a ts that is no time, is EXCHANGE_BAD_RESPONSE', async () => {
    const entries = fixture('subaccount-apikey-list').data as Answer[];
    expect((await caught(listKeys(wrap(entries[0], entries[1], entries[0])))).code).toBe('EXCHANGE_BAD_RESPONSE');
    expect((await caught(listKeys(wrap({ ...entries[0], ts: 'soon' }, entries[1])))).code).toBe('EXCHANGE_BAD_RESPONSE');
    expect((await caught(listKeys(wrap({ ...entries[0], ts: '99999999999999999999' }, entries[1])))).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('a create answer with two entries is EXCHANGE_BAD_RESPONSE, never the first one taken', async () => {
    const entry = (fixture('subaccount-apikey-create').data as Answer[])[0]!;
    const other = { ...entry, apiKey: 'FAKE-okx-key-0009', secretKey: 'FAKE-okx-secret-0009' };
    const err = await caught(createKey(wrap(entry, other)));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.hint).toMatch(/orphan sweep/);
  });
});
