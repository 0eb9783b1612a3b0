import { createHmac } from 'node:crypto';
import ccxt from 'ccxt';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds, sandboxPerTest } from './sandbox-helpers.js';

const MAIN = '226383154';
const SUB = 'fakebot01';
/** The fields Get Apikey Info documents (https://www.kucoin.com/docs-new/api-3470130); subName only on sub keys. */
const INFO_FIELDS = ['apiKey', 'apiVersion', 'createdAt', 'ipWhitelist', 'isMaster', 'permission', 'remark', 'uid'];

describe('sandbox: kucoin through real ccxt', () => {
  let sb: RunningSandbox;
  let master: Creds;
  let bot: Creds;

  /**
   * A request signed by hand, KuCoin's way: `sent` is the path and query as they go on the wire, `signedAs` what the
   * signature covers (the same unless a test makes them differ).
   */
  function raw(creds: Creds, method: string, sent: string, options: { signedAs?: string; plainPassphrase?: boolean } = {}) {
    const ts = String(Date.now());
    const mac = (payload: string) => createHmac('sha256', creds.secret).update(payload, 'utf8').digest('base64');
    return fetch(`${sb.url}/kucoin${sent}`, {
      method,
      headers: {
        'KC-API-KEY': creds.apiKey,
        'KC-API-TIMESTAMP': ts,
        'KC-API-SIGN': mac(`${ts}${method}${options.signedAs ?? sent}`),
        'KC-API-PASSPHRASE': options.plainPassphrase ? creds.passphrase! : mac(creds.passphrase!),
        'KC-API-KEY-VERSION': '2',
      },
    });
  }
  const seedSubKey = (passphrase: string) =>
    sb.admin.createKey({ exchange: 'kucoin', owner: SUB, permissions: 'General,Spot', ips: ['10.0.0.5'], label: 'FAKE-x', passphrase });

  const sandbox = sandboxPerTest('kucoin', MAIN, SUB);
  beforeEach(async () => {
    sb = sandbox.sb;
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
  it('answers user/api-key and the sub-key list with exactly the documented fields: no expiry, even for an expiring key', async () => {
    const ex = client('kucoin', sb.url, master);
    const created = (await call(ex, 'privatePostSubApiKey', { subName: SUB, passphrase: 'fake-pass-3', remark: 'FAKE-exp', expire: '30' }))
      .data as Record<string, string>;
    const fresh = { apiKey: created.apiKey!, secret: created.apiSecret!, passphrase: 'fake-pass-3' };
    const info = (await call(client('kucoin', sb.url, fresh), 'privateGetUserApiKey')).data as Record<string, unknown>;
    expect(Object.keys(info).sort()).toEqual([...INFO_FIELDS, 'subName'].sort());
    const own = (await call(ex, 'privateGetUserApiKey')).data as Record<string, unknown>;
    expect(Object.keys(own).sort()).toEqual(INFO_FIELDS);
    // Get sub-account API List (https://www.kucoin.com/docs-new/api-3470136): the same fields, subName included.
    const listed = (await call(ex, 'privateGetSubApiKey', { subName: SUB })).data as Array<Record<string, unknown>>;
    for (const k of listed) expect(Object.keys(k).sort()).toEqual([...INFO_FIELDS, 'subName'].sort());
    // The expiry is kept and enforced, only not reported.
    await sb.admin.tamper(fresh.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect((await errorOf(call(client('kucoin', sb.url, fresh), 'privateGetUserApiKey'))).error.message).toContain('"code":"400003"');
  });

  it('signs the query not URL-encoded (KuCoin docs): characters a passphrase may hold (@ =) through ccxt', async () => {
    // ccxt 4.5.84 signs and sends the DELETE query unencoded; `@` and `=` arrive as they were signed.
    const key = await seedSubKey('FAKE@pass=1');
    const ex = client('kucoin', sb.url, master);
    const del = await call(ex, 'privateDeleteSubApiKey', { subName: SUB, apiKey: key.apiKey, passphrase: 'FAKE@pass=1' });
    expect(del.data).toEqual({ subName: SUB, apiKey: key.apiKey });
  });

  it("accepts the docs' own example (sent encoded, signed decoded) and refuses the encoded form signed (400005)", async () => {
    // https://www.kucoin.com/docs-new/authentication: sent `passphrase=abc%21%40%2311`, signed `passphrase=abc!@#11`.
    const key = await seedSubKey('FAKE!@#11');
    const sent = `/api/v1/sub/api-key?apiKey=${key.apiKey}&subName=${SUB}&passphrase=FAKE%21%40%2311`;
    const decoded = `/api/v1/sub/api-key?apiKey=${key.apiKey}&subName=${SUB}&passphrase=FAKE!@#11`;
    const signedEncoded = await raw(master, 'DELETE', sent);
    expect(signedEncoded.status).toBe(401);
    expect(await signedEncoded.json()).toEqual({ code: '400005', msg: 'Invalid KC-API-SIGN' });
    expect((await sb.admin.listKeys({ exchange: 'kucoin', owner: SUB })).map((k) => k.apiKey)).toContain(key.apiKey);
    const asDocumented = await raw(master, 'DELETE', sent, { signedAs: decoded });
    expect(await asDocumented.json()).toEqual({ code: '200000', data: { subName: SUB, apiKey: key.apiKey } });
    // Escapes that do not decode cannot be what was signed.
    const broken = await raw(master, 'GET', `/api/v1/sub/api-key?subName=${SUB}%zz`);
    expect(await broken.json()).toEqual({ code: '400005', msg: 'Invalid KC-API-SIGN' });
  });

  it('reads parameters as a form: a raw + is a space; sent as %2B (signed as +) it is a plus; ccxt cannot send one', async () => {
    const key = await seedSubKey('FAKE+pass1');
    const ex = client('kucoin', sb.url, master);
    const plus = await errorOf(call(ex, 'privateDeleteSubApiKey', { subName: SUB, apiKey: key.apiKey, passphrase: 'FAKE+pass1' }));
    // The signature held (400005 would say otherwise): the passphrase read as "FAKE pass1" is what is refused.
    expect(plus.error.message).toContain('{"code":"400100","msg":"Passphrase error"}');
    // Pre-encoded through ccxt, the encoded form is what ccxt signs: refused, as KuCoin signs the decoded one.
    const preEncoded = await errorOf(call(ex, 'privateDeleteSubApiKey', { subName: SUB, apiKey: key.apiKey, passphrase: 'FAKE%2Bpass1' }));
    expect(preEncoded.error.message).toContain('"code":"400005"');
    const query = `/api/v1/sub/api-key?subName=${SUB}&apiKey=${key.apiKey}&passphrase=`;
    const del = await raw(master, 'DELETE', `${query}FAKE%2Bpass1`, { signedAs: `${query}FAKE+pass1` });
    expect(await del.json()).toEqual({ code: '200000', data: { subName: SUB, apiKey: key.apiKey } });
  });

  it('requires the v2 passphrase header signed with the secret: the plain passphrase is refused (400004)', async () => {
    const plain = await raw(bot, 'GET', '/api/v1/user/api-key', { plainPassphrase: true });
    expect(plain.status).toBe(401);
    expect(await plain.json()).toEqual({ code: '400004', msg: 'Invalid KC-API-PASSPHRASE' });
    expect(await (await raw(bot, 'GET', '/api/v1/user/api-key')).json()).toMatchObject({ code: '200000' });
  });

  it('shows a seeded Unified permission, and no sub key can be created with it (400100)', async () => {
    const uta = await sb.admin.createKey({ exchange: 'kucoin', owner: SUB, permissions: 'General,Unified', ips: ['10.0.0.5'] });
    expect((await call(client('kucoin', sb.url, uta), 'privateGetUserApiKey')).data).toMatchObject({ permission: 'General,Unified' });
    const refused = await errorOf(
      call(client('kucoin', sb.url, master), 'privatePostSubApiKey', {
        subName: SUB,
        passphrase: 'fake-pass-4',
        remark: 'FAKE-uta',
        permission: 'General,Unified',
      }),
    );
    expect(refused.error.message).toContain('permission Unified is not allowed');
  });
});
