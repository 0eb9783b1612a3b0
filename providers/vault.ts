// Placeholder until this provider lands; the registry already routes to it.
import { ProviderError } from '../src/errors.js';
import type { VaultStoreConfig } from '../src/config/schema.js';
import type { ProviderContext, SecretStore } from './types.js';

export async function createStore(_config: VaultStoreConfig, _context: ProviderContext): Promise<SecretStore> {
  throw new ProviderError('PROVIDER_UNAVAILABLE', 'The vault provider is not available in this build of keyctl.');
}
