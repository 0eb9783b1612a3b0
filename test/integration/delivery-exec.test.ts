import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLIENT_IP, makeWorld, type World } from '../helpers/world.js';
import { filesUnder, secretForms } from '../helpers/scan.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { events, FIXTURES, startKeyctl } from './delivery-helpers.js';
import { runNode } from '../helpers/cli.js';
import { consumersOf, until } from '../helpers/consumers.js';

let w: World;
let cfg: string;
const node = process.execPath;
const fixture = (name: string) => join(FIXTURES, name);
const keyctl = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  startKeyctl(['--config', cfg, ...args], { env: { ...w.env, ...env }, cwd: w.dir });
const consumers = () => consumersOf(w);

beforeAll(async () => {
  w = await makeWorld();
  cfg = join(w.dir, 'keyctl.yaml');
});
afterAll(async () => w?.close());

describe('keyctl exec', () => {
  it("env mode: the bot gets its key in the documented variables, its own flags untouched, its output masked, and exec exits with the bot's code", async () => {
    const secret = w.botKeys.arb1!.secret;
    const r = await keyctl(['exec', 'alpha/arb1', '--', node, fixture('print-env.mjs'), '--fd', '9', '--no-mask', '--', 'x'], {
      EXIT_CODE: '7',
    }).done;
    expect(r.code, r.stderr).toBe(7);
    const report = events(r.stdout)[0] as { argv: string[]; names: string[]; fingerprint: string };
    expect(report.argv).toEqual(['--fd', '9', '--no-mask', '--', 'x']);
    expect(report.fingerprint).toBe(fingerprint(w.botKeys.arb1!.apiKey));
    expect(report.names).toEqual(
      expect.arrayContaining(['KEYCTL_API_KEY', 'KEYCTL_FINGERPRINT', 'KEYCTL_REF', 'KEYCTL_ROTATES_AT', 'KEYCTL_SECRET']),
    );
    // No passphrase on this key; keyctl's own store key never reaches the bot.
    expect(report.names).not.toContain('KEYCTL_PASSWORD');
    expect(report.names).not.toContain('KEYCTL_MASTER_KEY');
    const all = r.stdout + r.stderr;
    for (const form of secretForms(secret)) expect(all).not.toContain(form);
    expect(r.stdout).toContain('plain=[REDACTED]\n');
    expect(r.stderr).toContain('b64=[REDACTED] hex=[REDACTED]');
  });

  it('--no-mask passes output through raw; --env-prefix renames the variables', async () => {
    const r = await keyctl(['exec', 'alpha/arb1', '--no-mask', '--env-prefix', 'BOT_', '--', node, fixture('print-env.mjs')], {
      PREFIX: 'BOT_',
    }).done;
    expect(r.code, r.stderr).toBe(0);
    const names = events(r.stdout)[0]!.names as string[];
    expect(names.filter((n) => n.startsWith('BOT_'))).toEqual([
      'BOT_API_KEY',
      'BOT_FINGERPRINT',
      'BOT_REF',
      'BOT_ROTATES_AT',
      'BOT_SECRET',
    ]);
    expect(names.filter((n) => /^KEYCTL_(API_KEY|SECRET|REF|FINGERPRINT)$/.test(n))).toEqual([]);
    expect(r.stdout).toContain(`plain=${w.botKeys.arb1!.secret}\n`);
  });

  it('forwards signals: SIGTERM reaches the bot (exit 42 from its handler); a bot killed by SIGUSR2 gives 128+12', async () => {
    const a = keyctl(['exec', 'alpha/arb1', '--', node, fixture('wait-signal.mjs')]);
    const b = keyctl(['exec', 'alpha/arb1', '--', node, fixture('wait-signal.mjs')]);
    await Promise.all([a.waitFor('ready'), b.waitFor('ready')]);
    a.child.kill('SIGTERM');
    b.child.kill('SIGUSR2');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra.code, ra.stderr).toBe(42);
    expect(ra.stdout).toContain('got SIGTERM');
    expect(rb.code, rb.stderr).toBe(140);
  });

  it('a command that does not exist is a usage error, not a hang', async () => {
    const r = await keyctl(['exec', 'alpha/arb1', '--', 'keyctl-test-no-such-command']).done;
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Could not start "keyctl-test-no-such-command" \(ENOENT\)/);
  });

  it("--preflight from an address outside the key's allowlist fails with exit 5 and never starts the bot; from inside it starts it", async () => {
    await w.sandbox.admin.setClientIp('198.51.100.9');
    try {
      const r = await keyctl(['exec', 'alpha/arb1', '--preflight', '--', node, '-e', 'console.log("STARTED")']).done;
      expect(r.code).toBe(5);
      expect(r.stdout).not.toContain('STARTED');
      expect(r.stderr).toMatch(/Preflight: bybit did not accept alpha\/arb1's key [0-9a-f]{16}/);
      expect(r.stderr).toMatch(/hint: .*IP allowlist/);
    } finally {
      await w.sandbox.admin.setClientIp(CLIENT_IP);
    }
    const ok = await keyctl(['exec', 'alpha/arb1', '--preflight', '--', node, '-e', 'console.log("STARTED")']).done;
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('STARTED');
  });
});

