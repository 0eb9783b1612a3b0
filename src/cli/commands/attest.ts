/**
 * `keyctl attest <item> [bot] --by <staff> [--note text]`: a staff member vouches for a checklist item only a person
 * can check (src/app/attest.ts). Audited with the claimed name and the actor running the command.
 */
import { attest } from '../../app/attest.js';
import { UsageError } from '@keyctl/client/errors';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx, args, opts) => {
  const config = ctx.config();
  const [item, bot] = args;
  if (typeof opts.by !== 'string') {
    throw new UsageError('BY_REQUIRED', 'attest needs --by <staff>: who vouches for the item.', {
      hint: `Staff: ${config.staff.join(', ') || '(none: list them under staff: in the config)'}.`,
    });
  }
  const result = await attest(
    { inventory: config, events: await ctx.events(), now: Date.now, checklist: config.checklist },
    {
      item: item!,
      by: opts.by,
      ...(bot !== undefined ? { bot } : {}),
      ...(typeof opts.note === 'string' ? { note: opts.note } : {}),
    },
  );
  ctx.out.result(result, `${result.item} attested by ${result.by} for ${result.bots.join(', ')}, valid until ${result.validUntil}.`);
};
