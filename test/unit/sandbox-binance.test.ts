import { createHmac } from 'node:crypto';
import ccxt from 'ccxt';
import { beforeEach, describe, expect, it } from 'vitest';
import { UNRESTRICTED_TRADING_MS } from '../../src/exchanges/binance/sandbox.js';
import type { RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds, sandboxPerTest } from './sandbox-helpers.js';

const MAIN = '300100';
const SUB = 'fakebot_virtual@sandbox.invalid';
/** A sub-account email with characters that change under form encoding (`+` reads as a space when sent raw). */
const PLUS_SUB = 'bot+alpha@example.invalid';
const DAY = 86_400_000;

/** Every code the emulator may answer with, as Binance documents them (https://developers.binance.com/docs/binance-spot-api-docs/errors). */
const DOCUMENTED = new Set([-1000, -1003, -1021, -1022, -1101, -1102, -1130, -2014, -2015]);

/**
 * A signed request built by hand: `query` and `body` are sent exactly as given; the signature covers `signed` (default:
 * query + body as sent, Binance's payload) and goes at the end of the query string.
 */
async function rawRequest(
  url: string,
  creds: Creds,
  method: string,
  path: string,
  parts: { query?: string; body?: string; signed?: string; signature?: string },
): Promise<{ status: number; body: Record<string, unknown> }> {
  const query = parts.query ?? '';
  const body = parts.body ?? '';
  const signature =
    parts.signature ??
    createHmac('sha256', creds.secret)
      .update(parts.signed ?? query + body)
      .digest('hex');
  const q = [query, signature === '' ? '' : `signature=${signature}`].filter(Boolean).join('&');
  const res = await fetch(`${url}/binance${path}?${q}`, {
    method,
    headers: { 'X-MBX-APIKEY': creds.apiKey, ...(body ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}) },
    ...(body ? { body } : {}),
  });
  const out = (await res.json()) as Record<string, unknown>;
  if (typeof out.code === 'number') expect(DOCUMENTED.has(out.code)).toBe(true);
  return { status: res.status, body: out };
}

/** ccxt signs and sends `sub-account/*` parameters unencoded (rawencode); keyctl's adapter percent-encodes them first. */
const enc = (v: Record<string, string | number | boolean>) =>
  Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? encodeURIComponent(x) : x]));

