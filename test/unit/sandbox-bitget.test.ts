/**
 * The Bitget emulator through real ccxt (and, for what ccxt cannot send, hand-signed requests): the one signed string
 * Bitget checks (https://www.bitget.com/api-doc/common/signature), the codes of its error table
 * (https://www.bitget.com/api-doc/common/error-code/restapi), the key endpoints' rules, and the classic account whose
 * sub-account keys cannot be deleted by API.
 */
import { createHmac } from 'node:crypto';
import ccxt from 'ccxt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { call, client, errorOf, type Creds } from './sandbox-helpers.js';

const MAIN = '6100000001';
const CLASSIC_MAIN = '6100000002';
const SUB = '6200000001';
const CLASSIC_SUB = '6200000002';
const IP = '10.0.0.5';

describe('sandbox: bitget through real ccxt', () => {
  let sb: RunningSandbox;
  let master: Creds;
  let bot: Creds;

  /** A hand-signed request; `signedAs` is the path and query the client claims to have signed. */
  const raw = async (
    creds: Creds,
    method: 'GET' | 'POST',
    pathAndQuery: string,
    options: { body?: string; signedAs?: string; ts?: string; omit?: string } = {},
  ): Promise<{ status: number; body: { code: string; msg: string; data: unknown } }> => {
    const ts = options.ts ?? String(Date.now());
    const body = options.body ?? '';
    const prehash = `${ts}${method}${options.signedAs ?? pathAndQuery}${body}`;
    const headers: Record<string, string> = {
      'ACCESS-KEY': creds.apiKey,
      'ACCESS-PASSPHRASE': creds.passphrase ?? '',
      'ACCESS-TIMESTAMP': ts,
      'ACCESS-SIGN': createHmac('sha256', creds.secret).update(prehash).digest('base64'),
      ...(method === 'POST' ? { 'Content-Type': 'application/json' } : {}),
    };
    if (options.omit) delete headers[options.omit];
    const res = await fetch(`${sb.url}/bitget${pathAndQuery}`, { method, headers, ...(method === 'POST' ? { body } : {}) });
    return { status: res.status, body: (await res.json()) as { code: string; msg: string; data: unknown } };
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
    await sb.admin.createAccount('bitget', MAIN);
    await sb.admin.createSubaccount('bitget', MAIN, SUB);
    master = await sb.admin.createKey({
      exchange: 'bitget',
      owner: MAIN,
      master: true,
      permissions: 'stor,chor,chow',
      ips: [IP],
      label: 'FAKE-master',
    });
    bot = await sb.admin.createKey({ exchange: 'bitget', owner: SUB, permissions: 'stor,stow', ips: [IP], label: 'FAKE-bot' });
  });

  it('answers Get Account Information in its documented shape, and the spot assets', async () => {
    const res = await call(client('bitget', sb.url, bot), 'privateSpotGetV2SpotAccountInfo');
    expect(res).toMatchObject({ code: '00000', msg: 'success' });
    const data = res.data as Record<string, unknown>;
    expect(data).toMatchObject({ userId: SUB, parentId: Number(MAIN), ips: IP, authorities: ['stor', 'stow'] });
    expect(Object.keys(data).sort()).toEqual(
      ['userId', 'inviterId', 'ips', 'authorities', 'parentId', 'traderType', 'channelCode', 'channel', 'regisTime'].sort(),
    );
    expect((await call(client('bitget', sb.url, bot), 'privateSpotGetV2SpotAccountAssets')).code).toBe('00000');
  });

  it('refuses another secret (40009), a wrong passphrase (40012), a malformed key (40006), a deleted or unknown key (40037)', async () => {
    const sig = await errorOf(call(client('bitget', sb.url, { ...bot, secret: 'FAKE-other-secret' }), 'privateSpotGetV2SpotAccountInfo'));
    expect(sig.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(sig.error.message).toContain('"code":"40009"');
    const pass = await errorOf(call(client('bitget', sb.url, { ...bot, passphrase: 'Wrong0pass' }), 'privateSpotGetV2SpotAccountInfo'));
    expect(pass.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(pass.error.message).toContain('"code":"40012"');
    const malformed = await errorOf(call(client('bitget', sb.url, { ...bot, apiKey: 'FAKE-key' }), 'privateSpotGetV2SpotAccountInfo'));
    expect(malformed.error.message).toContain('"code":"40006"');
    const unknown = await errorOf(
      call(client('bitget', sb.url, { ...bot, apiKey: `bg_${'0'.repeat(32)}` }), 'privateSpotGetV2SpotAccountInfo'),
    );
    expect(unknown.error).toBeInstanceOf(ccxt.AuthenticationError);
    expect(unknown.error.message).toContain('"code":"40037"');
  });

  it('checks every part of the signed string: method, path, query, body; and each header', async () => {
    expect((await raw(bot, 'GET', '/api/v2/spot/account/info')).body.code).toBe('00000');
    // Signed for another method, path or body.
    expect((await raw(bot, 'GET', '/api/v2/spot/account/info', { signedAs: '/api/v2/spot/account/assets' })).body.code).toBe('40009');
    const listPath = `/api/v2/user/virtual-subaccount-apikey-list?subAccountUid=${SUB}`;
    expect((await raw(master, 'GET', listPath)).body.code).toBe('00000');
    expect((await raw(master, 'GET', listPath, { signedAs: '/api/v2/user/virtual-subaccount-apikey-list' })).body.code).toBe('40009');
    // The query is signed as it reads, not percent-encoded (as ccxt signs it): an encoded signature does not match.
    const odd = `/api/v2/user/virtual-subaccount-apikey-list?subAccountUid=${SUB}&x=a%20b`;
    expect((await raw(master, 'GET', odd, { signedAs: odd })).body.code).toBe('40009');
    expect((await raw(master, 'GET', odd, { signedAs: decodeURIComponent(odd) })).body.code).toBe('00000');
    for (const [header, code] of [
      ['ACCESS-KEY', '40001'],
      ['ACCESS-SIGN', '40003'],
      ['ACCESS-TIMESTAMP', '40005'],
      ['ACCESS-PASSPHRASE', '40011'],
    ] as const) {
      expect((await raw(bot, 'GET', '/api/v2/spot/account/info', { omit: header })).body.code, header).toBe(code);
    }
  });

  it('accepts a timestamp within 30 s and refuses one outside it (40008, InvalidNonce) or not in ms (40005)', async () => {
    expect((await raw(bot, 'GET', '/api/v2/spot/account/info', { ts: String(Date.now() - 25_000) })).body.code).toBe('00000');
    expect((await raw(bot, 'GET', '/api/v2/spot/account/info', { ts: String(Date.now() + 35_000) })).body.code).toBe('40008');
    expect((await raw(bot, 'GET', '/api/v2/spot/account/info', { ts: String(Math.floor(Date.now() / 1000)) })).body.code).toBe('40005');
    const ex = client('bitget', sb.url, bot);
    ex.options.timeDifference = 31_000;
    const stale = await errorOf(call(ex, 'privateSpotGetV2SpotAccountInfo'));
    expect(stale.error).toBeInstanceOf(ccxt.InvalidNonce);
    expect(stale.error.message).toContain('"code":"40008"');
  });

  it("refuses a call from outside the key's allowlist (40018, PermissionDenied)", async () => {
    await sb.admin.setClientIp('203.0.113.9');
    const ip = await errorOf(call(client('bitget', sb.url, bot), 'privateSpotGetV2SpotAccountInfo'));
    expect(ip.error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(ip.error.message).toContain('"code":"40018"');
  });

  it('creates, lists and deletes a virtual sub-account key with Bitget rules', async () => {
    const ex = client('bitget', sb.url, master);
    const res = await call(ex, 'privateUserPostV2UserCreateVirtualSubaccountApikey', {
      subAccountUid: SUB,
      passphrase: 'FakePass123',
      label: 'keyctl-0123456789ab',
      ipList: [IP],
      permList: ['spot_trade', 'contract_trade'],
    });
    const created = res.data as Record<string, unknown>;
    expect(created).toMatchObject({
      subAccountUid: SUB,
      label: 'keyctl-0123456789ab',
      permList: ['spot_trade', 'contract_trade'],
      ipList: [IP],
    });
    expect(created).not.toHaveProperty('passphrase');
    const fresh = { apiKey: created.subAccountApiKey as string, secret: created.secretKey as string, passphrase: 'FakePass123' };
    const info = (await call(client('bitget', sb.url, fresh), 'privateSpotGetV2SpotAccountInfo')).data as { authorities: string[] };
    expect(info.authorities.sort()).toEqual(['coor', 'coow', 'cpor', 'cpow', 'stor', 'stow']);
    const listed = (await call(ex, 'privateUserGetV2UserVirtualSubaccountApikeyList', { subAccountUid: SUB })).data as Array<
      Record<string, unknown>
    >;
    expect(listed.find((k) => k.subAccountApiKey === fresh.apiKey)).toEqual({
      subAccountUid: SUB,
      label: 'keyctl-0123456789ab',
      subAccountApiKey: fresh.apiKey,
      permList: ['spot_trade', 'contract_trade'],
      ipList: [IP],
    });
    expect((await call(ex, 'privateUtaPostV3UserDeleteSubApi', { apiKey: fresh.apiKey })).code).toBe('00000');
    const gone = await errorOf(call(client('bitget', sb.url, fresh), 'privateSpotGetV2SpotAccountInfo'));
    expect(gone.error.message).toContain('"code":"40037"');
  });

  it('refuses what Bitget documents it refuses: a passphrase with symbols, a long label, withdraw, a sub key managing keys', async () => {
    const ex = client('bitget', sb.url, master);
    const base = { subAccountUid: SUB, passphrase: 'FakePass123', label: 'FAKE-label', ipList: [IP], permList: ['spot_trade'] };
    for (const bad of [
      { passphrase: 'Fake-Pass-1!' },
      { label: 'x'.repeat(21) },
      { permList: ['wallet_withdraw'] },
      { ipList: ['not-an-ip'] },
    ]) {
      const err = await errorOf(call(ex, 'privateUserPostV2UserCreateVirtualSubaccountApikey', { ...base, ...bad }));
      expect(err.error.message, JSON.stringify(bad)).toContain('"code":"40017"');
    }
    const asBot = await errorOf(call(client('bitget', sb.url, bot), 'privateUserPostV2UserCreateVirtualSubaccountApikey', base));
    expect(asBot.error).toBeInstanceOf(ccxt.PermissionDenied);
    expect(asBot.error.message).toContain('"code":"40014"');
    expect(await sb.admin.listKeys({ exchange: 'bitget', owner: SUB })).toHaveLength(1);
  });

  it('refuses to delete a key of a classic account (delete-sub-api is for unified accounts only); the key stays', async () => {
    await sb.admin.createAccount('bitget', CLASSIC_MAIN, { accountMode: 'classic' });
    await sb.admin.createSubaccount('bitget', CLASSIC_MAIN, CLASSIC_SUB);
    const classicMaster = await sb.admin.createKey({
      exchange: 'bitget',
      owner: CLASSIC_MAIN,
      master: true,
      permissions: 'stor,chor,chow',
      ips: [IP],
    });
    const classicBot = await sb.admin.createKey({ exchange: 'bitget', owner: CLASSIC_SUB, permissions: 'stor,stow', ips: [IP] });
    const err = await errorOf(
      call(client('bitget', sb.url, classicMaster), 'privateUtaPostV3UserDeleteSubApi', { apiKey: classicBot.apiKey }),
    );
    expect(err.error.message).toContain('"code":"40054"');
    expect((await call(client('bitget', sb.url, classicBot), 'privateSpotGetV2SpotAccountInfo')).code).toBe('00000');
    // A unified account's master cannot delete another account's key.
    const foreign = await errorOf(
      call(client('bitget', sb.url, master), 'privateUtaPostV3UserDeleteSubApi', { apiKey: classicBot.apiKey }),
    );
    expect(foreign.error.message).toContain('"code":"40037"');
  });
});
