import { ExitCode, UsageError } from '../../errors.js';
import type { RotationOutcome } from '../../rotation/engine.js';
import { engineFor } from '../../rotation/setup.js';
import { describe, failureOf, type Failure } from './rotate.js';
import type { CommandRun } from '../types.js';

/**
 * A staff member left: every slot they were custodian of is rotated now, with no grace, so every key they could have
 * seen stops working. Master keys they could see cannot be rotated by API: they are listed for assisted rotation.
 */
export const run: CommandRun = async (ctx, args, opts) => {
  const config = ctx.config();
  const [person] = args;
  if (!person || !config.staff.includes(person)) {
    throw new UsageError('UNKNOWN_STAFF', `"${person ?? ''}" is not listed under staff in ${config.file}.`, {
      hint: `Staff: ${config.staff.join(', ') || '(none)'}.`,
    });
  }
  const slots = config.slots.filter((s) => s.custodians.includes(person));
  const masterKeys = Object.values(config.accounts)
    .filter((a) => a.custodians.includes(person))
    .map((a) => `@${a.name}`);
  const engine = await engineFor(ctx);
  const results: RotationOutcome[] = [];
  const failures: Failure[] = [];
  const progress = ctx.out.progress('rotating', slots.length);
  try {
    for (const slot of slots) {
      progress.begin(slot.ref);
      try {
        const outcome = await engine.rotate(slot, {
          start: true,
          graceMs: 0,
          revokeNow: true,
          reason: `offboard:${person}:${String(opts.reason)}`,
        });
        results.push(outcome);
        progress.done(slot.ref, describe(outcome, 'force'));
      } catch (err) {
        const f = failureOf(slot.ref, err);
        failures.push(f);
        progress.done(slot.ref, `${slot.ref}: NOT rotated: ${f.message}`);
      }
    }
  } finally {
    progress.end();
  }
  await ctx.record({
    command: 'offboard',
    outcome: failures.length ? 'failed' : 'ok',
    detail: { staff: person, rotated: results.length, failed: failures.length, masterKeys: masterKeys.join(',') },
  });
  ctx.out.result({ staff: person, rotated: results, failures, masterKeysToRotateByHand: masterKeys }, () => {
    const lines = [`Offboarding ${person}: ${results.length} of ${slots.length} slot(s) rotated with no grace.`];
    for (const r of results)
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
