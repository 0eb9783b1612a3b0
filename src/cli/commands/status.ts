import { status as statusOf } from '../../app/status.js';
import { ExitCode } from '@keyctl/client/errors';
import type { CommandRun } from '../types.js';

/**
 * A one-screen overview (src/app/status.ts): config, store health, which declared keys are present, which are known
 * to be unsafe, each bot's last kill drill and last kill, and the audit log's state. Exit 3 when a key is unsafe or
 * the end of the audit chain is broken, 4 when the store cannot be opened.
 */
export const run: CommandRun = async (ctx) => {
  const config = ctx.config();
  const where = config.store.provider === 'local' ? config.store.path : config.store.provider;
  const status = await statusOf({
    inventory: config,
    where: { provider: config.store.provider, location: where },
    auditPath: config.auditPath,
    open: async () => ({ store: await ctx.store(), audit: await ctx.audit() }),
  });

  ctx.out.result(status, () => {
    const lines = [
      `config   ${status.config}`,
      `store    ${status.store.provider} at ${where}: ${status.store.ok ? 'ok' : `NOT OK (${status.store.error?.code})`}`,
    ];
    if (status.store.settings)
      lines.push(
        `         ${Object.entries(status.store.settings)
          .map(([k, v]) => `${k} ${String(v)}`)
          .join(', ')}`,
      );
    if (status.store.error)
      lines.push(`         ${status.store.error.message}${status.store.error.hint ? `\n         ${status.store.error.hint}` : ''}`);
    if (status.store.ok) {
      lines.push(
        `keys     ${status.keys.withCurrent} of ${status.keys.declared} declared keys present${status.keys.withPending ? `, ${status.keys.withPending} rotation(s) pending` : ''}`,
      );
      if (status.keys.missing.length)
        lines.push(`         missing: ${status.keys.missing.join(', ')} (import with: keyctl key import <ref> < key.json)`);
      for (const u of status.keys.unsafe)
        lines.push(`UNSAFE   ${u.ref} (key ${u.fingerprint ?? '?'}): ${u.unsafe}`, `         hint: ${u.hint}`);
      for (const k of status.kills) {
        const drill = k.lastDrill ? `last drill ${day(k.lastDrill.at)}` : 'never drilled';
        const kill = k.lastKill
          ? `last kill ${day(k.lastKill.at)} by ${k.lastKill.actor}${k.lastKill.outcome === 'ok' ? '' : ` (NOT COMPLETE: ${k.lastKill.failed} thing(s) not done)`}: ${k.lastKill.reason}`
          : 'never killed';
        lines.push(`kill     ${k.bot}: ${drill}; ${kill}`);
        if (k.hint) lines.push(`         hint: ${k.hint}`);
      }
      lines.push(
        status.audit.ok
          ? `audit    ${status.audit.entries} entries, end of the chain intact (keyctl audit verify checks every entry)`
          : `audit    ${status.audit.entries} entries, BROKEN: ${status.audit.problem ?? 'the chain does not verify'}: run keyctl audit verify`,
      );
    }
    return lines.join('\n');
  });
  if (!status.store.ok) return ExitCode.PROVIDER;
  // A drill overdue is a hint, not a failure: status exits on what is unsafe now.
  return status.audit.ok === false || status.keys.unsafe.length > 0 ? ExitCode.POLICY : ExitCode.OK;
};

/** `2025-06-01T12:00:00.000Z` -> `2025-06-01 12:00Z`. */
function day(iso: string): string {
  return iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, 'Z');
}
