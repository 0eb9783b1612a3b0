/**
 * The AWS Secrets Manager provider (`store: {provider: aws, region, endpoint?, prefix?, kmsKeyId?}`).
 *
 * The SDK is imported here, inside createStore and createCoordination, and nowhere else: the registry loads this
 * module only when the config names the aws provider, so no other user of keyctl pays for it. Credentials come only
 * from the AWS SDK's default chain (environment, shared profile, SSO, instance or task role), never from keyctl's
 * config. See docs/aws.md for the mapping onto AWS and what is emulated.
 */
import type { AwsStoreConfig } from '../../src/config/schema.js';
import type { CoordinationStore } from '../coordination.js';
import type { ProviderContext, SecretStore } from '../types.js';
import { sdkApi, type SecretsManagerApi } from './api.js';
import type { AwsStoreOptions } from './client.js';
import { awsCoordination } from './coordination.js';
import { AwsSecretsManagerStore } from './store.js';

export { rotationInProgress } from './stages.js';
export { AwsSecretsManagerStore } from './store.js';
export { AwsLeases } from './leases.js';

/** Attempts per AWS call by the SDK itself (network errors, 5xx, throttling); keyctl adds its own throttling retry. */
const SDK_MAX_ATTEMPTS = 4;

/** A client of its own for each store, so each closes its own sockets. */
async function connect(config: AwsStoreConfig): Promise<SecretsManagerApi> {
  const sdk = await import('@aws-sdk/client-secrets-manager');
  const client = new sdk.SecretsManagerClient({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    maxAttempts: SDK_MAX_ATTEMPTS,
  });
  return sdkApi(sdk, client);
}

function storeOptions(config: AwsStoreConfig, context: ProviderContext): AwsStoreOptions {
  return {
    region: config.region,
    prefix: config.prefix,
    ...(config.kmsKeyId !== undefined ? { kmsKeyId: config.kmsKeyId } : {}),
    ...(context.now ? { now: context.now } : {}),
  };
}

export async function createStore(config: AwsStoreConfig, context: ProviderContext): Promise<SecretStore> {
  return new AwsSecretsManagerStore(await connect(config), storeOptions(config, context));
}

/**
 * The coordination store that goes with `secrets` (the store createStore returned for the same config): leases,
 * journals, the hand-over registry. For now today's code wrapped (providers/aws/coordination.ts says what that costs).
 */
export async function createCoordination(
  config: AwsStoreConfig,
  secrets: SecretStore,
  context: ProviderContext,
): Promise<CoordinationStore> {
  return awsCoordination(await connect(config), storeOptions(config, context), secrets);
}
