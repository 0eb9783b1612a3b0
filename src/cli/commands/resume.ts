import { resumeBots } from '../../app/kill.js';
import { botSlots } from '../../domain/resolve.js';
import { UsageError } from '@keyctl/client/errors';
import type { CommandRun } from '../types.js';

/** `keyctl resume <bot> | --all --reason <text>`: lifts the pause keyctl kill set; the next rotation makes a fresh key. */
export const run: CommandRun = async (ctx, args, opts) => {
  const [bot] = args;
  if (!opts.all && !bot)
    throw new UsageError('RESUME_TARGET', 'Name the bot to resume, or pass --all.', { hint: 'keyctl resume alpha --reason "..."' });
  if (opts.all && bot) throw new UsageError('RESUME_TARGET', 'Pass a bot or --all, not both.');
  if (typeof opts.reason !== 'string' || !opts.reason.trim()) {
    throw new UsageError('REASON_REQUIRED', 'Say why the bot may trade again: --reason <text>.', { hint: 'It goes to the audit log.' });
  }
  if (bot) botSlots(ctx.config(), bot);
  const resumed = await resumeBots(await ctx.app(), { bots: bot ? [bot] : 'all', reason: opts.reason });
  ctx.out.result({ resumed }, () =>
    resumed.length === 0
      ? `Nothing was paused for ${opts.all ? 'any bot' : bot}.`
      : `Resumed ${resumed.join(', ')}. Its keys were revoked (or, after kill --read-only, can only read): \`keyctl rotate ${opts.all ? '' : bot} --force\` creates fresh ones.`.replace(
          '  ',
          ' ',
        ),
  );
};
