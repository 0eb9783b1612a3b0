import { killBots, type KillResult, type SlotKill } from '../../app/kill.js';
import type { TradingOutcome } from '../../app/kill-trading.js';
import { stopSupervisors, type BotStop } from '../../delivery/supervisors.js';
import { botSlots } from '../../domain/resolve.js';
import { ExitCode, UsageError } from '@keyctl/client/errors';
import { describeRevoke, progressLines } from '../render.js';
import type { CommandRun } from '../types.js';

/**
 * The emergency stop (src/app/kill.ts): pause, stop the exec'd bots, cancel orders, close positions (--flatten), revoke
 * (or --read-only), report. Exit 0 only when every step is verified done; 6 when something is not (re-run it).
 */
export const run: CommandRun = async (ctx, args, opts) => {
  const [bot] = args;
  if (!opts.all && !bot)
    throw new UsageError('KILL_TARGET', 'Name the bot to kill, or pass --all.', { hint: 'keyctl kill alpha   or   keyctl kill --all' });
  if (opts.all && bot) throw new UsageError('KILL_TARGET', 'Pass a bot or --all, not both.');
  if (bot) botSlots(ctx.config(), bot); // an unknown bot fails before the store is opened
  const readOnly = opts.readOnly === true;
  const app = await ctx.app();
  const deps = {
    ...app,
    engine: await ctx.engine(),
    // This host's supervisors at once (and confirmed); other hosts' from the hand-over registry (told).
    stopBots: (slotPath: string, pause: Parameters<typeof stopSupervisors>[0]['pause']) =>
      stopSupervisors({ coordination: app.coordination, slotPath, pause, env: ctx.env }),
  };
  const target = opts.all ? '--all' : String(bot);
  const progress = progressLines<SlotKill>(ctx.out, opts.dryRun ? 'listing' : 'killing', (ref, k) => slotLines(k, readOnly).join('\n'));
  let result: KillResult;
  try {
    result = await killBots(deps, {
      bots: bot ? [bot] : 'all',
      reason: String(opts.reason),
      actor: ctx.actor,
      trading: { flatten: opts.flatten === true, keepOrders: opts.keepOrders === true, dryRun: opts.dryRun === true },
      readOnly,
      progress,
    });
  } finally {
    progress.end();
  }
  const { failures } = result;
  if (result.dryRun) {
    ctx.out.result({ dryRun: true, readOnly, trading: result.trading, wouldRevoke: result.wouldRevoke, failures }, () => drill(result));
    return failures.length ? ExitCode.EXCHANGE : ExitCode.OK;
  }
  // Each slot's lines went to stderr as it finished; stdout gets the verdict.
  ctx.out.result({ readOnly, kills: result.kills, results: result.results, failures, trading: result.trading }, () => {
    const bots = result.kills.flatMap((k) => k.bots);
    const count = (state: BotStop['state']) => bots.filter((b) => b.state === state).length;
    const keys = readOnly
      ? `${result.kills.reduce((n, k) => n + (k.readOnly?.readOnly.length ?? 0), 0)} key(s) read-only`
      : `${result.revoked} key(s) revoked`;
    const stopped = count('stopped') + count('exited');
    const botsPart = bots.length
      ? `${stopped} bot(s) confirmed stopped${count('told') ? `, ${count('told')} told on other hosts` : ''}`
      : 'no bot under keyctl exec known';
    const lines = [
      `kill ${target}: ${result.slots.length} slot(s): ${keys}, ${botsPart}${failures.length ? `; ${failures.length} thing(s) NOT DONE` : ''}.`,
    ];
    for (const k of result.kills) lines.push(...slotLines(k, readOnly).map((l) => `  ${l}`));
    lines.push(
      count('told')
        ? "Bots told on other hosts stop at their supervisor's next watch (10 s by default): confirm there."
        : 'Bots under keyctl exec on other hosts sharing the store (if any) stop at their next watch (10 s by default).',
    );
    if (readOnly && !failures.length) lines.push('The keys stay stored and can read the account (balances, positions); they cannot trade.');
    if (failures.length)
      lines.push('NOT COMPLETE: do what each NOT DONE line says, then run the same kill again (it continues where it stopped).');
    lines.push(`Paused: no exec, issue or rotation for ${opts.all ? 'any bot' : bot} until \`keyctl resume ${target} --reason <why>\`.`);
    return lines.join('\n');
  });
  return failures.length ? ExitCode.ROTATION_INCOMPLETE : ExitCode.OK;
};

