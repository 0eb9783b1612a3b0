/**
 * KuCoin answers are parsed against their documented shape (Get Apikey Info, https://www.kucoin.com/docs-new/api-3470130;
 * sub-account API list and create, .../api-3470136 and .../api-3470138): an answer of any other shape is an
 * EXCHANGE_BAD_RESPONSE violation, never a key with fewer permissions. The review's case (`permission` as an array, as
 * KuCoin's broker API returns it) and its kin, then a fuzz of every field of every fixture and of single-fault keys: no
 * mutation of an unsafe key passes, and no mutation of any key crashes. Then the list the orphan sweep reads, and the
 * create answer.
 */
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient, type ExchangeClient } from '../../src/exchanges/ccxt.js';
import { capabilities as kucoinCaps, adapter as kucoinAdapter, parseKucoinKey } from '../../src/exchanges/kucoin/adapter.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import type { KeyTarget } from '../../src/domain/policy.js';
import type { ExchangeAdapter, ListedKey } from '../../src/exchanges/types.js';
import { caught } from '../helpers/caught.js';
import {
  crashing,
  duplicatedEntries,
  fieldMutations,
  passing,
  PROTOTYPE_NAMES,
  prototypeTokenMutations,
  sameTypeMutations,
} from '../helpers/fuzz.js';

// The adapter's list and create calls go through this client; each test says what the exchange answers.
vi.mock('../../src/exchanges/ccxt.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/exchanges/ccxt.js')>()),
  createClient: vi.fn(),
}));

const NOW = Date.parse('2025-06-01T00:00:00Z');
type Answer = Record<string, unknown>;
const body = (name: string): Answer =>
  JSON.parse(readFileSync(new URL(`../fixtures/exchanges/kucoin/${name}.json`, import.meta.url), 'utf8')) as Answer;
const fixture = (name: string): Answer => body(name).data as Answer;

const BOT: KeyTarget = {
  kind: 'bot',
  scopes: ['spot:trade', 'futures:trade'],
  ips: ['203.0.113.10', '203.0.113.11'],
  subaccount: 'alphaarb1',
};
const MASTER: KeyTarget = { kind: 'master', exchange: 'kucoin', masterScopes: kucoinCaps.masterScopes };

/**
 * inspectKey over an adapter whose user/api-key `data` is `answer`: the path verify, import and rotation take. `asked`
 * is the key asked about (the fuzz passes its base fixture's), so an answer about another key shows.
 */
async function check(answer: unknown, target: KeyTarget, asked?: string) {
  const adapter: ExchangeAdapter = { ...kucoinAdapter, inspect: async () => parseKucoinKey(answer, asked) };
  return inspectKey({
    adapter,
    account: { id: 'main', exchange: 'kucoin', options: {} } as never,
    credentials: { apiKey: 'FAKE-kucoin-key-0001', secret: 'FAKE-kucoin-secret-0001', passphrase: 'FAKE-pass-0001' },
    target,
    options: { now: NOW },
  });
}
const codes = async (answer: unknown, target: KeyTarget, asked?: string) =>
  (await check(answer, target, asked)).violations.map((v) => v.code);

/** The exchange answers every call with `response` (a whole response body). */
function answering(response: unknown) {
  vi.mocked(createClient).mockResolvedValue({ call: async () => response } as unknown as ExchangeClient);
}
const MASTER_CREDS = { apiKey: 'FAKE-kucoin-master', secret: 'FAKE-kucoin-master-secret', passphrase: 'FAKE-master-pass' };
const ACCOUNT = { exchange: 'kucoin' };
const list = () => kucoinAdapter.listKeys({ account: ACCOUNT, master: MASTER_CREDS, subaccount: 'alphaarb1' });

beforeEach(() => {
  vi.mocked(createClient).mockReset();
});

