/**
 * Bitget answers are parsed against their documented shape (Get Account Information,
 * https://www.bitget.com/api-doc/spot/account/Get-Account-Info; Get Subaccount Apikey List,
 * https://www.bitget.com/api-doc/common/vsubaccount/Get-Virtual-Subaccount-ApiKey-List): an answer of any other shape is
 * an EXCHANGE_BAD_RESPONSE violation, never a key with fewer permissions. A fuzz of every field of every fixture and of
 * single-fault keys: no mutation of an unsafe key passes, no mutation of any key crashes, and no mutation of the listing
 * the orphan sweep reads drops a key or makes one look safer.
 */
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient, type ExchangeClient } from '../../src/exchanges/ccxt.js';
import { adapter as bitgetAdapter, capabilities as bitgetCaps, parseBitgetInfo } from '../../src/exchanges/bitget/adapter.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import type { KeyTarget } from '../../src/domain/policy.js';
import type { ListedKey } from '../../src/exchanges/types.js';
import { caught } from '../helpers/caught.js';
import { crashing, duplicatedEntries, fieldMutations, passing, PROTOTYPE_NAMES, sameTypeMutations } from '../helpers/fuzz.js';

// The adapter's calls go through this client; each test says what the exchange answers.
vi.mock('../../src/exchanges/ccxt.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/exchanges/ccxt.js')>()),
  createClient: vi.fn(),
}));

const NOW = Date.parse('2025-06-01T00:00:00Z');
type Answer = Record<string, unknown>;
const body = (name: string): Answer =>
  JSON.parse(readFileSync(new URL(`../fixtures/exchanges/bitget/${name}.json`, import.meta.url), 'utf8')) as Answer;
const fixture = (name: string): Answer => body(name).data as Answer;

const SUB = '6200000001';
const BOT: KeyTarget = { kind: 'bot', scopes: ['spot:trade', 'futures:trade'], ips: ['203.0.113.10', '203.0.113.11'], subaccount: SUB };
const MASTER: KeyTarget = { kind: 'master', exchange: 'bitget', masterScopes: bitgetCaps.masterScopes };
const CREDS = { apiKey: 'bg_FAKE0000000000000000000000000001', secret: 'FAKE-bitget-secret', passphrase: 'FAKEpass0001' };

/** inspectKey over an adapter whose account/info `data` is `answer`: the path verify, import and rotation take. */
async function check(answer: unknown, target: KeyTarget) {
  return inspectKey({
    adapter: { ...bitgetAdapter, inspect: async () => parseBitgetInfo(answer) },
    account: { id: 'main', exchange: 'bitget', options: {} } as never,
    credentials: CREDS,
    target,
    options: { now: NOW },
  });
}
const codes = async (answer: unknown, target: KeyTarget) => (await check(answer, target)).violations.map((v) => v.code);

function answering(response: unknown) {
  vi.mocked(createClient).mockResolvedValue({ call: async () => response } as unknown as ExchangeClient);
}
const list = () => bitgetAdapter.listKeys({ account: { exchange: 'bitget' }, master: CREDS, subaccount: SUB });

beforeEach(() => {
  vi.mocked(createClient).mockReset();
});

