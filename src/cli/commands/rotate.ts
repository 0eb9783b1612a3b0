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

/**
 * Selects slots by ref: `bot/sub` is one slot, a bare `bot` every slot of that bot (as `kill` takes it); no ref, every
 * slot. Every ref is checked before any work starts. Account refs are refused with where to look instead.
 */
export function selectSlots(ctx: CliContext, refs: string[]): SlotConfig[] {
  const config = ctx.config();
  if (refs.length === 0) return config.slots;
  const selected = new Map<string, SlotConfig>();
  for (const text of refs) {
    const bot = config.slots.filter((s) => s.bot === text);
    if (!text.includes('/') && !text.startsWith('@')) {
      if (bot.length === 0) {
        throw new UsageError('UNKNOWN_BOT', `${config.file} declares no bot "${text}".`, {
          hint: `Declared bots: ${[...new Set(config.slots.map((s) => s.bot))].join(', ') || '(none)'}; a single slot is bot/subaccount, e.g. alpha/arb1.`,
        });
      }
      for (const s of bot) selected.set(s.ref, s);
      continue;
    }
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
    selected.set(slot.ref, slot);
  }
  return [...selected.values()];
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
  const mode: Mode = opts.due ? 'due' : opts.force ? 'force' : 'manual';
  const progress = ctx.out.progress('rotating', slots.length);

  try {
    for (const slot of slots) {
      progress.begin(slot.ref);
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
        progress.done(slot.ref, describe(outcome, mode));
      } catch (err) {
        const f = failureOf(slot.ref, err);
        failures.push(f);
        progress.done(slot.ref, `${slot.ref}: NOT finished: ${f.message}${f.hint ? `\n  hint: ${f.hint}` : ''}`);
      }
    }
  } finally {
    progress.end();
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
  if (failures.length > 0) {
    ctx.out.info(`${failures.length} slot(s) not finished. Nothing was lost: re-run the same command to finish them.`);
    return ExitCode.ROTATION_INCOMPLETE;
  }
  return ExitCode.OK;
};

type Mode = 'manual' | 'force' | 'due';

const REVOKED_BECAUSE: Record<NonNullable<RotationOutcome['revokeReason']>, string> = {
  'grace-over': 'its grace period was over',
  'bots-confirmed': 'every bot using the slot confirmed the new key',
  forced: 'revoked now, as asked',
};

/** One line per slot, saying what happened and, when nothing new started, how to start it. */
export function describe(o: RotationOutcome, mode: Mode): string {
  const old = o.oldFingerprint ? `old key ${o.oldFingerprint}` : 'the old key';
  switch (o.status) {
    case 'rotated': {
      const verb = o.resumed ? 'finished an interrupted rotation' : 'rotated';
      const previous = !o.oldFingerprint
        ? ' (there was no old key)'
        : o.previousRevoked
          ? `, ${old} revoked${o.revokeReason === 'grace-over' ? '' : ` (${REVOKED_BECAUSE[o.revokeReason ?? 'forced']})`}`
          : `, ${old} stays valid until ${o.revokeAfter} (grace period); a later keyctl rotate revokes it`;
      return `${o.ref}: ${verb}: new key ${o.newFingerprint}${previous}.`;
    }
    case 'revoked-previous': {
      const line = `${o.ref}: finished the last rotation: ${old} revoked (${REVOKED_BECAUSE[o.revokeReason ?? 'grace-over']}).`;
      return mode === 'manual' ? `${line} No new rotation was started: keyctl rotate ${o.ref} --force starts one.` : line;
    }
    case 'awaiting-grace':
      return `${o.ref}: the last rotation's ${old} stays valid until ${o.revokeAfter} (grace period); nothing to do yet. keyctl rotate ${o.ref} --force revokes it now and starts a new rotation.`;
    case 'nothing-to-do':
      return `${o.ref}: not due.`;
  }
}
