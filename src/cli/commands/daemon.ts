/**
 * `keyctl daemon [--listen host:port] [--interval D] [--lease D]`: the guardian (src/daemon/run.ts). Runs until SIGTERM
 * or SIGINT, then finishes the current cycle, releases the lead and exits 0. SIGHUP re-reads the config: a valid one
 * replaces the running one (store, alerts and all) between cycles; an invalid one is refused, logged and alerted, and
 * the running config stays. Logs are JSON lines on stdout.
 */
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { parseDuration } from '../../../schedules/duration.js';
import { AlertDispatcher } from '../../alerts/dispatcher.js';
import { alertSecretResolver } from '../../app/alert-secrets.js';
import { createRotationEngine } from '../../app/engine.js';
import { leaseMsFromEnv, propagationWaitMsFromEnv } from '../../app/env.js';
import { instrumentAdapter } from '../../daemon/instrument.js';
import { makeAlert, resolutionOf, type Alert } from '../../alerts/types.js';
import { reviewSummary, type Review } from '../../app/review.js';
import { loadConfig } from '../../config/load.js';
import { AlertConditions } from '../../daemon/conditions.js';
import { jsonLogger } from '../../daemon/log.js';
import { runDaemon, type DaemonCondition } from '../../daemon/run.js';
import type { Logger } from '../../events/types.js';
import { KeyctlError, UsageError } from '@keyctl/client/errors';
import { KeyctlMetrics } from '../../observability/metrics.js';
import { CliContext } from '../context.js';
import type { CommandRun } from '../types.js';

const CONDITION_SUMMARY: Record<DaemonCondition, (code?: string) => string> = {
  'store.unreachable': (code) =>
    `keyctl daemon cannot reach its store (${code ?? 'error'}): no key is rotated or verified until it answers again.`,
  'audit.broken': () => 'The audit chain does not verify: an entry was changed or removed. Run `keyctl audit verify`.',
};

interface Settings {
  intervalMs: number;
  leaseTtlMs: number;
  listen: string | undefined;
  stuckAfterMs?: number;
  sweepEveryMs?: number;
  /** --review-every: the period, as given (the review's --since), and in ms. */
  review?: { period: string; everyMs: number };
}

const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_LEASE_MS = 60_000;

export const run: CommandRun = async (ctx, _args, opts) => {
  const intervalMs = typeof opts.interval === 'string' ? parseDuration(opts.interval, '--interval') : DEFAULT_INTERVAL_MS;
  const leaseTtlMs = typeof opts.lease === 'string' ? parseDuration(opts.lease, '--lease') : DEFAULT_LEASE_MS;
  const stuckAfterMs = typeof opts.stuckAfter === 'string' ? parseDuration(opts.stuckAfter, '--stuck-after') : undefined;
  const sweepEveryMs = typeof opts.sweepEvery === 'string' ? parseDuration(opts.sweepEvery, '--sweep-every') : undefined;
  const reviewEveryMs = typeof opts.reviewEvery === 'string' ? parseDuration(opts.reviewEvery, '--review-every') : undefined;
  if (reviewEveryMs !== undefined && reviewEveryMs < 3_600_000) {
    throw new UsageError('REVIEW_TOO_OFTEN', `--review-every ${String(opts.reviewEvery)} is under an hour.`, {
      hint: 'A review summarises a period for a person: use 7d (weekly) or 30d (monthly).',
    });
  }
  if (intervalMs < 1000) {
    throw new UsageError('INTERVAL_TOO_SHORT', `--interval ${String(opts.interval)} is under a second.`, { hint: 'Use 1s or more.' });
  }
  if (leaseTtlMs < 2 * intervalMs) {
    throw new UsageError('LEASE_TOO_SHORT', `--lease must be at least twice --interval, or the lead changes hands between ticks.`, {
      hint: `For --interval ${String(opts.interval ?? '30s')}, use --lease ${Math.ceil((2 * intervalMs) / 1000)}s or more.`,
    });
  }
  const logger = jsonLogger(ctx.io.stdout, ctx.env.KEYCTL_LOG_LEVEL || 'info');
  // One registry for the process: a reload keeps the counters.
  const metrics = new KeyctlMetrics({ defaultMetrics: true });
  const settings: Settings = {
    intervalMs,
    leaseTtlMs,
    listen: typeof opts.listen === 'string' ? opts.listen : undefined,
    ...(stuckAfterMs !== undefined ? { stuckAfterMs } : {}),
    ...(sweepEveryMs !== undefined ? { sweepEveryMs } : {}),
    ...(reviewEveryMs !== undefined ? { review: { period: String(opts.reviewEvery), everyMs: reviewEveryMs } } : {}),
  };

  const stop = new AbortController();
  let reload = new AbortController();
  let dispatcher: AlertDispatcher | undefined;
  const onStop = (signal: NodeJS.Signals) => {
    logger.info('stopping', { signal });
    stop.abort();
  };
  const onReload = () => {
    try {
      loadConfig(ctx.configPath);
    } catch (err) {
      const code = err instanceof KeyctlError ? err.code : 'INTERNAL';
      logger.error('config reload refused: the running config stays', { code, file: ctx.configPath });
      void dispatcher?.send(
        makeAlert({
          event: 'config.invalid',
          codes: [code],
          summary: `keyctl daemon refused to reload ${ctx.configPath} (${code}); it keeps running on the previous config. Run \`keyctl status\` on the file to see why.`,
        }),
      );
      return;
    }
    logger.info('reloading the config');
    reload.abort();
  };
  // `on`, not `once`: a second signal during shutdown must not fall through to Node's default (exit at once), which
  // would kill the daemon mid-cycle instead of letting it finish and release its lead.
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onReload);
  let current = ctx;
  try {
    for (;;) {
      reload = new AbortController();
      // Either signal ends this run: stop for good, or reload (its own controller, aborted by SIGHUP).
      const run = reload;
      const onAbort = () => run.abort();
      stop.signal.addEventListener('abort', onAbort, { once: true });
      const built = await serve(current, settings, metrics, logger, run.signal, (d) => (dispatcher = d)).finally(() =>
        stop.signal.removeEventListener('abort', onAbort),
      );
      if (stop.signal.aborted || !built) break;
      // A fresh context reads the file again and opens the store anew; the old one is closed.
      if (current !== ctx) await current.close().catch(() => undefined);
      current = new CliContext(ctx.io, 'daemon', { json: ctx.json, config: ctx.configPath });
    }
  } finally {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onReload);
    if (current !== ctx) await current.close().catch(() => undefined);
  }
};

