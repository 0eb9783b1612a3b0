/**
 * Binance as its documentation describes it, through the real adapter and real ccxt against the sandbox: a master key
 * needs "Enable Spot & Margin Trading" to manage sub keys, an unrestricted key's trading lapses after 30 days while the
 * key still authenticates (MISSING_SCOPE, not KEY_REJECTED), the sub-account key listing feeds the orphan sweep, and
 * signatures cover the percent-encoded bytes sent (an email with `+` and `@`). The shared suite (exchanges.test.ts)
 * runs with the master and bot permissions the documentation requires.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipCcxtThrottle } from '../helpers/ccxt-throttle.js';
import { evaluateKey } from '../../src/domain/policy.js';
import type { DeclarableScope } from '../../src/domain/scopes.js';
import { UNRESTRICTED_TRADING_MS } from '../../src/exchanges/binance/sandbox.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { CallOptions, Credentials, ExchangeAccount, ExchangeAdapter } from '../../src/exchanges/types.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';

/** The master a Binance account needs: reading plus "Enable Spot & Margin Trading". */
const BINANCE_MASTER = { enableReading: true, enableSpotAndMarginTrading: true };

const CLIENT_IP = '203.0.113.10';
const CALL: CallOptions = { timeoutMs: 5_000, attempts: 3, backoffMs: 10 };
const SCOPES: DeclarableScope[] = ['spot:trade', 'margin:trade'];
/** A sub-account email whose `+` would read as a space if it were sent unencoded. */
const PLUS_SUB = 'bot+alpha@example.invalid';

