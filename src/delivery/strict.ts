/**
 * `keyctl exec --strict`, the go-live gate (docs/go-live.md): a bot starts only when its last recorded checklist verdict
 * passed and is at most a day old. exec reads the verdict `keyctl checklist` recorded in the audit log (its latest-entry
 * cache, src/audit/latest.ts); it never runs a check itself, so no exchange is called on a bot's start.
 */
import type { AuditLog } from '../audit/types.js';
import { ExitCode, KeyctlError } from '@keyctl/client/errors';

/** How old a passing verdict may be. */
export const STRICT_MAX_AGE_MS = 24 * 3_600_000;

/** The audit command of a checklist verdict (src/audit/subscriber.ts, `checklist.verdict`). */
export const CHECKLIST_COMMAND = 'checklist';

export class ChecklistGateError extends KeyctlError {
  constructor(bot: string, why: string) {
    super('CHECKLIST_NOT_PASSED', `exec --strict refuses to start ${bot}: ${why}.`, ExitCode.POLICY, {
      hint: `Run \`keyctl checklist ${bot}\`, fix what it reports, and start the bot again once it passes (or start it without --strict).`,
      details: { bot },
    });
  }
}

/** Throws CHECKLIST_NOT_PASSED (exit 3) unless `bot`'s last checklist verdict passed within STRICT_MAX_AGE_MS of `now`. */
export async function assertChecklistPassed(audit: Pick<AuditLog, 'latest'>, bot: string, now: number): Promise<void> {
  const verdict = (await audit.latest([CHECKLIST_COMMAND])).filter((e) => e.detail?.bot === bot).at(-1);
  if (!verdict) throw new ChecklistGateError(bot, 'no checklist verdict is on record for it');
  const failing = typeof verdict.detail?.failing === 'string' && verdict.detail.failing !== '' ? verdict.detail.failing : 'some items';
  if (verdict.outcome !== 'ok') throw new ChecklistGateError(bot, `its last checklist (${verdict.time}) failed: ${failing}`);
  const age = now - Date.parse(verdict.time);
  // An unreadable or future time counts as no verdict (fail closed).
  if (!(age >= 0 && age <= STRICT_MAX_AGE_MS)) {
    throw new ChecklistGateError(bot, `its last passing checklist (${verdict.time}) is older than a day`);
  }
}
