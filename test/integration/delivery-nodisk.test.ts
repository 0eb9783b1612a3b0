/**
 * The no-disk proof: a canary key goes through every delivery path (exec in env mode, exec --fd with a rotation
 * hand-over, issue + loadCredentials with a token), while this test watches every process's argv; afterwards every
 * file under the working directory, HOME and TMPDIR is scanned. The canary (plain, base64, base64url, hex) must appear
 * nowhere: the only copy at rest is inside the encrypted store, where it is not readable as such.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeWorld, type World } from '../helpers/world.js';
import { filesContaining, filesUnder, secretForms } from '../helpers/scan.js';
import { createStore } from '../../providers/local/index.js';
import { events, FIXTURES, startKeyctl } from './delivery-helpers.js';

let w: World;
let home: string;
let tmp: string;

beforeAll(async () => {
  w = await makeWorld();
  home = mkdtempSync(join(tmpdir(), 'keyctl-nodisk-home-'));
  tmp = mkdtempSync(join(tmpdir(), 'keyctl-nodisk-tmp-'));
});
afterAll(async () => {
  await w?.close();
  for (const d of [home, tmp]) if (d) rmSync(d, { recursive: true, force: true });
});

/** Polls /proc/<pid>/cmdline of every process it can see, collecting any that holds a canary. */
function watchArgv(canaries: () => string[]) {
  const hits: string[] = [];
  let seen = 0;
  let sawKeyctl = false;
  const scan = () => {
    const needles = canaries()
      .flatMap(secretForms)
      .map((f) => Buffer.from(f));
    let pids: string[] = [];
    try {
      pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
    } catch {
      return;
    }
    for (const pid of pids) {
      let cmd: Buffer;
      try {
        cmd = readFileSync(`/proc/${pid}/cmdline`);
      } catch {
        continue; // gone meanwhile
      }
      seen++;
      if (cmd.includes('cli/bin.js')) sawKeyctl = true;
      if (needles.some((n) => cmd.includes(n))) hits.push(`${pid}: ${cmd.toString().replace(/\0/g, ' ').slice(0, 80)}`);
    }
  };
  const timer = setInterval(scan, 20);
  return {
    stop: () => {
      clearInterval(timer);
      scan();
      return { hits, seen, sawKeyctl };
    },
  };
}

it.skipIf(process.platform !== 'linux')(
  'no-disk (needs /proc): the canary key reaches bots through exec, exec --fd with a hand-over, and a token, and is written to no file and no argv',
  async () => {
    const canaries = [w.botKeys.arb1!.secret, w.botKeys.arb1!.apiKey];
    const env = { ...w.env, HOME: home, TMPDIR: tmp };
    const cfg = join(w.dir, 'keyctl.yaml');
    const keyctl = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      startKeyctl(['--config', cfg, ...args], { env: { ...env, ...extra }, cwd: w.dir });
    // Positive controls: a planted value is found by both scans, so a clean result means something.
    const CONTROL = 'FAKE-nodisk-control-value-0001';
    const argv = watchArgv(() => [...canaries, CONTROL]);
    const control = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 400)', CONTROL]);
    writeFileSync(join(tmp, 'control.txt'), Buffer.from(CONTROL).toString('base64'));

    // 1. exec, environment mode (the bot prints its secret: masked).
    const plain = await keyctl(['exec', 'alpha/arb1', '--', process.execPath, join(FIXTURES, 'print-env.mjs')]).done;
    expect(plain.code, plain.stderr).toBe(0);

    // 2. exec --fd, with a rotation handed over on the pipe and acked.
    const piped = keyctl(['exec', 'alpha/arb1', '--fd', '3', '--', process.execPath, join(FIXTURES, 'bot.mjs')], {
      KEYCTL_WATCH_MS: '200',
      ROTATIONS: '1',
      LINGER_MS: '200',
    });
    await piped.waitFor('"event":"start"');
    const rot = await w.cli(['rotate', 'alpha/arb1', '--json'], { env: { HOME: home, TMPDIR: tmp } });
    expect(rot.code, rot.stderr).toBe(0);
    const store = await createStore({ provider: 'local', path: join(w.dir, 'store') }, { env: w.env });
    const rotated = (await store.read('bots/alpha/arb1', { stage: 'CURRENT' })).secret;
    await store.close();
    canaries.push(rotated.secret!, rotated.apiKey!);
    const pr = await piped.done;
    expect(pr.code, pr.stderr).toBe(0);
    expect(events(pr.stdout).map((e) => e.event)).toEqual(['start', 'rotated']);

    // 3. issue + loadCredentials with the token, in a bot with the same HOME and TMPDIR.
    const issued = await keyctl(['issue', 'alpha/arb1']).done;
    expect(issued.code, issued.stderr).toBe(0);
    const bot = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [join(FIXTURES, 'bot.mjs')], {
        cwd: w.dir,
        env: { PATH: process.env.PATH, ...env, KEYCTL_TOKEN: issued.stdout.trim(), KEYCTL_CONFIG: cfg },
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('close', (code) => resolve({ code, out }));
    });
    expect(bot.code).toBe(0);
    expect(events(bot.out)[0]).toMatchObject({ source: 'token', leftover: [] });

    const { hits, seen, sawKeyctl } = argv.stop();
    expect(control.pid).toBeDefined();
    expect(sawKeyctl, 'the argv scan saw the keyctl processes').toBe(true);
    expect(seen).toBeGreaterThan(0);
    expect(hits.length, 'the argv scan found the planted control').toBeGreaterThan(0);
    expect(hits.filter((h) => !h.includes(CONTROL))).toEqual([]);

    // Nothing the bots or keyctl printed holds the key either.
    for (const text of [plain.stdout, plain.stderr, pr.stdout, pr.stderr, issued.stdout, issued.stderr, rot.stdout, rot.stderr, bot.out]) {
      for (const c of canaries) for (const f of secretForms(c)) expect(text).not.toContain(f);
    }
    // Every file under the working dir (store, audit log, config), HOME and TMPDIR.
    const files = [w.dir, home, tmp].flatMap(filesUnder);
    expect(files.some((f) => f.includes(join(w.dir, 'store')))).toBe(true);
    expect(filesContaining(tmp, CONTROL)).toEqual([join(tmp, 'control.txt')]);
    for (const dir of [w.dir, home, tmp]) for (const c of canaries) expect(filesContaining(dir, c), `${dir}`).toEqual([]);
  },
);
