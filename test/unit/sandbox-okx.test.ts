/**
 * The OKX emulator through real ccxt (and, for what ccxt cannot send, hand-signed requests): codes, HTTP statuses and
 * rules as OKX documents them (https://www.okx.com/docs-v5/en/#error-code-rest-api-public, the sub-account API key
 * pages), and the one signed string OKX checks (https://www.okx.com/docs-v5/en/#overview-rest-authentication).
 */
import { createHmac, randomUUID } from 'node:crypto';
import ccxt from 'ccxt';
import { beforeEach, describe, expect, it } from 'vitest';
import type { RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds, sandboxPerTest } from './sandbox-helpers.js';

const MAIN = '44705892343619584';
const SUB = 'fakebot01';
/** A sub-account name with characters a query string must encode. OKX names are letters and digits; seeding lets the
 * sandbox check that a signature covers the query exactly as sent. */
const ODD_SUB = 'FAKE+sub@x=1';
const ODD_SUB_ENCODED = 'FAKE%2Bsub%40x%3D1';

/** The code in a ccxt error's message (`okx {"code":...}`). */
const codeIn = (e: Error): string => (JSON.parse(e.message.replace(/^okx /, '')) as { code: string }).code;

describe('sandbox: okx v5 through real ccxt', () => {
  let sb: RunningSandbox;
  let master: Creds;
  let bot: Creds;

  /**
   * A hand-signed request: `signedAs` is the request path (and query) the client claims to have signed, by default
   * exactly what it sends. Answers the HTTP status and the JSON body.
   */
  const raw = async (
    creds: Creds,
    method: 'GET' | 'POST',
    pathAndQuery: string,
    options: { body?: string; signedAs?: string; signedBody?: string } = {},
  ): Promise<{ status: number; body: { code: string; msg: string; data: unknown[] } }> => {
    const ts = new Date().toISOString();
    const body = options.body ?? '';
    const prehash = `${ts}${method}${options.signedAs ?? pathAndQuery}${options.signedBody ?? body}`;
    const res = await fetch(`${sb.url}/okx${pathAndQuery}`, {
      method,
      headers: {
        'OK-ACCESS-KEY': creds.apiKey,
        'OK-ACCESS-PASSPHRASE': creds.passphrase ?? '',
        'OK-ACCESS-TIMESTAMP': ts,
        'OK-ACCESS-SIGN': createHmac('sha256', creds.secret).update(prehash).digest('base64'),
        ...(method === 'POST' ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(method === 'POST' ? { body } : {}),
    });
    return { status: res.status, body: (await res.json()) as { code: string; msg: string; data: unknown[] } };
  };

  const sandbox = sandboxPerTest('okx', MAIN, SUB);
  beforeEach(async () => {
    sb = sandbox.sb;
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
    // Every field of the documented answer (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-account-configuration).
    const documented =
      'acctLv acctStpMode autoLoan ctIsoMode enableSpotBorrow greeksType feeType ip type kycLv label level levelTmp liquidationGear mainUid mgnIsoMode opAuth perm posMode roleType spotBorrowAutoRepay spotOffsetType spotRoleType spotTraderInsts stgyType traderInsts uid settleCcy settleCcyList';
    expect(Object.keys(cfg!).sort()).toEqual(documented.split(' ').sort());
    const bal = await call(client('okx', sb.url, bot), 'privateGetAccountBalance');
    expect(bal.code).toBe('0');
  });

  it('refuses another secret (50113), a wrong passphrase (50105), a malformed key (50111), a key OKX does not have (50119)', async () => {
    const sig = await errorOf(call(client('okx', sb.url, { ...bot, secret: 'FAKE-other-secret' }), 'privateGetAccountConfig'));
    expect(sig.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(sig.error.message).toContain('"code":"50113"');
    const pass = await errorOf(call(client('okx', sb.url, { ...bot, passphrase: 'Wrong-pass-1!' }), 'privateGetAccountConfig'));
    expect(pass.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(pass.error.message).toContain('"code":"50105"');
    // OKX keys are UUIDs: another shape is "Invalid OK-ACCESS-KEY" (HTTP 401).
    const malformed = await errorOf(call(client('okx', sb.url, { ...bot, apiKey: 'FAKE-key' }), 'privateGetAccountConfig'));
    expect(malformed.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(malformed.error.message).toContain('"code":"50111"');
    // A well-formed key OKX does not have is 50119 "API key doesn't exist", HTTP 200 in OKX's table. ccxt 4.5.84 knows
    // no class for it: a plain ExchangeError, which keyctl maps by code (descriptor.ts).
    const unknown = await errorOf(call(client('okx', sb.url, { ...bot, apiKey: randomUUID() }), 'privateGetAccountConfig'));
    expect(unknown.name).toBe('ExchangeError');
    expect(unknown.error.message).toContain('"code":"50119","msg":"API key doesn\'t exist"');
    const plain = await raw({ ...bot, apiKey: randomUUID() }, 'GET', '/api/v5/account/config');
    expect(plain).toEqual({ status: 200, body: { code: '50119', msg: "API key doesn't exist", data: [] } });
  });

  it('refuses a stale timestamp (50102, InvalidNonce), a foreign address (50110, PermissionDenied), an expired key (50119)', async () => {
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
    // OKX deletes expired keys, so an expired key reads as one that does not exist.
    expect((await errorOf(call(client('okx', sb.url, bot), 'privateGetAccountConfig'))).error.message).toContain('"code":"50119"');
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
    expect((await errorOf(call(fresh, 'privateGetAccountConfig'))).error.message).toContain('"code":"50119"');
  });

  it('enforces withdraw, passphrase, IP-count, duplicate-label and main-key rules', async () => {
    const ex = client('okx', sb.url, master);
    const base = { subAcct: SUB, label: 'FAKE-x', passphrase: 'Fake-Pass-123!', perm: 'trade' };
    const codeOf = async (params: Record<string, unknown>, who = ex) =>
      codeIn((await errorOf(call(who, 'privatePostUsersSubaccountApikey', params))).error);
    expect(await codeOf({ ...base, perm: 'read_only,withdraw' })).toBe('59504');
    expect(await codeOf({ ...base, passphrase: 'alllowercase1!' })).toBe('59505');
    expect(await codeOf({ ...base, passphrase: 'Sh0rt!' })).toBe('59505');
    expect(await codeOf({ ...base, ip: Array.from({ length: 21 }, (_, i) => `10.1.0.${i + 1}`).join(',') })).toBe('59503');
    expect(await codeOf({ ...base, label: 'FAKE-bot' })).toBe('59502');
    expect(await codeOf(base, client('okx', sb.url, bot))).toBe('59500');
    expect(await sb.admin.listKeys({ exchange: 'okx', owner: SUB })).toHaveLength(1);
  });

  it('answers parameter errors with HTTP 400 (50014, 51000) and an unknown sub-account with 59510, as OKX documents', async () => {
    const create = (body: Record<string, unknown>) =>
      raw(master, 'POST', '/api/v5/users/subaccount/apikey', {
        body: JSON.stringify({ subAcct: SUB, label: 'FAKE-y', passphrase: 'Fake-Pass-123!', perm: 'trade', ...body }),
      });
    expect(await create({ label: '' })).toMatchObject({ status: 400, body: { code: '50014', msg: 'Parameter label can not be empty.' } });
    expect(await create({ ip: '10.0.0.5,not-an-ip' })).toMatchObject({ status: 400, body: { code: '51000', msg: 'Parameter ip error' } });
    expect(await create({ perm: 'read_only,earn' })).toMatchObject({ status: 400, body: { code: '51000' } });
    // "Sub-account does not exist" (59510), for a name nobody has and for another main account's sub-account alike.
    await sb.admin.createAccount('okx', '44705892343619999');
    const foreign = (await sb.admin.createSubaccount('okx', '44705892343619999', 'fakeother1')).id;
    for (const subAcct of ['fakenobody1', foreign]) {
      expect(await create({ subAcct })).toMatchObject({ status: 200, body: { code: '59510', msg: 'Sub-account does not exist' } });
      const ex = client('okx', sb.url, master);
      expect(codeIn((await errorOf(call(ex, 'privateGetUsersSubaccountApikey', { subAcct }))).error)).toBe('59510');
      const del = await errorOf(call(ex, 'privatePostUsersSubaccountDeleteApikey', { subAcct, apiKey: bot.apiKey }));
      expect(codeIn(del.error)).toBe('59510');
    }
    // A key that is not the named sub-account's: 59506 "API key doesn't exist.", and the key survives.
    const other = (await sb.admin.createSubaccount('okx', MAIN, 'fakebot02')).id;
    const del = await errorOf(
      call(client('okx', sb.url, master), 'privatePostUsersSubaccountDeleteApikey', { subAcct: other, apiKey: bot.apiKey }),
    );
    expect(del.error.message).toContain('"code":"59506","msg":"API key doesn\'t exist."');
    expect((await call(client('okx', sb.url, bot), 'privateGetAccountConfig')).code).toBe('0');
  });

  it('lets only an IP-bound main-account key with Trade create or delete sub keys (50035, 50120); listing needs Read only', async () => {
    // "Applies to master accounts only and master accounts API Key must be linked to IP addresses", "Permission: Trade".
    const readOnly = await sb.admin.createKey({ exchange: 'okx', owner: MAIN, master: true, permissions: 'read_only', ips: ['10.0.0.5'] });
    const unbound = await sb.admin.createKey({ exchange: 'okx', owner: MAIN, master: true, permissions: 'read_only,trade' });
    const create = { subAcct: SUB, label: 'FAKE-z', passphrase: 'Fake-Pass-123!', perm: 'trade', ip: '10.0.0.5' };
    const remove = { subAcct: SUB, apiKey: bot.apiKey };
    for (const [who, code] of [
      [unbound, '50035'],
      [readOnly, '50120'],
    ] as const) {
      const ex = client('okx', sb.url, who);
      expect(codeIn((await errorOf(call(ex, 'privatePostUsersSubaccountApikey', create))).error)).toBe(code);
      expect(codeIn((await errorOf(call(ex, 'privatePostUsersSubaccountDeleteApikey', remove))).error)).toBe(code);
      // Query the API Key of a sub-account: "Permission: Read", no IP-binding rule.
      const listed = (await call(ex, 'privateGetUsersSubaccountApikey', { subAcct: SUB })).data as Array<{ apiKey: string }>;
      expect(listed.map((k) => k.apiKey)).toEqual([bot.apiKey]);
    }
    expect(await raw(unbound, 'POST', '/api/v5/users/subaccount/delete-apikey', { body: JSON.stringify(remove) })).toEqual({
      status: 403,
      body: { code: '50035', msg: 'This endpoint requires that APIKey must be bound to IP', data: [] },
    });
    expect((await call(client('okx', sb.url, bot), 'privateGetAccountConfig')).code).toBe('0');
  });

  it('checks the signature over the query and body exactly as sent, with no decoded second reading (50113)', async () => {
    await sb.admin.createSubaccount('okx', MAIN, ODD_SUB);
    const odd = await sb.admin.createKey({ exchange: 'okx', owner: ODD_SUB, permissions: 'read_only,trade', ips: ['10.0.0.5'] });
    // ccxt signs '?' + urlencode(query) and sends that same string: accepted.
    const ex = client('okx', sb.url, master);
    const listed = (await call(ex, 'privateGetUsersSubaccountApikey', { subAcct: ODD_SUB, apiKey: odd.apiKey })).data as Array<{
      apiKey: string;
    }>;
    expect(listed.map((k) => k.apiKey)).toEqual([odd.apiKey]);

    const path = `/api/v5/users/subaccount/apikey?subAcct=${ODD_SUB_ENCODED}`;
    expect(await raw(master, 'GET', path)).toMatchObject({ status: 200, body: { code: '0' } });
    // Signed over the decoded query while sending the encoded one: OKX's 50113, HTTP 401.
    const decoded = await raw(master, 'GET', path, { signedAs: decodeURIComponent(path) });
    expect(decoded).toEqual({ status: 401, body: { code: '50113', msg: 'Invalid Sign', data: [] } });
    // Nor is the bare path accepted for a request that has a query.
    expect((await raw(master, 'GET', path, { signedAs: '/api/v5/users/subaccount/apikey' })).body.code).toBe('50113');
    // A POST body is signed as sent: the same JSON re-serialized is another string.
    const body = `{ "subAcct": "${SUB}", "apiKey": "${bot.apiKey}" }`;
    const reserialized = await raw(master, 'POST', '/api/v5/users/subaccount/delete-apikey', {
      body,
      signedBody: JSON.stringify(JSON.parse(body)),
    });
    expect(reserialized).toMatchObject({ status: 401, body: { code: '50113' } });
    expect(await raw(master, 'POST', '/api/v5/users/subaccount/delete-apikey', { body })).toMatchObject({
      status: 200,
      body: { code: '0', data: [{ subAcct: SUB }] },
    });
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
