/**
 * One cycle of the guardian (`keyctl daemon`, run by the leader only): finish interrupted rotations and rotate what is
 * due (flagged keys at once), re-verify what is due, and act on dangerous drift. A slot that fails is reported and the
 * next one goes on; nothing here throws for one slot's sake.
 */
import { killBots, type KillDeps } from '../app/kill.js';
import { rotate, rotateDue, type RotateDeps, type RotateResult } from '../app/rotate.js';
import { verifyDue, type VerifyDeps, type VerifyResult } from '../app/verify.js';
import type { AppDeps } from '../app/deps.js';
import { failureOf } from '../app/failure.js';
import type { Failure } from '../app/progress.js';
import { readPause } from '../delivery/pause.js';
import type { Slot } from '../domain/inventory.js';
import { storePath } from '../domain/refs.js';
import { readJournal } from '../rotation/journal.js';

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

export type CycleDeps = RotateDeps &
  VerifyDeps &
  Pick<AppDeps, 'audit' | 'events'> &
  /** How an automatic kill stops the bots under `keyctl exec` on this host at once (the kill's own step). */
  Pick<KillDeps, 'stopBots'>;

export interface CycleOptions {
  /** A rotation unfinished this long is `rotation.stuck` (from its start; a promoted one from its grace's end). */
  stuckAfterMs?: number;
  /** Rotations already reported stuck (rotationIds), kept by the caller across cycles so each is reported once. */
  stuckSeen?: Set<string>;
  /** Sweep every slot for orphaned keyctl-labelled keys in this cycle (the caller decides how often). */
  sweep?: boolean;
}

export interface CycleReport {
  rotation: RotateResult;
  verified: VerifyResult[];
  /** Slots whose key was replaced because a verification found it dangerous. */
  replaced: string[];
  /** Bots killed (onViolation: kill) because a verification found one of their keys dangerous. */
  killed: string[];
  /** Dangerous slots left as they are (onViolation: alert), for the log. */
  alertedOnly: string[];
  /** Rotations found stuck in this cycle (refs). */
  stuck: string[];
  /** Orphan sweep (when it ran): keys deleted, and keys the exchange would not let keyctl delete. */
  swept?: { deleted: number; kept: number };
  failures: Failure[];
}

export async function runCycle(deps: CycleDeps, options: CycleOptions = {}): Promise<CycleReport> {
  const rotation = await rotateDue(deps);
  const verified = await verifyDue(deps);
  const replaced: string[] = [];
  const killed: string[] = [];
  const alertedOnly: string[] = [];
  const failures: Failure[] = [...rotation.failures];
  for (const result of verified) {
    if (!result.violations.some((v) => DANGEROUS.has(v.code))) continue;
    const slot = deps.inventory.slots.find((s) => s.ref === result.ref);
    if (!slot) continue; // a master key: replaced by hand (its alert says so)
    if (slot.verify.onViolation === 'alert') {
      alertedOnly.push(slot.ref);
      continue;
    }
    if (slot.verify.onViolation === 'kill') {
      if (await killForViolation(deps, slot, result, failures)) killed.push(slot.bot);
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
  const stuck = await findStuck(deps, options);
  const report: CycleReport = { rotation, verified, replaced, killed, alertedOnly, stuck, failures };
  if (options.sweep) report.swept = await sweepAll(deps, failures);
  return report;
}

/**
 * `verify.onViolation: kill`: the slot's whole bot is stopped as `keyctl kill <bot>` would (paused, orders cancelled
 * with its key, keys revoked; positions are left open: closing them at market is a person's call). A bot already
 * paused was killed before (by a person or an earlier cycle): not again, its key is gone or going.
 */
async function killForViolation(deps: CycleDeps, slot: Slot, result: VerifyResult, failures: Failure[]): Promise<boolean> {
  try {
    if (await readPause(deps.coordination, storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }))) return false;
    const done = await killBots(deps, {
      bots: [slot.bot],
      reason: `automatic: ${codesOf(result)} on ${slot.ref} (verify.onViolation: kill)`,
      actor: 'keyctl daemon',
      trading: { keepOrders: false, flatten: false, dryRun: false },
    });
    failures.push(...done.failures);
    return true;
  } catch (err) {
    failures.push(failureOf(slot.ref, err));
    return false;
  }
}

/** Rotations unfinished for longer than `stuckAfterMs`, each reported (a `rotation.stuck` event) once. */
async function findStuck(deps: CycleDeps, options: CycleOptions): Promise<string[]> {
  if (options.stuckAfterMs === undefined) return [];
  const now = deps.now();
  const stuck: string[] = [];
  for (const slot of deps.inventory.slots) {
    const journal = await readJournal(deps.coordination, storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub })).catch(() => null);
    if (!journal) continue;
    const { entry } = journal;
    // A promoted rotation waits out its grace period by design: stuck only once that is long over.
    const since = entry.step === 'promoted' && entry.revokeAfter ? entry.revokeAfter : entry.startedAt;
    if (!(Date.parse(since) + options.stuckAfterMs <= now)) continue;
    stuck.push(slot.ref);
    if (options.stuckSeen?.has(entry.rotationId)) continue;
    options.stuckSeen?.add(entry.rotationId);
    await deps.events.emit({ type: 'rotation.stuck', ref: slot.ref, rotationId: entry.rotationId, step: entry.step, since });
  }
  return stuck;
}

/**
 * The periodic orphan sweep: keyctl-labelled keys at the exchange that the store does not hold are deleted (each a
 * `key.swept` event). Rotations sweep too, but only the slot they rotate, and only when they run.
 */
async function sweepAll(deps: CycleDeps, failures: Failure[]): Promise<{ deleted: number; kept: number }> {
  let deleted = 0;
  let kept = 0;
  for (const slot of deps.inventory.slots) {
    try {
      const swept = await deps.engine.sweepOrphans(slot);
      if (!swept) continue; // a rotation holds the slot: it sweeps at its end
      deleted += swept.deleted;
      kept += swept.kept.length;
      for (const k of swept.kept) failures.push({ ref: slot.ref, code: k.code, message: `orphan ${k.fingerprint}: ${k.message}` });
    } catch (err) {
      failures.push(failureOf(slot.ref, err));
    }
  }
  return { deleted, kept };
}

function codesOf(result: VerifyResult): string {
  return result.violations.map((v) => v.code).join(',');
}
