/**
 * `keyctl store accept --reason <text>`: accepts the local store's record files as they are now, after a deliberate
 * restore from a backup; audited with the reason and every record it changed.
 */
import { acceptRestore } from '../../app/store-accept.js';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx, _args, opts) => {
  const reason = typeof opts.reason === 'string' ? opts.reason : '';
  const store = await ctx.store();
  const result = await acceptRestore({ store, record: (input) => ctx.record(input) }, reason);
  ctx.out.result(result, () => {
    if (result.changes.length === 0) return `Nothing to accept: every record is as the store recorded it (audit entry ${result.seq}).`;
    const lines = result.changes.map((c) => `  ${c.record}: was ${c.was}, now ${c.now}`);
    return [
      `Accepted ${result.changes.length} record(s) as they are on disk now (audit entry ${result.seq}):`,
      ...lines,
      'Next: keyctl verify, then rotate the keys the backup brought back (keyctl rotate --force <ref>).',
    ].join('\n');
  });
};
