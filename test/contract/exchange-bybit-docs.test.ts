/**
 * Bybit's documented rules, end to end: the real adapter and real ccxt against the Bybit sandbox (started in-process,
 * as test/contract/exchange-suite.ts does). Each case is a rule from Bybit's v5 documentation that the shared suite does
 * not reach: unified trading accounts and their automatic Derivatives permission, the permissions of a read-only key,
 * the listing's `readOnly` boolean, the 90-day life of every key without an IP binding, page cursors that reach the
 * sandbox's exact signature check only if they travel unchanged, and switching a key to read-only (a read-only kill).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { skipCcxtThrottle } from '../helpers/ccxt-throttle.js';
import { evaluateKey, type ViolationCode } from '../../src/domain/policy.js';
import type { DeclarableScope } from '../../src/domain/scopes.js';
import { emulator } from '../../src/exchanges/bybit/sandbox.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { CallOptions, Credentials, ExchangeAccount, ExchangeAdapter } from '../../src/exchanges/types.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';

const CLIENT_IP = '203.0.113.10';
const CALL: CallOptions = { timeoutMs: 5_000, attempts: 3, backoffMs: 10 };
const DAY = 86_400_000;
const SPOT: DeclarableScope[] = ['spot:trade'];

describe('bybit: documented rules through the adapter, real ccxt and the sandbox', () => {
  skipCcxtThrottle();
  let sandbox: RunningSandbox;
  let adapter: ExchangeAdapter;
  let account: ExchangeAccount;

  /** A main account with a clean master key; `uta` seeds the master with DerivativesTrade, which makes the tree a UTA. */
  const newTree = async (uta: boolean) => {
    const mainUid = (await sandbox.admin.createAccount('bybit')).uid;
    const master = (await sandbox.admin.createKey({
      exchange: 'bybit',
      owner: mainUid,
      master: true,
      permissions: { Wallet: ['AccountTransfer', 'SubMemberTransfer'], ...(uta ? { Derivatives: ['DerivativesTrade'] } : {}) },
      ips: [CLIENT_IP],
      label: 'keyctl master',
    })) as Credentials;
    const newSub = async () => (await sandbox.admin.createSubaccount('bybit', mainUid)).id;
    return { mainUid, master, newSub };
  };
  const seed = async (sub: string, permissions: Record<string, string[]>, extra: { ips?: string[]; readOnly?: boolean } = {}) =>
    (await sandbox.admin.createKey({
      exchange: 'bybit',
      owner: sub,
      permissions,
      ips: extra.ips ?? [CLIENT_IP],
      label: 'contract',
      ...(extra.readOnly !== undefined ? { readOnly: extra.readOnly } : {}),
    })) as Credentials;
  const inspect = (sub: string, key: Credentials) => adapter.inspect({ ...CALL, account, key, role: 'bot', subaccount: sub });
  const codes = async (sub: string, key: Credentials, scopes: DeclarableScope[]): Promise<ViolationCode[]> =>
    evaluateKey(await inspect(sub, key), { kind: 'bot', scopes, ips: [CLIENT_IP], subaccount: sub }).map((v) => v.code);

  beforeAll(async () => {
    sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
    adapter = await getAdapter('bybit');
    account = { name: 'bybit-main', exchange: 'bybit', baseUrl: `${sandbox.url}/bybit` };
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  describe('unified trading accounts (https://bybit-exchange.github.io/docs/v5/user/apikey-info)', () => {
    it('passes a spot-only key of a UTA on a [read, spot:trade] slot, although Bybit shows it DerivativesTrade', async () => {
      const tree = await newTree(true);
      const sub = await tree.newSub();
      // Seeded as {"Spot":["SpotTrade"]}; query-api answers uta: 1, unified: 1 and the automatic Derivatives permission.
      const key = await seed(sub, { Spot: ['SpotTrade'] });
      const inspection = await inspect(sub, key);
      expect(inspection.native).toMatchObject({ uta: 1, permissions: { Spot: ['SpotTrade'], Derivatives: ['DerivativesTrade'] } });
      expect(inspection.scopes).toEqual(['read', 'spot:trade']);
      expect(await codes(sub, key, SPOT)).toEqual([]);
    });

    it('fails a UTA key that can trade contracts or options on a spot-only slot (EXCESS_SCOPE)', async () => {
      const tree = await newTree(true);
      const sub = await tree.newSub();
      const contracts = await seed(sub, { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'] });
      expect(await codes(sub, contracts, SPOT)).toEqual(['EXCESS_SCOPE']);
      const options = await seed(sub, { Spot: ['SpotTrade'], Options: ['OptionsTrade'] });
      expect(await codes(sub, options, SPOT)).toEqual(['EXCESS_SCOPE']);
      // The same key on its declared slot passes: the marker adds nothing.
      expect(await codes(sub, contracts, ['spot:trade', 'futures:trade'])).toEqual([]);
    });

    it('passes a clean UTA master key, and creates a spot-only key on a UTA that verifies clean', async () => {
      const tree = await newTree(true);
      const masterInspection = await adapter.inspect({ ...CALL, account, key: tree.master, role: 'master' });
      expect(masterInspection.native).toMatchObject({ uta: 1 });
      expect(evaluateKey(masterInspection, { kind: 'master', exchange: 'bybit', masterScopes: adapter.capabilities.masterScopes })).toEqual(
        [],
      );
      const sub = await tree.newSub();
      const created = await adapter.createKey({
        ...CALL,
        account,
        master: tree.master,
        subaccount: sub,
        scopes: SPOT,
        ips: [CLIENT_IP],
        label: 'keyctl-uta',
      });
      expect(await codes(sub, created, SPOT)).toEqual([]);
    });

    it('keeps a classic account classic: uta 0, no Derivatives', async () => {
      const tree = await newTree(false);
      const sub = await tree.newSub();
      const key = await seed(sub, { Spot: ['SpotTrade'] });
      const inspection = await inspect(sub, key);
      expect(inspection.native).toMatchObject({ uta: 0, permissions: { Derivatives: [] } });
      expect(await codes(sub, key, SPOT)).toEqual([]);
    });
  });

  describe('read-only keys (https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey)', () => {
    it('creates a read-only slot with a non-empty permissions object the sandbox accepts; the key verifies as read only', async () => {
      const tree = await newTree(false);
      const sub = await tree.newSub();
      const created = await adapter.createKey({
        ...CALL,
        account,
        master: tree.master,
        subaccount: sub,
        scopes: ['read'],
        ips: [CLIENT_IP],
        label: 'keyctl-ro',
      });
      const inspection = await inspect(sub, created);
      expect(inspection.readOnly).toBe(true);
      expect(inspection.scopes).toEqual(['read']);
      expect(inspection.native).toMatchObject({ readOnly: 1, permissions: { Exchange: ['ExchangeHistory'] } });
      expect(evaluateKey(inspection, { kind: 'bot', scopes: ['read'], ips: [CLIENT_IP], subaccount: sub })).toEqual([]);
      await adapter.ping({ ...CALL, account, key: created });
    });

    it("reads the listing's readOnly boolean by its documented meaning (zh-TW/v5/user/list-sub-apikeys)", async () => {
      const tree = await newTree(false);
      const sub = await tree.newSub();
      const rw = await seed(sub, { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'] });
      const ro = await seed(sub, { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'] }, { readOnly: true });
      const listed = await adapter.listKeys({ ...CALL, account, master: tree.master, subaccount: sub });
      expect(listed.find((k) => k.apiKey === rw.apiKey)?.scopes).toEqual(['read', 'spot:trade', 'futures:trade']);
      expect(listed.find((k) => k.apiKey === ro.apiKey)?.scopes).toEqual(['read']);
      // query-api agrees with the listing.
      expect((await inspect(sub, ro)).scopes).toEqual(['read']);
      expect((await inspect(sub, rw)).readOnly).toBe(false);
    });
  });

  describe('switching a key to read-only (https://bybit-exchange.github.io/docs/v5/user/modify-sub-apikey)', () => {
    const TRADER = { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'], Options: ['OptionsTrade'] };
    const TRADER_SCOPES: DeclarableScope[] = ['spot:trade', 'futures:trade', 'options:trade'];
    const makeReadOnly = (master: Credentials, sub: string, key: Credentials) =>
      adapter.makeReadOnly!({ ...CALL, account, master, subaccount: sub, apiKey: key.apiKey });
    const tradingRequest = (key: Credentials) => ({ ...CALL, account, key, markets: ['linear' as const] });

    it.each([
      ['a classic account', false],
      ['a unified trading account', true],
    ])('on %s: the key still authenticates and reads, inspects as read-only without a trade scope, and cannot trade', async (_n, uta) => {
      const tree = await newTree(uta);
      const sub = await tree.newSub();
      const key = await seed(sub, TRADER, { ips: [CLIENT_IP, '198.51.100.0/24'] });
      const before = await inspect(sub, key);
      expect(before.scopes).toEqual(expect.arrayContaining(['spot:trade', 'futures:trade', 'options:trade']));
      await sandbox.admin.seedPosition({ exchange: 'bybit', owner: sub, symbol: 'BTCUSDT', side: 'long', size: '0.5', market: 'linear' });

      await makeReadOnly(tree.master, sub, key);

      const after = await inspect(sub, key);
      expect(after.readOnly).toBe(true);
      expect(after.scopes).toEqual(['read']);
      expect(after.native).toMatchObject({ readOnly: 1, permissions: TRADER });
      // The allowlist is kept: update-sub-api unbinds a key whose ips are not sent.
      expect(after.ips).toEqual(before.ips);
      expect((await sandbox.admin.listKeys({ exchange: 'bybit', owner: sub }))[0]).toMatchObject({ readOnly: true });
      // The policy: a trading slot's key is now short of its scopes; a read-only slot would take it.
      expect(
        evaluateKey(after, { kind: 'bot', scopes: TRADER_SCOPES, ips: [CLIENT_IP, '198.51.100.0/24'], subaccount: sub }).map((v) => v.code),
      ).toContain('MISSING_SCOPE');
      await adapter.ping({ ...CALL, account, key });
      // It reads its positions, but closing one is an order: 10005, PERMISSION_DENIED.
      const positions = await adapter.trading!.listPositions(tradingRequest(key));
      expect(positions).toHaveLength(1);
      await expect(adapter.trading!.closePosition(tradingRequest(key), positions[0]!)).rejects.toMatchObject({
        code: 'PERMISSION_DENIED',
        details: { exchangeCode: '10005' },
      });
      expect(await sandbox.admin.listPositions({ exchange: 'bybit', owner: sub })).toHaveLength(1);
      // Again: nothing changes, and it still says so.
      await makeReadOnly(tree.master, sub, key);
      expect((await inspect(sub, key)).readOnly).toBe(true);
    });

    it('keeps an unbound key unbound', async () => {
      const tree = await newTree(false);
      const sub = await tree.newSub();
      const key = await seed(sub, TRADER, { ips: [] });
      await makeReadOnly(tree.master, sub, key);
      const after = await inspect(sub, key);
      expect(after).toMatchObject({ readOnly: true, ips: 'unrestricted', scopes: ['read'] });
    });

    it('is refused to a caller that is not the master of that sub-account, and for a key of another sub-account', async () => {
      const tree = await newTree(false);
      const sub = await tree.newSub();
      const key = await seed(sub, TRADER);
      // The bot key as caller: Bybit refuses its listing of sub keys (10005).
      await expect(makeReadOnly(key, sub, key)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      // Another main account's master: its sub-account listing of this sub is refused (10001).
      const other = await newTree(false);
      await expect(makeReadOnly(other.master, sub, key)).rejects.toMatchObject({ code: 'EXCHANGE_REFUSED' });
      // The right master, but the key declared under another of its sub-accounts.
      const sibling = await tree.newSub();
      await expect(makeReadOnly(tree.master, sibling, key)).rejects.toMatchObject({ code: 'EXCHANGE_REFUSED' });
      const view = await inspect(sub, key);
      expect(view.readOnly).toBe(false);
      expect(view.scopes).toContain('spot:trade');
    });

    it.each([
      ['readOnly 0', (r: Record<string, unknown>) => ({ ...r, readOnly: 0 })],
      ['no ips', (r: Record<string, unknown>) => ({ ...r, ips: undefined })],
      ['the allowlist dropped', (r: Record<string, unknown>) => ({ ...r, ips: ['*'] })],
      ['another key', (r: Record<string, unknown>) => ({ ...r, apiKey: 'FAKEFAKEFAKEFAKE01' })],
    ])('fails closed on an answer with %s that reaches the adapter through real ccxt', async (_n, doctor) => {
      const tree = await newTree(false);
      const sub = await tree.newSub();
      const key = await seed(sub, TRADER);
      const handle = emulator.handle.bind(emulator);
      const spy = vi.spyOn(emulator, 'handle').mockImplementation((req, ctx) => {
        const reply = handle(req, ctx);
        if (req.path !== '/v5/user/update-sub-api') return reply;
        const body = reply.body as Record<string, unknown>;
        return { ...reply, body: { ...body, result: doctor(body.result as Record<string, unknown>) } };
      });
      try {
        await expect(makeReadOnly(tree.master, sub, key)).rejects.toMatchObject({ code: 'EXCHANGE_BAD_RESPONSE' });
      } finally {
        spy.mockRestore();
      }
    });
  });

  describe('keys without an IP binding live 90 days (https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey)', () => {
    /** Seeds a key `daysAgo` days in the past: the in-process sandbox stamps createdAt with the faked clock. */
    const seedInPast = async (sub: string, daysAgo: number, ips: string[]) => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() - daysAgo * DAY);
      const key = await seed(sub, { Spot: ['SpotTrade'] }, { ips });
      vi.useRealTimers();
      return key;
    };

    it('gives an admin-seeded unbound key its expiry: EXPIRING near the end, KEY_REJECTED after it', async () => {
      const tree = await newTree(false);
      const sub = await tree.newSub();
      const fresh = await seed(sub, { Spot: ['SpotTrade'] }, { ips: [] });
      const inspection = await inspect(sub, fresh);
      expect(Date.parse(inspection.expiresAt!) - Date.parse(inspection.createdAt!)).toBeGreaterThan(89 * DAY);
      expect(Date.parse(inspection.expiresAt!) - Date.parse(inspection.createdAt!)).toBeLessThanOrEqual(90 * DAY);
      expect(await codes(sub, fresh, SPOT)).toEqual(['NOT_IP_LOCKED']);

      const ending = await seedInPast(sub, 85, []);
      expect((await codes(sub, ending, SPOT)).sort()).toEqual(['EXPIRING', 'NOT_IP_LOCKED']);
      const ended = await seedInPast(sub, 91, []);
      await expect(inspect(sub, ended)).rejects.toMatchObject({ code: 'KEY_REJECTED', details: { exchangeCode: '33004' } });
      // An IP-bound key of the same age is permanent.
      const bound = await seedInPast(sub, 91, [CLIENT_IP]);
      const boundInspection = await inspect(sub, bound);
      expect(boundInspection.expiresAt).toBeUndefined();
      expect(await codes(sub, bound, SPOT)).toEqual([]);
    });
  });

  describe('page cursors travel unchanged (https://bybit-exchange.github.io/docs/v5/user/list-sub-apikeys)', () => {
    it('lists 45 keys over three pages whose cursors hold = / %2B %25, each request signed exactly as sent', async () => {
      const tree = await newTree(false);
      const sub = await tree.newSub();
      const seeded = new Set<string>();
      for (let i = 0; i < 45; i++) seeded.add((await seed(sub, { Spot: ['SpotTrade'] })).apiKey);
      // What reaches the emulator: the query strings as sent, and what each request was answered.
      const handle = vi.spyOn(emulator, 'handle');
      try {
        const listed = await adapter.listKeys({ ...CALL, account, master: tree.master, subaccount: sub });
        expect(listed).toHaveLength(45);
        expect(new Set(listed.map((k) => k.apiKey))).toEqual(seeded);
        const pages = handle.mock.calls.map(([req]) => req).filter((req) => req.path === '/v5/user/sub-apikeys');
        expect(pages.map((req) => req.rawQuery.replace(/^.*cursor=/, ''))).toEqual([
          expect.stringMatching(/^subMemberId=/),
          'offset=20/limit%2B20%25',
          'offset=40/limit%2B20%25',
        ]);
        expect(handle.mock.results.every((r) => (r.value as { body: { retCode: number } }).body.retCode === 0)).toBe(true);
      } finally {
        handle.mockRestore();
      }
    });
  });
});
