/**
 * Every exit code a command documents (its spec's `exits`, shown in its --help) is produced here by the real CLI, in
 * the situation the documentation names; and the README's table says what errors.ts says. A command that documents
 * an exit nobody can produce, or produces one it does not document in these situations, fails this file.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { specs } from '../../src/cli/specs/index.js';
import { EXIT_CODE_MEANINGS } from '@keyctl/client/errors';
import { createCoordination, createStore, docFileName } from '../../providers/local/index.js';
import { BIN, runCli, type CliResult } from '../helpers/cli.js';
import { CLIENT_IP, makeWorld, type World } from '../helpers/world.js';
import { FakeVault } from '../fakes/vault-server.js';
import { webhookReceiver } from '../helpers/alert-receivers.js';
import { attestAll, automatedReady } from '../helpers/go-live.js';

const WRONG_MASTER_KEY = Buffer.alloc(32, 0x11).toString('base64');
const SAFE_BOT = { Spot: ['SpotTrade'] };

const worlds: World[] = [];
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh world per scenario: scenarios run at once and never see each other's changes. */
async function world(grace = 'PT0S'): Promise<World> {
  const w = await makeWorld({ grace, env: { KEYCTL_EXCHANGE_ATTEMPTS: '1' } });
  worlds.push(w);
  return w;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'keyctl-exits-'));
  dirs.push(d);
  return d;
}

/** A key the policy accepts for alpha/arb1, seeded at the sandbox. */
async function safeKey(w: World): Promise<string> {
  const k = await w.sandbox.admin.createKey({ exchange: 'bybit', owner: w.subs.arb1!, permissions: SAFE_BOT, ips: [CLIENT_IP] });
  return JSON.stringify(k);
}

/** A config in a fresh directory; the store in it is not initialized. */
function configAt(text: string): string {
  const dir = tempDir();
  const file = join(dir, 'keyctl.yaml');
  writeFileSync(file, text);
  return file;
}

const wrongKey = { env: { KEYCTL_MASTER_KEY: WRONG_MASTER_KEY } };

type Scenario = (check: (r: CliResult, code?: string) => void) => Promise<void>;

/** Runs the CLI and checks the exit code (and, with --json errors, the error code). */
function expectExit(exit: number) {
  return (r: CliResult, code?: string) => {
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(exit);
    if (code) expect(r.json<{ error: { code: string } }>().error.code).toBe(code);
  };
}

