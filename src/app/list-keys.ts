/**
 * Every key keyctl knows of: the keys the config declares and anything else found in the store, with fingerprints,
 * stages, ages and whether the CURRENT key is known to be unsafe (its flag, its last verification). Never secrets.
 */
import { STAGES, type SecretInfo } from '../../providers/types.js';
import { lastVerifications } from '../audit/verifications.js';
import { keyState, type KeyState } from '../domain/key-state.js';
import { formatRef, refFromPath } from '../domain/refs.js';
import { managedKeys } from '../domain/resolve.js';
import { mapConcurrent, STORE_CONCURRENCY } from './concurrency.js';
import type { AppDeps } from './deps.js';

export interface KeyListing {
  ref: string;
  kind: 'slot' | 'account';
  /** False for keys in the store that the config no longer declares. */
  declared: boolean;
  versions: Array<{
    version: string;
    stages: string[];
    fingerprint: string | null;
    createdAt: string;
    destroyed: boolean;
    flags: string | null;
  }>;
  /** What is known about the CURRENT key's safety: its flag and its last verification (from the audit log). */
  state: Omit<KeyState, 'ref'>;
}

/**
 * `audit` is only read for past verifications: the CLI opens it without its key (as `audit tail` does), and
 * `audit verify` says whether to believe it.
 */
export async function listKeys(
  deps: Pick<AppDeps, 'inventory' | 'store'> & { audit: Pick<AppDeps['audit'], 'latest'> },
): Promise<KeyListing[]> {
  const { inventory, store } = deps;
  const [bots, accounts] = await Promise.all([store.list('bots/'), store.list('accounts/')]);
  const stored = new Set([...bots, ...accounts]);
  const wanted: Array<{ ref: string; kind: 'slot' | 'account'; declared: boolean; path: string }> = [];
  for (const k of managedKeys(inventory)) {
    stored.delete(k.path);
    wanted.push({ ref: k.ref, kind: k.kind, declared: true, path: k.path });
  }
  for (const path of [...stored].sort()) {
    const ref = refFromPath(path);
    if (ref) wanted.push({ ref: formatRef(ref), kind: ref.kind, declared: false, path });
  }
  // Described several at once: a network store answers each in tens of milliseconds, and thousands of slots add up.
  const found: Array<{ ref: string; kind: 'slot' | 'account'; declared: boolean; info: SecretInfo | null }> = await mapConcurrent(
    wanted,
    STORE_CONCURRENCY,
    async ({ path, ...w }) => ({ ...w, info: await store.describe(path) }),
  );
  const verified = await lastVerifications(deps.audit, new Set(found.map((f) => f.ref)));
  return found.map((f) => toListed(f.ref, f.kind, f.declared, f.info, verified.get(f.ref)));
}

function toListed(
  ref: string,
  kind: 'slot' | 'account',
  declared: boolean,
  info: SecretInfo | null,
  last: Parameters<typeof keyState>[2],
): KeyListing {
  const currentId = info?.stages.CURRENT;
  const current = currentId ? info?.versions.find((v) => v.id === currentId) : undefined;
  const { ref: _ref, ...state } = keyState(ref, current ? current.meta : null, last);
  return {
    ref,
    kind,
    declared,
    versions: (info?.versions ?? []).map((v) => ({
      version: v.id,
      stages: STAGES.filter((s) => v.stages.includes(s)),
      fingerprint: v.meta.fingerprint ?? null,
      createdAt: v.createdAt,
      destroyed: v.destroyed,
      flags: v.meta.flags ?? null,
    })),
    state,
  };
}
