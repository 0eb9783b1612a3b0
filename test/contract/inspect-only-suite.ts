/**
 * The contract of an inspect-only exchange (an assisted descriptor with an adapter and a sandbox: Coinbase, Kraken,
 * Bitfinex), run through real ccxt against the sandbox: `inspect` and `ping` work by API and are judged by the key
 * policy, what the exchange cannot report is UNVERIFIABLE until the account accepts it, and every key-management call
 * is a capability gap naming why rotation is assisted. The shared cases of exchange-suite.ts that need key creation do
 * not apply; the ones that do (clean key, withdraw, excess scope, unknown permission, wrong account, forged signature,
 * IP refusal, ping, retries) are repeated here in the inspect-only form.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipCcxtThrottle } from '../helpers/ccxt-throttle.js';
import { evaluateKey, type AcceptedGap, type ViolationCode } from '../../src/domain/policy.js';
import type { DeclarableScope } from '../../src/domain/scopes.js';
import { exchangeDescriptor, getAdapter } from '../../src/exchanges/registry.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import type { CallOptions, Credentials, ExchangeAccount, ExchangeAdapter } from '../../src/exchanges/types.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { NativePermissions, SandboxExchange } from '../../src/sandbox/state.js';

export interface InspectOnlySuiteSpec {
  exchange: SandboxExchange;
  /** What the clean bot slot declares, and the native permissions of a key that matches it exactly. */
  botScopes: DeclarableScope[];
  botPermissions: NativePermissions;
  /** A key holding a scope its slot does not declare. */
  excess: { declared: DeclarableScope[]; permissions: NativePermissions };
  /** Native permissions with one the adapter cannot know. */
  unknownPermissions: NativePermissions;
  /** The gaps the exchange leaves for every key (Coinbase: ip-lock), which the account must accept to pass. */
  gaps: AcceptedGap[];
  /** The exchange reports which sub-account (portfolio) a key belongs to: a key elsewhere is WRONG_ACCOUNT. */
  reportsOwner: boolean;
  /** The exchange's code for "outside the key's IP allowlist"; undefined when it answers like any bad key (Coinbase 401). */
  ipRefusalCode?: string;
}

const CLIENT_IP = '203.0.113.10';
const FOREIGN_IP = '198.51.100.7';
const CALL: CallOptions = { timeoutMs: 5_000, attempts: 3, backoffMs: 10 };

