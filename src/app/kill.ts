/**
 * The emergency stop (docs/runbooks/kill.md). Per slot, and in parallel across slots: pause (no key handed out or
 * created until `keyctl resume`), stop the bots running under `keyctl exec` (this host's at once and confirmed,
 * other hosts' told), cancel open orders and close positions with the bot's own key, then revoke every key (or, with
 * `readOnly`, switch each to read-only where the exchange allows it), and report.
 *
 * Every step is audited; nothing counts as done unless it was verified (orders listed again, the bot's exit seen, the
 * key inspected or proven gone). Re-running the same kill continues where it stopped: the pause stays, what is left is
 * cancelled and revoked, what was done stays done, and what an earlier run could not confirm and can no longer be
 * checked is said so (the pause record remembers it).
 */
import { ensurePaused, readPause, samePause, unpause, updatePause, type PauseRecord } from '../delivery/pause.js';
import type { BotStop } from '../delivery/supervisors.js';
import { credentialsFrom, type Credentials } from '../domain/credentials.js';
import type { Slot } from '../domain/inventory.js';
import { storePath } from '../domain/refs.js';
import { accountOf, botSlots, readMasterKey } from '../domain/resolve.js';
import { ExchangeError } from '@keyctl/client/errors';
import { isKeyRejected } from '../exchanges/ccxt.js';
import { exchangeAccount, type KeyInspection } from '../exchanges/types.js';
import { LABEL_PREFIX, LEASE_MS, type RevokeOutcome } from '../rotation/engine.js';
import { killTrading, type KillTradingDeps, type TradingOptions, type TradingOutcome } from './kill-trading.js';
import type { AppDeps } from './deps.js';
import { failureOf } from './failure.js';
import type { Failure, ProgressListener } from './progress.js';
import { revoke } from './revoke.js';
import type { RotateDeps } from './rotate.js';
import { failpoint } from '../rotation/failpoints.js';

export type KillDeps = Pick<AppDeps, 'inventory' | 'events' | 'coordination'> &
  Pick<RotateDeps, 'engine'> &
  Partial<KillTradingDeps> & {
    /**
     * Stops the slot's bots under `keyctl exec` and says how each took it (src/delivery/supervisors.ts
     * `stopSupervisors`, bound to the caller's environment). Absent: the step is skipped (the supervisors still stop at
     * their next watch).
     */
    stopBots?: (slotPath: string, pause: PauseRecord) => Promise<BotStop[]>;
  };

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
  /** Switch the slots' keys to read-only instead of revoking them (only where the exchange allows it by API). */
  readOnly?: boolean;
  progress?: ProgressListener<SlotKill>;
}

/** One slot's kill: what each step found and did, and what is not done. */
export interface SlotKill {
  ref: string;
  /** The bots under `keyctl exec` and how each took the kill (empty: none known, or the step was not run). */
  bots: BotStop[];
  trading?: TradingOutcome;
  /** The revocation (not with --read-only). */
  revoke?: RevokeOutcome;
  /** The switch to read-only (--read-only). */
  readOnly?: ReadOnlyOutcome;
  /** What is not done or not confirmed: empty when every step of the slot is verified. */
  failures: Failure[];
}

/** --read-only on one slot. */
export interface ReadOnlyOutcome {
  ref: string;
  /** Keys confirmed read-only at the exchange (switched now, or already), by fingerprint. They stay stored. */
  readOnly: string[];
  /** Keys the exchange no longer accepts at all (revoked before). */
  dead: string[];
  /** Keyctl-labelled keys the store does not hold that could trade, switched to read-only (by label). */
  orphans: string[];
}

export interface KillResult {
  /** A drill (--dry-run): nothing was paused, cancelled, closed or revoked. */
  dryRun: boolean;
  readOnly: boolean;
  /** Drill: per slot, the fingerprints of the keys a kill would revoke. */
  wouldRevoke: Record<string, string[]>;
  /** Per slot: what the trading steps found and did. */
  trading: Record<string, TradingOutcome>;
  /** The slots the kill covered, in inventory order. */
  slots: string[];
  /** Per slot, in inventory order (not in a drill). */
  kills: SlotKill[];
  /** Per slot, in inventory order: the revocations (empty with --read-only). */
  results: RevokeOutcome[];
  /** What is not done or not confirmed, per slot: do it (the hints say how), then run the same kill again. */
  failures: Failure[];
  /** Keys revoked across all slots. */
  revoked: number;
}

