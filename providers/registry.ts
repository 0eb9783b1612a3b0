/**
 * Provider id -> lazy import. A provider's SDK (AWS, node-vault) is loaded only when that provider is configured, so
 * the credential-fetch path of a local-store user never pays for it.
 */
import { UsageError } from '@keyctl/client/errors';
import type { StoreConfig } from '../src/config/schema.js';
import type { ProviderContext, SecretStore } from './types.js';
import type { CoordinationStore } from './coordination.js';

type Loader = (config: StoreConfig, context: ProviderContext) => Promise<SecretStore>;

const loaders: Record<StoreConfig['provider'], Loader> = {
  memory: async (_config, context) => new (await import('./memory/index.js')).MemoryStore(context.now ? { now: context.now } : {}),
  local: async (config, context) =>
    (await import('./local/index.js')).createStore(config as Extract<StoreConfig, { provider: 'local' }>, context),
  vault: async (config, context) =>
    (await import('./vault/index.js')).createStore(config as Extract<StoreConfig, { provider: 'vault' }>, context),
  aws: async (config, context) =>
    (await import('./aws/index.js')).createStore(config as Extract<StoreConfig, { provider: 'aws' }>, context),
};

export const PROVIDER_IDS = Object.keys(loaders) as StoreConfig['provider'][];

export async function openStore(config: StoreConfig, context: ProviderContext = {}): Promise<SecretStore> {
  const load = loaders[config.provider];
  if (!load) {
    throw new UsageError('UNKNOWN_PROVIDER', `Unknown store provider "${String((config as { provider: unknown }).provider)}".`, {
      hint: `Use one of: ${PROVIDER_IDS.join(', ')}.`,
    });
  }
  return load(config, context);
}

type CoordinationLoader = (config: StoreConfig, secrets: SecretStore, context: ProviderContext) => Promise<CoordinationStore>;

const coordinationLoaders: Record<StoreConfig['provider'], CoordinationLoader> = {
  memory: async (config, secrets, context) => (await import('./memory/index.js')).createCoordination(config, secrets, context),
  local: async (config, secrets, context) =>
    (await import('./local/index.js')).createCoordination(config as Extract<StoreConfig, { provider: 'local' }>, secrets, context),
  vault: async (config, secrets, context) =>
    (await import('./vault/index.js')).createCoordination(config as Extract<StoreConfig, { provider: 'vault' }>, secrets, context),
  aws: async (config, secrets, context) =>
    (await import('./aws/index.js')).createCoordination(config as Extract<StoreConfig, { provider: 'aws' }>, secrets, context),
};

/**
 * The coordination store that goes with `secrets` (leases, journals, the hand-over registry, per-slot state): each
 * provider's `createCoordination` (docs/providers.md, "Coordination"), loaded lazily like its store.
 */
export async function openCoordination(
  config: StoreConfig,
  secrets: SecretStore,
  context: ProviderContext = {},
): Promise<CoordinationStore> {
  const load = coordinationLoaders[config.provider];
  if (!load) {
    throw new UsageError('UNKNOWN_PROVIDER', `Unknown store provider "${String((config as { provider: unknown }).provider)}".`, {
      hint: `Use one of: ${PROVIDER_IDS.join(', ')}.`,
    });
  }
  return load(config, secrets, context);
}
