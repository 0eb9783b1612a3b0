import { killBots, type SlotKill } from '../../app/kill.js';
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
    result = await killBots(deps, { bots: bot ? [bot] : 'all', reason: String(opts.reason), actor: ctx.actor, progress });
  } finally {
    progress.end();
  }
  const { results, failures } = result;
  // Each slot's line went to stderr as it finished; stdout gets the verdict.
  ctx.out.result({ results, failures }, () => {
    const lines = [
      `kill ${opts.all ? '--all' : bot}: ${result.revoked} key(s) revoked across ${result.slots.length} slot(s)${failures.length ? `, ${failures.length} NOT revoked` : ''}.`,
    ];
    for (const f of failures) lines.push(`  ${f.ref}: COULD NOT revoke: ${f.message}`);
    if (failures.length) lines.push(`Delete them in the exchange's web UI now, then run keyctl kill again to confirm.`);
    lines.push(
      `Paused: no exec, issue or rotation for ${opts.all ? 'any bot' : bot} until \`keyctl resume ${opts.all ? '--all' : bot} --reason <why>\`.`,
    );
    return lines.join('\n');
  });
  return failures.length ? ExitCode.EXCHANGE : ExitCode.OK;
};
