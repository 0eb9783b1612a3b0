import ccxt from 'ccxt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds } from './sandbox-helpers.js';

const MAIN = '226383154';
const SUB = 'fakebot01';

describe('sandbox: kucoin through real ccxt', () => {
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
    await sb.admin.createAccount('kucoin', MAIN);
    await sb.admin.createSubaccount('kucoin', MAIN, SUB);
    master = await sb.admin.createKey({ exchange: 'kucoin', owner: MAIN, master: true, permissions: 'General,Spot', ips: ['10.0.0.5'] });
    bot = await sb.admin.createKey({
      exchange: 'kucoin',
      owner: SUB,
      permissions: 'General,Spot',
      ips: ['10.0.0.5'],
      label: 'FAKE-bot',
      passphrase: 'fake-pass-1',
    });
  });

  it('inspects a key with the real api-key shape; the accounts call works', async () => {
    const res = await call(client('kucoin', sb.url, bot), 'privateGetUserApiKey');
    expect(res.code).toBe('200000');
    expect(res.data).toMatchObject({
      remark: 'FAKE-bot',
      apiKey: bot.apiKey,
      permission: 'General,Spot',
      ipWhitelist: '10.0.0.5',
      isMaster: false,
      subName: SUB,
    });
    expect((await call(client('kucoin', sb.url, bot), 'privateGetAccounts')).code).toBe('200000');
  });

  it('refuses another secret (400005), a wrong passphrase (400004), an unknown key (400003), a stale timestamp (400002)', async () => {
    const sig = await errorOf(call(client('kucoin', sb.url, { ...bot, secret: 'FAKE-other-secret' }), 'privateGetUserApiKey'));
    expect(sig.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(sig.error.message).toContain('"code":"400005"');
    const pass = await errorOf(call(client('kucoin', sb.url, { ...bot, passphrase: 'wrong-pass' }), 'privateGetUserApiKey'));
    expect(pass.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(pass.error.message).toContain('"code":"400004"');
    const unknown = await errorOf(call(client('kucoin', sb.url, { ...bot, apiKey: 'FAKE-key' }), 'privateGetUserApiKey'));
    expect(unknown.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(unknown.error.message).toContain('"code":"400003"');
    const ex = client('kucoin', sb.url, bot);
    ex.options.timeDifference = 6000;
    const stale = await errorOf(call(ex, 'privateGetUserApiKey'));
    expect(stale.error).toBeInstanceOf(ccxt.InvalidNonce);
    expect(stale.error.message).toContain('"code":"400002"');
  });

  it('refuses a request whose signature alone is wrong (400005)', async () => {
    const ex = client('kucoin', sb.url, bot);
    // Same secret for the passphrase header, but tamper with the signed payload: sign one path, send another query.
    const signed = ex.sign('user/api-key', 'private', 'GET', {}) as { url: string; headers: Record<string, string> };
    const res = await fetch(`${signed.url}?extra=1`, { headers: signed.headers });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ code: '400005', msg: 'Invalid KC-API-SIGN' });
  });

  it('refuses a foreign client address (400006) and an expired key (400003)', async () => {
    await sb.admin.setClientIp('203.0.113.9');
    const ip = await errorOf(call(client('kucoin', sb.url, bot), 'privateGetUserApiKey'));
    expect(ip.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(ip.error.message).toContain('{"code":"400006","msg":"Invalid request IP, the current client IP is: 203.0.113.9."}');
    await sb.admin.setClientIp('10.0.0.5');
    await sb.admin.tamper(bot.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect((await errorOf(call(client('kucoin', sb.url, bot), 'privateGetUserApiKey'))).error.message).toContain('"code":"400003"');
  });

  it('creates, lists and deletes a sub key; deletion needs the sub key passphrase', async () => {
    const ex = client('kucoin', sb.url, master);
    const res = await call(ex, 'privatePostSubApiKey', {
      subName: SUB,
      passphrase: 'fake-pass-2',
      remark: 'FAKE-rotated',
      permission: 'General,Spot',
      ipWhitelist: '10.0.0.5',
    });
    const c = res.data as Record<string, string>;
    expect(c).toMatchObject({
      subName: SUB,
      remark: 'FAKE-rotated',
      permission: 'General,Spot',
      ipWhitelist: '10.0.0.5',
      passphrase: 'fake-pass-2',
    });
    const fresh = client('kucoin', sb.url, { apiKey: c.apiKey!, secret: c.apiSecret!, passphrase: 'fake-pass-2' });
    expect((await call(fresh, 'privateGetUserApiKey')).code).toBe('200000');

    const listed = (await call(ex, 'privateGetSubApiKey', { subName: SUB })).data as Array<Record<string, unknown>>;
    expect(listed.map((k) => k.apiKey).sort()).toEqual([bot.apiKey, c.apiKey].sort());
    expect(listed.every((k) => !('apiSecret' in k) && !('passphrase' in k))).toBe(true);

    const wrong = await errorOf(call(ex, 'privateDeleteSubApiKey', { subName: SUB, apiKey: c.apiKey, passphrase: 'not-it-1' }));
    expect(wrong.error.message).toContain('400100');
    const del = await call(ex, 'privateDeleteSubApiKey', { subName: SUB, apiKey: c.apiKey, passphrase: 'fake-pass-2' });
    expect(del.data).toEqual({ subName: SUB, apiKey: c.apiKey });
    expect((await errorOf(call(fresh, 'privateGetUserApiKey'))).error.message).toContain('"code":"400003"');
  });

  it('refuses withdraw (Transfer) on a sub key, bad passphrases and remarks, and non-master callers', async () => {
    const ex = client('kucoin', sb.url, master);
    const base = { subName: SUB, passphrase: 'fake-pass-2', remark: 'FAKE-x', permission: 'General' };
    const msgOf = async (params: Record<string, unknown>, who = ex) =>
      (await errorOf(call(who, 'privatePostSubApiKey', params))).error.message;
    expect(await msgOf({ ...base, permission: 'General,Transfer' })).toContain('Transfer is not allowed');
    expect(await msgOf({ ...base, passphrase: 'has space' })).toContain('400100');
    expect(await msgOf({ ...base, passphrase: 'short' })).toContain('400100');
    expect(await msgOf({ ...base, remark: 'x'.repeat(25) })).toContain('400100');
    expect(await msgOf({ ...base, ipWhitelist: Array.from({ length: 21 }, (_, i) => `10.1.0.${i + 1}`).join(',') })).toContain('400100');
    expect(await msgOf(base, client('kucoin', sb.url, bot))).toContain('400007');
  });

  it('shows tampering in the inspect response; faults', async () => {
    await sb.admin.tamper(bot.apiKey, { withdraw: true, ips: null });
    const res = await call(client('kucoin', sb.url, bot), 'privateGetUserApiKey');
    expect(res.data).toMatchObject({ permission: 'General,Spot,Transfer', ipWhitelist: '' });

    await sb.admin.addFault({ exchange: 'kucoin', path: '/api/v1/user/api-key', kind: 'ratelimit', times: 1 });
    const rl = await errorOf(call(client('kucoin', sb.url, bot), 'privateGetUserApiKey'));
    // ccxt 4.5.84 has no mapping for KuCoin's 429000 body, so it surfaces as a plain ExchangeError.
    expect(rl.error).toBeInstanceOf(ccxt.ExchangeError);
    expect(rl.error.message).toContain('"code":"429000"');
    await sb.admin.addFault({ exchange: 'kucoin', path: '/api/v1/user/api-key', kind: 'timeout', times: 1 });
    const to = await errorOf(call(client('kucoin', sb.url, bot, { timeout: 300 }), 'privateGetUserApiKey'));
    expect(to.error).toBeInstanceOf(ccxt.RequestTimeout);
  });
});
