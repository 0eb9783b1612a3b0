/**
 * Verifying keys: each key's CURRENT version read from the store, asked of its exchange, judged by the key policy.
 * Every verification is an event (`verification.result`, which the audit log records; `violation` when the policy
 * found one). A key the exchange rejects is a KEY_REJECTED violation; a key that cannot be checked (not stored,
 * exchange unreachable, no inspection API) is a result with an error, and the others go on. Several keys are checked at
 * once, paced by each exchange's rate limit (src/exchanges/rate-limit.ts); results come in the order of the keys.
 */
import { credentialsFrom, type Credentials } from '../domain/credentials.js';
import { fingerprint } from '../domain/fingerprint.js';
import type { Violation } from '../domain/policy.js';
import { remedy, type RemedyTarget } from '../domain/remedy.js';
import { managedKeys, slotKeyOf, type ManagedKey } from '../domain/resolve.js';
import { lastVerifications } from '../audit/verifications.js';
import { configDurationMs } from '../../schedules/duration.js';
import { InternalError, KeyctlError, MissingKeyError, NotFoundError } from '@keyctl/client/errors';
import { checkKey, type CheckKeyResult } from './check-key.js';
import { mapConcurrent, SLOT_CONCURRENCY, STORE_CONCURRENCY } from './concurrency.js';
import type { AppDeps } from './deps.js';
import type { ProgressListener } from './progress.js';
import { buildSchedule } from './schedule.js';

export interface VerifyResult {
  ref: string;
  /** Null when no key could be read. */
  fingerprint: string | null;
  ok: boolean;
  violations: Violation[];
  /** Why the key could not be checked (missing from the store, exchange unreachable, no inspection API). */
  error?: { code: string; message: string; hint?: string; exitCode: number };
  /** What to do about the violations: rotate, or change the slot's declared scopes where rotation cannot help. */
  hint?: string;
  /** Checks the exchange cannot answer that the account accepts (`accounts.<name>.accept`): known gaps, shown. */
  accepted?: string[];
}

export type VerifyDeps = Pick<AppDeps, 'inventory' | 'store' | 'adapter' | 'call' | 'events' | 'now'> & {
  /** Told every secret read from the store, so that no output can show it (the CLI's redactor). */
  secrets?: { add(...secrets: Array<string | undefined>): void };
};

export interface VerifyInput {
  /**
   * The keys to verify (domain/resolve.ts `resolveKey`), each reported even when it holds no key. Default: every
   * declared key that has a CURRENT version (a key not imported yet is not an error when nothing was named).
   */
  keys?: readonly ManagedKey[];
  progress?: ProgressListener<VerifyResult>;
  /** Keys checked at once (default {@link SLOT_CONCURRENCY}); 1 checks one after another. */
  concurrency?: number;
}

export async function verifyKeys(deps: VerifyDeps, input: VerifyInput = {}): Promise<VerifyResult[]> {
  const targets = input.keys ? dedupe(input.keys) : await withCurrentKey(deps, managedKeys(deps.inventory));
  input.progress?.planned?.(targets.map((t) => t.ref));
  // A bug (verifyOne rethrows what is not about one key) or an event that cannot be recorded stops the whole run, as
  // before: no further key starts, and the error is thrown once the keys in flight are done.
  return mapConcurrent(targets, input.concurrency ?? SLOT_CONCURRENCY, async (target) => {
    input.progress?.started?.(target.ref);
    const result = await verifyOne(deps, target);
    await deps.events.emit({
      type: 'verification.result',
      ref: result.ref,
      fingerprint: result.fingerprint,
      outcome: result.error ? 'error' : result.ok ? 'ok' : 'violation',
      violations: result.violations.map((v) => v.code),
      ...(result.error ? { error: result.error.code } : {}),
    });
    if (result.violations.length > 0) {
      await deps.events.emit({
        type: 'violation',
        ref: result.ref,
        fingerprint: result.fingerprint,
        codes: result.violations.map((v) => v.code),
        source: 'verify',
        ...unverifiableOf(result.violations),
      });
    }
    input.progress?.finished?.(target.ref, result);
    return result;
  });
}

/** The checks behind a result's UNVERIFIABLE violations, for the event (absent when there are none). */
function unverifiableOf(violations: readonly Violation[]): { unverifiable?: string[] } {
  const checks = violations.flatMap((v) => (v.code === 'UNVERIFIABLE' && v.check ? [v.check] : []));
  return checks.length > 0 ? { unverifiable: checks } : {};
}

/**
 * The keys whose verification is due, verified: slots by their schedule (last verification from the audit log), and
 * account master keys by their account's `verify.every` the same way (never verified, a check that did not pass, a key
 * stored since the last check, or the period over).
 */