/** `command` -> exit code -> a scenario that makes the real CLI exit with it. */
const scenarios: Record<string, Record<number, Scenario>> = {
  init: {
    0: async (check) => {
      const file = configAt('store: { provider: local, path: ./store }\n');
      check(await runCli(['--config', file, 'init', '--json']));
    },
    2: async (check) => {
      const file = configAt('store: { provider: local, path: ./store }\n');
      check(await runCli(['--config', file, 'init', '--json'], { env: { KEYCTL_MASTER_KEY: 'not-a-key' } }), 'MASTER_KEY_INVALID');
    },
    4: async (check) => {
      const w = await world();
      check(await w.cli(['init', '--json'], wrongKey), 'WRONG_MASTER_KEY');
    },
  },
  status: {
    0: async (check) => {
      const w = await world();
      check(await w.cli(['status']));
    },
    3: async (check) => {
      const w = await world();
      expect((await w.cli(['verify', 'alpha/arb1'])).code).toBe(3);
      const r = await w.cli(['status']);
      expect(r.stdout).toMatch(/UNSAFE\s+alpha\/arb1/);
      check(r);
    },
    4: async (check) => {
      const w = await world();
      check(await w.cli(['status'], wrongKey));
    },
  },
  'key import': {
    0: async (check) => {
      const w = await world();
      check(await w.cli(['key', 'import', 'alpha/arb1'], { stdin: await safeKey(w) }));
    },
    2: async (check) => {
      const w = await world();
      check(await w.cli(['key', 'import', 'alpha/arb1', '--json'], { stdin: 'apiKey=FAKE' }));
    },
    3: async (check) => {
      const w = await world();
      const unsafe = await w.sandbox.admin.createKey({
        exchange: 'bybit',
        owner: w.subs.arb1!,
        permissions: { Spot: ['SpotTrade'], Wallet: ['Withdraw'] },
        ips: [CLIENT_IP],
      });
      check(await w.cli(['key', 'import', 'alpha/arb1'], { stdin: JSON.stringify(unsafe) }));
    },
    4: async (check) => {
      const w = await world();
      check(await w.cli(['key', 'import', 'alpha/arb1', '--json'], { stdin: await safeKey(w), ...wrongKey }), 'WRONG_MASTER_KEY');
    },
    5: async (check) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '*', kind: '5xx' });
      check(await w.cli(['key', 'import', 'alpha/arb1', '--json'], { stdin: await safeKey(w) }), 'EXCHANGE_UNAVAILABLE');
    },
  },
  'key list': {
    0: async (check) => check(await (await world()).cli(['key', 'list'])),
    4: async (check) => check(await (await world()).cli(['key', 'list', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  verify: {
    0: async (check) => check(await (await world()).cli(['verify', '@main'])),
    2: async (check) => {
      const w = await world();
      expect((await w.cli(['revoke', 'alpha/arb1'])).code).toBe(0);
      const r = await w.cli(['verify', 'alpha/arb1', '--json']);
      expect(r.json<{ results: Array<{ error: { code: string } }> }>().results[0]?.error.code).toBe('NO_CURRENT_KEY');
      check(r);
    },
    3: async (check) => {
      const r = await (await world()).cli(['verify', 'alpha/arb1']);
      expect(r.stdout).toMatch(/^hint: alpha\/arb1: Run keyctl rotate alpha\/arb1/m);
      check(r);
    },
    4: async (check) => check(await (await world()).cli(['verify', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
    5: async (check) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '*', kind: '5xx' });
      check(await w.cli(['verify', '@main']));
    },
  },
  exec: {
    0: async (check) => {
      const w = await world();
      check(await w.cli(['exec', 'alpha/arb1', '--', process.execPath, '-e', '0']));
      // Any other code of the bot's is passed through.
      expect((await w.cli(['exec', 'alpha/arb1', '--', process.execPath, '-e', 'process.exit(7)'])).code).toBe(7);
    },
    2: async (check) => check(await (await world()).cli(['exec', 'alpha/arb1', '--json']), 'COMMAND_REQUIRED'),
    3: async (check) => {
      const w = await world();
      // --strict with no checklist verdict on record: the go-live gate holds the bot back.
      const gated = await w.cli(['exec', 'alpha/arb1', '--strict', '--json', '--', process.execPath, '-e', 'console.log("bot started")']);
      expect(gated.stdout).not.toContain('bot started');
      check(gated, 'CHECKLIST_NOT_PASSED');
      expect((await w.cli(['kill', 'alpha', '--reason', 'drill'])).code).toBe(0);
      const r = await w.cli(['exec', 'alpha/arb1', '--json', '--', process.execPath, '-e', 'console.log("bot started")']);
      expect(r.stdout).not.toContain('bot started');
      check(r, 'SLOT_PAUSED');
    },
    4: async (check) =>
      check(await (await world()).cli(['exec', 'alpha/arb1', '--json', '--', process.execPath, '-e', '0'], wrongKey), 'WRONG_MASTER_KEY'),
    5: async (check) => {
      const w = await world();
      await w.sandbox.admin.setClientIp('198.51.100.1');
      const r = await w.cli(['exec', 'alpha/arb1', '--preflight', '--json', '--', process.execPath, '-e', 'console.log("bot started")']);
      expect(r.stdout).not.toContain('bot started');
      check(r, 'PREFLIGHT_FAILED');
    },
  },
  issue: {
    0: async (check) => check(await (await world()).cli(['issue', 'alpha/arb1'])),
    2: async (check) => check(await (await world()).cli(['issue', 'alpha/arb1', '--ttl', '2h', '--json']), 'INVALID_TTL'),
    3: async (check) => {
      const w = await world();
      expect((await w.cli(['kill', 'alpha', '--reason', 'drill'])).code).toBe(0);
      check(await w.cli(['issue', 'alpha/arb1', '--json']), 'SLOT_PAUSED');
    },
    4: async (check) => check(await (await world()).cli(['issue', 'alpha/arb1', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  'alert secret': {
    0: async (check) => {
      const w = await world();
      const r = await w.cli(['alert', 'secret', 'alerts/slack-url', '--json'], {
        stdin: 'https://hooks.slack.invalid/services/FAKE/0001\n',
      });
      check(r);
      expect(r.stdout).not.toContain('FAKE/0001');
    },
    2: async (check) =>
      check(await (await world()).cli(['alert', 'secret', 'bots/alpha/arb1', '--json'], { stdin: 'x' }), 'ALERT_SECRET_PATH'),
    4: async (check) =>
      check(await (await world()).cli(['alert', 'secret', 'alerts/x', '--json'], { ...wrongKey, stdin: 'x' }), 'WRONG_MASTER_KEY'),
  },
  'alert test': {
    0: async (check) => {
      const w = await world();
      const hook = await webhookReceiver();
      try {
        appendFileSync(join(w.dir, 'keyctl.yaml'), `alerts:\n  ops: { type: webhook, url: "${hook.url}" }\n`);
        const r = await w.cli(['alert', 'test', '--json']);
        check(r);
        expect(hook.valid).toHaveLength(1);
      } finally {
        await hook.close();
      }
    },
    2: async (check) => check(await (await world()).cli(['alert', 'test', '--json']), 'NO_ALERT_CHANNELS'),
    4: async (check) => {
      const w = await world();
      appendFileSync(join(w.dir, 'keyctl.yaml'), 'alerts:\n  ops: { type: webhook, url: "http://127.0.0.1:1/hook" }\n');
      const r = await w.cli(['alert', 'test', 'ops', '--json']);
      check(r);
      expect(r.json<{ results: Array<{ outcome: string; error: { code: string } }> }>().results[0]).toMatchObject({
        outcome: 'failed',
        error: { code: 'ALERT_NETWORK' },
      });
    },
  },
  daemon: {
    0: async (check) => {
      const w = await world();
      check(
        await w.cli(['daemon', '--interval', '1s', '--lease', '3s'], { signalWhen: { when: /"msg":"cycle done"/, signal: 'SIGTERM' } }),
      );
    },
    2: async (check) => {
      const w = await world();
      check(await w.cli(['daemon', '--review-every', '10m', '--json']), 'REVIEW_TOO_OFTEN');
      check(await w.cli(['daemon', '--interval', 'soon', '--json']), 'INVALID_DURATION');
    },
    4: async (check) => check(await (await world()).cli(['daemon', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  rotate: {
    0: async (check) => check(await (await world()).cli(['rotate', 'alpha'])),
    2: async (check) => check(await (await world()).cli(['rotate', 'nosuchbot', '--json']), 'UNKNOWN_BOT'),
    3: async (check) => {
      const w = await world();
      expect((await w.cli(['kill', 'alpha', '--reason', 'drill'])).code).toBe(0);
      check(await w.cli(['rotate', 'alpha']));
    },
    4: async (check) => check(await (await world()).cli(['rotate', 'alpha/arb1', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
    6: async (check) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '/v5/user/create-sub-api', kind: 'ratelimit' });
      check(await w.cli(['rotate', 'alpha/arb1']));
    },
  },
  revoke: {
    0: async (check) => check(await (await world()).cli(['revoke', 'alpha/arb1'])),
    2: async (check) => check(await (await world()).cli(['revoke', 'alpha', '--json']), 'INVALID_REF'),
    4: async (check) => check(await (await world()).cli(['revoke', 'alpha/arb1', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
    5: async (check) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '/v5/user/delete-sub-api', kind: '5xx' });
      check(await w.cli(['revoke', 'alpha/arb1']));
    },
    6: async (check) => {
      const w = await world();
      // Another keyctl holds the slot's rotation lease.
      const store = await createStore(
        { provider: 'local', path: join(w.dir, 'store') },
        { env: { KEYCTL_MASTER_KEY: w.env.KEYCTL_MASTER_KEY } },
      );
      const coordination = await createCoordination({ provider: 'local', path: join(w.dir, 'store') }, store, {});
      await coordination.acquire('rotate/bots/alpha/arb1', 'other-host:1', 60_000);
      await coordination.close();
      await store.close();
      check(await w.cli(['revoke', 'alpha/arb1', '--json']), 'ROTATION_IN_PROGRESS');
    },
  },
  offboard: {
    0: async (check) => check(await (await world()).cli(['offboard', 'bob'])),
    2: async (check) => check(await (await world()).cli(['offboard', 'mallory', '--json']), 'UNKNOWN_STAFF'),
    4: async (check) => check(await (await world()).cli(['offboard', 'bob', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
    6: async (check) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '/v5/user/create-sub-api', kind: 'ratelimit' });
      check(await w.cli(['offboard', 'bob']));
    },
  },
  kill: {
    0: async (check) => check(await (await world()).cli(['kill', 'alpha'])),
    2: async (check) => check(await (await world()).cli(['kill', '--json']), 'KILL_TARGET'),
    4: async (check) => check(await (await world()).cli(['kill', 'alpha', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
    5: async (check) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '/v5/order/realtime', kind: '5xx' });
      const r = await w.cli(['kill', 'alpha', '--dry-run']);
      expect(r.stdout).toContain('A KILL WOULD FAIL HERE');
      check(r);
    },
    6: async (check) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '/v5/user/delete-sub-api', kind: '5xx' });
      check(await w.cli(['kill', 'alpha']));
      // Re-running continues where it stopped: the keys it could not delete are deleted now.
      await w.sandbox.admin.clearFaults();
      expect((await w.cli(['kill', 'alpha'])).code).toBe(0);
      expect(await w.keysAt(w.subs.arb1!)).toEqual([]);
    },
  },
  resume: {
    0: async (check) => {
      const w = await world();
      expect((await w.cli(['kill', 'alpha', '--reason', 'drill'])).code).toBe(0);
      const r = await w.cli(['resume', 'alpha', '--reason', 'drill over', '--json']);
      check(r);
      expect(r.json<{ resumed: string[] }>().resumed).toEqual(['alpha/arb1', 'alpha/arb2']);
      // The next rotation creates a fresh key.
      expect((await w.cli(['rotate', 'alpha/arb1'])).code).toBe(0);
      expect(await w.keysAt(w.subs.arb1!)).toHaveLength(1);
    },
    2: async (check) => check(await (await world()).cli(['resume', 'alpha', '--json']), 'REASON_REQUIRED'),
    4: async (check) => check(await (await world()).cli(['resume', 'alpha', '--reason', 'x', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  schedule: {
    0: async (check) => check(await (await world()).cli(['schedule'])),
    4: async (check) => check(await (await world()).cli(['schedule', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  'audit verify': {
    0: async (check) => check(await (await world()).cli(['audit', 'verify'])),
    3: async (check) => {
      const w = await world();
      expect((await w.cli(['verify', '@main'])).code).toBe(0);
      // A forged entry without the audit key's MAC.
      appendFileSync(
        join(w.dir, 'store', 'audit.log'),
        `${JSON.stringify({ seq: 99, time: new Date().toISOString(), actor: 'x', command: 'verify', outcome: 'ok', prev: 'x', mac: 'x' })}\n`,
      );
      check(await w.cli(['audit', 'verify']));
    },
    4: async (check) => check(await (await world()).cli(['audit', 'verify', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  'audit ack': {
    0: async (check) => {
      const w = await world();
      expect((await w.cli(['verify', '@main'])).code).toBe(0);
      // A deleted head anchor: the next append records the loss, which the operator then acknowledges.
      rmSync(join(w.dir, 'store', 'audit.log.head'));
      expect((await w.cli(['verify', '@main'])).code).toBe(0);
      check(await w.cli(['audit', 'ack', '--reason', 'checked against the shipped copy']));
    },
    2: async (check) => check(await (await world()).cli(['audit', 'ack', '--reason', ' ', '--json']), 'BAD_REASON'),
    4: async (check) => check(await (await world()).cli(['audit', 'ack', '--reason', 'x', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  'store accept': {
    0: async (check) => {
      const w = await world();
      // A slot file put back from before a write: refused until the operator accepts it.
      const slot = join(w.dir, 'store', 'docs', docFileName('slot/bots/alpha/arb2'));
      const before = readFileSync(slot);
      expect((await w.cli(['rotate', 'alpha/arb2', '--grace', '0s'])).code).toBe(0);
      writeFileSync(slot, before);
      expect((await w.cli(['key', 'list', '--json'])).code).toBe(4);
      check(await w.cli(['store', 'accept', '--reason', 'restored arb2 from a backup on purpose']));
    },
    2: async (check) => check(await (await world()).cli(['store', 'accept', '--reason', ' ', '--json']), 'BAD_REASON'),
    4: async (check) => check(await (await world()).cli(['store', 'accept', '--reason', 'x', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  'audit tail': {
    0: async (check) => check(await (await world()).cli(['audit', 'tail'])),
    2: async (check) => check(await (await world()).cli(['audit', 'tail', '-n', '0', '--json']), 'BAD_LINES'),
  },
  sandbox: {
    0: async (check) => {
      const child = spawn(process.execPath, [BIN, 'sandbox', '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      await new Promise<void>((resolve) =>
        child.stdout.on('data', (d: Buffer) => ((stdout += d.toString()), stdout.includes('}') && resolve())),
      );
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      check({ code, stdout, stderr: '', json: () => JSON.parse(stdout) });
    },
    2: async (check) => check(await runCli(['sandbox', '--port', 'eighty', '--json']), 'BAD_PORT'),
  },
  'aws policy': {
    0: async (check) => {
      const file = configAt(
        `store: { provider: aws, region: eu-west-1 }\naccounts:\n  main: { exchange: bybit }\nbots:\n  alpha:\n    subaccounts:\n      arb1: { account: main, uid: "1", scopes: [read], ips: [${CLIENT_IP}] }\n`,
      );
      check(await runCli(['--config', file, 'aws', 'policy', 'alpha']));
    },
    2: async (check) => check(await (await world()).cli(['aws', 'policy', 'alpha', '--json']), 'STORE_NOT_AWS'),
  },
  'vault policy': {
    0: async (check) => {
      const file = configAt(
        `store: { provider: vault, address: "http://127.0.0.1:1" }\naccounts:\n  main: { exchange: bybit }\nbots:\n  alpha:\n    subaccounts:\n      arb1: { account: main, uid: "1", scopes: [read], ips: [${CLIENT_IP}] }\n`,
      );
      check(await runCli(['--config', file, 'vault', 'policy', 'alpha']));
    },
    2: async (check) => check(await (await world()).cli(['vault', 'policy', 'alpha', '--json']), 'NOT_VAULT_STORE'),
  },
  'vault approle': {
    0: async (check) => {
      const vault = await FakeVault.start();
      try {
        const file = vaultConfig(vault.url);
        const env = { VAULT_TOKEN: vault.rootToken };
        expect((await runCli(['--config', file, 'init'], { env })).code).toBe(0);
        check(await runCli(['--config', file, 'vault', 'approle', 'alpha'], { env }));
      } finally {
        await vault.close();
      }
    },
    2: async (check) =>
      check(
        await runCli(['--config', vaultConfig('http://127.0.0.1:1'), 'vault', 'approle', 'alpha', '--secret-id-ttl', 'soon', '--json'], {
          env: { VAULT_TOKEN: 'FAKE-token' },
        }),
        'INVALID_DURATION',
      ),
    4: async (check) => {
      const vault = await FakeVault.start();
      try {
        const file = vaultConfig(vault.url);
        expect((await runCli(['--config', file, 'init'], { env: { VAULT_TOKEN: vault.rootToken } })).code).toBe(0);
        check(
          await runCli(['--config', file, 'vault', 'approle', 'alpha', '--json'], { env: { VAULT_TOKEN: 'FAKE-not-a-vault-token' } }),
          'VAULT_TOKEN_INVALID',
        );
      } finally {
        await vault.close();
      }
    },
  },
  checklist: {
    0: async (check) => {
      const w = await world();
      await automatedReady(w);
      await attestAll(w);
      check(await w.cli(['checklist', 'alpha']));
    },
    2: async (check) => check(await (await world()).cli(['checklist', 'gamma', '--json']), 'UNKNOWN_BOT'),
    3: async (check) => {
      const w = await world();
      const r = await w.cli(['checklist', '--json']);
      expect(r.json<{ rows: Array<{ id: string; status: string }> }>().rows.find((x) => x.id === 'exchange-2fa')?.status).toBe('fail');
      check(r);
    },
    4: async (check) => check(await (await world()).cli(['checklist', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  attest: {
    0: async (check) => check(await (await world()).cli(['attest', 'exchange-2fa', 'alpha', '--by', 'alice', '--note', 'hardware key'])),
    2: async (check) => check(await (await world()).cli(['attest', 'exchange-2fa', '--by', 'mallory', '--json']), 'UNKNOWN_STAFF'),
    4: async (check) =>
      check(await (await world()).cli(['attest', 'exchange-2fa', '--by', 'alice', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  review: {
    0: async (check) => check(await (await world()).cli(['review', '--since', '30d'])),
    2: async (check) => check(await (await world()).cli(['review', '--since', 'soon', '--json']), 'INVALID_DURATION'),
    4: async (check) => check(await (await world()).cli(['review', '--json'], wrongKey), 'WRONG_MASTER_KEY'),
  },
  completion: {
    0: async (check) => check(await runCli(['completion', 'bash'])),
    2: async (check) => check(await runCli(['completion', 'tcsh', '--json']), 'UNKNOWN_SHELL'),
  },
};

function vaultConfig(url: string): string {
  return configAt(
    `store: { provider: vault, address: "${url}", mount: secret, prefix: keyctl }\naccounts:\n  main: { exchange: bybit }\nbots:\n  alpha:\n    subaccounts:\n      arb1: { account: main, uid: "1", scopes: [read], ips: [${CLIENT_IP}] }\n`,
  );
}

describe('documented exit codes', () => {
  it('every command documents its exits, and each documented exit has a scenario here (and no other)', () => {
    for (const spec of specs) {
      const documented = Object.keys(spec.exits).map(Number).sort();
      expect(documented, `${spec.name} documents exit 0`).toContain(0);
      expect(
        Object.keys(scenarios[spec.name] ?? {})
          .map(Number)
          .sort(),
        `scenarios for ${spec.name}`,
      ).toEqual(documented);
    }
    expect(Object.keys(scenarios).sort()).toEqual(specs.map((s) => s.name).sort());
  });

  it("the README's exit-code table says what errors.ts says", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\| (\d) \| (.+) \|$/gm)].map((m) => [Number(m[1]), m[2]]);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(EXIT_CODE_MEANINGS).map(([k, v]) => [Number(k), v])));
  });

  for (const spec of specs) {
    for (const exit of Object.keys(spec.exits).map(Number)) {
      it.concurrent(`${spec.name} exits ${exit}: ${spec.exits[exit as keyof typeof spec.exits]}`, async () => {
        const scenario = scenarios[spec.name]?.[exit];
        expect(scenario, `no scenario for ${spec.name} exit ${exit}`).toBeDefined();
        await scenario!(expectExit(exit));
      });
    }
  }
});
