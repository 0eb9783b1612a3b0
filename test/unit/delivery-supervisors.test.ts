/**
 * The same-host channel between keyctl kill and the keyctl exec supervisors (src/delivery/supervisors.ts), with real
 * supervisors (runSupervised), real bots (node processes), real unix sockets, and each test in its own runtime
 * directory (KEYCTL_RUNTIME_DIR). The watch period is a minute, so whatever stops a bot here within seconds is the
 * kill's wake-up, not the poll. Attacks: requests while nothing is paused, a flood of them, a request without the
 * nonce, another store's pause, planted and stale registrations.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCoordination } from '../../providers/memory/coordination.js';
import { MemoryStore } from '../../providers/memory/index.js';
import { runSupervised, type ExecOptions, type ExecResult } from '../../src/delivery/exec.js';
import { readConsumers, registerConsumer } from '../../src/delivery/handover.js';
import { pause, readPause, type PauseRecord } from '../../src/delivery/pause.js';
import { findSupervisors, listenForStop, pidAlive, stopSupervisors, type Registration } from '../../src/delivery/supervisors.js';

const SLOT = 'bots/alpha/arb1';
const KEY = { ref: 'alpha/arb1', apiKey: 'FAKE-api-key-0001', secret: 'FAKE-secret-0001', fingerprint: 'fp-0001', version: 'v1' };

/** A supervisor of SLOT for KEY whose watch is a minute away: within a test, only a kill's wake-up (or the read it makes
 * once reachable) stops its bot. */
