/**
 * The hand-over registry: which running bots use a slot's key, and which key each one confirmed using. `keyctl exec`
 * writes it; the rotation engine reads it ({@link readConsumers}) to revoke PREVIOUS as soon as every consumer has
 * confirmed the new key, instead of waiting out the grace period (docs/delivery.md, "Hand-over").
 *
 * Kept in the coordination store, at `handover/<bot>/<sub>`: one record per slot, written with compare-and-set on its
 * revision, so concurrent execs on several hosts never lose each other's entries.
 *
 * An exec does not remove its entry when its bot exits (that store write would hold up exec's exit, which is the end of
 * a bot's run): an entry of this host whose exec process is gone counts as gone. Readers here skip it, and the next
 * registration for the slot on the host drops it. An entry of a gone exec on another host stays until an exec there
 * registers again; until then it only makes the rotation engine wait out the grace period (the safe direction).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConflictError, ProviderError } from '@keyctl/client/errors';
import type { CoordinationStore, RecordValue } from '../../providers/coordination.js';

/** One running consumer (one `keyctl exec`). Nothing here is secret. */
export interface Consumer {
  host: string;
  pid: number;
  /** ISO time exec started the child. */
  startedAt: string;
  /** Fingerprint of the last key the consumer confirmed using (null: none confirmed yet). */
  fingerprint: string | null;
  /** ISO time of that confirmation. */
  ackedAt: string | null;
  /** How the consumer gets its key: `env` (restarted on rotation) or `fd` (hand-over on the pipe). */
  mode?: 'env' | 'fd';
  /**
   * The kernel's start time of `pid` (/proc/<pid>/stat, field 22), so a pid reused by another process after exec ended
   * is not taken for it. Absent where there is no /proc, and in entries written before it existed.
   */
  procStart?: string;
}

/**
 * How long a bot stopped by a pause (keyctl kill) may take to exit on SIGTERM before its supervisor kills it. Here, not
 * in supervisors.ts, because exec loads that module (and node:net) only once its bot has started.
 */
export const PAUSE_KILL_AFTER_MS = 10_000;

/** execId -> consumer. */
export type Consumers = Record<string, Consumer>;

const ATTEMPTS = 12;

/** The registry's record key for a slot's store path (`bots/alpha/arb1` -> `handover/alpha/arb1`). */
export function handoverKey(slotPath: string): string {
  const parts = slotPath.split('/');
  if (parts.length !== 3 || parts[0] !== 'bots') throw new ProviderError('INVALID_SLOT_PATH', `"${slotPath}" is not a bot slot's path.`);
  return `handover/${parts[1]}/${parts[2]}`;
}

/**
 * The registered consumers of a slot (empty when none), without entries of this host whose exec has ended. Read by the
 * rotation engine and by `keyctl kill`.
 */
export async function readConsumers(store: CoordinationStore, slotPath: string): Promise<Consumers> {
  return dropDead((await readRegistry(store, handoverKey(slotPath))).consumers);
}

/** Adds (or replaces) `execId`. Also drops entries of this host whose process is gone (a killed exec's leftovers). */
export async function registerConsumer(store: CoordinationStore, slotPath: string, execId: string, consumer: Consumer): Promise<void> {
  await updateConsumers(store, slotPath, (all) => {
    const next = dropDead(all);
    next[execId] = consumer;
    return next;
  });
}

/** Records that `execId` now uses the key `fingerprint`. A consumer missing from the registry is added back. */
export async function confirmConsumer(
  store: CoordinationStore,
  slotPath: string,
  execId: string,
  fingerprint: string,
  fallback: Omit<Consumer, 'fingerprint' | 'ackedAt'>,
  now: Date = new Date(),
): Promise<void> {
  await updateConsumers(store, slotPath, (all) => {
    const existing = all[execId];
    if (existing?.fingerprint === fingerprint) return null;
    return { ...all, [execId]: { ...(existing ?? fallback), fingerprint, ackedAt: now.toISOString() } };
  });
}

/** Removes `execId` (exec's child exited). Removing a missing consumer changes nothing. */
export async function removeConsumer(store: CoordinationStore, slotPath: string, execId: string): Promise<void> {
  await updateConsumers(store, slotPath, (all) => {
    if (!(execId in all)) return null;
    const next = { ...all };
    delete next[execId];
    return next;
  });
}

/**
 * Read-modify-write under compare-and-set, retried on conflict. `change` returns the new set, or null for "no change"
 * (then nothing is written).
 */
export async function updateConsumers(
  store: CoordinationStore,
  slotPath: string,
  change: (current: Consumers) => Consumers | null,
): Promise<void> {
  const path = handoverKey(slotPath);
  for (let attempt = 1; ; attempt++) {
    const { consumers, version } = await readRegistry(store, path);
    const next = change({ ...consumers });
    if (next === null) return;
    try {
      await store.write(path, JSON.stringify(next), { expect: version });
      return;
    } catch (err) {
      if (!(err instanceof ConflictError) || attempt >= ATTEMPTS) throw err;
      // Another exec won the race: back off a little (jittered) and re-read.
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
    }
  }
}

async function readRegistry(store: CoordinationStore, key: string): Promise<{ consumers: Consumers; version: string | null }> {
  const record = await store.read<RecordValue>(key);
  if (!record) return { consumers: {}, version: null };
  return { consumers: parseConsumers(typeof record.value === 'string' ? record.value : undefined), version: record.revision };
}

function parseConsumers(text: string | undefined): Consumers {
  if (!text) return {};
  try {
    const raw = JSON.parse(text) as unknown;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return {};
    const out: Consumers = {};
    for (const [id, c] of Object.entries(raw as Record<string, Partial<Consumer>>)) {
      if (typeof c?.host !== 'string' || typeof c.pid !== 'number') continue;
      out[id] = {
        host: c.host,
        pid: c.pid,
        startedAt: typeof c.startedAt === 'string' ? c.startedAt : '',
        fingerprint: typeof c.fingerprint === 'string' ? c.fingerprint : null,
        ackedAt: typeof c.ackedAt === 'string' ? c.ackedAt : null,
        ...(c.mode === 'env' || c.mode === 'fd' ? { mode: c.mode } : {}),
        ...(typeof c.procStart === 'string' ? { procStart: c.procStart } : {}),
      };
    }
    return out;
  } catch {
    // A damaged registry must not stop bots from starting: start over (the engine then waits out the grace period).
    return {};
  }
}

/** Without the entries of this host whose exec process is gone. Other hosts' entries are left to their own execs. */
function dropDead(all: Consumers, host = hostname()): Consumers {
  const out: Consumers = {};
  for (const [id, c] of Object.entries(all)) if (c.host !== host || alive(c.pid, c.procStart)) out[id] = c;
  return out;
}

/** Whether `pid` runs, and is the process that registered (same kernel start time) where the entry says which. */
function alive(pid: number, procStart: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (procStart === undefined) return true;
  const now = procStartOf(pid);
  return now === null || now === procStart;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or null where /proc cannot tell. */
export function procStartOf(pid: number): string | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

/** This machine's name, as consumers record it. */
export function thisHost(): string {
  return hostname();
}
