/**
 * `keyctl verify` end to end, in process: main() against a local store and the exchange sandbox speaking bybit, okx,
 * binance and kucoin. Each exchange gets a clean bot key and one key in each unsafe state the done-when names
 * (withdraw on, no IP allowlist, an allowlist wider than the config, a scope the bot did not declare); verify must flag
 * each with its code and pass the clean ones.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureIo } from '../helpers/io.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { openStore } from '../../providers/registry.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { NativePermissions } from '../../src/sandbox/state.js';
// The automatic exchanges; inspect-only ones (coinbase, ...) have their own end-to-end cases.
import type { AutomaticSandboxExchange as SandboxExchange } from '../../src/exchanges/registry.js';
import type { VerifyResult } from '../../src/cli/commands/verify.js';

// The command table gets `verify` from src/cli/specs/exchange.ts; until the lead lists it in specs/index.ts, add it here
// (deduplicated by name, so this keeps working once it is listed).
vi.mock('../../src/cli/specs/index.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/cli/specs/index.js')>();
  const { specs: exchange } = await import('../../src/cli/specs/exchange.js');
  const names = new Set(original.specs.map((s) => s.name));
  return { specs: [...original.specs, ...exchange.filter((s) => !names.has(s.name))] };
});

const CLIENT_IP = '203.0.113.7';
const FOREIGN_IP = '198.51.100.9';

interface Profile {
  master: NativePermissions;
  scopes: string[];
  clean: NativePermissions;
  /** A slot declaration and a key that holds more than it. */
  excess: { scopes: string[]; permissions: NativePermissions };
  /** The account's `accept:` list: what the exchange cannot report and the account takes as a known gap. */
  accept?: string[];
}