export async function killBots(deps: KillDeps, input: KillInput): Promise<KillResult> {
  const all = input.bots === 'all';
  const slots: Slot[] = all ? [...deps.inventory.slots] : [...new Set(input.bots)].flatMap((b) => botSlots(deps.inventory, b));
  const bots = all ? [...new Set(slots.map((s) => s.bot))] : [...new Set(input.bots)];
  const tradingOptions: TradingOptions = { keepOrders: false, flatten: false, dryRun: false, ...input.trading };
  const readOnly = input.readOnly === true;
  input.progress?.planned?.(slots.map((s) => s.ref));
  const order = (ref: string) => slots.findIndex((s) => s.ref === ref);

  if (tradingOptions.dryRun) return drill(deps, input, slots, bots, tradingOptions);

  const kills: SlotKill[] = [];
  // Every slot at once; each reports as it finishes.
  await Promise.all(
    slots.map(async (slot) => {
      input.progress?.started?.(slot.ref);
      let kill: SlotKill;
      try {
        kill = await killSlot(deps, slot, input, tradingOptions, readOnly);
      } catch (err) {
        kill = { ref: slot.ref, bots: [], failures: [failureOf(slot.ref, err)] };
      }
      kills.push(kill);
      input.progress?.finished?.(slot.ref, kill);
    }),
  );
  // Inventory order, whatever order the exchanges answered in.
  kills.sort((a, b) => order(a.ref) - order(b.ref));
  const results = kills.flatMap((k) => (k.revoke ? [k.revoke] : []));
  const failures = kills.flatMap((k) => k.failures);
  const trading = Object.fromEntries(kills.flatMap((k) => (k.trading ? [[k.ref, k.trading]] : [])));
  const revoked = results.reduce((n, r) => n + r.revoked.length, 0);
  await deps.events.emit({ type: 'kill', bots, all, reason: input.reason, revoked, failed: failures.length });
  return { slots: slots.map((s) => s.ref), kills, results, failures, revoked, trading, wouldRevoke: {}, dryRun: false, readOnly };
}

/** A drill: lists, from the live exchange, what a kill would do, and changes nothing. */
async function drill(deps: KillDeps, input: KillInput, slots: Slot[], bots: string[], options: TradingOptions): Promise<KillResult> {
  const trading: Record<string, TradingOutcome> = {};
  const wouldRevoke: Record<string, string[]> = {};
  const failures: Failure[] = [];
  const tradingDeps = tradingDepsOf(deps);
  await Promise.all(
    slots.map(async (slot) => {
      input.progress?.started?.(slot.ref);
      const failed: Failure[] = [];
      try {
        if (tradingDeps) {
          const t = await killTrading(tradingDeps, slot, options);
          trading[slot.ref] = t;
          for (const p of t.problems) failed.push({ ref: slot.ref, code: p.code, message: `${p.step}: ${p.message}` });
        }
        if (input.readOnly && deps.adapter) {
          const exchange = accountOf(deps.inventory, slot).exchange;
          if (!(await deps.adapter(exchange)).makeReadOnly) {
            failed.push({
              ref: slot.ref,
              code: 'READ_ONLY_UNSUPPORTED',
              message: `${exchange} offers no API to switch a key to read-only: a kill --read-only would leave ${slot.ref}'s keys able to trade.`,
              hint: 'Drill (and kill) without --read-only: the keys are revoked.',
            });
          }
        }
        const info = await deps.store?.describe(slotPath(slot));
        wouldRevoke[slot.ref] = (info?.versions ?? []).filter((v) => !v.destroyed).map((v) => v.meta.fingerprint ?? v.id);
      } catch (err) {
        failed.push(failureOf(slot.ref, err));
      }
      failures.push(...failed);
      input.progress?.finished?.(slot.ref, {
        ref: slot.ref,
        bots: [],
        ...(trading[slot.ref] ? { trading: trading[slot.ref] } : {}),
        failures: failed,
      });
    }),
  );
  const order = (ref: string) => slots.findIndex((s) => s.ref === ref);
  failures.sort((a, b) => order(a.ref) - order(b.ref));
  await deps.events.emit({
    type: 'kill.drill',
    bots,
    all: input.bots === 'all',
    reason: input.reason,
    orders: Object.values(trading).reduce((n, t) => n + t.orders.length, 0),
    positions: Object.values(trading).reduce((n, t) => n + t.positions.length, 0),
    keys: Object.values(wouldRevoke).reduce((n, k) => n + k.length, 0),
  });
  return {
    slots: slots.map((s) => s.ref),
    kills: [],
    results: [],
    failures,
    revoked: 0,
    trading,
    wouldRevoke,
    dryRun: true,
    readOnly: input.readOnly === true,
  };
}