/** What happened to one slot, a line per step, then what is not done. */
function slotLines(k: SlotKill, readOnly: boolean): string[] {
  const lines: string[] = [];
  if (k.bots.length) lines.push(`${k.ref}: bots: ${k.bots.map(botLine).join('; ')}`);
  if (k.trading) lines.push(`${k.ref}: ${tradingLine(k.trading)}`);
  if (k.revoke) lines.push(describeRevoke(k.revoke));
  if (k.readOnly) {
    const r = k.readOnly;
    const parts = [
      r.readOnly.length ? `read-only (confirmed at the exchange): ${r.readOnly.join(', ')}` : 'no key to switch to read-only',
      ...(r.dead.length ? [`already revoked: ${r.dead.join(', ')}`] : []),
      ...(r.orphans.length ? [`orphaned keys switched: ${r.orphans.join(', ')}`] : []),
    ];
    lines.push(`${k.ref}: ${parts.join('; ')}.`);
  } else if (readOnly && !k.failures.length) lines.push(`${k.ref}: keys left as they are.`);
  for (const f of k.failures) lines.push(`${k.ref}: NOT DONE: ${f.code}: ${f.message}${f.hint ? `\n    hint: ${f.hint}` : ''}`);
  return lines;
}

function botLine(b: BotStop): string {
  const who = `supervisor pid ${b.pid}${b.botPid ? ` (bot pid ${b.botPid})` : ''}`;
  switch (b.state) {
    case 'stopped':
      return `${who} stopped, confirmed${b.exit ? ` (${b.exit.signal ? `signal ${b.exit.signal}` : `exit ${b.exit.code ?? '?'}`})` : ''}`;
    case 'exited':
      return `${who} stopped, confirmed (${b.detail})`;
    case 'told':
      return `${who} on ${b.host} told only: ${b.detail}`;
    case 'unconfirmed':
      return `${who} NOT confirmed stopped: ${b.detail}`;
  }
}

function tradingLine(t: TradingOutcome): string {
  if (t.skipped) return `orders and positions not touched (${t.skipped})`;
  const parts = [t.orders.length ? `${t.cancelled} of ${t.orders.length} open order(s) cancelled` : 'no open order'];
  if (t.positions.length || t.closed)
    parts.push(`${t.closed} of ${t.positions.length} position(s) closed (spot balances left as they are)`);
  return parts.join(', ');
}

function drill(result: KillResult): string {
  const lines = ['DRILL (--dry-run): nothing was paused, stopped, cancelled, closed or revoked. A kill would:'];
  const verb = result.readOnly ? 'switch to read-only' : 'revoke';
  for (const ref of result.slots) {
    const t = result.trading[ref];
    const orders = t?.skipped
      ? `orders: ${t.skipped}`
      : `cancel ${t?.orders.length ?? 0} order(s)${t?.orders.length ? ` (${t.orders.map((o) => `${o.symbol} ${o.side} ${o.qty}`).join(', ')})` : ''}`;
    const positions = t && t.positions.length ? `, close ${t.positions.map((p) => `${p.symbol} ${p.side} ${p.size}`).join(', ')}` : '';
    lines.push(
      `  ${ref}: stop its bots under keyctl exec, ${orders}${positions}, ${verb} ${(result.wouldRevoke[ref] ?? []).join(', ') || 'no key'}`,
    );
  }
  for (const f of result.failures)
    lines.push(`  ${f.ref}: A KILL WOULD FAIL HERE: ${f.code}: ${f.message}${f.hint ? `\n    hint: ${f.hint}` : ''}`);
  return lines.join('\n');
}
