import { ExitCode, KeyctlError } from '../../errors.js';
import { managedKeys } from '../../domain/slots.js';
import type { CommandRun } from '../types.js';

/** A one-screen overview: config, store health, which declared keys are present, and the audit log's state. */
export const run: CommandRun = async (ctx) => {
  const config = ctx.config();
  const where = config.store.provider === 'local' ? config.store.path : config.store.provider;
  const status: {
    config: string;
    store: { provider: string; location: string; ok: boolean; error?: { code: string; message: string; hint?: string } };
    keys: { declared: number; withCurrent: number; withPending: number; missing: string[] };
    audit: { path: string; entries: number | null; ok: boolean | null };
  } = {
    config: config.file,
    store: { provider: config.store.provider, location: where, ok: false },
    keys: { declared: 0, withCurrent: 0, withPending: 0, missing: [] },
    audit: { path: config.auditPath, entries: null, ok: null },
  };
  try {
    const store = await ctx.store();
    await store.health();
    status.store.ok = true;
    for (const k of managedKeys(config)) {
      status.keys.declared += 1;
      const info = await store.describe(k.path);
      if (info?.stages.CURRENT) status.keys.withCurrent += 1;
      else status.keys.missing.push(k.ref);
      if (info?.stages.PENDING && info.stages.PENDING !== info.stages.CURRENT) status.keys.withPending += 1;
    }
    const report = await (await ctx.audit()).verify();
    status.audit.entries = report.entries;
    status.audit.ok = report.ok;
  } catch (err) {
    if (!(err instanceof KeyctlError)) throw err;
    status.store.error = { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  }

  ctx.out.result(status, () => {
    const lines = [`config   ${status.config}`, `store    ${status.store.provider} at ${where}: ${status.store.ok ? 'ok' : `NOT OK (${status.store.error?.code})`}`];
    if (status.store.error) lines.push(`         ${status.store.error.message}${status.store.error.hint ? `\n         ${status.store.error.hint}` : ''}`);
    if (status.store.ok) {
      lines.push(`keys     ${status.keys.withCurrent} of ${status.keys.declared} declared keys present${status.keys.withPending ? `, ${status.keys.withPending} rotation(s) pending` : ''}`);
      if (status.keys.missing.length) lines.push(`         missing: ${status.keys.missing.join(', ')} (import with: keyctl key import <ref> < key.json)`);
      lines.push(`audit    ${status.audit.entries} entries, chain ${status.audit.ok ? 'verifies' : 'BROKEN: run keyctl audit verify'}`);
    }
    return lines.join('\n');
  });
  if (!status.store.ok) return ExitCode.PROVIDER;
  return status.audit.ok === false ? ExitCode.POLICY : ExitCode.OK;
};