describe('kucoin: the malformed answers that used to pass', () => {
  // A withdraw-capable sub-account key, IP-locked to the bot's address, in the right sub-account: the only thing wrong
  // with it is the Transfer (withdrawal) permission, so the only thing that can stop it is reading `permission` right.
  const withdrawing: Answer = { ...fixture('user-api-key-sub-clean'), permission: 'General,Spot,Futures,Transfer' };
  const tokens = ['General', 'Spot', 'Futures', 'Transfer'];

  it('reads the well-formed answer as WITHDRAW_ENABLED (the baseline of the cases below)', async () => {
    expect(await codes(withdrawing, BOT)).toEqual(['WITHDRAW_ENABLED']);
  });

  it.each([
    ['permission as an array (the broker API shape)', { ...withdrawing, permission: tokens }],
    ['permission: null', { ...withdrawing, permission: null }],
    ['permission as a number', { ...withdrawing, permission: 7 }],
    ['permission as an object', { ...withdrawing, permission: { Spot: true, Transfer: true } }],
    [
      'permission renamed (permissions, the broker name)',
      (({ permission: _p, ...rest }) => ({ ...rest, permissions: tokens }))(withdrawing),
    ],
    ['permission missing', (({ permission: _p, ...rest }) => rest)(withdrawing)],
    ['permission as a JSON array in a string', { ...withdrawing, permission: JSON.stringify(tokens) }],
    ['permission separated by semicolons', { ...withdrawing, permission: tokens.join(';') }],
    ['isMaster: "false" (a string)', { ...withdrawing, isMaster: 'false' }],
    ['isMaster missing', (({ isMaster: _m, ...rest }) => rest)(withdrawing)],
    ['a sub key without subName', (({ subName: _s, ...rest }) => rest)(withdrawing)],
    ['subName as a number', { ...withdrawing, subName: 7 }],
    ['uid as a string', { ...withdrawing, uid: '226383155' }],
    ['uid missing', (({ uid: _u, ...rest }) => rest)(withdrawing)],
    ['an IP list that is not addresses', { ...withdrawing, ipWhitelist: '203.0.113.10,anywhere' }],
    ['an IP list masked like the docs example', { ...withdrawing, ipWhitelist: '203.**.10' }],
    ['an IP list as an array (the broker API shape)', { ...withdrawing, ipWhitelist: ['203.0.113.10'] }],
    ['an IP list separated by spaces', { ...withdrawing, ipWhitelist: '203.0.113.10 198.51.100.7' }],
    ['ipWhitelist: null', { ...withdrawing, ipWhitelist: null }],
    ['the whole data missing', undefined],
    ['data: null', null],
    ['data as a list (the list endpoint shape)', [withdrawing]],
  ])('%s: EXCHANGE_BAD_RESPONSE, not a pass', async (_name, answer) => {
    const result = await check(answer, BOT);
    expect(result.violations.map((v) => v.code)).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(result.violations[0]!.detail).toMatch(/kucoin answered user\/api-key in a shape keyctl does not know/);
    // The detail names fields, never values (an answer may carry a secret).
    expect(result.violations[0]!.detail).not.toContain('Transfer');
    expect(result.violations[0]!.detail).not.toContain('203.0.113');
    expect(result.violations[0]!.detail).not.toContain('FAKE-');
  });

  it('parseKucoinKey itself throws a typed EXCHANGE_BAD_RESPONSE (exit 5 where no policy applies)', async () => {
    const err = await caught(Promise.resolve().then(() => parseKucoinKey({ ...withdrawing, permission: tokens })));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('adapter.inspect reads the response body: a body without data is a bad answer', async () => {
    const key = { ...MASTER_CREDS, apiKey: 'FAKE-KUCOIN-SUB-CLEAN' };
    const inspect = (response: unknown) => {
      answering(response);
      return kucoinAdapter.inspect({ account: ACCOUNT, key, role: 'bot', subaccount: 'alphaarb1' });
    };
    expect((await inspect(body('user-api-key-sub-clean'))).owner).toEqual({ uid: '226383155', isMaster: false, subaccount: 'alphaarb1' });
    expect((await caught(inspect({ code: '200000' }))).code).toBe('EXCHANGE_BAD_RESPONSE');
    expect((await caught(inspect({ code: '200000', result: withdrawing }))).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('stays tolerant where the docs allow: unknown fields, optional fields absent, unknown permission names', async () => {
    const clean = fixture('user-api-key-sub-clean');
    const { remark: _r, apiKey: _k, apiVersion: _v, createdAt: _c, ...bare } = clean;
    expect(await codes({ ...clean, somethingNew: { nested: [1, 2] } }, BOT)).toEqual([]);
    expect(await codes(bare, BOT)).toEqual([]);
    expect(await codes({ ...clean, ipWhitelist: '203.0.113.10, 203.0.113.11' }, BOT)).toEqual([]);
    expect(await codes({ ...clean, ipWhitelist: '203.0.113.10,' }, BOT)).toEqual([]);
    // A CIDR block is an allowlist entry: compared, not refused.
    expect(await codes({ ...clean, ipWhitelist: '203.0.113.0/24' }, BOT)).toEqual(['IP_MISMATCH']);
    // ipWhitelist is documented optional: absent or empty reads as "no allowlist", the safe reading.
    expect(await codes((({ ipWhitelist: _i, ...rest }) => rest)(clean), BOT)).toEqual(['NOT_IP_LOCKED']);
    expect(await codes({ ...clean, ipWhitelist: '' }, BOT)).toEqual(['NOT_IP_LOCKED']);
    // An unknown permission name stays UNKNOWN_PERMISSION, not a bad answer.
    expect(await codes({ ...clean, permission: 'General,Spot,Futures,Earn' }, BOT)).toEqual(['UNKNOWN_PERMISSION']);
    expect(await codes({ ...clean, permission: 'General,Spot,Futures,LeveragedToken' }, BOT)).toEqual(['UNKNOWN_PERMISSION']);
    // Master keys carry no subName (the docs); an empty one is no contradiction either.
    expect(await codes(fixture('user-api-key-master-clean'), MASTER)).toEqual([]);
    expect(await codes({ ...fixture('user-api-key-master-clean'), subName: '' }, MASTER)).toEqual([]);
  });

  it('reads no expiry: Get Apikey Info documents none, so an undocumented expiredAt neither warns nor breaks', async () => {
    // https://www.kucoin.com/docs-new/api-3470130 gives remark, apiKey, apiVersion, permission, ipWhitelist, createdAt,
    // uid, isMaster, subName: any other field is ignored, whatever its shape.
    const clean = fixture('user-api-key-sub-clean');
    for (const expiry of [NOW + 86_400_000, NOW - 1, -5, 'soon', null]) {
      expect(await codes({ ...clean, expiredAt: expiry, expireAt: expiry }, BOT)).toEqual([]);
      expect((await check({ ...clean, expiredAt: expiry }, BOT)).inspection?.expiresAt).toBeUndefined();
    }
    // A withdraw key with an odd expiry is still read as what it is.
    expect(await codes({ ...withdrawing, expiredAt: 'soon' }, BOT)).toEqual(['WITHDRAW_ENABLED']);
  });
});

describe('kucoin: the Unified permission (unified trading account)', () => {
  const clean = fixture('user-api-key-sub-clean');
  it('reads as every trade scope and, what else it grants being undocumented, as an unknown permission', async () => {
    const inspection = parseKucoinKey({ ...clean, permission: 'General,Unified' });
    expect(inspection.scopes).toEqual(['read', 'spot:trade', 'margin:trade', 'futures:trade', 'unknown:Unified']);
    expect(inspection.readOnly).toBe(false);
    // Never a pass, even for a slot that declares every trade scope KuCoin has.
    expect(await codes({ ...clean, permission: 'General,Unified' }, BOT)).toEqual(['EXCESS_SCOPE', 'UNKNOWN_PERMISSION']);
    expect(
      await codes({ ...clean, permission: 'General,Unified' }, { ...BOT, scopes: ['spot:trade', 'margin:trade', 'futures:trade'] }),
    ).toEqual(['UNKNOWN_PERMISSION']);
    // On a master key it is no management permission: still unknown, and trade scopes beyond the master's.
    expect(await codes({ ...fixture('user-api-key-master-clean'), permission: 'General,Unified' }, MASTER)).toEqual(
      expect.arrayContaining(['UNKNOWN_PERMISSION']),
    );
  });

  it('shows in the sub-key list too', async () => {
    const listBody = body('sub-api-key-list-doc-example');
    const items = listBody.data as Answer[];
    answering({ code: '200000', data: [{ ...items[0], permission: 'General,Unified' }] });
    expect((await list())[0]!.scopes).toEqual(['read', 'spot:trade', 'margin:trade', 'futures:trade', 'unknown:Unified']);
  });
});

/**
 * Every mutation of an answer: each field dropped, retyped, renamed; same-type mutations (createdAt as no time, odd
 * numbers, prototype-named fields, another apiKey); the permission and IP strings reshaped, with prototype-named
 * permissions, and with "anywhere" in other spellings or ranges too wide to lock a key.
 */
function mutations(answer: Answer): Array<{ name: string; answer: Answer }> {
  const out: Array<{ name: string; answer: Answer }> = [];
  out.push(...fieldMutations(answer));
  out.push(...sameTypeMutations(answer, { times: ['createdAt'] }));
  out.push(...prototypeTokenMutations(answer, 'permission'));
  const { permission, ipWhitelist } = answer as { permission: string; ipWhitelist: string };
  // Joined to an empty list, " 198.51.100.1" would be a well-formed list of another address, not a shape fault.
  const ips = ipWhitelist || '203.0.113.10';
  const { permission: _p, ...noPermission } = answer;
  const names = permission.split(',');
  for (const [name, bad] of [
    ['as an array', names],
    ['as JSON', JSON.stringify(names)],
    [';-separated', names.join(';')],
    ['space-separated', names.join(' ')],
    ['lower-cased', permission.toLowerCase()],
  ] as Array<[string, unknown]>) {
    out.push({ name: `permission ${name}`, answer: { ...answer, permission: bad } });
  }
  out.push({ name: 'permission renamed permissions (array)', answer: { ...noPermission, permissions: names } });
  for (const bad of [
    `${ipWhitelist},7`,
    `${ipWhitelist},not-an-ip`,
    `${ipWhitelist},null`,
    `${ips};198.51.100.1`,
    `${ips} 198.51.100.1`,
    '203.**.10',
    [ipWhitelist],
    ipWhitelist.split(','),
  ]) {
    out.push({ name: `ipWhitelist ${JSON.stringify(bad)}`, answer: { ...answer, ipWhitelist: bad } });
  }
  for (const wide of ['0.0.0.0/00', '::0/0', '0::/0', '1.2.3.4/0', '::ffff:0.0.0.0/0', '0.0.0.0/1,128.0.0.0/1', '10.0.0.0/8']) {
    out.push({ name: `ipWhitelist + ${wide}`, answer: { ...answer, ipWhitelist: `${ips},${wide}` } });
  }
  return out;
}

describe('kucoin: fuzzing user/api-key answers', () => {
  // Keys with exactly one thing wrong, so that misreading the one field that shows it would make them pass.
  const clean = fixture('user-api-key-sub-clean');
  const singleFault: Record<string, Answer> = {
    'withdraw only': { ...clean, permission: `${clean.permission as string},Transfer` },
    'inner transfer only': { ...clean, permission: `${clean.permission as string},InnerTransfer` },
    'margin beyond the slot only': { ...clean, permission: `${clean.permission as string},Margin` },
    'unknown permission only': { ...clean, permission: `${clean.permission as string},Earn` },
    'read-only only': { ...clean, permission: 'General' },
    'no IP lock only': { ...clean, ipWhitelist: '' },
    'open to anywhere only': { ...clean, ipWhitelist: '0.0.0.0/0' },
    'foreign IP only': { ...clean, ipWhitelist: '198.51.100.99' },
    'other sub-account only': { ...clean, subName: 'othersub' },
    'master key only': { ...clean, isMaster: true },
  };
  const unsafe: Array<[string, KeyTarget]> = [
    ...Object.keys(singleFault).map((k): [string, KeyTarget] => [k, BOT]),
    ['user-api-key-doc-example', BOT],
    ['user-api-key-sub-transfer-unknown', BOT],
    ['user-api-key-master-withdraw', MASTER],
    ['user-api-key-master-clean', BOT], // a master key where a bot key belongs
    ['user-api-key-sub-clean', MASTER], // a sub key where the master key belongs
  ];
  it.each(unsafe)('no mutation of the unsafe key "%s" passes', async (name, target) => {
    const base = singleFault[name] ?? fixture(name);
    const asked = String(base.apiKey);
    expect(await codes(base, target, asked)).not.toEqual([]);
    const all = mutations(base);
    expect(await passing(all, (a) => codes(a, target, asked))).toEqual([]);
    expect(all.length).toBeGreaterThan(180);
  });

  it.each([
    ['user-api-key-sub-clean', BOT],
    ['user-api-key-master-clean', MASTER],
    ['user-api-key-doc-example', BOT],
    ['user-api-key-sub-transfer-unknown', BOT],
    ['user-api-key-master-withdraw', MASTER],
  ] as Array<[string, KeyTarget]>)('no mutation of %s crashes: each is violations or a pass', async (name, target) => {
    const base = fixture(name);
    expect(await crashing(mutations(base), (a) => check(a, target, String(base.apiKey)))).toEqual([]);
  });
});

describe('kucoin: the sub-account key list (what the orphan sweep reads)', () => {
  const listBody = body('sub-api-key-list-doc-example');
  const items = listBody.data as Answer[];

  it('reads the documented list', async () => {
    answering(listBody);
    expect(await list()).toEqual([
      {
        apiKey: 'FAKE-KUCOIN-LISTED-CLEAN',
        label: 'alpha-arb1 rot-01',
        scopes: ['read', 'spot:trade', 'futures:trade'],
        ips: ['203.0.113.10'],
        createdAt: '2025-05-01T08:00:00.000Z',
      },
      {
        apiKey: 'FAKE-KUCOIN-LISTED-XFER',
        label: 'alpha-arb1',
        scopes: ['read', 'spot:trade', 'transfer'],
        ips: 'unrestricted',
        createdAt: '2025-05-01T08:00:00.000Z',
      },
    ]);
  });

  it('an empty list is a list (a sub-account without keys)', async () => {
    answering({ code: '200000', data: [] });
    expect(await list()).toEqual([]);
  });

  it.each([
    ['data missing', { code: '200000' }],
    ['data: null', { code: '200000', data: null }],
    ['data as one object', { code: '200000', data: items[0] }],
    ['data paginated (items inside)', { code: '200000', data: { items, currentPage: 1 } }],
    ['a key without apiKey', { code: '200000', data: [(({ apiKey: _k, ...rest }) => rest)(items[0]!), items[1]] }],
    ['a key whose apiKey is a number', { code: '200000', data: [{ ...items[0], apiKey: 7 }] }],
    ['permission as an array', { code: '200000', data: [{ ...items[0], permission: ['General', 'Spot'] }] }],
    ['permission missing', { code: '200000', data: [(({ permission: _p, ...rest }) => rest)(items[0]!)] }],
    ['an IP list that is not addresses', { code: '200000', data: [{ ...items[0], ipWhitelist: 'anywhere' }] }],
    ['a list entry that is not an object', { code: '200000', data: [items[0], 'FAKE-KUCOIN-LISTED-XFER'] }],
    [
      'a key without remark (the sweep finds keyctl keys by it)',
      { code: '200000', data: [(({ remark: _r, ...rest }) => rest)(items[0]!)] },
    ],
    ['a remark that is a number', { code: '200000', data: [{ ...items[0], remark: 7 }] }],
    ['a key of another sub-account', { code: '200000', data: [items[0], { ...items[1], subName: 'othersub' }] }],
    ['a main-account key', { code: '200000', data: [items[0], { ...items[1], isMaster: true }] }],
    ['a key listed twice', { code: '200000', data: [items[0], items[1], items[0]] }],
    ['a createdAt that is no time', { code: '200000', data: [{ ...items[0], createdAt: 99999999999999 }] }],
    ['a permission named __proto__ (no KuCoin name)', { code: '200000', data: [{ ...items[0], permission: 'General,__proto__' }] }],
  ])('%s: throws EXCHANGE_BAD_RESPONSE, never an empty or shorter list', async (_name, response) => {
    answering(response);
    const err = await caught(list());
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.message).toMatch(/kucoin answered sub\/api-key list in a shape keyctl does not know/);
    expect(err.message).not.toContain('FAKE-');
  });

  it('reads an empty remark as no label, and subName in any case as the sub-account asked about', async () => {
    answering({ code: '200000', data: [{ ...items[0], remark: '', subName: 'AlphaArb1' }] });
    expect((await list())[0]).not.toHaveProperty('label');
  });

  it('reads permissions named like Object.prototype members as unknown permissions', async () => {
    answering({ code: '200000', data: [{ ...items[0], permission: 'General,constructor,toString' }] });
    expect((await list())[0]!.scopes).toEqual(['read', 'unknown:constructor', 'unknown:toString']);
  });

  /**
   * Every list mutation: each field of each key dropped, renamed, retyped, and the same-type ones; each key listed
   * twice. (Another apiKey in a listing is just another key: only the exchange knows which keys it has. A range added
   * to an allowlist changes it by design: the policy judges ranges, fuzzed on user/api-key above.)
   */
  function listMutations(): Array<{ name: string; data: Answer[] }> {
    return [
      ...items.flatMap((item, i) =>
        mutations(item)
          .filter((m) => m.name !== "another key's apiKey" && !m.name.startsWith('ipWhitelist + '))
          .map((m) => ({ name: `key ${i}: ${m.name}`, data: items.map((k, j) => (j === i ? m.answer : k)) })),
      ),
      ...duplicatedEntries(items).map((d) => ({ name: d.name, data: d.list })),
    ];
  }
  const clean = async (): Promise<ListedKey[]> => {
    answering(listBody);
    return list();
  };

  it('no mutation drops a key or makes one look safer: each throws, or lists every key with its permissions', async () => {
    const expected = await clean();
    const quiet: string[] = [];
    const all = listMutations();
    for (const m of all) {
      answering({ code: '200000', data: m.data });
      const got = await list().catch((err: unknown) => err);
      if (got instanceof Error) {
        if ((got as { code?: string }).code !== 'EXCHANGE_BAD_RESPONSE') quiet.push(`${m.name}: ${String(got)}`);
        continue;
      }
      const keys = got as ListedKey[];
      const safer = expected.some((e, i) => {
        const k = keys[i];
        if (!k || k.apiKey !== e.apiKey) return true;
        // A label lost or changed: the orphan sweep finds keyctl's keys by it.
        if (k.label !== e.label) return true;
        // Lost a permission without gaining an unknown one in its place (`innertransfer` is a name, not a shape).
        if (e.scopes.some((s) => !k.scopes.includes(s)) && !k.scopes.some((s) => s.startsWith('unknown:'))) return true;
        return k.ips !== 'unrestricted' && JSON.stringify(k.ips) !== JSON.stringify(e.ips);
      });
      if (safer || keys.length !== expected.length) quiet.push(m.name);
    }
    expect(quiet).toEqual([]);
    expect(all.length).toBeGreaterThan(350);
  });
});

describe("kucoin: the review's gaps in user/api-key", () => {
  const clean = fixture('user-api-key-sub-clean');
  const masterKey = fixture('user-api-key-master-clean');

  it('an answer about another key than the one asked about is EXCHANGE_BAD_RESPONSE', async () => {
    expect(await codes(clean, BOT, 'FAKE-KUCOIN-SUB-CLEAN')).toEqual([]);
    expect(await codes(clean, BOT, 'FAKE-KUCOIN-SOMEONE-ELSE')).toEqual(['EXCHANGE_BAD_RESPONSE']);
    // Through the adapter: the key it signs with is the key asked about.
    answering(body('user-api-key-sub-clean'));
    const err = await caught(
      kucoinAdapter.inspect({
        account: ACCOUNT,
        key: { ...MASTER_CREDS, apiKey: 'FAKE-KUCOIN-OTHER' },
        role: 'bot',
        subaccount: 'alphaarb1',
      }),
    );
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    // apiKey is documented but optional: an answer without it is still read.
    expect(await codes((({ apiKey: _k, ...rest }) => rest)(clean), BOT, 'FAKE-KUCOIN-SUB-CLEAN')).toEqual([]);
  });

  it.each(PROTOTYPE_NAMES.filter((n) => /^[A-Za-z]/.test(n)))(
    'a permission named %s is UNKNOWN_PERMISSION, never a crash',
    async (name) => {
      expect(await codes({ ...clean, permission: `${clean.permission as string},${name}` }, BOT)).toEqual(['UNKNOWN_PERMISSION']);
    },
  );

  it.each(['0.0.0.0/00', '::0/0', '0::/0', '1.2.3.4/0', '::ffff:0.0.0.0/0', '0.0.0.0/1,128.0.0.0/1', '192.0.2.0/16'])(
    'a master key with ipWhitelist %j is NOT_IP_LOCKED',
    async (ipWhitelist) => {
      expect(await codes({ ...masterKey, ipWhitelist }, MASTER)).toEqual(['NOT_IP_LOCKED']);
    },
  );

  it('a createdAt that is no time is EXCHANGE_BAD_RESPONSE', async () => {
    for (const createdAt of [7, -1, 9e15, 2 ** 53]) expect(await codes({ ...clean, createdAt }, BOT)).toEqual(['EXCHANGE_BAD_RESPONSE']);
  });
});

describe('kucoin: the create answer', () => {
  const request = {
    account: ACCOUNT,
    master: MASTER_CREDS,
    subaccount: 'alphaarb1',
    scopes: ['spot:trade', 'futures:trade'] as const,
    ips: ['203.0.113.10'],
    label: 'alpha-arb1 rot-02',
  };
  const create = () => kucoinAdapter.createKey({ ...request, scopes: [...request.scopes] });
  const created = body('sub-api-key-add-doc-example').data as Answer;

  it('reads the documented answer: the key and its secret, with the passphrase keyctl chose', async () => {
    answering({ code: '200000', data: created });
    const key = await create();
    expect(key.apiKey).toBe('FAKE-KUCOIN-CREATED');
    expect(key.secret).toBe('FAKE-KUCOIN-CREATED-SECRET');
    expect(typeof key.passphrase).toBe('string');
    // Fields keyctl does not read may change shape without failing the create (the new key is inspected next).
    answering({ code: '200000', data: { ...created, permission: ['General', 'Spot'], ipWhitelist: null, createdAt: 'now' } });
    expect((await create()).apiKey).toBe('FAKE-KUCOIN-CREATED');
  });

  it.each([
    ['data missing', { code: '200000' }],
    ['apiSecret missing', { code: '200000', data: (({ apiSecret: _s, ...rest }) => rest)(created) }],
    [
      'apiSecret renamed (secretKey, the broker name)',
      { code: '200000', data: { ...(({ apiSecret: _s, ...rest }) => rest)(created), secretKey: 'FAKE-x' } },
    ],
    ['apiKey as a number', { code: '200000', data: { ...created, apiKey: 7 } }],
    ['apiKey empty', { code: '200000', data: { ...created, apiKey: '' } }],
    ['data as a list', { code: '200000', data: [created] }],
  ])('%s: EXCHANGE_BAD_RESPONSE that says the key may exist', async (_name, response) => {
    answering(response);
    const err = await caught(create());
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.hint).toMatch(/may have been created/);
  });
});

describe('kucoin: deleting a sub key (the orphan sweep with a lost passphrase)', () => {
  const request = { account: ACCOUNT, master: MASTER_CREDS, subaccount: 'alphaarb1', apiKey: 'FAKE-KUCOIN-ORPHAN' };

  it('without the passphrase sends nothing and says to delete it in the web UI, naming fingerprint and label', async () => {
    const err = await caught(kucoinAdapter.deleteKey({ ...request, label: 'keyctl-rot-0001' } as typeof request));
    expect(createClient).not.toHaveBeenCalled();
    expect(err).toMatchObject({ code: 'PASSPHRASE_UNKNOWN', exitCode: 5, retryable: false });
    expect(err.details).toMatchObject({ exchange: 'kucoin', subaccount: 'alphaarb1', label: 'keyctl-rot-0001', manual: true });
    expect(err.details?.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(err.message).toContain(String(err.details?.fingerprint));
    expect(err.message).toContain('keyctl-rot-0001');
    expect(err.hint).toMatch(/KuCoin's web UI/);
    expect(err.hint).toContain('keyctl-rot-0001');
    expect(`${err.message} ${err.hint}`).not.toContain('FAKE-KUCOIN-ORPHAN');
  });

  it('a passphrase KuCoin refuses (400100) is the same report, not a bare refusal', async () => {
    vi.mocked(createClient).mockResolvedValue({
      call: async () => {
        const { ExchangeError } = await import('@keyctl/client/errors');
        throw new ExchangeError('EXCHANGE_REFUSED', 'kucoin refused deleting a sub-account key (400100 Passphrase error).', {
          details: { exchange: 'kucoin', exchangeCode: '400100' },
        });
      },
    } as unknown as ExchangeClient);
    const err = await caught(kucoinAdapter.deleteKey({ ...request, passphrase: 'FAKE-wrong-pass' }));
    expect(err).toMatchObject({ code: 'PASSPHRASE_REJECTED', exitCode: 5, retryable: false });
    expect(err.hint).toMatch(/KuCoin's web UI/);
    expect(`${err.message} ${err.hint}`).not.toContain('FAKE-wrong-pass');
  });

  it('sends the passphrase as it is, and refuses up front one that cannot travel in the signed query', async () => {
    const calls: Array<Record<string, unknown>> = [];
    vi.mocked(createClient).mockResolvedValue({
      call: async (_m: string, params: Record<string, unknown>) => {
        calls.push(params);
        return { code: '200000', data: {} };
      },
    } as unknown as ExchangeClient);
    await kucoinAdapter.deleteKey({ ...request, passphrase: "Fake-p@ss=1_.!*'" });
    expect(calls).toEqual([{ apiKey: 'FAKE-KUCOIN-ORPHAN', passphrase: "Fake-p@ss=1_.!*'", subName: 'alphaarb1' }]);
    for (const passphrase of ['FAKE+pass1', 'FAKE&pass1', 'FAKE#pass1', 'FAKE%41pass1']) {
      const err = await caught(kucoinAdapter.deleteKey({ ...request, passphrase }));
      expect(err).toMatchObject({ code: 'PASSPHRASE_UNSENDABLE', exitCode: 5, retryable: false });
      expect(err.hint).toMatch(/KuCoin's web UI/);
      expect(`${err.message} ${err.hint}`).not.toContain(passphrase);
    }
    expect(calls).toHaveLength(1);
  });
});
