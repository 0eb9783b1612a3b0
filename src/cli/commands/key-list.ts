import { STAGES, type SecretInfo } from '../../../providers/types.js';
import { managedKeys } from '../../domain/slots.js';
import { refFromPath, formatRef } from '../../domain/refs.js';
import { keyState, type KeyState } from '../../domain/key-state.js';
import { openAuditLog } from '../../audit/log.js';
import { lastVerifications } from '../../audit/verifications.js';
import { age, table } from '../output.js';
import type { CommandRun } from '../types.js';

export interface ListedKey {
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
 * Lists declared keys and anything else keyctl finds in the store: fingerprints, stages, ages and whether the CURRENT
 * key is known to be unsafe; never secrets. The audit log is read without its key (as `audit tail` does): what it says
 * about past verifications is shown, and `audit verify` says whether to believe it.
 */
export const run: CommandRun = async (ctx) => {
  const config = ctx.config();
  const store = await ctx.store();
  const declared = managedKeys(config);
  const stored = new Set([...(await store.list('bots/')), ...(await store.list('accounts/'))]);
  const found: Array<{ ref: string; kind: 'slot' | 'account'; declared: boolean; info: SecretInfo | null }> = [];
  for (const k of declared) {
    stored.delete(k.path);
    found.push({ ref: k.ref, kind: k.kind, declared: true, info: await store.describe(k.path) });
  }
  for (const path of [...stored].sort()) {
    const ref = refFromPath(path);
    if (ref) found.push({ ref: formatRef(ref), kind: ref.kind, declared: false, info: await store.describe(path) });
  }
  const verified = await lastVerifications(openAuditLog({ path: config.auditPath }), new Set(found.map((f) => f.ref)));
  const entries = found.map((f) => toListed(f.ref, f.kind, f.declared, f.info, verified.get(f.ref)));

  ctx.out.result({ keys: entries }, () => {
    const rows: Array<Array<string>> = [];
    for (const e of entries) {
      const live = e.versions.filter((v) => v.stages.length > 0);
      const ref = e.declared ? e.ref : `${e.ref} (not in config)`;
      if (live.length === 0) rows.push([ref, '-', 'no key', '-', '-', '-']);
      for (const v of live)
        rows.push([
          ref,
          v.stages.join(','),
          v.fingerprint ?? '?',
          v.version,
          age(v.createdAt),
          v.stages.includes('CURRENT') ? stateCell(e.state) : '-',
        ]);
    }
    if (rows.length === 0) return 'No keys declared in the config yet.';
    const notes = entries
      .filter((e) => e.state.unsafe)
      .map(
        (e) =>
          `UNSAFE ${e.ref}: ${e.state.unsafe}. Check it with keyctl verify ${e.ref}${e.kind === 'slot' ? `; replace it with keyctl rotate ${e.ref}` : ''}.`,
      );
    return [table(['ref', 'stage', 'fingerprint', 'version', 'age', 'state'], rows), ...notes].join('\n');
  });
};

function stateCell(state: Omit<KeyState, 'ref'>): string {
  if (state.unsafe) return `UNSAFE${state.flagged.length ? ' (flagged)' : ''}`;
  if (state.lastVerification?.outcome === 'ok') return state.flagged.length ? 'verified (was flagged)' : 'verified';
  if (state.lastVerification?.outcome === 'failed') return `not checked (${state.lastVerification.error ?? 'error'})`;
  return 'not verified yet';
}

function toListed(
  ref: string,
  kind: 'slot' | 'account',
  declared: boolean,
  info: SecretInfo | null,
  last: Parameters<typeof keyState>[2],
): ListedKey {
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
