import { createHmac } from 'node:crypto';
import ccxt from 'ccxt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_KEYS_PER_SUBACCOUNT } from '../../src/exchanges/mexc/sandbox.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds } from './sandbox-helpers.js';

const MAIN = '400100';
const SUB = 'fakebotsub01';
const OTHER = 'fakebotsub02';
const IP = '10.0.0.5';
const BOT_PERMS = 'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE';

/**
 * Every code the emulator may answer with: MEXC's error table (https://www.mexc.com/api-docs/spot-v3/error-code) and the
 * sub-account codes ccxt 4.5.84 quotes from MEXC.
 */
const DOCUMENTED = new Set([
  -1121, 400, 404, 429, 10072, 140001, 700002, 700003, 700005, 700006, 700007, 730002, 730600, 730700, 730701, 730702, 730703, 730704,
  730705, 730706, 730707,
]);

/**
 * A signed request built by hand: `query` and `body` are sent exactly as given; the signature (default: lowercase hex
 * HMAC of query + body, MEXC's totalParams) goes at the end of the query string.
 */
async function rawRequest(
  url: string,
  creds: Creds,
  method: string,
  path: string,
  parts: { query?: string; body?: string; signed?: string; signature?: string; headers?: Record<string, string> },
): Promise<{ status: number; body: Record<string, unknown> }> {
  const query = parts.query ?? '';
  const body = parts.body ?? '';
  const signature =
    parts.signature ??
    createHmac('sha256', creds.secret)
      .update(parts.signed ?? query + body)
      .digest('hex');
  const q = [query, signature === '' ? '' : `signature=${signature}`].filter(Boolean).join('&');
  const res = await fetch(`${url}/mexc${path}?${q}`, {
    method,
    headers: { 'X-MEXC-APIKEY': creds.apiKey, ...(body ? { 'Content-Type': 'application/json' } : {}), ...parts.headers },
    ...(body ? { body } : {}),
  });
  const out = (await res.json()) as Record<string, unknown>;
  if (typeof out.code === 'number') expect(DOCUMENTED.has(out.code)).toBe(true);
  return { status: res.status, body: out };
}

const now = () => Date.now();

