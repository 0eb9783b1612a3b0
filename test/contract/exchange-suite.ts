/**
 * The exchange adapter contract, written once and run against every adapter through real ccxt and the exchange
 * sandbox (src/sandbox). An adapter supplies only how its exchange expresses a few states in native permissions;
 * states an exchange cannot express are listed with the reason, so the gap is visible in review.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipCcxtThrottle } from '../helpers/ccxt-throttle.js';
import { evaluateKey, type AcceptedGap, type ViolationCode } from '../../src/domain/policy.js';
import type { DeclarableScope } from '../../src/domain/scopes.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { CallOptions, Credentials, ExchangeAccount, ExchangeAdapter } from '../../src/exchanges/types.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { NativePermissions, SandboxExchange } from '../../src/sandbox/state.js';

export interface ExchangeSuiteSpec {
  exchange: SandboxExchange;
  /** Native permissions of a clean master key (what the exchange needs to manage sub-account keys, nothing more). */
  masterPermissions: NativePermissions;
  /** What the clean bot slot declares, and the native permissions of a key that matches it exactly. */
  botScopes: DeclarableScope[];
  botPermissions: NativePermissions;
  /** A key holding a scope its slot does not declare. */
  excess: { declared: DeclarableScope[]; permissions: NativePermissions };
  /** Native permissions with one the adapter cannot know. */
  unknownPermissions: NativePermissions;
  /** States the exchange cannot express, with the reason. */
  cannotExpress?: Partial<Record<'expiry' | 'createdAt', string>>;
  /** The exchange's code for "this address is not in the key's IP allowlist"; undefined when it has none (binance -2015). */
  ipRefusalCode?: string;
  /** The adapter asks the master key about a bot key during inspection (okx ownership, binance IP list). */
  inspectUsesMaster: boolean;
  /** What the exchange cannot report about a master key (MEXC: its IP whitelist), which the account must accept. */
  masterGaps?: AcceptedGap[];
}

/** The address the sandbox treats every request as coming from, and the one slots declare. */
const CLIENT_IP = '203.0.113.10';
const FOREIGN_IP = '198.51.100.7';
const CALL: CallOptions = { timeoutMs: 5_000, attempts: 3, backoffMs: 10 };

