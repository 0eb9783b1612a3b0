import { createHash, createHmac } from 'node:crypto';
import ccxt from 'ccxt';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds, sandboxPerTest } from './sandbox-helpers.js';

const MAIN = '601234567';
const IIBAN = 'AA88 FAKE WOAK NMOI';
const PATH = '/0/private/GetApiKeyInfo';

describe('sandbox: kraken through real ccxt', () => {
  let sb: RunningSandbox;
  let bot: Creds;

  /** A request signed by hand the Kraken way; `signedBody` is what the signature covers (the sent body unless a test differs). */
  function raw(creds: Creds, nonce: string, options: { signedBody?: string; path?: string; secret?: string } = {}) {
    const body = `nonce=${nonce}`;
    const hash = createHash('sha256')
      .update(`${nonce}${options.signedBody ?? body}`)
      .digest();
    const sign = createHmac('sha512', Buffer.from(options.secret ?? creds.secret, 'base64'))
      .update(Buffer.concat([Buffer.from(options.path ?? PATH), hash]))
      .digest('base64');
    return fetch(`${sb.url}/kraken${PATH}`, {
      method: 'POST',
      headers: { 'API-Key': creds.apiKey, 'API-Sign': sign, 'Content-Type': 'application/x-www-form-urlencoded' },
      body,
    }).then((r) => r.json() as Promise<{ error: string[]; result?: Record<string, unknown> }>);
  }

  const sandbox = sandboxPerTest('kraken', MAIN, IIBAN);
  beforeEach(async () => {
    sb = sandbox.sb;
    bot = await sb.admin.createKey({
      exchange: 'kraken',
      owner: IIBAN,
      permissions: 'query-funds,query-open-trades,modify-trades',
      ips: ['10.0.0.5'],
      label: 'FAKE-bot',
    });
  });

  it('answers GetApiKeyInfo with the documented fields; Balance works', async () => {
    const res = await call(client('kraken', sb.url, bot), 'privatePostGetApiKeyInfo');
    expect(res.error).toEqual([]);
    expect(res.result).toMatchObject({
      apiKeyName: 'FAKE-bot',
      apiKey: bot.apiKey,
      nonceWindow: 0,
      permissions: ['query-funds', 'query-open-trades', 'modify-trades'],
      iban: IIBAN,
      validUntil: '0',
      queryFrom: '0',
      queryTo: '0',
      ipAllowlist: ['10.0.0.5'],
    });
    expect(Object.keys(res.result as object).sort()).toEqual(
      [
        'apiKey',
        'apiKeyName',
        'createdTime',
        'iban',
        'ipAllowlist',
        'lastUsed',
        'modifiedTime',
        'nonce',
        'nonceWindow',
        'permissions',
        'queryFrom',
        'queryTo',
        'validUntil',
      ].sort(),
    );
    expect(await call(client('kraken', sb.url, bot), 'privatePostBalance')).toEqual({ error: [], result: { ZUSD: '0.0000' } });
  });

  it('refuses another secret, an unknown key and a signature over another body or path (EAPI:Invalid key)', async () => {
    const other = await errorOf(
      call(client('kraken', sb.url, { ...bot, secret: Buffer.alloc(64, 7).toString('base64') }), 'privatePostGetApiKeyInfo'),
    );
    expect(other.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(other.error.message).toContain('EAPI:Invalid key');
    const unknown = await errorOf(call(client('kraken', sb.url, { ...bot, apiKey: 'FAKEkey' }), 'privatePostGetApiKeyInfo'));
    expect(unknown.error).toBeInstanceOf(ccxt.AuthenticationError);
    const n = Date.now() * 1000;
    expect((await raw(bot, String(n + 1), { signedBody: `nonce=${n + 1}&x=1` })).error).toEqual(['EAPI:Invalid key']);
    expect((await raw(bot, String(n + 2), { path: '/0/private/Balance' })).error).toEqual(['EAPI:Invalid key']);
    expect((await raw(bot, String(n + 3))).error).toEqual([]);
  });

  it('requires an increasing nonce; a forged request does not burn it', async () => {
    const n = Date.now() * 1000;
    expect((await raw(bot, String(n))).error).toEqual([]);
    expect((await raw(bot, String(n))).error).toEqual(['EAPI:Invalid nonce']);
    expect((await raw(bot, String(n - 1))).error).toEqual(['EAPI:Invalid nonce']);
    expect((await raw(bot, String(n + 10), { secret: Buffer.alloc(64, 1).toString('base64') })).error).toEqual(['EAPI:Invalid key']);
    expect((await raw(bot, String(n + 5))).error).toEqual([]);
    const ex = client('kraken', sb.url, bot);
    ex.options.timeDifference = 10_000_000;
    const stale = await errorOf(call(ex, 'privatePostGetApiKeyInfo'));
    expect(stale.error).toBeInstanceOf(ccxt.InvalidNonce);
  });

  it('refuses a foreign address and an expired key; reports tampering (withdraw, dropped allowlist)', async () => {
    await sb.admin.setClientIp('203.0.113.9');
    expect((await errorOf(call(client('kraken', sb.url, bot), 'privatePostGetApiKeyInfo'))).error).toBeInstanceOf(ccxt.AuthenticationError);
    await sb.admin.setClientIp('10.0.0.5');
    await sb.admin.tamper(bot.apiKey, { withdraw: true, ips: null });
    const res = await call(client('kraken', sb.url, bot), 'privatePostGetApiKeyInfo');
    expect(res.result).toMatchObject({ permissions: expect.arrayContaining(['withdraw-funds']) as unknown, ipAllowlist: [] });
    await sb.admin.tamper(bot.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect((await errorOf(call(client('kraken', sb.url, bot), 'privatePostGetApiKeyInfo'))).error.message).toContain('EAPI:Invalid key');
  });
});
