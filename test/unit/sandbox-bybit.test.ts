import { createHmac } from 'node:crypto';
import ccxt from 'ccxt';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds, sandboxPerTest } from './sandbox-helpers.js';

const MAIN = '24600000';
const SUB = '24600001';
const DAY = 86_400_000;

type Perms = Record<string, string[]>;
const permsOf = (r: Record<string, unknown>) => r.permissions as Perms;
const resultOf = (res: Record<string, unknown>) => res.result as Record<string, unknown>;

/**
 * A GET signed by hand: `query` is sent as is, `signed` (default: the same) is what the signature covers. Bybit signs
 * timestamp + apiKey + recvWindow + queryString (https://bybit-exchange.github.io/docs/v5/guide#create-a-request).
 */
async function signedGet(url: string, creds: Creds, path: string, query: string, signed = query): Promise<Record<string, unknown>> {
  const ts = String(Date.now());
  const recv = '5000';
  const sign = createHmac('sha256', creds.secret).update(`${ts}${creds.apiKey}${recv}${signed}`).digest('hex');
  const res = await fetch(`${url}/bybit${path}?${query}`, {
    headers: { 'X-BAPI-API-KEY': creds.apiKey, 'X-BAPI-TIMESTAMP': ts, 'X-BAPI-RECV-WINDOW': recv, 'X-BAPI-SIGN': sign },
  });
  return (await res.json()) as Record<string, unknown>;
}

