/**
 * The Gate v4 emulator through real ccxt (and, for what ccxt cannot send, hand-signed requests): Gate's labels
 * (https://www.gate.io/docs/developers/apiv4/en/#label-list), answer shapes and the one signed string Gate checks
 * (https://www.gate.io/docs/developers/apiv4/en/#authentication): METHOD, path, unencoded query, hex SHA-512 of the body
 * and the Timestamp (seconds), joined by newlines, HMAC-SHA512 hex. Gate keys carry no passphrase.
 */
import { createHash, createHmac } from 'node:crypto';
import ccxt from 'ccxt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { ExchangeAccount, ExchangeAdapter } from '../../src/exchanges/types.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds } from './sandbox-helpers.js';

const MAIN = '10001';
const SUB = '20001';
const OTHER_SUB = '20002';
const IP = '10.0.0.5';

/** The label in a ccxt error's message (`gate {"label":...}`). */
const labelIn = (e: Error): string => (JSON.parse(e.message.replace(/^gate /, '')) as { label: string }).label;

describe('sandbox: gate v4 through real ccxt', () => {
  let sb: RunningSandbox;
  let master: Creds;
  let bot: Creds;

  /**
   * A hand-signed request. `signed` overrides what the client claims to have signed (method, path, query, body,
   * timestamp); by default exactly what it sends. Answers the HTTP status and the parsed body.
   */
  const raw = async (
    creds: Creds,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    options: {
      query?: string;
      body?: string;
      ts?: string;
      signed?: Partial<{ method: string; path: string; query: string; body: string; ts: string }>;
      omit?: 'KEY' | 'SIGN' | 'Timestamp';
    } = {},
  ): Promise<{ status: number; body: unknown }> => {
    const ts = options.ts ?? String(Math.floor(Date.now() / 1000));
    const body = options.body ?? '';
    const s = { method, path, query: options.query ?? '', body, ts, ...options.signed };
    const prehash = [s.method, s.path, s.query, createHash('sha512').update(s.body).digest('hex'), s.ts].join('\n');
    const headers: Record<string, string> = {
      KEY: creds.apiKey,
      Timestamp: ts,
      SIGN: createHmac('sha512', creds.secret).update(prehash).digest('hex'),
      ...(body ? { 'Content-Type': 'application/json' } : {}),
    };
    if (options.omit) delete headers[options.omit];
    const res = await fetch(`${sb.url}/gate${path}${options.query ? `?${options.query}` : ''}`, {
      method,
      headers,
      ...(body ? { body } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? '' : (JSON.parse(text) as unknown) };
  };

  beforeAll(async () => {
    sb = await startSandbox({ admin: true });
  });
  afterAll(async () => {
    await sb.close();
  });
  beforeEach(async () => {
    await sb.admin.reset();
    await sb.admin.setClientIp(IP);
    await sb.admin.createAccount('gate', MAIN);
    await sb.admin.createSubaccount('gate', MAIN, SUB);
    await sb.admin.createSubaccount('gate', MAIN, OTHER_SUB);
    master = await sb.admin.createKey({
      exchange: 'gate',
      owner: MAIN,
      master: true,
      permissions: { account: false },
      ips: [IP],
      label: 'FAKE-master',
    });
    bot = await sb.admin.createKey({
      exchange: 'gate',
      owner: SUB,
      permissions: { spot: false, futures: true },
      ips: [IP],
      label: 'FAKE-bot',
    });
  });

  it('answers a good signature: account detail, the main keys (masked), a balance; issues Gate-shaped keys', async () => {
    expect(bot.apiKey).toMatch(/^[0-9a-f]{32}$/);
    expect(bot.secret).toMatch(/^[0-9a-f]{64}$/);
    expect(bot.passphrase).toBeUndefined();
    const detail = await call(client('gate', sb.url, bot), 'privateAccountGetDetail');
    expect(detail).toEqual({
      user_id: Number(SUB),
      ip_whitelist: [IP],
      currency_pairs: [],
      key: { mode: 1 },
      tier: 0,
      copy_trading_role: 0,
    });
    const mine = (await call(client('gate', sb.url, master), 'privateAccountGetMainKeys')) as unknown as Array<Record<string, unknown>>;
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      name: 'FAKE-master',
      user_id: Number(MAIN),
      perms: [{ name: 'account', read_only: false }],
      ip_whitelist: [IP],
      key: `${master.apiKey.slice(0, 12)}*****`,
      state: 1,
    });
    expect(JSON.stringify(mine)).not.toContain(master.apiKey);
    const balance = (await call(client('gate', sb.url, bot), 'privateSpotGetAccounts')) as unknown as unknown[];
    expect(Array.isArray(balance)).toBe(true);
  });

  it('refuses every way a signature can be wrong: another secret, another body, query, path, method or timestamp (INVALID_SIGNATURE, 401)', async () => {
    const other = await errorOf(call(client('gate', sb.url, { ...bot, secret: 'f'.repeat(64) }), 'privateAccountGetDetail'));
    expect(other.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(labelIn(other.error)).toBe('INVALID_SIGNATURE');

    const path = `/api/v4/sub_accounts/${SUB}/keys`;
    const body = JSON.stringify({ name: 'FAKE-x', perms: [{ name: 'spot', read_only: false }], ip_whitelist: [IP] });
    const refused = { status: 401, body: { label: 'INVALID_SIGNATURE', message: 'Signature mismatch' } };
    expect(await raw(master, 'POST', path, { body, signed: { body: body.replace('FAKE-x', 'FAKE-y') } })).toEqual(refused);
    expect(await raw(master, 'GET', path, { query: 'a=1', signed: { query: 'a=2' } })).toEqual(refused);
    expect(await raw(master, 'GET', path, { signed: { path: `/api/v4/sub_accounts/${OTHER_SUB}/keys` } })).toEqual(refused);
    // The path as ccxt signs it carries the /api/v4 prefix; a client that leaves it out is refused.
    expect(await raw(master, 'GET', path, { signed: { path: `/sub_accounts/${SUB}/keys` } })).toEqual(refused);
    expect(await raw(master, 'GET', path, { signed: { method: 'POST' } })).toEqual(refused);
    const now = Math.floor(Date.now() / 1000);
    expect(await raw(master, 'GET', path, { ts: String(now), signed: { ts: String(now - 1) } })).toEqual(refused);
    // Nothing was created by the refused POST.
    expect(await sb.admin.listKeys({ exchange: 'gate', owner: SUB })).toHaveLength(1);
    // Correctly signed, the same requests go through.
    expect((await raw(master, 'GET', path, { query: 'a=1' })).status).toBe(200);
    expect((await raw(master, 'POST', path, { body })).status).toBe(200);
  });

  it('signs the query unencoded, as Gate documents and ccxt does', async () => {
    const path = '/api/v4/spot/open_orders';
    // Sent encoded, signed decoded: accepted. Signed as sent (encoded): refused.
    expect((await raw(bot, 'GET', path, { query: 'account=spot&text=t%2Dx', signed: { query: 'account=spot&text=t-x' } })).status).toBe(
      200,
    );
    expect((await raw(bot, 'GET', path, { query: 'account=spot&text=t%2Dx' })).status).toBe(401);
    // ccxt's own signing of a query: listing open orders of the margin account.
    expect(await call(client('gate', sb.url, bot), 'privateSpotGetOpenOrders', { account: 'margin', limit: 100 })).toEqual([]);
  });

  it('refuses a missing header (MISSING_REQUIRED_HEADER), an unknown key (INVALID_KEY), a stale timestamp (REQUEST_EXPIRED)', async () => {
    for (const omit of ['KEY', 'SIGN', 'Timestamp'] as const) {
      expect(await raw(bot, 'GET', '/api/v4/account/detail', { omit })).toEqual({
        status: 401,
        body: { label: 'MISSING_REQUIRED_HEADER', message: 'Missing required authentication header' },
      });
    }
    const unknown = await errorOf(
      call(client('gate', sb.url, { apiKey: 'a'.repeat(32), secret: 'b'.repeat(64) }), 'privateAccountGetDetail'),
    );
    expect(unknown.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(labelIn(unknown.error)).toBe('INVALID_KEY');
    // Gate's window is 60 s either way: 61 s off is refused, 50 s off is accepted.
    for (const [offset, ok] of [
      [61_000, false],
      [-61_000, false],
      [50_000, true],
      [-50_000, true],
    ] as const) {
      const ex = client('gate', sb.url, bot);
      ex.options.timeDifference = offset;
      if (ok) {
        await expect(call(ex, 'privateAccountGetDetail')).resolves.toMatchObject({ user_id: Number(SUB) });
      } else {
        const stale = await errorOf(call(ex, 'privateAccountGetDetail'));
        expect(stale.error).toBeInstanceOf(ccxt.AuthenticationError);
        expect(labelIn(stale.error)).toBe('REQUEST_EXPIRED');
      }
    }
    expect((await raw(bot, 'GET', '/api/v4/account/detail', { ts: 'yesterday' })).body).toMatchObject({ label: 'REQUEST_EXPIRED' });
  });

  it("refuses an address outside the key's whitelist (IP_FORBIDDEN) and a deleted or expired key (INVALID_KEY)", async () => {
    await sb.admin.setClientIp('203.0.113.9');
    const ip = await errorOf(call(client('gate', sb.url, bot), 'privateAccountGetDetail'));
    expect(ip.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(labelIn(ip.error)).toBe('IP_FORBIDDEN');
    expect(ip.error.message).toContain('203.0.113.9');
    await sb.admin.setClientIp(IP);
    await sb.admin.tamper(bot.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect(labelIn((await errorOf(call(client('gate', sb.url, bot), 'privateAccountGetDetail'))).error)).toBe('INVALID_KEY');
  });

  it('creates, lists, reads, updates and deletes a sub key through ccxt, with Gate shapes', async () => {
    const ex = client('gate', sb.url, master);
    const created = await call(ex, 'privateSubAccountsPostSubAccountsUserIdKeys', {
      user_id: SUB,
      mode: 1,
      name: 'FAKE-rotated',
      perms: [{ name: 'spot', read_only: false }],
      ip_whitelist: [IP, '10.0.0.6'],
    });
    expect(created).toMatchObject({
      user_id: Number(SUB),
      name: 'FAKE-rotated',
      perms: [{ name: 'spot', read_only: false }],
      ip_whitelist: [IP, '10.0.0.6'],
      state: 1,
      mode: 1,
    });
    const fresh = { apiKey: created.key as string, secret: created.secret as string };
    expect((await call(client('gate', sb.url, fresh), 'privateAccountGetDetail')).user_id).toBe(Number(SUB));

    const listed = (await call(ex, 'privateSubAccountsGetSubAccountsUserIdKeys', { user_id: SUB })) as unknown as Array<
      Record<string, unknown>
    >;
    expect(listed.map((k) => k.key).sort()).toEqual([bot.apiKey, fresh.apiKey].sort());
    expect(listed.every((k) => !('secret' in k))).toBe(true);
    expect(listed.find((k) => k.key === bot.apiKey)).toMatchObject({
      perms: [
        { name: 'spot', read_only: false },
        { name: 'futures', read_only: true },
      ],
    });
    expect(await call(ex, 'privateSubAccountsGetSubAccountsUserIdKeysKey', { user_id: SUB, key: fresh.apiKey })).toMatchObject({
      key: fresh.apiKey,
    });

    await call(ex, 'privateSubAccountsPutSubAccountsUserIdKeysKey', {
      user_id: SUB,
      key: fresh.apiKey,
      perms: [{ name: 'spot', read_only: true }],
      ip_whitelist: [IP],
    });
    expect((await sb.admin.listKeys({ exchange: 'gate', owner: SUB })).find((k) => k.apiKey === fresh.apiKey)).toMatchObject({
      permissions: { spot: true },
      ips: [IP],
      readOnly: true,
    });

    // 204 without a body; the key stops authenticating at once.
    expect(await raw(master, 'DELETE', `/api/v4/sub_accounts/${SUB}/keys/${fresh.apiKey}`)).toEqual({ status: 204, body: '' });
    expect(labelIn((await errorOf(call(client('gate', sb.url, fresh), 'privateAccountGetDetail'))).error)).toBe('INVALID_KEY');
  });

  it('lets only a main-account key with account read-write manage sub keys, and only its own sub-accounts', async () => {
    const create = (who: Creds, userId = SUB) =>
      errorOf(
        call(client('gate', sb.url, who), 'privateSubAccountsPostSubAccountsUserIdKeys', {
          user_id: userId,
          name: 'FAKE-z',
          perms: [{ name: 'spot', read_only: false }],
          ip_whitelist: [IP],
        }),
      );
    // A sub-account key: FORBIDDEN (PermissionDenied), for the key endpoints and the main keys alike.
    const fromBot = await create(bot);
    expect(fromBot.error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(labelIn(fromBot.error)).toBe('FORBIDDEN');
    expect(labelIn((await errorOf(call(client('gate', sb.url, bot), 'privateAccountGetMainKeys'))).error)).toBe('FORBIDDEN');
    // account read-only may list but not create: READ_ONLY.
    const reader = await sb.admin.createKey({ exchange: 'gate', owner: MAIN, master: true, permissions: { account: true }, ips: [IP] });
    expect(labelIn((await create(reader)).error)).toBe('READ_ONLY');
    expect(await call(client('gate', sb.url, reader), 'privateSubAccountsGetSubAccountsUserIdKeys', { user_id: SUB })).toHaveLength(1);
    // Without the account permission at all: FORBIDDEN.
    const trader = await sb.admin.createKey({ exchange: 'gate', owner: MAIN, master: true, permissions: { spot: false }, ips: [IP] });
    expect(labelIn((await create(trader)).error)).toBe('FORBIDDEN');
    // A sub-account nobody has, or another main account's: SUB_ACCOUNT_NOT_FOUND.
    await sb.admin.createAccount('gate', '10002');
    const foreign = (await sb.admin.createSubaccount('gate', '10002', '30001')).id;
    for (const userId of ['99999', foreign]) expect(labelIn((await create(master, userId)).error)).toBe('SUB_ACCOUNT_NOT_FOUND');
    // A key of another sub-account: NOT_FOUND, and the key survives.
    const del = await errorOf(
      call(client('gate', sb.url, master), 'privateSubAccountsDeleteSubAccountsUserIdKeysKey', { user_id: OTHER_SUB, key: bot.apiKey }),
    );
    expect(labelIn(del.error)).toBe('NOT_FOUND');
    expect(await sb.admin.listKeys({ exchange: 'gate', owner: SUB })).toHaveLength(1);
  });

  it('refuses a permission name Gate does not have and an IP whitelist entry that is no address (INVALID_PARAM_VALUE)', async () => {
    const ex = client('gate', sb.url, master);
    const base = { user_id: SUB, name: 'FAKE-p', ip_whitelist: [IP] };
    const bad = await errorOf(
      call(ex, 'privateSubAccountsPostSubAccountsUserIdKeys', { ...base, perms: [{ name: 'withdraw', read_only: false }] }),
    );
    expect(bad.error).toBeInstanceOf(ccxt.BadRequest);
    expect(labelIn(bad.error)).toBe('INVALID_PARAM_VALUE');
    const ip = await errorOf(call(ex, 'privateSubAccountsPostSubAccountsUserIdKeys', { ...base, perms: [], ip_whitelist: ['not-an-ip'] }));
    expect(labelIn(ip.error)).toBe('INVALID_PARAM_VALUE');
    expect(await sb.admin.listKeys({ exchange: 'gate', owner: SUB })).toHaveLength(1);
  });

  it('answers a rate limit with 429 TOO_MANY_REQUESTS, which ccxt reads as RateLimitExceeded', async () => {
    await sb.admin.addFault({ exchange: 'gate', path: '*', kind: 'ratelimit', times: 1 });
    const limited = await errorOf(call(client('gate', sb.url, bot), 'privateAccountGetDetail'));
    expect(limited.error).toBeInstanceOf(ccxt.RateLimitExceeded);
    expect(labelIn(limited.error)).toBe('TOO_MANY_REQUESTS');
    await sb.admin.clearFaults();
  });

  it('withdraw on the admin API is wallet read-write (Gate has no withdraw permission of its own)', async () => {
    await sb.admin.tamper(bot.apiKey, { withdraw: true });
    expect((await sb.admin.listKeys({ exchange: 'gate', owner: SUB }))[0]!.permissions).toEqual({
      spot: false,
      futures: true,
      wallet: false,
    });
    await sb.admin.tamper(bot.apiKey, { withdraw: false });
    expect((await sb.admin.listKeys({ exchange: 'gate', owner: SUB }))[0]!.permissions).toEqual({
      spot: false,
      futures: true,
      wallet: true,
    });
  });
});

describe('gate adapter: kill --read-only through real ccxt', () => {
  let sb: RunningSandbox;
  let adapter: ExchangeAdapter;
  let account: ExchangeAccount;
  let master: Creds;
  const CALL = { timeoutMs: 5_000, attempts: 1 };

  beforeAll(async () => {
    sb = await startSandbox({ admin: true, clientIp: IP });
    adapter = await getAdapter('gate');
    account = { name: 'gate-main', exchange: 'gate', baseUrl: `${sb.url}/gate` };
    await sb.admin.createAccount('gate', MAIN);
    await sb.admin.createSubaccount('gate', MAIN, SUB);
    await sb.admin.createSubaccount('gate', MAIN, OTHER_SUB);
    master = await sb.admin.createKey({ exchange: 'gate', owner: MAIN, master: true, permissions: { account: false }, ips: [IP] });
  });
  afterAll(async () => {
    await sb.close();
  });

  it('sets every permission read-only and keeps the name and the whitelist as they were', async () => {
    const key = await sb.admin.createKey({
      exchange: 'gate',
      owner: SUB,
      permissions: { spot: false, futures: false, wallet: false },
      ips: [IP, '10.0.0.6'],
      label: 'FAKE-killed',
    });
    await adapter.makeReadOnly!({ ...CALL, account, master, subaccount: SUB, apiKey: key.apiKey });
    expect((await sb.admin.listKeys({ exchange: 'gate', owner: SUB })).find((k) => k.apiKey === key.apiKey)).toMatchObject({
      permissions: { spot: true, futures: true, wallet: true },
      ips: [IP, '10.0.0.6'],
      label: 'FAKE-killed',
      readOnly: true,
    });
    const inspection = await adapter.inspect({ ...CALL, account, key, role: 'bot', subaccount: SUB, master });
    expect(inspection).toMatchObject({ readOnly: true, scopes: ['read'], ips: [IP, '10.0.0.6'] });
    // The key still authenticates: a desk can watch the account.
    await expect(adapter.ping({ ...CALL, account, key })).resolves.toBeUndefined();
  });

  it('is refused for a master that is no master, and for a key outside the named sub-account', async () => {
    const key = await sb.admin.createKey({ exchange: 'gate', owner: SUB, permissions: { spot: false }, ips: [IP], label: 'FAKE-k' });
    await expect(adapter.makeReadOnly!({ ...CALL, account, master: key, subaccount: SUB, apiKey: key.apiKey })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      details: { exchangeCode: 'FORBIDDEN' },
    });
    await expect(adapter.makeReadOnly!({ ...CALL, account, master, subaccount: OTHER_SUB, apiKey: key.apiKey })).rejects.toMatchObject({
      code: 'EXCHANGE_REFUSED',
      details: { exchangeCode: 'NOT_FOUND' },
    });
    expect((await sb.admin.listKeys({ exchange: 'gate', owner: SUB })).find((k) => k.apiKey === key.apiKey)?.readOnly).toBe(false);
  });
});
