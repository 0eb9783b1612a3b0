/**
 * A one-screen overview: the store's health, which declared keys are present, which are known to be unsafe (stored
 * flagged, or their last verification found a violation), and whether the audit chain verifies. A store that cannot
 * be opened or answered is part of the result, not an error.
 */
import { lastVerifications } from '../audit/verifications.js';
import { keyState, type KeyState } from '../domain/key-state.js';
import { managedKeys } from '../domain/resolve.js';
import { KeyctlError } from '../errors.js';
import type { AppDeps } from './deps.js';

export interface StatusDeps extends Pick<AppDeps, 'inventory'> {
  /** Which store, for the report: provider id and where it is (a directory, or the provider's name). */
  where: { provider: string; location: string };
  /** The audit log's file, for the report. */
  auditPath: string;
  /** Opens the store and the audit log (a KeyctlError here is reported as the store's state). */
  open(): Promise<Pick<AppDeps, 'store' | 'audit'>>;
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
  audit: { path: string; entries: number | null; ok: boolean | null };
}

export async function status(deps: StatusDeps): Promise<Status> {
  const { inventory } = deps;
  const result: Status = {
    config: inventory.file,
    store: { provider: deps.where.provider, location: deps.where.location, ok: false },
    keys: { declared: 0, withCurrent: 0, withPending: 0, missing: [], unsafe: [] },
    audit: { path: deps.auditPath, entries: null, ok: null },
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
    const report = await audit.verify();
    result.audit.entries = report.entries;
    result.audit.ok = report.ok;
  } catch (err) {
    if (!(err instanceof KeyctlError)) throw err;
    // Anything that fails after the store opened (a record refused as rolled back, say) leaves the store not ok.
    result.store.ok = false;
    result.store.error = { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  }
  return result;
}
