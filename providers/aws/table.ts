/**
 * The AWS provider's DynamoDB table: the state that changes too often for Secrets Manager, whose every write is a new
 * secret version under a quota (about 100 versions younger than 24 hours per secret, and AWS advises against writing
 * one secret more than once every 10 minutes: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html).
 * Leases, rotation journals and the hand-over registry (the CoordinationStore, dynamo-coordination.ts) and the
 * per-version index of slot secrets (metadata and destroyed marks, version-index.ts) live here; the key material and
 * its stages stay in Secrets Manager, where AWS's own tooling sees them.
 *
 * One table, shared by every store (prefix) of an account: the partition key names the kind and the store's prefix,
 * so stores never see each other's items. `pk` = `<kind>|<prefix>`, `sk` = the lease name, record key or path.
 * Conditional writes are the compare-and-set; DynamoDB evaluates them on the server
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html).
 *
 * The SDK is not imported here (types only), like api.ts: index.ts builds the client lazily.
 */
import type * as DDB from '@aws-sdk/client-dynamodb';
import { ProviderError } from '@keyctl/client/errors';
import { awsErrorName, mapAwsError, withThrottleRetry, type RetryOptions } from './errors.js';

type Out<T> = Omit<T, '$metadata'>;

/** The narrow slice of DynamoDB keyctl uses. */
export interface DynamoApi {
  getItem(input: DDB.GetItemCommandInput): Promise<Out<DDB.GetItemCommandOutput>>;
  putItem(input: DDB.PutItemCommandInput): Promise<Out<DDB.PutItemCommandOutput>>;
  updateItem(input: DDB.UpdateItemCommandInput): Promise<Out<DDB.UpdateItemCommandOutput>>;
  deleteItem(input: DDB.DeleteItemCommandInput): Promise<Out<DDB.DeleteItemCommandOutput>>;
  query(input: DDB.QueryCommandInput): Promise<Out<DDB.QueryCommandOutput>>;
  transactWriteItems(input: DDB.TransactWriteItemsCommandInput): Promise<Out<DDB.TransactWriteItemsCommandOutput>>;
  createTable(input: DDB.CreateTableCommandInput): Promise<Out<DDB.CreateTableCommandOutput>>;
  describeTable(input: DDB.DescribeTableCommandInput): Promise<Out<DDB.DescribeTableCommandOutput>>;
  /** Releases sockets. */
  destroy(): void;
}

/** Adapts an SDK client (and the lazily imported SDK module that holds the command classes). */
export function sdkDynamoApi(sdk: typeof DDB, client: DDB.DynamoDBClient): DynamoApi {
  return {
    getItem: (input) => client.send(new sdk.GetItemCommand(input)),
    putItem: (input) => client.send(new sdk.PutItemCommand(input)),
    updateItem: (input) => client.send(new sdk.UpdateItemCommand(input)),
    deleteItem: (input) => client.send(new sdk.DeleteItemCommand(input)),
    query: (input) => client.send(new sdk.QueryCommand(input)),
    transactWriteItems: (input) => client.send(new sdk.TransactWriteItemsCommand(input)),
    createTable: (input) => client.send(new sdk.CreateTableCommand(input)),
    describeTable: (input) => client.send(new sdk.DescribeTableCommand(input)),
    destroy: () => client.destroy(),
  };
}

/** The kinds of item in the table; each is its own partition per store prefix. */
export type ItemKind = 'lease' | 'record' | 'index';

/** The partition key of `kind` items of the store with `prefix`. */
export function partition(kind: ItemKind, prefix: string): string {
  return `${kind}|${prefix}`;
}

/** The table's key schema: what `init` creates and `health` expects. */
export const KEY_SCHEMA = {
  AttributeDefinitions: [
    { AttributeName: 'pk', AttributeType: 'S' },
    { AttributeName: 'sk', AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: 'pk', KeyType: 'HASH' },
    { AttributeName: 'sk', KeyType: 'RANGE' },
  ],
} as const satisfies Pick<DDB.CreateTableCommandInput, 'AttributeDefinitions' | 'KeySchema'>;

/** How long `init` waits for a new table to become ACTIVE (DynamoDB creates tables asynchronously). */
const TABLE_ACTIVE_WAIT_MS = 120_000;

/**
 * Creates the table when it does not exist (on-demand capacity: keyctl's load is small and bursty), and waits until
 * it is ACTIVE. Idempotent: an existing table with keyctl's key schema is left as it is; one with another schema is
 * refused, since keyctl would misread it.
 */
export async function ensureTable(
  api: DynamoApi,
  options: { table: string; region: string; retry?: RetryOptions; sleep?: (ms: number) => Promise<void> },
): Promise<{ created: boolean }> {
  const describe = async () => {
    try {
      return (await withThrottleRetry(() => api.describeTable({ TableName: options.table }), options.retry)).Table;
    } catch (err) {
      if (awsErrorName(err) === 'ResourceNotFoundException') return undefined;
      throw mapAwsError(err, { op: 'DescribeTable', service: 'dynamodb', table: options.table, region: options.region });
    }
  };
  let created = false;
  let table = await describe();
  if (!table) {
    try {
      await withThrottleRetry(
        () =>
          api.createTable({
            TableName: options.table,
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [...KEY_SCHEMA.AttributeDefinitions],
            KeySchema: [...KEY_SCHEMA.KeySchema],
            Tags: [{ Key: 'managed-by', Value: 'keyctl' }],
          }),
        options.retry,
      );
      created = true;
    } catch (err) {
      // A concurrent init created it first: as good as ours.
      if (awsErrorName(err) !== 'ResourceInUseException') {
        throw mapAwsError(err, { op: 'CreateTable', service: 'dynamodb', table: options.table, region: options.region });
      }
    }
    table = await describe();
  }
  const keys = (table?.KeySchema ?? [])
    .map((k) => `${k.AttributeName}:${k.KeyType}`)
    .sort()
    .join(',');
  if (table && keys !== 'pk:HASH,sk:RANGE') {
    throw new ProviderError('AWS_TABLE_SCHEMA', `The DynamoDB table "${options.table}" exists with another key schema than keyctl's.`, {
      hint: 'It belongs to something else: set store.table in keyctl.yaml to a new name, and run `keyctl init` again.',
    });
  }
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const deadline = Date.now() + TABLE_ACTIVE_WAIT_MS;
  while (table?.TableStatus !== 'ACTIVE') {
    if (Date.now() > deadline) {
      throw new ProviderError('AWS_TABLE_NOT_ACTIVE', `The DynamoDB table "${options.table}" did not become ACTIVE within two minutes.`, {
        retryable: true,
        hint: 'Check its status with `aws dynamodb describe-table`, then re-run `keyctl init`.',
      });
    }
    await sleep(1000);
    table = await describe();
  }
  return { created };
}
