/**
 * keyctl kill reaching this host's `keyctl exec` supervisors, attacked from a bot under another user (the boundary
 * docs/threat-model.md recommends). A hostile bot of alpha/arb2 under `--user nobody` tries to use the wake-up channel
 * against alpha/arb1's supervisor: list the runtime directory, read its registration (and nonce), connect to its socket,
 * signal it. Every attempt fails, alpha/arb1's bot keeps running, and a kill then stops both at once (their watch
 * period here is a minute) and reports both confirmed.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { findSupervisors } from '../../src/delivery/supervisors.js';
import { makeWorld, type World } from '../helpers/world.js';
import { events, FIXTURES, startKeyctl } from './delivery-helpers.js';

const rootOnLinux = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('id', ['-u', 'nobody']).status === 0;
const CLIENT = pathToFileURL(join(process.cwd(), 'dist/src/index.js')).href;

/** Reports what it could reach of another bot's supervisor, then runs until stopped. */
const HOSTILE = `
import { readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { loadCredentials } from ${JSON.stringify(CLIENT)};
await loadCredentials();
process.on('SIGTERM', () => process.exit(0));
const attempt = (f) => { try { f(); return 'READ'; } catch (e) { return e.code; } };
const connect = (path) => new Promise((resolve) => {
  const c = createConnection(path);
  c.on('connect', () => { c.write(JSON.stringify({ type: 'stop', slotPath: 'bots/alpha/arb1', nonce: 'guess' }) + '\\n'); c.destroy(); resolve('CONNECTED'); });
  c.on('error', (e) => resolve(e.code));
});
console.log(JSON.stringify({
  event: 'start',
  dir: attempt(() => readdirSync(process.env.TARGET_DIR)),
  registration: attempt(() => readFileSync(process.env.TARGET_REGISTRATION)),
  socket: await connect(process.env.TARGET_SOCKET),
  signal: attempt(() => process.kill(Number(process.env.TARGET_PID), 0)),
}));
setInterval(() => {}, 1000);
`;

let w: World;
let base: string;
let botDir: string;

beforeAll(async () => {
  w = await makeWorld();
  chmodSync(w.dir, 0o711);
  base = mkdtempSync(join(tmpdir(), 'keyctl-kill-rt-'));
  chmodSync(base, 0o755);
  botDir = mkdtempSync(join(tmpdir(), 'keyctl-kill-bot-'));
  chmodSync(botDir, 0o755);
  writeFileSync(join(botDir, 'hostile.mjs'), HOSTILE, { mode: 0o644 });
}, 60_000);
afterAll(async () => {
  for (const d of [base, botDir]) if (d) rmSync(d, { recursive: true, force: true });
  await w?.close();
});

describe.runIf(rootOnLinux)('kill and the supervisors on this host, against a bot under another user', () => {
  it('the hostile bot reaches nothing of another supervisor; a kill stops both bots at once and confirms both', async () => {
    const env = { ...w.env, KEYCTL_WATCH_MS: '60000', KEYCTL_RUNTIME_DIR: base };
    const exec = (ref: string, args: string[], extra: NodeJS.ProcessEnv = {}) => {
      const running = startKeyctl(['--config', join(w.dir, 'keyctl.yaml'), 'exec', ref, ...args], {
        env: { ...env, ...extra },
        cwd: w.dir,
      });
      onTestFinished(async () => {
        if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGKILL');
        await running.done;
      });
      return running;
    };
    const victim = exec('alpha/arb1', ['--', process.execPath, join(FIXTURES, 'bot.mjs')], { WAIT: '1' });
    await victim.waitFor('"event":"start"');
    const target = (await findSupervisors({ KEYCTL_RUNTIME_DIR: base })).find((f) => f.registration.slotPath === 'bots/alpha/arb1');
    expect(target).toBeDefined();

    const hostile = exec('alpha/arb2', ['--user', 'nobody', '--', process.execPath, join(botDir, 'hostile.mjs')], {
      TARGET_DIR: join(base, 'keyctl-0'),
      TARGET_REGISTRATION: target!.path,
      TARGET_SOCKET: target!.socket,
      TARGET_PID: String(target!.registration.pid),
    });
    await hostile.waitFor('"event":"start"');
    const report = events(hostile.stdout()).find((e) => e.event === 'start');
    expect(report).toEqual({ event: 'start', dir: 'EACCES', registration: 'EACCES', socket: 'EACCES', signal: 'EPERM' });
    // alpha/arb1's bot is untouched.
    expect(victim.child.exitCode).toBeNull();
    await new Promise((r) => setTimeout(r, 300));
    expect(victim.child.exitCode).toBeNull();

    const started = performance.now();
    const killed = await w.cli(['kill', 'alpha', '--reason', 'incident', '--json'], { env: { KEYCTL_RUNTIME_DIR: base } });
    expect(killed.code, `${killed.stdout}\n${killed.stderr}`).toBe(0);
    expect(performance.now() - started).toBeLessThan(30_000);
    const kills = killed.json<{ kills: Array<{ ref: string; bots: Array<{ state: string; pid: number }> }> }>().kills;
    expect(kills.map((k) => [k.ref, k.bots.map((b) => b.state)])).toEqual([
      ['alpha/arb1', ['stopped']],
      ['alpha/arb2', ['stopped']],
    ]);
    expect((await victim.done).code).toBe(3);
    expect((await hostile.done).code).toBe(3);
  }, 90_000);
});
