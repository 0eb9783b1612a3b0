import { createHmac } from 'node:crypto';
import ccxt from 'ccxt';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds, sandboxPerTest } from './sandbox-helpers.js';

const MAIN = '701234567';
const SUB = 'fakebot01';
const PATH = '/v2/auth/r/permissions';

describe('sandbox: bitfinex through real ccxt (API v2 signature)', () => {
  let sb: RunningSandbox;
  let bot: Creds;

  /** A request signed by hand the v2 way; `signedPath`/`signedBody` are what the signature covers when a test differs. */
  async function raw(creds: Creds, nonce: string, options: { signedPath?: string; signedBody?: string } = {}) {
    const body = '{}';
    const sig = createHmac('sha384', creds.secret)
      .update(`/api${options.signedPath ?? PATH}${nonce}${options.signedBody ?? body}`)
      .digest('hex');
    const res = await fetch(`${sb.url}/bitfinex${PATH}`, {
      method: 'POST',
      headers: { 'bfx-apikey': creds.apiKey, 'bfx-nonce': nonce, 'bfx-signature': sig, 'Content-Type': 'application/json' },
      body,
    });
    return { status: res.status, body: (await res.json()) as unknown };
  }

  const sandbox = sandboxPerTest('bitfinex', MAIN, SUB);
  beforeEach(async () => {
    sb = sandbox.sb;
    bot = await sb.admin.createKey({
      exchange: 'bitfinex',
      owner: SUB,
      permissions: { orders: ['read', 'write'], wallets: ['read'], history: ['read'] },
      ips: ['10.0.0.5'],
      label: 'FAKE-bot',
    });
  });

  it('answers Key Permissions with one [scope, read, write] per documented scope; wallets works', async () => {
    const res = (await call(client('bitfinex', sb.url, bot), 'privatePostAuthRPermissions')) as unknown as unknown[];
    expect(res).toEqual([
      ['account', 0, 0],
      ['history', 1, 0],
      ['orders', 1, 1],
      ['positions', 0, 0],
      ['funding', 0, 0],
      ['settings', 0, 0],
      ['wallets', 1, 0],
      ['withdraw', 0, 0],
      ['ui_withdraw', 0, 0],
      ['bfxpay', 0, 0],
    ]);
    expect(await call(client('bitfinex', sb.url, bot), 'privatePostAuthRWallets')).toEqual([['exchange', 'USD', 0, 0, 0, null, null]]);
  });

  it('refuses another secret, an unknown key, and a signature over another path or body (10100, HTTP 500)', async () => {
    const other = await errorOf(call(client('bitfinex', sb.url, { ...bot, secret: 'FAKE-other-secret' }), 'privatePostAuthRPermissions'));
    expect(other.error).toBeInstanceOf(ccxt.AuthenticationError);
    const unknown = await errorOf(call(client('bitfinex', sb.url, { ...bot, apiKey: 'FAKE-key' }), 'privatePostAuthRPermissions'));
    expect(unknown.error).toBeInstanceOf(ccxt.AuthenticationError);
    const n = Date.now() * 1000;
    expect(await raw(bot, String(n + 1), { signedPath: '/v2/auth/r/wallets' })).toEqual({
      status: 500,
      body: ['error', 10100, 'apikey: digest invalid'],
    });
    expect(await raw(bot, String(n + 2), { signedBody: '{"a":1}' })).toEqual({
      status: 500,
      body: ['error', 10100, 'apikey: digest invalid'],
    });
    expect((await raw(bot, String(n + 3))).status).toBe(200);
  });

  it('requires an increasing nonce (10114)', async () => {
    const n = Date.now() * 1000;
    expect((await raw(bot, String(n))).status).toBe(200);
    expect(await raw(bot, String(n))).toEqual({ status: 500, body: ['error', 10114, 'nonce: small'] });
    const stale = await errorOf(call(client('bitfinex', sb.url, bot), 'privatePostAuthRPermissions'));
    expect(stale.error).toBeInstanceOf(ccxt.InvalidNonce);
  });

  it('refuses a foreign address and an expired key; shows withdraw turned on', async () => {
    await sb.admin.setClientIp('203.0.113.9');
    expect((await errorOf(call(client('bitfinex', sb.url, bot), 'privatePostAuthRPermissions'))).error).toBeInstanceOf(
      ccxt.AuthenticationError,
    );
    await sb.admin.setClientIp('10.0.0.5');
    await sb.admin.tamper(bot.apiKey, { withdraw: true });
    const res = (await call(client('bitfinex', sb.url, bot), 'privatePostAuthRPermissions')) as unknown as unknown[];
    expect(res).toContainEqual(['withdraw', 1, 1]);
    await sb.admin.tamper(bot.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect((await errorOf(call(client('bitfinex', sb.url, bot), 'privatePostAuthRPermissions'))).error).toBeInstanceOf(
      ccxt.AuthenticationError,
    );
  });
});