describe('the example bot (docs/examples/bot.mjs)', () => {
  it('runs under exec --fd with ccxt against the sandbox: one signed call, prints the fingerprint, never the key', async () => {
    const example = fileURLToPath(new URL('../../docs/examples/bot.mjs', import.meta.url));
    const r = await keyctl(['exec', 'alpha/arb1', '--fd', '3', '--no-mask', '--', node, example], {
      BOT_BASE_URL: `${w.sandbox.url}/bybit`,
    }).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`bot: bybit accepted key ${fingerprint(w.botKeys.arb1!.apiKey)} (from fd)`);
    for (const f of [...secretForms(w.botKeys.arb1!.secret), w.botKeys.arb1!.apiKey]) expect(r.stdout + r.stderr).not.toContain(f);
  });
});

describe('keyctl issue', () => {
  // The bot gets the token and nothing else of keyctl's: no master key, no config (a local token names its store).
  const runBot = (token: string) => runNode([fixture('bot.mjs')], { env: { KEYCTL_TOKEN: token }, cwd: w.dir });

  it('prints only a single-use token; the bot exchanges it once for the key; the token is in no file', async () => {
    const r = await keyctl(['issue', 'alpha/arb1']).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^kct1\.local\.t1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\n$/);
    const token = r.stdout.trim();
    const first = await runBot(token);
    expect(first.code, first.stderr).toBe(0);
    expect(events(first.stdout)[0]).toMatchObject({
      event: 'start',
      source: 'token',
      fingerprint: fingerprint(w.botKeys.arb1!.apiKey),
      ref: 'alpha/arb1',
      leftover: [],
    });
    const second = await runBot(token);
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(/unknown, already used or expired/);
    for (const f of filesUnder(w.dir)) expect(readFileSync(f).includes(token.split('.').at(-1)!), f).toBe(false);
    // The bot could not write to the audit log (no audit key); its receipt is recorded by the next keyctl command.
    // (`audit tail` reads the file without the key and settles nothing; `audit verify` opens it with the key.)
    expect((await keyctl(['audit', 'verify']).done).code).toBe(0);
    const tail = await keyctl(['audit', 'tail', '--json']).done;
    type Entry = { command: string; ref?: string; outcome: string; detail?: Record<string, unknown> };
    const redeemed = (JSON.parse(tail.stdout) as { entries: Entry[] }).entries.filter((e) => e.command === 'token.redeem');
    expect(redeemed.at(-1)).toMatchObject({ ref: 'alpha/arb1', outcome: 'ok', detail: { outcome: 'redeemed', proof: 'valid' } });
  });

  it('--json gives token, expiry, ref and fingerprint; an expired token is refused; the TTL is bounded', async () => {
    const ttlMs = 1_000;
    const issuedFrom = Date.now();
    const r = await keyctl(['issue', 'alpha/arb1', '--ttl', '1s', '--json']).done;
    const issuedBy = Date.now();
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { token: string; expiresAt: string; ref: string; fingerprint: string };
    expect(out).toMatchObject({ ref: 'alpha/arb1', fingerprint: fingerprint(w.botKeys.arb1!.apiKey) });
    // The expiry is --ttl after some moment while the command ran (same host clock; the slack covers only rounding):
    // exact however long the command took on a loaded machine, and never in the past.
    const SLACK_MS = 5;
    expect(Date.parse(out.expiresAt)).toBeGreaterThanOrEqual(issuedFrom + ttlMs - SLACK_MS);
    expect(Date.parse(out.expiresAt)).toBeLessThanOrEqual(issuedBy + ttlMs + SLACK_MS);
    await new Promise((res) => setTimeout(res, Math.max(0, Date.parse(out.expiresAt) - Date.now() + 100)));
    const late = await runBot(out.token);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toMatch(/unknown, already used or expired/);
    const long = await keyctl(['issue', 'alpha/arb1', '--ttl', '2h']).done;
    expect(long.code).toBe(2);
    expect(long.stdout).toBe('');
  });
});

