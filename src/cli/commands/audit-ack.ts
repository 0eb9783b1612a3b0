/**
 * `keyctl audit ack --reason <text>`: acknowledges every lost head anchor recorded in the audit log, after the
 * operator investigated it, so `audit verify` stops reporting it. The acknowledgement is an audit entry itself.
 */
import { acknowledgeAnchorLoss } from '../../app/audit-ack.js';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx, _args, opts) => {
  const reason = typeof opts.reason === 'string' ? opts.reason : '';
  const result = await acknowledgeAnchorLoss({ audit: await ctx.audit(), actor: ctx.actor }, reason);
  ctx.out.result(result, () =>
    result.acknowledged.length === 0
      ? 'Nothing to acknowledge: the audit log records no lost head anchor since the last acknowledgement.'
      : `Acknowledged the lost head anchor recorded in ${result.acknowledged.length === 1 ? 'entry' : 'entries'} ` +
        `${result.acknowledged.join(', ')} (acknowledgement: entry ${result.seq}). Run keyctl audit verify to check the rest of the log.`,
  );
};
