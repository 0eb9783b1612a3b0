/**
 * The supervisor behind `keyctl exec`: starts the bot with its credentials (in its environment, or on an inherited
 * socket on fd N), masks them in its output, forwards signals, follows rotations (a credentials message on the socket,
 * or a restart with the new environment), keeps the hand-over registry up to date, stops the bot for good when its
 * slot is paused (at its watch, or at once when `keyctl kill` on this host asks: src/delivery/supervisors.ts), and ends
 * with the bot's exit code.
 *
 * Nothing heavy is imported here: exec's start-up time is the bot's start-up time. What is only needed once the bot
 * runs (the wake-up channel for `keyctl kill`, node:net) is loaded after it started.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { UsageError } from '@keyctl/client/errors';
import type { SlotKey } from '../domain/resolve.js';
import type { CoordinationStore } from '../../providers/coordination.js';
import type { SecretStore } from '../../providers/types.js';
import { readStoredCurrent } from './current.js';
import { STRIPPED_ENV } from './store-env.js';
import { confirmConsumer, PAUSE_KILL_AFTER_MS, procStartOf, registerConsumer, thisHost, type Consumer } from './handover.js';
import { maskNeedles, MaskStream } from './mask.js';
import { readPause, type PauseRecord } from './pause.js';
import { mappedEnv, type EnvMapping } from './env-map.js';
import { credentialsEnv, decodeMessage, encodeMessage, envNames, LineSplitter, type BotCredentials } from '@keyctl/client/protocol';
import type { StopListener } from './supervisors.js';
import type { RunAs } from './user.js';

export { PAUSE_KILL_AFTER_MS } from './handover.js';

/** Signals exec passes on to the bot. */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
/** After one of these the bot is stopping: a rotation seen meanwhile does not restart it. */
const STOPPING_SIGNALS = new Set<NodeJS.Signals>(['SIGINT', 'SIGTERM', 'SIGQUIT']);
export { AWS_STORE_ENV, storeCredentialEnv, STRIPPED_ENV } from './store-env.js';
/** Default poll interval of the rotation watch. */
export const DEFAULT_WATCH_MS = 10_000;
/** How long exec waits for the bot's output to drain after it exited (a grandchild may hold the pipes). */
const DRAIN_MS = 1_000;

export interface ExecEvents {
  /** Progress for humans (stderr). */
  info(text: string): void;
  warn(text: string): void;
  /** A rotation was handed to the bot: `confirmed` once it acked (pipe) or restarted (env). */
  handover(fingerprint: string, outcome: 'delivered' | 'confirmed' | 'failed'): void;
}

export interface ExecOptions {
  store: SecretStore;
  /** Where the hand-over registry lives. */
  coordination: CoordinationStore;
  /** Store path of the slot (`bots/alpha/arb1`). */
  slotPath: string;
  /** The key to start with. */
  initial: BotCredentials & { version: string };
  /** Reads the slot's CURRENT key again (after the watch saw it change). */
  readCurrent: () => Promise<BotCredentials & { version: string }>;
  /** Polls the slot's CURRENT version id without reading secrets. */
  describeCurrent: () => Promise<{ version: string } | null>;
  /** Whether the slot is paused (keyctl kill): the watch then stops the bot for good. */
  isPaused?: () => Promise<boolean>;
  /**
   * With `isPaused`: listen for `keyctl kill` on this host (src/delivery/supervisors.ts), so a kill stops the bot at
   * once instead of at the next watch, and hears that it exited. Default true.
   */
  wake?: boolean;
  command: string;
  args: string[];
  /** Pipe mode: the fd (>= 3) the bot reads its credentials from. Undefined: environment mode. */
  fd?: number;
  envPrefix: string;
  /** Environment mode: `--env` / `--preset` (env-map.ts): the key under these names instead of `<prefix>API_KEY`, ... */
  envMap?: readonly EnvMapping[];
  mask: boolean;
  /** Environment mode: restart the bot when a rotation promotes a new key. */
  restartOnRotate: boolean;
  reloadSignal: NodeJS.Signals;
  watchMs: number;
  /** The environment the bot inherits (keyctl's own, minus `stripped` and stale credential variables). */
  env: NodeJS.ProcessEnv;
  /** Store-credential variables the bot must not inherit (default {@link STRIPPED_ENV}; see {@link storeCredentialEnv}). */
  stripped?: readonly string[];
  stdout: Writable;
  stderr: Writable;
  events: ExecEvents;
  /** Register in the hand-over registry (default true). */
  register?: boolean;
  /** Work that must finish before the bot starts (the audit entry), run alongside the registration. */
  before?: Promise<unknown>;
  /** `--user`: start the bot (each start, in every mode) under this uid and gid, with its HOME, USER and LOGNAME. */
  runAs?: RunAs;
}

