import { parseDuration } from '../../../schedules/duration.js';
import { rotate, type SlotRotation } from '../../app/rotate.js';
import { selectSlots } from '../../domain/resolve.js';
import { ExitCode } from '@keyctl/client/errors';
import { describeOrphansKept, describeRotation, progressLines } from '../render.js';
import { table } from '../output.js';
import type { CommandRun } from '../types.js';

/** Store errors a re-run does not fix: the command exits 4 (the store) rather than 6 (re-run to finish). */
const STORE_REFUSED = new Set(['STORE_ROLLBACK', 'STORE_CORRUPT', 'COORDINATION_CORRUPT', 'STORE_INSECURE']);

/** `keyctl rotate [ref...] [--due | --force] [--grace D]`: refs are bot/sub or a bare bot; none, every slot. */
export const run: CommandRun = async (ctx, args, opts) => {
  const slots = selectSlots(ctx.config(), args);
  const graceMs = typeof opts.grace === 'string' ? parseDuration(opts.grace, '--grace') : undefined;
  const mode = opts.due ? 'due' : opts.force ? 'force' : 'manual';
  const engine = await ctx.engine();
  const progress = progressLines<SlotRotation>(ctx.out, 'rotating', (ref, r) =>
    r.ok
      ? describeRotation(r.outcome, mode)
      : `${ref}: NOT finished: ${r.failure.message}${r.failure.hint ? `\n  hint: ${r.failure.hint}` : ''}`,
  );
  let result;
  try {
    result = await rotate({ ...(await ctx.app()), engine }, { slots, mode, ...(graceMs !== undefined ? { graceMs } : {}), progress });
  } finally {
    progress.end();
  }
  const { results, failures } = result;
  if (mode === 'due') {
    // Recorded even when nothing was due: the go-live checklist's proof that the cron job runs (src/app/checklist.ts).
    const due = results.filter((r) => r.status !== 'nothing-to-do').length + failures.length;
    await (await ctx.events()).emit({ type: 'due.run', runner: 'rotate', due, failed: failures.length });
  }

  ctx.out.result({ results, failures }, () =>
    results.length
      ? table(
          ['ref', 'status', 'new key', 'old key', 'old key revoked'],
          results.map((r) => [
            r.ref,
            r.status,
            r.newFingerprint ?? '-',
            r.oldFingerprint ?? '-',
            r.oldFingerprint ? (r.previousRevoked ? 'yes' : r.revokeAfter ? `after ${r.revokeAfter}` : '-') : '-',
          ]),
        )
      : '',
  );
  const kept = results.flatMap((r) => describeOrphansKept(r.ref, r.orphansKept));
  for (const line of kept) ctx.out.error(line);
  if (failures.some((f) => STORE_REFUSED.has(f.code))) {
    // Re-running would not help: the store refused a record as damaged or rolled back, and a person must look first.
    ctx.out.info(`${failures.length} slot(s) not finished: the store refused a record (see the hint above).`);
    return ExitCode.PROVIDER;
  }
  const paused = failures.filter((f) => f.code === 'SLOT_PAUSED');
  if (paused.length > 0 && paused.length === failures.length) {
    // Re-running would not help either: keyctl kill paused them, and only keyctl resume lifts that.
    ctx.out.info(`${paused.length} slot(s) paused by keyctl kill: not rotated. keyctl resume <bot> --reason <why> first.`);
    return ExitCode.POLICY;
  }
  if (failures.length > 0) {
    ctx.out.info(`${failures.length} slot(s) not finished. Nothing was lost: re-run the same command to finish them.`);
    return ExitCode.ROTATION_INCOMPLETE;
  }
  // Rotated, but a key keyctl made is alive at the exchange and keyctl cannot delete it: a person must.
  if (kept.length > 0) return ExitCode.POLICY;
  return ExitCode.OK;
};