describe('rotation hand-over', () => {
  it('after keyctl rotate, an exec --fd bot gets the new key on its pipe and acks; an env bot with --restart-on-rotate is restarted with it; the registry follows and is emptied on exit', async () => {
    const oldFp = fingerprint(w.botKeys.arb1!.apiKey);
    const env = { KEYCTL_WATCH_MS: '200' };
    // The test stops both bots with SIGTERM once it has seen what it needs; bot.mjs exits 0 on it from its first line.
    const bot = [node, fixture('bot.mjs')];
    // The piped bot must still run when the test reads the registry (its exit removes its entry): it lingers after its
    // rotation as long as the test may run (vitest's 60 s timeout).
    const piped = keyctl(['exec', 'alpha/arb1', '--fd', '3', '--', ...bot], { ...env, ROTATIONS: '1', LINGER_MS: '60000' });
    const restarted = keyctl(['exec', 'alpha/arb1', '--restart-on-rotate', '--', ...bot], { ...env, WAIT: '1' });
    onTestFinished(async () => {
      // After a failed assertion too: no lingering bot left behind (exec forwards SIGTERM), none writing to the world's
      // store while it is removed.
      for (const r of [piped, restarted]) if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
      await Promise.all([piped.done, restarted.done]);
    });
    await Promise.all([piped.waitFor('"event":"start"'), restarted.waitFor('"event":"start"')]);
    expect(events(piped.stdout())[0]).toMatchObject({ source: 'fd', fingerprint: oldFp, leftover: [], masterKey: false });
    expect(events(restarted.stdout())[0]).toMatchObject({ source: 'env', fingerprint: oldFp, leftover: [], masterKey: false });
    await until(async () => Object.values(await consumers()).filter((c) => c.fingerprint === oldFp).length === 2);
    expect(
      Object.values(await consumers())
        .map((c) => c.mode)
        .sort(),
    ).toEqual(['env', 'fd']);

    const rot = await w.cli(['rotate', 'alpha/arb1', '--json']);
    expect(rot.code, rot.stderr).toBe(0);
    await piped.waitFor('"event":"rotated"');
    const newFp = events(piped.stdout()).find((e) => e.event === 'rotated')!.fingerprint as string;
    expect(newFp).not.toBe(oldFp);
    await restarted.waitFor(new RegExp(`"event":"start".*"fingerprint":"${newFp}"`, 's'));
    await until(async () => {
      const all = Object.values(await consumers());
      return all.length === 2 && all.every((c) => c.fingerprint === newFp && c.ackedAt !== null);
    });

    piped.child.kill('SIGTERM');
    restarted.child.kill('SIGTERM');
    const [rp, rr] = await Promise.all([piped.done, restarted.done]);
    expect(rp.code, rp.stderr).toBe(0);
    expect(events(rp.stdout).map((e) => e.event)).toEqual(['start', 'rotated']);
    expect(rr.code, rr.stderr).toBe(0);
    expect(
      events(rr.stdout)
        .filter((e) => e.event === 'start')
        .map((e) => e.fingerprint),
    ).toEqual([oldFp, newFp]);
    expect(await consumers()).toEqual({});
  });

  // Last in the file: the kill revokes alpha's keys and pauses it for good.
  it('keyctl kill stops a running exec bot within one watch period, exec exits 3, and a new exec is refused until resume', async () => {
    const bot = keyctl(['exec', 'alpha/arb2', '--', node, fixture('bot.mjs')], { KEYCTL_WATCH_MS: '200', WAIT: '1' });
    onTestFinished(async () => {
      if (bot.child.exitCode === null && bot.child.signalCode === null) bot.child.kill('SIGKILL');
      await bot.done;
    });
    await bot.waitFor('"event":"start"');
    const killed = await w.cli(['kill', 'alpha', '--reason', 'drill']);
    expect(killed.code, killed.stderr).toBe(0);
    const started = Date.now();
    const { code, stderr } = await bot.done;
    expect(code).toBe(3);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(stderr).toContain('the slot was paused');
    const again = await w.cli(['exec', 'alpha/arb2', '--', node, '-e', 'console.log("bot started")']);
    expect(again.code).toBe(3);
    expect(again.stdout).not.toContain('bot started');
  });
});
