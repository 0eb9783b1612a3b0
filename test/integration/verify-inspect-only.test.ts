/**
 * `keyctl verify` end to end for an inspect-only exchange (issue #19): main() against a local store and the sandbox
 * speaking Coinbase Advanced Trade through real ccxt (CDP ES256 JWT). Coinbase does not report a key's IP allowlist, so
 * a clean key is UNVERIFIABLE (exit 3) until the account accepts the gap (`accept: [ip-lock-unverifiable]`); then it
 * passes (exit 0) and verify shows the accepted gap. A name keyctl does not know in `accept` is a config error. Assisted
 * rotation tests the new key by API under the same rule.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { VerifyResult } from '../../src/cli/commands/verify.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { openStore } from '../../providers/registry.js';
import { captureIo } from '../helpers/io.js';

// As in verify.test.ts: `verify` comes from src/cli/specs/exchange.ts until specs/index.ts lists it.
vi.mock('../../src/cli/specs/index.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/cli/specs/index.js')>();
  const { specs: exchange } = await import('../../src/cli/specs/exchange.js');
  const names = new Set(original.specs.map((s) => s.name));
  return { specs: [...original.specs, ...exchange.filter((s) => !names.has(s.name))] };
});

const CLIENT_IP = '203.0.113.7';

describe('keyctl verify: a Coinbase key against the sandbox (UNVERIFIABLE ip-lock, then accepted)', () => {
  let dir: string;
  let sandbox: RunningSandbox;
  let env: NodeJS.ProcessEnv;
  let portfolio: string;
  let secret: string;

  const config = (accept: string) =>
    writeFileSync(
      join(dir, 'keyctl.yaml'),
      `store: { provider: local, path: ./store }\n` +
        `accounts:\n  cb-main: { exchange: coinbase, baseUrl: "${sandbox.url}/coinbase"${accept} }\n` +
        `bots:\n  cb-bot:\n    subaccounts:\n      spot: { account: cb-main, uid: "${portfolio}", scopes: [spot:trade, futures:trade], ips: [${CLIENT_IP}] }\n`,
    );
  const cli = async (args: string[], stdin?: string) => {
    const t = captureIo({ cwd: dir, env, ...(stdin !== undefined ? { stdin } : {}) });
    const code = await main(['--config', join(dir, 'keyctl.yaml'), ...args], t.io);
    return { code, stdout: t.stdout(), stderr: t.stderr() };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyctl-verify-cb-'));
    sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
    env = {
      KEYCTL_ACTOR: 'verify-test',
      KEYCTL_EXCHANGE_TIMEOUT_MS: '3000',
      KEYCTL_EXCHANGE_ATTEMPTS: '2',
      KEYCTL_EXCHANGE_BACKOFF_MS: '10',
    };
    const { uid } = await sandbox.admin.createAccount('coinbase');
    portfolio = (await sandbox.admin.createSubaccount('coinbase', uid)).id;
    const key = await sandbox.admin.createKey({
      exchange: 'coinbase',
      owner: portfolio,
      permissions: { can_view: true, can_trade: true },
      ips: [CLIENT_IP],
      label: 'FAKE-cb',
    });
    secret = key.secret;
    config('');
    const init = await cli(['init', '--json']);
    expect(init.code, init.stderr).toBe(0);
    env.KEYCTL_MASTER_KEY = (JSON.parse(init.stdout) as { masterKey: string }).masterKey;
    const store = await openStore({ provider: 'local', path: join(dir, 'store') }, { env });
    await store.write('bots/cb-bot/spot', {
      secret: { apiKey: key.apiKey, secret: key.secret },
      meta: { fingerprint: fingerprint(key.apiKey), source: 'test' },
      stage: 'CURRENT',
      expect: null,
    });
    await store.close();
  });

  afterAll(async () => {
    await sandbox?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exits 3 with UNVERIFIABLE (ip-lock) while the account does not accept the gap', async () => {
    config('');
    const run = await cli(['verify', 'cb-bot/spot', '--json']);
    expect(run.code, run.stderr).toBe(3);
    const [r] = (JSON.parse(run.stdout) as { results: VerifyResult[] }).results;
    expect(r).toMatchObject({ ref: 'cb-bot/spot', ok: false, violations: [{ code: 'UNVERIFIABLE', check: 'ip-lock' }] });
    expect(r?.accepted).toBeUndefined();
    const text = await cli(['verify', 'cb-bot/spot']);
    expect(text.code).toBe(3);
    expect(text.stdout).toContain('UNVERIFIABLE');
    expect(text.stdout).toContain('ip-lock-unverifiable');
    expect(`${run.stdout}${text.stdout}${text.stderr}`).not.toContain(secret.split('\n')[1]!);
  });

  it('exits 0 once the account accepts ip-lock-unverifiable, showing the accepted gap in JSON and text', async () => {
    config(', accept: [ip-lock-unverifiable]');
    const run = await cli(['verify', 'cb-bot/spot', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const [r] = (JSON.parse(run.stdout) as { results: VerifyResult[] }).results;
    expect(r).toMatchObject({ ref: 'cb-bot/spot', ok: true, violations: [], accepted: ['ip-lock-unverifiable'] });
    const text = await cli(['verify', 'cb-bot/spot']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('accepted: ip-lock-unverifiable');
  });

  it('still flags what Coinbase does report after the gap is accepted (withdraw via Transfer)', async () => {
    config(', accept: [ip-lock-unverifiable]');
    const [key] = await sandbox.admin.listKeys({ exchange: 'coinbase', owner: portfolio });
    await sandbox.admin.tamper(key!.apiKey, { withdraw: true });
    try {
      const run = await cli(['verify', 'cb-bot/spot', '--json']);
      expect(run.code).toBe(3);
      const codes = (JSON.parse(run.stdout) as { results: VerifyResult[] }).results[0]?.violations.map((v) => v.code);
      expect(codes).toEqual(['WITHDRAW_ENABLED', 'TRANSFER_ENABLED']);
    } finally {
      await sandbox.admin.tamper(key!.apiKey, { withdraw: false });
    }
  });

  it('refuses an accept name keyctl does not know as a config error', async () => {
    config(', accept: [ip-lock-unverifable]');
    const run = await cli(['verify', 'cb-bot/spot']);
    expect(run.code).not.toBe(0);
    expect(run.code).not.toBe(3);
    expect(run.stderr).toContain('accounts.cb-main.accept');
    expect(run.stderr).toContain('"ip-lock-unverifiable"');
  });

  it('assisted rotation: a new key with the unaccepted gap fails its test; accepted, it is promoted and the old one confirmed dead', async () => {
    const handMade = () =>
      sandbox.admin.createKey({
        exchange: 'coinbase',
        owner: portfolio,
        permissions: { can_view: true, can_trade: true },
        ips: [CLIENT_IP],
        label: 'FAKE-by-hand',
      });
    const [old] = await sandbox.admin.listKeys({ exchange: 'coinbase', owner: portfolio });
    config('');
    const refused = await cli(['rotate', 'cb-bot/spot', '--grace', '0s', '--json'], JSON.stringify(await handMade()));
    expect(refused.code, refused.stdout).toBe(6);
    expect(refused.stdout).toContain('ROTATION_TEST_FAILED');
    expect(refused.stdout).toContain('UNVERIFIABLE');

    config(', accept: [ip-lock-unverifiable]');
    const fresh = await handMade();
    const first = await cli(['rotate', 'cb-bot/spot', '--grace', '0s', '--json'], JSON.stringify(fresh));
    // Tested (inspected and pinged through the sandbox) and promoted; the old key still authenticates until deleted by hand.
    expect(first.code, first.stdout + first.stderr).toBe(6);
    expect(first.stderr).toContain('Assisted rotation of cb-bot/spot');
    expect((JSON.parse(first.stdout) as { failures: Array<{ code: string }> }).failures[0]?.code).toBe('ASSISTED_REVOKE_PENDING');
    // The operator deletes the old key in the CDP portal (here: the sandbox expires it); the re-run confirms it is gone.
    await sandbox.admin.tamper(old!.apiKey, { expiresAt: new Date(Date.now() - 60_000).toISOString() });
    const second = await cli(['rotate', 'cb-bot/spot', '--json']);
    expect(second.code, second.stdout + second.stderr).toBe(0);
    const verify = await cli(['verify', 'cb-bot/spot', '--json']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain(fingerprint(fresh.apiKey));
  });

  it('kill: no trading API, so it says to check orders by hand; the key is revoked by hand, confirmed dead by API', async () => {
    config(', accept: [ip-lock-unverifiable]');
    type Kill = { kills: Array<{ trading?: { skipped?: string } }>; failures: Array<{ code: string; hint?: string }> };
    const first = await cli(['kill', 'cb-bot', '--json']);
    expect(first.code, first.stderr).toBe(6);
    const out = JSON.parse(first.stdout) as Kill;
    expect(out.kills[0]?.trading?.skipped).toBe('keyctl cannot trade on coinbase: check orders and positions in its web UI');
    expect(out.failures.map((f) => f.code)).toEqual(['ASSISTED_REVOKE_PENDING']);
    expect(out.failures[0]?.hint).toContain("Delete exactly that key in coinbase's web UI");
    // Deleted in the CDP portal (the sandbox expires every key of the portfolio): the same kill now finishes.
    for (const k of await sandbox.admin.listKeys({ exchange: 'coinbase', owner: portfolio })) {
      await sandbox.admin.tamper(k.apiKey, { expiresAt: new Date(Date.now() - 60_000).toISOString() });
    }
    const again = await cli(['kill', 'cb-bot', '--json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
  });
});