function tradingDepsOf(deps: KillDeps): KillTradingDeps | undefined {
  return deps.store && deps.adapter && deps.call ? { ...deps, store: deps.store, adapter: deps.adapter, call: deps.call } : undefined;
}

function slotPath(slot: Slot): string {
  return storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub });
}

/** One slot, step by step. A step that fails is a failure of the slot; the steps after it still run. */
async function killSlot(deps: KillDeps, slot: Slot, input: KillInput, options: TradingOptions, readOnly: boolean): Promise<SlotKill> {
  const path = slotPath(slot);
  const kill: SlotKill = { ref: slot.ref, bots: [], failures: [] };
  const fail = (code: string, message: string, hint?: string) =>
    kill.failures.push({ ref: slot.ref, code, message, ...(hint ? { hint } : {}) });

  // 1. Paused first: from here no exec, issue or rotation hands out or creates a key for the slot. A re-run finds the
  // pause of the first run and keeps it (and its memory of what is left).
  const ensured = await ensurePaused(deps.coordination, path, { reason: input.reason, by: input.actor });
  let paused = ensured.record;
  // Audited once: by the run that paused it, or, when that run died before its entry (the pause still says
  // `unaudited`), by this re-run, with the pause's own reason.
  if (ensured.created || paused.unaudited) {
    await deps.events.emit({ type: 'slot.pause', ref: slot.ref, action: 'paused', reason: paused.reason });
    paused =
      (await updatePause(deps.coordination, path, (r) => {
        if (!r.unaudited) return null;
        delete r.unaudited;
        return r;
      })) ?? paused;
  }
  failpoint('kill.after-pause');

  // 2. The bots under keyctl exec: before any order is cancelled, so none places a new one.
  if (deps.stopBots) {
    try {
      kill.bots = await deps.stopBots(path, paused);
    } catch (err) {
      const e = failureOf(slot.ref, err);
      fail('BOTS_NOT_CONFIRMED', `could not reach the supervisors of ${slot.ref}'s bots: ${e.message}`, e.hint);
    }
    for (const b of kill.bots.filter((x) => x.state === 'unconfirmed')) {
      fail(
        'BOT_NOT_CONFIRMED',
        `its bot under keyctl exec (supervisor pid ${b.pid} on ${b.host}${b.botPid ? `, bot pid ${b.botPid}` : ''}) was not confirmed stopped: ${b.detail}.`,
        `Its supervisor stops it at its next watch (10 s by default). Run the same kill again to confirm, or stop it by hand (kill ${b.pid}).`,
      );
    }
    const count = (state: BotStop['state']) => kill.bots.filter((b) => b.state === state).length;
    await deps.events.emit({
      type: 'kill.stop',
      ref: slot.ref,
      outcome: kill.failures.length ? 'failed' : 'ok',
      stopped: count('stopped'),
      exited: count('exited'),
      told: count('told'),
      unconfirmed: count('unconfirmed'),
    });
  }

  // 3-4. Orders and positions, with the bot's own key, before it is revoked.
  // A failure here never keeps the keys from being revoked.
  const tradingDeps = tradingDepsOf(deps);
  if (tradingDeps) {
    try {
      const done = await killTrading(tradingDeps, slot, options);
      kill.trading = done;
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
      for (const p of done.problems) fail(p.code, `${p.step}: ${p.message}`);
      await rememberTrading(deps, slot, path, paused, done, options, fail);
    } catch (err) {
      const e = failureOf(slot.ref, err);
      fail(e.code, `orders and positions: ${e.message}`, e.hint);
    }
  }

  // 5. The keys.
  if (readOnly) {
    try {
      kill.readOnly = await switchReadOnly(deps, slot, input, fail);
    } catch (err) {
      const e = failureOf(slot.ref, err);
      fail(e.code, `read-only: ${e.message}`, e.hint);
    }
  } else {
    let outcome: RevokeOutcome;
    try {
      outcome = await revoke(deps, { slot, reason: input.reason, emergency: true });
    } catch (err) {
      const e = failureOf(slot.ref, err);
      fail(e.code, `revoke: ${e.message}`, e.hint);
      return kill;
    }
    kill.revoke = outcome;
    for (const f of outcome.failed) {
      if (f.code === 'ASSISTED_REVOKE_PENDING') {
        const where = await whereToDelete(deps, slot, f.fingerprint);
        fail(
          f.code,
          `${f.fingerprint} still works at ${where.exchange}, and keyctl cannot delete it: ${where.what}.`,
          `Delete exactly that key in ${where.exchange}'s web UI (API management of sub-account ${slot.uid}), then run the same kill again: it exits 6 until the exchange rejects the key.`,
        );
      } else {
        fail(f.code, `${f.fingerprint}: ${f.message}`);
      }
    }
  }
  return kill;
}

