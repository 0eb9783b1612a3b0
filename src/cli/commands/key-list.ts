import { listKeys } from '../../app/list-keys.js';
import type { KeyState } from '../../domain/key-state.js';
import { age, table } from '../output.js';
import type { CommandRun } from '../types.js';

/** Lists declared keys and anything else keyctl finds in the store (src/app/list-keys.ts); never secrets. */
export const run: CommandRun = async (ctx) => {
  const config = ctx.config();
  // With the audit key: each key's last verification comes from the log's latest-entry cache, which is HMAC'd.
  const entries = await listKeys({ inventory: config, store: await ctx.store(), audit: await ctx.audit() });

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