const PROFILES: Record<SandboxExchange, Profile> = {
  bybit: {
    master: { Wallet: ['AccountTransfer', 'SubMemberTransfer'] },
    scopes: ['spot:trade', 'futures:trade'],
    clean: { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'] },
    excess: {
      scopes: ['spot:trade', 'futures:trade'],
      permissions: { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'], Options: ['OptionsTrade'] },
    },
  },
  okx: {
    master: 'read_only,trade',
    scopes: ['spot:trade', 'margin:trade', 'futures:trade', 'options:trade'],
    clean: 'read_only,trade',
    // OKX's `trade` cannot be narrowed, so the undeclared scope is trading on a read-only slot.
    excess: { scopes: ['read'], permissions: 'read_only,trade' },
  },
  binance: {
    master: { enableReading: true, enableSpotAndMarginTrading: true },
    scopes: ['spot:trade', 'margin:trade', 'futures:trade'],
    clean: { enableReading: true, enableSpotAndMarginTrading: true, enableFutures: true },
    excess: {
      scopes: ['spot:trade', 'margin:trade', 'futures:trade'],
      permissions: { enableReading: true, enableSpotAndMarginTrading: true, enableFutures: true, enableVanillaOptions: true },
    },
  },
  kucoin: {
    master: 'General',
    scopes: ['spot:trade', 'futures:trade'],
    clean: 'General,Spot,Futures',
    excess: { scopes: ['spot:trade', 'futures:trade'], permissions: 'General,Spot,Futures,Margin' },
  },
  mexc: {
    master: 'SPOT_ACCOUNT_READ',
    // MEXC reports no IP whitelist of the master key (docs/exchanges.md, MEXC).
    accept: ['ip-lock-unverifiable'],
    scopes: ['spot:trade', 'futures:trade'],
    clean: 'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE,CONTRACT_ACCOUNT_READ,CONTRACT_DEAL_READ,CONTRACT_DEAL_WRITE',
    excess: {
      scopes: ['spot:trade'],
      permissions: 'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE,CONTRACT_ACCOUNT_READ,CONTRACT_DEAL_READ,CONTRACT_DEAL_WRITE',
    },
  },
  bitget: {
    master: 'stor,chor,chow',
    scopes: ['spot:trade', 'futures:trade'],
    clean: 'stor,stow,coor,cpor,coow,cpow',
    excess: { scopes: ['spot:trade', 'futures:trade'], permissions: 'stor,stow,coor,cpor,coow,cpow,smor,smow' },
  },
  gate: {
    // Gate permissions: name -> read_only. `spot` is spot and margin in one permission.
    master: { account: false },
    scopes: ['spot:trade', 'margin:trade', 'futures:trade'],
    clean: { spot: false, futures: false },
    excess: { scopes: ['spot:trade', 'margin:trade'], permissions: { spot: false, futures: false } },
  },
};
const EXCHANGES = Object.keys(PROFILES) as SandboxExchange[];

/** Slot name -> what it holds and the codes verify must report. */
const SLOTS = {
  clean: [] as string[],
  withdraw: ['WITHDRAW_ENABLED'],
  noip: ['NOT_IP_LOCKED'],
  wideip: ['IP_MISMATCH'],
  excess: ['EXCESS_SCOPE'],
} as const;
type SlotName = keyof typeof SLOTS;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('keyctl verify against the exchange sandbox', () => {
  let dir: string;
  let sandbox: RunningSandbox;
  let env: NodeJS.ProcessEnv;
  const secrets: string[] = [];
  const outputs: Run[] = [];

  const cli = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> => {
    const t = captureIo({ cwd: dir, env: { ...env, ...extraEnv } });
    const code = await main(['--config', join(dir, 'keyctl.yaml'), ...args], t.io);
    const run = { code, stdout: t.stdout(), stderr: t.stderr() };
    outputs.push(run);
    return run;
  };
  const results = (run: Run) => (JSON.parse(run.stdout) as { results: VerifyResult[] }).results;
  const codesOf = (run: Run) => Object.fromEntries(results(run).map((r) => [r.ref, r.violations.map((v) => v.code).sort()]));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyctl-verify-'));
    sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
    env = {
      KEYCTL_ACTOR: 'verify-test',
      KEYCTL_EXCHANGE_TIMEOUT_MS: '3000',
      KEYCTL_EXCHANGE_ATTEMPTS: '2',
      KEYCTL_EXCHANGE_BACKOFF_MS: '10',
    };

    let accounts = '';
    let bots = '';
    const keys: Array<{ path: string; key: { apiKey: string; secret: string; passphrase?: string } }> = [];
    for (const exchange of EXCHANGES) {
      const p = PROFILES[exchange];
      const { uid } = await sandbox.admin.createAccount(exchange);
      const master = await sandbox.admin.createKey({ exchange, owner: uid, master: true, permissions: p.master, ips: [CLIENT_IP] });
      keys.push({ path: `accounts/${exchange}-main`, key: master });
      const accept = p.accept ? `, accept: [${p.accept.join(', ')}]` : '';
      accounts += `  ${exchange}-main: { exchange: ${exchange}, baseUrl: "${sandbox.url}/${exchange}"${accept} }\n`;
      bots += `  ${exchange}-bot:\n    subaccounts:\n`;
      for (const slot of [...(Object.keys(SLOTS) as SlotName[]), 'nokey' as const]) {
        const sub = (await sandbox.admin.createSubaccount(exchange, uid)).id;
        const scopes = slot === 'excess' ? p.excess.scopes : p.scopes;
        bots += `      ${slot}: { account: ${exchange}-main, uid: "${sub}", scopes: [${scopes.join(', ')}], ips: [${CLIENT_IP}] }\n`;
        if (slot === 'nokey') continue;
        const key = await sandbox.admin.createKey({
          exchange,
          owner: sub,
          permissions: slot === 'excess' ? p.excess.permissions : p.clean,
          ips: slot === 'wideip' ? [CLIENT_IP, FOREIGN_IP] : [CLIENT_IP],
          label: `verify-${slot}`,
        });
        if (slot === 'withdraw') await sandbox.admin.tamper(key.apiKey, { withdraw: true });
        if (slot === 'noip') await sandbox.admin.tamper(key.apiKey, { ips: null });
        keys.push({ path: `bots/${exchange}-bot/${slot}`, key });
      }
    }
    writeFileSync(join(dir, 'keyctl.yaml'), `store: { provider: local, path: ./store }\naccounts:\n${accounts}bots:\n${bots}`);

    const init = await cli(['init', '--json']);
    expect(init.code, init.stderr).toBe(0);
    env.KEYCTL_MASTER_KEY = (JSON.parse(init.stdout) as { masterKey: string }).masterKey;
    // Keys go straight into the store (as an import would leave them), so this test depends on verify alone.
    const store = await openStore({ provider: 'local', path: join(dir, 'store') }, { env });
    for (const { path, key } of keys) {
      secrets.push(key.secret, ...(key.passphrase ? [key.passphrase] : []));
      await store.write(path, {
        secret: { apiKey: key.apiKey, secret: key.secret, ...(key.passphrase ? { passphrase: key.passphrase } : {}) },
        meta: { fingerprint: fingerprint(key.apiKey), source: 'test' },
        stage: 'CURRENT',
        expect: null,
      });
    }
    await store.close();
  });

  afterAll(async () => {
    await sandbox?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('flags withdraw, no allowlist, a wider allowlist and an undeclared scope on every exchange, and passes clean keys', async () => {
    const run = await cli(['verify', '--json']);
    expect(run.code, run.stderr).toBe(3);
    const codes = codesOf(run);
    for (const exchange of EXCHANGES) {
      expect(codes[`@${exchange}-main`], `${exchange} master`).toEqual([]);
      for (const [slot, expected] of Object.entries(SLOTS)) {
        expect(codes[`${exchange}-bot/${slot}`], `${exchange} ${slot}`).toEqual(expected);
      }
      // A slot with no stored key is not an error when nothing was named.
      expect(codes[`${exchange}-bot/nokey`]).toBeUndefined();
    }
    const clean = results(run).find((r) => r.ref === 'bybit-bot/clean');
    expect(clean).toMatchObject({ ok: true, violations: [], fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/) });
    const bad = results(run).find((r) => r.ref === 'kucoin-bot/withdraw');
    expect(bad?.ok).toBe(false);
    expect(bad?.violations[0]?.detail).toMatch(/withdraw/);
  });

  it('exits 0 for clean keys and prints a table', async () => {
    const run = await cli(['verify', 'bybit-bot/clean', '@okx-main', 'binance-bot/clean', 'kucoin-bot/clean']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('bybit-bot/clean');
    expect(run.stdout).toMatch(/4 keys checked: 4 ok/);
  });

  it('names the violation in the human table and exits 3', async () => {
    const run = await cli(['verify', 'okx-bot/wideip']);
    expect(run.code).toBe(3);
    expect(run.stdout).toContain('VIOLATION');
    expect(run.stdout).toContain('IP_MISMATCH');
    expect(run.stdout).toContain(FOREIGN_IP);
  });

  it('reports a key the exchange rejects as KEY_REJECTED', async () => {
    const apiKey = (await sandbox.admin.listKeys({ exchange: 'bybit' })).find((k) => k.label === 'verify-clean')!.apiKey;
    await sandbox.admin.tamper(apiKey, { ips: [FOREIGN_IP] });
    try {
      const run = await cli(['verify', 'bybit-bot/clean', '--json']);
      expect(run.code).toBe(3);
      expect(codesOf(run)['bybit-bot/clean']).toEqual(['KEY_REJECTED']);
    } finally {
      await sandbox.admin.tamper(apiKey, { ips: [CLIENT_IP] });
    }
  });

  it("reports a key refused from this address as KEY_REJECTED, saying the allowlist does not include keyctl's address and what to do", async () => {
    const IP_CODES: Record<SandboxExchange, string | undefined> = {
      bybit: '10010',
      okx: '50110',
      kucoin: '400006',
      binance: undefined,
      mexc: '700006',
      bitget: '40018',
      gate: 'IP_FORBIDDEN',
    };
    await sandbox.admin.setClientIp(FOREIGN_IP);
    try {
      const run = await cli(['verify', ...EXCHANGES.map((e) => `${e}-bot/clean`), '--json']);
      expect(run.code, run.stderr).toBe(3);
      for (const exchange of EXCHANGES) {
        const r = results(run).find((x) => x.ref === `${exchange}-bot/clean`);
        expect(r, exchange).toMatchObject({ ok: false, violations: [{ code: 'KEY_REJECTED' }] });
        expect(r?.error, exchange).toBeUndefined();
        expect(r?.violations).toHaveLength(1);
        const detail = r?.violations[0]?.detail ?? '';
        const code = IP_CODES[exchange];
        if (code) {
          expect(detail, exchange).toContain(
            `${exchange} refused the key from this address while inspecting the key: the key's IP allowlist does not include the address keyctl runs from (${code} `,
          );
          expect(detail, exchange).toContain(
            "so keyctl cannot verify this key from here. Run keyctl from an address in the key's IP allowlist (for a bot key, the slot's ips in keyctl.yaml), or add this host's public address",
          );
        } else {
          // Binance's -2015 does not say which of key, address or permission is wrong; keyctl names all three.
          expect(detail).toContain(
            'binance refused the key while inspecting the key (-2015 Invalid API-key, IP, or permissions for action.)',
          );
          expect(detail).toContain("a call from an address outside the key's IP allowlist");
          expect(detail).toContain(
            "Check that this host's public address is in the key's IP allowlist (for a bot key, the slot's ips in keyctl.yaml) at binance",
          );
        }
        expect(detail, exchange).toContain("its --client-ip (POST /_admin/client-ip): it must be one of the key's ips.");
      }
      // OKX and KuCoin name the address they saw: the operator learns this host's public address from the table.
      const human = await cli(['verify', 'okx-bot/clean']);
      expect(human.code).toBe(3);
      expect(human.stdout).toContain('KEY_REJECTED');
      expect(human.stdout).toContain('does not include the address keyctl runs from');
      expect(human.stdout).toContain(`okx saw ${FOREIGN_IP}`);
    } finally {
      await sandbox.admin.setClientIp(CLIENT_IP);
    }
    // From an allowed address the same keys pass again: nothing was wrong with them.
    const again = await cli(['verify', ...EXCHANGES.map((e) => `${e}-bot/clean`), '--json']);
    expect(again.code, again.stderr).toBe(0);
  });

  it("reports a master key refused from this address as an error about the master key, not as the bot key's violation", async () => {
    const master = (await sandbox.admin.listKeys({ exchange: 'okx' })).find((k) => k.master)!;
    await sandbox.admin.tamper(master.apiKey, { ips: [FOREIGN_IP] });
    try {
      const run = await cli(['verify', 'okx-bot/clean', '@okx-main', '--json']);
      expect(run.code, run.stderr).toBe(3);
      const [bot, own] = results(run);
      // The bot key is fine; the master key it needs to describe it is refused from here: exit-5 error row.
      expect(bot).toMatchObject({ ref: 'okx-bot/clean', ok: false, violations: [], error: { code: 'MASTER_KEY_REJECTED', exitCode: 5 } });
      expect(bot?.error?.message).toContain(
        "The master key of @okx-main was refused: okx refused the key from this address while looking the key up in its sub-account: the key's IP allowlist does not include the address keyctl runs from (50110 ",
      );
      expect(bot?.error?.hint).toContain(
        "The bot key is not at fault: the master key's IP allowlist does not include the address keyctl runs from.",
      );
      // Verified on its own, the master key is the refused key: a violation.
      expect(own).toMatchObject({ ref: '@okx-main', ok: false, violations: [{ code: 'KEY_REJECTED' }] });
      expect(own?.violations[0]?.detail).toContain("the key's IP allowlist does not include the address keyctl runs from");
    } finally {
      await sandbox.admin.tamper(master.apiKey, { ips: [CLIENT_IP] });
    }
  });

  it('reports a named slot without a stored key clearly: exit 2 (nothing to verify), not 4 (the store is fine)', async () => {
    const run = await cli(['verify', 'bybit-bot/nokey', '--json']);
    expect(run.code).toBe(2);
    const [r] = results(run);
    expect(r).toMatchObject({ ref: 'bybit-bot/nokey', ok: false, fingerprint: null, error: { code: 'NO_CURRENT_KEY', exitCode: 2 } });
    expect(r?.error?.hint).toContain('keyctl key import bybit-bot/nokey');
    expect(r?.error?.message).toContain('No CURRENT key');
  });

  it('exits 5 when the exchange stays unreachable after retries', async () => {
    await sandbox.admin.addFault({ exchange: 'kucoin', path: '*', kind: '5xx', times: 10 });
    try {
      const run = await cli(['verify', 'kucoin-bot/clean', '--json']);
      expect(run.code).toBe(5);
      expect(results(run)[0]).toMatchObject({ ok: false, violations: [], error: { code: 'EXCHANGE_UNAVAILABLE' } });
    } finally {
      await sandbox.admin.clearFaults();
    }
  });

  it('refuses an unknown ref with a usage error', async () => {
    const run = await cli(['verify', 'nobody/nothing']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('nobody/nothing');
  });

  it('audits every verification with its outcome and violation codes', async () => {
    const run = await cli(['audit', 'tail', '-n', '500', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const entries = (
      JSON.parse(run.stdout) as {
        entries: Array<{ command: string; ref?: string; outcome: string; fingerprint?: string; detail?: Record<string, unknown> }>;
      }
    ).entries.filter((e) => e.command === 'verify');
    expect(entries.find((e) => e.ref === 'binance-bot/withdraw')).toMatchObject({
      outcome: 'refused',
      detail: { violations: 'WITHDRAW_ENABLED' },
    });
    expect(entries.find((e) => e.ref === 'bybit-bot/clean')).toMatchObject({
      outcome: 'ok',
      fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
    });
    expect(entries.find((e) => e.ref === 'kucoin-bot/clean' && e.outcome === 'failed')).toMatchObject({
      detail: { error: 'EXCHANGE_UNAVAILABLE' },
    });
  });

  it('--due re-checks only the slots whose last check did not pass or is older than verify.every', async () => {
    const started = new Date().toISOString();
    const run = await cli(['verify', '--due', '--json']);
    outputs.push(run);
    const refs = (JSON.parse(run.stdout) as { results: Array<{ ref: string }> }).results.map((r) => r.ref);
    // Refused minutes ago: stays due until a check passes. Passed minutes ago (verify.every PT1H): not due.
    expect(refs).toContain('binance-bot/withdraw');
    expect(refs).not.toContain('bybit-bot/clean');
    // Master keys by their account's verify.every the same way: only those whose last check did not pass.
    const audited = await cli(['audit', 'tail', '-n', '500', '--json']);
    const lastOf = new Map<string, { time: string; outcome: string }>();
    const entries = (JSON.parse(audited.stdout) as { entries: Array<{ command: string; ref?: string; outcome: string; time: string }> })
      .entries;
    for (const e of entries) {
      if (e.command !== 'verify' || !e.ref?.startsWith('@')) continue;
      const seen = lastOf.get(e.ref);
      // The check before this --due run: --due itself just added one per key it verified.
      if (e.time < started && (!seen || seen.time < e.time)) lastOf.set(e.ref, e);
    }
    for (const r of refs.filter((x) => x.startsWith('@'))) expect(lastOf.get(r)?.outcome, r).not.toBe('ok');
    const mixed = await cli(['verify', '--due', 'bybit-bot/clean']);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--due picks the slots itself');
  });

  it('never prints a secret', () => {
    for (const run of outputs) for (const s of secrets) expect(`${run.stdout}${run.stderr}`).not.toContain(s);
  });
});
