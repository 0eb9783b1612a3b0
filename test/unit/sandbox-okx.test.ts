import ccxt from 'ccxt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds } from './sandbox-helpers.js';

const MAIN = '44705892343619584';
const SUB = 'fakebot01';

describe('sandbox: okx v5 through real ccxt', () => {
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
    await sb.admin.createAccount('okx', MAIN);
    await sb.admin.createSubaccount('okx', MAIN, SUB);
    master = await sb.admin.createKey({
      exchange: 'okx',
      owner: MAIN,
      master: true,
      permissions: 'read_only,trade',
      ips: ['10.0.0.5'],
      label: 'FAKE-master',
    });
    bot = await sb.admin.createKey({ exchange: 'okx', owner: SUB, permissions: 'read_only,trade', ips: ['10.0.0.5'], label: 'FAKE-bot' });
  });

  it('inspects a key with the real account/config shape', async () => {
    const res = await call(client('okx', sb.url, bot), 'privateGetAccountConfig');
    expect(res.code).toBe('0');
    const [cfg] = res.data as Array<Record<string, unknown>>;
    expect(cfg).toMatchObject({ label: 'FAKE-bot', perm: 'read_only,trade', ip: '10.0.0.5', mainUid: MAIN, type: '1' });
    expect(cfg!.uid).not.toBe(MAIN);
    const bal = await call(client('okx', sb.url, bot), 'privateGetAccountBalance');
    expect(bal.code).toBe('0');
  });

  it('refuses another secret (50113), a wrong passphrase (50105), an unknown key (50111)', async () => {
    const sig = await errorOf(call(client('okx', sb.url, { ...bot, secret: 'FAKE-other-secret' }), 'privateGetAccountConfig'));
    expect(sig.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(sig.error.message).toContain('"code":"50113"');
    const pass = await errorOf(call(client('okx', sb.url, { ...bot, passphrase: 'Wrong-pass-1!' }), 'privateGetAccountConfig'));
    expect(pass.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(pass.error.message).toContain('"code":"50105"');
    const unknown = await errorOf(call(client('okx', sb.url, { ...bot, apiKey: 'FAKE-key' }), 'privateGetAccountConfig'));
    expect(unknown.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(unknown.error.message).toContain('"code":"50111"');
  });

  it('refuses a stale timestamp (50102, InvalidNonce), a foreign address (50110, PermissionDenied), an expired key (50111)', async () => {
    const ex = client('okx', sb.url, bot);
    ex.options.timeDifference = 31_000;
    const stale = await errorOf(call(ex, 'privateGetAccountConfig'));
    expect(stale.error).toBeInstanceOf(ccxt.InvalidNonce);
    expect(stale.error.message).toContain('"code":"50102"');
    await sb.admin.setClientIp('203.0.113.9');
    const ip = await errorOf(call(client('okx', sb.url, bot), 'privateGetAccountConfig'));
    expect(ip.error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(ip.error.message).toContain('"code":"50110"');
    expect(ip.error.message).toContain('"msg":"Your IP 203.0.113.9 is not included in your API key\'s IP whitelist."');
    await sb.admin.setClientIp('10.0.0.5');
    await sb.admin.tamper(bot.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    // OKX deletes expired keys, so an expired key reads as an unknown one.
    expect((await errorOf(call(client('okx', sb.url, bot), 'privateGetAccountConfig'))).error.message).toContain('"code":"50111"');
  });

  it('creates, lists and deletes a sub key with OKX rules', async () => {
    const ex = client('okx', sb.url, master);
    const res = await call(ex, 'privatePostUsersSubaccountApikey', {
      subAcct: SUB,
      label: 'FAKE-rotated',
      passphrase: 'Fake-Pass-123!',
      perm: 'trade',
      ip: '10.0.0.5,10.0.0.6',
    });
    const [c] = res.data as Array<Record<string, string>>;
    expect(c).toMatchObject({ subAcct: SUB, label: 'FAKE-rotated', perm: 'read_only,trade', ip: '10.0.0.5,10.0.0.6' });
    const fresh = client('okx', sb.url, { apiKey: c!.apiKey!, secret: c!.secretKey!, passphrase: 'Fake-Pass-123!' });
    expect((await call(fresh, 'privateGetAccountConfig')).code).toBe('0');

    const listed = (await call(ex, 'privateGetUsersSubaccountApikey', { subAcct: SUB })).data as Array<Record<string, unknown>>;
    expect(listed.map((k) => k.apiKey).sort()).toEqual([bot.apiKey, c!.apiKey].sort());
    expect(listed.every((k) => !('secretKey' in k) && !('passphrase' in k))).toBe(true);

    const del = await call(ex, 'privatePostUsersSubaccountDeleteApikey', { subAcct: SUB, apiKey: c!.apiKey });
    expect(del.data).toEqual([{ subAcct: SUB }]);
    expect((await errorOf(call(fresh, 'privateGetAccountConfig'))).error.message).toContain('"code":"50111"');
  });

  it('enforces withdraw, passphrase, IP-count, duplicate-label and main-key rules', async () => {
    const ex = client('okx', sb.url, master);
    const base = { subAcct: SUB, label: 'FAKE-x', passphrase: 'Fake-Pass-123!', perm: 'trade' };
    const codeOf = async (params: Record<string, unknown>, who = ex) =>
      JSON.parse((await errorOf(call(who, 'privatePostUsersSubaccountApikey', params))).error.message.replace(/^okx /, '')).code;
    expect(await codeOf({ ...base, perm: 'read_only,withdraw' })).toBe('59504');
    expect(await codeOf({ ...base, passphrase: 'alllowercase1!' })).toBe('59505');
    expect(await codeOf({ ...base, passphrase: 'Sh0rt!' })).toBe('59505');
    expect(await codeOf({ ...base, ip: Array.from({ length: 21 }, (_, i) => `10.1.0.${i + 1}`).join(',') })).toBe('59503');
    expect(await codeOf({ ...base, label: 'FAKE-bot' })).toBe('59502');
    expect(await codeOf(base, client('okx', sb.url, bot))).toBe('59500');
    await sb.admin.tamper(master.apiKey, { ips: null });
    expect(await codeOf(base)).toBe('50120');
  });

  it('caps keys per sub-account at 50 (59501)', async () => {
    for (let i = 0; i < 49; i++) {
      await sb.admin.createKey({ exchange: 'okx', owner: SUB, permissions: 'read_only', label: `FAKE-${i}` });
    }
    const ex = client('okx', sb.url, master);
    const e = await errorOf(
      call(ex, 'privatePostUsersSubaccountApikey', { subAcct: SUB, label: 'FAKE-51', passphrase: 'Fake-Pass-123!', perm: 'trade' }),
    );
    expect(e.error.message).toContain('"code":"59501"');
  });

  it('shows tampering in account/config and answers faults like OKX', async () => {
    await sb.admin.tamper(bot.apiKey, { withdraw: true, ips: null });
    const [cfg] = (await call(client('okx', sb.url, bot), 'privateGetAccountConfig')).data as Array<Record<string, unknown>>;
    expect(cfg).toMatchObject({ perm: 'read_only,trade,withdraw', ip: '' });

    await sb.admin.addFault({ exchange: 'okx', path: '/api/v5/account/config', kind: 'ratelimit', times: 1 });
    const rl = await errorOf(call(client('okx', sb.url, bot), 'privateGetAccountConfig'));
    expect(rl.error).toBeInstanceOf(ccxt.RateLimitExceeded);
    expect(rl.error.message).toContain('50011');
    await sb.admin.addFault({ exchange: 'okx', path: '/api/v5/account/config', kind: 'timeout', times: 1 });
    const to = await errorOf(call(client('okx', sb.url, bot, { timeout: 300 }), 'privateGetAccountConfig'));
    expect(to.error).toBeInstanceOf(ccxt.RequestTimeout);
  });
});