describe('bitget: account/info answers of another shape', () => {
  const clean = fixture('account-info-sub-clean');
  const withdrawing: Answer = { ...clean, authorities: [...(clean.authorities as string[]), 'wwow'] };

  it('reads the well-formed answer as WITHDRAW_ENABLED (the baseline of the cases below)', async () => {
    expect(await codes(withdrawing, BOT)).toEqual(['WITHDRAW_ENABLED']);
  });

  it.each([
    ['authorities as a comma string', { ...withdrawing, authorities: (withdrawing.authorities as string[]).join(',') }],
    ['authorities: null', { ...withdrawing, authorities: null }],
    ['authorities missing', (({ authorities: _a, ...rest }) => rest)(withdrawing)],
    ['authorities empty', { ...withdrawing, authorities: [] }],
    ['an authority listed twice', { ...withdrawing, authorities: [...(withdrawing.authorities as string[]), 'stow'] }],
    ['an authority that is not a name', { ...withdrawing, authorities: ['stor', 'spot trade', 'wwow'] }],
    ['an authority that is a number', { ...withdrawing, authorities: ['stor', 7, 'wwow'] }],
    ['ips as an array', { ...withdrawing, ips: ['203.0.113.10'] }],
    ['ips that are not addresses', { ...withdrawing, ips: '203.0.113.10,anywhere' }],
    ['ips separated by semicolons', { ...withdrawing, ips: '203.0.113.10;203.0.113.11' }],
    ['ips missing', (({ ips: _i, ...rest }) => rest)(withdrawing)],
    ['userId missing', (({ userId: _u, ...rest }) => rest)(withdrawing)],
    ['userId masked like the docs example', { ...withdrawing, userId: '**********' }],
    ['parentId as a word', { ...withdrawing, parentId: 'main' }],
    ['parentId negative', { ...withdrawing, parentId: -1 }],
    ['the whole data missing', undefined],
    ['data: null', null],
    ['data as a list', [withdrawing]],
  ])('%s: EXCHANGE_BAD_RESPONSE, not a pass', async (_name, answer) => {
    const result = await check(answer, BOT);
    expect(result.violations.map((v) => v.code)).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(result.violations[0]!.detail).toMatch(/bitget answered spot\/account\/info in a shape keyctl does not know/);
    expect(result.violations[0]!.detail).not.toContain('wwow');
    expect(result.violations[0]!.detail).not.toContain('203.0.113');
  });

  it('adapter.inspect reads the response body: a body without data is a bad answer', async () => {
    const inspect = (response: unknown) => {
      answering(response);
      return bitgetAdapter.inspect({ account: { exchange: 'bitget' }, key: CREDS, role: 'bot', subaccount: SUB });
    };
    expect((await inspect(body('account-info-sub-clean'))).owner).toEqual({ uid: SUB, isMaster: false, subaccount: SUB });
    expect((await caught(inspect({ code: '00000' }))).code).toBe('EXCHANGE_BAD_RESPONSE');
    expect((await caught(inspect({ code: '00000', result: clean }))).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('stays tolerant where the docs allow: unknown fields, parentId as an Int or a String, unknown authority names', async () => {
    expect(await codes({ ...clean, somethingNew: { nested: [1] } }, BOT)).toEqual([]);
    expect(await codes({ ...clean, parentId: '6100000001' }, BOT)).toEqual([]);
    expect(await codes({ ...clean, ips: '203.0.113.10, 203.0.113.11' }, BOT)).toEqual([]);
    expect(await codes({ ...clean, ips: '' }, BOT)).toEqual(['NOT_IP_LOCKED']);
    expect(await codes({ ...clean, authorities: [...(clean.authorities as string[]), 'pllw'] }, BOT)).toEqual(['UNKNOWN_PERMISSION']);
    expect(await codes(fixture('account-info-master-clean'), MASTER)).toEqual([]);
  });
});

/** Every mutation of an account/info answer: fields dropped, retyped, renamed; authorities and ips reshaped. */
function mutations(answer: Answer): Array<{ name: string; answer: Answer }> {
  const out: Array<{ name: string; answer: Answer }> = [...fieldMutations(answer), ...sameTypeMutations(answer)];
  const names = answer.authorities as string[];
  const ips = (answer.ips as string) || '203.0.113.10';
  for (const [name, bad] of [
    ['as a comma string', names.join(',')],
    ['as JSON', JSON.stringify(names)],
    ['joined in one entry', [names.join(',')]],
    ['upper-cased', names.map((n) => n.toUpperCase())],
    ['with an empty entry', [...names, '']],
    ['nested', [names]],
  ] as Array<[string, unknown]>) {
    out.push({ name: `authorities ${name}`, answer: { ...answer, authorities: bad } });
  }
  for (const proto of PROTOTYPE_NAMES) {
    out.push({ name: `authorities + ${proto}`, answer: { ...answer, authorities: [...names, proto] } });
    out.push({ name: `authorities = ${proto}`, answer: { ...answer, authorities: [proto] } });
  }
  for (const bad of [`${ips},7`, `${ips},not-an-ip`, `${ips};198.51.100.1`, `${ips} 198.51.100.1`, '203.**.10', [ips]]) {
    out.push({ name: `ips ${JSON.stringify(bad)}`, answer: { ...answer, ips: bad } });
  }
  for (const wide of ['0.0.0.0/00', '::0/0', '1.2.3.4/0', '::ffff:0.0.0.0/0', '0.0.0.0/1,128.0.0.0/1', '10.0.0.0/8', '*']) {
    out.push({ name: `ips + ${wide}`, answer: { ...answer, ips: `${ips},${wide}` } });
  }
  return out;
}

describe('bitget: fuzzing account/info answers', () => {
  const clean = fixture('account-info-sub-clean');
  const authorities = clean.authorities as string[];
  const singleFault: Record<string, Answer> = {
    'withdraw only': { ...clean, authorities: [...authorities, 'wwow'] },
    'transfer only': { ...clean, authorities: [...authorities, 'wtow'] },
    'margin beyond the slot only': { ...clean, authorities: [...authorities, 'smow'] },
    'copy trading (unknown) only': { ...clean, authorities: [...authorities, 'ttow'] },
    'sub-account management only': { ...clean, authorities: [...authorities, 'chow'] },
    'read-only only': { ...clean, authorities: ['stor', 'coor', 'cpor'] },
    'no IP lock only': { ...clean, ips: '' },
    'open to anywhere only': { ...clean, ips: '0.0.0.0/0' },
    'foreign IP only': { ...clean, ips: '198.51.100.99' },
    'other sub-account only': { ...clean, userId: '6200000002' },
    'main account key only': { ...clean, parentId: Number(clean.userId) },
  };
  const unsafe: Array<[string, KeyTarget]> = [
    ...Object.keys(singleFault).map((k): [string, KeyTarget] => [k, BOT]),
    ['account-info-doc-example', BOT],
    ['account-info-sub-withdraw-transfer', BOT],
    ['account-info-master-clean', BOT], // a master key where a bot key belongs
    ['account-info-sub-clean', MASTER], // a sub key where the master key belongs
  ];

  /**
   * `parentId` turned into another non-negative integer is another main account's uid: a well-formed answer only Bitget
   * can know to be false (fuzz.ts leaves such values out). It matters for the main account's key only, which reads as
   * one by `parentId` equal to `userId`; every other odd number (negative, fractional, unsafe) must still fail.
   */
  const anotherUid = (m: { name: string }) => {
    const n = /^parentId = (.+)$/.exec(m.name)?.[1];
    return n !== undefined && Number.isSafeInteger(Number(n)) && Number(n) >= 0;
  };

  it.each(unsafe)('no mutation of the unsafe key "%s" passes', async (name, target) => {
    const base = singleFault[name] ?? fixture(name);
    expect(await codes(base, target)).not.toEqual([]);
    const all = mutations(base).filter((m) => !anotherUid(m));
    expect(await passing(all, (a) => codes(a, target))).toEqual([]);
    expect(all.length).toBeGreaterThan(100);
  });

  it.each([
    ['account-info-sub-clean', BOT],
    ['account-info-master-clean', MASTER],
    ['account-info-doc-example', BOT],
    ['account-info-sub-withdraw-transfer', BOT],
  ] as Array<[string, KeyTarget]>)('no mutation of %s crashes: each is violations or a pass', async (name, target) => {
    expect(await crashing(mutations(fixture(name)), (a) => check(a, target))).toEqual([]);
  });
});

describe('bitget: the sub-account key list (what the orphan sweep reads)', () => {
  const listBody = body('virtual-subaccount-apikey-list');
  const items = listBody.data as Answer[];
  const clean = async (): Promise<ListedKey[]> => {
    answering(listBody);
    return list();
  };

  it('an empty list is a list (a sub-account without keys)', async () => {
    answering({ code: '00000', data: [] });
    expect(await list()).toEqual([]);
  });

  it.each([
    ['data missing', { code: '00000' }],
    ['data: null', { code: '00000', data: null }],
    ['data as one object', { code: '00000', data: items[0] }],
    ['a key without subAccountApiKey', { code: '00000', data: [(({ subAccountApiKey: _k, ...rest }) => rest)(items[0]!)] }],
    ['a key without label (the sweep finds keyctl keys by it)', { code: '00000', data: [(({ label: _l, ...rest }) => rest)(items[0]!)] }],
    ['permList as a comma string', { code: '00000', data: [{ ...items[0], permList: 'spot_trade,contract_trade' }] }],
    ['ipList as a comma string', { code: '00000', data: [{ ...items[0], ipList: '203.0.113.10' }] }],
    ['an ipList entry that is no address', { code: '00000', data: [{ ...items[0], ipList: ['anywhere'] }] }],
    ['a key of another sub-account', { code: '00000', data: [items[0], { ...items[1], subAccountUid: '6200000002' }] }],
    ['a key listed twice', { code: '00000', data: [items[0], items[1], items[0]] }],
  ])('%s: throws EXCHANGE_BAD_RESPONSE, never an empty or shorter list', async (_name, response) => {
    answering(response);
    const err = await caught(list());
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.message).toMatch(/bitget answered user\/virtual-subaccount-apikey-list in a shape keyctl does not know/);
    expect(err.message).not.toContain('FAKE');
  });

  it('no mutation drops a key or makes one look safer: each throws, or lists every key with its permissions', async () => {
    const expected = await clean();
    const all = [
      ...items.flatMap((item, i) =>
        [...fieldMutations(item), ...sameTypeMutations(item)].map((m) => ({
          name: `key ${i}: ${m.name}`,
          data: items.map((k, j) => (j === i ? m.answer : k)),
        })),
      ),
      ...duplicatedEntries(items).map((d) => ({ name: d.name, data: d.list })),
    ];
    const quiet: string[] = [];
    for (const m of all) {
      answering({ code: '00000', data: m.data });
      const got = await list().catch((err: unknown) => err);
      if (got instanceof Error) {
        if ((got as { code?: string }).code !== 'EXCHANGE_BAD_RESPONSE') quiet.push(`${m.name}: ${String(got)}`);
        continue;
      }
      const keys = got as ListedKey[];
      const safer = expected.some((e, i) => {
        const k = keys[i];
        if (!k || k.apiKey !== e.apiKey || k.label !== e.label) return true;
        if (e.scopes.some((s) => !k.scopes.includes(s)) && !k.scopes.some((s) => s.startsWith('unknown:'))) return true;
        return k.ips !== 'unrestricted' && JSON.stringify(k.ips) !== JSON.stringify(e.ips);
      });
      if (safer || keys.length !== expected.length) quiet.push(m.name);
    }
    expect(quiet).toEqual([]);
    expect(all.length).toBeGreaterThan(100);
  });
});
