/**
 * The emergency stop: every slot of the given bots (or of every bot) paused (no key handed out or created until
 * `keyctl resume`), then every key revoked at once, in parallel; a rotation holding a slot's lease does not stop it. Each key's revocation is a `key.revoked` event (from the engine); the whole kill is
 * one `kill` event.
 */
import { pause, unpause } from '../delivery/pause.js';
import { botSlots } from '../domain/resolve.js';
import { storePath } from '../domain/refs.js';
import type { Slot } from '../domain/inventory.js';
import type { RevokeOutcome } from '../rotation/engine.js';
import type { AppDeps } from './deps.js';
import { failureOf } from './failure.js';
import type { Failure, ProgressListener } from './progress.js';
import { revoke } from './revoke.js';
import type { RotateDeps } from './rotate.js';

export type KillDeps = Pick<AppDeps, 'inventory' | 'events' | 'coordination'> & Pick<RotateDeps, 'engine'>;

export interface KillInput {
  /** The bots to kill (each must be declared: UNKNOWN_BOT), or every declared bot. */
  bots: readonly string[] | 'all';
  reason: string;
  /** Who kills, for the pause record. */
  actor: string;
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
        // Paused first: from here no exec, issue or rotation hands out or creates a key for the slot.
        await pause(deps.coordination, storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }), {
          reason: input.reason,
          by: input.actor,
        });
        await deps.events.emit({ type: 'slot.pause', ref: slot.ref, action: 'paused', reason: input.reason });
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

export interface ResumeInput {
  bots: readonly string[] | 'all';
  reason: string;
}

/** Lifts the pause of every slot of the bots (audited per slot); returns the slots that were paused. */
export async function resumeBots(deps: Pick<AppDeps, 'inventory' | 'events' | 'coordination'>, input: ResumeInput): Promise<string[]> {
  const slots: Slot[] =
    input.bots === 'all' ? [...deps.inventory.slots] : [...new Set(input.bots)].flatMap((b) => botSlots(deps.inventory, b));
  const resumed: string[] = [];
  for (const slot of slots) {
    const lifted = await unpause(deps.coordination, storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }));
    if (!lifted) continue;
    resumed.push(slot.ref);
    await deps.events.emit({ type: 'slot.pause', ref: slot.ref, action: 'resumed', reason: input.reason });
  }
  return resumed;
}