/**
 * The pause remembers which trading steps a kill verified (`left` lists those it could not): a re-run whose key is
 * gone can no longer check them, and reports them unconfirmed instead of done. Asking for less (`--keep-orders`,
 * no `--flatten`) is the operator's word that they took care of it.
 */
async function rememberTrading(
  deps: KillDeps,
  slot: Slot,
  path: string,
  paused: PauseRecord,
  done: TradingOutcome,
  options: TradingOptions,
  fail: (code: string, message: string, hint?: string) => void,
): Promise<void> {
  const asked = new Set<string>([...(options.keepOrders ? [] : ['orders']), ...(options.flatten ? ['positions'] : [])]);
  const before = new Set((paused.left ?? '').split(',').filter(Boolean));
  let left: Set<string>;
  if (done.skippedBecause === 'no-key') {
    // No key to check with any more: what an earlier run of this kill could not confirm stays unconfirmed. (A slot
    // whose key was gone before the kill is reported as not checked, as on an exchange keyctl cannot trade on.)
    left = new Set([...before].filter((s) => asked.has(s)));
    for (const step of left) {
      fail(
        step === 'orders' ? 'ORDERS_UNCONFIRMED' : 'POSITIONS_UNCONFIRMED',
        `an earlier run of this kill could not confirm ${slot.ref}'s ${step} were ${step === 'orders' ? 'cancelled' : 'closed'}, and its key is revoked now: keyctl cannot check them any more.`,
        `Check them in ${accountOf(deps.inventory, slot).exchange}'s web UI (sub-account ${slot.uid}) and ${step === 'orders' ? 'cancel' : 'close'} what is left, then run the kill again with ${step === 'orders' ? '--keep-orders' : 'no --flatten'} to record that they are handled.`,
      );
    }
  } else if (done.skippedBecause === 'exchange' || done.skippedBecause === 'options') {
    left = new Set([...before].filter((s) => asked.has(s)));
  } else {
    left = new Set(before);
    for (const step of asked) {
      if (done.problems.some((p) => p.step === step)) left.add(step);
      else left.delete(step);
    }
  }
  for (const step of before) if (!asked.has(step)) left.delete(step);
  const next = [...left].sort().join(',');
  if (next === (paused.left ?? '')) return;
  await updatePause(deps.coordination, path, (current) => {
    if (!samePause(current, paused)) return null; // resumed and paused again meanwhile: not this kill's record
    const { left: _old, ...rest } = current;
    return next ? { ...rest, left: next } : rest;
  });
}

