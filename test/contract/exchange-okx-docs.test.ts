/**
 * OKX as its documentation describes it, through the real adapter, real ccxt (4.5.84) and the sandbox:
 * - one `trade` permission for every instrument type, so an EXCESS_SCOPE of trade scopes is fixed in the slot's
 *   declared scopes, not at OKX (https://www.okx.com/docs-v5/en/#sub-account-rest-api-create-an-api-key-for-a-sub-account:
 *   `perm` is `read_only` or `trade`);
 * - the one signed string (https://www.okx.com/docs-v5/en/#overview-rest-authentication): the query exactly as sent;
 * - the codes of https://www.okx.com/docs-v5/en/#error-code-rest-api-public and #error-code-rest-api-account for the
 *   calls keyctl makes (50119 for a key OKX does not have, 59510, 59506, 50035, 50120).
 */
import { createHmac } from 'node:crypto';
import ccxt from 'ccxt';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { skipCcxtThrottle } from '../helpers/ccxt-throttle.js';
import { MemoryStore } from '../../providers/memory/index.js';
import { verifyKeys, type VerifyDeps } from '../../src/app/verify.js';
import { parseConfig } from '../../src/config/load.js';
import { fingerprint, toSecretFields } from '../../src/domain/credentials.js';
import { evaluateKey } from '../../src/domain/policy.js';
import { remedy } from '../../src/domain/remedy.js';
import { resolveKey } from '../../src/domain/resolve.js';
import { TRADE_SCOPES } from '../../src/domain/scopes.js';
import { forgetClients, isKeyRejected } from '../../src/exchanges/ccxt.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { CallOptions, Credentials, ExchangeAccount, ExchangeAdapter } from '../../src/exchanges/types.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';

const CLIENT_IP = '203.0.113.10';
const CALL: CallOptions = { timeoutMs: 5_000, attempts: 1, backoffMs: 10 };
/** Characters a query string must encode. OKX's names are letters and digits; the sandbox takes any seeded name. */
const ODD_SUB = 'FAKE+sub@x=1';

type Failure = { code?: string; details?: Record<string, unknown>; hint?: string; message?: string };
const failure = (p: Promise<unknown>): Promise<Failure> =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e as Failure,
  );

