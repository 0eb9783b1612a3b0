/**
 * The CoordinationStore on AWS: leases and records as items of the provider's DynamoDB table (table.ts), written with
 * conditional writes, so a lease renewal or a journal step costs one item write and no Secrets Manager version.
 *
 * - **Leases**: one item per name (`pk` = `lease|<prefix>`) holding `held`, `owner`, `token`, `fence`, `expiresAt` and
 *   `rev`, a random value replaced by every write. Acquire reads the item, decides, and writes conditioned on `rev`
 *   being what it read (or on the item not existing), so of concurrent acquirers exactly one wins; seize (the kill
 *   switch) is the same write without the holder check. Renew and release are conditioned on holding (`held`,
 *   `fence`, `token`). The fence strictly increases on every new holder and survives release, because the item stays.
 * - **Records**: one item per key (`pk` = `record|<prefix>`) holding the JSON value, a random `revision` and
 *   `updatedAt`. Writes and deletes are TransactWriteItems: the record's condition (revision or absence) and, for a
 *   fenced call, a ConditionCheck that the lease's fence is not newer than the writer's, in one transaction, so a
 *   broken holder is refused even before the new holder writes
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html).
 *
 * Lost replies: every TransactWriteItems carries a ClientRequestToken, so the SDK's retry of a transaction that did
 * commit returns success instead of failing its own condition ("If the original TransactWriteItems call was
 * successful, subsequent TransactWriteItems calls with the same client token return successfully without making any
 * changes", TransactWriteItems API reference). A lease write has no such token; when it fails in a way that may hide a
 * success (a failed condition after a retry, a timeout), keyctl reads the item back and looks for its own token.
 *
 * Time: the callers' clocks (the injected `now`, else Date.now): DynamoDB offers no server time. Hosts sharing a
 * store need synchronized clocks (NTP); the fence protects writes even when they are not.
 *
 * Fail closed: an item of a shape keyctl did not write is STORE_CORRUPT, never an absent lease or record.
 */
import { randomBytes } from 'node:crypto';
import type * as DDB from '@aws-sdk/client-dynamodb';
import { ProviderError } from '@keyctl/client/errors';
import type {
  CoordinationRecord,
  CoordinationStore,
  Lease,
  RecordDeleteOptions,
  RecordValue,
  RecordWriteOptions,
} from '../coordination.js';
import { assertTtl, conflict, fenced, lockedBy, lost, sameToken } from '../coordination/transactional.js';
import { awsErrorName, mapAwsError, withThrottleRetry, type RetryOptions } from './errors.js';
import { partition, type DynamoApi } from './table.js';

type Item = Record<string, DDB.AttributeValue>;

export interface DynamoCoordinationOptions {
  table: string;
  /** The store's secret name prefix: its items are its own partitions. */
  prefix: string;
  region: string;
  now?: () => number;
  retry?: RetryOptions;
}

interface LeaseItem {
  held: boolean;
  owner: string;
  token: string;
  fence: number;
  expiresAt: number;
  rev: string;
}

interface RecordItem {
  key: string;
  value: RecordValue;
  revision: string;
  updatedAt: number;
}

/** Attempts of an acquire whose conditional write lost to a concurrent change (it then re-reads and decides again). */
const ACQUIRE_ATTEMPTS = 3;

export class DynamoCoordination implements CoordinationStore {
  readonly id = 'aws';
  private readonly clock: () => number;
  private readonly leasePk: string;
  private readonly recordPk: string;

  constructor(
    private readonly api: DynamoApi,
    private readonly options: DynamoCoordinationOptions,
  ) {
    this.clock = options.now ?? Date.now;
    this.leasePk = partition('lease', options.prefix);
    this.recordPk = partition('record', options.prefix);
  }

  async now(): Promise<number> {
    return this.clock();
  }

  async close(): Promise<void> {
    this.api.destroy();
  }

  // ---- leases ----

  acquire(name: string, owner: string, ttlMs: number): Promise<Lease> {
    return this.take(name, owner, ttlMs, false);
  }

  /** As acquire without the holder check: the conditional write on `rev` still makes one of racing seizers win. */
  seize(name: string, owner: string, ttlMs: number): Promise<Lease> {
    return this.take(name, owner, ttlMs, true);
  }

