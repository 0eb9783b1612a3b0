import { ExitCode, KeyctlError } from '../../errors.js';
import { managedKeys } from '../../domain/slots.js';
import { keyState, type KeyState } from '../../domain/key-state.js';
import { lastVerifications } from '../../audit/verifications.js';
import type { CommandRun } from '../types.js';

/**
 * A one-screen overview: config, store health, which declared keys are present, which are known to be unsafe (stored
 * flagged, or their last verification found a violation), and the audit log's state. Exit 3 when a key is unsafe or
 * the audit chain is broken, 4 when the store cannot be opened.
 */
export const run: CommandRun = async (ctx) => {
  const config = ctx.config();
  const where = config.store.provider === 'local' ? config.store.path : config.store.provider;
  const status: {
    config: string;
    store: { provider: string; location: string; ok: boolean; error?: { code: string; message: string; hint?: string } };
    keys: {
      declared: number;
      withCurrent: number;
      withPending: number;
      missing: string[];
      unsafe: Array<Pick<KeyState, 'ref' | 'fingerprint' | 'unsafe'> & { hint: string }>;
    };
    audit: { path: string; entries: number | null; ok: boolean | null };
  } = {
    config: config.file,
    store: { provider: config.store.provider, location: where, ok: false },
    keys: { declared: 0, withCurrent: 0, withPending: 0, missing: [], unsafe: [] },
    audit: { path: config.auditPath, entries: null, ok: null },
  };
  try {
    const store = await ctx.store();
    await store.health();
    status.store.ok = true;
    const audit = await ctx.audit();
    const keys = managedKeys(config);
    const verified = await lastVerifications(audit, new Set(keys.map((k) => k.ref)));
    for (const k of keys) {
      status.keys.declared += 1;
      const info = await store.describe(k.path);
      const currentId = info?.stages.CURRENT;
      if (currentId) status.keys.withCurrent += 1;
      else status.keys.missing.push(k.ref);
      if (info?.stages.PENDING && info.stages.PENDING !== currentId) status.keys.withPending += 1;
      const current = currentId ? info?.versions.find((v) => v.id === currentId) : undefined;
      const state = keyState(k.ref, current ? current.meta : null, verified.get(k.ref));
      if (state.unsafe) {
        const hint =
          k.kind === 'slot'
            ? `keyctl verify ${k.ref} to check it again; keyctl rotate ${k.ref} to replace it`
            : `keyctl verify ${k.ref}; replace it by hand (docs/runbooks/staff-departure.md)`;
        status.keys.unsafe.push({ ref: k.ref, fingerprint: state.fingerprint, unsafe: state.unsafe, hint });
      }
    }
    const report = await audit.verify();
    status.audit.entries = report.entries;
    status.audit.ok = report.ok;
  } catch (err) {
    if (!(err instanceof KeyctlError)) throw err;
    status.store.error = { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  }

  ctx.out.result(status, () => {
    const lines = [
      `config   ${status.config}`,
      `store    ${status.store.provider} at ${where}: ${status.store.ok ? 'ok' : `NOT OK (${status.store.error?.code})`}`,
    ];
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
      lines.push(`audit    ${status.audit.entries} entries, chain ${status.audit.ok ? 'verifies' : 'BROKEN: run keyctl audit verify'}`);
    }
    return lines.join('\n');
  });
  if (!status.store.ok) return ExitCode.PROVIDER;
  return status.audit.ok === false || status.keys.unsafe.length > 0 ? ExitCode.POLICY : ExitCode.OK;
};
