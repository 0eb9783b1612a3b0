/**
 * `keyctl daemon`: the guardian's loop. Each tick it takes or keeps the leadership lease; the leader runs a cycle
 * (src/daemon/cycle.ts) while a timer keeps its lease alive, the others stand by. Stopping (the signal aborts): the
 * current cycle finishes (every step of it is journaled, so even a kill mid-step is resumed by the next leader), the
 * lease is released so a standby takes over at once, and the server closes.
 */
import type { CoordinationStore } from '../../providers/coordination.js';
import { review, type Review } from '../app/review.js';
import { buildSchedule } from '../app/schedule.js';
import type { ChecklistConfig } from '../config/checklist-schema.js';
import type { EventSink, Logger } from '../events/types.js';
import { KeyctlError } from '@keyctl/client/errors';
import type { KeyctlMetrics } from '../observability/metrics.js';
import { runCycle, type CycleDeps, type CycleReport } from './cycle.js';
import { LEADER_LEASE, Leadership } from './leader.js';
import { startServer, type DaemonServer, type HealthState } from './server.js';

export interface DaemonDeps extends CycleDeps {
  coordination: CoordinationStore;
  events: EventSink;
}

export interface DaemonOptions {
  /** This daemon's name in the lease (host:pid). */
  owner: string;
  /** Time between ticks. */
  intervalMs: number;
  /** Leadership lease TTL: how long a SIGKILLed leader blocks the others. */
  leaseTtlMs: number;
  listen?: string;
  signal: AbortSignal;
  logger: Logger;
  metrics: KeyctlMetrics;
  /** Told the server's URL once it listens. */
  onListening?: (url: string) => void;
  /** Told each cycle's report (tests). */
  onCycle?: (report: CycleReport) => void;
  /**
   * Told when a process-wide condition opens or closes: the store stops (or starts again) answering, the audit chain
   * stops verifying. Called on changes only, never once per tick.
   */
  onCondition?: (condition: DaemonCondition, open: boolean, code?: string) => void;
  /** A rotation unfinished this long raises `rotation.stuck` (default one hour). */
  stuckAfterMs?: number;
  /**
   * How often the leader sweeps every slot for orphaned keyctl-labelled keys (default a day). The last sweep's time is
   * kept in the coordination store (`daemon/sweep`), so a new leader does not sweep again at once.
   */
  sweepEveryMs?: number;
  /**
   * The scheduled review (`--review-every`): every `everyMs` the leader builds `keyctl review --since <period>` and
   * hands it to `send` (the CLI sends it through the alert channels). Off when absent. The last one's time is kept in the
   * coordination store (`daemon/review`), so a new leader does not send it again at once.
   */
  review?: { everyMs: number; period: string; checklist?: ChecklistConfig; send: (review: Review) => Promise<void> | void };
  /** How often the leader checks the audit chain (default 10 minutes; the first cycle always does). */
  auditCheckMs?: number;
  now?: () => number;
}

export type DaemonCondition = 'store.unreachable' | 'audit.broken';

/** Remembers which conditions are open, and tells `onCondition` of changes only. */
class Conditions {
  private readonly open = new Set<DaemonCondition>();
  constructor(private readonly notify: DaemonOptions['onCondition']) {}
  set(condition: DaemonCondition, isOpen: boolean, code?: string): void {
    if (isOpen === this.open.has(condition)) return;
    if (isOpen) this.open.add(condition);
    else this.open.delete(condition);
    this.notify?.(condition, isOpen, code);
  }
}

export async function runDaemon(deps: DaemonDeps, options: DaemonOptions): Promise<void> {
  const now = options.now ?? Date.now;
  const { logger, metrics } = options;
  const leadership = new Leadership(deps.coordination, { owner: options.owner, ttlMs: options.leaseTtlMs });
  const conditions = new Conditions(options.onCondition);
  // dueRunAt: when this process last recorded a `due.run` (at most hourly: a cycle every 30s would flood the log).
  const audit = { checkedAt: -Infinity, everyMs: options.auditCheckMs ?? 600_000, dueRunAt: -Infinity };
  // Rotations already reported stuck by this process (a new leader may report one again: the alert is deduplicated).
  const stuckSeen = new Set<string>();
  const health: HealthState = { lastBeat: now(), staleAfterMs: Math.max(3 * options.intervalMs, 60_000), storeOk: false, leader: false };
  let server: DaemonServer | undefined;
  if (options.listen) {
    server = await startServer(options.listen, () => health, { text: () => metrics.metricsText(), contentType: metrics.contentType }, now);
    options.onListening?.(server.url);
    logger.info('listening', { url: server.url });
  }
  logger.info('daemon started', { owner: options.owner, intervalMs: options.intervalMs, leaseTtlMs: options.leaseTtlMs });
  try {
    while (!options.signal.aborted) {
      health.lastBeat = now();
      const step = await leadership.step();
      health.leader = step.leader;
      health.storeOk = !step.error;
      metrics.setLeader(step.leader);
      if (step.error) logger.warn('the coordination store did not answer; standing by', { code: step.error.code });
      conditions.set('store.unreachable', Boolean(step.error), step.error?.code);
      if (step.gained) logger.info('leading', step.previousOwner ? { tookOverFrom: step.previousOwner } : {});
      if (step.lost) {
        logger.warn('lost the lead', { reason: step.reason });
        await deps.events
          .emit({ type: 'lease.lost', name: LEADER_LEASE, owner: options.owner, fence: step.lostFence ?? 0, code: step.reason ?? 'LOCKED' })
          .catch(() => undefined);
      }
      if (step.leader) await leaderCycle(deps, leadership, options, health, conditions, audit, stuckSeen);
      await sleep(options.intervalMs, options.signal);
    }
  } finally {
    await leadership.release();
    metrics.setLeader(false);
    await server?.close();
    logger.info('daemon stopped', { owner: options.owner });
  }
}

