import type { Config } from '../config/load.js';
import type { VaultStoreConfig } from '../config/schema.js';
import { UsageError } from '@keyctl/client/errors';

/** The config's Vault store section (for `vault policy` and `vault approle`), or a UsageError when it is another store. */
export function requireVaultStore(config: Config): VaultStoreConfig {
  if (config.store.provider !== 'vault') {
    throw new UsageError('NOT_VAULT_STORE', `${config.file} uses the ${config.store.provider} store, not Vault.`, {
      hint: 'Set store.provider: vault (with mount and prefix) first; see docs/vault.md.',
    });
  }
  return config.store;
}
