import { createPrivateKey, randomBytes, sign } from 'node:crypto';
import ccxt from 'ccxt';
import { beforeEach, describe, expect, it } from 'vitest';
import { mapExchangeError } from '../../src/exchanges/ccxt.js';
import type { RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds, sandboxPerTest } from './sandbox-helpers.js';

const MAIN = '501234567';
const PORTFOLIO = '0b6f8b1e-fake-4c1d-9a55-000000000001';
const PATH = '/coinbase/api/v3/brokerage/key_permissions';

describe('sandbox: coinbase through real ccxt (CDP ES256 JWT)', () => {
  let sb: RunningSandbox;
  let bot: Creds;

  /** A JWT signed by hand the CDP way; `change` alters claims or the header to make it wrong in one respect. */
  function jwt(creds: Creds, change: { claims?: Record<string, unknown>; head?: Record<string, unknown>; secret?: string } = {}) {
    const now = Math.floor(Date.now() / 1000);
    const host = new URL(sb.url).host;
    const head = { alg: 'ES256', typ: 'JWT', kid: creds.apiKey, nonce: randomBytes(16).toString('hex'), ...change.head };
    const claims = { iss: 'cdp', sub: creds.apiKey, nbf: now, exp: now + 120, uri: `GET ${host}${PATH}`, ...change.claims };
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const input = `${enc(head)}.${enc(claims)}`;
    const sig = sign('sha256', Buffer.from(input), { key: createPrivateKey(change.secret ?? creds.secret), dsaEncoding: 'ieee-p1363' });
    return `${input}.${sig.toString('base64url')}`;
  }
  const raw = (token: string, path = PATH) => fetch(`${sb.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });

  const sandbox = sandboxPerTest('coinbase', MAIN, PORTFOLIO);
  beforeEach(async () => {
    sb = sandbox.sb;
    bot = await sb.admin.createKey({
      exchange: 'coinbase',
      owner: PORTFOLIO,
      permissions: { can_view: true, can_trade: true },
      ips: ['10.0.0.5'],
      label: 'FAKE-bot',
    });
  });

  it('issues CDP-shaped keys and answers key_permissions in the documented shape; the accounts call works', async () => {
    expect(bot.apiKey).toMatch(/^organizations\/[0-9a-f-]{36}\/apiKeys\/[0-9a-f-]{36}$/);
    expect(bot.secret).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    const res = await call(client('coinbase', sb.url, bot), 'v3PrivateGetBrokerageKeyPermissions');
    expect(res).toEqual({ can_view: true, can_trade: true, can_transfer: false, portfolio_uuid: PORTFOLIO, portfolio_type: 'CONSUMER' });
    expect(await call(client('coinbase', sb.url, bot), 'v3PrivateGetBrokerageAccounts', { limit: 1 })).toMatchObject({ accounts: [] });
  });

  it('accepts a hand-made JWT for the documented host form (no scheme)', async () => {
    const res = await raw(jwt(bot));
    expect(res.status).toBe(200);
  });

  it('refuses another private key, an unknown key name, a sub that is not the kid, and a wrong algorithm (401)', async () => {
    const other = await sb.admin.createKey({ exchange: 'coinbase', owner: PORTFOLIO, permissions: { can_view: true }, ips: ['10.0.0.5'] });
    const sig = await errorOf(call(client('coinbase', sb.url, { ...bot, secret: other.secret }), 'v3PrivateGetBrokerageKeyPermissions'));
    expect(sig.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect((await raw(jwt(bot, { secret: other.secret }))).status).toBe(401);
    expect((await raw(jwt({ ...bot, apiKey: 'organizations/fake/apiKeys/fake' }))).status).toBe(401);
    expect((await raw(jwt(bot, { claims: { sub: other.apiKey } }))).status).toBe(401);
    expect((await raw(jwt(bot, { head: { alg: 'HS256' } }))).status).toBe(401);
    expect((await raw(jwt(bot, { head: { nonce: undefined } }))).status).toBe(401);
    const res = await raw(`${jwt(bot).slice(0, -4)}AAAA`);
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('Unauthorized\n');
  });

  it('refuses a JWT for another request (uri), an expired one, one not valid yet, and one living over 2 minutes', async () => {
    const host = new URL(sb.url).host;
    expect((await raw(jwt(bot, { claims: { uri: `GET ${host}/coinbase/api/v3/brokerage/accounts` } }))).status).toBe(401);
    expect((await raw(jwt(bot, { claims: { uri: `POST ${host}${PATH}` } }))).status).toBe(401);
    const now = Math.floor(Date.now() / 1000);
    expect((await raw(jwt(bot, { claims: { nbf: now - 200, exp: now - 80 } }))).status).toBe(401);
    expect((await raw(jwt(bot, { claims: { nbf: now + 60, exp: now + 180 } }))).status).toBe(401);
    expect((await raw(jwt(bot, { claims: { exp: now + 600 } }))).status).toBe(401);
    expect((await raw(jwt(bot, { claims: { iss: 'someone' } }))).status).toBe(401);
  });

  it('refuses a foreign client address and an expired key with 401, as Coinbase does', async () => {
    await sb.admin.setClientIp('203.0.113.9');
    const ip = await errorOf(call(client('coinbase', sb.url, bot), 'v3PrivateGetBrokerageKeyPermissions'));
    expect(ip.error).toBeInstanceOf(ccxt.AuthenticationError);
    // keyctl cannot tell this 401 from a bad key: KEY_REJECTED, worded to name the allowlist as a possible cause.
    const mapped = mapExchangeError(ip.error, 'coinbase');
    expect(mapped).toMatchObject({ code: 'KEY_REJECTED' });
    expect(mapped.message).toContain('allowlist');
    await sb.admin.setClientIp('10.0.0.5');
    await sb.admin.tamper(bot.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect((await errorOf(call(client('coinbase', sb.url, bot), 'v3PrivateGetBrokerageKeyPermissions'))).error).toBeInstanceOf(
      ccxt.AuthenticationError,
    );
  });

  it('shows tampering: withdraw (can_transfer) on, an unknown can_* flag passed through', async () => {
    await sb.admin.tamper(bot.apiKey, { withdraw: true });
    expect(await call(client('coinbase', sb.url, bot), 'v3PrivateGetBrokerageKeyPermissions')).toMatchObject({ can_transfer: true });
    await sb.admin.tamper(bot.apiKey, { permissions: { can_view: true, can_stake: true } });
    expect(await call(client('coinbase', sb.url, bot), 'v3PrivateGetBrokerageKeyPermissions')).toMatchObject({
      can_trade: false,
      can_stake: true,
    });
  });
});