describe('okx against its documentation (adapter + ccxt + sandbox)', () => {
  skipCcxtThrottle();
  let sandbox: RunningSandbox;
  let adapter: ExchangeAdapter;
  let account: ExchangeAccount;
  let mainUid: string;
  let master: Credentials;

  const newSub = async (id?: string) => (await sandbox.admin.createSubaccount('okx', mainUid, id)).id;
  const seed = async (owner: string, permissions = 'read_only,trade', extra: { master?: boolean; ips?: string[] } = {}) =>
    (await sandbox.admin.createKey({ exchange: 'okx', owner, permissions, ips: extra.ips ?? [CLIENT_IP], ...extra })) as Credentials;

  beforeAll(async () => {
    sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
    adapter = await getAdapter('okx');
    account = { name: 'okx-main', exchange: 'okx', baseUrl: `${sandbox.url}/okx` };
    mainUid = (await sandbox.admin.createAccount('okx')).uid;
    master = await seed(mainUid, 'read_only,trade', { master: true });
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  describe('EXCESS_SCOPE of a trade key: the fix is the slot scopes in the config', () => {
    /** verify, end to end, for one OKX slot declaring [read, spot:trade] and holding a `trade` key. */
    const verifyOne = async (withAdapter: ExchangeAdapter) => {
      const sub = await newSub();
      const key = await seed(sub);
      const yaml =
        `store: { provider: memory }\naccounts:\n  main: { exchange: okx, baseUrl: "${sandbox.url}/okx", custodians: [alice] }\n` +
        `bots:\n  alpha:\n    subaccounts:\n      arb1: { account: main, uid: "${sub}", scopes: [read, spot:trade], ips: [${CLIENT_IP}], ` +
        `custodians: [alice], rotate: { every: P30D, grace: PT15M }, verify: { every: PT1H } }\nstaff: [alice]\n`;
      const inventory = parseConfig(yaml, '/nonexistent/keyctl.yaml').config;
      const store = new MemoryStore();
      for (const [path, k] of [
        ['accounts/main', master],
        ['bots/alpha/arb1', key],
      ] as const) {
        await store.write(path, {
          secret: toSecretFields(k),
          meta: { fingerprint: fingerprint(k.apiKey), source: 'import' },
          stage: 'CURRENT',
          expect: null,
        });
      }
      const deps: VerifyDeps = {
        inventory,
        store,
        adapter: async () => withAdapter,
        call: CALL,
        events: { emit: async () => undefined },
        now: Date.now,
      };
      try {
        const [result] = await verifyKeys(deps, { keys: [resolveKey(inventory, 'alpha/arb1')] });
        return result!;
      } finally {
        await store.close();
      }
    };

    it('verify names the slot scopes in keyctl.yaml, never a rotation or a narrower key at OKX', async () => {
      const result = await verifyOne(adapter);
      expect(result.violations.map((v) => [v.code, v.scopes])).toEqual([
        ['EXCESS_SCOPE', ['margin:trade', 'futures:trade', 'options:trade']],
      ]);
      expect(result.hint).toBe(
        'okx grants margin:trade, futures:trade, options:trade only together with what the slot declares, so a rotated key would hold them too: ' +
          'add margin:trade, futures:trade, options:trade to bots.alpha.subaccounts.arb1.scopes if the bot may hold them, or use an exchange that can narrow them.',
      );
      expect(result.hint).not.toContain('keyctl rotate');
    });

    it('is the descriptor that says so: without its bound trade scopes the hint would send the user to rotate', async () => {
      expect(adapter.capabilities.boundScopes).toEqual([[...TRADE_SCOPES]]);
      const unbound: ExchangeAdapter = { ...adapter, capabilities: { ...adapter.capabilities, boundScopes: [] } };
      expect((await verifyOne(unbound)).hint).toMatch(/^Run keyctl rotate alpha\/arb1/);
    });

    it('any one trade scope declared brings the other three (the slot needs all four); read-only needs none', async () => {
      const sub = await newSub();
      const inspection = await adapter.inspect({ ...CALL, account, key: await seed(sub), role: 'bot', subaccount: sub, master });
      const target = { ref: 'alpha/arb1', kind: 'slot' as const, exchange: 'okx', boundScopes: adapter.capabilities.boundScopes };
      for (const declared of TRADE_SCOPES) {
        const violations = evaluateKey(inspection, { kind: 'bot', scopes: ['read', declared], ips: [CLIENT_IP], subaccount: sub });
        expect(violations.map((v) => v.code)).toEqual(['EXCESS_SCOPE']);
        expect(remedy({ ...target, scopes: ['read', declared], scopesPath: 'bots.alpha.subaccounts.arb1.scopes' }, violations)).toContain(
          'to bots.alpha.subaccounts.arb1.scopes',
        );
      }
      expect(evaluateKey(inspection, { kind: 'bot', scopes: ['read', ...TRADE_SCOPES], ips: [CLIENT_IP], subaccount: sub })).toEqual([]);
    });
  });

  describe('signatures cover the query exactly as sent', () => {
    it('passes ccxt, which signs and sends the same encoded query (listing and the owner lookup)', async () => {
      const sub = await newSub(ODD_SUB);
      const key = await seed(sub);
      expect((await adapter.listKeys({ ...CALL, account, master, subaccount: sub })).map((k) => k.apiKey)).toEqual([key.apiKey]);
      const inspection = await adapter.inspect({ ...CALL, account, key, role: 'bot', subaccount: sub, master });
      expect(inspection.owner.subaccount).toBe(ODD_SUB);
    });

    it('refuses a client that signs the decoded query while sending the encoded one (50113, KEY_REJECTED)', async () => {
      await newSub(ODD_SUB);
      const proto = (ccxt as unknown as { okx: { prototype: { sign: (...a: unknown[]) => Record<string, unknown> } } }).okx.prototype;
      const sign = proto.sign;
      // The same request, re-signed over the decoded path and query: what a lenient emulator used to accept.
      const spy = vi.spyOn(proto, 'sign').mockImplementation(function (this: { secret: string }, ...args: unknown[]) {
        const out = sign.apply(this, args) as { url: string; headers: Record<string, string> };
        const url = new URL(out.url);
        const ts = out.headers['OK-ACCESS-TIMESTAMP']!;
        const prehash = `${ts}GET${url.pathname.replace(/^\/okx/, '')}${decodeURIComponent(url.search)}`;
        out.headers['OK-ACCESS-SIGN'] = createHmac('sha256', this.secret).update(prehash).digest('base64');
        return out;
      });
      // Clients are kept per account and key (ccxt.ts); a kept one would not see the patched prototype.
      forgetClients();
      try {
        const err = await failure(adapter.listKeys({ ...CALL, account, master, subaccount: ODD_SUB }));
        expect(err).toMatchObject({ code: 'KEY_REJECTED', details: { exchangeCode: '50113' } });
        // Control: with nothing to encode, the decoded and the sent forms are one string, and the call passes.
        await expect(adapter.listKeys({ ...CALL, account, master, subaccount: await newSub() })).resolves.toEqual([]);
      } finally {
        spy.mockRestore();
        forgetClients();
      }
    });
  });

  describe('error codes as OKX documents them', () => {
    it('a key OKX does not have (deleted, expired, never made) is 50119 and reads as rejected', async () => {
      const sub = await newSub();
      const created = await adapter.createKey({
        ...CALL,
        account,
        master,
        subaccount: sub,
        scopes: ['read', ...TRADE_SCOPES],
        ips: [CLIENT_IP],
        label: 'keyctl-docs-1',
      });
      await adapter.deleteKey({ ...CALL, account, master, subaccount: sub, apiKey: created.apiKey });
      const err = await failure(adapter.ping({ ...CALL, account, key: created }));
      expect(err).toMatchObject({ code: 'KEY_REJECTED', details: { exchangeCode: '50119', exchangeMessage: "API key doesn't exist" } });
      // Rotation counts this as "the key no longer authenticates" (isKeyRejected), and verify as a violation.
      expect(isKeyRejected(err)).toBe(true);
      const expired = await seed(sub);
      await sandbox.admin.tamper(expired.apiKey, { expiresAt: new Date(Date.now() - 1000).toISOString() });
      const checked = await inspectKey({
        adapter,
        account,
        credentials: expired,
        master,
        target: { kind: 'bot', scopes: ['read', ...TRADE_SCOPES], ips: [CLIENT_IP], subaccount: sub },
        options: CALL,
      });
      expect(checked.violations.map((v) => v.code)).toEqual(['KEY_REJECTED']);
      expect(checked.refusal).toMatchObject({ code: 'KEY_REJECTED', address: false });
    });

    it('an unknown sub-account is 59510: an error for the listing (never an empty list), WRONG_ACCOUNT for inspection', async () => {
      const err = await failure(adapter.listKeys({ ...CALL, account, master, subaccount: 'fakenobody1' }));
      expect(err).toMatchObject({
        code: 'EXCHANGE_REFUSED',
        details: { exchangeCode: '59510', exchangeMessage: 'Sub-account does not exist' },
      });
      const sub = await newSub();
      const key = await seed(sub);
      const inspection = await adapter.inspect({ ...CALL, account, key, role: 'bot', subaccount: 'fakenobody1', master });
      expect(
        evaluateKey(inspection, { kind: 'bot', scopes: ['read', ...TRADE_SCOPES], ips: [CLIENT_IP], subaccount: 'fakenobody1' }).map(
          (v) => v.code,
        ),
      ).toEqual(['WRONG_ACCOUNT']);
      const create = await failure(
        adapter.createKey({
          ...CALL,
          account,
          master,
          subaccount: 'fakenobody1',
          scopes: ['read'],
          ips: [CLIENT_IP],
          label: 'keyctl-docs-2',
        }),
      );
      expect(create).toMatchObject({ code: 'EXCHANGE_REFUSED', details: { exchangeCode: '59510' } });
    });

    it("deleting a key that is not the sub-account's is 59506, and the key survives", async () => {
      const [a, b] = [await newSub(), await newSub()];
      const key = await seed(a);
      const err = await failure(adapter.deleteKey({ ...CALL, account, master, subaccount: b, apiKey: key.apiKey }));
      expect(err).toMatchObject({ code: 'EXCHANGE_REFUSED', details: { exchangeCode: '59506' } });
      await expect(adapter.ping({ ...CALL, account, key })).resolves.toBeUndefined();
    });

    it('create and delete need an IP-bound master key (50035) with Trade (50120): PERMISSION_DENIED, nothing changes', async () => {
      const sub = await newSub();
      const key = await seed(sub);
      for (const [who, code] of [
        [await seed(mainUid, 'read_only,trade', { master: true, ips: [] }), '50035'],
        [await seed(mainUid, 'read_only', { master: true }), '50120'],
      ] as const) {
        const base = { ...CALL, account, master: who, subaccount: sub };
        expect(
          await failure(adapter.createKey({ ...base, scopes: ['read'], ips: [CLIENT_IP], label: `keyctl-docs-${code}` })),
        ).toMatchObject({
          code: 'PERMISSION_DENIED',
          details: { exchangeCode: code },
        });
        expect(await failure(adapter.deleteKey({ ...base, apiKey: key.apiKey }))).toMatchObject({
          code: 'PERMISSION_DENIED',
          details: { exchangeCode: code },
        });
        // Listing needs only Read ("Query the API Key of a sub-account", Permission: Read).
        expect((await adapter.listKeys(base)).map((k) => k.apiKey)).toEqual([key.apiKey]);
      }
      await expect(adapter.ping({ ...CALL, account, key })).resolves.toBeUndefined();
    });
  });
});
