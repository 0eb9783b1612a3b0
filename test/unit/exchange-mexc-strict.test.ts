/**
 * MEXC answers are parsed against their documented shape (Query the APIKey of a sub-account, Account Information, Query
 * Sub-account List: https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints,
 * https://www.mexc.com/api-docs/spot-v3/spot-account-trade): an answer of any other shape is an EXCHANGE_BAD_RESPONSE
 * violation, never a key with fewer permissions. A bot key is read from the master's listing of its sub-account, so the
 * fuzz mutates the listed entry the adapter reads; a master key from Account Information. Then the list the orphan sweep
 * reads, and the create and delete answers.
 */
import { readFileSync } from 'node:fs';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient, type ExchangeClient } from '../../src/exchanges/ccxt.js';
import { adapter as mexcAdapter, capabilities as mexcCaps } from '../../src/exchanges/mexc/adapter.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import type { KeyTarget } from '../../src/domain/policy.js';
import type { ExchangeAdapter } from '../../src/exchanges/types.js';
import { ExchangeError } from '@keyctl/client/errors';
import { caught } from '../helpers/caught.js';
import { crashing, fieldMutations, passing, prototypeTokenMutations, sameTypeMutations } from '../helpers/fuzz.js';

vi.mock('../../src/exchanges/ccxt.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../src/exchanges/ccxt.js')>()),
  createClient: vi.fn(),
}));

const NOW = Date.parse('2025-06-01T00:00:00Z');
type Answer = Record<string, unknown>;
const body = (name: string): Answer =>
  JSON.parse(readFileSync(new URL(`../fixtures/exchanges/mexc/${name}.json`, import.meta.url), 'utf8')) as Answer;
const listed = (index: number): Answer => (body('sub-account-apikey-list').subAccount as Answer[])[index]!;

const SUB = 'alphaarb1';
const BOT: KeyTarget = { kind: 'bot', scopes: ['spot:trade', 'futures:trade'], ips: ['203.0.113.10', '203.0.113.11'], subaccount: SUB };
const MASTER: KeyTarget = { kind: 'master', exchange: 'mexc', masterScopes: mexcCaps.masterScopes };
const MASTER_CREDS = { apiKey: 'FAKE-mexc-master', secret: 'FAKE-mexc-master-secret' };
const ACCOUNT = { exchange: 'mexc' };
const CLEAN_ACCOUNT = { ...body('account-doc-example'), canTrade: false, canWithdraw: false };

/**
 * The exchange's answers by ccxt method: the declared sub-account's listing is `declared`, every other sub-account's
 * is empty; the sub-account list names the declared one and one other.
 */
function exchange(answers: { declared?: unknown; account?: unknown; subs?: unknown; created?: unknown; deleted?: unknown }) {
  vi.mocked(createClient).mockResolvedValue({
    call: async (method: string, params: Record<string, unknown>) => {
      switch (method) {
        case 'spotPrivateGetAccount':
          return answers.account ?? CLEAN_ACCOUNT;
        case 'spotPrivateGetSubAccountApiKey':
          return params.subAccount === SUB ? answers.declared : { subAccount: [] };
        case 'spotPrivateGetSubAccountList':
          return answers.subs ?? { subAccounts: [{ subAccount: SUB }, { subAccount: 'othersub01' }] };
        case 'spotPrivatePostSubAccountApiKey':
          return answers.created;
        case 'spotPrivateDeleteSubAccountApiKey':
          return answers.deleted;
        default:
          throw new Error(`unexpected ${method}`);
      }
    },
  } as unknown as ExchangeClient);
}

/** inspectKey over the real adapter: the listed entry `entry` is what the master's listing holds for the bot key. */
async function check(entry: unknown, target: KeyTarget, asked = 'FAKE-MEXC-LISTED-CLEAN') {
  const master = target.kind === 'master';
  if (master) exchange({ account: entry, subs: { subAccounts: [] } });
  else exchange({ declared: { subAccount: [entry] } });
  const adapter: ExchangeAdapter = {
    ...mexcAdapter,
    inspect: (req) => mexcAdapter.inspect({ ...req, ...(master ? {} : { master: MASTER_CREDS, subaccount: SUB }) }),
  };
  return inspectKey({
    adapter,
    account: { id: 'main', exchange: 'mexc', options: {} } as never,
    credentials: { apiKey: asked, secret: 'FAKE-mexc-secret-0001' },
    target,
    // A master's IP whitelist is unreported on MEXC, always: accepted here, so the master cases test the other checks
    // (the UNVERIFIABLE itself: test/unit/policy.test.ts and the contract suite).
    options: { now: NOW, ...(master ? { accept: ['ip-lock-unverifiable' as const] } : {}) },
  });
}
const codes = async (entry: unknown, target: KeyTarget, asked?: string) =>
  (await check(entry, target, asked)).violations.map((v) => v.code);

