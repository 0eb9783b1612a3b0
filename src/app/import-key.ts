/**
 * Importing a key as a ref's CURRENT version, after its exchange confirmed it passes the key policy. A key with
 * violations is refused (nothing stored) unless they are accepted, and then stored flagged so rotation replaces it.
 * The key that was CURRENT becomes PREVIOUS (it stays valid at the exchange until revoked). Importing the CURRENT key
 * again stores nothing, but asks the exchange again: a key whose permissions changed since is reported, never waved
 * through as "nothing changed". Each import is a `key.imported` event (the audit log records it); violations also a
 * `violation` event.
 */
import { fingerprint, importIdempotencyKey, toSecretFields, type Credentials } from '../domain/credentials.js';
import { violationFlags } from '../domain/key-state.js';
import type { Violation } from '../domain/policy.js';
import type { ManagedKey } from '../domain/resolve.js';
import { KeyctlError } from '@keyctl/client/errors';
import { remedy } from '../domain/remedy.js';
import { checkKey, type CheckKeyDeps } from './check-key.js';
import { remedyTarget } from './verify.js';
import type { AppDeps } from './deps.js';

export type ImportKeyDeps = CheckKeyDeps & Pick<AppDeps, 'events'>;

export interface ImportKeyInput {
  key: ManagedKey;
  credentials: Credentials;
  /** Store a key with violations anyway, flagged. */
  acceptViolations?: boolean;
  /** Who imports it (kept in the version's metadata). */
  actor: string;
}

export type ImportKeyResult =
  /** The key is the CURRENT key already; `violations` is what the exchange says of it now. */
  | { status: 'unchanged'; ref: string; fingerprint: string; version: string; violations: Violation[]; remedy?: string }
  /** Refused for its violations; nothing stored. `remedy`: what to do, when it is about the config rather than the key. */
  | { status: 'refused'; ref: string; fingerprint: string; violations: Violation[]; remedy?: string }
  /** Stored as CURRENT; `previous` is the key that became PREVIOUS. */
  | { status: 'stored'; ref: string; fingerprint: string; version: string; violations: Violation[]; previous: string | null };

export async function importKey(deps: ImportKeyDeps, input: ImportKeyInput): Promise<ImportKeyResult> {
  const { key, credentials } = input;
  const fp = fingerprint(credentials.apiKey);
  const info = await deps.store.describe(key.path);
  const currentId = info?.stages.CURRENT ?? null;
  const current = currentId ? info?.versions.find((v) => v.id === currentId) : undefined;
  const violations = await checkAtExchange(deps, key, credentials);
  const codes = violations.map((v) => v.code);
  if (violations.length > 0) {
    await deps.events.emit({ type: 'violation', ref: key.ref, fingerprint: fp, codes, source: 'import' });
  }
  const advice = await configRemedy(deps, key, violations);
  if (current?.meta.fingerprint === fp) {
    return { status: 'unchanged', ref: key.ref, fingerprint: fp, version: current.id, violations, ...advice };
  }
  if (violations.length > 0 && !input.acceptViolations) {
    await deps.events.emit({ type: 'key.imported', ref: key.ref, fingerprint: fp, outcome: 'refused', violations: codes });
    return { status: 'refused', ref: key.ref, fingerprint: fp, violations, ...advice };
  }

  let version: string;
  try {
    ({ version } = await deps.store.write(key.path, {
      secret: toSecretFields(credentials),
      meta: {
        fingerprint: fp,
        source: 'import',
        importedBy: input.actor,
        ...(violations.length ? { flags: violationFlags(codes) } : {}),
      },
      stage: 'CURRENT',
      expect: currentId,
      idempotencyKey: importIdempotencyKey(credentials),
    }));
  } catch (err) {
    const error = (err as { code?: string }).code ?? 'unknown';
    await deps.events
      .emit({ type: 'key.imported', ref: key.ref, fingerprint: fp, outcome: 'failed', violations: codes, error })
      .catch(() => undefined);
    throw err;
  }
  const previous = current ? (current.meta.fingerprint ?? current.id) : null;
  await deps.events.emit({
    type: 'key.imported',
    ref: key.ref,
    fingerprint: fp,
    outcome: 'ok',
    version,
    replaced: current?.meta.fingerprint ?? null,
    violations: codes,
  });
  return { status: 'stored', ref: key.ref, fingerprint: fp, version, violations, previous };
}

/**
 * An exchange that offers no inspection API cannot vouch for the key: that is a violation, so only an import that
 * accepts violations stores it.
 */
async function checkAtExchange(deps: CheckKeyDeps, key: ManagedKey, credentials: Credentials): Promise<Violation[]> {
  try {
    return (await checkKey(deps, { key, credentials })).violations;
  } catch (err) {
    if (err instanceof KeyctlError && err.code === 'CAPABILITY_GAP') {
      return [
        { code: 'KEY_REJECTED', detail: `the exchange offers no API to inspect keys, so keyctl cannot verify this one (${err.message})` },
      ];
    }
    throw err;
  }
}

/**
 * The remedy verify gives, when it points at the slot's declared scopes: a scope the exchange grants only together
 * with a declared one (OKX's single `trade`) cannot be fixed at the exchange, only in the config.
 */
async function configRemedy(deps: ImportKeyDeps, key: ManagedKey, violations: Violation[]): Promise<{ remedy?: string }> {
  if (violations.length === 0) return {};
  const target = await remedyTarget(deps, key);
  const text = remedy(target, violations);
  return text && target.scopesPath && text.includes(target.scopesPath) ? { remedy: text } : {};
}
