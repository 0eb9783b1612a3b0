/**
 * Shared pieces of the rotation fault tests (test/faults/rotation-*.test.ts): a bybit world whose CLI runs are
 * throttled (the fault files run their cases concurrently on a 2-core machine), an in-process view of the slot as the
 * store and the sandbox see it, and the invariants every fault test asserts once the re-run has finished.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CoordinationStore } from '../../../providers/coordination.js';
import * as local from '../../../providers/local/index.js';
import { readPause } from '../../../src/delivery/pause.js';
import type { SecretStore, Stage } from '../../../providers/types.js';
import { openAuditLog } from '../../../src/audit/log.js';
import type { AuditEntry } from '../../../src/audit/types.js';
import { loadAuditKey } from '../../../src/audit/key.js';
import { loadConfig } from '../../../src/config/load.js';
import { fromSecretFields } from '../../../src/domain/credentials.js';
import { checkKey } from '../../../src/app/check-key.js';
import { getAdapter } from '../../../src/exchanges/registry.js';
import { readJournal, type JournalEntry } from '../../../src/rotation/journal.js';
import { stoppedMarker, type AnyFailpoint, type Failpoint } from '../../../src/rotation/failpoints.js';
import { assertBuilt, BIN, type CliResult } from '../../helpers/cli.js';
import { CLIENT_IP, makeWorld, type World, type WorldOptions } from '../../helpers/world.js';

declare module 'vitest' {
  interface TaskMeta {
    /** What a fault case ended in, for the table `npm run test:faults` prints (helpers/table-reporter.ts). */
    faultOutcome?: string;
  }
}

export const REF = 'alpha/arb1';
export const SLOT_PATH = 'bots/alpha/arb1';
/** Short lease so a killed run frees the slot in 1.5 s instead of 30 s. */
export const LEASE_MS = 1500;

/**
 * At most this many keyctl child processes at once per test file. Each one imports ccxt (~1.5 s of CPU); more than
 * this on two cores only slows every run down.
 */
const MAX_CHILDREN = 4;
let running = 0;
const waiting: Array<() => void> = [];

