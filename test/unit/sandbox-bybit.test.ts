import ccxt from 'ccxt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds } from './sandbox-helpers.js';

const MAIN = '24600000';
const SUB = '24600001';

describe('sandbox: bybit v5 through real ccxt', () => {
  let sb: RunningSandbox;
  let master: Creds;
  let bot: Creds;

  beforeAll(async () => {
    sb = await startSandbox({ admin: true });
  });
  afterAll(async () => {
    await sb.close();
  });
  beforeEach(async () => {
    await sb.admin.reset();
    await sb.admin.setClientIp('10.0.0.5');
    await sb.admin.createAccount('bybit', MAIN);
    await sb.admin.createSubaccount('bybit', MAIN, SUB);
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
});
