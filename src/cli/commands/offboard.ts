import { offboard } from '../../app/offboard.js';
import type { SlotRotation } from '../../app/rotate.js';
import { staffMember } from '../../domain/resolve.js';
import { ExitCode } from '@keyctl/client/errors';
import { describeRotation, progressLines } from '../render.js';
import type { CommandRun } from '../types.js';

/**
 * A staff member left: every slot they were custodian of is rotated now, with no grace, so every key they could have
 * seen stops working. Master keys they could see cannot be rotated by API: they are listed for assisted rotation.
 */
export const run: CommandRun = async (ctx, args, opts) => {
  const person = staffMember(ctx.config(), args[0]);
  const deps = { ...(await ctx.app()), engine: await ctx.engine() };
  const progress = progressLines<SlotRotation>(ctx.out, 'rotating', (ref, r) =>
    r.ok ? describeRotation(r.outcome, 'force') : `${ref}: NOT rotated: ${r.failure.message}`,
  );
  let result;
  try {
    result = await offboard(deps, { person, reason: String(opts.reason), progress });
  } finally {
    progress.end();
  }
  const { rotated, failures, masterKeysToRotateByHand: masterKeys } = result;
  ctx.out.result({ staff: person, rotated, failures, masterKeysToRotateByHand: masterKeys }, () => {
    const lines = [`Offboarding ${person}: ${rotated.length} of ${result.slots.length} slot(s) rotated with no grace.`];
    for (const r of rotated)
      lines.push(
        `  ${r.ref}: new key ${r.newFingerprint}${r.oldFingerprint ? `, old key ${r.oldFingerprint} revoked` : ' (there was no old key)'}`,
      );
    for (const f of failures) lines.push(`  ${f.ref}: NOT rotated: ${f.message}`);
    if (masterKeys.length) {
      lines.push(`Master keys ${person} could see (rotate these by hand now, see docs/runbooks/staff-departure.md):`);
      for (const m of masterKeys)
        lines.push(`  ${m}: create a new master key at the exchange, keyctl key import ${m}, then delete the old one there`);
    }
    if (failures.length) lines.push('Re-run keyctl offboard to finish: it is safe.');
    return lines.join('\n');
  });
  return failures.length ? ExitCode.ROTATION_INCOMPLETE : ExitCode.OK;
};