export async function verifyDue(deps: VerifyDeps & Pick<AppDeps, 'audit'>, input: Omit<VerifyInput, 'keys'> = {}): Promise<VerifyResult[]> {
  const schedule = await buildSchedule(deps);
  const due = new Set(schedule.filter((s) => s.verificationDue).map((s) => s.ref));
  const slots = deps.inventory.slots.filter((s) => due.has(s.ref)).map((s) => slotKeyOf(deps.inventory, s));
  return verifyKeys(deps, { ...input, keys: [...(await mastersDue(deps)), ...slots] });
}

async function mastersDue(deps: VerifyDeps & Pick<AppDeps, 'audit'>): Promise<ManagedKey[]> {
  const masters = managedKeys(deps.inventory).filter((k): k is Extract<ManagedKey, { kind: 'account' }> => k.kind === 'account');
  const verified = await lastVerifications(deps.audit, new Set(masters.map((k) => k.ref)));
  const now = deps.now();
  const infos = await mapConcurrent(masters, STORE_CONCURRENCY, (k) => deps.store.describe(k.path));
  return masters.filter((k, i) => {
    const info = infos[i];
    const current = info?.versions.find((v) => v.id === info.stages.CURRENT);
    if (!current) return false; // no master key stored: nothing to verify (assisted rotation)
    const last = verified.get(k.ref);
    const checked = last ? Date.parse(last.time) : NaN;
    return (
      !last ||
      last.outcome !== 'ok' ||
      !(checked >= Date.parse(current.createdAt)) ||
      checked + configDurationMs(k.account.verify.every) <= now
    );
  });
}

async function verifyOne(deps: VerifyDeps, target: ManagedKey): Promise<VerifyResult> {
  let fp: string | null = null;
  try {
    const version = await deps.store.read(target.path, { stage: 'CURRENT' });
    const credentials: Credentials | undefined = credentialsFrom(version.secret);
    if (!credentials) {
      return failure(target.ref, fp, new InternalError(`The CURRENT version of ${target.ref} holds no apiKey/secret pair.`));
    }
    deps.secrets?.add(credentials.apiKey, credentials.secret, credentials.passphrase);
    fp = version.version.meta.fingerprint ?? fingerprint(credentials.apiKey);
    const checked = await checkKey(deps, { key: target, credentials, policy: { now: deps.now() } });
    const result: VerifyResult = { ref: target.ref, fingerprint: fp, ok: checked.violations.length === 0, violations: checked.violations };
    if (checked.accepted) result.accepted = checked.accepted;
    const hint = await hintFor(deps, target, checked);
    if (hint) result.hint = hint;
    return result;
  } catch (err) {
    if (err instanceof NotFoundError) {
      return failure(
        target.ref,
        fp,
        new MissingKeyError(`No CURRENT key is stored for ${target.ref}.`, {
          hint: `Import one with \`keyctl key import ${target.ref}\` (or rotate to create one).`,
        }),
      );
    }
    // Errors about one key (exchange down, no inspection API, master key refused) become its row; bugs propagate.
    if (err instanceof KeyctlError && !(err instanceof InternalError)) return failure(target.ref, fp, err);
    throw err;
  }
}

/**
 * What to do about a key's violations. Refused from this address: rotating from here would not help (the new key has
 * the same allowlist), so the exchange's own hint. Otherwise rotate, or change the slot's scopes where rotation cannot.
 */
async function hintFor(deps: Pick<AppDeps, 'adapter'>, target: ManagedKey, checked: CheckKeyResult): Promise<string | undefined> {
  if (checked.violations.length === 0) return undefined;
  if (checked.refusal?.address && checked.refusal.hint) return checked.refusal.hint;
  return remedy(await remedyTarget(deps, target), checked.violations);
}

export async function remedyTarget(deps: Pick<AppDeps, 'adapter'>, target: ManagedKey): Promise<RemedyTarget> {
  const exchange = target.account.exchange;
  if (target.kind === 'account') return { ref: target.ref, kind: 'account', exchange };
  const capabilities = (await deps.adapter(exchange).catch(() => undefined))?.capabilities;
  return {
    ref: target.ref,
    kind: 'slot',
    exchange,
    scopes: target.slot.scopes,
    boundScopes: capabilities?.boundScopes ?? [],
    ...(capabilities?.impliedScopes ? { impliedScopes: capabilities.impliedScopes } : {}),
    scopesPath: `bots.${target.slot.bot}.subaccounts.${target.slot.sub}.scopes`,
  };
}

function failure(ref: string, fp: string | null, err: KeyctlError): VerifyResult {
  return {
    ref,
    fingerprint: fp,
    ok: false,
    violations: [],
    error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), exitCode: err.exitCode },
  };
}

function dedupe(keys: readonly ManagedKey[]): ManagedKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => !seen.has(k.ref) && seen.add(k.ref));
}

/** Every key that has a CURRENT version. */
async function withCurrentKey(deps: Pick<AppDeps, 'store'>, keys: ManagedKey[]): Promise<ManagedKey[]> {
  const infos = await mapConcurrent(keys, STORE_CONCURRENCY, (k) => deps.store.describe(k.path));
  return keys.filter((_, i) => infos[i]?.stages.CURRENT);
}