beforeEach(() => {
  vi.mocked(createClient).mockReset();
});

describe('mexc: reading a bot key from the master listing', () => {
  const clean = listed(0);

  it('reads the clean listed key as passing, and each unsafe one as what it is', async () => {
    expect(await codes(clean, BOT)).toEqual([]);
    expect(await codes(listed(2), BOT, 'FAKE-MEXC-LISTED-WITHDRAW')).toEqual(['WITHDRAW_ENABLED']);
    expect((await codes(listed(1), BOT, 'FAKE-MEXC-LISTED-XFER')).sort()).toEqual([
      'MISSING_SCOPE',
      'NOT_IP_LOCKED',
      'TRANSFER_ENABLED',
      'UNKNOWN_PERMISSION',
    ]);
  });

  it('finds a key of another sub-account of the master and names it (WRONG_ACCOUNT, its real permissions)', async () => {
    vi.mocked(createClient).mockResolvedValue({
      call: async (method: string, params: Record<string, unknown>) =>
        method === 'spotPrivateGetAccount'
          ? CLEAN_ACCOUNT
          : method === 'spotPrivateGetSubAccountList'
            ? { subAccounts: [{ subAccount: SUB }, { subAccount: 'othersub01' }] }
            : { subAccount: params.subAccount === 'othersub01' ? [listed(2)] : [] },
    } as unknown as ExchangeClient);
    const inspection = await mexcAdapter.inspect({
      account: ACCOUNT,
      key: { apiKey: 'FAKE-MEXC-LISTED-WITHDRAW', secret: 'FAKE-s' },
      role: 'bot',
      subaccount: SUB,
      master: MASTER_CREDS,
    });
    expect(inspection.owner).toEqual({ isMaster: false, subaccount: 'othersub01' });
    expect(inspection.scopes).toContain('withdraw');
  });

  it('a key in no sub-account of the master is WRONG_ACCOUNT with unreadable permissions, never a pass', async () => {
    // Its permissions cannot be read: unknown, and the declared trade scopes not shown either.
    expect((await codes(clean, BOT, 'FAKE-MEXC-NOWHERE')).sort()).toEqual(['MISSING_SCOPE', 'UNKNOWN_PERMISSION', 'WRONG_ACCOUNT']);
  });

  it('needs the master key for a bot key (MASTER_KEY_REQUIRED)', async () => {
    exchange({ declared: { subAccount: [clean] } });
    const err = await caught(mexcAdapter.inspect({ account: ACCOUNT, key: MASTER_CREDS, role: 'bot', subaccount: SUB }));
    expect(err.code).toBe('MASTER_KEY_REQUIRED');
  });

  it.each([
    ['permissions as an array', { ...clean, permissions: ['SPOT_ACCOUNT_READ', 'SPOT_WITHDRAW_WRITE'] }],
    ['permissions separated by semicolons', { ...clean, permissions: 'SPOT_ACCOUNT_READ;SPOT_WITHDRAW_WRITE' }],
    ['permissions as JSON', { ...clean, permissions: '["SPOT_ACCOUNT_READ","SPOT_WITHDRAW_WRITE"]' }],
    ['permissions missing', (({ permissions: _p, ...rest }) => rest)(clean)],
    ['ip missing', (({ ip: _i, ...rest }) => rest)(clean)],
    ['ip as an array', { ...clean, ip: ['203.0.113.10'] }],
    ['ip masked', { ...clean, ip: '203.**.10' }],
    ['ip separated by spaces', { ...clean, ip: '203.0.113.10 198.51.100.7' }],
    ['createTime as a string', { ...clean, createTime: '1746086400000' }],
    ['note missing (the sweep finds keys by it)', (({ note: _n, ...rest }) => rest)(clean)],
    ['the entry as a string', 'FAKE-MEXC-LISTED-CLEAN'],
  ])('%s: EXCHANGE_BAD_RESPONSE, not a pass', async (_name, entry) => {
    const result = await check(entry, BOT);
    expect(result.violations.map((v) => v.code)).toEqual(['EXCHANGE_BAD_RESPONSE']);
    expect(result.violations[0]!.detail).toMatch(/mexc answered sub-account\/apiKey in a shape keyctl does not know/);
    expect(result.violations[0]!.detail).not.toContain('203.0.113');
    expect(result.violations[0]!.detail).not.toContain('FAKE-');
  });

  it.each([
    ['the listing without subAccount', {}],
    ['subAccount as one object', { subAccount: listed(0) }],
    ['the listing paginated', { data: { subAccount: [listed(0)] } }],
    ['the key listed twice', { subAccount: [listed(0), listed(0)] }],
  ])('a listing of another shape (%s) is a bad answer', async (_name, declared) => {
    exchange({ declared });
    const err = await caught(
      mexcAdapter.inspect({
        account: ACCOUNT,
        key: { apiKey: 'FAKE-MEXC-LISTED-CLEAN', secret: 'x' },
        role: 'bot',
        subaccount: SUB,
        master: MASTER_CREDS,
      }),
    );
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
  });
});

