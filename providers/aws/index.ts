/**
 * The AWS Secrets Manager provider (`store: {provider: aws, region, endpoint?, prefix?, kmsKeyId?}`).
 *
 * The SDK is imported here, inside createStore, and nowhere else: the registry loads this module only when the
 * config names the aws provider, so no other user of keyctl pays for it. Credentials come only from the AWS SDK's
 * default chain (environment, shared profile, SSO, instance or task role), never from keyctl's config.
 * See docs/aws.md for the mapping onto AWS and what is emulated.
 */
import type { AwsStoreConfig } from '../../src/config/schema.js';
import type { ProviderContext, SecretStore } from '../types.js';
import { sdkApi } from './api.js';
import { AwsSecretsManagerStore } from './store.js';

export { rotationInProgress } from './stages.js';
export { AwsSecretsManagerStore } from './store.js';

/** Attempts per AWS call by the SDK itself (network errors, 5xx, throttling); keyctl adds its own throttling retry. */
const SDK_MAX_ATTEMPTS = 4;

export async function createStore(config: AwsStoreConfig, context: ProviderContext): Promise<SecretStore> {
  const sdk = await import('@aws-sdk/client-secrets-manager');
  const client = new sdk.SecretsManagerClient({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    maxAttempts: SDK_MAX_ATTEMPTS,
  });
  return new AwsSecretsManagerStore(sdkApi(sdk, client), {
    region: config.region,
    prefix: config.prefix,
    ...(config.kmsKeyId !== undefined ? { kmsKeyId: config.kmsKeyId } : {}),
    ...(context.now ? { now: context.now } : {}),
  });
}
