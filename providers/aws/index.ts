/**
 * The AWS provider (`store: {provider: aws, region, endpoint?, prefix?, kmsKeyId?, table?, assumeRole?}`): the key
 * material and its stages in Secrets Manager, coordination and the version index in a DynamoDB table.
 *
 * The SDKs are imported here, inside createStore and createCoordination, and nowhere else: the registry loads this
 * module only when the config names the aws provider, so no other user of keyctl pays for them. Credentials come from
 * the AWS SDK's default chain (environment, shared profile, SSO, instance or task role), or from an STS AssumeRole
 * signed with it (`assumeRole`), never from keyctl's config. See docs/aws.md for the mapping and what is emulated.
 */
import type { AwsStoreConfig as ParsedAwsStoreConfig } from '../../src/config/schema.js';
import type { CoordinationStore } from '../coordination.js';
import type { ProviderContext, SecretStore } from '../types.js';
import { sdkApi, type SecretsManagerApi } from './api.js';
import { DEFAULT_TABLE, type AwsStoreOptions } from './client.js';
import { awsCredentials } from './credentials.js';
import { DynamoCoordination } from './dynamo-coordination.js';
import { AwsSecretsManagerStore } from './store.js';
import { sdkDynamoApi, type DynamoApi } from './table.js';

export { rotationInProgress } from './stages.js';
export { AwsSecretsManagerStore } from './store.js';
export { DynamoCoordination } from './dynamo-coordination.js';

/** The store's config as parsed, or as a test builds it (the table then defaults as in keyctl.yaml). */
type AwsStoreConfig = Omit<ParsedAwsStoreConfig, 'table'> & { table?: string };

/** Attempts per AWS call by the SDK itself (network errors, 5xx, throttling); keyctl adds its own throttling retry. */
const SDK_MAX_ATTEMPTS = 4;

async function clientConfig(config: AwsStoreConfig) {
  const credentials = await awsCredentials({ ...config, table: config.table ?? DEFAULT_TABLE });
  return {
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(credentials ? { credentials } : {}),
    maxAttempts: SDK_MAX_ATTEMPTS,
  };
}

/** Clients of its own for each store, so each closes its own sockets. */
async function connect(config: AwsStoreConfig): Promise<SecretsManagerApi> {
  const sdk = await import('@aws-sdk/client-secrets-manager');
  return sdkApi(sdk, new sdk.SecretsManagerClient(await clientConfig(config)));
}

async function connectDynamo(config: AwsStoreConfig): Promise<DynamoApi> {
  const sdk = await import('@aws-sdk/client-dynamodb');
  return sdkDynamoApi(sdk, new sdk.DynamoDBClient(await clientConfig(config)));
}

/**
 * The table's client, loaded on its first call: a bot redeeming a token (src/delivery/unwrap.ts) opens the store only
 * to unwrap, which never touches the table, so it never loads the DynamoDB SDK.
 */
function lazyDynamo(config: AwsStoreConfig): DynamoApi {
  let api: Promise<DynamoApi> | undefined;
  const get = () => (api ??= connectDynamo(config));
  return {
    getItem: async (input) => (await get()).getItem(input),
    putItem: async (input) => (await get()).putItem(input),
    updateItem: async (input) => (await get()).updateItem(input),
    deleteItem: async (input) => (await get()).deleteItem(input),
    query: async (input) => (await get()).query(input),
    transactWriteItems: async (input) => (await get()).transactWriteItems(input),
    createTable: async (input) => (await get()).createTable(input),
    describeTable: async (input) => (await get()).describeTable(input),
    destroy: () =>
      void api?.then(
        (a) => a.destroy(),
        () => undefined,
      ),
  };
}

function storeOptions(config: AwsStoreConfig, context: ProviderContext): AwsStoreOptions {
  return {
    region: config.region,
    prefix: config.prefix,
    table: config.table ?? DEFAULT_TABLE,
    ...(config.kmsKeyId !== undefined ? { kmsKeyId: config.kmsKeyId } : {}),
    ...(context.now ? { now: context.now } : {}),
  };
}

export async function createStore(config: AwsStoreConfig, context: ProviderContext): Promise<SecretStore> {
  return new AwsSecretsManagerStore(await connect(config), storeOptions(config, context), lazyDynamo(config));
}

/**
 * The coordination store that goes with the store createStore returned for the same config: leases, journals and
 * the hand-over registry as DynamoDB items (dynamo-coordination.ts), on a client of its own.
 */
export async function createCoordination(
  config: AwsStoreConfig,
  _secrets: SecretStore,
  context: ProviderContext,
): Promise<CoordinationStore> {
  return new DynamoCoordination(await connectDynamo(config), {
    table: config.table ?? DEFAULT_TABLE,
    prefix: config.prefix,
    region: config.region,
    ...(context.now ? { now: context.now } : {}),
  });
}