/** One cycle while keeping the lease alive (a cycle may outlast the TTL: rotations wait for propagation). */
async function leaderCycle(
  deps: DaemonDeps,
  leadership: Leadership,
  options: DaemonOptions,
  health: HealthState,
  conditions: Conditions,
  audit: { checkedAt: number; everyMs: number; dueRunAt: number },
  stuckSeen: Set<string>,
): Promise<void> {
  const { logger } = options;
  let renewing = Promise.resolve();
  const keepAlive = setInterval(
    () => {
      renewing = renewing
        .then(async () => {
          const step = await leadership.step();
          health.lastBeat = (options.now ?? Date.now)();
          if (!step.leader) logger.warn('lost the lead during a cycle; the cycle finishes under per-slot leases', { reason: step.reason });
        })
        .catch(() => undefined);
    },
    Math.max(1000, Math.floor(options.leaseTtlMs / 3)),
  );
  try {
    const sweep = await periodDue(deps.coordination, SWEEP_RECORD, options.sweepEveryMs ?? DEFAULT_SWEEP_EVERY_MS);
    const report = await runCycle(deps, { stuckAfterMs: options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS, stuckSeen, sweep: sweep.due });
    if (sweep.due) await sweep.done();
    if (options.review) await scheduledReview(deps, options.review, options.now ?? Date.now);
    health.storeOk = true;
    for (const s of await buildSchedule(deps)) {
      options.metrics.setSchedule(s.ref, { lastRotation: s.lastRotation, nextRotation: s.nextRotation });
    }
    options.metrics.retainRefs(deps.inventory.slots.map((s) => s.ref));
    logger.info('cycle done', {
      rotated: report.rotation.results.filter((r) => r.status === 'rotated').map((r) => r.ref),
      verified: report.verified.length,
      violations: report.verified.filter((r) => r.violations.length > 0).map((r) => r.ref),
      replaced: report.replaced,
      killed: report.killed,
      alertedOnly: report.alertedOnly,
      stuck: report.stuck,
      ...(report.swept ? { swept: report.swept } : {}),
      failures: report.failures.map((f) => ({ ref: f.ref, code: f.code })),
    });
    conditions.set('store.unreachable', false);
    const at = (options.now ?? Date.now)();
    if (at - audit.dueRunAt >= DUE_RUN_EVERY_MS) {
      // The go-live checklist's proof that the daemon keeps the schedule (src/app/checklist.ts `scheduler-ran`).
      const due = report.rotation.results.filter((r) => r.status !== 'nothing-to-do').length + report.verified.length;
      await deps.events.emit({ type: 'due.run', runner: 'daemon', due, failed: report.failures.length });
      audit.dueRunAt = at;
    }
    if (at - audit.checkedAt >= audit.everyMs) {
      audit.checkedAt = at;
      const chain = await deps.audit.verify();
      conditions.set('audit.broken', !chain.ok, chain.ok ? undefined : 'AUDIT_CHAIN_BROKEN');
      if (!chain.ok) logger.error('the audit chain does not verify: run keyctl audit verify', {});
    }
    options.onCycle?.(report);
  } catch (err) {
    // A store that fails the whole cycle (rotateDue refuses to go on without it): not ready; the next tick retries.
    if (!(err instanceof KeyctlError)) throw err;
    health.storeOk = false;
    conditions.set('store.unreachable', true, err.code);
    logger.error('cycle failed', { code: err.code, message: err.message });
  } finally {
    clearInterval(keepAlive);
    await renewing;
  }
}

const DEFAULT_STUCK_AFTER_MS = 3_600_000;
/** How often the leader records a `due.run` entry (the checklist allows at least two hours between them). */
export const DUE_RUN_EVERY_MS = 3_600_000;
const DEFAULT_SWEEP_EVERY_MS = 86_400_000;
const SWEEP_RECORD = 'daemon/sweep';

const REVIEW_RECORD = 'daemon/review';

/** Sends the scheduled review when its period is over (recorded only once it was handed over). */
async function scheduledReview(deps: DaemonDeps, schedule: NonNullable<DaemonOptions['review']>, now: () => number): Promise<void> {
  const due = await periodDue(deps.coordination, REVIEW_RECORD, schedule.everyMs);
  if (!due.due) return;
  const result = await review(
    { inventory: deps.inventory, audit: deps.audit, now, ...(schedule.checklist ? { checklist: schedule.checklist } : {}) },
    { sinceMs: schedule.everyMs },
  );
  await schedule.send(result);
  await due.done();
}

/**
 * Whether a periodic task (the orphan sweep, the scheduled review) is due, by the time of its last run kept in the
 * coordination store at `record`, and how to record that it ran.
 */
async function periodDue(
  coordination: CoordinationStore,
  record: string,
  everyMs: number,
): Promise<{ due: boolean; done: () => Promise<void> }> {
  const last = await coordination.read<{ at: string }>(record);
  const now = await coordination.now();
  const at = last ? Date.parse(last.value.at) : NaN;
  // A record keyctl cannot read as a time: due (doing it once too often costs one sweep or one review, nothing more).
  const due = !(at + everyMs > now);
  return {
    due,
    done: async () => {
      await coordination
        .write(record, { at: new Date(await coordination.now()).toISOString() }, { expect: last?.revision ?? null })
        .catch(() => undefined); // another leader recorded its own run: as good
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
