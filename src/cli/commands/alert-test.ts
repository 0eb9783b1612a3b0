/**
 * `keyctl alert test [channel]`: sends an `alert.test` alert to one channel (or every one), whatever its filters, and
 * reports each delivery, each recorded in the audit log (`alert test` entries: what `keyctl checklist` reads as
 * "alerting was tested"). Exit 0 when every channel took it, 4 when one did not (or the store cannot be opened), 2 for
 * an unknown channel or none.
 */
import { dirname } from 'node:path';
import { AlertDispatcher } from '../../alerts/dispatcher.js';
import { alertSecretResolver } from '../../app/alert-secrets.js';
import { ExitCode, UsageError } from '@keyctl/client/errors';
import { table } from '../output.js';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx, args) => {
  const config = ctx.config();
  const names = Object.keys(config.alerts);
  const [channel] = args;
  if (names.length === 0) {
    throw new UsageError('NO_ALERT_CHANNELS', `${config.file} declares no alert channels.`, {
      hint: 'Add one under alerts: (docs/alerts.md), e.g. alerts: { ops: { type: webhook, url: https://... } }.',
    });
  }
  if (channel !== undefined && !names.includes(channel)) {
    throw new UsageError('UNKNOWN_CHANNEL', `No alert channel "${channel}".`, { hint: `Channels: ${names.join(', ')}.` });
  }
  // Each delivery is audited (the go-live checklist's evidence that alerting was tested), so the audit log, and with
  // it the store, is opened before anything is sent: a test nobody can record is not run.
  const events = await ctx.events();
  const store = await ctx.store();
  const dispatcher = new AlertDispatcher(config.alerts, {
    resolveSecret: alertSecretResolver(store, ctx.env, (value) => ctx.redactor.add(value)),
    baseDir: dirname(config.file),
    scheduleNotices: false,
    // A person is waiting at the terminal: one retry, not the daemon's patience.
    retries: 1,
    baseDelayMs: 500,
  });
  let results;
  try {
    results = await dispatcher.test(channel);
  } finally {
    await dispatcher.close();
  }
  for (const r of results) {
    await events.emit({
      type: 'alert.test',
      channel: r.channel,
      outcome: r.outcome === 'sent' ? 'sent' : 'failed',
      ...(r.outcome === 'sent' ? {} : { error: r.error?.code ?? 'ALERT_NOT_SENT' }),
    });
  }
  const rows = results.map((r) => ({
    channel: r.channel,
    type: r.type ?? null,
    outcome: r.outcome,
    attempts: r.attempts,
    ...(r.error ? { error: r.error } : {}),
  }));
  ctx.out.result({ results: rows }, () =>
    table(
      ['channel', 'type', 'outcome', 'detail'],
      rows.map((r) => [
        r.channel,
        r.type ?? '-',
        r.outcome === 'sent' ? 'sent' : r.outcome.toUpperCase(),
        r.error ? `${r.error.code}: ${r.error.message}` : '-',
      ]),
    ),
  );
  return rows.every((r) => r.outcome === 'sent') ? ExitCode.OK : ExitCode.PROVIDER;
};