function supervisorOf(
  coordination: MemoryCoordination,
  env: NodeJS.ProcessEnv,
  o: Pick<ExecOptions, 'args' | 'stdout' | 'stderr'> & Partial<ExecOptions>,
): ExecOptions {
  return {
    store: new MemoryStore(),
    coordination,
    slotPath: SLOT,
    initial: KEY,
    readCurrent: async () => KEY,
    describeCurrent: async () => ({ version: 'v1' }),
    isPaused: async () => false,
    command: process.execPath,
    envPrefix: 'KEYCTL_',
    mask: true,
    restartOnRotate: false,
    reloadSignal: 'SIGTERM',
    watchMs: 60_000,
    env: { PATH: process.env.PATH, ...env },
    events: { info: () => undefined, warn: () => undefined, handover: () => undefined },
    ...o,
  };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function runtimeBase(): string {
  const dir = mkdtempSync(join(tmpdir(), 'keyctl-rt-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Counts the pause reads a supervisor makes, each taking a store's round trip (50 ms). */
function countingCoordination(): MemoryCoordination & { pauseReads: number } {
  const c = new MemoryCoordination() as MemoryCoordination & { pauseReads: number };
  c.pauseReads = 0;
  const read = c.read.bind(c);
  c.read = (async (key: string) => {
    if (key.startsWith('pause/')) {
      c.pauseReads += 1;
      await new Promise((r) => setTimeout(r, 50));
    }
    return read(key);
  }) as typeof c.read;
  return c;
}

interface Running {
  done: Promise<ExecResult>;
  botPid(): number;
  registration(): Registration;
  warnings: string[];
}

/** A supervisor and its bot (a node process that prints its pid and runs until killed). */
async function supervise(env: NodeJS.ProcessEnv, coordination: MemoryCoordination, slotPath = SLOT): Promise<Running> {
  const out: string[] = [];
  const warnings: string[] = [];
  const { Writable } = await import('node:stream');
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  const done = runSupervised(
    supervisorOf(coordination, env, {
      slotPath,
      args: ['-e', 'console.log("pid " + process.pid); setInterval(() => {}, 1000)'],
      stdout: sink,
      stderr: sink,
      events: { info: () => undefined, warn: (t) => warnings.push(t), handover: () => undefined },
    }),
  );
  const end = Date.now() + 10_000;
  let pid: number | undefined;
  let reg: Registration | undefined;
  while (!(pid && reg)) {
    if (Date.now() > end) throw new Error(`supervisor did not come up: ${warnings.join('; ')}`);
    pid ??= Number(/pid (\d+)/.exec(out.join(''))?.[1]) || undefined;
    reg ??= (await findSupervisors(env)).find(
      (f) => f.registration.pid === process.pid && f.registration.slotPath === slotPath,
    )?.registration;
    await new Promise((r) => setTimeout(r, 20));
  }
  cleanups.push(async () => {
    if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    await done.catch(() => undefined);
  });
  return { done, botPid: () => pid, registration: () => reg, warnings };
}

async function paused(coordination: MemoryCoordination, slotPath = SLOT): Promise<PauseRecord> {
  return pause(coordination, slotPath, { reason: 'incident', by: 'alice' });
}

/** Sends one line to a supervisor's socket and collects its answer lines until it closes. */
function request(socket: string, line: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const conn = createConnection(socket);
    let buf = '';
    conn.on('connect', () => conn.write(`${line}\n`));
    conn.on('data', (d: Buffer) => (buf += d.toString()));
    conn.on('error', reject);
    conn.on('close', () => resolve(buf.split('\n').filter(Boolean)));
  });
}

function sockOf(dir: string): string {
  const name = readdirSync(dir).find((n) => n.endsWith('.sock'));
  if (!name) throw new Error('no socket');
  return join(dir, name);
}

const uid = process.geteuid!();

describe('a kill reaches this host’s supervisors at once', () => {
  it('stops the bot (not at the next watch) and waits for its confirmation; the supervisor exits 3', async () => {
    const env = { KEYCTL_RUNTIME_DIR: runtimeBase() };
    const coordination = new MemoryCoordination();
    const sup = await supervise(env, coordination);
    const record = await paused(coordination);
    const started = performance.now();
    const stops = await stopSupervisors({ coordination, slotPath: SLOT, pause: record, env });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(stops).toEqual([
      expect.objectContaining({ state: 'stopped', pid: process.pid, botPid: sup.botPid(), exit: { code: null, signal: 'SIGTERM' } }),
    ]);
    expect(pidAlive(sup.botPid())).toBe(false);
    expect((await sup.done).exitCode).toBe(3);
    // Unregistered on its way out: the next kill finds nobody to ask.
    expect(await findSupervisors(env)).toEqual([]);
  });

  it('stops a bot whose slot was paused after exec read the pause and before its supervisor could be reached', async () => {
    const env = { KEYCTL_RUNTIME_DIR: runtimeBase() };
    const coordination = new MemoryCoordination();
    // exec read the pause (not paused) before it started the supervisor (src/cli/commands/exec.ts); the kill landed
    // before the supervisor registered or listened, so it found nothing to ask. The watch is a minute away.
    await paused(coordination);
    const started = performance.now();
    const result = await runSupervised(
      supervisorOf(coordination, env, {
        isPaused: async () => (await readPause(coordination, SLOT)) !== null,
        args: ['-e', 'setInterval(() => {}, 1000)'],
        stdout: process.stdout,
        stderr: process.stderr,
      }),
    );
    expect(result).toEqual(expect.objectContaining({ exitCode: 3, signal: 'SIGTERM' }));
    expect(performance.now() - started).toBeLessThan(10_000);
  }, 20_000);

  it('registers in a 0700 directory of its own user, the registration 0600, and nothing secret in it', async () => {
    const base = runtimeBase();
    const sup = await supervise({ KEYCTL_RUNTIME_DIR: base }, new MemoryCoordination());
    const dir = join(base, `keyctl-${uid}`);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const json = readdirSync(dir).find((n) => n.endsWith('.json'))!;
    expect(statSync(join(dir, json)).mode & 0o777).toBe(0o600);
    const text = readFileSync(join(dir, json), 'utf8');
    expect(text).not.toContain(KEY.apiKey);
    expect(text).not.toContain(KEY.secret);
    expect(sup.registration()).toMatchObject({ slotPath: SLOT, pid: process.pid, host: hostname() });
  });

  it('refuses a runtime directory another user could enter: no registration, a warning, the bot still runs', async () => {
    const base = runtimeBase();
    mkdirSync(join(base, `keyctl-${uid}`), { mode: 0o755 });
    chmodSync(join(base, `keyctl-${uid}`), 0o755);
    const coordination = new MemoryCoordination();
    const out: string[] = [];
    const { PassThrough } = await import('node:stream');
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => out.push(d.toString()));
    const warnings: string[] = [];
    const done = runSupervised(
      supervisorOf(
        coordination,
        {},
        {
          args: ['-e', 'setTimeout(() => {}, 300)'],
          mask: false,
          // Only this base: the others (XDG, /tmp) are not offered.
          env: { PATH: process.env.PATH, KEYCTL_RUNTIME_DIR: base, TMPDIR: base },
          stdout: sink,
          stderr: sink,
          events: { info: () => undefined, warn: (t) => warnings.push(t), handover: () => undefined },
        },
      ),
    );
    expect((await done).exitCode).toBe(0);
    expect(warnings.join('\n')).toMatch(/no wake-up channel for keyctl kill.*open to other users/);
    expect(readdirSync(join(base, `keyctl-${uid}`))).toEqual([]);
  });
});

describe('it cannot be turned against a supervisor', () => {
  it('a request (even a flood of them) while the slot is not paused stops nothing and costs a bounded number of reads', async () => {
    const env = { KEYCTL_RUNTIME_DIR: runtimeBase() };
    const coordination = countingCoordination();
    const sup = await supervise(env, coordination);
    const socket = sockOf(join(env.KEYCTL_RUNTIME_DIR, `keyctl-${uid}`));
    const line = JSON.stringify({ type: 'stop', slotPath: SLOT, nonce: sup.registration().nonce });
    const answers = await Promise.all(Array.from({ length: 40 }, () => request(socket, line).catch(() => ['dropped'])));
    // Turned away beyond the connection limit, or told "not paused": never "stopping".
    expect(answers.flat().every((a) => a === 'dropped' || JSON.parse(a).type === 'not-paused')).toBe(true);
    expect(answers.flat().filter((a) => a !== 'dropped').length).toBeGreaterThan(0);
    // Requests that arrive while a read is under way share the next one.
    expect(coordination.pauseReads).toBeLessThanOrEqual(6);
    expect(pidAlive(sup.botPid())).toBe(true);
  });

  it('a request without the nonce, or for another slot, is refused without reading anything', async () => {
    const env = { KEYCTL_RUNTIME_DIR: runtimeBase() };
    const coordination = countingCoordination();
    const sup = await supervise(env, coordination);
    await paused(coordination);
    const socket = sockOf(join(env.KEYCTL_RUNTIME_DIR, `keyctl-${uid}`));
    const reads = coordination.pauseReads;
    for (const line of [
      JSON.stringify({ type: 'stop', slotPath: SLOT, nonce: 'guessed' }),
      JSON.stringify({ type: 'stop', slotPath: 'bots/beta/mm', nonce: sup.registration().nonce }),
      'not json',
    ]) {
      const [answer] = await request(socket, line);
      expect(JSON.parse(answer!)).toMatchObject({ type: 'refused' });
    }
    expect(coordination.pauseReads).toBe(reads);
    expect(pidAlive(sup.botPid())).toBe(true);
  });

  it("another store's supervisor of a slot with the same name is asked but not counted; a paused one is not this kill's", async () => {
    const env = { KEYCTL_RUNTIME_DIR: runtimeBase() };
    const ours = new MemoryCoordination();
    const theirs = new MemoryCoordination();
    const other = await supervise(env, theirs);
    // Not paused in its store: it keeps running, and the kill of our store reports nothing for it.
    expect(await stopSupervisors({ coordination: ours, slotPath: SLOT, pause: await paused(ours), env })).toEqual([]);
    expect(pidAlive(other.botPid())).toBe(true);
    // Paused in its own store too (another kill): it stops, but that confirmation names another pause.
    await paused(theirs);
    expect(
      await stopSupervisors({ coordination: ours, slotPath: SLOT, pause: (await ours.read<PauseRecord>('pause/alpha/arb1'))!.value, env }),
    ).toEqual([]);
    expect((await other.done).exitCode).toBe(3);
  });

  it('a planted registration of a dead (or reused) pid is removed, never asked', async () => {
    const base = runtimeBase();
    const env = { KEYCTL_RUNTIME_DIR: base };
    const dir = join(base, `keyctl-${uid}`);
    mkdirSync(dir, { mode: 0o700 });
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.once('exit', r));
    const plant = (name: string, pid: number, procStart: string | null) =>
      writeFileSync(
        join(dir, `${name}.json`),
        JSON.stringify({ v: 1, execId: 'x', slotPath: SLOT, host: hostname(), pid, procStart, startedAt: '', nonce: 'n' }),
        { mode: 0o600 },
      );
    plant(`${dead.pid}-aaaaaaaaaaaa`, dead.pid!, null);
    // A live pid whose start time is not the registered one: the pid was reused.
    plant(`${process.pid}-bbbbbbbbbbbb`, process.pid, '1');
    expect(await findSupervisors(env)).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toEqual([]);
  });
});