export interface ExecResult {
  /** What exec exits with: the bot's code, or 128 + signal number when a signal ended it. */
  exitCode: number;
  signal: NodeJS.Signals | null;
  /** Fingerprints handed to the bot, in order. */
  delivered: string[];
}

/** Checks `--fd`: an integer from 3 (0-2 are stdio) to 64. */
export function parseFd(text: unknown): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 3 || n > 64) {
    throw new UsageError('INVALID_FD', `--fd ${String(text)} is not usable.`, {
      hint: 'Use a descriptor from 3 to 64 (0, 1 and 2 are stdin, stdout and stderr).',
    });
  }
  return n;
}

/** Checks `--reload-signal`: a signal name this system knows (SIGTERM, SIGHUP, SIGUSR2, ...). */
export function parseSignal(text: unknown): NodeJS.Signals {
  const name = String(text).toUpperCase();
  const full = (name.startsWith('SIG') ? name : `SIG${name}`) as NodeJS.Signals;
  if (!(full in constants.signals) || full === 'SIGKILL' || full === 'SIGSTOP') {
    throw new UsageError('INVALID_SIGNAL', `--reload-signal ${String(text)} is not a signal keyctl can send to ask a bot to restart.`, {
      hint: 'Use SIGTERM (default), SIGINT, SIGHUP, SIGUSR1 or SIGUSR2.',
    });
  }
  return full;
}

/** The bot's environment: `base` minus keyctl's store credentials and any credential variables of an outer exec. */
export function childEnv(
  base: NodeJS.ProcessEnv,
  prefix: string,
  extra: Record<string, string>,
  stripped: readonly string[] = STRIPPED_ENV,
  mapped: readonly string[] = [],
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  // Mapped names too: a value inherited from an outer exec (a passphrase this key lacks, say) must not reach the bot.
  for (const name of [...stripped, ...Object.values(envNames(prefix)), ...mapped]) delete env[name];
  return { ...env, ...extra };
}

/** The key exec hands a bot: its slot's CURRENT version, with the store version id it came from. */
export type StartKey = BotCredentials & { version: string };

/**
 * The slot's CURRENT key, as src/delivery/current.ts `readCurrent` reads it (same errors, same fields), with
 * KEYCTL_ROTATES_AT worked out without the schedule library where the slot has no rotation window: creation time +
 * `rotate.every` (`rotateEveryMs`, from the config), which is all the schedule does then. With a window, the schedule
 * library works it out (schedules/due.ts).
 */
export async function readStartKey(store: SecretStore, slot: SlotKey, rotateEveryMs: number): Promise<StartKey> {
  const c = await readStoredCurrent(store, slot);
  const rotatesAt = await rotatesAtOf(slot, c.createdAt, rotateEveryMs);
  return {
    ref: slot.ref,
    apiKey: c.apiKey,
    secret: c.secret,
    ...(c.passphrase ? { password: c.passphrase } : {}),
    fingerprint: c.fingerprint,
    ...(rotatesAt ? { rotatesAt } : {}),
    version: c.version,
  };
}

