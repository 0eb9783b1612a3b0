/**
 * One cycle of the guardian (`keyctl daemon`, run by the leader only): finish interrupted rotations and rotate what is
 * due (flagged keys at once), re-verify what is due, and act on dangerous drift. A slot that fails is reported and the
 * next one goes on; nothing here throws for one slot's sake.
 */
import { rotate, rotateDue, type RotateDeps, type RotateResult } from '../app/rotate.js';
import { verifyDue, type VerifyDeps, type VerifyResult } from '../app/verify.js';
import type { AppDeps } from '../app/deps.js';
import { failureOf } from '../app/failure.js';
import type { Failure } from '../app/progress.js';

/**
 * Violations that make a key dangerous to leave in a bot's hands: it can move funds, works from anywhere, holds more
 * than declared, or keyctl cannot tell what it may do. Such a key is replaced at once, with no grace, when the slot
 * says `verify.onViolation: rotate`. (EXPIRING, MISSING_SCOPE and KEY_REJECTED harm the bot, not the account: they
 * are alerted, and the schedule or a person replaces the key.)
 */
export const DANGEROUS = new Set([
  'WITHDRAW_ENABLED',
  'TRANSFER_ENABLED',
  'NOT_IP_LOCKED',
  'IP_MISMATCH',
  'EXCESS_SCOPE',
  'UNKNOWN_PERMISSION',
  'WRONG_ACCOUNT',
  'EXCHANGE_BAD_RESPONSE',
]);

export type CycleDeps = RotateDeps & VerifyDeps & Pick<AppDeps, 'audit'>;

export interface CycleReport {
  rotation: RotateResult;
  verified: VerifyResult[];
  /** Slots whose key was replaced because a verification found it dangerous. */
  replaced: string[];
  /** Dangerous slots left as they are (onViolation: alert), for the log. */
  alertedOnly: string[];
  failures: Failure[];
}

export async function runCycle(deps: CycleDeps): Promise<CycleReport> {
  const rotation = await rotateDue(deps);
  const verified = await verifyDue(deps);
  const replaced: string[] = [];
  const alertedOnly: string[] = [];
  const failures: Failure[] = [...rotation.failures];
  for (const result of verified) {
    if (!result.violations.some((v) => DANGEROUS.has(v.code))) continue;
    const slot = deps.inventory.slots.find((s) => s.ref === result.ref);
    if (!slot) continue; // a master key: replaced by hand (its alert says so)
    if (slot.verify.onViolation !== 'rotate') {
      alertedOnly.push(slot.ref);
      continue;
    }
    try {
      // No grace: the old key is the danger. The new key is tested against the policy before it is promoted.
      const done = await rotate(deps, { slots: [slot], mode: 'force', graceMs: 0, reason: `violation:${codesOf(result)}` });
      failures.push(...done.failures);
      if (done.results.some((r) => r.status === 'rotated')) replaced.push(slot.ref);
    } catch (err) {
      failures.push(failureOf(slot.ref, err));
    }
  }
  return { rotation, verified, replaced, alertedOnly, failures };
}

function codesOf(result: VerifyResult): string {
  return result.violations.map((v) => v.code).join(',');
}
