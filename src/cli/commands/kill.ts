import { killBots, type KillResult, type SlotKill } from '../../app/kill.js';
import type { TradingOutcome } from '../../app/kill-trading.js';
import { botSlots } from '../../domain/resolve.js';
import { ExitCode, UsageError } from '../../errors.js';
import { describeRevoke, progressLines } from '../render.js';
import type { CommandRun } from '../types.js';

/** The emergency stop: every key of the bot(s) revoked at once, in parallel; a held rotation lease does not stop it. */
export const run: CommandRun = async (ctx, args, opts) => {
  const [bot] = args;
  if (!opts.all && !bot)
    throw new UsageError('KILL_TARGET', 'Name the bot to kill, or pass --all.', { hint: 'keyctl kill alpha   or   keyctl kill --all' });
  if (opts.all && bot) throw new UsageError('KILL_TARGET', 'Pass a bot or --all, not both.');
  if (bot) botSlots(ctx.config(), bot); // an unknown bot fails before the store is opened
  const deps = { ...(await ctx.app()), engine: await ctx.engine() };
  const progress = progressLines<SlotKill>(ctx.out, 'revoking', (ref, r) =>
    r.ok ? describeRevoke(r.outcome) : `${ref}: COULD NOT revoke: ${r.failure.message}`,
  );
  let result;
  try {
    result = await killBots(deps, {
      bots: bot ? [bot] : 'all',
      reason: String(opts.reason),
      actor: ctx.actor,
      trading: { flatten: opts.flatten === true, keepOrders: opts.keepOrders === true, dryRun: opts.dryRun === true },
      progress,
    });
  } finally {
    progress.end();
  }
  const { results, failures } = result;
  if (result.dryRun) {
    ctx.out.result({ dryRun: true, trading: result.trading, wouldRevoke: result.wouldRevoke, failures }, () => drill(result));
    return failures.length ? ExitCode.EXCHANGE : ExitCode.OK;
  }
  // Each slot's line went to stderr as it finished; stdout gets the verdict.
  ctx.out.result({ results, failures, trading: result.trading }, () => {
    const lines = [
      `kill ${opts.all ? '--all' : bot}: ${result.revoked} key(s) revoked across ${result.slots.length} slot(s)${failures.length ? `, ${failures.length} NOT revoked` : ''}.`,
    ];
    for (const [ref, t] of Object.entries(result.trading)) lines.push(`  ${ref}: ${tradingLine(t)}`);
    for (const f of failures) lines.push(`  ${f.ref}: NOT DONE: ${f.code}: ${f.message}`);
    if (failures.length) lines.push(`Delete them in the exchange's web UI now, then run keyctl kill again to confirm.`);
    lines.push(
      `Paused: no exec, issue or rotation for ${opts.all ? 'any bot' : bot} until \`keyctl resume ${opts.all ? '--all' : bot} --reason <why>\`.`,
    );
    return lines.join('\n');
  });
  return failures.length ? ExitCode.EXCHANGE : ExitCode.OK;
};

function tradingLine(t: TradingOutcome): string {
  if (t.skipped) return `orders and positions not touched (${t.skipped})`;
  const parts = [`${t.cancelled} of ${t.orders.length} open order(s) cancelled`];
  if (t.positions.length || t.closed)
    parts.push(`${t.closed} of ${t.positions.length} position(s) closed (spot balances left as they are)`);
  return parts.join(', ');
}

function drill(result: KillResult): string {
  const lines = ['DRILL (--dry-run): nothing was paused, cancelled, closed or revoked. A kill would:'];
  for (const ref of result.slots) {
    const t = result.trading[ref];
    const orders = t?.skipped
      ? `orders: ${t.skipped}`
      : `cancel ${t?.orders.length ?? 0} order(s)${t?.orders.length ? ` (${t.orders.map((o) => `${o.symbol} ${o.side} ${o.qty}`).join(', ')})` : ''}`;
    const positions = t && t.positions.length ? `, close ${t.positions.map((p) => `${p.symbol} ${p.side} ${p.size}`).join(', ')}` : '';
    lines.push(`  ${ref}: ${orders}${positions}, revoke ${(result.wouldRevoke[ref] ?? []).join(', ') || 'no key'}`);
  }
  for (const f of result.failures) lines.push(`  ${f.ref}: COULD NOT LIST: ${f.code}: ${f.message}`);
  return lines.join('\n');
}