describe('binance as documented: adapter + ccxt against the sandbox', () => {
  skipCcxtThrottle();
  let sandbox: RunningSandbox;
  let adapter: ExchangeAdapter;
  let account: ExchangeAccount;
  let mainUid: string;
  let master: Credentials;

  const newSub = async (id?: string) => (await sandbox.admin.createSubaccount('binance', mainUid, id)).id;
  const seed = async (owner: string, extra: { master?: boolean; permissions?: Record<string, boolean>; ips?: string[] } = {}) =>
    (await sandbox.admin.createKey({
      exchange: 'binance',
      owner,
      permissions: extra.permissions ?? { enableReading: true, enableSpotAndMarginTrading: true },
      ips: extra.ips ?? [CLIENT_IP],
      label: 'contract',
      ...(extra.master ? { master: true } : {}),
    })) as Credentials;
  /** Makes a key older than Binance's 30 days for keys without an IP allowlist. */
  const age = (apiKey: string) => {
    sandbox.state.key('binance', apiKey)!.createdAt = new Date(Date.now() - UNRESTRICTED_TRADING_MS - 86_400_000).toISOString();
    sandbox.state.changed();
  };
  const masterCodes = async (key: Credentials) =>
    evaluateKey(await adapter.inspect({ ...CALL, account, key, role: 'master' }), {
      kind: 'master',
      exchange: 'binance',
      masterScopes: adapter.capabilities.masterScopes,
    }).map((v) => v.code);

  beforeAll(async () => {
    sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
    adapter = await getAdapter('binance');
    account = { name: 'binance-main', exchange: 'binance', baseUrl: `${sandbox.url}/binance` };
    mainUid = (await sandbox.admin.createAccount('binance')).uid;
    master = await seed(mainUid, { master: true, permissions: BINANCE_MASTER });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('declares the master scopes Binance requires, the spot+margin bundle, and a listing', () => {
    expect(adapter.capabilities).toMatchObject({
      list: true,
      masterScopes: ['keys:manage', 'spot:trade', 'margin:trade'],
      boundScopes: [['spot:trade', 'margin:trade']],
    });
  });

  it('a master without "Enable Spot & Margin Trading" is MISSING_SCOPE and cannot create or delete sub keys', async () => {
    const reader = await seed(mainUid, { master: true, permissions: { enableReading: true } });
    expect(await masterCodes(reader)).toEqual(['MISSING_SCOPE']);
    expect(await masterCodes(master)).toEqual([]);
    const sub = await newSub();
    const base = { ...CALL, account, master: reader, subaccount: sub };
    await expect(adapter.createKey({ ...base, scopes: SCOPES, ips: [CLIENT_IP], label: 'keyctl-x' })).rejects.toMatchObject({
      code: 'KEY_REJECTED',
      details: { exchangeCode: '-2015' },
    });
    const bot = await seed(sub);
    await expect(adapter.deleteKey({ ...base, apiKey: bot.apiKey })).rejects.toMatchObject({ code: 'KEY_REJECTED' });
    // Reading needs no trading: the listing works for it.
    expect((await adapter.listKeys(base)).map((k) => k.apiKey)).toEqual([bot.apiKey]);
  });

  it("confirms a master key's declared uid from GET /api/v3/account (Binance documents `uid` there), WRONG_ACCOUNT otherwise", async () => {
    const target = (uid: string) => ({
      kind: 'master' as const,
      exchange: 'binance',
      masterScopes: adapter.capabilities.masterScopes,
      uid,
    });
    const mine = await adapter.inspect({ ...CALL, account: { ...account, uid: mainUid }, key: master, role: 'master' });
    expect(mine.owner.uid).toBe(mainUid);
    expect(evaluateKey(mine, target(mainUid))).toEqual([]);
    const otherUid = String(Number(mainUid) + 1);
    const theirs = await adapter.inspect({ ...CALL, account: { ...account, uid: otherUid }, key: master, role: 'master' });
    expect(evaluateKey(theirs, target(otherUid)).map((v) => v.code)).toEqual(['WRONG_ACCOUNT']);
  });

  it('a bot key without an IP allowlist loses trading after 30 days but still authenticates: MISSING_SCOPE, not KEY_REJECTED', async () => {
    const sub = await newSub();
    const bot = await seed(sub, { ips: [] });
    const target = { kind: 'bot' as const, scopes: SCOPES, ips: [CLIENT_IP], subaccount: sub };
    const young = await adapter.inspect({ ...CALL, account, key: bot, role: 'bot', subaccount: sub, master });
    // Within the 30 days Binance already tells when trading ends.
    expect(Date.parse(young.expiresAt!)).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect(evaluateKey(young, target).map((v) => v.code)).toEqual(['NOT_IP_LOCKED']);

    age(bot.apiKey);
    const lapsed = await adapter.inspect({ ...CALL, account, key: bot, role: 'bot', subaccount: sub, master });
    expect(lapsed).toMatchObject({ scopes: ['read'], readOnly: true, ips: 'unrestricted' });
    expect(evaluateKey(lapsed, target).map((v) => v.code)).toEqual(['NOT_IP_LOCKED', 'MISSING_SCOPE']);
    await expect(adapter.ping({ ...CALL, account, key: bot })).resolves.toBeUndefined();
  });

  it('a master without an IP allowlist loses sub-key management after 30 days (MISSING_SCOPE, create refused)', async () => {
    const open = await seed(mainUid, { master: true, permissions: BINANCE_MASTER, ips: [] });
    expect(await masterCodes(open)).toEqual(['NOT_IP_LOCKED']);
    age(open.apiKey);
    expect(await masterCodes(open)).toEqual(['NOT_IP_LOCKED', 'MISSING_SCOPE']);
    const sub = await newSub();
    await expect(
      adapter.createKey({ ...CALL, account, master: open, subaccount: sub, scopes: SCOPES, ips: [CLIENT_IP], label: 'keyctl-y' }),
    ).rejects.toMatchObject({ code: 'KEY_REJECTED' });
  });

  it('creates, inspects, lists and deletes a key of bot+alpha@example.invalid (percent-encoded, signed as sent)', async () => {
    const sub = await newSub(PLUS_SUB);
    const manual = await seed(sub);
    const label = `keyctl-rot-${Date.now() % 100000}`;
    const created = await adapter.createKey({ ...CALL, account, master, subaccount: sub, scopes: SCOPES, ips: [CLIENT_IP], label });
    expect((await sandbox.admin.listKeys({ exchange: 'binance', owner: PLUS_SUB })).map((k) => k.label)).toEqual(['contract', label]);

    const inspection = await adapter.inspect({ ...CALL, account, key: created, role: 'bot', subaccount: sub, master });
    expect(inspection).toMatchObject({ ips: [CLIENT_IP], owner: { subaccount: PLUS_SUB } });
    expect(evaluateKey(inspection, { kind: 'bot', scopes: SCOPES, ips: [CLIENT_IP], subaccount: sub })).toEqual([]);

    // What the orphan sweep reads: every key with its label (the sweep deletes `keyctl-` ones the store does not hold).
    const listed = await adapter.listKeys({ ...CALL, account, master, subaccount: sub });
    expect(listed).toEqual([
      expect.objectContaining({ apiKey: manual.apiKey, label: 'contract', ips: [CLIENT_IP] }),
      expect.objectContaining({ apiKey: created.apiKey, label, scopes: ['read', 'spot:trade', 'margin:trade'], ips: [CLIENT_IP] }),
    ]);

    await adapter.deleteKey({ ...CALL, account, master, subaccount: sub, apiKey: created.apiKey });
    expect((await adapter.listKeys({ ...CALL, account, master, subaccount: sub })).map((k) => k.apiKey)).toEqual([manual.apiKey]);
    await expect(adapter.ping({ ...CALL, account, key: created })).rejects.toMatchObject({ code: 'KEY_REJECTED' });
  });

  it('lists a key of another sub-account as not there, and a foreign sub-account as a refusal, never as an empty list', async () => {
    const sub = await newSub();
    const other = await newSub();
    await seed(other);
    expect(await adapter.listKeys({ ...CALL, account, master, subaccount: sub })).toEqual([]);
    await expect(adapter.listKeys({ ...CALL, account, master, subaccount: 'nobody@example.invalid' })).rejects.toMatchObject({
      code: 'EXCHANGE_REFUSED',
      details: { exchangeCode: '-1130' },
    });
  });
});
