import { ExitCode, UsageError } from '../../errors.js';
import type { RevokeOutcome } from '../../rotation/engine.js';
import { engineFor } from '../../rotation/setup.js';
import { selectSlots } from './rotate.js';
import type { CommandRun } from '../types.js';

export function describeRevoke(o: RevokeOutcome): string {
  const lines = [
    `${o.ref}: revoked ${o.revoked.length ? o.revoked.join(', ') : 'nothing (no live key)'}${o.orphansDeleted ? `, ${o.orphansDeleted} orphaned key(s) deleted` : ''}.`,
  ];
  for (const f of o.failed) lines.push(`${o.ref}: COULD NOT revoke ${f.fingerprint}: ${f.message}`);
  return lines.join('\n');
}

export const run: CommandRun = async (ctx, args, opts) => {
  const [text] = args;
  if (!text || !text.includes('/'))
    throw new UsageError('INVALID_REF', 'revoke takes one slot ref, e.g. alpha/arb1.', {
      hint: 'To revoke every key of a bot at once: keyctl kill <bot>.',
    });
  const [slot] = selectSlots(ctx, [text]);
  const engine = await engineFor(ctx);
  const outcome = await engine.revoke(slot!, { reason: String(opts.reason) });
  ctx.out.result(outcome, describeRevoke(outcome));
  return outcome.failed.length ? ExitCode.EXCHANGE : ExitCode.OK;
};