describe('sandbox: binance through real ccxt', () => {
  let sb: RunningSandbox;
  let master: Creds;
  let bot: Creds;

  const sandbox = sandboxPerTest('binance', MAIN, SUB);
  beforeEach(async () => {
    sb = sandbox.sb;
    master = await sb.admin.createKey({
      exchange: 'binance',
      owner: MAIN,
      master: true,
      permissions: { enableReading: true, enableSpotAndMarginTrading: true },
      ips: ['10.0.0.5'],
    });
    bot = await sb.admin.createKey({
      exchange: 'binance',
      owner: SUB,
      permissions: { enableReading: true, enableSpotAndMarginTrading: true },
      ips: ['10.0.0.5'],
      label: 'FAKE-bot',
    });
  });

  it('inspects a key with the real apiRestrictions shape; the account call works', async () => {
    const r = await call(client('binance', sb.url, bot), 'sapiGetAccountApiRestrictions');
    expect(r).toMatchObject({
      ipRestrict: true,
      enableReading: true,
      enableSpotAndMarginTrading: true,
      enableWithdrawals: false,
      enableFutures: false,
      permitsUniversalTransfer: false,
    });
    expect(typeof r.createTime).toBe('number');
    const acct = await call(client('binance', sb.url, bot), 'privateGetAccount');
    expect(acct).toMatchObject({ canTrade: true, canWithdraw: false, accountType: 'SPOT' });
  });

  it('refuses another secret (-1022), an unknown key (-2015) and a stale timestamp (-1021)', async () => {
    const sig = await errorOf(call(client('binance', sb.url, { ...bot, secret: 'FAKE-other-secret' }), 'sapiGetAccountApiRestrictions'));
    expect(sig.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(sig.error.message).toContain('"code":-1022');
    const unknown = await errorOf(call(client('binance', sb.url, { ...bot, apiKey: 'FAKE-key' }), 'sapiGetAccountApiRestrictions'));
    expect(unknown.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(unknown.error.message).toContain('"code":-2015');
    const ex = client('binance', sb.url, bot);
    ex.options.timeDifference = 20_000; // ccxt's recvWindow is 10 s
    const stale = await errorOf(call(ex, 'sapiGetAccountApiRestrictions'));
    expect(stale.error).toBeInstanceOf(ccxt.InvalidNonce);
    expect(stale.error.message).toContain('"code":-1021');
  });

  it('refuses a foreign client address and an expired key with -2015', async () => {
    await sb.admin.setClientIp('203.0.113.9');
    const ip = await errorOf(call(client('binance', sb.url, bot), 'sapiGetAccountApiRestrictions'));
    expect(ip.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(ip.error.message).toContain('"code":-2015');
    await sb.admin.setClientIp('10.0.0.5');
    await sb.admin.tamper(bot.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect((await errorOf(call(client('binance', sb.url, bot), 'sapiGetAccountApiRestrictions'))).error.message).toContain('"code":-2015');
  });

  it('creates a sub key (generic signed request), reads its IP list, deletes it', async () => {
    const ex = client('binance', sb.url, master);
    const created = (await ex.request('sub-account/subAccountApi', 'sapi', 'POST', {
      email: SUB,
      apiName: 'FAKE-rotated',
      status: 2,
      ipAddress: '10.0.0.5,10.0.0.6',
      canTrade: true,
      canWithdraw: true, // not a Binance parameter: ignored, sub keys never withdraw
    })) as Record<string, unknown>;
    expect(created).toMatchObject({
      apiName: 'FAKE-rotated',
      canTrade: true,
      canFuturesTrade: false,
      status: 2,
      ipList: ['10.0.0.5', '10.0.0.6'],
    });
    const fresh = client('binance', sb.url, { apiKey: created.apiKey as string, secret: created.secretKey as string });
    expect(await call(fresh, 'sapiGetAccountApiRestrictions')).toMatchObject({
      enableWithdrawals: false,
      enableSpotAndMarginTrading: true,
    });

    const ipr = await call(ex, 'sapiGetSubAccountSubAccountApiIpRestriction', { email: SUB, subAccountApiKey: created.apiKey });
    expect(ipr).toMatchObject({ ipRestrict: 'true', ipList: ['10.0.0.5', '10.0.0.6'], apiKey: created.apiKey });

    expect(await ex.request('sub-account/subAccountApi', 'sapi', 'DELETE', { email: SUB, subAccountApiKey: created.apiKey })).toEqual({});
    const gone = await errorOf(call(fresh, 'sapiGetAccountApiRestrictions'));
    expect(gone.error.message).toContain('"code":-2015');
    expect((await sb.admin.listKeys({ exchange: 'binance', owner: SUB })).map((k) => k.apiKey)).toEqual([bot.apiKey]);
  });

  it('requires ipAddress for status 2 and a master key to create', async () => {
    const ex = client('binance', sb.url, master);
    const noIp = await errorOf(ex.request('sub-account/subAccountApi', 'sapi', 'POST', { email: SUB, apiName: 'FAKE-x', status: 2 }));
    expect(noIp.error.message).toContain('"code":-1102');
    const fromSub = await errorOf(
      client('binance', sb.url, bot).request('sub-account/subAccountApi', 'sapi', 'POST', { email: SUB, apiName: 'FAKE-x', status: 1 }),
    );
    expect(fromSub.error.message).toContain('"code":-2015');
  });

  it('shows tampering in apiRestrictions and answers the rate-limit fault with -1003 / HTTP 429', async () => {
    await sb.admin.tamper(bot.apiKey, { withdraw: true, ips: null, permissions: { enableReading: true, enableFutures: true } });
    const r = await call(client('binance', sb.url, bot), 'sapiGetAccountApiRestrictions');
    expect(r).toMatchObject({ ipRestrict: false, enableWithdrawals: true, enableFutures: true, enableSpotAndMarginTrading: false });

    await sb.admin.addFault({ exchange: 'binance', path: '/sapi/v1/account/apiRestrictions', kind: 'ratelimit', times: 1 });
    const rl = await errorOf(call(client('binance', sb.url, bot), 'sapiGetAccountApiRestrictions'));
    // ccxt maps any Binance HTTP 429 to DDoSProtection (RateLimitExceeded's parent) before reading the code.
    expect(rl.error).toBeInstanceOf(ccxt.DDoSProtection);
    expect(rl.error.message).toContain('-1003');
    await sb.admin.addFault({ exchange: 'binance', path: '/sapi/v1/account/apiRestrictions', kind: 'timeout', times: 1 });
    const to = await errorOf(call(client('binance', sb.url, bot, { timeout: 300 }), 'sapiGetAccountApiRestrictions'));
    expect(to.error).toBeInstanceOf(ccxt.RequestTimeout);
  });

  it('answers only documented codes, and recvWindow above 60000 with -1130', async () => {
    const ts = () => `timestamp=${Date.now()}`;
    const big = await rawRequest(sb.url, bot, 'GET', '/sapi/v1/account/apiRestrictions', { query: `${ts()}&recvWindow=60001` });
    expect(big).toMatchObject({ status: 400, body: { code: -1130 } });
    const none = await rawRequest(sb.url, bot, 'GET', '/sapi/v1/account/apiRestrictions', { query: ts(), signature: '' });
    expect(none.body.code).toBe(-1102);
    const unknown = await rawRequest(sb.url, bot, 'GET', '/sapi/v1/nothing/here', { query: ts() });
    expect(unknown).toMatchObject({ status: 404, body: { code: -1000 } });
    const foreign = await errorOf(
      call(client('binance', sb.url, master), 'sapiGetSubAccountSubAccountApiIpRestriction', {
        email: 'nobody@example.invalid',
        subAccountApiKey: bot.apiKey,
      }),
    );
    expect(foreign.error.message).toContain('"code":-1130');
  });

  describe('signatures over the exact bytes sent (Binance request-security, percent-encode before signing)', () => {
    beforeEach(async () => {
      await sb.admin.createSubaccount('binance', MAIN, PLUS_SUB);
    });

    it('verifies HMAC over query + body exactly as sent, signature excluded, wherever the parameters are', async () => {
      const ts = `timestamp=${Date.now()}`;
      const q = `email=${encodeURIComponent(PLUS_SUB)}&apiName=FAKE-split&${ts}`;
      const ok = await rawRequest(sb.url, master, 'POST', '/sapi/v1/sub-account/subAccountApi', {
        query: q,
        body: 'status=2&ipAddress=10.0.0.5&canTrade=true',
      });
      expect(ok).toMatchObject({ status: 200, body: { apiName: 'FAKE-split', canTrade: true, ipList: ['10.0.0.5'] } });
      // The same request with the signature over query and body joined by `&` (not how Binance concatenates): -1022.
      const joined = await rawRequest(sb.url, master, 'POST', '/sapi/v1/sub-account/subAccountApi', {
        query: q,
        body: 'status=2&ipAddress=10.0.0.5',
        signed: `${q}&status=2&ipAddress=10.0.0.5`,
      });
      expect(joined.body.code).toBe(-1022);
      const twice = await rawRequest(sb.url, bot, 'GET', '/sapi/v1/account/apiRestrictions', {
        query: `${ts}&signature=${'0'.repeat(64)}`,
      });
      expect(twice.body.code).toBe(-1101);
    });

    it('refuses a client that signs the decoded form while sending the encoded one (-1022)', async () => {
      const decoded = `email=${PLUS_SUB}&timestamp=${Date.now()}`;
      const sent = `email=${encodeURIComponent(PLUS_SUB)}&timestamp=${decoded.split('timestamp=')[1]}`;
      const path = '/sapi/v1/sub-account/subAccountApi';
      const bad = await rawRequest(sb.url, master, 'GET', path, { query: sent, signed: decoded });
      expect(bad).toMatchObject({ status: 400, body: { code: -1022 } });
      const good = await rawRequest(sb.url, master, 'GET', path, { query: sent });
      expect(good).toMatchObject({ status: 200, body: { total: 0, list: [] } });
    });

    it('reads a raw `+` as a space, as form decoding does: ccxt unencoded reaches no sub-account (-1130)', async () => {
      const ex = client('binance', sb.url, master);
      const raw = await errorOf(
        ex.request('sub-account/subAccountApi', 'sapi', 'POST', { email: PLUS_SUB, apiName: 'FAKE-raw', status: 2, ipAddress: '10.0.0.5' }),
      );
      expect(raw.error.message).toContain('"code":-1130');
      expect(await sb.admin.listKeys({ exchange: 'binance', owner: PLUS_SUB })).toEqual([]);
    });

    it('creates, lists and deletes a key of bot+alpha@example.invalid through real ccxt with encoded values', async () => {
      const ex = client('binance', sb.url, master);
      const created = (await ex.request(
        'sub-account/subAccountApi',
        'sapi',
        'POST',
        enc({ email: PLUS_SUB, apiName: 'keyctl-plus', status: 2, ipAddress: '10.0.0.5,10.0.0.6', canTrade: true }),
      )) as Record<string, unknown>;
      expect(created).toMatchObject({ apiName: 'keyctl-plus', ipList: ['10.0.0.5', '10.0.0.6'] });
      const listed = (await ex.request('sub-account/subAccountApi', 'sapi', 'GET', enc({ email: PLUS_SUB }))) as Record<string, unknown>;
      expect(listed).toEqual({
        total: 1,
        list: [
          {
            email: PLUS_SUB,
            apiName: 'keyctl-plus',
            apikey: created.apiKey,
            canTrade: true,
            canMarginLoanRepay: false,
            canFuturesTrade: false,
            canUniversalTransfer: false,
            canVanillaOptions: false,
            timestamp: expect.any(Number),
          },
        ],
      });
      const ipr = await call(
        ex,
        'sapiGetSubAccountSubAccountApiIpRestriction',
        enc({ email: PLUS_SUB, subAccountApiKey: created.apiKey as string }),
      );
      expect(ipr).toMatchObject({ ipRestrict: 'true', ipList: ['10.0.0.5', '10.0.0.6'] });
      expect(
        await ex.request(
          'sub-account/subAccountApi',
          'sapi',
          'DELETE',
          enc({ email: PLUS_SUB, subAccountApiKey: created.apiKey as string }),
        ),
      ).toEqual({});
      expect(await sb.admin.listKeys({ exchange: 'binance', owner: PLUS_SUB })).toEqual([]);
    });
  });

  it("lists a sub-account's keys in pages (size at most 100), to its master only", async () => {
    const ex = client('binance', sb.url, master);
    for (const name of ['FAKE-a', 'FAKE-b']) {
      await sb.admin.createKey({ exchange: 'binance', owner: SUB, permissions: { enableReading: true }, ips: ['10.0.0.5'], label: name });
    }
    const page2 = (await ex.request('sub-account/subAccountApi', 'sapi', 'GET', enc({ email: SUB, page: 2, size: 2 }))) as {
      total: number;
      list: Array<{ apiName: string }>;
    };
    expect(page2.total).toBe(3);
    expect(page2.list.map((k) => k.apiName)).toEqual(['FAKE-b']);
    const only = (await ex.request('sub-account/subAccountApi', 'sapi', 'GET', enc({ email: SUB, subAccountApiKey: bot.apiKey }))) as {
      list: Array<{ apikey: string }>;
    };
    expect(only.list.map((k) => k.apikey)).toEqual([bot.apiKey]);
    const tooBig = await errorOf(ex.request('sub-account/subAccountApi', 'sapi', 'GET', enc({ email: SUB, size: 101 })));
    expect(tooBig.error.message).toContain('"code":-1130');
    const fromSub = await errorOf(client('binance', sb.url, bot).request('sub-account/subAccountApi', 'sapi', 'GET', enc({ email: SUB })));
    expect(fromSub.error.message).toContain('"code":-2015');
  });

  it('lets only a master with "Enable Spot & Margin Trading" create or delete sub keys (-2015); reads need no trading', async () => {
    const reader = await sb.admin.createKey({
      exchange: 'binance',
      owner: MAIN,
      master: true,
      permissions: { enableReading: true },
      ips: ['10.0.0.5'],
    });
    const ex = client('binance', sb.url, reader);
    const create = await errorOf(
      ex.request('sub-account/subAccountApi', 'sapi', 'POST', enc({ email: SUB, apiName: 'FAKE-x', status: 2, ipAddress: '10.0.0.5' })),
    );
    expect(create.error.message).toContain('"code":-2015');
    const del = await errorOf(ex.request('sub-account/subAccountApi', 'sapi', 'DELETE', enc({ email: SUB, subAccountApiKey: bot.apiKey })));
    expect(del.error.message).toContain('"code":-2015');
    expect(await call(ex, 'sapiGetSubAccountSubAccountApiIpRestriction', enc({ email: SUB, subAccountApiKey: bot.apiKey }))).toMatchObject({
      apiKey: bot.apiKey,
    });
    expect(await ex.request('sub-account/subAccountApi', 'sapi', 'GET', enc({ email: SUB }))).toMatchObject({ total: 1 });
    expect((await sb.admin.listKeys({ exchange: 'binance', owner: SUB })).map((k) => k.apiKey)).toEqual([bot.apiKey]);
  });

  it('unchecks spot & margin trading on a key without an IP allowlist after 30 days; the key still reads', async () => {
    await sb.admin.tamper(bot.apiKey, { ips: null });
    const fresh = await call(client('binance', sb.url, bot), 'sapiGetAccountApiRestrictions');
    const created = Date.parse(sb.state.key('binance', bot.apiKey)!.createdAt);
    // Within the 30 days Binance shows when trading ends.
    expect(fresh).toMatchObject({
      ipRestrict: false,
      enableSpotAndMarginTrading: true,
      tradingAuthorityExpirationTime: created + UNRESTRICTED_TRADING_MS,
    });

    const aged = (apiKey: string) => {
      sb.state.key('binance', apiKey)!.createdAt = new Date(Date.now() - 31 * DAY).toISOString();
      sb.state.changed();
    };
    aged(bot.apiKey);
    const lapsed = await call(client('binance', sb.url, bot), 'sapiGetAccountApiRestrictions');
    expect(lapsed).toMatchObject({ ipRestrict: false, enableReading: true, enableSpotAndMarginTrading: false });
    expect(lapsed).not.toHaveProperty('tradingAuthorityExpirationTime');
    expect(await call(client('binance', sb.url, bot), 'privateGetAccount')).toMatchObject({ canTrade: false });
    // Binance keeps it unchecked: a later allowlist does not bring trading back.
    await sb.admin.tamper(bot.apiKey, { ips: ['10.0.0.5'] });
    expect(await call(client('binance', sb.url, bot), 'sapiGetAccountApiRestrictions')).toMatchObject({
      enableSpotAndMarginTrading: false,
    });

    // An unrestricted master loses sub-key management with its trading.
    await sb.admin.tamper(master.apiKey, { ips: null });
    aged(master.apiKey);
    const ex = client('binance', sb.url, master);
    const create = await errorOf(
      ex.request('sub-account/subAccountApi', 'sapi', 'POST', enc({ email: SUB, apiName: 'FAKE-x', status: 2, ipAddress: '10.0.0.5' })),
    );
    expect(create.error.message).toContain('"code":-2015');
    expect(await call(ex, 'sapiGetAccountApiRestrictions')).toMatchObject({ enableSpotAndMarginTrading: false });
  });

  it('keeps IP-locked keys trading however old they are', async () => {
    sb.state.key('binance', bot.apiKey)!.createdAt = new Date(Date.now() - 400 * DAY).toISOString();
    const r = await call(client('binance', sb.url, bot), 'sapiGetAccountApiRestrictions');
    expect(r).toMatchObject({ ipRestrict: true, enableSpotAndMarginTrading: true });
    expect(r).not.toHaveProperty('tradingAuthorityExpirationTime');
  });
});
