/**
 * The audit HMAC key lives in the secret store itself, so the log can only be extended or re-chained by someone who
 * can open the store. `keyctl init` creates it; every other command reads it.
 */
import { randomBytes } from 'node:crypto';
import { ProviderError } from '@keyctl/client/errors';
import type { SecretStore } from '../../providers/types.js';

export const AUDIT_KEY_PATH = 'keyctl/audit-key';

/** Creates the audit key if the store has none. Idempotent. */
export async function ensureAuditKey(store: SecretStore): Promise<{ created: boolean }> {
  const info = await store.describe(AUDIT_KEY_PATH);
  if (info?.stages.CURRENT) return { created: false };
  await store.write(AUDIT_KEY_PATH, {
    secret: { key: randomBytes(32).toString('base64') },
    stage: 'CURRENT',
    expect: null,
    meta: { purpose: 'audit-hmac' },
  });
  return { created: true };
}

export async function loadAuditKey(store: SecretStore): Promise<Buffer> {
  try {
    const v = await store.read(AUDIT_KEY_PATH, { stage: 'CURRENT' });
    const key = Buffer.from(v.secret.key ?? '', 'base64');
    if (key.length !== 32) throw new ProviderError('AUDIT_KEY_INVALID', 'The audit key in the store is damaged.');
    return key;
  } catch (err) {
    if (err instanceof ProviderError && err.code === 'NOT_FOUND') {
      throw new ProviderError('STORE_NOT_INITIALIZED', 'The store has no audit key yet.', {
        hint: 'Run `keyctl init` first.',
        cause: err,
      });
    }
    throw err;
  }
}
