/**
 * Opening an authenticated Vault connection: address, namespace, TLS, login. The store and the `keyctl vault` admin
 * commands both go through here (via `connectVault` in index.ts).
 */
import { ProviderError } from '@keyctl/client/errors';
import type { VaultStoreConfig } from '../../src/config/schema.js';
import { login, reloginFor } from './auth.js';
import { VaultHttp } from './http.js';
import { resolveVaultTls } from './tls.js';

/**
 * Resolves where and how to reach Vault (config first, then VAULT_ADDR, VAULT_NAMESPACE and the VAULT_* TLS
 * variables), reads the TLS files, logs in, and returns the facade with its token set. For methods that can log in
 * again on their own (AppRole, Kubernetes, JWT) the facade's `relogin` is set, so token renewal can carry on past the
 * token's max TTL. Fails with a ProviderError before any request when the address is missing or a TLS file is bad.
 */
export async function openVaultHttp(config: VaultStoreConfig, env: NodeJS.ProcessEnv): Promise<VaultHttp> {
  const address = config.address ?? env.VAULT_ADDR;
  if (!address) {
    throw new ProviderError('VAULT_ADDR_MISSING', 'No Vault address: set store.address in the config or VAULT_ADDR.', {
      hint: 'For a local dev server: VAULT_ADDR=http://127.0.0.1:8200.',
    });
  }
  const namespace = config.namespace ?? env.VAULT_NAMESPACE;
  const tls = await resolveVaultTls(config.tls, env);
  const http = await VaultHttp.create({ address, ...(namespace ? { namespace } : {}), tls });
  await login(http, config.auth, env);
  http.relogin = reloginFor(http, config.auth, env);
  return http;
}
