/**
 * The emergency stop: every slot of the given bots (or of every bot) paused (no key handed out or created until
 * `keyctl resume`), then every key revoked at once, in parallel; a rotation holding a slot's lease does not stop it. Each key's revocation is a `key.revoked` event (from the engine); the whole kill is
 * one `kill` event.
 */
import { pause, unpause } from '../delivery/pause.js';
import { killTrading, type KillTradingDeps, type TradingOptions, type TradingOutcome } from './kill-trading.js';
import { botSlots } from '../domain/resolve.js';
import { storePath } from '../domain/refs.js';
import type { Slot } from '../domain/inventory.js';
import type { RevokeOutcome } from '../rotation/engine.js';
import type { AppDeps } from './deps.js';
import { failureOf } from './failure.js';
import type { Failure, ProgressListener } from './progress.js';
import { revoke } from './revoke.js';
import type { RotateDeps } from './rotate.js';

export type KillDeps = Pick<AppDeps, 'inventory' | 'events' | 'coordination'> & Pick<RotateDeps, 'engine'> & Partial<KillTradingDeps>;

export interface KillInput {
  /** The bots to kill (each must be declared: UNKNOWN_BOT), or every declared bot. */
  bots: readonly string[] | 'all';
  reason: string;
  /** Who kills, for the pause record. */
  actor: string;
  /**
   * The trading steps (docs/rotation.md): cancel open orders unless `keepOrders`, close derivative positions with
   * `flatten`. Skipped entirely when the deps carry no store/adapter (a caller that only revokes).
   */
  trading?: Partial<TradingOptions>;
  progress?: ProgressListener<SlotKill>;
}

/** One slot's revocation: what was revoked (and what not), or why nothing could be tried. */
export type SlotKill = { ok: true; outcome: RevokeOutcome } | { ok: false; failure: Failure };

export interface KillResult {
  /** A drill (--dry-run): nothing was paused, cancelled, closed or revoked. */
  dryRun: boolean;
  /** Drill: per slot, the fingerprints of the keys a kill would revoke. */
  wouldRevoke: Record<string, string[]>;
  /** Per slot: what the trading steps found and did. */
  trading: Record<string, TradingOutcome>;
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
  const trading: Record<string, TradingOutcome> = {};
  const wouldRevoke: Record<string, string[]> = {};
  const tradingOptions: TradingOptions = { keepOrders: false, flatten: false, dryRun: false, ...input.trading };
  const tradingDeps =
    deps.store && deps.adapter && deps.call ? { ...deps, store: deps.store, adapter: deps.adapter, call: deps.call } : undefined;
  input.progress?.planned?.(slots.map((s) => s.ref));
  // Every slot at once; each reports as it finishes.
  await Promise.all(
    slots.map(async (slot) => {
      input.progress?.started?.(slot.ref);
      try {
        if (tradingOptions.dryRun) {
          // A drill: list what a kill would do, from the live exchange, and change nothing.
          if (tradingDeps) trading[slot.ref] = await killTrading(tradingDeps, slot, tradingOptions);
          const info = await deps.store?.describe(storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }));
          wouldRevoke[slot.ref] = (info?.versions ?? []).filter((v) => !v.destroyed).map((v) => v.meta.fingerprint ?? v.id);
          input.progress?.finished?.(slot.ref, {
            ok: true,
            outcome: { ref: slot.ref, revoked: [], failed: [], orphansDeleted: 0, orphansKept: [] },
          });
          return;
        }
        // Paused first: from here no exec, issue or rotation hands out or creates a key for the slot.
        await pause(deps.coordination, storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }), {
          reason: input.reason,
          by: input.actor,
        });
        await deps.events.emit({ type: 'slot.pause', ref: slot.ref, action: 'paused', reason: input.reason });
        // With the bot's own key, before it is revoked: cancel its orders, close its positions.
        if (tradingDeps) {
          const done = await killTrading(tradingDeps, slot, tradingOptions);
          trading[slot.ref] = done;
          await deps.events.emit({
            type: 'kill.trading',
            ref: slot.ref,
            ordersFound: done.orders.length,
            cancelled: done.cancelled,
            positionsFound: done.positions.length,
            closed: done.closed,
            problems: done.problems.map((p) => p.code),
            ...(done.skipped ? { skipped: done.skipped } : {}),
          });
          for (const p of done.problems) failures.push({ ref: slot.ref, code: p.code, message: `${p.step}: ${p.message}` });
        }
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
  if (tradingOptions.dryRun) {
    const orders = Object.values(trading).reduce((n, t) => n + t.orders.length, 0);
    const positions = Object.values(trading).reduce((n, t) => n + t.positions.length, 0);
    await deps.events.emit({
      type: 'kill.drill',
      bots: all ? [...new Set(slots.map((s) => s.bot))] : [...new Set(input.bots)],
      all,
      reason: input.reason,
      orders,
      positions,
      keys: Object.values(wouldRevoke).reduce((n, k) => n + k.length, 0),
    });
    return { slots: slots.map((s) => s.ref), results: [], failures, revoked: 0, trading, wouldRevoke, dryRun: true };
  }
  await deps.events.emit({
    type: 'kill',
    bots: all ? [...new Set(slots.map((s) => s.bot))] : [...new Set(input.bots)],
    all,
    reason: input.reason,
    revoked,
    failed: failures.length,
  });
  return { slots: slots.map((s) => s.ref), results, failures, revoked, trading, wouldRevoke: {}, dryRun: false };
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
