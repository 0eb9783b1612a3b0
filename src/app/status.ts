/**
 * A one-screen overview: the store's health, which declared keys are present, which are known to be unsafe (stored
 * flagged, or their last verification found a violation), and whether the end of the audit chain is intact. A store that cannot
 * be opened or answered is part of the result, not an error.
 */
import { lastKills } from '../audit/kills.js';
import type { AuditEntry } from '../audit/types.js';
import { lastVerifications } from '../audit/verifications.js';
import { keyState, type KeyState } from '../domain/key-state.js';
import { managedKeys } from '../domain/resolve.js';
import { KeyctlError } from '@keyctl/client/errors';
import type { AppDeps } from './deps.js';

export interface StatusDeps extends Pick<AppDeps, 'inventory'> {
  /** Which store, for the report: provider id and where it is (a directory, or the provider's name). */
  where: { provider: string; location: string };
  /** The audit log's file, for the report. */
  auditPath: string;
  /** Opens the store and the audit log (a KeyctlError here is reported as the store's state). */
  open(): Promise<Pick<AppDeps, 'store' | 'audit'>>;
  /** Clock (ms since the epoch), for the age of the last drill. Default Date.now. */
  now?: () => number;
}

/** A kill drill older than this (or none) earns a hint: monthly drills are what operators are told to do. */
export const DRILL_DUE_DAYS = 30;

/** One bot's kill switch, from the audit log. */
export interface BotKillState {
  bot: string;
  lastDrill: KillRecord | null;
  lastKill: (KillRecord & { outcome: 'ok' | 'failed'; failed: number }) | null;
  /** Set when the last drill is older than DRILL_DUE_DAYS, or there was none: what to run. */
  hint?: string;
}

export interface KillRecord {
  /** ISO time of the audit entry. */
  at: string;
  actor: string;
  reason: string;
}

export interface Status {
  config: string;
  store: {
    provider: string;
    location: string;
    ok: boolean;
    /** The backend's settings that change keyctl's behaviour (SecretStore.settings), when it has any. */
    settings?: Record<string, string | number | boolean>;
    error?: { code: string; message: string; hint?: string };
  };
  keys: {
    declared: number;
    withCurrent: number;
    withPending: number;
    missing: string[];
    unsafe: Array<Pick<KeyState, 'ref' | 'fingerprint' | 'unsafe'> & { hint: string }>;
  };
  /**
   * The end of the chain only (AuditLog.checkEnd): `status` reads no more of the log than its end, so it stays quick
   * at any length; `keyctl audit verify` checks every entry. `problem` says what is wrong when `ok` is false.
   */
  audit: { path: string; entries: number | null; ok: boolean | null; problem?: string };
  /** Per declared bot, its last kill drill and last kill (empty when the store could not be opened). */
  kills: BotKillState[];
}

export async function status(deps: StatusDeps): Promise<Status> {
  const { inventory } = deps;
  const result: Status = {
    config: inventory.file,
    store: { provider: deps.where.provider, location: deps.where.location, ok: false },
    keys: { declared: 0, withCurrent: 0, withPending: 0, missing: [], unsafe: [] },
    audit: { path: deps.auditPath, entries: null, ok: null },
    kills: [],
  };
  try {
    const { store, audit } = await deps.open();
    await store.health();
    if (store.settings) result.store.settings = await store.settings();
    result.store.ok = true;
    const keys = managedKeys(inventory);
    const verified = await lastVerifications(audit, new Set(keys.map((k) => k.ref)));
    for (const k of keys) {
      result.keys.declared += 1;
      const info = await store.describe(k.path);
      const currentId = info?.stages.CURRENT;
      if (currentId) result.keys.withCurrent += 1;
      else result.keys.missing.push(k.ref);
      if (info?.stages.PENDING && info.stages.PENDING !== currentId) result.keys.withPending += 1;
      const current = currentId ? info?.versions.find((v) => v.id === currentId) : undefined;
      const state = keyState(k.ref, current ? current.meta : null, verified.get(k.ref));
      if (state.unsafe) {
        const hint =
          k.kind === 'slot'
            ? `keyctl verify ${k.ref} to check it again; keyctl rotate ${k.ref} to replace it`
            : `keyctl verify ${k.ref}; replace it by hand (docs/runbooks/staff-departure.md)`;
        result.keys.unsafe.push({ ref: k.ref, fingerprint: state.fingerprint, unsafe: state.unsafe, hint });
      }
    }
    result.kills = await killStates(audit, [...new Set(inventory.slots.map((s) => s.bot))], (deps.now ?? Date.now)());
    const end = await audit.checkEnd();
    result.audit.entries = end.entries;
    result.audit.ok = end.ok;
    if (end.problem) result.audit.problem = end.problem;
  } catch (err) {
    if (!(err instanceof KeyctlError)) throw err;
    // Anything that fails after the store opened (a record refused as rolled back, say) leaves the store not ok.
    result.store.ok = false;
    result.store.error = { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  }
  return result;
}

async function killStates(audit: Pick<AppDeps['audit'], 'latest'>, bots: string[], now: number): Promise<BotKillState[]> {
  const found = await lastKills(audit, new Set(bots));
  const record = (e: AuditEntry): KillRecord => ({ at: e.time, actor: e.actor, reason: String(e.detail?.reason ?? '') });
  return bots.map((bot) => {
    const { kill, drill } = found.get(bot) ?? {};
    const state: BotKillState = {
      bot,
      lastDrill: drill ? record(drill) : null,
      lastKill: kill
        ? { ...record(kill), outcome: kill.outcome === 'ok' ? 'ok' : 'failed', failed: Number(kill.detail?.failed ?? 0) }
        : null,
    };
    const age = drill ? now - Date.parse(drill.time) : Infinity;
    // An unreadable time counts as no drill (fail closed: the hint shows).
    if (!(age <= DRILL_DUE_DAYS * 86_400_000)) {
      const when = Number.isFinite(age) ? `last drilled ${Math.floor(age / 86_400_000)} days ago` : 'no kill drill on record';
      state.hint = `${when}: keyctl kill ${bot} --dry-run --reason "monthly drill"`;
    }
    return state;
  });
}
