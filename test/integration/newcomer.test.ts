/**
 * What a new user meets in the first hour, through the real CLI: parser errors in --json, `rotate <bot>`, what
 * rotate says during and after a grace period, unsafe keys visible in `status` and `key list`, verify's hints, and
 * progress lines (a line per slot; no escape codes into a pipe; nothing in --json).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCoordination, createStore } from '../../providers/local/index.js';
import { registerConsumer } from '../../src/delivery/handover.js';
import { BIN, runCli } from '../helpers/cli.js';
import { CLIENT_IP, makeWorld, type World } from '../helpers/world.js';

const ESC = '\x1b';
let w: World | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

interface RotateJson {
  results: Array<{
    ref: string;
    status: string;
    newFingerprint?: string;
    oldFingerprint?: string;
    previousRevoked: boolean;
    revokeReason?: string;
  }>;
  failures: unknown[];
}

describe('parser errors are keyctl errors', () => {
  it('keyctl --json nosuchcommand prints a JSON error with a hint and exits 2; plain mode prints keyctl: and hint:', async () => {
    const json = await runCli(['--json', 'stauts']);
    expect(json.code).toBe(2);
    expect(json.json()).toEqual({
      error: {
        code: 'UNKNOWN_COMMAND',
        message: "unknown command 'stauts'.",
        hint: 'Did you mean status? Run keyctl --help for every command.',
        exitCode: 2,
      },
    });
    expect(json.stderr).toBe('');
    const plain = await runCli(['stauts']);
    expect(plain.code).toBe(2);
    expect(plain.stdout).toBe('');
    expect(plain.stderr).toBe("keyctl: unknown command 'stauts'.\nhint: Did you mean status? Run keyctl --help for every command.\n");
  });

  it('unknown options, missing and excess arguments, and no command at all: JSON errors naming the help to read', async () => {
    const cases: Array<[string[], string, RegExp]> = [
      [['rotate', '--grase', '1s', '--json'], 'UNKNOWN_OPTION', /Did you mean --grace\? Run keyctl rotate --help/],
      [['key', 'import', '--json'], 'MISSING_ARGUMENT', /Run keyctl key import --help/],
      [['revoke', 'alpha/arb1', 'alpha/arb2', '--json'], 'TOO_MANY_ARGUMENTS', /Run keyctl revoke --help/],
      [['--json'], 'COMMAND_REQUIRED', /keyctl --help/],
      [['audit', 'tail', '-n', '--json'], 'MISSING_OPTION_VALUE', /Run keyctl audit tail --help/],
    ];
    for (const [args, code, hint] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      const { error } = r.json<{ error: { code: string; hint: string; exitCode: number } }>();
      expect(error.code, args.join(' ')).toBe(code);
      expect(error.hint).toMatch(hint);
      expect(error.exitCode).toBe(2);
    }
  });

  it('output piped into a reader that stops early (keyctl --help | head -1) ends quietly, with no EPIPE crash', async () => {
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${BIN}" --help | head -1`], { encoding: 'utf8' });
    expect(r.stdout).toBe('Usage: keyctl [options] [command]\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // A reader gone before keyctl writes at all (true reads nothing) makes the EPIPE certain, not a race.
    const gone = spawnSync('bash', ['-o', 'pipefail', '-c', `"${process.execPath}" "${BIN}" --help | true`], { encoding: 'utf8' });
    expect(gone.stderr).toBe('');
    expect(gone.status).toBe(0);
  });

  it('--json after -- belongs to the bot, not to keyctl', async () => {
    const r = await runCli(['exec', '--', 'node', 'bot.js', '--json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^keyctl: /);
  });
});

describe('config', () => {
  it('a config with grace PT0S inits; a zero rotation period is refused with the reason, listed with every other problem', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyctl-newcomer-'));
    try {
      const slot = (every: string) =>
        `store: { provider: local, path: ./store }\naccounts:\n  main: { exchange: bybit }\nbots:\n  alpha:\n    subaccounts:\n      arb1: { account: main, uid: "1", scopes: [read, spot:trade], ips: [${CLIENT_IP}], custodians: [carol], rotate: { every: ${every}, grace: PT0S } }\nstaff: [alice]\n`;
      writeFileSync(join(dir, 'ok.yaml'), slot('P30D').replace('custodians: [carol]', 'custodians: [alice]'));
      const init = await runCli(['--config', join(dir, 'ok.yaml'), 'init']);
      expect(init.code, init.stderr).toBe(0);
      writeFileSync(join(dir, 'bad.yaml'), slot('PT0S'));
      const bad = await runCli(['--config', join(dir, 'bad.yaml'), 'status', '--json']);
      expect(bad.code).toBe(2);
      const issues = bad.json<{ error: { details: { issues: Array<{ path: string; message: string }> } } }>().error.details.issues;
      expect(issues.map((i) => i.path)).toEqual(['bots.alpha.subaccounts.arb1.custodians.0', 'bots.alpha.subaccounts.arb1.rotate.every']);
      expect(issues[1]?.message).toMatch(/^must be longer than zero/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rotate as a user reads it', () => {
  it('keyctl rotate <bot> rotates every slot of the bot, a line per slot on stderr as each finishes, no escape codes into a pipe', async () => {
    w = await makeWorld({ grace: 'PT0S' });
    const r = await w.cli(['rotate', 'alpha']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => /^alpha\/arb\d: /.test(l));
    expect(lines).toEqual([
      expect.stringMatching(/^alpha\/arb1: rotated: new key \w+, old key \w+ revoked\.$/),
      expect.stringMatching(/^alpha\/arb2: rotated: new key \w+, old key \w+ revoked\.$/),
    ]);
    expect(r.stdout + r.stderr).not.toContain(ESC);
    const unknown = await w.cli(['rotate', 'gamma', '--json']);
    expect(unknown.code).toBe(2);
    expect(unknown.json<{ error: { code: string; hint: string } }>().error).toMatchObject({
      code: 'UNKNOWN_BOT',
      hint: expect.stringContaining('alpha'),
    });
  });

  it('with --json, stdout is one document and stderr carries no progress', async () => {
    w = await makeWorld({ grace: 'PT0S' });
    const r = await w.cli(['rotate', 'alpha', '--json']);
    expect(r.code).toBe(0);
    expect(r.json<RotateJson>().results.map((x) => x.ref)).toEqual(['alpha/arb1', 'alpha/arb2']);
    expect(r.stderr).not.toMatch(/alpha\/arb/);
    const v = await w.cli(['verify', '--json']);
    expect(v.stderr).not.toMatch(/alpha\/arb/);
  });

  it('during a grace period plain rotate does nothing to the old key and names --force', async () => {
    w = await makeWorld({ grace: 'PT15M' });
    const first = await w.cli(['rotate', 'alpha/arb1']);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(
      /alpha\/arb1: rotated: new key \w+, old key \w+ stays valid until \S+ \(grace period\); a later keyctl rotate revokes it\./,
    );
    const during = await w.cli(['rotate', 'alpha/arb1']);
    expect(during.code).toBe(0);
    expect(during.stderr).toMatch(
      /stays valid until \S+ \(grace period\); nothing to do yet\. keyctl rotate alpha\/arb1 --force revokes it now and starts a new rotation\./,
    );
  });

  it('once the grace period is over, plain rotate finishes the revoke, says why, and starts nothing new without --force', async () => {
    w = await makeWorld({ grace: 'PT3S' }); // long enough that the first run never reaches it itself
    const first = await w.cli(['rotate', 'alpha/arb1', '--json']);
    const revokeAfter = (first.json<RotateJson>().results[0] as { revokeAfter?: string }).revokeAfter!;
    // Waiting on the clock is the point: the grace period ends at revokeAfter.
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(revokeAfter) - Date.now() + 50)));
    const done = await w.cli(['rotate', 'alpha/arb1']);
    expect(done.code).toBe(0);
    expect(done.stderr).toMatch(
      /alpha\/arb1: finished the last rotation: old key \w+ revoked \(its grace period was over\)\. No new rotation was started: keyctl rotate alpha\/arb1 --force starts one\./,
    );
  });

  it('never says the grace period ended when the old key went early because every bot confirmed the new key', async () => {
    w = await makeWorld({ grace: 'PT15M' });
    const first = await w.cli(['rotate', 'alpha/arb1', '--json']);
    const newFp = first.json<RotateJson>().results[0]!.newFingerprint!;
    // A bot under keyctl exec confirmed the new key (what exec records after the hand-over).
    const store = await createStore(
      { provider: 'local', path: join(w.dir, 'store') },
      { env: { KEYCTL_MASTER_KEY: w.env.KEYCTL_MASTER_KEY } },
    );
    const coordination = await createCoordination({ provider: 'local', path: join(w.dir, 'store') }, store, {});
    await registerConsumer(coordination, 'bots/alpha/arb1', 'exec-1', {
      host: 'bot-host',
      pid: 1,
      startedAt: new Date().toISOString(),
      fingerprint: newFp,
      ackedAt: new Date().toISOString(),
      mode: 'fd',
    });
    await store.close();
    const early = await w.cli(['rotate', 'alpha/arb1']);
    expect(early.code).toBe(0);
    expect(early.stderr).toMatch(/finished the last rotation: old key \w+ revoked \(every bot using the slot confirmed the new key\)/);
    expect(early.stderr).not.toMatch(/grace/);
    const json = await w.cli(['rotate', 'alpha/arb2', '--json']);
    expect(json.json<RotateJson>().results[0]).toMatchObject({ status: 'rotated', previousRevoked: false });
  });
});

describe('unsafe keys are visible', () => {
  it('status exits 3 naming a slot stored flagged; key list shows it; a passing verify of the fixed key clears it', async () => {
    w = await makeWorld();
    const unsafe = await w.sandbox.admin.createKey({
      exchange: 'bybit',
      owner: w.subs.arb1!,
      permissions: { Spot: ['SpotTrade'], Wallet: ['Withdraw'] },
      ips: [CLIENT_IP],
    });
    const imported = await w.cli(['key', 'import', 'alpha/arb1', '--accept-violations'], { stdin: JSON.stringify(unsafe) });
    expect(imported.code, imported.stderr).toBe(0);

    const status = await w.cli(['status']);
    expect(status.code).toBe(3);
    expect(status.stdout).toMatch(/UNSAFE\s+alpha\/arb1 \(key \w+\): it was stored despite WITHDRAW_ENABLED \(--accept-violations\)/);
    expect(status.stdout).toMatch(/hint: keyctl verify alpha\/arb1 to check it again; keyctl rotate alpha\/arb1 to replace it/);
    const statusJson = await w.cli(['status', '--json']);
    expect(statusJson.json<{ keys: { unsafe: Array<{ ref: string }> } }>().keys.unsafe.map((u) => u.ref)).toEqual(['alpha/arb1']);
    const list = await w.cli(['key', 'list']);
    expect(list.stdout).toMatch(/alpha\/arb1 .*│ UNSAFE \(flagged\)/);
    expect(list.stdout).toMatch(/^UNSAFE alpha\/arb1: it was stored despite WITHDRAW_ENABLED/m);

    // Fixed at the exchange: withdrawals switched off. verify passes, and the flag no longer makes the key unsafe.
    await w.sandbox.admin.tamper(unsafe.apiKey, { permissions: { Spot: ['SpotTrade'] } });
    expect((await w.cli(['verify', 'alpha/arb1'])).code).toBe(0);
    // arb2 still holds the world's unsafe key, never verified: unknown, not unsafe.
    expect((await w.cli(['status'])).code).toBe(0);
    expect((await w.cli(['key', 'list'])).stdout).toMatch(/alpha\/arb1 .*│ verified \(was flagged\)/);
  });

  it('status exits 3 when the last verification of the CURRENT key found a violation, and not after a rotation replaced it', async () => {
    w = await makeWorld({ grace: 'PT0S' });
    expect((await w.cli(['verify', 'alpha/arb2'])).code).toBe(3);
    const status = await w.cli(['status']);
    expect(status.code).toBe(3);
    expect(status.stdout).toMatch(/UNSAFE\s+alpha\/arb2 \(key \w+\): its last verification \(\S+\) found TRANSFER_ENABLED/);
    expect(status.stdout).not.toMatch(/UNSAFE\s+alpha\/arb1/);
    expect((await w.cli(['rotate', 'alpha/arb2'])).code).toBe(0);
    expect((await w.cli(['status'])).code).toBe(0);
  });

  it('verify prints a hint: rotate a bot key; for an OKX slot that declares less than OKX trade grants, change the declared scopes', async () => {
    w = await makeWorld({ exchange: 'okx' });
    // An IP lock missing is something a rotation fixes: the hint says to rotate.
    const open = await w.sandbox.admin.createKey({
      exchange: 'okx',
      owner: w.subs.arb2!,
      permissions: 'read_only,trade',
      passphrase: 'FAKE-Pass-open-1!',
    });
    expect((await w.cli(['key', 'import', 'alpha/arb2', '--accept-violations'], { stdin: JSON.stringify(open) })).code).toBe(0);
    const unlocked = await w.cli(['verify', 'alpha/arb2']);
    expect(unlocked.code).toBe(3);
    expect(unlocked.stdout).toMatch(
      /^hint: alpha\/arb2: Run keyctl rotate alpha\/arb2: it creates a key with exactly the slot's scopes and IP allowlist/m,
    );

    // A slot declaring only spot:trade on OKX: trade brings margin, futures and options along; rotating cannot help.
    const config = join(w.dir, 'keyctl.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace(/scopes: \[[^\]]*\]/g, 'scopes: [read, spot:trade]'));
    const clean = await w.sandbox.admin.createKey({
      exchange: 'okx',
      owner: w.subs.arb1!,
      permissions: 'read_only,trade',
      ips: [CLIENT_IP],
      passphrase: 'FAKE-Pass-fix-1!',
    });
    expect((await w.cli(['key', 'import', 'alpha/arb1', '--accept-violations'], { stdin: JSON.stringify(clean) })).code).toBe(0);
    const narrow = await w.cli(['verify', 'alpha/arb1']);
    expect(narrow.code).toBe(3);
    expect(narrow.stdout).toMatch(
      /^hint: alpha\/arb1: okx grants margin:trade, futures:trade, options:trade only together with what the slot declares, so a rotated key would hold them too: add margin:trade, futures:trade, options:trade to bots\.alpha\.subaccounts\.arb1\.scopes/m,
    );
    expect(narrow.stdout).not.toMatch(/hint: alpha\/arb1: Run keyctl rotate/);
    const json = await w.cli(['verify', 'alpha/arb1', '--json']);
    expect(json.json<{ results: Array<{ hint: string }> }>().results[0]?.hint).toContain('bots.alpha.subaccounts.arb1.scopes');
  });
});
