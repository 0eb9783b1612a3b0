import { STAGES, type SecretInfo } from '../../../providers/types.js';
import { managedKeys } from '../../domain/slots.js';
import { refFromPath, formatRef } from '../../domain/refs.js';
import { age, table } from '../output.js';
import type { CommandRun } from '../types.js';

export interface ListedKey {
  ref: string;
  kind: 'slot' | 'account';
  /** False for keys in the store that the config no longer declares. */
  declared: boolean;
  versions: Array<{ version: string; stages: string[]; fingerprint: string | null; createdAt: string; destroyed: boolean; flags: string | null }>;
}

/** Lists declared keys and anything else keyctl finds in the store: fingerprints, stages and ages, never secrets. */
export const run: CommandRun = async (ctx) => {
  const config = ctx.config();
  const store = await ctx.store();
  const declared = managedKeys(config);
  const stored = new Set([...(await store.list('bots/')), ...(await store.list('accounts/'))]);
  const entries: ListedKey[] = [];
  for (const k of declared) {
    stored.delete(k.path);
    entries.push(toListed(k.ref, k.kind, true, await store.describe(k.path)));
  }
  for (const path of [...stored].sort()) {
    const ref = refFromPath(path);
    if (ref) entries.push(toListed(formatRef(ref), ref.kind, false, await store.describe(path)));
  }

  ctx.out.result({ keys: entries }, () => {
    const rows: Array<Array<string>> = [];
    for (const e of entries) {
      const live = e.versions.filter((v) => v.stages.length > 0);
      const ref = e.declared ? e.ref : `${e.ref} (not in config)`;
      if (live.length === 0) rows.push([ref, '-', 'no key', '-', '-']);
      for (const v of live) rows.push([ref, v.stages.join(','), v.fingerprint ?? '?', v.version, age(v.createdAt)]);
    }
    return rows.length ? table(['ref', 'stage', 'fingerprint', 'version', 'age'], rows) : 'No keys declared in the config yet.';
  });
};

function toListed(ref: string, kind: 'slot' | 'account', declared: boolean, info: SecretInfo | null): ListedKey {
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
  };
}
