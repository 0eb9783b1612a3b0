/**
 * The same-host channel between `keyctl kill` and the `keyctl exec` supervisors (docs/delivery.md, "A kill stops
 * the bot"). Each supervisor listens on a unix socket in a per-user runtime directory and registers itself beside it
 * (`<id>.json`: slot, pid, host, start time, a per-process nonce). A kill, right after it paused a slot, connects to
 * every supervisor registered for that slot; the supervisor re-reads the pause from its own store at once, stops the
 * bot (SIGTERM, SIGKILL after a timeout, no restart) and answers `stopped` once the bot has exited. Supervisors on
 * other hosts, which the hand-over registry in the coordination store lists, stop at their next watch (`told`).
 *
 * Why it cannot be turned against anyone:
 * - A request carries no authority: the supervisor stops only when its own store says the slot is paused, which is what
 *   its poll would find anyway. A spurious or hostile request costs one coalesced store read.
 * - The directory is the user's, 0700 (checked on every use, never followed through a symlink); another user (a bot
 *   under `exec --user`) can neither connect nor plant a registration. No abstract-namespace sockets: those anyone in
 *   the network namespace can reach.
 * - The kill sends no signal to a pid read from a file: it only connects to sockets. Pids are used to tell a dead
 *   registration (`kill(pid, 0)`), with the kernel's start time where /proc has it, so a reused pid is not taken
 *   for a live supervisor.
 * - A confirmation counts only when it names this store's pause (its id) and the bot's pid has gone. A supervisor the
 *   hand-over registry lists on this host that cannot be reached and does not exit in time is `unconfirmed`, a failure:
 *   deleting a registration makes the kill fail, never pass.
 * A bot running as keyctl's own user can still forge files here, as it can forge everything else of that user's
 * (docs/threat-model.md): run bots under `exec --user`.
 *
 * Only node built-ins: `exec` loads this once its bot has started (so node:net never delays the bot).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, lstat, open, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { CoordinationStore } from '../../providers/coordination.js';
import { PAUSE_KILL_AFTER_MS, readConsumers, removeConsumer } from './handover.js';
import { samePause, type PauseRecord } from './pause.js';
import { InsecureDir, registryBases, runtimeDir, scanBases } from './runtime-dir.js';

export { registryBases, scanBases } from './runtime-dir.js';

export { PAUSE_KILL_AFTER_MS } from './handover.js';
/** How long a kill waits for this host's supervisors to confirm: the SIGKILL deadline and a margin. */
export const STOP_WAIT_MS = PAUSE_KILL_AFTER_MS + 5_000;
/** A connection must send its request within this time. */
const REQUEST_TIMEOUT_MS = 2_000;
const MAX_REQUEST_BYTES = 1_024;
const MAX_REGISTRATION_BYTES = 4_096;
/** sun_path holds 108 bytes on Linux, 104 on macOS (with the NUL). */
const MAX_SOCKET_PATH = 100;
/** A supervisor waiting out a stop holds a connection per kill; more at once than this are turned away. */
const MAX_CONNECTIONS = 16;

/** One supervisor's registration (`<id>.json` in the runtime directory). Nothing here is secret but the nonce's use. */
export interface Registration {
  v: 1;
  /** The supervisor's id in the hand-over registry (`handover/<bot>/<sub>`). */
  execId: string;
  /** Store path of its slot (`bots/alpha/arb1`). */
  slotPath: string;
  host: string;
  pid: number;
  /** The kernel's start time of `pid` (/proc/<pid>/stat), null where there is no /proc. */
  procStart: string | null;
  /** ISO time the supervisor started. */
  startedAt: string;
  /** Random per process: a request must carry it, so only a reader of this 0600 file (keyctl's user) can ask. */
  nonce: string;
}

/** What a supervisor answers on its socket, one JSON line each. */
export type SupervisorReply =
  | { type: 'refused'; why: string }
  | { type: 'not-paused' }
  | { type: 'error'; code: string }
  | { type: 'stopping'; pause: Pick<PauseRecord, 'id' | 'at' | 'by'>; botPid: number | null }
  | { type: 'stopped'; botPid: number | null; code: number | null; signal: string | null };

// ---------------------------------------------------------------------------------------------------------------
// Processes.