/** Builds everything from one config and runs the loop until `signal`; true when it ran (false: nothing to restart). */
async function serve(
  ctx: CliContext,
  settings: Settings,
  metrics: KeyctlMetrics,
  logger: Logger,
  signal: AbortSignal,
  onDispatcher: (d: AlertDispatcher) => void,
): Promise<boolean> {
  const config = ctx.config();
  const base = await ctx.app();
  // Exchange calls timed for /metrics. No assisted I/O: nobody is at a terminal, so an assisted rotation stops with
  // ASSISTED_KEY_REQUIRED and its steps, which becomes a rotation.failed alert.
  const app = { ...base, adapter: async (exchange: string) => instrumentAdapter(await base.adapter(exchange), exchange, metrics) };
  const leaseMs = leaseMsFromEnv(ctx.env);
  const propagationWaitMs = propagationWaitMsFromEnv(ctx.env);
  const engine = createRotationEngine(app, {
    owner: `${hostname()}:${process.pid}`,
    ...(leaseMs !== undefined ? { leaseMs } : {}),
    ...(propagationWaitMs !== undefined ? { propagationWaitMs } : {}),
    env: ctx.env,
  });
  const events = await ctx.events();
  const detachMetrics = metrics.attach(events);
  const store = app.store;
  const dispatcher = new AlertDispatcher(config.alerts, {
    resolveSecret: alertSecretResolver(store, ctx.env, (value) => ctx.redactor.add(value)),
    onResult: (r) => {
      if (r.outcome === 'filtered') return;
      metrics.alertResult(r.channel, r.outcome);
      if (r.outcome === 'sent') return;
      logger.warn('alert not delivered', {
        channel: r.channel,
        event: r.alert.event,
        ref: r.alert.ref,
        outcome: r.outcome,
        code: r.error?.code,
      });
      void events
        .emit({
          type: 'alert.delivery',
          channel: r.channel,
          event: r.alert.event,
          outcome: r.outcome,
          ...(r.alert.ref ? { ref: r.alert.ref } : {}),
          ...(r.error ? { error: r.error.code } : {}),
        })
        .catch(() => undefined);
    },
    baseDir: dirname(config.file),
  });
  onDispatcher(dispatcher);
  metrics.declareAlertChannels(Object.keys(config.alerts));
  const detachAlerts = new AlertConditions(app.coordination, dispatcher, logger).attach(events);
  // Process-wide conditions: one alert when they open, its resolution when they close (kept in memory: the store
  // that would keep them may be the thing that is down).
  const opened = new Map<string, Alert>();
  const onCondition = (condition: DaemonCondition, open: boolean, code?: string) => {
    if (open) {
      const alert = makeAlert({ event: condition, codes: code ? [code] : [], summary: CONDITION_SUMMARY[condition](code) });
      opened.set(condition, alert);
      void dispatcher.send(alert);
    } else {
      const trigger = opened.get(condition);
      opened.delete(condition);
      if (trigger) void dispatcher.send(resolutionOf(trigger, `Resolved: ${trigger.summary}`, new Date().toISOString()));
    }
  };
  try {
    await runDaemon(
      {
        ...app,
        engine,
        // An automatic kill (verify.onViolation: kill) stops this host's exec'd bots at once, as keyctl kill does.
        stopBots: async (slotPath, pause) => {
          const { stopSupervisors } = await import('../../delivery/supervisors.js');
          return stopSupervisors({ coordination: app.coordination, slotPath, pause, env: ctx.env });
        },
      },
      {
        owner: `${hostname()}:${process.pid}`,
        intervalMs: settings.intervalMs,
        leaseTtlMs: settings.leaseTtlMs,
        ...(settings.listen ? { listen: settings.listen } : {}),
        ...(settings.stuckAfterMs !== undefined ? { stuckAfterMs: settings.stuckAfterMs } : {}),
        ...(settings.sweepEveryMs !== undefined ? { sweepEveryMs: settings.sweepEveryMs } : {}),
        ...(settings.review
          ? {
              review: {
                everyMs: settings.review.everyMs,
                period: settings.review.period,
                checklist: config.checklist,
                // One line through every channel that takes review.ready: what needs a person, and the command for the rest.
                send: async (r: Review) => {
                  await dispatcher.send(makeAlert({ event: 'review.ready', summary: reviewSummary(r, settings.review!.period) }));
                },
              },
            }
          : {}),
        signal,
        logger,
        metrics,
        onCondition,
      },
    );
  } finally {
    detachAlerts();
    detachMetrics();
    await dispatcher.close();
  }
  return true;
}
