/**
 * The emergency stop: every key of the given bots (or of every bot) revoked at once, in parallel; a rotation holding
 * a slot's lease does not stop it. Each key's revocation is a `key.revoked` event (from the engine); the whole kill is
 * one `kill` event.
 */
import { botSlots } from '../domain/resolve.js';
import type { Slot } from '../domain/inventory.js';
import type { RevokeOutcome } from '../rotation/engine.js';
import type { AppDeps } from './deps.js';
import { failureOf } from './failure.js';
import type { Failure, ProgressListener } from './progress.js';
import { revoke } from './revoke.js';
import type { RotateDeps } from './rotate.js';

export type KillDeps = Pick<AppDeps, 'inventory' | 'events'> & Pick<RotateDeps, 'engine'>;

export interface KillInput {
  /** The bots to kill (each must be declared: UNKNOWN_BOT), or every declared bot. */
  bots: readonly string[] | 'all';
  reason: string;
  progress?: ProgressListener<SlotKill>;
}

/** One slot's revocation: what was revoked (and what not), or why nothing could be tried. */
export type SlotKill = { ok: true; outcome: RevokeOutcome } | { ok: false; failure: Failure };

export interface KillResult {
  /** The slots the kill covered, in inventory order. */
  slots: string[];
  /** Per slot, in inventory order. */
  results: RevokeOutcome[];
  /** Keys (or slots) NOT revoked: delete them by hand, then kill again. */
  failures: Failure[];
  /** Keys revoked across all slots. */
  revoked: number;
}

export async function killBots(deps: KillDeps, input: KillInput): Promise<KillResult> {
  const all = input.bots === 'all';
  const slots: Slot[] = all ? [...deps.inventory.slots] : [...new Set(input.bots)].flatMap((b) => botSlots(deps.inventory, b));
  const results: RevokeOutcome[] = [];
  const failures: Failure[] = [];
  input.progress?.planned?.(slots.map((s) => s.ref));
  // Every slot at once; each reports as it finishes.
  await Promise.all(
    slots.map(async (slot) => {
      input.progress?.started?.(slot.ref);
      try {
        const outcome = await revoke(deps, { slot, reason: input.reason, emergency: true });
        results.push(outcome);
        for (const f of outcome.failed) failures.push({ ref: slot.ref, code: f.code, message: `${f.fingerprint}: ${f.message}` });
        input.progress?.finished?.(slot.ref, { ok: true, outcome });
      } catch (err) {
        const failure = failureOf(slot.ref, err);
        failures.push(failure);
        input.progress?.finished?.(slot.ref, { ok: false, failure });
      }
    }),
  );
  // Inventory order, whatever order the exchanges answered in.
  const order = (ref: string) => slots.findIndex((s) => s.ref === ref);
  results.sort((a, b) => order(a.ref) - order(b.ref));
  failures.sort((a, b) => order(a.ref) - order(b.ref));
  const revoked = results.reduce((n, r) => n + r.revoked.length, 0);
  await deps.events.emit({
    type: 'kill',
    bots: all ? [...new Set(slots.map((s) => s.bot))] : [...new Set(input.bots)],
    all,
    reason: input.reason,
    revoked,
    failed: failures.length,
  });
  return { slots: slots.map((s) => s.ref), results, failures, revoked };
}