describe('sandbox: mexc through real ccxt', () => {
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
    await sb.admin.setClientIp(IP);
    await sb.admin.createAccount('mexc', MAIN);
    await sb.admin.createSubaccount('mexc', MAIN, SUB);
    await sb.admin.createSubaccount('mexc', MAIN, OTHER);
    master = await sb.admin.createKey({ exchange: 'mexc', owner: MAIN, master: true, permissions: 'SPOT_ACCOUNT_READ', ips: [IP] });
    bot = await sb.admin.createKey({ exchange: 'mexc', owner: SUB, permissions: BOT_PERMS, ips: [IP], label: 'FAKE-bot' });
  });

  it('answers the account call with MEXC account shape, trade and withdraw flags from the permissions', async () => {
    expect(await call(client('mexc', sb.url, bot), 'spotPrivateGetAccount')).toMatchObject({
      canTrade: true,
      canWithdraw: false,
      accountType: 'SPOT',
      balances: [],
      permissions: ['SPOT'],
    });
    expect(await call(client('mexc', sb.url, master), 'spotPrivateGetAccount')).toMatchObject({ canTrade: false, canWithdraw: false });
  });

  it('accepts a good signature by hand: lowercase hex HMAC-SHA256 of the query string, and of query + JSON body', async () => {
    const ok = await rawRequest(sb.url, bot, 'GET', '/api/v3/account', { query: `timestamp=${now()}&recvWindow=5000` });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ accountType: 'SPOT' });
    const body = JSON.stringify({ subAccount: SUB, note: 'FAKE-json', permissions: 'SPOT_ACCOUNT_READ', ip: IP });
    const created = await rawRequest(sb.url, master, 'POST', '/api/v3/sub-account/apiKey', { query: `timestamp=${now()}`, body });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ subAccount: SUB, note: 'FAKE-json', permissions: 'SPOT_ACCOUNT_READ', ip: IP });
  });

  it('refuses each way a signature can be wrong with 700002', async () => {
    const query = `timestamp=${now()}&recvWindow=5000`;
    const sign = (s: string) => createHmac('sha256', bot.secret).update(s).digest('hex');
    const cases: Array<Parameters<typeof rawRequest>[4]> = [
      { query, signature: sign(query).toUpperCase() }, // "The signature is support lowercase only"
      { query, signature: '' }, // none at all
      { query, signature: createHmac('sha256', 'FAKE-other-secret').update(query).digest('hex') },
      { query, signed: `${query}&extra=1` }, // over another payload
      { query, signed: query.replace(/&/g, '') }, // over the parameters without separators
      { query, signature: createHmac('sha256', bot.secret).update(query).digest('base64') }, // base64, not hex
      { query: `${query}&signature=${sign(query)}`, signed: query }, // signature sent twice
    ];
    for (const parts of cases) {
      const r = await rawRequest(sb.url, bot, 'GET', '/api/v3/account', parts);
      expect(r.body).toEqual({ code: 700002, msg: 'Signature for this request is not valid.' });
      expect(r.status).toBe(400);
    }
    // ccxt with another secret: AuthenticationError carrying 700002.
    const forged = await errorOf(call(client('mexc', sb.url, { ...bot, secret: 'FAKE-other-secret' }), 'spotPrivateGetAccount'));
    expect(forged.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(forged.error.message).toContain('"code":700002');
  });

  it('refuses a missing header (400), an unknown key (10072) and an expired key (700002)', async () => {
    const query = `timestamp=${now()}`;
    expect((await rawRequest(sb.url, { ...bot, apiKey: '' }, 'GET', '/api/v3/account', { query })).body).toMatchObject({ code: 400 });
    expect((await rawRequest(sb.url, { ...bot, apiKey: 'mx0FAKEFAKEFAKE' }, 'GET', '/api/v3/account', { query })).body).toMatchObject({
      code: 10072,
    });
    await sb.admin.tamper(bot.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect((await rawRequest(sb.url, bot, 'GET', '/api/v3/account', { query })).body).toMatchObject({ code: 700002 });
  });

  it('enforces the recvWindow rule: timestamp < server + 1000 and server - timestamp <= recvWindow (at most 60000)', async () => {
    const at = (ts: number, recv?: number) =>
      rawRequest(sb.url, bot, 'GET', '/api/v3/account', {
        query: `timestamp=${ts}${recv === undefined ? '' : `&recvWindow=${recv}`}`,
      });
    expect((await at(now() - 3000)).status).toBe(200);
    expect((await at(now() - 8000)).body).toMatchObject({ code: 700003 }); // default window 5000
    expect((await at(now() - 8000, 10_000)).status).toBe(200);
    expect((await at(now() + 5000)).body).toMatchObject({ code: 700003 }); // from the future
    expect((await at(now(), 60_001)).body).toMatchObject({ code: 700005 });
    const missing = await rawRequest(sb.url, bot, 'GET', '/api/v3/account', { query: 'recvWindow=5000' });
    expect(missing.body).toMatchObject({ code: 700003 });
    // ccxt with a clock 20 s off: InvalidNonce carrying 700003.
    const ex = client('mexc', sb.url, bot);
    ex.options.timeDifference = 20_000;
    const stale = await errorOf(call(ex, 'spotPrivateGetAccount'));
    expect(stale.error).toBeInstanceOf(ccxt.InvalidNonce);
    expect(stale.error.message).toContain('"code":700003');
  });

  it('refuses a call from outside the IP allowlist with 700006, naming the address', async () => {
    await sb.admin.setClientIp('203.0.113.9');
    const r = await errorOf(call(client('mexc', sb.url, bot), 'spotPrivateGetAccount'));
    expect(r.error.message).toContain('"code":700006');
    expect(r.error.message).toContain('203.0.113.9');
    await sb.admin.setClientIp(IP);
    expect(await call(client('mexc', sb.url, bot), 'spotPrivateGetAccount')).toMatchObject({ accountType: 'SPOT' });
  });

  it('shows tampering in the master listing (withdraw, dropped allowlist); faults', async () => {
    await sb.admin.tamper(bot.apiKey, { withdraw: true, ips: null });
    const listing = await call(client('mexc', sb.url, master), 'spotPrivateGetSubAccountApiKey', { subAccount: SUB });
    expect(listing.subAccount).toMatchObject([{ apiKey: bot.apiKey, permissions: `${BOT_PERMS},SPOT_WITHDRAW_WRITE`, ip: '' }]);
    // Every listed entry has exactly the documented fields.
    expect(Object.keys((listing.subAccount as Array<Record<string, unknown>>)[0]!).sort()).toEqual([
      'apiKey',
      'createTime',
      'ip',
      'note',
      'permissions',
    ]);

    await sb.admin.addFault({ exchange: 'mexc', path: '/api/v3/account', kind: 'ratelimit', times: 1 });
    const rl = await errorOf(call(client('mexc', sb.url, bot), 'spotPrivateGetAccount'));
    expect(rl.error).toBeInstanceOf(ccxt.RateLimitExceeded);
    expect(rl.error.message).toContain('"code":429');
    await sb.admin.addFault({ exchange: 'mexc', path: '/api/v3/account', kind: 'timeout', times: 1 });
    const to = await errorOf(call(client('mexc', sb.url, bot, { timeout: 300 }), 'spotPrivateGetAccount'));
    expect(to.error).toBeInstanceOf(ccxt.RequestTimeout);
  });

  it('creates, lists and deletes a sub key through ccxt in MEXC shapes; the deleted key stops at once (10072)', async () => {
    const ex = client('mexc', sb.url, master);
    const created = await call(ex, 'spotPrivatePostSubAccountApiKey', {
      subAccount: SUB,
      note: 'FAKE-rotated',
      permissions: 'SPOT_ACCOUNT_READ,SPOT_DEAL_WRITE',
      ip: '10.0.0.5,10.0.0.6',
    });
    expect(created).toMatchObject({
      subAccount: SUB,
      note: 'FAKE-rotated',
      permissions: 'SPOT_ACCOUNT_READ,SPOT_DEAL_WRITE',
      ip: '10.0.0.5,10.0.0.6',
    });
    expect(typeof created.createTime).toBe('number');
    const fresh = { apiKey: created.apiKey as string, secret: created.secretKey as string };
    await call(client('mexc', sb.url, fresh), 'spotPrivateGetAccount');
    const listed = (await call(ex, 'spotPrivateGetSubAccountApiKey', { subAccount: SUB })).subAccount as Array<Record<string, unknown>>;
    expect(listed.map((k) => k.apiKey).sort()).toEqual([bot.apiKey, fresh.apiKey].sort());
    // The listing never shows a secret.
    expect(JSON.stringify(listed)).not.toContain(fresh.secret);
    expect(await call(ex, 'spotPrivateDeleteSubAccountApiKey', { subAccount: SUB, apiKey: fresh.apiKey })).toEqual({ subAccount: SUB });
    expect((await errorOf(call(client('mexc', sb.url, fresh), 'spotPrivateGetAccount'))).error.message).toContain('"code":10072');
  });

  it('refuses what MEXC refuses on create: withdraw or unknown permissions, bad or too many addresses, a foreign sub-account', async () => {
    const ex = client('mexc', sb.url, master);
    const create = (p: Record<string, unknown>) =>
      errorOf(
        call(ex, 'spotPrivatePostSubAccountApiKey', { subAccount: SUB, note: 'FAKE', permissions: 'SPOT_ACCOUNT_READ', ip: IP, ...p }),
      );
    expect((await create({ permissions: 'SPOT_ACCOUNT_READ,SPOT_WITHDRAW_WRITE' })).error.message).toContain('"code":730702');
    expect((await create({ permissions: '' })).error.message).toContain('"code":730701');
    expect((await create({ note: '' })).error.message).toContain('"code":730700');
    expect((await create({ ip: 'not-an-ip' })).error.message).toContain('"code":730704');
    const many = Array.from({ length: 21 }, (_, i) => `10.0.1.${i + 1}`).join(',');
    expect((await create({ ip: many })).error.message).toContain('"code":730703');
    expect((await create({ subAccount: 'nosuchsub99' })).error.message).toContain('"code":140001');
    // A sub key cannot manage keys (700007), not even its own sub-account's.
    const sub = client('mexc', sb.url, bot);
    const denied = await errorOf(call(sub, 'spotPrivateGetSubAccountApiKey', { subAccount: SUB }));
    expect(denied.error.message).toContain('"code":700007');
    // Deleting a key of another sub-account: "API KEY information does not exist".
    const foreign = await errorOf(call(ex, 'spotPrivateDeleteSubAccountApiKey', { subAccount: OTHER, apiKey: bot.apiKey }));
    expect(foreign.error.message).toContain('"code":730706');
  });

  it(`allows at most ${MAX_KEYS_PER_SUBACCOUNT} keys per sub-account (730705)`, async () => {
    const ex = client('mexc', sb.url, master);
    // The bot key is the first.
    for (let i = 1; i < MAX_KEYS_PER_SUBACCOUNT; i += 1) {
      await call(ex, 'spotPrivatePostSubAccountApiKey', { subAccount: SUB, note: `FAKE-${i}`, permissions: 'SPOT_ACCOUNT_READ', ip: IP });
    }
    const full = await errorOf(
      call(ex, 'spotPrivatePostSubAccountApiKey', { subAccount: SUB, note: 'FAKE-31', permissions: 'SPOT_ACCOUNT_READ', ip: IP }),
    );
    expect(full.error.message).toContain('"code":730705');
    // Another sub-account has its own 30.
    await call(ex, 'spotPrivatePostSubAccountApiKey', { subAccount: OTHER, note: 'FAKE-other', permissions: 'SPOT_ACCOUNT_READ', ip: IP });
  });

  it('lists the master account’s sub-accounts only to the master', async () => {
    const r = await call(client('mexc', sb.url, master), 'spotPrivateGetSubAccountList', { limit: 200 });
    expect((r.subAccounts as Array<{ subAccount: string }>).map((s) => s.subAccount).sort()).toEqual([SUB, OTHER]);
    expect((await errorOf(call(client('mexc', sb.url, bot), 'spotPrivateGetSubAccountList'))).error.message).toContain('"code":700007');
  });

  it('lists and cancels the bot’s own spot orders; a read-only key may list but not cancel', async () => {
    await sb.admin.seedOrder({ exchange: 'mexc', owner: SUB, symbol: 'BTCUSDT', side: 'buy', market: 'spot', qty: 1, price: 100 });
    await sb.admin.seedOrder({ exchange: 'mexc', owner: OTHER, symbol: 'BTCUSDT', side: 'sell', market: 'spot', qty: 1, price: 200 });
    const reader = await sb.admin.createKey({ exchange: 'mexc', owner: SUB, permissions: 'SPOT_ACCOUNT_READ,SPOT_DEAL_READ', ips: [IP] });
    const open = (await call(client('mexc', sb.url, reader), 'spotPrivateGetOpenOrders')) as unknown as Array<Record<string, unknown>>;
    expect(open).toHaveLength(1);
    expect(open[0]).toMatchObject({ symbol: 'BTCUSDT', side: 'BUY', origQty: '1', executedQty: '0', status: 'NEW' });
    const denied = await errorOf(call(client('mexc', sb.url, reader), 'spotPrivateDeleteOpenOrders', { symbol: 'BTCUSDT' }));
    expect(denied.error.message).toContain('"code":700007');
    const gone = (await call(client('mexc', sb.url, bot), 'spotPrivateDeleteOpenOrders', { symbol: 'BTCUSDT' })) as unknown as Array<
      Record<string, unknown>
    >;
    expect(gone).toMatchObject([{ symbol: 'BTCUSDT', status: 'CANCELED' }]);
    expect(await sb.admin.listOrders({ exchange: 'mexc', owner: SUB })).toEqual([]);
    expect(await sb.admin.listOrders({ exchange: 'mexc', owner: OTHER })).toHaveLength(1);
  });
});