/** Each field of a listed entry dropped, retyped, renamed; same-type mutations; permissions and ip reshaped. */
function mutations(entry: Answer): Array<{ name: string; answer: Answer }> {
  const out = [
    ...fieldMutations(entry),
    ...sameTypeMutations(entry, { times: ['createTime'] }),
    ...prototypeTokenMutations(entry, 'permissions'),
  ];
  const { permissions, ip } = entry as { permissions: string; ip: string };
  const ips = ip || '203.0.113.10';
  const names = permissions.split(',');
  for (const [name, bad] of [
    ['as an array', names],
    ['as JSON', JSON.stringify(names)],
    [';-separated', names.join(';')],
    ['space-separated', names.join(' ')],
  ] as Array<[string, unknown]>) {
    out.push({ name: `permissions ${name}`, answer: { ...entry, permissions: bad } });
  }
  for (const bad of [`${ip},7`, `${ip},not-an-ip`, `${ips};198.51.100.1`, `${ips} 198.51.100.1`, '203.**.10', [ip]]) {
    out.push({ name: `ip ${JSON.stringify(bad)}`, answer: { ...entry, ip: bad } });
  }
  for (const wide of ['0.0.0.0/0', '::0/0', '1.2.3.4/0', '0.0.0.0/1,128.0.0.0/1', '10.0.0.0/8']) {
    out.push({ name: `ip + ${wide}`, answer: { ...entry, ip: `${ips},${wide}` } });
  }
  return out;
}

describe('mexc: fuzzing the listed entry of a bot key', () => {
  const clean = listed(0);
  const singleFault: Record<string, Answer> = {
    'withdraw only': { ...clean, permissions: `${clean.permissions as string},SPOT_WITHDRAW_WRITE` },
    'transfer only': { ...clean, permissions: `${clean.permissions as string},SPOT_TRANSFER_WRITE` },
    'key management only': { ...clean, permissions: `${clean.permissions as string},SPOT_ACCOUNT_WRITE` },
    'unknown permission only': { ...clean, permissions: `${clean.permissions as string},SPOT_EARN_WRITE` },
    'read-only only': { ...clean, permissions: 'SPOT_ACCOUNT_READ,SPOT_DEAL_READ' },
    'no IP lock only': { ...clean, ip: '' },
    'open to anywhere only': { ...clean, ip: '0.0.0.0/0' },
    'foreign IP only': { ...clean, ip: '198.51.100.99' },
  };
  it.each(Object.keys(singleFault))('no mutation of the unsafe key "%s" passes', async (name) => {
    const base = singleFault[name]!;
    expect(await codes(base, BOT)).not.toEqual([]);
    const all = mutations(base);
    expect(await passing(all, (a) => codes(a, BOT))).toEqual([]);
    expect(all.length).toBeGreaterThan(100);
  });

  it.each([0, 1, 2])('no mutation of listed key %i crashes: each is violations or a pass', async (i) => {
    expect(await crashing(mutations(listed(i)), (a) => check(a, BOT))).toEqual([]);
  });
});

describe('mexc: reading a master key', () => {
  it('passes a clean master, flags the documented account example (canTrade, canWithdraw) fail-closed', async () => {
    expect(await codes(CLEAN_ACCOUNT, MASTER)).toEqual([]);
    expect((await codes(body('account-doc-example'), MASTER)).sort()).toEqual(['EXCESS_SCOPE', 'WITHDRAW_ENABLED']);
  });

  it('a key refused the sub-account list (700007) lacks keys:manage (MISSING_SCOPE), not an error', async () => {
    vi.mocked(createClient).mockResolvedValue({
      call: async (method: string) => {
        if (method === 'spotPrivateGetAccount') return CLEAN_ACCOUNT;
        throw new ExchangeError('PERMISSION_DENIED', 'mexc refused: no permission (700007)', { details: { exchangeCode: '700007' } });
      },
    } as unknown as ExchangeClient);
    const inspection = await mexcAdapter.inspect({ account: ACCOUNT, key: MASTER_CREDS, role: 'master' });
    expect(inspection.scopes).toEqual(['read']);
    expect(inspection.owner).toEqual({});
  });

  it('no mutation of the withdraw-capable account answer passes, and none crashes', async () => {
    const withdrawing = { ...CLEAN_ACCOUNT, canWithdraw: true };
    const all = [...fieldMutations(withdrawing), ...sameTypeMutations(withdrawing)];
    expect(await passing(all, (a) => codes(a, MASTER))).toEqual([]);
    expect(await crashing(all, (a) => check(a, MASTER))).toEqual([]);
  });
});

