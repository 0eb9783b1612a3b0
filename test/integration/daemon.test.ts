/**
 * `keyctl daemon` as an operator runs it: two real daemon processes on one local store and the exchange sandbox.
 * A key whose withdrawals are switched on at the exchange is alerted once (violation.found, on the webhook) and
 * replaced by exactly one new, clean key; /healthz, /readyz and /metrics answer; SIGTERM stops both cleanly; a
 * SIGKILLed leader is replaced by the standby within its lease.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/alert-receivers.js';
import { makeWorld, type World } from '../helpers/world.js';

interface Daemon {
  child: ChildProcessWithoutNullStreams;
  lines: Array<Record<string, unknown>>;
  stdout: () => string;
  exited: Promise<number | null>;
}

let w: World;
let hook: WebhookReceiver;
const daemons: Daemon[] = [];

function startDaemon(): Daemon {
  const child = spawn(
    process.execPath,
    [BIN, '--config', join(w.dir, 'keyctl.yaml'), 'daemon', '--interval', '1s', '--lease', '3s', '--listen', '127.0.0.1:0'],
    {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, KEYCTL_ACTOR: 'test-daemon', ...w.env, KEYCTL_PROPAGATION_WAIT_MS: '2000' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  child.stdin.end();
  let out = '';
  const lines: Array<Record<string, unknown>> = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const parts = out.split('\n');
    out = parts.pop() ?? '';
    for (const p of parts) if (p.trim()) lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  let all = '';
  child.stderr.on('data', (d: Buffer) => (all += d.toString()));
  const d: Daemon = {
    child,
    lines,
    stdout: () => `${lines.map((l) => JSON.stringify(l)).join('\n')}\n${all}`,
    exited: new Promise((resolve) =>
      child.on('close', (code, sig) => {
        if (sig) all += `\n(killed by ${sig})`;
        resolve(code);
      }),
    ),
  };
  daemons.push(d);
  return d;
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await probe();
    if (got !== undefined && got !== false) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const said = (d: Daemon, msg: string) => d.lines.find((l) => l.msg === msg);
const urlOf = (d: Daemon) => until('listening', () => said(d, 'listening')?.url as string | undefined);

beforeAll(async () => {
  w = await makeWorld();
  hook = await webhookReceiver();
  // The imported keys are unsafe (transfer, the world's careless human): start from clean, rotated keys.
  const rotated = await w.cli(['rotate', 'alpha', '--grace', '0s']);
  expect(rotated.code, rotated.stderr).toBe(0);
  const file = join(w.dir, 'keyctl.yaml');
  const text = readFileSync(file, 'utf8')
    .replaceAll('rotate: { every: P30D', 'verify: { every: PT1S }\n        rotate: { every: P30D')
    .concat(`alerts:\n  ops: { type: webhook, url: "${hook.url}", minSeverity: info }\n`);
  writeFileSync(file, text);
}, 60_000);

afterAll(async () => {
  for (const d of daemons) if (d.child.exitCode === null) d.child.kill('SIGKILL');
  await hook?.close();
  await w?.close();
});

describe('keyctl daemon', () => {
  it('three daemons, one leader: drift at the exchange is alerted once and the key replaced once; SIGTERM stops all', async () => {
    const a = startDaemon();
    const b = startDaemon();
    const c = startDaemon();
    const [urlA, urlB] = await Promise.all([urlOf(a), urlOf(b), urlOf(c)]);
    await until('a leader', () => said(a, 'leading') ?? said(b, 'leading') ?? said(c, 'leading'));
    expect([a, b, c].filter((d) => said(d, 'leading'))).toHaveLength(1);
    const [arb1] = await w.keysAt(w.subs.arb1!);
    expect(arb1).toBeDefined();

    await w.sandbox.admin.tamper(arb1!.apiKey, { withdraw: true });
    // Replaced: one key alive at the exchange, not the tampered one.
    await until('the replacement', async () => {
      const keys = await w.keysAt(w.subs.arb1!);
      return keys.length === 1 && keys[0]!.apiKey !== arb1!.apiKey ? true : undefined;
    });
    // Alerted: then resolved once the new key verifies clean.
    await until('the resolution', () => hook.valid.find((r) => (r.json as { event: string }).event === 'violation.resolved'));
    const alerts = hook.valid.map((r) => r.json as { event: string; ref: string; codes: string[]; summary: string });
    const found = alerts.filter((x) => x.event === 'violation.found' && x.ref === 'alpha/arb1');
    expect(found).toHaveLength(1);
    expect(found[0]!.codes).toContain('WITHDRAW_ENABLED');
    expect(hook.requests.every((r) => r.problems.length === 0)).toBe(true);
    // No secret in any alert body.
    for (const r of hook.requests) {
      expect(r.body).not.toContain(arb1!.apiKey);
      for (const k of Object.values(w.botKeys)) expect(r.body).not.toContain(k.secret);
    }
    // Exactly one replacement, by whichever daemon led.
    const audit = await w.cli(['audit', 'tail', '-n', '500', '--json']);
    const started = (
      JSON.parse(audit.stdout) as { entries: Array<{ command: string; ref?: string; detail?: { reason?: string } }> }
    ).entries.filter((e) => e.command === 'rotate.start' && e.ref === 'alpha/arb1' && String(e.detail?.reason).startsWith('violation:'));
    expect(started).toHaveLength(1);

    const health = await fetch(`${urlA}/healthz`);
    expect(health.status).toBe(200);
    expect((await fetch(`${urlB}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${urlA}/metrics`)).text();
    expect(metrics).toMatch(/^keyctl_leader [01]$/m);
    // The leader's metrics: its exchange calls, its alert deliveries, the verification of the replaced slot.
    const leader = [a, b, c].find((d) => said(d, 'leading'))!;
    const leaderUrl = await urlOf(leader);
    const led = await (await fetch(`${leaderUrl}/metrics`)).text();
    expect(led).toMatch(/^keyctl_exchange_request_duration_seconds_count\{exchange="bybit",operation="inspect"\} [1-9]/m);
    expect(led).toMatch(/^keyctl_alerts_total\{channel="ops",outcome="sent"\} [1-9]/m);
    expect(led).toMatch(/^keyctl_verification_ok\{ref="alpha\/arb1"\} 1$/m);

    for (const d of [a, b, c]) d.child.kill('SIGTERM');
    const codes = await Promise.all([a.exited, b.exited, c.exited]);
    expect(codes, a.stdout() + b.stdout() + c.stdout()).toEqual([0, 0, 0]);
    expect(said(a, 'daemon stopped')).toBeDefined();
  }, 90_000);

  it('SIGHUP: a broken config is refused and alerted, the daemon keeps running; a valid one is taken up', async () => {
    const file = join(w.dir, 'keyctl.yaml');
    const good = readFileSync(file, 'utf8');
    const d = startDaemon();
    await urlOf(d);
    await until('a cycle', () => said(d, 'cycle done'));
    writeFileSync(file, good.replace('scopes: [', 'scopes: [withdraw, '));
    d.child.kill('SIGHUP');
    await until('the refusal', () => said(d, 'config reload refused: the running config stays'));
    await until('the alert', () => hook.valid.find((r) => (r.json as { event: string }).event === 'config.invalid'));
    const cycles = d.lines.filter((l) => l.msg === 'cycle done').length;
    await until('another cycle on the old config', () =>
      d.lines.filter((l) => l.msg === 'cycle done').length > cycles ? true : undefined,
    );

    writeFileSync(file, good);
    d.child.kill('SIGHUP');
    await until('the reload', () => said(d, 'reloading the config'));
    await until('a second start', () => (d.lines.filter((l) => l.msg === 'daemon started').length === 2 ? true : undefined));
    d.child.kill('SIGTERM');
    expect(await d.exited, d.stdout()).toBe(0);
  }, 60_000);

  it('a SIGKILLed leader is replaced by the standby within its lease', async () => {
    const a = startDaemon();
    const b = startDaemon();
    await Promise.all([urlOf(a), urlOf(b)]);
    const leader = await until('a leader', () => (said(a, 'leading') ? a : said(b, 'leading') ? b : undefined));
    const standby = leader === a ? b : a;
    leader.child.kill('SIGKILL');
    const killedAt = Date.now();
    await until('the standby to lead', () => said(standby, 'leading'), 15_000);
    // Lease 3 s + one 1 s tick, with room for a loaded machine.
    expect(Date.now() - killedAt).toBeLessThan(10_000);
    standby.child.kill('SIGTERM');
    expect(await standby.exited, standby.stdout()).toBe(0);
  }, 60_000);
});
