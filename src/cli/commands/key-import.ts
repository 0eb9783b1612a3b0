import { fingerprint, importIdempotencyKey, parseCredentials, toSecretFields } from '../../domain/credentials.js';
import { resolveManagedKey } from '../../domain/slots.js';
import type { CommandRun } from '../types.js';

/**
 * Stores a key read from stdin as the ref's CURRENT version. The key that was CURRENT becomes PREVIOUS (it stays valid
 * at the exchange until revoked). Re-running with the same key changes nothing.
 */
export const run: CommandRun = async (ctx, args) => {
  const config = ctx.config();
  const target = resolveManagedKey(config, args[0] ?? '');
  const credentials = parseCredentials(await ctx.readStdin('the key as JSON'));
  ctx.redactor.add(credentials.apiKey, credentials.secret, credentials.passphrase);
  const fp = fingerprint(credentials.apiKey);

  const store = await ctx.store();
  const info = await store.describe(target.path);
  const currentId = info?.stages.CURRENT ?? null;
  const current = currentId ? info?.versions.find((v) => v.id === currentId) : undefined;
  if (current?.meta.fingerprint === fp) {
    ctx.out.result({ ref: target.ref, fingerprint: fp, version: current.id, stage: 'CURRENT', changed: false }, `${target.ref}: key ${fp} is already the CURRENT key; nothing changed.`);
    return;
  }

  try {
    const { version } = await store.write(target.path, {
      secret: toSecretFields(credentials),
      meta: { fingerprint: fp, source: 'import', importedBy: ctx.actor },
      stage: 'CURRENT',
      expect: currentId,
      idempotencyKey: importIdempotencyKey(credentials),
    });
    await ctx.record({ ref: target.ref, fingerprint: fp, outcome: 'ok', detail: { version, replaced: current?.meta.fingerprint ?? null } });
    if (current) {
      ctx.out.warn(`${target.ref}: the previous key ${current.meta.fingerprint ?? current.id} is now PREVIOUS and still valid at the exchange until you revoke it.`);
    }
    ctx.out.result({ ref: target.ref, fingerprint: fp, version, stage: 'CURRENT', changed: true }, `${target.ref}: stored key ${fp} as CURRENT (version ${version}).`);
  } catch (err) {
    await ctx.record({ ref: target.ref, fingerprint: fp, outcome: 'failed', detail: { error: (err as { code?: string }).code ?? 'unknown' } }).catch(() => undefined);
    throw err;
  }
};