/** What to delete in an assisted exchange's web UI: the key's sub-account, label, creation time and allowlist. */
async function whereToDelete(deps: KillDeps, slot: Slot, fp: string): Promise<{ exchange: string; what: string }> {
  const exchange = accountOf(deps.inventory, slot).exchange;
  const info = await deps.store?.describe(slotPath(slot)).catch(() => null);
  const v = info?.versions.find((x) => (x.meta.fingerprint ?? x.id) === fp);
  const parts = [`the API key of sub-account ${slot.uid}`];
  if (v?.meta.rotationId) parts.push(`labelled ${LABEL_PREFIX}${v.meta.rotationId}`);
  if (v?.createdAt) parts.push(`stored by keyctl ${v.createdAt}`);
  if (slot.ips.length) parts.push(`allowed from ${slot.ips.join(', ')}`);
  return { exchange, what: parts.join(', ') };
}

/**
 * --read-only: each key of the slot switched to read-only at the exchange and confirmed by inspecting it again; the
 * keys stay stored (the desk can still watch the account) and the slot stays paused. The slot's rotation lease is
 * seized first, as a revoking kill does, so a rotation caught mid-way cannot promote; the store is read again until a
 * pass finds no key it has not handled, and keyctl-labelled keys the store does not hold are switched too.
 */
async function switchReadOnly(
  deps: KillDeps,
  slot: Slot,
  input: KillInput,
  fail: (code: string, message: string, hint?: string) => void,
): Promise<ReadOnlyOutcome | undefined> {
  const outcome: ReadOnlyOutcome = { ref: slot.ref, readOnly: [], dead: [], orphans: [] };
  const account = accountOf(deps.inventory, slot);
  if (!deps.store || !deps.adapter || !deps.call) throw new Error('--read-only needs the store and the exchange adapters');
  const { store, call } = deps;
  const adapter = await deps.adapter(account.exchange);
  const makeReadOnly = adapter.makeReadOnly?.bind(adapter);
  if (!makeReadOnly) {
    fail(
      'READ_ONLY_UNSUPPORTED',
      `${account.exchange} offers no API to switch a key to read-only: ${slot.ref}'s keys were left as they are, still able to trade.`,
      `Revoke them instead: keyctl kill ${slot.bot} --reason "${input.reason}" (without --read-only); the slot stays paused meanwhile.`,
    );
    return undefined;
  }
  const master = await readMasterKey(store, slot.account);
  if (!master) {
    fail(
      'READ_ONLY_NO_MASTER',
      `no master key is stored for @${slot.account}: keyctl cannot switch ${slot.ref}'s keys to read-only; they can still trade.`,
      `Switch them in ${account.exchange}'s web UI and run the kill again to confirm, or revoke them: keyctl kill ${slot.bot} (without --read-only).`,
    );
    return undefined;
  }
  const path = slotPath(slot);
  const where = exchangeAccount(account);
  const lease = await deps.coordination.seize(`rotate/${path}`, `kill:${input.actor}`, LEASE_MS * 2);
  try {
    const handled = new Set<string>();
    const heldKeys = new Set<string>();
    for (let pass = 1; ; pass++) {
      const info = await store.describe(path);
      const todo = (info?.versions ?? []).filter((v) => !v.destroyed && !handled.has(v.id));
      if (todo.length === 0) break;
      if (pass > 3) {
        fail(
          'READ_ONLY_UNSETTLED',
          `keys of ${slot.ref} kept appearing in the store through 3 passes; one may trade.`,
          'Run the kill again.',
        );
        break;
      }
      for (const v of todo) {
        handled.add(v.id);
        const fp = v.meta.fingerprint ?? v.id;
        try {
          const key = credentialsFrom((await store.read(path, { version: v.id })).secret);
          if (!key) throw new ExchangeError('INVALID_STORED_KEY', 'the stored version lacks apiKey or secret');
          heldKeys.add(key.apiKey);
          const state = await switchKey(adapter, makeReadOnly, { account: where, master, slot, key, call });
          (state === 'dead' ? outcome.dead : outcome.readOnly).push(fp);
          await deps.events.emit({ type: 'kill.read-only', ref: slot.ref, fingerprint: fp, outcome: 'ok', state });
        } catch (err) {
          const e = failureOf(slot.ref, err);
          fail(
            e.code,
            `${fp} not confirmed read-only: ${e.message}`,
            e.hint ?? `Switch it in ${account.exchange}'s web UI, or revoke it (kill without --read-only).`,
          );
          await deps.events.emit({ type: 'kill.read-only', ref: slot.ref, fingerprint: fp, outcome: 'failed', error: e.code });
        }
      }
    }
    if (adapter.capabilities.list) {
      const listed = await adapter.listKeys({ account: where, master, subaccount: slot.uid, ...call });
      const trading = (k: { scopes: readonly string[] }) => k.scopes.some((s) => s !== 'read');
      const orphans = listed.filter((k) => k.label?.startsWith(LABEL_PREFIX) && !heldKeys.has(k.apiKey) && trading(k));
      for (const k of orphans) {
        await makeReadOnly({
          account: where,
          master,
          subaccount: slot.uid,
          apiKey: k.apiKey,
          ...(k.label ? { label: k.label } : {}),
          ...call,
        });
      }
      if (orphans.length) {
        const again = await adapter.listKeys({ account: where, master, subaccount: slot.uid, ...call });
        for (const k of orphans) {
          const now = again.find((x) => x.apiKey === k.apiKey);
          if (now && trading(now)) fail('READ_ONLY_NOT_CONFIRMED', `the orphaned key ${k.label} can still trade after the switch.`);
          else outcome.orphans.push(k.label ?? '?');
        }
      }
    }
  } finally {
    await deps.coordination.release(lease).catch(() => undefined);
  }
  return outcome;
}

