import ccxt from 'ccxt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds } from './sandbox-helpers.js';

const MAIN = '300100';
const SUB = 'fakebot_virtual@sandbox.invalid';

describe('sandbox: binance through real ccxt', () => {
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
    await sb.admin.createAccount('binance', MAIN);
    await sb.admin.createSubaccount('binance', MAIN, SUB);
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
});
