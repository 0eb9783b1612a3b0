import { revoke } from '../../app/revoke.js';
import { resolveSlot } from '../../domain/resolve.js';
import { ExitCode, UsageError } from '@keyctl/client/errors';
import { describeRevoke } from '../render.js';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx, args, opts) => {
  const [text] = args;
  if (!text || !text.includes('/'))
    throw new UsageError('INVALID_REF', 'revoke takes one slot ref, e.g. alpha/arb1.', {
      hint: 'To revoke every key of a bot at once: keyctl kill <bot>.',
    });
  const { slot } = resolveSlot(ctx.config(), text);
  const outcome = await revoke({ engine: await ctx.engine() }, { slot, reason: String(opts.reason) });
  ctx.out.result(outcome, describeRevoke(outcome));
  return outcome.failed.length ? ExitCode.EXCHANGE : ExitCode.OK;
};