  private async take(name: string, owner: string, ttlMs: number, force: boolean): Promise<Lease> {
    assertTtl(ttlMs);
    return this.guard('PutItem', async () => {
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
        const current = await this.readLease(name);
        const now = this.clock();
        if (!force && current?.held && current.expiresAt > now) throw lockedBy(name, current.owner, current.expiresAt);
        const next: LeaseItem = {
          held: true,
          owner,
          token: randomBytes(18).toString('base64url'),
          fence: (current?.fence ?? 0) + 1,
          expiresAt: now + ttlMs,
          rev: randomBytes(12).toString('base64url'),
        };
        const won = await this.conditional(
          () =>
            this.api.putItem({
              TableName: this.options.table,
              Item: { ...this.key(this.leasePk, name), ...leaseAttributes(next) },
              ...(current
                ? {
                    ConditionExpression: '#rev = :rev',
                    ExpressionAttributeNames: { '#rev': 'rev' },
                    ExpressionAttributeValues: { ':rev': { S: current.rev } },
                  }
                : { ConditionExpression: 'attribute_not_exists(pk)' }),
            }),
          async () => sameToken((await this.readLease(name))?.token ?? '', next.token),
        );
        if (!won) continue; // someone changed the lease between the read and the write: decide again
        const tookOver = current?.held === true;
        return {
          name,
          owner,
          token: next.token,
          fence: next.fence,
          expiresAt: new Date(next.expiresAt).toISOString(),
          tookOver,
          ...(tookOver ? { previousOwner: current.owner } : {}),
        };
      }
      const holder = await this.readLease(name);
      throw lockedBy(name, holder?.owner ?? 'another keyctl', holder?.expiresAt ?? this.clock());
    });
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    assertTtl(ttlMs);
    return this.guard('UpdateItem', async () => {
      const expiresAt = this.clock() + ttlMs;
      const rev = randomBytes(12).toString('base64url');
      const ok = await this.conditional(
        () =>
          this.api.updateItem({
            TableName: this.options.table,
            Key: this.key(this.leasePk, lease.name),
            UpdateExpression: 'SET expiresAt = :exp, #rev = :rev',
            ...holding(lease, { '#rev': 'rev' }, { ':exp': { N: String(expiresAt) }, ':rev': { S: rev } }),
          }),
        // A renewal whose reply was lost: the item carries this call's rev.
        async () => (await this.readLease(lease.name))?.rev === rev,
      );
      if (!ok) throw lost(lease.name);
      return { ...lease, expiresAt: new Date(expiresAt).toISOString() };
    });
  }

  async release(lease: Lease): Promise<void> {
    await this.guard('UpdateItem', async () => {
      // A lost lease is someone else's now: the condition leaves it alone, and that is not an error.
      await this.conditional(
        () =>
          this.api.updateItem({
            TableName: this.options.table,
            Key: this.key(this.leasePk, lease.name),
            UpdateExpression: 'SET held = :false, #owner = :empty, #token = :empty, #rev = :rev',
            ...holding(
              lease,
              { '#owner': 'owner', '#rev': 'rev' },
              {
                ':false': { BOOL: false },
                ':empty': { S: '' },
                ':rev': { S: randomBytes(12).toString('base64url') },
              },
            ),
          }),
        async () => false,
      );
    });
  }

  // ---- records ----

  async read<T extends RecordValue = RecordValue>(key: string): Promise<CoordinationRecord<T> | null> {
    return this.guard('GetItem', async () => {
      const item = await this.readRecord(key);
      return item ? toRecord<T>(item) : null;
    });
  }

  async write<T extends RecordValue>(key: string, value: T, options: RecordWriteOptions): Promise<CoordinationRecord<T>> {
    // Round-trip now, so what is stored is exactly what a reader gets back (and non-JSON values fail here).
    const stored = JSON.parse(JSON.stringify(value)) as RecordValue;
    return this.guard('TransactWriteItems', async () => {
      const next: RecordItem = { key, value: stored, revision: randomBytes(12).toString('base64url'), updatedAt: this.clock() };
      const put: DDB.TransactWriteItem = {
        Put: {
          TableName: this.options.table,
          Item: { ...this.key(this.recordPk, key), ...recordAttributes(next) },
          ...(options.expect === null
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : { ConditionExpression: 'revision = :expect', ExpressionAttributeValues: { ':expect': { S: options.expect } } }),
        },
      };
      await this.transact(key, put, options.fence, async () => (await this.readRecord(key))?.revision === next.revision);
      return toRecord<T>(next);
    });
  }

  async delete(key: string, options: RecordDeleteOptions = {}): Promise<void> {
    await this.guard('TransactWriteItems', async () => {
      const del: DDB.TransactWriteItem = {
        Delete: {
          TableName: this.options.table,
          Key: this.key(this.recordPk, key),
          ...(options.expect !== undefined
            ? { ConditionExpression: 'revision = :expect', ExpressionAttributeValues: { ':expect': { S: options.expect } } }
            : {}),
        },
      };
      // An ambiguous failure of a guarded delete: the record being gone means it went through (or someone deleted it).
      await this.transact(key, del, options.fence, async () => (await this.readRecord(key)) === null);
    });
  }

  async list(prefix: string): Promise<string[]> {
    return this.guard('Query', async () => {
      const keys: string[] = [];
      let start: Item | undefined;
      do {
        const page = await this.call(() =>
          this.api.query({
            TableName: this.options.table,
            ConsistentRead: true,
            ProjectionExpression: 'sk',
            // begins_with refuses an empty operand (DynamoDB: "The AttributeValue for a key attribute cannot contain an
            // empty string value"), so the empty prefix is a plain partition query.
            ...(prefix === ''
              ? { KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: this.recordPk } } }
              : {
                  KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
                  ExpressionAttributeValues: { ':pk': { S: this.recordPk }, ':prefix': { S: prefix } },
                }),
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        for (const item of page.Items ?? []) {
          const sk = item.sk?.S;
          if (sk === undefined) throw corrupt(this.options.table, 'a record item without its key');
          keys.push(sk);
        }
        start = page.LastEvaluatedKey && Object.keys(page.LastEvaluatedKey).length > 0 ? page.LastEvaluatedKey : undefined;
      } while (start);
      // DynamoDB sorts a partition by the UTF-8 bytes of `sk`; the contract sorts by JavaScript string order.
      return keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    });
  }

  // ---- internals ----

  private key(pk: string, sk: string): Item {
    return { pk: { S: pk }, sk: { S: sk } };
  }

  private async readLease(name: string): Promise<LeaseItem | null> {
    const out = await this.call(() =>
      this.api.getItem({ TableName: this.options.table, Key: this.key(this.leasePk, name), ConsistentRead: true }),
    );
    return out.Item ? parseLease(out.Item, this.options.table) : null;
  }

  private async readRecord(key: string): Promise<RecordItem | null> {
    const out = await this.call(() =>
      this.api.getItem({ TableName: this.options.table, Key: this.key(this.recordPk, key), ConsistentRead: true }),
    );
    return out.Item ? parseRecord(out.Item, key, this.options.table) : null;
  }

  /**
   * A record write or delete, with the lease's fence checked in the same transaction when the caller passes one.
   * ConflictError when the record's condition failed, FencedError when the fence did; `landed` decides a failure that
   * may hide a success.
   */
  private async transact(
    key: string,
    item: DDB.TransactWriteItem,
    fence: Lease | undefined,
    landed: () => Promise<boolean>,
  ): Promise<void> {
    const items: DDB.TransactWriteItem[] = fence
      ? [
          {
            ConditionCheck: {
              TableName: this.options.table,
              Key: this.key(this.leasePk, fence.name),
              ConditionExpression: 'attribute_not_exists(pk) OR fence <= :fence',
              ExpressionAttributeValues: { ':fence': { N: String(fence.fence) } },
            },
          },
          item,
        ]
      : [item];
    try {
      await this.call(() =>
        this.api.transactWriteItems({ TransactItems: items, ClientRequestToken: randomBytes(18).toString('base64url') }),
      );
    } catch (err) {
      const name = awsErrorName(err);
      if (name === 'TransactionCanceledException') {
        const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
        const failed = (i: number) => reasons[i]?.Code === 'ConditionalCheckFailed';
        if (fence && failed(0)) throw fenced(key, fence);
        if (failed(fence ? 1 : 0)) throw conflict(key);
        // Cancelled for another reason (a concurrent transaction on the same item: TransactionConflict): retryable.
        throw err;
      }
      if (isAmbiguous(err) && (await landed())) return;
      throw err;
    }
  }

  /**
   * A conditional single-item write: true when it succeeded, false when its condition failed. A failure that may
   * hide a success (a failed condition on a retried request, a timeout, a 5xx) asks `landed`.
   */
  private async conditional(fn: () => Promise<unknown>, landed: () => Promise<boolean>): Promise<boolean> {
    try {
      await this.call(fn);
      return true;
    } catch (err) {
      const name = awsErrorName(err);
      if (name === 'ConditionalCheckFailedException') return landed();
      if (isAmbiguous(err) && (await landed())) return true;
      throw err;
    }
  }

  private call<T>(fn: () => Promise<T>): Promise<T> {
    return withThrottleRetry(fn, this.options.retry);
  }

  private async guard<T>(op: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      throw mapAwsError(err, { op, service: 'dynamodb', table: this.options.table, region: this.options.region });
    }
  }
}

