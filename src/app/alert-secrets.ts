/**
 * How alert channel credentials are found (docs/alerts.md): `env:NAME` from keyctl's own environment copy (the
 * start-up scrub leaves it there, not in the process's block), `store:<path>` from the CURRENT version's `value` field
 * at that store path. Each value is handed to `onSecret` first, so the caller's redactor masks it everywhere.
 */
import type { SecretStore } from '../../providers/types.js';
import { UsageError } from '../errors.js';

export function alertSecretResolver(
  store: Pick<SecretStore, 'read'>,
  env: NodeJS.ProcessEnv,
  onSecret: (value: string) => void,
): (ref: string) => Promise<string> {
  return async (ref) => {
    let value: string | undefined;
    if (ref.startsWith('env:')) {
      value = env[ref.slice('env:'.length)];
      if (!value) throw new UsageError('ALERT_SECRET_MISSING', `${ref} is not set.`, { hint: `Set ${ref.slice(4)} for keyctl.` });
    } else {
      const version = await store.read(ref.slice('store:'.length), { stage: 'CURRENT' });
      value = version.secret.value;
      if (!value)
        throw new UsageError('ALERT_SECRET_MISSING', `${ref} holds no "value" field.`, {
          hint: 'Store the credential as {"value": "..."}.',
        });
    }
    onSecret(value);
    return value;
  };
}