async function throttled<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_CHILDREN) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  try {
    return await fn();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A world for fault tests: bybit, short lease. */
export async function faultWorld(options: WorldOptions = {}): Promise<World> {
  return makeWorld({ ...options, env: { KEYCTL_LEASE_MS: String(LEASE_MS), ...options.env } });
}

/** Runs `keyctl <args>` as a child process, waiting for a free child slot first. */
export function cli(w: World, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return throttled(() => w.cli(args, { env }));
}

export interface RotateJson {
  results: Array<{
    ref: string;
    status: string;
    resumed: boolean;
    orphansDeleted: number;
    previousRevoked: boolean;
    newFingerprint?: string;
  }>;
  failures: Array<{ ref: string; code: string; message: string }>;
}

/** `keyctl rotate alpha/arb1 --grace 0s --json`. */
export function rotate(w: World, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return cli(w, ['rotate', REF, '--grace', '0s', '--json'], env);
}

/**
 * The re-run after a fault: repeats while another run still holds the slot (exit 6, ROTATION_IN_PROGRESS: a killed
 * run's lease has not expired yet), which is exactly what an operator or cron would do.
 */
export async function rerun(w: World, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  for (let attempt = 1; ; attempt++) {
    const r = await rotate(w, env);
    const inProgress = r.code === 6 && parseRotate(r)?.failures.some((f) => f.code === 'ROTATION_IN_PROGRESS');
    if (!inProgress || attempt >= 5) return r;
    await sleep(LEASE_MS / 2);
  }
}

export function parseRotate(r: CliResult): RotateJson | undefined {
  try {
    return r.json<RotateJson>();
  } catch {
    return undefined;
  }
}

/** Opens the world's store in this process (the CLI's children open it the same way). */
export async function openStore(w: World): Promise<SecretStore> {
  const config = w.storeConfig;
  // The AWS SDK is loaded only by the worlds that use it.
  if (config.provider === 'aws') return (await import('../../../providers/aws/index.js')).createStore(config, {});
  return local.createStore(config, { env: { KEYCTL_MASTER_KEY: w.env.KEYCTL_MASTER_KEY } });
}

/** The coordination store (leases, journals, pauses) that goes with the world's store, as the CLI opens it. */
export async function openCoordination(w: World, store: SecretStore): Promise<CoordinationStore> {
  const config = w.storeConfig;
  if (config.provider === 'aws') return (await import('../../../providers/aws/index.js')).createCoordination(config, store, {});
  return local.createCoordination(config, store, {});
}

export async function withStore<T>(w: World, fn: (store: SecretStore) => Promise<T>): Promise<T> {
  const store = await openStore(w);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export interface StoredVersion {
  id: string;
  stages: Stage[];
  apiKey: string;
  rotationId?: string;
}

/** The slot as the store holds it: its live (not destroyed) versions with their api keys, and its journal. */
export interface SlotState {
  current: StoredVersion | undefined;
  live: StoredVersion[];
  /** Versions whose material was dropped (revoked or discarded). */
  destroyed: number;
  journal: JournalEntry | null;
  /** Whether the journal's store path exists at all (it must not once a rotation is finished). */
  journalExists: boolean;
}

export async function slotState(w: World): Promise<SlotState> {
  return withStore(w, async (store) => {
    const info = await store.describe(SLOT_PATH);
    const live: StoredVersion[] = [];
    for (const v of info?.versions ?? []) {
      if (v.destroyed) continue;
      const { apiKey } = fromSecretFields((await store.read(SLOT_PATH, { version: v.id })).secret);
      live.push({ id: v.id, stages: v.stages, apiKey, ...(v.meta.rotationId ? { rotationId: v.meta.rotationId } : {}) });
    }
    // The journal lives in the store's coordination files, as the CLI keeps it.
    const coordination = await openCoordination(w, store);
    const journal = (await readJournal(coordination, SLOT_PATH))?.entry ?? null;
    return {
      current: live.find((v) => v.stages.includes('CURRENT')),
      live,
      destroyed: (info?.versions ?? []).filter((v) => v.destroyed).length,
      journal,
      journalExists: journal !== null,
    };
  });
}

/** Api keys alive at the sandbox for the slot's sub-account. */
export async function keysAtSlot(w: World) {
  return w.keysAt(w.subs.arb1!);
}

/** The api keys of every live (not destroyed) version the store holds, over every slot of the world. */
export async function heldEverywhere(w: World): Promise<Set<string>> {
  return withStore(w, async (store) => {
    const held = new Set<string>();
    for (const path of ['bots/alpha/arb1', 'bots/alpha/arb2']) {
      for (const v of (await store.describe(path))?.versions ?? []) {
        if (!v.destroyed) held.add(fromSecretFields((await store.read(path, { version: v.id })).secret).apiKey);
      }
    }
    return held;
  });
}

/**
 * Labels of the keyctl-labelled keys alive at the sandbox under the master's main account or ANY of its sub-accounts
 * (each world has a sandbox of its own) that the store does not hold: a key created under the wrong sub-account by
 * mistake is found too, not only one in the slot's sub-account.
 */
export async function untrackedLabelledEverywhere(w: World): Promise<string[]> {
  const held = await heldEverywhere(w);
  const everywhere = await w.sandbox.admin.listKeys({ exchange: w.profile.exchange });
  return everywhere
    .filter((k) => k.label?.startsWith('keyctl-') && !held.has(k.apiKey))
    .map((k) => `${k.label} (owner ${k.owner})`)
    .sort();
}

/** The audit commands a rotation (and a revoke) writes, counted per ref by {@link auditCounts}. */
export const AUDITED = [
  'rotate.start',
  'rotate.create',
  'rotate.test',
  'rotate.promote',
  'rotate.revoke',
  'rotate.discard',
  'rotate.sweep',
  'revoke',
] as const;
export type AuditCounts = Record<(typeof AUDITED)[number], number>;

/** What one uninterrupted rotation with no grace writes, each exactly once. */
export const ONE_ROTATION: AuditCounts = {
  'rotate.start': 1,
  'rotate.create': 1,
  'rotate.test': 1,
  'rotate.promote': 1,
  'rotate.revoke': 1,
  'rotate.discard': 0,
  'rotate.sweep': 0,
  revoke: 0,
};

/** Every entry of the world's audit log (oldest first). */
export async function auditEntries(w: World): Promise<AuditEntry[]> {
  const config = loadConfig(join(w.dir, 'keyctl.yaml')).config;
  return withStore(w, async (store) => openAuditLog({ path: config.auditPath, key: await loadAuditKey(store) }).tail(100_000));
}

/** How many entries of each {@link AUDITED} command the audit log holds for `ref`. */
export async function auditCounts(w: World, ref = REF): Promise<AuditCounts> {
  const entries = (await auditEntries(w)).filter((e) => e.ref === ref);
  return Object.fromEntries(AUDITED.map((c) => [c, entries.filter((e) => e.command === c).length])) as AuditCounts;
}

/**
 * Each fingerprint the log records a step for, at most once per step: a re-run that recorded a step the crashed run
 * had already recorded shows up here (`rotate.create abcd1234 x2`).
 */
export async function auditDuplicates(w: World, ref = REF): Promise<string[]> {
  const seen = new Map<string, number>();
  for (const e of (await auditEntries(w)).filter((x) => x.ref === ref && x.fingerprint)) {
    if (!(AUDITED as readonly string[]).includes(e.command)) continue;
    const k = `${e.command} ${e.fingerprint} ${e.outcome}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([k, n]) => `${k} x${n}`);
}

/**
 * Loads the bybit adapter and ccxt (which the adapter imports lazily) into this process up front: the first in-process
 * check would otherwise block the event loop, and with it every in-process sandbox the CLI children are talking to,
 * for a second or more.
 */
export async function warmUp(): Promise<void> {
  await getAdapter('bybit');
  await import('ccxt');
}

export interface InvariantOptions {
  /**
   * The audit entries the case must have left for the slot, per command ({@link auditCounts}): each step that happened
   * recorded exactly once. Also checked whenever given: no step recorded twice for the same key.
   */
  audit?: AuditCounts;
  /** The case changed the other slot on purpose (a kill of the whole bot): skip the check that it is untouched. */
  otherSlotChanged?: boolean;
}

/**
 * What every fault test asserts after the re-run:
 *  (a) exactly one CURRENT version, a new key (not the hand-made one the world started with), which passes the key
 *      policy when inspected at the sandbox with its own credentials, and whose harmless signed call succeeds;
 *  (b) every key alive at the sandbox for the sub-account is held by the store, and no keyctl-labelled key the store
 *      does not hold is alive under ANY sub-account of the master (or the main account);
 *  (c) grace 0s is over: the store holds one live version and the sandbox one key, the same one;
 *  (d) the audit chain verifies, and (with `audit`) holds exactly the expected entries for the slot;
 *  (e) no rotation journal is left.
 * The other slot's key is untouched. Returns the CURRENT api key.
 */
export async function assertInvariants(w: World, options: InvariantOptions = {}): Promise<string> {
  const state = await slotState(w);
  const config = loadConfig(join(w.dir, 'keyctl.yaml')).config;

  // (a) one CURRENT, new, passing policy and working.
  expect(
    state.live.filter((v) => v.stages.includes('CURRENT')),
    'exactly one CURRENT version',
  ).toHaveLength(1);
  const current = state.current!;
  expect(current.apiKey, 'CURRENT is a key the rotation made').not.toBe(w.botKeys.arb1!.apiKey);
  const credentials = await withStore(w, async (store) => fromSecretFields((await store.read(SLOT_PATH, { stage: 'CURRENT' })).secret));
  const checked = await withStore(w, (store) =>
    checkKey({ inventory: config, store, adapter: getAdapter, call: {} }, { key: REF, credentials }),
  );
  expect(checked.violations, 'CURRENT passes the key policy at the sandbox').toEqual([]);
  const account = config.accounts.main!;
  await (
    await getAdapter(w.profile.exchange)
  ).ping({ account: { name: account.name, exchange: account.exchange, baseUrl: account.baseUrl! }, key: credentials });

  // (b) nothing alive at the exchange that the store does not hold; labelled keys first, for a clearer failure.
  const atSandbox = await keysAtSlot(w);
  const held = new Set(state.live.map((v) => v.apiKey));
  const untrackedLabelled = atSandbox.filter((k) => k.label?.startsWith('keyctl-') && !held.has(k.apiKey)).map((k) => k.label);
  expect(untrackedLabelled, 'keyctl-labelled keys alive at the sandbox that the store does not hold').toEqual([]);
  expect(
    atSandbox.filter((k) => !held.has(k.apiKey)).map((k) => k.label),
    'untracked keys alive at the sandbox',
  ).toEqual([]);
  expect(await untrackedLabelledEverywhere(w), 'keyctl-labelled keys alive under any account of the master, not in the store').toEqual([]);

  // (c) grace is over: one key at the exchange, the CURRENT one, IP-locked; nothing else live in the store.
  expect(
    atSandbox.map((k) => k.apiKey),
    'keys alive at the sandbox for the sub-account',
  ).toEqual([current.apiKey]);
  expect(atSandbox[0]!.ips).toEqual([CLIENT_IP]);
  expect(atSandbox[0]!.label).toMatch(/^keyctl-[0-9a-f]{12}$/);
  expect(
    state.live.map((v) => v.stages),
    'live versions in the store',
  ).toEqual([['CURRENT']]);

  // (d) the audit chain verifies.
  const report = await withStore(w, async (store) => openAuditLog({ path: config.auditPath, key: await loadAuditKey(store) }).verify());
  expect(report.problems, 'audit chain problems').toEqual([]);
  expect(report.ok).toBe(true);
  if (options.audit) {
    expect(await auditCounts(w), 'audit entries for the slot').toEqual(options.audit);
    expect(await auditDuplicates(w), 'steps recorded twice for the same key').toEqual([]);
  }

  // (e) no journal left.
  expect(state.journal, 'journal entry').toBeNull();
  expect(state.journalExists, 'journal record exists').toBe(false);

  // The other slot was never touched.
  if (!options.otherSlotChanged) expect((await w.keysAt(w.subs.arb2!)).map((k) => k.apiKey)).toEqual([w.botKeys.arb2!.apiKey]);
  return current.apiKey;
}

/** A keyctl child process stopped at a failpoint (`KEYCTL_FAILPOINT=<name>:stop`, src/rotation/failpoints.ts). */
export interface StoppedRun {
  pid: number;
  /** SIGCONT: the run goes on from its failpoint. */
  resume(): void;
  /** SIGKILL, as a crash at the failpoint would end it (also the clean-up of a run a failed test left stopped). */
  kill(): void;
  /** Whether the process has ended. */
  ended(): boolean;
  /** The run's end: exit code and output. */
  result: Promise<CliResult>;
}

/**
 * Starts `keyctl <args>` with `KEYCTL_FAILPOINT=<failpoint>:stop` and resolves once the process has stopped there: its
 * marker line is on stderr and (on Linux) /proc says it is stopped. Rejects if it ends before. Counts against the
 * child limit only until it stops: a stopped process costs no CPU, and the commands raced against it need their turn.
 */
export function startStopped(w: World, args: string[], failpoint: Failpoint, env: NodeJS.ProcessEnv = {}): Promise<StoppedRun> {
  assertBuilt();
  return throttled(async () => {
    const child = spawn(process.execPath, [BIN, '--config', join(w.dir, 'keyctl.yaml'), ...args], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        KEYCTL_ACTOR: 'test-runner',
        ...w.env,
        ...env,
        // Failpoints of `env` stay in force after the stop (one run may stop at one place and die at a later one).
        KEYCTL_FAILPOINT: [`${failpoint}:stop`, env.KEYCTL_FAILPOINT].filter(Boolean).join(','),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let done = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const result = new Promise<CliResult>((resolve) =>
      child.on('close', (code) => {
        done = true;
        resolve({ code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T });
      }),
    );
    const marker = stoppedMarker(failpoint);
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (stderr.includes(marker)) resolve();
      });
      void result.then((r) => reject(new Error(`keyctl ${args.join(' ')} ended (${r.code}) before ${failpoint}: ${r.stderr}`)));
    });
    await untilStopped(child.pid!);
    return {
      pid: child.pid!,
      resume: () => void child.kill('SIGCONT'),
      kill: () => void (done || child.kill('SIGKILL')),
      ended: () => done,
      result,
    };
  });
}

/** Waits until /proc says `pid` is stopped (state T); where there is no /proc, the marker line has to do. */
export async function untilStopped(pid: number): Promise<void> {
  const file = `/proc/${pid}/stat`;
  if (!existsSync(file)) return;
  for (let waited = 0; waited < 10_000; waited += 10) {
    // The state follows the command name in parentheses, which may itself hold spaces.
    const stat = readFileSync(file, 'utf8');
    if (/^[Tt]$/.test(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '')) return;
    await sleep(10);
  }
  throw new Error(`process ${pid} wrote its failpoint marker but did not stop`);
}

export const SLOTS = { arb1: 'bots/alpha/arb1', arb2: 'bots/alpha/arb2' } as const;

/** Runs `keyctl <args>` again while a crashed run's lease still holds the slot (ROTATION_IN_PROGRESS), as cron would. */
export async function again(w: World, args: string[]): Promise<CliResult> {
  for (let attempt = 1; ; attempt++) {
    const r = await cli(w, args);
    if (!(r.stdout + r.stderr).includes('ROTATION_IN_PROGRESS') || attempt >= 6) return r;
    await sleep(LEASE_MS / 2);
  }
}

/** A key planted at the sandbox under the slot's sub-account (passes the bybit policy for the slot). */
export function plantKey(w: World, label: string) {
  return w.sandbox.admin.createKey({
    exchange: w.profile.exchange,
    owner: w.subs.arb1!,
    permissions: { Spot: ['SpotTrade'] },
    ips: [CLIENT_IP],
    label,
  });
}

/** Audit entries of `command` for `ref`. */
export async function countOf(w: World, command: string, ref: string): Promise<number> {
  return (await auditEntries(w)).filter((e) => e.command === command && e.ref === ref).length;
}

/**
 * What revoke and kill must leave for a slot: no key alive at its sub-account, no live version in the store, no
 * journal; and, whole world: nothing labelled alive that the store does not hold, the audit chain verifies.
 */
export async function assertRevoked(w: World, subs: Array<keyof typeof SLOTS>, options: { paused: boolean }): Promise<void> {
  for (const sub of subs) {
    expect(
      (await w.keysAt(w.subs[sub]!)).map((k) => k.label),
      `keys of alpha/${sub} alive at the sandbox`,
    ).toEqual([]);
  }
  expect(await untrackedLabelledEverywhere(w), 'untracked keyctl-labelled keys under the master').toEqual([]);
  await withStore(w, async (store) => {
    const coordination = await openCoordination(w, store);
    for (const sub of subs) {
      const path = SLOTS[sub];
      const live = (await store.describe(path))?.versions.filter((v) => !v.destroyed) ?? [];
      expect(
        live.map((v) => v.stages),
        `live versions of ${path}`,
      ).toEqual([]);
      expect((await readPause(coordination, path)) !== null, `${path} paused`).toBe(options.paused);
      expect((await readJournal(coordination, path))?.entry ?? null, `${path} journal`).toBeNull();
    }
  });
  const verify = await cli(w, ['audit', 'verify']);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
}

/** A crashed run: SIGKILLed at its failpoint (no exit code). */
export async function crash(w: World, args: string[], failpoint: string): Promise<void> {
  const r = await cli(w, args, { KEYCTL_FAILPOINT: failpoint });
  expect(r.code, `${args.join(' ')} at ${failpoint}: ${r.stdout}${r.stderr}`).toBeNull();
}

/**
 * Runs `keyctl <args>` with `KEYCTL_FAILPOINT=<failpoint>:stop`, where the process stops each time it reaches the
 * failpoint (a path run once per slot and per pass stops many times): at each stop `onStop(n)` (n = 1, 2, ...) runs
 * while the process is stopped, then it is let go. Resolves with the run's end.
 */
export function runWithStops(
  w: World,
  args: string[],
  failpoint: AnyFailpoint,
  onStop: (n: number) => Promise<void>,
): Promise<CliResult & { stops: number }> {
  assertBuilt();
  return throttled(async () => {
    const child = spawn(process.execPath, [BIN, '--config', join(w.dir, 'keyctl.yaml'), ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, KEYCTL_ACTOR: 'test-runner', ...w.env, KEYCTL_FAILPOINT: `${failpoint}:stop` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let stops = 0;
    let handling = Promise.resolve();
    let failure: unknown;
    const marker = stoppedMarker(failpoint);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const seen = stderr.split(marker).length - 1;
      while (stops < seen) {
        const n = ++stops;
        // One stop at a time: the process cannot reach the next before this one is let go.
        handling = handling.then(async () => {
          try {
            await untilStopped(child.pid!);
            await onStop(n);
          } catch (err) {
            failure ??= err;
          } finally {
            // Let go whatever happened: a process left stopped would never end.
            child.kill('SIGCONT');
          }
        });
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    await handling;
    if (failure) throw failure instanceof Error ? failure : new Error(String(failure));
    return { code, stdout, stderr, stops, json: <T>() => JSON.parse(stdout) as T };
  });
}

/**
 * The representative subset (one failpoint per step, a refused PENDING write, a crash inside revoke) that runs on other
 * exchanges and stores than Bybit + the local store (rotation-matrix: OKX; rotation-aws: the AWS store). Each case
 * returns its outcome for the fault table.
 */
export const SUBSET_STEPS = [
  'rotate.after-create',
  'rotate.after-store',
  'rotate.after-verify',
  'rotate.after-promote',
  'rotate.after-revoke-exchange',
] as const;

export const subsetCases = {
  /** Killed at `failpoint`: the re-run finishes the rotation, the orphan of `after-create` swept once. */
  async crashAtStep(w: World, failpoint: string): Promise<string> {
    await crash(w, ['rotate', REF, '--grace', '0s', '--json'], failpoint);
    await sleep(LEASE_MS + 100);
    const r = await rerun(w);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const swept = failpoint === 'rotate.after-create' ? 1 : 0;
    expect(parseRotate(r)!.results[0]).toMatchObject({ previousRevoked: true, orphansDeleted: swept });
    await assertInvariants(w, { audit: { ...ONE_ROTATION, 'rotate.sweep': swept } });
    return `crash, ${parseRotate(r)!.results[0]!.status}`;
  },

  /** The store refuses the PENDING write: nothing untracked right after, and the re-run rotates. */
  async refusedPendingWrite(w: World): Promise<string> {
    const failed = await cli(w, ['rotate', REF, '--grace', '0s', '--json'], { KEYCTL_FAILPOINT: 'store.write-pending:fail' });
    expect(failed.code, failed.stdout + failed.stderr).toBe(6);
    expect(await untrackedLabelledEverywhere(w), 'right after the refused write').toEqual([]);
    const r = await rerun(w);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await assertInvariants(w, { audit: ONE_ROTATION });
    return 'exit 6, nothing untracked, rotated';
  },

  /** revoke killed after the exchange delete: the re-run revokes what is left, audited once. */
  async revokeCrash(w: World): Promise<string> {
    const REVOKE = ['revoke', REF, '--reason', 'fault-test', '--json'];
    await crash(w, REVOKE, 'revoke.after-exchange');
    const r = await again(w, REVOKE);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await assertRevoked(w, ['arb1'], { paused: false });
    expect(await countOf(w, 'revoke', REF)).toBe(1);
    return 'crash, revoked';
  },
};