describe('supervisors the kill cannot ask', () => {
  it('another host’s are told; a dead one’s leftover is cleaned; a live one here without a registration is waited for', async () => {
    const env = { KEYCTL_RUNTIME_DIR: runtimeBase() };
    const coordination = new MemoryCoordination();
    const record = await paused(coordination);
    const consumer = (host: string, pid: number) => ({ host, pid, startedAt: '', fingerprint: null, ackedAt: null });
    await registerConsumer(coordination, SLOT, 'remote', consumer('bot-host-2', 4242));
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.once('exit', r));
    await registerConsumer(coordination, SLOT, 'dead', consumer(hostname(), dead.pid!));
    // A live process that looks like `keyctl exec alpha/arb1` but registered no wake-up channel (another runtime dir).
    const quiet: ChildProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)', 'exec', 'alpha/arb1']);
    cleanups.push(() => void quiet.kill('SIGKILL'));
    await registerConsumer(coordination, SLOT, 'quiet', consumer(hostname(), quiet.pid!));
    const stops = await stopSupervisors({ coordination, slotPath: SLOT, pause: record, env, timeoutMs: 500 });
    expect(stops).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ execId: 'remote', state: 'told', host: 'bot-host-2' }),
        expect.objectContaining({ execId: 'quiet', state: 'unconfirmed' }),
      ]),
    );
    expect(stops).toHaveLength(2);
    expect(Object.keys(await readConsumers(coordination, SLOT)).sort()).toEqual(['quiet', 'remote']);
    // Once it has exited (its own watch stopped it), the next kill counts it as stopped.
    const exited = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 300)', 'exec', 'alpha/arb1']);
    await registerConsumer(coordination, SLOT, 'exiting', consumer(hostname(), exited.pid!));
    quiet.kill('SIGKILL');
    await new Promise((r) => quiet.once('exit', r));
    const again = await stopSupervisors({ coordination, slotPath: SLOT, pause: record, env, timeoutMs: 5_000 });
    expect(again.find((s) => s.execId === 'exiting')).toMatchObject({ state: 'exited' });
    expect(again.find((s) => s.execId === 'quiet')).toBeUndefined();
  });

  it('listenForStop refuses when no runtime directory can be secured', async () => {
    const file = join(runtimeBase(), 'not-a-dir');
    writeFileSync(file, '');
    await expect(
      listenForStop({
        env: { KEYCTL_RUNTIME_DIR: file, XDG_RUNTIME_DIR: file, TMPDIR: file },
        execId: 'x',
        slotPath: SLOT,
        startedAt: '',
        handler: { requestStop: async () => ({ pause: null, botPid: null }), stopped: new Promise(() => undefined) },
      }),
    ).rejects.toThrow();
  });
});