/** Whether `pid` exists (EPERM: it does, another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null without /proc. */
export async function procStartOf(pid: number): Promise<string | null> {
  let text: string;
  try {
    text = await readSmall(`/proc/${pid}/stat`, 4_096);
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

/** Alive, and the same process that registered (its start time unchanged where /proc tells it). */
async function sameProcess(pid: number, procStart: string | null): Promise<boolean> {
  if (!pidAlive(pid)) return false;
  if (procStart === null) return true;
  const now = await procStartOf(pid);
  return now === null || now === procStart;
}

async function readSmall(path: string, max: number): Promise<string> {
  const handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    const buf = Buffer.alloc(max + 1);
    const { bytesRead } = await handle.read(buf, 0, max + 1, 0);
    if (bytesRead > max) throw new Error('too large');
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The supervisor's side.

/** What the supervisor (src/delivery/exec.ts) does when a kill asks. */
export interface StopHandler {
  /** Re-reads the slot's pause now; when paused, stops the bot (idempotent). The pause seen, and the bot's pid. */
  requestStop(): Promise<{ pause: PauseRecord | null; botPid: number | null }>;
  /** Resolves once the bot has exited for good (or never started). */
  readonly stopped: Promise<{ botPid: number | null; code: number | null; signal: string | null }>;
}

export interface StopListener {
  /** The registration's path. */
  readonly path: string;
  /** Unregisters, ends open requests (after the last answers are flushed) and closes the socket. */
  close(): Promise<void>;
}

/**
 * Listens for a kill's request and registers, in the first usable runtime directory. Throws when none is usable (the
 * caller warns; its poll still stops the bot within its watch period).
 */
export async function listenForStop(input: {
  env: NodeJS.ProcessEnv;
  execId: string;
  slotPath: string;
  startedAt: string;
  handler: StopHandler;
}): Promise<StopListener> {
  const id = `${process.pid}-${randomBytes(6).toString('hex')}`;
  const nonce = randomBytes(16).toString('hex');
  let dir: string | undefined;
  const problems: string[] = [];
  for (const base of registryBases(input.env)) {
    try {
      const d = runtimeDir(base, true);
      if (join(d, `${id}.sock`).length > MAX_SOCKET_PATH) throw new InsecureDir(`${d} is too long a path for a socket`);
      dir = d;
      break;
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (!dir) throw new Error(problems.join('; ') || 'no runtime directory');
  const sockPath = join(dir, `${id}.sock`);
  const jsonPath = join(dir, `${id}.json`);
  const active = new Set<Promise<void>>();
  const sockets = new Set<Socket>();

  const server = createServer((conn) => {
    sockets.add(conn);
    conn.once('close', () => sockets.delete(conn));
    const done = serve(conn, nonce, input.slotPath, input.handler).catch(() => void conn.destroy());
    active.add(done);
    void done.finally(() => active.delete(done));
  });
  server.maxConnections = MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Never keeps exec alive by itself. The directory already shuts out other users; the socket's own mode too.
  server.unref();
  await chmod(sockPath, 0o600).catch(() => undefined);
  const registration: Registration = {
    v: 1,
    execId: input.execId,
    slotPath: input.slotPath,
    host: hostname(),
    pid: process.pid,
    procStart: await procStartOf(process.pid),
    startedAt: input.startedAt,
    nonce,
  };
  const tmp = join(dir, `.${id}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(registration), { mode: 0o600, flag: 'wx' });
    await rename(tmp, jsonPath);
  } catch (err) {
    server.close();
    await Promise.all([unlink(tmp), unlink(sockPath)].map((p) => p.catch(() => undefined)));
    throw err;
  }
  // Leftovers of supervisors that were killed: cleaned in passing, never waited for.
  void sweepStale(dir).catch(() => undefined);

  let closed = false;
  return {
    path: jsonPath,
    close: async () => {
      if (closed) return;
      closed = true;
      // Unregistered first: a kill that reads the directory from now on does not ask a supervisor on its way out.
      await unlink(jsonPath).catch(() => undefined);
      await Promise.race([Promise.allSettled([...active]), new Promise((r) => setTimeout(r, 1_000).unref())]);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(sockPath).catch(() => undefined);
    },
  };
}

/** One connection: a request line, then the answers. */
async function serve(conn: Socket, nonce: string, slotPath: string, handler: StopHandler): Promise<void> {
  conn.on('error', () => undefined);
  conn.setTimeout(REQUEST_TIMEOUT_MS, () => conn.destroy());
  const line = await firstLine(conn, MAX_REQUEST_BYTES);
  if (line === null) return void conn.destroy();
  const send = (reply: SupervisorReply) => {
    if (!conn.destroyed) conn.write(`${JSON.stringify(reply)}\n`);
  };
  let request: { type?: unknown; nonce?: unknown; slotPath?: unknown };
  try {
    request = JSON.parse(line) as typeof request;
  } catch {
    send({ type: 'refused', why: 'not a request' });
    return void conn.end();
  }
  if (request?.type !== 'stop' || typeof request.nonce !== 'string' || !sameSecret(request.nonce, nonce)) {
    send({ type: 'refused', why: 'not a request of this supervisor' });
    return void conn.end();
  }
  if (request.slotPath !== slotPath) {
    send({ type: 'refused', why: 'another slot' });
    return void conn.end();
  }
  // From here the kill side bounds the wait.
  conn.setTimeout(0);
  let seen;
  try {
    seen = await handler.requestStop();
  } catch (err) {
    send({ type: 'error', code: (err as { code?: string }).code ?? 'ERROR' });
    return void conn.end();
  }
  if (!seen.pause) {
    send({ type: 'not-paused' });
    return void conn.end();
  }
  const { id, at, by } = seen.pause;
  send({ type: 'stopping', pause: { ...(id ? { id } : {}), at, by }, botPid: seen.botPid });
  const exit = await handler.stopped;
  send({ type: 'stopped', ...exit });
  conn.end();
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The first line a peer sends (null: it closed, sent too much, or went quiet). */
function firstLine(conn: Socket, max: number): Promise<string | null> {
  return new Promise((resolve) => {
    let buf = '';
    const finish = (value: string | null) => {
      conn.off('data', onData);
      conn.off('close', onClose);
      resolve(value);
    };
    const onData = (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl));
      else if (buf.length > max) finish(null);
    };
    const onClose = () => finish(null);
    conn.on('data', onData);
    conn.once('close', onClose);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The kill's side.

/** How one bot's supervisor took the kill. */
export interface BotStop {
  /** Its id in the hand-over registry, when known. */
  execId: string | null;
  host: string;
  /** The supervisor's pid. */
  pid: number;
  /** The bot's pid, as its supervisor reported it. */
  botPid: number | null;
  /**
   * `stopped`: its supervisor, on this host, stopped it and confirmed it exited; `exited`: its supervisor on this host
   * ended (it ends only after its bot); `told`: on another host, it stops at its supervisor's next watch;
   * `unconfirmed`: on this host, and no confirmation came (a failure: re-run the kill).
   */
  state: 'stopped' | 'exited' | 'told' | 'unconfirmed';
  /** Why, for the report. */
  detail: string;
  exit?: { code: number | null; signal: string | null };
}

interface Found {
  registration: Registration;
  path: string;
  socket: string;
}

/** The registrations of this user's supervisors on this host; stale ones (dead or reused pid) are removed. */
export async function findSupervisors(env: NodeJS.ProcessEnv): Promise<Found[]> {
  const found: Found[] = [];
  for (const base of scanBases(env)) {
    let dir: string;
    try {
      dir = runtimeDir(base, false);
    } catch {
      continue; // absent, or not safe to trust: nothing of ours is there
    }
    found.push(...(await readRegistrations(dir)));
  }
  return found;
}

async function readRegistrations(dir: string): Promise<Found[]> {
  const out: Found[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (!/^\d+-[0-9a-f]{12}\.json$/.test(name)) continue;
    const path = join(dir, name);
    const registration = await readRegistration(path);
    const socket = path.replace(/\.json$/, '.sock');
    if (!registration) continue;
    if (!(await sameProcess(registration.pid, registration.procStart))) {
      await Promise.all([unlink(path), unlink(socket)].map((p) => p.catch(() => undefined)));
      continue;
    }
    out.push({ registration, path, socket });
  }
  return out;
}

/** A registration file this user owns and that parses as one; anything else is ignored. */
async function readRegistration(path: string): Promise<Registration | null> {
  try {
    const st = await lstat(path);
    if (!st.isFile() || st.uid !== process.geteuid?.()) return null;
    const raw = JSON.parse(await readSmall(path, MAX_REGISTRATION_BYTES)) as Partial<Registration>;
    if (
      raw.v !== 1 ||
      typeof raw.execId !== 'string' ||
      typeof raw.slotPath !== 'string' ||
      typeof raw.host !== 'string' ||
      !Number.isInteger(raw.pid) ||
      (raw.pid as number) <= 0 ||
      (raw.procStart !== null && typeof raw.procStart !== 'string') ||
      typeof raw.startedAt !== 'string' ||
      typeof raw.nonce !== 'string'
    ) {
      return null;
    }
    return raw as Registration;
  } catch {
    return null;
  }
}

async function sweepStale(dir: string): Promise<void> {
  await readRegistrations(dir);
}

type Asked =
  | { kind: 'stopped'; botPid: number | null; exit: { code: number | null; signal: string | null } }
  | { kind: 'not-ours'; why: string }
  | { kind: 'gone' }
  | { kind: 'failed'; botPid: number | null; why: string };

/** Asks one supervisor to stop its bot, and waits (until `deadline`, performance.now()) for it to say it has. */
function ask(found: Found, pause: PauseRecord, deadline: number): Promise<Asked> {
  return new Promise((resolve) => {
    let botPid: number | null = null;
    let stopping = false;
    let settled = false;
    const conn = createConnection(found.socket);
    const finish = (result: Asked) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      conn.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () =>
        finish({
          kind: 'failed',
          botPid,
          why: stopping ? `still stopping after ${Math.round(STOP_WAIT_MS / 1000)} s` : 'no answer from its supervisor',
        }),
      Math.max(0, deadline - performance.now()),
    );
    conn.on('connect', () => {
      conn.write(`${JSON.stringify({ type: 'stop', slotPath: found.registration.slotPath, nonce: found.registration.nonce })}\n`);
    });
    let errored = false;
    conn.on('error', (err: NodeJS.ErrnoException) => {
      errored = true;
      // The socket is gone or refuses: the supervisor ended (its registration goes first), or it is wedged.
      void sameProcess(found.registration.pid, found.registration.procStart).then((alive) =>
        finish(alive ? { kind: 'failed', botPid, why: `its socket refused the request (${err.code ?? 'error'})` } : { kind: 'gone' }),
      );
    });
    let buf = '';
    conn.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      if (buf.length > 64 * 1024) return finish({ kind: 'failed', botPid, why: 'its supervisor answered too much' });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let reply: SupervisorReply;
        try {
          reply = JSON.parse(line) as SupervisorReply;
        } catch {
          return finish({ kind: 'failed', botPid, why: 'its supervisor answered something else' });
        }
        switch (reply.type) {
          case 'refused':
            return finish({ kind: 'failed', botPid, why: `its supervisor refused the request (${String(reply.why)})` });
          case 'error':
            return finish({ kind: 'failed', botPid, why: `its supervisor could not read the pause (${String(reply.code)})` });
          case 'not-paused':
            return finish({ kind: 'not-ours', why: 'it does not see the slot paused' });
          case 'stopping':
            // Another store's slot of the same name on this host (it is paused too): not this kill's to report.
            if (!reply.pause || !samePause(reply.pause, pause)) return finish({ kind: 'not-ours', why: 'it sees another pause' });
            stopping = true;
            botPid = typeof reply.botPid === 'number' ? reply.botPid : null;
            break;
          case 'stopped': {
            if (!stopping) return finish({ kind: 'failed', botPid, why: 'its supervisor answered out of order' });
            const pid = typeof reply.botPid === 'number' ? reply.botPid : botPid;
            // Believed only if the kernel agrees: the bot's pid is gone.
            if (pid !== null && pidAlive(pid))
              return finish({ kind: 'failed', botPid: pid, why: `it said stopped, but pid ${pid} still runs` });
            return finish({
              kind: 'stopped',
              botPid: pid,
              exit: {
                code: typeof reply.code === 'number' ? reply.code : null,
                signal: typeof reply.signal === 'string' ? reply.signal : null,
              },
            });
          }
          default:
            return finish({ kind: 'failed', botPid, why: 'its supervisor answered something else' });
        }
      }
    });
    conn.on('close', () => {
      if (!errored) finish({ kind: 'failed', botPid, why: 'its supervisor closed the connection before confirming' });
    });
  });
}

/**
 * False only when /proc shows `pid` running something that is not `keyctl exec <this slot's ref>`; true when it may be
 * (or /proc cannot tell: then it is taken for one).
 */
async function mayBeExecOf(pid: number, slotPath: string): Promise<boolean> {
  let args: string[];
  try {
    args = (await readSmall(`/proc/${pid}/cmdline`, 64 * 1024)).split('\0');
  } catch {
    return true;
  }
  const ref = slotPath.replace(/^bots\//, '');
  return args.includes('exec') && args.includes(ref);
}

/** Waits until `pid` is gone or `deadline` passes; true when it is gone. */
async function waitGone(pid: number, deadline: number): Promise<boolean> {
  for (;;) {
    if (!pidAlive(pid)) return true;
    if (performance.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Stops the bots of a paused slot that run under `keyctl exec`: asks every supervisor of this host at once and waits
 * (up to `timeoutMs`) for each to confirm, and lists the other hosts' supervisors from the hand-over registry as told.
 * Same-host supervisors in the registry that have no reachable registration (another runtime directory, an older
 * keyctl) are waited for until their process exits.
 */
export async function stopSupervisors(input: {
  coordination: CoordinationStore;
  slotPath: string;
  /** The pause the kill wrote (or found): a confirmation must name it. */
  pause: PauseRecord;
  env: NodeJS.ProcessEnv;
  timeoutMs?: number;
}): Promise<BotStop[]> {
  const deadline = performance.now() + (input.timeoutMs ?? STOP_WAIT_MS);
  const here = hostname();
  const [consumers, found] = await Promise.all([readConsumers(input.coordination, input.slotPath), findSupervisors(input.env)]);
  const mine = found.filter((f) => f.registration.slotPath === input.slotPath && f.registration.host === here);
  const asked = await Promise.all(mine.map(async (f) => ({ f, asked: await ask(f, input.pause, deadline) })));
  const stops: BotStop[] = [];
  const seen = new Set<string>();
  for (const { f, asked: a } of asked) {
    const r = f.registration;
    seen.add(r.execId);
    const base = { execId: r.execId, host: r.host, pid: r.pid };
    const listed = r.execId in consumers;
    switch (a.kind) {
      case 'stopped':
        stops.push({ ...base, botPid: a.botPid, state: 'stopped', detail: 'stopped by its supervisor, exit confirmed', exit: a.exit });
        break;
      case 'gone':
        stops.push({ ...base, botPid: null, state: 'exited', detail: 'its supervisor had already ended' });
        break;
      case 'not-ours':
        // Another store's supervisor for a slot of that name: not this kill's. One this store lists is a failure.
        if (listed) stops.push({ ...base, botPid: null, state: 'unconfirmed', detail: a.why });
        break;
      case 'failed':
        stops.push({ ...base, botPid: a.botPid, state: 'unconfirmed', detail: a.why });
        break;
    }
  }
  const unreached: Array<Promise<void>> = [];
  for (const [execId, c] of Object.entries(consumers)) {
    if (seen.has(execId)) continue;
    const base = { execId, host: c.host, pid: c.pid, botPid: null };
    if (c.host !== here) {
      stops.push({ ...base, state: 'told', detail: 'on another host: it stops at its next watch (10 s by default)' });
      continue;
    }
    if (!pidAlive(c.pid)) {
      // A supervisor that was killed left its entry: gone, and cleaned so the next kill does not meet it.
      await removeConsumer(input.coordination, input.slotPath, execId).catch(() => undefined);
      continue;
    }
    // Its pid now belongs to a process that is no keyctl exec of this slot: the entry is a dead supervisor's (left as
    // it is: only a dead pid is proof enough to remove an entry rotation relies on).
    if (!(await mayBeExecOf(c.pid, input.slotPath))) continue;
    unreached.push(
      waitGone(c.pid, deadline).then((gone) => {
        stops.push(
          gone
            ? { ...base, state: 'exited', detail: 'its supervisor stopped it at its watch and ended' }
            : {
                ...base,
                state: 'unconfirmed',
                detail:
                  'no wake-up registration of it here (another KEYCTL_RUNTIME_DIR or user, or an older keyctl), and it is still running',
              },
        );
      }),
    );
  }
  await Promise.all(unreached);
  return stops;
}
