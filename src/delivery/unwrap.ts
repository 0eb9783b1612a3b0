/**
 * keyctl's token unwrapper for the client (@keyctl/client, clients/node/src/unwrap.ts): a `keyctl issue` token of a
 * Vault, AWS (or any configured) store, unwrapped through the provider that wrapped it. The client redeems local-store
 * tokens itself and reaches this module (the `keyctl/unwrap` entry point) only for the others: through keyctl's own
 * `loadCredentials`, or through the optional peer dependency `keyctl` beside a bare client. Loaded only for tokens,
 * so a bot in env or pipe mode never loads the config parser or a provider.
 *
 * What a bot needs per provider (docs/delivery.md): local — the same host and user, and read/write on
 * `<store>/tokens`; no master key, no config: the token names the store directory and carries its own one-time key,
 * so it is redeemed before (and without) any config is read, by the client's light local/tokens.ts, never the
 * whole store or the provider registry. Vault — only the address (VAULT_ADDR or store.address): the wrapping token is
 * its own authorization, and keyctl checks it was created by sys/wrapping/wrap before unwrapping. AWS — the config
 * and IAM rights on the `<prefix>_wrap/*` secrets.
 */
import type { VaultTlsConfig } from '../config/schema.js';
import { ProviderError } from '@keyctl/client/errors';

export async function unwrapToken(provider: string, storeToken: string, o: { env: NodeJS.ProcessEnv; config?: string }): Promise<string> {
  if (provider === 'local') {
    const { redeemLocalToken } = await import('@keyctl/client/local/tokens');
    return redeemLocalToken(storeToken);
  }
  const readConfig = async () => {
    const { loadConfig, resolveConfigPath } = await import('../config/load.js');
    return loadConfig(resolveConfigPath(o.config, o.env)).config;
  };
  if (provider === 'vault') return unwrapVault(storeToken, o.env, async () => (await readConfig()).store);
  const config = await readConfig();
  if (config.store.provider !== provider) {
    throw new ProviderError(
      'TOKEN_PROVIDER_MISMATCH',
      `The token was issued by a ${provider} store, but ${config.file} configures a ${config.store.provider} store.`,
      {
        hint: 'Point KEYCTL_CONFIG at the config keyctl issue used.',
      },
    );
  }
  if (provider === 'memory') {
    throw new ProviderError('TOKEN_NOT_PORTABLE', 'A token from the memory store cannot leave the process that issued it.', {
      hint: 'Use the local, Vault or AWS store, or keyctl exec.',
    });
  }
  const { openStore } = await import('../../providers/registry.js');
  const store = await openStore(config.store, { env: o.env });
  try {
    return await store.unwrap(storeToken);
  } finally {
    await store.close().catch(() => undefined);
  }
}

/** Vault: no login. The config is read only for the address, when VAULT_ADDR is not set. */
async function unwrapVault(
  token: string,
  env: NodeJS.ProcessEnv,
  storeConfig: () => Promise<{ provider: string; address?: string; namespace?: string; tls?: VaultTlsConfig }>,
): Promise<string> {
  let address = env.VAULT_ADDR;
  let namespace = env.VAULT_NAMESPACE;
  let tlsConfig: VaultTlsConfig | undefined;
  if (!address) {
    const s = await storeConfig();
    if (s.provider === 'vault') {
      address = s.address;
      namespace = namespace ?? s.namespace;
      tlsConfig = s.tls;
    }
  }
  if (!address) {
    throw new ProviderError('VAULT_ADDR_MISSING', 'The token is a Vault wrapping token, but no Vault address is known.', {
      hint: 'Set VAULT_ADDR (or KEYCTL_CONFIG pointing at a config with store.address).',
    });
  }
  const [{ VaultHttp }, { unwrapChecked, WRAP_PATH }, { resolveVaultTls }] = await Promise.all([
    import('../../providers/vault/http.js'),
    import('../../providers/vault/index.js'),
    import('../../providers/vault/tls.js'),
  ]);
  // A Vault behind a private CA: the store's CA (or VAULT_CACERT / VAULT_CAPATH), verified as keyctl verifies it.
  const tls = await resolveVaultTls(tlsConfig, env);
  const http = await VaultHttp.create({ address, tls, ...(namespace ? { namespace } : {}) });
  return unwrapChecked(http, token, WRAP_PATH, (data) => (typeof data?.value === 'string' ? data.value : null));
}