export function exchangeAdapterSuite(spec: ExchangeSuiteSpec): void {
  describe(`exchange adapter contract: ${spec.exchange}`, () => {
    skipCcxtThrottle();
    let sandbox: RunningSandbox;
    let adapter: ExchangeAdapter;
    let account: ExchangeAccount;
    let mainUid: string;
    let master: Credentials;

    const newSub = async () => (await sandbox.admin.createSubaccount(spec.exchange, mainUid)).id;
    const seedBot = async (input: { sub?: string; permissions?: NativePermissions; ips?: string[]; expiresAt?: string } = {}) => {
      const sub = input.sub ?? (await newSub());
      const key = await sandbox.admin.createKey({
        exchange: spec.exchange,
        owner: sub,
        permissions: input.permissions ?? spec.botPermissions,
        ips: input.ips ?? [CLIENT_IP],
        label: 'contract',
        ...(input.expiresAt ? { expiresAt: input.expiresAt } : {}),
      });
      return { sub, key: key as Credentials };
    };
    const inspectBot = (sub: string, key: Credentials) => adapter.inspect({ ...CALL, account, key, role: 'bot', subaccount: sub, master });
    const botCodes = async (sub: string, key: Credentials, declared: DeclarableScope[] = spec.botScopes): Promise<ViolationCode[]> =>
      evaluateKey(await inspectBot(sub, key), { kind: 'bot', scopes: declared, ips: [CLIENT_IP], subaccount: sub }).map((v) => v.code);

    beforeAll(async () => {
      sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
      adapter = await getAdapter(spec.exchange);
      account = { name: `${spec.exchange}-main`, exchange: spec.exchange, baseUrl: `${sandbox.url}/${spec.exchange}` };
      mainUid = (await sandbox.admin.createAccount(spec.exchange)).uid;
      master = (await sandbox.admin.createKey({
        exchange: spec.exchange,
        owner: mainUid,
        master: true,
        permissions: spec.masterPermissions,
        ips: [CLIENT_IP],
        label: 'keyctl master',
      })) as Credentials;
    });
    afterAll(async () => {
      await sandbox?.close();
    });

    it('declares coherent capabilities', () => {
      const c = adapter.capabilities;
      expect(c.inspect).toBe(true);
      expect(c.rotation).toBe(c.create && c.delete ? 'automatic' : 'assisted');
      expect(c.passphrase).toBe(spec.exchange === 'okx' || spec.exchange === 'kucoin' || spec.exchange === 'bitget');
      expect(c.masterScopes).toContain('keys:manage');
    });

    it('inspects a clean master key as passing the master rules (once the gaps the exchange leaves are accepted)', async () => {
      const inspection = await adapter.inspect({ ...CALL, account, key: master, role: 'master' });
      expect(inspection.owner.isMaster).toBe(true);
      expect(inspection.scopes).not.toContain('withdraw');
      const target = { kind: 'master', exchange: spec.exchange, masterScopes: adapter.capabilities.masterScopes } as const;
      expect(evaluateKey(inspection, target, { accept: spec.masterGaps ?? [] })).toEqual([]);
      // Never a silent pass: unaccepted, each gap is UNVERIFIABLE.
      if (spec.masterGaps?.length)
        expect(evaluateKey(inspection, target).map((v) => v.code)).toEqual(spec.masterGaps.map(() => 'UNVERIFIABLE'));
    });

    it('inspects a seeded clean bot key: declared scopes, its allowlist, its sub-account, no violations', async () => {
      const { sub, key } = await seedBot();
      const inspection = await inspectBot(sub, key);
      expect(inspection.ips).toEqual([CLIENT_IP]);
      expect(inspection.readOnly).toBe(false);
      expect(inspection.owner.isMaster).toBe(false);
      for (const s of spec.botScopes) expect(inspection.scopes).toContain(s);
      if (spec.cannotExpress?.createdAt === undefined) expect(inspection.createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      else expect(inspection.createdAt).toBeUndefined();
      expect(await botCodes(sub, key)).toEqual([]);
    });

    it('shows withdraw turned on (WITHDRAW_ENABLED)', async () => {
      const { sub, key } = await seedBot();
      await sandbox.admin.tamper(key.apiKey, { withdraw: true });
      expect(await botCodes(sub, key)).toEqual(['WITHDRAW_ENABLED']);
    });

    it('shows a dropped IP allowlist (NOT_IP_LOCKED)', async () => {
      const { sub, key } = await seedBot();
      await sandbox.admin.tamper(key.apiKey, { ips: null });
      expect(await botCodes(sub, key)).toContain('NOT_IP_LOCKED');
    });

    it('shows an allowlist wider than declared (IP_MISMATCH)', async () => {
      const { sub, key } = await seedBot({ ips: [CLIENT_IP, FOREIGN_IP] });
      const inspection = await inspectBot(sub, key);
      expect(inspection.ips).toEqual([FOREIGN_IP, CLIENT_IP].sort());
      expect(await botCodes(sub, key)).toEqual(['IP_MISMATCH']);
    });

    it('shows a scope the slot did not declare (EXCESS_SCOPE)', async () => {
      const { sub, key } = await seedBot({ permissions: spec.excess.permissions });
      expect(await botCodes(sub, key, spec.excess.declared)).toEqual(['EXCESS_SCOPE']);
    });

    it('shows a permission it does not know (UNKNOWN_PERMISSION)', async () => {
      const { sub, key } = await seedBot({ permissions: spec.unknownPermissions });
      expect(await botCodes(sub, key)).toEqual(['UNKNOWN_PERMISSION']);
    });

    it('shows a key from another sub-account (WRONG_ACCOUNT)', async () => {
      const { key } = await seedBot();
      const other = await newSub();
      expect(await botCodes(other, key)).toEqual(['WRONG_ACCOUNT']);
    });

    it.skipIf(spec.cannotExpress?.expiry !== undefined)(
      `shows a key about to expire (EXPIRING)${spec.cannotExpress?.expiry ? ` - skipped: ${spec.cannotExpress.expiry}` : ''}`,
      async () => {
        const { sub, key } = await seedBot({ expiresAt: new Date(Date.now() + 3 * 86_400_000).toISOString() });
        expect(await botCodes(sub, key)).toEqual(['EXPIRING']);
      },
    );

    it('creates a key, which inspects clean with its own credentials, is listed, and stops working once deleted', async () => {
      const sub = await newSub();
      const label = `keyctl-rot-${Date.now() % 100000}`;
      const created = await adapter.createKey({
        ...CALL,
        account,
        master,
        subaccount: sub,
        scopes: spec.botScopes,
        ips: [CLIENT_IP],
        label,
      });
      expect(created.apiKey).toBeTruthy();
      expect(created.secret).toBeTruthy();
      expect(Boolean(created.passphrase)).toBe(adapter.capabilities.passphrase);

      const inspection = await inspectBot(sub, created);
      expect(evaluateKey(inspection, { kind: 'bot', scopes: spec.botScopes, ips: [CLIENT_IP], subaccount: sub })).toEqual([]);
      await adapter.ping({ ...CALL, account, key: created });

      if (adapter.capabilities.list) {
        const listed = await adapter.listKeys({ ...CALL, account, master, subaccount: sub });
        const mine = listed.find((k) => k.apiKey === created.apiKey);
        expect(mine).toMatchObject({ label, ips: [CLIENT_IP] });
        expect(mine?.scopes).toEqual(expect.arrayContaining(spec.botScopes.filter((s) => s !== 'read')));
      } else {
        await expect(adapter.listKeys({ ...CALL, account, master, subaccount: sub })).rejects.toMatchObject({ code: 'CAPABILITY_GAP' });
      }

      await adapter.deleteKey({
        ...CALL,
        account,
        master,
        subaccount: sub,
        apiKey: created.apiKey,
        ...(created.passphrase ? { passphrase: created.passphrase } : {}),
      });
      await expect(adapter.ping({ ...CALL, account, key: created })).rejects.toMatchObject({ code: 'KEY_REJECTED' });
      if (adapter.capabilities.list) {
        expect((await adapter.listKeys({ ...CALL, account, master, subaccount: sub })).map((k) => k.apiKey)).not.toContain(created.apiKey);
      }
    });

    it('never creates a key that could withdraw or work from anywhere', async () => {
      const sub = await newSub();
      const base = { ...CALL, account, master, subaccount: sub, label: 'bad' };
      await expect(adapter.createKey({ ...base, scopes: ['withdraw' as DeclarableScope], ips: [CLIENT_IP] })).rejects.toMatchObject({
        code: 'FORBIDDEN_SCOPE',
      });
      await expect(adapter.createKey({ ...base, scopes: spec.botScopes, ips: [] })).rejects.toMatchObject({ code: 'IPS_REQUIRED' });
      expect(await sandbox.admin.listKeys({ exchange: spec.exchange, owner: sub })).toEqual([]);
    });

    it('rejects a request signed with another secret (KEY_REJECTED)', async () => {
      const { sub, key } = await seedBot();
      const forged = { ...key, secret: `${key.secret.slice(0, -4)}FAKE` };
      await expect(inspectBot(sub, forged)).rejects.toMatchObject({ code: 'KEY_REJECTED', exitCode: 5 });
      await expect(adapter.ping({ ...CALL, account, key: forged })).rejects.toMatchObject({ code: 'KEY_REJECTED' });
    });

    it('pings with the harmless signed call', async () => {
      const { key } = await seedBot();
      await expect(adapter.ping({ ...CALL, account, key })).resolves.toBeUndefined();
    });

    it("is refused from an address outside the key's allowlist, and says so (IP_NOT_ALLOWED; binance: KEY_REJECTED naming the allowlist)", async () => {
      const { sub, key } = await seedBot();
      await sandbox.admin.setClientIp(FOREIGN_IP);
      try {
        for (const call of [() => adapter.ping({ ...CALL, account, key }), () => inspectBot(sub, key)]) {
          const err = (await call().catch((e: unknown) => e)) as {
            code?: string;
            message?: string;
            hint?: string;
            retryable?: boolean;
            exitCode?: number;
            details?: Record<string, unknown>;
          };
          if (spec.exchange === 'binance') {
            // Binance answers -2015 "Invalid API-key, IP, or permissions for action" and cannot tell the causes apart.
            expect(err).toMatchObject({
              code: 'KEY_REJECTED',
              retryable: false,
              exitCode: 5,
              details: { exchangeCode: '-2015', possibleCauses: ['key', 'ip-allowlist', 'permission'] },
            });
            expect(err.message).toContain("an address outside the key's IP allowlist");
            expect(err.hint).toContain("this host's public address is in the key's IP allowlist");
          } else {
            expect(err).toMatchObject({
              code: 'IP_NOT_ALLOWED',
              retryable: false,
              exitCode: 5,
              details: { exchangeCode: spec.ipRefusalCode },
            });
            expect(err.message).toMatch(
              new RegExp(
                `^${spec.exchange} refused the key from this address while .+: the key's IP allowlist does not include the address keyctl runs from \\(${spec.ipRefusalCode} `,
              ),
            );
            expect(err.hint).toContain(
              "Run keyctl from an address in the key's IP allowlist (for a bot key, the slot's ips in keyctl.yaml)",
            );
            expect(err.hint).toContain("add this host's public address");
          }
          // The sandbox listens on 127.0.0.1: the hint says which setting plays "this host's address" there.
          expect(err.hint).toContain('--client-ip');
        }
      } finally {
        await sandbox.admin.setClientIp(CLIENT_IP);
      }
      // The same key works again from an allowed address: the refusal was about the address, not the key.
      await expect(adapter.ping({ ...CALL, account, key })).resolves.toBeUndefined();
    });

    it.runIf(spec.inspectUsesMaster)(
      "reports a master key refused from this address as the master key's problem (MASTER_KEY_REJECTED), keeping the IP wording",
      async () => {
        const { sub, key } = await seedBot({ ips: [CLIENT_IP] });
        const foreignMaster = (await sandbox.admin.createKey({
          exchange: spec.exchange,
          owner: mainUid,
          master: true,
          permissions: spec.masterPermissions,
          ips: [FOREIGN_IP],
          label: 'keyctl master elsewhere',
        })) as Credentials;
        const err = (await adapter
          .inspect({ ...CALL, account, key, role: 'bot', subaccount: sub, master: foreignMaster })
          .catch((e: unknown) => e)) as {
          code?: string;
          message?: string;
          hint?: string;
          details?: Record<string, unknown>;
        };
        expect(err).toMatchObject({ code: 'MASTER_KEY_REJECTED', exitCode: 5, retryable: false });
        expect(err.message).toMatch(new RegExp(`^The master key of @${spec.exchange}-main was refused: `));
        if (spec.exchange === 'binance') {
          expect(err.details).toMatchObject({ refusal: 'KEY_REJECTED', exchangeCode: '-2015' });
          expect(err.message).toContain("an address outside the key's IP allowlist");
          expect(err.hint).toContain(
            "The bot key is not at fault. Check that this host's public address is in the master key's IP allowlist",
          );
        } else {
          expect(err.details).toMatchObject({ refusal: 'IP_NOT_ALLOWED', exchangeCode: spec.ipRefusalCode });
          expect(err.message).toContain("the key's IP allowlist does not include the address keyctl runs from");
          expect(err.hint).toContain(
            "The bot key is not at fault: the master key's IP allowlist does not include the address keyctl runs from.",
          );
          expect(err.hint).toContain(`keyctl verify @${spec.exchange}-main`);
        }
      },
    );

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