/** An ISO time with its zone (`Z` or `+hh:mm`): the only kind read here without the schedule library. */
const ZONED_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** schedules/due.ts `nextRotation` as ISO-8601 UTC (milliseconds only when not zero), or undefined. */
export async function rotatesAtOf(slot: SlotKey, createdAt: string, rotateEveryMs: number): Promise<string | undefined> {
  const created = ZONED_ISO.test(createdAt) ? Date.parse(createdAt) : NaN;
  const at = created + rotateEveryMs;
  if (!slot.slot.rotate.window && Number.isFinite(at) && at >= 0 && at < Date.UTC(10_000, 0, 1)) {
    return new Date(at).toISOString().replace(/\.000Z$/, 'Z');
  }
  try {
    const [{ Settings }, { nextRotation }] = await Promise.all([import('luxon'), import('../../schedules/due.js')]);
    // As the config schema sets it: formats nothing in the user's locale, and spares luxon resolving it.
    Settings.defaultLocale = 'en-US';
    return nextRotation(slot.slot, createdAt)?.toUTC().toISO({ suppressMilliseconds: true }) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Runs the bot under supervision until it exits for good. */
export async function runSupervised(o: ExecOptions): Promise<ExecResult> {
  if (!botIsAnotherUser(o.runAs)) assertOwnEnvironClean(o.env, o.stripped ?? STRIPPED_ENV);
  return new Supervisor(o).run();
}

/**
 * Whether the bot runs under a uid other than keyctl's: the kernel then denies it keyctl's /proc/<pid>/environ and mem
 * (ptrace access checks), so the same-user environ check is not needed.
 */
export function botIsAnotherUser(runAs: RunAs | undefined): boolean {
  return runAs !== undefined && runAs.uid !== process.geteuid?.();
}

/**
 * Set by src/cli/startup-env.ts in keyctl's env copy: the credential variables it could not erase from the process's
 * environment block. (The name is repeated here: delivery may not import the CLI.)
 */
export const UNSCRUBBED_ENV = 'KEYCTL_UNSCRUBBED';
/** The key file's path leads a same-user bot to the key: as bad as the key itself in the block. */
const POINTS_TO_CREDENTIAL = ['KEYCTL_MASTER_KEY_FILE'];

/**
 * The bot runs as this user and reads `/proc/<ppid>/environ`: refuses to start it while a store credential is still in
 * keyctl's own environment block. Trusts the start-up scrub's report, then checks the block itself where /proc is
 * there (it costs one small read, and catches a caller that never scrubbed, such as an embedding program).
 */
export function assertOwnEnvironClean(env: NodeJS.ProcessEnv, stripped: readonly string[], environPath = '/proc/self/environ'): void {
  const watched = new Set([...stripped, ...POINTS_TO_CREDENTIAL]);
  let exposed = (env[UNSCRUBBED_ENV] ?? '').split(',').filter((name) => watched.has(name));
  if (exposed.length === 0) {
    let block: string | undefined;
    try {
      block = readFileSync(environPath, 'latin1');
    } catch {
      // No /proc (not Linux): nothing shows the block this way, and the start-up scrub reported nothing left in it.
    }
    exposed =
      block === undefined
        ? []
        : [...new Set(block.split('\0').map((entry) => entry.slice(0, entry.indexOf('='))))].filter(
            (name) => watched.has(name) && name !== '',
          );
  }
  if (exposed.length > 0) {
    throw new UsageError(
      'STORE_CREDENTIAL_EXPOSED',
      `${exposed.join(', ')} could not be removed from this keyctl process's environment block, where the bot could read ${exposed.length > 1 ? 'them' : 'it'} (/proc/${process.pid}/environ); the bot was not started.`,
      {
        hint:
          'Give keyctl the master key in a file (KEYCTL_MASTER_KEY_FILE, chmod 600) or as a systemd credential (LoadCredential=keyctl-master-key:<path>) ' +
          'instead of the environment, or run the bot as another user with --user <user>. docs/delivery.md, "What a bot can see of keyctl".',
        details: { variables: exposed },
      },
    );
  }
}

class Supervisor {
  private readonly execId = `${thisHost()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  private readonly consumer: Omit<Consumer, 'fingerprint' | 'ackedAt'>;
  private readonly secrets: string[] = [];
  private readonly delivered: string[] = [];
  private child: ChildProcess | undefined;
  private socket: Socket | undefined;
  private current: BotCredentials & { version: string };
  private restarting = false;
  private stopping = false;
  private finished = false;
  private registry: Promise<void> = Promise.resolve();
  private watchBusy = false;
  /** The bot was stopped because the slot was paused. */
  private paused = false;
  /** The pause a kill's request found (once seen, the bot is stopping for good). */
  private pauseSeen: PauseRecord | null = null;
  private pauseRead: Promise<PauseRecord | null> | undefined;
  private pauseReread: Promise<PauseRecord | null> | undefined;
  private lastBotPid: number | null = null;
  private masks: MaskStream[] = [];
  /** src/delivery/user.ts, loaded only for `--user`. */
  private user: typeof import('./user.js') | undefined;
  /** Resolved once the bot has exited for good: what a kill waiting on the wake-up channel is told. */
  private readonly exited: {
    promise: Promise<{ botPid: number | null; code: number | null; signal: string | null }>;
    resolve: (v: { botPid: number | null; code: number | null; signal: string | null }) => void;
  };

  constructor(private readonly o: ExecOptions) {
    this.current = o.initial;
    const procStart = procStartOf(process.pid);
    this.consumer = {
      host: thisHost(),
      pid: process.pid,
      startedAt: new Date().toISOString(),
      mode: o.fd === undefined ? 'env' : 'fd',
      ...(procStart === null ? {} : { procStart }),
    };
    let resolve!: (v: { botPid: number | null; code: number | null; signal: string | null }) => void;
    const promise = new Promise<{ botPid: number | null; code: number | null; signal: string | null }>((r) => (resolve = r));
    this.exited = { promise, resolve };
  }

  async run(): Promise<ExecResult> {
    const o = this.o;
    // Env mode: a started child uses the key it got. Pipe mode: it counts once it acks.
    const registered =
      o.register === false
        ? undefined
        : registerConsumer(o.coordination, o.slotPath, this.execId, {
            ...this.consumer,
            fingerprint: o.fd === undefined ? this.current.fingerprint : null,
            ackedAt: o.fd === undefined ? new Date().toISOString() : null,
          }).catch((err: unknown) =>
            o.events.warn(
              `could not register in the hand-over registry (${(err as { code?: string }).code ?? 'error'}); rotation will wait out the grace period.`,
            ),
          );
    const forward = (signal: NodeJS.Signals) => {
      if (STOPPING_SIGNALS.has(signal)) this.stopping = true;
      this.child?.kill(signal);
    };
    // Once the bot has started, not before (it costs the bot's start-up time): a kill on this host reaches this
    // supervisor at once from then on; until then, and without it, at the next watch.
    let listening: Promise<StopListener | undefined> | undefined;
    // Its module is fetched now, while the audit entry is being written (time spent waiting on the disk).
    const supervisors = o.isPaused && o.wake !== false ? import('./supervisors.js') : undefined;
    supervisors?.catch(() => undefined);
    const listen = () =>
      (listening ??= supervisors
        ? supervisors
            .then(({ listenForStop }) =>
              listenForStop({
                env: o.env,
                execId: this.execId,
                slotPath: o.slotPath,
                startedAt: this.consumer.startedAt,
                handler: { requestStop: () => this.requestStop(), stopped: this.exited.promise },
              }),
            )
            .catch((err: unknown) => {
              o.events.warn(
                `no wake-up channel for keyctl kill on this host (${err instanceof Error ? err.message : 'error'}); a kill stops the bot at the next watch instead.`,
              );
              return undefined;
            })
        : undefined);
    let timer: NodeJS.Timeout | undefined;
    let last: { code: number | null; signal: NodeJS.Signals | null } = { code: null, signal: null };
    try {
      // The bot starts without waiting for the registry write (it costs start-up time, and the bot got CURRENT anyway);
      // later registry updates queue behind the registration, so an early ack never overtakes it.
      if (registered) this.registry = registered;
      if (o.runAs) this.user = await import('./user.js');
      await o.before;
      for (const s of FORWARDED_SIGNALS) process.on(s, forward);
      if (o.fd !== undefined || o.restartOnRotate || o.isPaused) {
        timer = setInterval(() => void this.watch(), o.watchMs);
        // The watch must never keep exec alive once the bot is gone.
        timer.unref();
      }
      for (;;) {
        // A kill came before the bot (re)started: it is not started again.
        if (this.paused) return { exitCode: 3, signal: null, delivered: [...this.delivered] };
        const running = this.start(this.current);
        const reachable = listen();
        // A kill between exec's pause read and this supervisor becoming reachable (registered, listening) found no
        // bot to stop: one more read once it is, so such a kill stops the bot now, not at the next watch.
        if (this.delivered.length === 1 && o.isPaused) void Promise.resolve(reachable).then(() => this.watch());
        const { code, signal } = await running;
        last = { code, signal };
        if (this.restarting && !this.stopping) {
          this.restarting = false;
          continue;
        }
        // Stopped because the slot was paused: exec says so (exit 3), whatever the bot answered to SIGTERM.
        const exitCode = this.paused ? 3 : (code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1));
        return { exitCode, signal, delivered: [...this.delivered] };
      }
    } finally {
      this.finished = true;
      this.exited.resolve({ botPid: this.lastBotPid, ...last });
      if (timer) clearInterval(timer);
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
      await (await listening)?.close();
      // Registry writes under way finish; the entry itself stays, and counts as gone once this process has ended
      // (handover.ts): removing it here would hold up exec's exit by a locked, synced store write.
      if (o.register !== false) {
        await registered;
        await this.registry.catch(() => undefined);
      }
    }
  }

  /** Starts the bot with `creds` and resolves when it has exited and its output drained. */
  private start(creds: BotCredentials): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const o = this.o;
    this.secrets.push(creds.apiKey, creds.secret, ...(creds.password ? [creds.password] : []));
    const names = envNames(o.envPrefix);
    const extra =
      o.fd !== undefined
        ? { [names.fd]: String(o.fd), [names.ref]: creds.ref }
        : o.envMap
          ? mappedEnv(creds, o.envMap, o.envPrefix)
          : credentialsEnv(creds, o.envPrefix);
    const stdio: StdioOptions = ['inherit', o.mask ? 'pipe' : 'inherit', o.mask ? 'pipe' : 'inherit'];
    if (o.fd !== undefined) {
      for (let i = 3; i < o.fd; i++) stdio.push('ignore');
      stdio.push('pipe');
    }
    const env = childEnv(
      o.env,
      o.envPrefix,
      o.runAs ? { ...extra, ...this.user!.runAsEnv(o.runAs) } : extra,
      o.stripped,
      o.envMap?.map((m) => m.name),
    );
    let child: ChildProcess;
    try {
      // With uid/gid set, libuv also clears the supplementary groups (setgroups(0)): the bot has its one group only.
      child = spawn(o.command, o.args, { stdio, env, shell: false, ...(o.runAs ? { uid: o.runAs.uid, gid: o.runAs.gid } : {}) });
    } catch (err) {
      // EPERM is thrown at once: keyctl may not switch to that user (checked up front too; this catches what that missed).
      if (o.runAs && (err as NodeJS.ErrnoException).code === 'EPERM') throw this.user!.cannotSwitchUser(o.runAs);
      throw err;
    }
    this.child = child;
    this.lastBotPid = child.pid ?? null;
    this.delivered.push(creds.fingerprint);
    if (o.fd === undefined && this.delivered.length > 1) {
      // A restarted bot uses the new key from its first instruction: that is its confirmation.
      o.events.handover(creds.fingerprint, 'confirmed');
      this.queueRegistry(() => confirmConsumer(o.coordination, o.slotPath, this.execId, creds.fingerprint, this.consumer));
    }

    return new Promise((resolve, reject) => {
      let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let drainTimer: NodeJS.Timeout | undefined;
      child.once('error', (err: NodeJS.ErrnoException) => {
        if (exited) return;
        reject(
          new UsageError('COMMAND_NOT_STARTED', `Could not start "${o.command}" (${err.code ?? 'error'}).`, {
            hint:
              err.code === 'ENOENT'
                ? 'Check the command name and PATH; exec runs it directly, without a shell.'
                : o.runAs
                  ? `Check that the command exists and that ${o.runAs.name} may execute it (and enter its directories).`
                  : 'Check that the command exists and is executable.',
          }),
        );
      });
      if (o.mask && child.stdout && child.stderr) {
        const needles = maskNeedles(this.secrets);
        const out = new MaskStream(needles);
        const err = new MaskStream(needles);
        this.masks = [out, err];
        child.stdout.pipe(out).pipe(o.stdout, { end: false });
        child.stderr.pipe(err).pipe(o.stderr, { end: false });
        // Our own output closed (`keyctl exec ... | head`): keep supervising, drop the bot's output from then on.
        for (const [mask, dest] of [
          [out, o.stdout],
          [err, o.stderr],
        ] as const) {
          const onError = () => {
            mask.unpipe(dest);
            mask.resume();
          };
          dest.once('error', onError);
          child.once('close', () => dest.off('error', onError));
        }
      }
      if (o.fd !== undefined) this.attachSocket(child.stdio[o.fd] as Socket, creds);
      child.once('exit', (code, signal) => {
        exited = { code, signal };
        this.child = undefined;
        // Normally 'close' follows at once; a grandchild holding the pipes must not keep exec alive.
        drainTimer = setTimeout(() => {
          for (const s of child.stdio) s?.destroy();
          resolve(exited!);
        }, DRAIN_MS);
        drainTimer.unref();
      });
      child.once('close', () => {
        if (drainTimer) clearTimeout(drainTimer);
        if (exited) resolve(exited);
      });
    });
  }

  private attachSocket(socket: Socket, creds: BotCredentials): void {
    this.socket = socket;
    // A bot that closed its end early must not crash exec with EPIPE.
    socket.on('error', () => undefined);
    const lines = new LineSplitter();
    socket.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) {
        const m = decodeMessage(line);
        if (m?.type === 'ack') this.onAck(m.fingerprint);
      }
    });
    socket.write(encodeMessage({ type: 'credentials', ...stripVersion(creds) }));
  }

  private onAck(fingerprint: string): void {
    if (!this.delivered.includes(fingerprint)) return;
    if (fingerprint !== this.delivered[0]) this.o.events.handover(fingerprint, 'confirmed');
    this.queueRegistry(() => confirmConsumer(this.o.coordination, this.o.slotPath, this.execId, fingerprint, this.consumer));
  }

  /** Registry writes run one at a time, in order. */
  private queueRegistry(write: () => Promise<void>): void {
    if (this.o.register === false) return;
    this.registry = this.registry.then(write).catch((err: unknown) => {
      this.o.events.warn(`could not update the hand-over registry (${(err as { code?: string }).code ?? 'error'}).`);
    });
  }

  /**
   * The slot was paused (keyctl kill): the bot stops and is not restarted. SIGTERM first, so it can cancel what it
   * can; SIGKILL if it is still running after PAUSE_KILL_AFTER_MS.
   */
  private stopPaused(): void {
    if (this.paused) return;
    // Already stopping (the operator's SIGTERM, forwarded): no second SIGTERM, but the SIGKILL deadline still holds.
    const alreadyStopping = this.stopping;
    this.stopping = true;
    this.paused = true;
    this.o.events.warn(
      `the slot was paused (keyctl kill): stopping the bot (SIGTERM, SIGKILL after ${PAUSE_KILL_AFTER_MS / 1000} s); it will not be restarted.`,
    );
    const child = this.child;
    if (!alreadyStopping) child?.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }, PAUSE_KILL_AFTER_MS);
    timer.unref();
  }

  /**
   * A kill on this host asks (src/delivery/supervisors.ts): the pause is read again now, from this supervisor's own
   * store, and only a pause found there stops the bot. The request itself proves nothing.
   */
  private async requestStop(): Promise<{ pause: PauseRecord | null; botPid: number | null }> {
    const pause = this.pauseSeen ?? (await this.freshPause());
    if (pause) {
      this.pauseSeen = pause;
      if (!this.finished) this.stopPaused();
    }
    return { pause, botPid: this.child?.pid ?? this.lastBotPid };
  }

  /**
   * Reads the pause; requests that arrive during a read share the next one (never the one already under way, which may
   * have read before their kill wrote the pause). However many requests come, at most two reads are in flight.
   */
  private freshPause(): Promise<PauseRecord | null> {
    if (!this.pauseRead) {
      this.pauseRead = readPause(this.o.coordination, this.o.slotPath).finally(() => (this.pauseRead = undefined));
      return this.pauseRead;
    }
    this.pauseReread ??= this.pauseRead
      .catch(() => null)
      .then(() => {
        this.pauseReread = undefined;
        return this.freshPause();
      });
    return this.pauseReread;
  }

  /** One poll of the slot: on a new CURRENT key, hand it to the bot. */
  private async watch(): Promise<void> {
    if (this.watchBusy || this.finished || this.restarting || this.stopping) return;
    this.watchBusy = true;
    try {
      if (this.o.isPaused && (await this.o.isPaused()) && !this.finished && !this.stopping) {
        this.stopPaused();
        return;
      }
      if (this.o.fd === undefined && !this.o.restartOnRotate) return;
      const now = await this.o.describeCurrent();
      if (!now || now.version === this.current.version || this.finished) return;
      const next = await this.o.readCurrent();
      if (next.fingerprint === this.current.fingerprint) {
        this.current = next;
        return;
      }
      if (this.finished || this.stopping) return;
      this.current = next;
      if (this.o.fd !== undefined) {
        this.secrets.push(next.apiKey, next.secret, ...(next.password ? [next.password] : []));
        for (const m of this.masks) m.setNeedles(maskNeedles(this.secrets));
        this.delivered.push(next.fingerprint);
        this.socket?.write(encodeMessage({ type: 'credentials', ...stripVersion(next) }));
        this.o.events.handover(next.fingerprint, 'delivered');
      } else if (this.child) {
        this.restarting = true;
        this.o.events.info(`key rotated to ${next.fingerprint}: sending ${this.o.reloadSignal} and restarting the bot with the new key.`);
        this.child.kill(this.o.reloadSignal);
        this.o.events.handover(next.fingerprint, 'delivered');
      }
    } catch (err) {
      this.o.events.warn(`rotation watch: could not read the slot (${(err as { code?: string }).code ?? 'error'}); will retry.`);
    } finally {
      this.watchBusy = false;
    }
  }
}

function stripVersion(c: BotCredentials & { version?: string }): BotCredentials {
  const { version: _v, ...rest } = c;
  return rest;
}