/** Switches one stored key to read-only (unless it already is) and confirms it by inspecting it with itself. */
async function switchKey(
  adapter: Awaited<ReturnType<NonNullable<KillDeps['adapter']>>>,
  makeReadOnly: NonNullable<Awaited<ReturnType<NonNullable<KillDeps['adapter']>>>['makeReadOnly']>,
  o: {
    account: ReturnType<typeof exchangeAccount>;
    master: Credentials;
    slot: Slot;
    key: Credentials;
    call: NonNullable<KillDeps['call']>;
  },
): Promise<'read-only' | 'dead'> {
  const inspect = async (): Promise<KeyInspection | null> => {
    try {
      return await adapter.inspect({ account: o.account, key: o.key, role: 'bot', subaccount: o.slot.uid, master: o.master, ...o.call });
    } catch (err) {
      // Only "this key does not exist" proves it dead; an address refusal comes from a live key (fail closed).
      if (isKeyRejected(err)) return null;
      throw err;
    }
  };
  const readOnly = (i: KeyInspection) => i.readOnly && i.scopes.every((s) => s === 'read');
  const before = await inspect();
  if (!before) return 'dead';
  if (readOnly(before)) return 'read-only';
  await makeReadOnly({
    account: o.account,
    master: o.master,
    subaccount: o.slot.uid,
    apiKey: o.key.apiKey,
    ...(o.key.passphrase ? { passphrase: o.key.passphrase } : {}),
    ...o.call,
  });
  const after = await inspect();
  if (!after) return 'dead';
  if (!readOnly(after)) {
    throw new ExchangeError(
      'READ_ONLY_NOT_CONFIRMED',
      `the exchange still reports ${after.scopes.join(', ') || 'no scopes'} after the switch.`,
      {
        hint: 'Switch it in the web UI, or revoke it: keyctl kill <bot> without --read-only.',
      },
    );
  }
  return 'read-only';
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
    const path = slotPath(slot);
    if (!(await readPause(deps.coordination, path))) continue;
    // Audited before it is lifted: a resume that died in between is re-run and lifts it then (the entry may then be
    // written twice, never not at all); lifted first, a crash would leave a resume no entry shows.
    await deps.events.emit({ type: 'slot.pause', ref: slot.ref, action: 'resumed', reason: input.reason });
    const lifted = await unpause(deps.coordination, path);
    failpoint('resume.after-unpause');
    if (lifted) resumed.push(slot.ref);
  }
  return resumed;
}