/** A failure after which the write may or may not have happened: no answer, or a server error. */
function isAmbiguous(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }; code?: string; name?: string } | null;
  const status = e?.$metadata?.httpStatusCode;
  return status === undefined || status >= 500 || e?.name === 'TimeoutError' || e?.code === 'ETIMEDOUT' || e?.code === 'ECONNRESET';
}

/**
 * The condition "this caller still holds the lease", with the update's own names and values (DynamoDB refuses an
 * expression attribute name or value that no expression uses).
 */
function holding(
  lease: Lease,
  names: Record<string, string>,
  values: Item,
): Pick<DDB.UpdateItemInput, 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'> {
  return {
    ConditionExpression: 'held = :true AND fence = :fence AND #token = :token',
    ExpressionAttributeNames: { ...names, '#token': 'token' },
    ExpressionAttributeValues: { ...values, ':true': { BOOL: true }, ':fence': { N: String(lease.fence) }, ':token': { S: lease.token } },
  };
}

function leaseAttributes(l: LeaseItem): Item {
  return {
    held: { BOOL: l.held },
    owner: { S: l.owner },
    token: { S: l.token },
    fence: { N: String(l.fence) },
    expiresAt: { N: String(l.expiresAt) },
    rev: { S: l.rev },
  };
}

function recordAttributes(r: RecordItem): Item {
  return { value: { S: JSON.stringify(r.value) }, revision: { S: r.revision }, updatedAt: { N: String(r.updatedAt) } };
}

