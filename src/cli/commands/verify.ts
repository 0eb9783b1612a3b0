/**
 * `keyctl verify [ref...]`: reads each key's CURRENT version from the store, asks its exchange what the key really
 * is, and applies the key policy. Every verification is audited. A key the exchange rejects is a KEY_REJECTED
 * violation; an exchange that cannot be asked (down, rate-limited after retries, no inspection API) is an error row.
 */
import type { SecretStore } from '../../../providers/types.js';
import { fingerprint } from '../../domain/fingerprint.js';
import type { Violation } from '../../domain/policy.js';
import type { Credentials, ExchangeAdapter } from '../../exchanges/types.js';
import type { CheckKeyResult } from '../../exchanges/inspect-key.js';
import { managedKeys, resolveManagedKey, type ManagedKey } from '../../domain/slots.js';
import { ExitCode, InternalError, KeyctlError, MissingKeyError, NotFoundError } from '../../errors.js';
import { remedy, type RemedyTarget } from '../../domain/remedy.js';
import type { Config } from '../../config/load.js';
import { table } from '../output.js';
import type { CliContext } from '../context.js';
import type { CommandRun } from '../types.js';

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
}

export const run: CommandRun = async (ctx, args) => {
  const config = ctx.config();
  const store = await ctx.store();
  const explicit = args.length > 0;
  const targets = explicit ? dedupe(args.map((a) => resolveManagedKey(config, a))) : await withCurrentKey(store, managedKeys(config));
  const [{ checkKey, callOptionsFromEnv, credentialsFrom }, { getAdapter }] = await Promise.all([
    import('../../exchanges/inspect-key.js'),
    import('../../exchanges/registry.js'),
  ]);
  const options = callOptionsFromEnv(ctx.env);

  const results: VerifyResult[] = [];
  const progress = ctx.out.progress('verifying', targets.length);
  try {
    for (const target of targets) {
      progress.begin(target.ref);
      let refusal: CheckKeyResult['refusal'];
      const check = async (credentials: Credentials) => {
        const checked = await checkKey({ config, ref: target.ref, credentials, store, options });
        refusal = checked.refusal;
        return checked.violations;
      };
      const result = await verifyOne(ctx, store, target, check, credentialsFrom);
      if (result.violations.length > 0) {
        // Refused from this address: rotating from here would not help (the new key has the same allowlist).
        const hint =
          refusal?.address && refusal.hint ? refusal.hint : remedy(await remedyTarget(config, target, getAdapter), result.violations);
        if (hint) result.hint = hint;
      }
      results.push(result);
      const codes = result.violations.map((v) => v.code).join(',');
      await ctx.record({
        ref: result.ref,
        ...(result.fingerprint ? { fingerprint: result.fingerprint } : {}),
        outcome: result.error ? 'failed' : result.ok ? 'ok' : 'refused',
        detail: { violations: codes, ...(result.error ? { error: result.error.code } : {}) },
      });
      progress.done(target.ref, line(result));
    }
  } finally {
    progress.end();
  }

  ctx.out.result({ results }, () => human(results, explicit));
  if (results.some((r) => r.violations.length > 0)) return ExitCode.POLICY;
  const failed = results.find((r) => r.error);
  return failed?.error ? failed.error.exitCode : ExitCode.OK;
};

/** What the remedy needs to know about a key: its slot's declared scopes and its exchange's scope bundles. */
async function remedyTarget(
  config: Config,
  target: ManagedKey,
  getAdapter: (exchange: string) => Promise<ExchangeAdapter>,
): Promise<RemedyTarget> {
  const exchange = config.accounts[target.account]?.exchange ?? 'the exchange';
  if (target.kind === 'account') return { ref: target.ref, kind: 'account', exchange };
  const slot = config.slots.find((s) => s.ref === target.ref);
  const boundScopes = (await getAdapter(exchange).catch(() => undefined))?.capabilities.boundScopes ?? [];
  return {
    ref: target.ref,
    kind: 'slot',
    exchange,
    scopes: slot?.scopes ?? [],
    boundScopes,
    scopesPath: `bots.${slot?.bot}.subaccounts.${slot?.sub}.scopes`,
  };
}

/** One key's line as it finishes. */
function line(r: VerifyResult): string {
  const key = `${r.ref}${r.fingerprint ? ` (key ${r.fingerprint})` : ''}`;
  if (r.error) return `${key}: NOT CHECKED: ${r.error.code}: ${r.error.message}`;
  if (r.ok) return `${key}: ok`;
  return `${key}: VIOLATION ${r.violations.map((v) => v.code).join(', ')}`;
}

async function verifyOne(
  ctx: CliContext,
  store: SecretStore,
  target: ManagedKey,
  check: (credentials: Credentials) => Promise<Violation[]>,
  credentialsFrom: (secret: Record<string, string>) => Credentials | undefined,
): Promise<VerifyResult> {
  let fp: string | null = null;
  try {
    const version = await store.read(target.path, { stage: 'CURRENT' });
    const credentials = credentialsFrom(version.secret);
    if (!credentials) {
      return failure(target.ref, fp, new InternalError(`The CURRENT version of ${target.ref} holds no apiKey/secret pair.`));
    }
    ctx.redactor.add(credentials.apiKey, credentials.secret, credentials.passphrase);
    fp = version.version.meta.fingerprint ?? fingerprint(credentials.apiKey);
    const violations = await check(credentials);
    return { ref: target.ref, fingerprint: fp, ok: violations.length === 0, violations };
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

function failure(ref: string, fp: string | null, err: KeyctlError): VerifyResult {
  return {
    ref,
    fingerprint: fp,
    ok: false,
    violations: [],
    error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), exitCode: err.exitCode },
  };
}

function dedupe(keys: ManagedKey[]): ManagedKey[] {
  const seen = new Set<string>();
  return keys.filter((k) => !seen.has(k.ref) && seen.add(k.ref));
}

/** Every declared key that has a CURRENT version (a slot not yet imported is not an error when nothing was named). */
async function withCurrentKey(store: SecretStore, keys: ManagedKey[]): Promise<ManagedKey[]> {
  const out: ManagedKey[] = [];
  for (const k of keys) if ((await store.describe(k.path))?.stages.CURRENT) out.push(k);
  return out;
}

function human(results: VerifyResult[], explicit: boolean): string {
  if (results.length === 0) {
    return explicit ? 'Nothing to verify.' : 'No stored keys to verify yet: import keys with `keyctl key import <ref>`.';
  }
  const rows = results.map((r) => [
    r.ref,
    r.fingerprint ?? '-',
    r.error ? 'ERROR' : r.ok ? 'ok' : 'VIOLATION',
    r.error ? `${r.error.code}: ${r.error.message}` : r.violations.map((v) => `${v.code}: ${v.detail}`).join('\n') || '-',
  ]);
  const bad = results.filter((r) => r.violations.length > 0).length;
  const failed = results.filter((r) => r.error).length;
  const summary = [
    `${results.length} key${results.length === 1 ? '' : 's'} checked: ${results.length - bad - failed} ok`,
    bad ? `${bad} with violations` : '',
    failed ? `${failed} not checked` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const hints = results.filter((r) => r.hint).map((r) => `hint: ${r.ref}: ${r.hint}`);
  return [`${table(['ref', 'fingerprint', 'result', 'details'], rows)}`, `${summary}.`, ...hints].join('\n');
}
