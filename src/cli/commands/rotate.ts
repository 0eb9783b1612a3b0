import { DateTime } from 'luxon';
import { parseDuration } from '../../../schedules/duration.js';
import { dueForRotation } from '../../../schedules/due.js';
import type { SlotConfig } from '../../config/load.js';
import { ExitCode, KeyctlError, UsageError } from '../../errors.js';
import { parseRef, storePath } from '../../domain/refs.js';
import type { RotationOutcome } from '../../rotation/engine.js';
import { engineFor } from '../../rotation/setup.js';
import { table } from '../output.js';
import type { CliContext } from '../context.js';
import type { CommandRun } from '../types.js';

export interface Failure {
  ref: string;
  code: string;
  message: string;
  hint?: string;
}

/** Selects slots by ref (none: all); account refs are refused with where to look instead. */
export function selectSlots(ctx: CliContext, refs: string[]): SlotConfig[] {
  const config = ctx.config();
  if (refs.length === 0) return config.slots;
  return refs.map((text) => {
    const ref = parseRef(text);
    if (ref.kind === 'account') {
      throw new UsageError('MASTER_KEY_ROTATION', `${text} is an account master key; keyctl rotates bot keys.`, {
        hint: 'Master keys are replaced by hand: see docs/runbooks/staff-departure.md, then keyctl key import.',
      });
    }
    const slot = config.slots.find((s) => s.bot === ref.bot && s.sub === ref.sub);
    if (!slot) {
      throw new UsageError('UNKNOWN_REF', `${config.file} declares no slot "${text}".`, {
        hint: `Declared slots: ${config.slots.map((s) => s.ref).join(', ') || '(none)'}.`,
      });
    }
    return slot;
  });
}

export function failureOf(ref: string, err: unknown): Failure {
  if (err instanceof KeyctlError) return { ref, code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  return { ref, code: 'INTERNAL', message: 'unexpected error' };
}

export const run: CommandRun = async (ctx, args, opts) => {
  const slots = selectSlots(ctx, args);
  const graceMs = typeof opts.grace === 'string' ? parseDuration(opts.grace, '--grace') : undefined;
  const engine = await engineFor(ctx);
  const store = await ctx.store();
  const now = DateTime.utc();
  const results: RotationOutcome[] = [];
  const failures: Failure[] = [];

  for (const slot of slots) {
    let start = true;
    if (opts.due) {
      const info = await store.describe(storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }));
      const current = info?.versions.find((v) => v.id === info.stages.CURRENT);
      start = dueForRotation(slot, { lastRotation: current?.createdAt ?? null }, now);
    }
    try {
      const outcome = await engine.rotate(slot, {
        start,
        ...(graceMs !== undefined ? { graceMs } : {}),
        revokeNow: Boolean(opts.force),
        reason: opts.due ? 'schedule' : opts.force ? 'forced' : 'manual',
      });
      results.push(outcome);
      ctx.out.info(describe(outcome));
    } catch (err) {
      const f = failureOf(slot.ref, err);
      failures.push(f);
      ctx.out.error(`${slot.ref}: ${f.message}${f.hint ? `\n  hint: ${f.hint}` : ''}`);
    }
  }

  ctx.out.result({ results, failures }, () =>
    results.length
      ? table(
          ['ref', 'status', 'new key', 'old key', 'old key revoked'],
          results.map((r) => [r.ref, r.status, r.newFingerprint ?? '-', r.oldFingerprint ?? '-', r.previousRevoked ? 'yes' : r.revokeAfter ? `after ${r.revokeAfter}` : '-']),
        )
      : '',
  );
  if (failures.length > 0) {
    if (!ctx.json) ctx.out.error(`${failures.length} slot(s) not finished. Nothing was lost: re-run the same command to finish them.`);
    return failures.every((f) => f.code === 'UNKNOWN_REF') ? ExitCode.USAGE : ExitCode.ROTATION_INCOMPLETE;
  }
  return ExitCode.OK;
};

function describe(o: RotationOutcome): string {
  switch (o.status) {
    case 'rotated':
      return `${o.ref}: ${o.resumed ? 'finished an interrupted rotation' : 'rotated'}: new key ${o.newFingerprint}${o.oldFingerprint ? `, old key ${o.oldFingerprint} ${o.previousRevoked ? 'revoked' : `stays valid until ${o.revokeAfter}`}` : ''}.`;
    case 'revoked-previous':
      return `${o.ref}: grace over, old key ${o.oldFingerprint} revoked.`;
    case 'awaiting-grace':
      return `${o.ref}: the previous key is in its grace period until ${o.revokeAfter}; nothing to do yet (--force revokes it now).`;
    case 'nothing-to-do':
      return `${o.ref}: not due.`;
  }
}