function parseLease(item: Item, table: string): LeaseItem {
  const fence = Number(item.fence?.N);
  const expiresAt = Number(item.expiresAt?.N);
  const held = item.held?.BOOL;
  const owner = item.owner?.S;
  const token = item.token?.S;
  const rev = item.rev?.S;
  if (typeof held !== 'boolean' || owner === undefined || token === undefined || rev === undefined) {
    throw corrupt(table, 'a lease item');
  }
  if (!Number.isSafeInteger(fence) || fence < 1 || !Number.isFinite(expiresAt)) throw corrupt(table, 'a lease item');
  return { held, owner, token, fence, expiresAt, rev };
}

function parseRecord(item: Item, key: string, table: string): RecordItem {
  const raw = item.value?.S;
  const revision = item.revision?.S;
  const updatedAt = Number(item.updatedAt?.N);
  if (raw === undefined || revision === undefined || !Number.isFinite(updatedAt)) throw corrupt(table, `the record ${key}`);
  let value: RecordValue;
  try {
    value = JSON.parse(raw) as RecordValue;
  } catch {
    throw corrupt(table, `the record ${key}`);
  }
  return { key, value, revision, updatedAt };
}

function toRecord<T extends RecordValue>(r: RecordItem): CoordinationRecord<T> {
  return { key: r.key, value: r.value as T, revision: r.revision, updatedAt: new Date(r.updatedAt).toISOString() };
}

function corrupt(table: string, what: string): ProviderError {
  return new ProviderError('STORE_CORRUPT', `The DynamoDB table "${table}" holds ${what} in a shape keyctl did not write.`, {
    hint: 'It was changed outside keyctl. Delete the item (aws dynamodb delete-item) or restore the table from a backup, then re-run.',
  });
}