describe('sandbox: bybit v5 through real ccxt', () => {
  let sb: RunningSandbox;
  let master: Creds;
  let bot: Creds;

  const sandbox = sandboxPerTest('bybit', MAIN, SUB);
  beforeEach(async () => {
    sb = sandbox.sb;
    master = await sb.admin.createKey({
      exchange: 'bybit',
      owner: MAIN,
      master: true,
      permissions: { Wallet: ['AccountTransfer'], Spot: ['SpotTrade'] },
      ips: ['10.0.0.5'],
      label: 'FAKE-master',
    });
    bot = await sb.admin.createKey({
      exchange: 'bybit',
      owner: SUB,
      permissions: { Spot: ['SpotTrade'] },
      ips: ['10.0.0.0/24'],
      label: 'FAKE-bot',
    });
  });

  it('inspects a key with the real query-api shape', async () => {
    const res = await call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi');
    expect(res.retCode).toBe(0);
    const r = res.result as Record<string, unknown>;
    expect(r).toMatchObject({
      apiKey: bot.apiKey,
      note: 'FAKE-bot',
      readOnly: 0,
      secret: '',
      ips: ['10.0.0.0/24'],
      isMaster: false,
      parentUid: MAIN,
      userID: Number(SUB),
    });
    expect((r.permissions as Record<string, string[]>).Spot).toEqual(['SpotTrade']);
    expect((r.permissions as Record<string, string[]>).Wallet).toEqual([]);
    const w = await call(client('bybit', sb.url, bot), 'privateGetV5AccountWalletBalance', { accountType: 'UNIFIED' });
    expect(w.retCode).toBe(0);
  });

  it('refuses a request signed with another secret (10004, AuthenticationError)', async () => {
    const { error } = await errorOf(call(client('bybit', sb.url, { ...bot, secret: 'FAKE-other-secret' }), 'privateGetV5UserQueryApi'));
    expect(error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(error.message).toContain('"retCode":10004');
  });

  it('refuses an unknown key (10003) and a deleted key', async () => {
    const { error } = await errorOf(call(client('bybit', sb.url, { apiKey: 'FAKEFAKEFAKE', secret: 'x' }), 'privateGetV5UserQueryApi'));
    expect(error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(error.message).toContain('"retCode":10003');
  });

  it('refuses a timestamp outside the recv window (10002, InvalidNonce)', async () => {
    const ex = client('bybit', sb.url, bot);
    ex.options.timeDifference = 10_000; // our clock runs 10 s behind, recvWindow is 5 s
    const { error } = await errorOf(call(ex, 'privateGetV5UserQueryApi'));
    expect(error).toBeInstanceOf(ccxt.InvalidNonce);
    expect(error.message).toContain('"retCode":10002');
    const ahead = client('bybit', sb.url, bot);
    ahead.options.timeDifference = -1500; // 1.5 s ahead: beyond the 1 s tolerance
    expect((await errorOf(call(ahead, 'privateGetV5UserQueryApi'))).error.message).toContain('"retCode":10002');
  });

  it('refuses a foreign client address (10010, PermissionDenied) and an expired key (33004)', async () => {
    await sb.admin.setClientIp('203.0.113.9');
    const { error } = await errorOf(call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi'));
    expect(error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(error.message).toContain('"retCode":10010,"retMsg":"Unmatched IP, please check your API key\'s bound IP addresses."');
    await sb.admin.setClientIp('10.0.0.5');
    await sb.admin.tamper(bot.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    const expired = await errorOf(call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi'));
    expect(expired.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(expired.error.message).toContain('"retCode":33004');
  });

  it('creates, lists and deletes a sub key; the new key works and dies with deletion', async () => {
    const ex = client('bybit', sb.url, master);
    const created = await call(ex, 'privatePostV5UserCreateSubApi', {
      subuid: Number(SUB),
      note: 'FAKE-rotated',
      readOnly: 0,
      ips: '10.0.0.5',
      permissions: { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'] },
    });
    expect(created.retCode).toBe(0);
    const c = created.result as { apiKey: string; secret: string; note: string; readOnly: number };
    expect(c.note).toBe('FAKE-rotated');
    expect(c.secret).toMatch(/^[A-Za-z0-9]{36}$/);

    const listed = await call(ex, 'privateGetV5UserSubApikeys', { subMemberId: SUB });
    const items = (listed.result as { result: Array<Record<string, unknown>> }).result;
    expect(items.map((i) => i.apiKey).sort()).toEqual([bot.apiKey, c.apiKey].sort());
    expect(items.every((i) => i.secret === '******')).toBe(true);

    const fresh = client('bybit', sb.url, { apiKey: c.apiKey, secret: c.secret });
    expect((await call(fresh, 'privateGetV5UserQueryApi')).retCode).toBe(0);

    expect((await call(ex, 'privatePostV5UserDeleteSubApi', { apikey: c.apiKey })).retCode).toBe(0);
    const gone = await errorOf(call(fresh, 'privateGetV5UserQueryApi'));
    expect(gone.error.message).toContain('"retCode":10003');
  });

  it('never gives a sub key withdraw, and only a master with a transfer permission manages sub keys', async () => {
    const ex = client('bybit', sb.url, master);
    const w = await errorOf(
      call(ex, 'privatePostV5UserCreateSubApi', { subuid: Number(SUB), readOnly: 0, permissions: { Wallet: ['Withdraw'] } }),
    );
    expect(w.error.message).toContain('"retCode":10001');
    const fromSub = await errorOf(
      call(client('bybit', sb.url, bot), 'privatePostV5UserCreateSubApi', {
        subuid: Number(SUB),
        readOnly: 0,
        permissions: { Spot: ['SpotTrade'] },
      }),
    );
    expect(fromSub.error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(fromSub.error.message).toContain('"retCode":10005');
    // A master of another main account cannot touch this one's sub-accounts.
    await sb.admin.createAccount('bybit', '999000');
    const other = await sb.admin.createKey({
      exchange: 'bybit',
      owner: '999000',
      master: true,
      permissions: { Wallet: ['AccountTransfer'] },
    });
    const foreign = await errorOf(call(client('bybit', sb.url, other), 'privatePostV5UserDeleteSubApi', { apikey: bot.apiKey }));
    expect(foreign.error.message).toContain('"retCode":10001');
    expect(await sb.admin.listKeys({ exchange: 'bybit', owner: SUB })).toHaveLength(1);
  });

  it('shows tampering in the inspect response', async () => {
    await sb.admin.tamper(master.apiKey, { withdraw: true, ips: null });
    const r = (await call(client('bybit', sb.url, master), 'privateGetV5UserQueryApi')).result as Record<string, unknown>;
    expect((r.permissions as Record<string, string[]>).Wallet).toEqual(['AccountTransfer', 'Withdraw']);
    expect(r.ips).toEqual(['*']);
    expect(r.isMaster).toBe(true);
    expect(r.parentUid).toBe('0');
  });

  it('injects the real rate-limit error and timeouts', async () => {
    await sb.admin.addFault({ exchange: 'bybit', path: '/v5/user/query-api', kind: 'ratelimit', times: 1 });
    const rl = await errorOf(call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi'));
    expect(rl.error).toBeInstanceOf(ccxt.RateLimitExceeded);
    expect(rl.error.message).toContain('"retCode":10006');
    // times: 1 - the next call goes through
    expect((await call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi')).retCode).toBe(0);

    await sb.admin.addFault({ exchange: 'bybit', method: 'GET', path: '/v5/user/query-api', kind: 'timeout', times: 1 });
    const to = await errorOf(call(client('bybit', sb.url, bot, { timeout: 300 }), 'privateGetV5UserQueryApi'));
    expect(to.error).toBeInstanceOf(ccxt.RequestTimeout);

    await sb.admin.addFault({ exchange: 'bybit', path: '*', kind: '5xx', times: 1 });
    const down = await errorOf(call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi'));
    expect(down.error).toBeInstanceOf(ccxt.ExchangeNotAvailable);
  });

  describe('unified trading accounts', () => {
    it('reports a classic account: uta 0, Derivatives [], and ignores a Derivatives request parameter', async () => {
      const r = resultOf(await call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi'));
      expect(r).toMatchObject({ uta: 0, unified: 0 });
      expect(permsOf(r).Derivatives).toEqual([]);
      // "This param is deprecated because system will automatically add this permission according to your account is
      // UTA or Classic" (https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey).
      const created = await call(client('bybit', sb.url, master), 'privatePostV5UserCreateSubApi', {
        subuid: Number(SUB),
        readOnly: 0,
        ips: '10.0.0.5',
        permissions: { Spot: ['SpotTrade'], Derivatives: ['DerivativesTrade'] },
      });
      expect(permsOf(resultOf(created)).Derivatives).toEqual([]);
    });

    it('makes every key of a tree holding DerivativesTrade a UTA key: uta 1 and the automatic permission', async () => {
      // One key seeded with the marker turns its main account's tree into a unified trading account.
      await sb.admin.createKey({
        exchange: 'bybit',
        owner: SUB,
        permissions: { Spot: ['SpotTrade'], Derivatives: ['DerivativesTrade'] },
        ips: ['10.0.0.5'],
      });
      for (const creds of [bot, master]) {
        const r = resultOf(await call(client('bybit', sb.url, creds), 'privateGetV5UserQueryApi'));
        expect(r).toMatchObject({ uta: 1, unified: 1 });
        expect(permsOf(r).Derivatives).toEqual(['DerivativesTrade']);
      }
      // The spot-only key keeps its own permissions: only Derivatives is added.
      const botView = resultOf(await call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi'));
      expect(permsOf(botView)).toMatchObject({ Spot: ['SpotTrade'], ContractTrade: [], Options: [] });
      const created = await call(client('bybit', sb.url, master), 'privatePostV5UserCreateSubApi', {
        subuid: Number(SUB),
        readOnly: 0,
        ips: '10.0.0.5',
        permissions: { Spot: ['SpotTrade'] },
      });
      expect(permsOf(resultOf(created))).toMatchObject({ Spot: ['SpotTrade'], Derivatives: ['DerivativesTrade'] });
      const listed = await call(client('bybit', sb.url, master), 'privateGetV5UserSubApikeys', { subMemberId: SUB });
      const items = (resultOf(listed).result as Array<Record<string, unknown>>).map(permsOf);
      expect(items.every((p) => p.Derivatives?.[0] === 'DerivativesTrade')).toBe(true);
      // Another main account stays classic.
      await sb.admin.createAccount('bybit', '999000');
      const other = await sb.admin.createKey({ exchange: 'bybit', owner: '999000', master: true, permissions: { Spot: ['SpotTrade'] } });
      expect(resultOf(await call(client('bybit', sb.url, other), 'privateGetV5UserQueryApi'))).toMatchObject({ uta: 0 });
    });
  });

  describe('create-sub-api permissions', () => {
    // "permissions: true ... one of below types must be passed, otherwise the error is thrown"
    // (https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey), for read-only keys too.
    it.each([
      ['missing', undefined],
      ['{}', {}],
      ['all groups empty', { Spot: [], ContractTrade: [] }],
    ])('refuses a read-only key with permissions %s (10001)', async (_name, permissions) => {
      const { error } = await errorOf(
        call(client('bybit', sb.url, master), 'privatePostV5UserCreateSubApi', {
          subuid: Number(SUB),
          readOnly: 1,
          ips: '10.0.0.5',
          ...(permissions !== undefined ? { permissions } : {}),
        }),
      );
      expect(error).toBeInstanceOf(ccxt.BadRequest);
      expect(error.message).toContain('"retCode":10001');
      expect(await sb.admin.listKeys({ exchange: 'bybit', owner: SUB })).toHaveLength(1);
    });

    it("creates a read-only key with keyctl's read-only permissions (Exchange ExchangeHistory)", async () => {
      const created = await call(client('bybit', sb.url, master), 'privatePostV5UserCreateSubApi', {
        subuid: Number(SUB),
        readOnly: 1,
        ips: '10.0.0.5',
        permissions: { Exchange: ['ExchangeHistory'] },
      });
      const c = resultOf(created) as { apiKey: string; secret: string };
      const r = resultOf(await call(client('bybit', sb.url, c), 'privateGetV5UserQueryApi'));
      expect(r).toMatchObject({ readOnly: 1 });
      expect(permsOf(r).Exchange).toEqual(['ExchangeHistory']);
    });
  });

  it('lists readOnly as a boolean with its documented meaning: true = read and write, false = read only', async () => {
    const ro = await sb.admin.createKey({
      exchange: 'bybit',
      owner: SUB,
      permissions: { Spot: ['SpotTrade'] },
      ips: ['10.0.0.5'],
      readOnly: true,
    });
    const listed = await call(client('bybit', sb.url, master), 'privateGetV5UserSubApikeys', { subMemberId: SUB });
    const byKey = new Map((resultOf(listed).result as Array<Record<string, unknown>>).map((i) => [i.apiKey, i.readOnly]));
    expect(byKey.get(bot.apiKey)).toBe(true);
    expect(byKey.get(ro.apiKey)).toBe(false);
  });

  // Modify Sub API Key, POST /v5/user/update-sub-api (https://bybit-exchange.github.io/docs/v5/user/modify-sub-apikey).
  describe('update-sub-api: switching a sub key to read-only', () => {
    /** A limit order: the sandbox rests it (no order book), so it tells "may trade" from "refused" without a fill. */
    const order = (creds: Creds) =>
      call(client('bybit', sb.url, creds), 'privatePostV5OrderCreate', {
        category: 'spot',
        symbol: 'BTCUSDT',
        side: 'Buy',
        orderType: 'Limit',
        qty: '0.01',
        price: '10000',
      });

    it('makes the key read-only with its allowlist and permissions kept: it still reads, it can no longer trade', async () => {
      expect((await order(bot)).retCode).toBe(0);
      const updated = resultOf(
        await call(client('bybit', sb.url, master), 'privatePostV5UserUpdateSubApi', {
          apikey: bot.apiKey,
          readOnly: 1,
          ips: '10.0.0.0/24',
        }),
      );
      expect(updated).toMatchObject({ apiKey: bot.apiKey, readOnly: 1, secret: '', ips: ['10.0.0.0/24'], note: 'FAKE-bot' });
      expect(permsOf(updated).Spot).toEqual(['SpotTrade']);
      // query-api says so, with the permission groups unchanged: Bybit documents no change to them.
      const r = resultOf(await call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi'));
      expect(r).toMatchObject({ readOnly: 1, ips: ['10.0.0.0/24'] });
      expect(permsOf(r).Spot).toEqual(['SpotTrade']);
      // 10005 "Permission denied, please check your API key permissions." (https://bybit-exchange.github.io/docs/v5/error)
      const refused = await errorOf(order(bot));
      expect(refused.error).toBeInstanceOf(ccxt.PermissionDenied);
      expect(refused.error.message).toContain('"retCode":10005');
      expect((await call(client('bybit', sb.url, bot), 'privateGetV5AccountWalletBalance', { accountType: 'UNIFIED' })).retCode).toBe(0);
      // The admin API and the listing (readOnly false = read only there) agree.
      const [view] = (await sb.admin.listKeys({ exchange: 'bybit', owner: SUB })).filter((k) => k.apiKey === bot.apiKey);
      expect(view).toMatchObject({ readOnly: true, ips: ['10.0.0.0/24'] });
      const listed = await call(client('bybit', sb.url, master), 'privateGetV5UserSubApikeys', { subMemberId: SUB });
      expect((resultOf(listed).result as Array<Record<string, unknown>>)[0]).toMatchObject({ apiKey: bot.apiKey, readOnly: false });
    });

    it('unbinds the key when ips is not sent ("don\'t pass ips or pass with * means no bind"), and replaces permissions only when sent', async () => {
      const updated = resultOf(
        await call(client('bybit', sb.url, master), 'privatePostV5UserUpdateSubApi', { apikey: bot.apiKey, readOnly: 1 }),
      );
      expect(updated.ips).toEqual(['*']);
      expect((await sb.admin.listKeys({ exchange: 'bybit', owner: SUB }))[0]!.ips).toEqual([]);
      const changed = resultOf(
        await call(client('bybit', sb.url, master), 'privatePostV5UserUpdateSubApi', {
          apikey: bot.apiKey,
          readOnly: 1,
          ips: '10.0.0.5',
          permissions: { Exchange: ['ExchangeHistory'] },
        }),
      );
      expect(permsOf(changed)).toMatchObject({ Spot: [], Exchange: ['ExchangeHistory'] });
      expect(changed.ips).toEqual(['10.0.0.5']);
      // readOnly left out is "0 (default): Read and Write".
      expect(
        resultOf(await call(client('bybit', sb.url, master), 'privatePostV5UserUpdateSubApi', { apikey: bot.apiKey, ips: '10.0.0.5' }))
          .readOnly,
      ).toBe(0);
    });

    it('lets only the master of the sub-account modify its keys, and only a sub key with a transfer permission itself', async () => {
      const update = (creds: Creds, params: Record<string, unknown>) =>
        errorOf(call(client('bybit', sb.url, creds), 'privatePostV5UserUpdateSubApi', { readOnly: 1, ips: '10.0.0.5', ...params }));
      // The bot key itself: no transfer permission (10005), with or without naming a key.
      for (const params of [{ apikey: bot.apiKey }, {}]) {
        const own = await update(bot, params);
        expect(own.error).toBeInstanceOf(ccxt.PermissionDenied);
        expect(own.error.message).toContain('"retCode":10005');
      }
      // A master of another main account, and this master naming a master key or none: 10001.
      await sb.admin.createAccount('bybit', '999000');
      const other = await sb.admin.createKey({
        exchange: 'bybit',
        owner: '999000',
        master: true,
        permissions: { Wallet: ['AccountTransfer'] },
      });
      expect((await update(other, { apikey: bot.apiKey })).error.message).toContain('"retCode":10001');
      expect((await update(master, { apikey: master.apiKey })).error.message).toContain('"retCode":10001');
      expect((await update(master, {})).error.message).toContain('"retCode":10001');
      expect((await update(master, { apikey: bot.apiKey, readOnly: 2 })).error.message).toContain('"retCode":10001');
      // A read-only master manages nothing.
      await sb.admin.tamper(master.apiKey, { readOnly: true });
      expect((await update(master, { apikey: bot.apiKey })).error.message).toContain('"retCode":10005');
      expect((await sb.admin.listKeys({ exchange: 'bybit', owner: SUB }))[0]).toMatchObject({ readOnly: false, ips: ['10.0.0.0/24'] });
      // A sub key with a transfer permission modifies itself, and must not name a key.
      const mover = await sb.admin.createKey({
        exchange: 'bybit',
        owner: SUB,
        permissions: { Wallet: ['AccountTransfer'] },
        ips: ['10.0.0.5'],
      });
      expect((await update(mover, { apikey: mover.apiKey })).error.message).toContain('"retCode":10001');
      const self = await call(client('bybit', sb.url, mover), 'privatePostV5UserUpdateSubApi', { readOnly: 1, ips: '10.0.0.5' });
      expect(resultOf(self)).toMatchObject({ apiKey: mover.apiKey, readOnly: 1 });
    });

    it('refuses a forged signature (10004) and a sub key holding Withdraw', async () => {
      const forged = await errorOf(
        call(client('bybit', sb.url, { ...master, secret: 'FAKE-other-secret' }), 'privatePostV5UserUpdateSubApi', {
          apikey: bot.apiKey,
          readOnly: 1,
        }),
      );
      expect(forged.error.message).toContain('"retCode":10004');
      const w = await errorOf(
        call(client('bybit', sb.url, master), 'privatePostV5UserUpdateSubApi', {
          apikey: bot.apiKey,
          permissions: { Wallet: ['Withdraw'] },
        }),
      );
      expect(w.error.message).toContain('"retCode":10001');
      expect((await sb.admin.listKeys({ exchange: 'bybit', owner: SUB }))[0]).toMatchObject({ readOnly: false, ips: ['10.0.0.0/24'] });
    });
  });

  describe('the 90-day validity of keys without an IP binding', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('applies to an admin-seeded unbound key: expiredAt 90 days after its creation, in query-api and the listing', async () => {
      const unbound = await sb.admin.createKey({ exchange: 'bybit', owner: SUB, permissions: { Spot: ['SpotTrade'] } });
      const [view] = (await sb.admin.listKeys({ exchange: 'bybit', owner: SUB })).filter((k) => k.apiKey === unbound.apiKey);
      const expiry = Date.parse(view!.createdAt) + 90 * DAY;
      const r = resultOf(await call(client('bybit', sb.url, unbound), 'privateGetV5UserQueryApi'));
      expect(r).toMatchObject({ deadlineDay: 90, ips: ['*'] });
      expect(Date.parse(r.expiredAt as string)).toBe(Math.floor(expiry / 1000) * 1000);
      const bound = resultOf(await call(client('bybit', sb.url, bot), 'privateGetV5UserQueryApi'));
      expect(bound).toMatchObject({ deadlineDay: -1, expiredAt: '' });
      const listed = await call(client('bybit', sb.url, master), 'privateGetV5UserSubApikeys', { subMemberId: SUB });
      const status = new Map((resultOf(listed).result as Array<Record<string, unknown>>).map((i) => [i.apiKey, i.status]));
      expect(status.get(unbound.apiKey)).toBe(3);
      expect(status.get(bot.apiKey)).toBe(1);
    });

    it('expires every unbound key 90 days after its creation, master keys included (33004)', async () => {
      // Seeded 91 days ago: the sandbox runs in this process and stamps createdAt with this (faked) clock. ccxt signs
      // with the real one, so the calls come after the clock is real again.
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(Date.now() - 91 * DAY);
      const old = await sb.admin.createKey({ exchange: 'bybit', owner: SUB, permissions: { Spot: ['SpotTrade'] } });
      const oldMaster = await sb.admin.createKey({
        exchange: 'bybit',
        owner: MAIN,
        master: true,
        permissions: { Wallet: ['AccountTransfer'] },
      });
      const oldBound = await sb.admin.createKey({ exchange: 'bybit', owner: SUB, permissions: { Spot: ['SpotTrade'] }, ips: ['10.0.0.5'] });
      vi.useRealTimers();
      for (const creds of [old, oldMaster]) {
        const { error } = await errorOf(call(client('bybit', sb.url, creds), 'privateGetV5UserQueryApi'));
        expect(error).toBeInstanceOf(ccxt.AuthenticationError);
        expect(error.message).toContain('"retCode":33004');
      }
      expect((await call(client('bybit', sb.url, oldBound), 'privateGetV5UserQueryApi')).retCode).toBe(0);
      const listed = await call(client('bybit', sb.url, master), 'privateGetV5UserSubApikeys', { subMemberId: SUB });
      const status = new Map((resultOf(listed).result as Array<Record<string, unknown>>).map((i) => [i.apiKey, i.status]));
      expect(status.get(old.apiKey)).toBe(2);
    });
  });

  describe('signatures over the query string exactly as sent', () => {
    const TOKEN = 'offset=20/limit%2B20%25';
    beforeEach(async () => {
      for (let i = 0; i < 24; i++) {
        await sb.admin.createKey({
          exchange: 'bybit',
          owner: SUB,
          permissions: { Spot: ['SpotTrade'] },
          ips: ['10.0.0.5'],
          label: `FAKE-${i}`,
        });
      }
    });

    it('pages with a cursor holding = / %2B %25, which real ccxt sends back and signs unchanged', async () => {
      const ex = client('bybit', sb.url, master);
      const first = resultOf(await call(ex, 'privateGetV5UserSubApikeys', { subMemberId: SUB }));
      expect(first.nextPageCursor).toBe(TOKEN);
      expect(first.result).toHaveLength(20);
      const second = resultOf(await call(ex, 'privateGetV5UserSubApikeys', { subMemberId: SUB, cursor: first.nextPageCursor }));
      expect(second.result).toHaveLength(5);
      expect(second.nextPageCursor).toBe('');
      const all = [...(first.result as Array<{ apiKey: string }>), ...(second.result as Array<{ apiKey: string }>)];
      expect(new Set(all.map((k) => k.apiKey)).size).toBe(25);
    });

    it('refuses a client that signs the decoded query while sending the encoded one (10004)', async () => {
      const query = `subMemberId=${SUB}&cursor=${TOKEN}`;
      expect((await signedGet(sb.url, master, '/v5/user/sub-apikeys', query)).retCode).toBe(0);
      const decoded = decodeURIComponent(query);
      expect(decoded).not.toBe(query);
      const refused = await signedGet(sb.url, master, '/v5/user/sub-apikeys', query, decoded);
      expect(refused.retCode).toBe(10004);
      // The other way round too: sending the decoded form, signed over the encoded one.
      expect((await signedGet(sb.url, master, '/v5/user/sub-apikeys', decoded, query)).retCode).toBe(10004);
    });

    it('refuses a cursor that is not the token as issued (10001): decoded before sending, or encoded again', async () => {
      const decodedToken = decodeURIComponent(TOKEN); // `+` now reads as a space
      for (const cursor of [decodedToken, encodeURIComponent(TOKEN)]) {
        const res = await signedGet(sb.url, master, '/v5/user/sub-apikeys', `subMemberId=${SUB}&cursor=${cursor}`);
        expect(res.retCode).toBe(10001);
      }
    });
  });
});