describe('mexc: the sub-account key list, create and delete answers', () => {
  const list = () => mexcAdapter.listKeys({ account: ACCOUNT, master: MASTER_CREDS, subaccount: SUB });

  it('reads the listing the orphan sweep uses', async () => {
    exchange({ declared: body('sub-account-apikey-list') });
    expect(await list()).toEqual([
      {
        apiKey: 'FAKE-MEXC-LISTED-CLEAN',
        label: 'alpha-arb1 rot-01',
        scopes: ['read', 'spot:trade', 'futures:trade'],
        ips: ['203.0.113.10'],
        createdAt: '2025-05-01T08:00:00.000Z',
      },
      {
        apiKey: 'FAKE-MEXC-LISTED-XFER',
        label: 'alpha-arb1',
        scopes: ['read', 'spot:trade', 'transfer', 'unknown:SPOT_EARN_WRITE'],
        ips: 'unrestricted',
        createdAt: '2025-05-01T08:00:00.000Z',
      },
      {
        apiKey: 'FAKE-MEXC-LISTED-WITHDRAW',
        label: 'alpha-arb1 old',
        scopes: ['read', 'spot:trade', 'futures:trade', 'withdraw'],
        ips: ['203.0.113.10', '203.0.113.11'],
        createdAt: '2025-05-01T08:00:00.000Z',
      },
    ]);
    exchange({ declared: body('sub-account-apikey-doc-example') });
    expect((await list()).map((k) => k.scopes)).toEqual([
      ['read', 'keys:manage'],
      ['read', 'keys:manage'],
    ]);
  });

  it.each([
    ['no subAccount', {}],
    ['subAccount: null', { subAccount: null }],
    ['a key listed twice', { subAccount: [listed(0), listed(0)] }],
    ['a key without note', { subAccount: [(({ note: _n, ...rest }) => rest)(listed(0))] }],
    ['an ip that is no address', { subAccount: [{ ...listed(0), ip: 'anywhere' }] }],
  ])('refuses a listing with %s (EXCHANGE_BAD_RESPONSE, never an empty list)', async (_name, declared) => {
    exchange({ declared });
    expect((await caught(list())).code).toBe('EXCHANGE_BAD_RESPONSE');
  });

  it('reads the documented create answer; one without the secret is a bad answer that names the orphan sweep', async () => {
    const request = {
      account: ACCOUNT,
      master: MASTER_CREDS,
      subaccount: SUB,
      scopes: ['spot:trade' as const],
      ips: ['203.0.113.10'],
      label: 'keyctl-rot-1',
    };
    exchange({ created: body('sub-account-apikey-create-doc-example') });
    expect(await mexcAdapter.createKey(request)).toEqual({ apiKey: 'FAKE-MEXC-CREATED', secret: 'FAKE-MEXC-CREATED-SECRET' });
    exchange({ created: { ...body('sub-account-apikey-create-doc-example'), secretKey: undefined } });
    const err = await caught(mexcAdapter.createKey(request));
    expect(err.code).toBe('EXCHANGE_BAD_RESPONSE');
    expect(err.hint).toContain('orphan sweep');
  });

  it('checks the delete answer names the sub-account asked about', async () => {
    const request = { account: ACCOUNT, master: MASTER_CREDS, subaccount: SUB, apiKey: 'FAKE-MEXC-LISTED-CLEAN' };
    exchange({ deleted: { subAccount: SUB } });
    await expect(mexcAdapter.deleteKey(request)).resolves.toBeUndefined();
    exchange({ deleted: { subAccount: 'othersub01' } });
    expect((await caught(mexcAdapter.deleteKey(request))).code).toBe('EXCHANGE_BAD_RESPONSE');
    exchange({ deleted: [] });
    expect((await caught(mexcAdapter.deleteKey(request))).code).toBe('EXCHANGE_BAD_RESPONSE');
  });
});