export function inspectOnlySuite(spec: InspectOnlySuiteSpec): void {
  describe(`inspect-only exchange contract: ${spec.exchange}`, () => {
    skipCcxtThrottle();
    let sandbox: RunningSandbox;
    let adapter: ExchangeAdapter;
    let account: ExchangeAccount;
    let mainUid: string;

    const newSub = async () => (await sandbox.admin.createSubaccount(spec.exchange, mainUid)).id;
    const seedBot = async (input: { sub?: string; permissions?: NativePermissions; ips?: string[] } = {}) => {
      const sub = input.sub ?? (await newSub());
      const key = await sandbox.admin.createKey({
        exchange: spec.exchange,
        owner: sub,
        permissions: input.permissions ?? spec.botPermissions,
        ips: input.ips ?? [CLIENT_IP],
        label: 'contract',
      });
      return { sub, key: key as Credentials };
    };
    const inspectBot = (sub: string, key: Credentials) => adapter.inspect({ ...CALL, account, key, role: 'bot', subaccount: sub });
    const botCodes = async (sub: string, key: Credentials, declared = spec.botScopes, accept = spec.gaps): Promise<ViolationCode[]> =>
      evaluateKey(await inspectBot(sub, key), { kind: 'bot', scopes: declared, ips: [CLIENT_IP], subaccount: sub }, { accept }).map(
        (v) => v.code,
      );

    beforeAll(async () => {
      sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
      adapter = await getAdapter(spec.exchange);
      account = { name: `${spec.exchange}-main`, exchange: spec.exchange, baseUrl: `${sandbox.url}/${spec.exchange}` };
      mainUid = (await sandbox.admin.createAccount(spec.exchange)).uid;
    });
    afterAll(async () => {
      await sandbox?.close();
    });

    it('declares inspect-only capabilities: inspect by API, rotation assisted', () => {
      expect(adapter.capabilities).toMatchObject({ inspect: true, create: false, delete: false, list: false, rotation: 'assisted' });
      expect(adapter.trading).toBeUndefined();
    });

    it('assisted: create, delete and list are capability gaps that say why', async () => {
      const why = (exchangeDescriptor(spec.exchange) as { why: string }).why;
      const master = { apiKey: 'FAKE-master', secret: 'FAKE-secret' };
      for (const attempt of [
        () => adapter.createKey({ ...CALL, account, master, subaccount: 's', scopes: spec.botScopes, ips: [CLIENT_IP], label: 'x' }),
        () => adapter.deleteKey({ ...CALL, account, master, subaccount: 's', apiKey: 'FAKE-key' }),
        () => adapter.listKeys({ ...CALL, account, master, subaccount: 's' }),
      ]) {
        await expect(attempt()).rejects.toMatchObject({ code: 'CAPABILITY_GAP', message: expect.stringContaining(why) as unknown });
      }
    });

    it('inspects a seeded clean bot key: declared scopes, its sub-account, no violation once the gaps are accepted', async () => {
      const { sub, key } = await seedBot();
      const inspection = await inspectBot(sub, key);
      for (const s of spec.botScopes) expect(inspection.scopes).toContain(s);
      expect(inspection.readOnly).toBe(false);
      if (spec.reportsOwner) expect(inspection.owner.subaccount).toBe(sub);
      expect(await botCodes(sub, key)).toEqual([]);
    });

    it.runIf(spec.gaps.length > 0)('reports each gap as UNVERIFIABLE when the account does not accept it (never a pass)', async () => {
      const { sub, key } = await seedBot();
      const codes = await botCodes(sub, key, spec.botScopes, []);
      expect(codes).toEqual(spec.gaps.map(() => 'UNVERIFIABLE'));
    });

    it.runIf(spec.gaps.length === 0)('reports the IP allowlist: a dropped one is NOT_IP_LOCKED, a wider one IP_MISMATCH', async () => {
      const { sub, key } = await seedBot();
      await sandbox.admin.tamper(key.apiKey, { ips: null });
      expect(await botCodes(sub, key)).toContain('NOT_IP_LOCKED');
      await sandbox.admin.tamper(key.apiKey, { ips: [CLIENT_IP, '203.0.113.99'] });
      expect(await botCodes(sub, key)).toContain('IP_MISMATCH');
    });

    it('shows withdraw turned on (WITHDRAW_ENABLED)', async () => {
      const { sub, key } = await seedBot();
      await sandbox.admin.tamper(key.apiKey, { withdraw: true });
      expect(await botCodes(sub, key)).toContain('WITHDRAW_ENABLED');
    });

    it('shows a scope the slot did not declare (EXCESS_SCOPE)', async () => {
      const { sub, key } = await seedBot({ permissions: spec.excess.permissions });
      expect(await botCodes(sub, key, spec.excess.declared)).toEqual(['EXCESS_SCOPE']);
    });

    it('shows a permission it does not know (UNKNOWN_PERMISSION)', async () => {
      const { sub, key } = await seedBot({ permissions: spec.unknownPermissions });
      expect(await botCodes(sub, key)).toEqual(['UNKNOWN_PERMISSION']);
    });

    it.runIf(spec.reportsOwner)('shows a key from another sub-account (WRONG_ACCOUNT)', async () => {
      const { key } = await seedBot();
      expect(await botCodes(await newSub(), key)).toEqual(['WRONG_ACCOUNT']);
    });

    it('rejects a request signed with another secret (KEY_REJECTED), and inspectKey makes it a violation', async () => {
      const { sub, key } = await seedBot();
      const other = (await seedBot({ sub })).key;
      const forged = { ...key, secret: other.secret };
      await expect(inspectBot(sub, forged)).rejects.toMatchObject({ code: 'KEY_REJECTED', exitCode: 5 });
      await expect(adapter.ping({ ...CALL, account, key: forged })).rejects.toMatchObject({ code: 'KEY_REJECTED' });
      const check = await inspectKey({
        adapter,
        account,
        credentials: forged,
        target: { kind: 'bot', scopes: spec.botScopes, ips: [CLIENT_IP], subaccount: sub },
        options: { ...CALL, accept: spec.gaps },
      });
      expect(check.violations.map((v) => v.code)).toEqual(['KEY_REJECTED']);
    });

    it('pings with the harmless signed call', async () => {
      const { key } = await seedBot();
      await expect(adapter.ping({ ...CALL, account, key })).resolves.toBeUndefined();
    });

    it("is refused from an address outside the key's allowlist (never a pass)", async () => {
      const { sub, key } = await seedBot();
      await sandbox.admin.setClientIp(FOREIGN_IP);
      try {
        for (const call of [() => adapter.ping({ ...CALL, account, key }), () => inspectBot(sub, key)]) {
          const err = await call().catch((e: unknown) => e);
          if (spec.ipRefusalCode) expect(err).toMatchObject({ code: 'IP_NOT_ALLOWED', details: { exchangeCode: spec.ipRefusalCode } });
          else expect(err).toMatchObject({ code: 'KEY_REJECTED', exitCode: 5 });
        }
      } finally {
        await sandbox.admin.setClientIp(CLIENT_IP);
      }
      await expect(adapter.ping({ ...CALL, account, key })).resolves.toBeUndefined();
    });

    it('retries through a rate limit and a 5xx, and reports an exchange that stays down as retryable', async () => {
      const { key } = await seedBot();
      await sandbox.admin.addFault({ exchange: spec.exchange, path: '*', kind: 'ratelimit', times: 1 });
      await sandbox.admin.addFault({ exchange: spec.exchange, path: '*', kind: '5xx', times: 1 });
      await expect(adapter.ping({ ...CALL, account, key })).resolves.toBeUndefined();
      await sandbox.admin.addFault({ exchange: spec.exchange, path: '*', kind: '5xx', times: 3 });
      const err = await adapter.ping({ ...CALL, account, key }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'EXCHANGE_UNAVAILABLE', retryable: true, exitCode: 5 });
      await sandbox.admin.clearFaults();
    });
  });
}
