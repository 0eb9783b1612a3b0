/**
 * `keyctl verify [ref...]`: reads each key's CURRENT version from the store, asks its exchange what the key really
 * is, and applies the key policy. Every verification is audited. A key the exchange rejects is a KEY_REJECTED
 * violation; an exchange that cannot be asked (down, rate-limited after retries, no inspection API) is an error row.
 */
import type { SecretStore } from '../../../providers/types.js';
import { fingerprint } from '../../domain/fingerprint.js';
import type { Violation } from '../../domain/policy.js';
import type { Credentials } from '../../exchanges/types.js';
import { managedKeys, resolveManagedKey, type ManagedKey } from '../../domain/slots.js';
import { ExitCode, InternalError, KeyctlError, NotFoundError } from '../../errors.js';
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
}

export const run: CommandRun = async (ctx, args) => {
  const config = ctx.config();
  const store = await ctx.store();
  const explicit = args.length > 0;
  const targets = explicit ? dedupe(args.map((a) => resolveManagedKey(config, a))) : await withCurrentKey(store, managedKeys(config));
  const { checkKey, callOptionsFromEnv, credentialsFrom } = await import('../../exchanges/inspect-key.js');
  const options = callOptionsFromEnv(ctx.env);

  const results: VerifyResult[] = [];
  for (const target of targets) {
    const result = await verifyOne(ctx, store, target, async (credentials) => (await checkKey({ config, ref: target.ref, credentials, store, options })).violations, credentialsFrom);
    results.push(result);
    const codes = result.violations.map((v) => v.code).join(',');
    await ctx.record({
      ref: result.ref,
      ...(result.fingerprint ? { fingerprint: result.fingerprint } : {}),
      outcome: result.error ? 'failed' : result.ok ? 'ok' : 'refused',
      detail: { violations: codes, ...(result.error ? { error: result.error.code } : {}) },
    });
  }

  ctx.out.result({ results }, () => human(results, explicit));
  if (results.some((r) => r.violations.length > 0)) return ExitCode.POLICY;
  const failed = results.find((r) => r.error);
  return failed?.error ? failed.error.exitCode : ExitCode.OK;
};

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
      return failure(target.ref, fp, new NotFoundError(`No CURRENT key is stored for ${target.ref}.`, {
        hint: `Import one with \`keyctl key import ${target.ref}\` (or rotate to create one).`,
      }));
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
  return `${table(['ref', 'fingerprint', 'result', 'details'], rows)}\n${summary}.`;
}
