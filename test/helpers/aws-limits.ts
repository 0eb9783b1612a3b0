/**
 * What AWS enforces and moto does not, as a wrapper around the AWS provider's narrow APIs (providers/aws/api.ts
 * `SecretsManagerApi`, providers/aws/table.ts `DynamoApi`). Tests wrap every client they build with one `AwsLimits`;
 * all clients wrapped by the same instance share its state, as clients of one AWS account do.
 *
 * Secrets Manager:
 * - tags: at most 50 per secret (CreateSecret Tags, TagResource), `aws:` keys not counted;
 * - versions: no more than 100 versions younger than 24 hours (by the injected clock) per secret;
 * - staging labels: at most 20 attached across all versions of a secret (checked after each label change; a plain
 *   Error, because keyctl must never get there);
 * - pagination: ListSecretVersionIds and ListSecrets return at most `pageSize` entries per page whatever MaxResults
 *   says (AWS "might return fewer results than the maximum even when there are more results available"), and refuse a
 *   NextToken they did not issue;
 * - asynchronous deletion: a name force-deleted less than `deleteSettleMs` ago (real time) cannot be created again;
 * - throttling and call counts on demand (`throttleNext`, `calls`).
 *
 * DynamoDB: the 400 KB item size, computed by AWS's documented formula (moto uses its own approximation, which differs
 * both ways: see `dynamoItemSize`); throttling and call counts as above.
 *
 * The errors thrown are shaped as the SDK shapes AWS's: `name`, `$metadata.httpStatusCode`, `$fault`.
 */
import { randomUUID } from 'node:crypto';
import type { AttributeValue, CancellationReason } from '@aws-sdk/client-dynamodb';
import type { SecretsManagerApi } from '../../providers/aws/api.js';
import type { DynamoApi } from '../../providers/aws/table.js';

/** Secrets Manager quotas: https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html */
const SM_QUOTAS_URL = 'https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * "Maximum number of tags per secret: 50", and "Tags with this [aws:] prefix do not count against your tags per secret
 * limit": https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html (the current page points
 * to the tagging quotas, https://docs.aws.amazon.com/general/latest/gr/arg.html#taged-reference-quotas: 50 user tags per
 * resource).
 */
export const MAX_TAGS = 50;

/**
 * The error name for a 51st tag. The TagResource API reference documents no error for it (its errors are
 * InternalServiceError, InvalidParameterException, InvalidRequestException and ResourceNotFoundException; the service
 * model, botocore's secretsmanager/2017-10-17/service-2.json, puts no length constraint on the tag list either, so it is
 * not a framework ValidationException). Unclear, so this is LimitExceededException, the error Secrets Manager documents
 * for "The request failed because it would exceed one of the Secrets Manager quotas"
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html#API_CreateSecret_Errors).
 * Assert on this constant, not on the literal, so the guess lives in one place.
 */
export const TAG_LIMIT_ERROR = 'LimitExceededException';

/**
 * "Secrets Manager removes unlabeled versions when there are more than 100, but it does not remove versions created
 * less than 24 hours ago" (reference_limits.html): the 101st version younger than 24 hours is refused with
 * LimitExceededException (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html#API_PutSecretValue_Errors).
 */
export const MAX_YOUNG_VERSIONS = 100;

/** "Staging labels attached across all versions of a secret: 20" (reference_limits.html). */
export const MAX_LABELS = 20;

/**
 * MaxResults of ListSecretVersionIds and ListSecrets is 1..100
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecretVersionIds.html#API_ListSecretVersionIds_RequestSyntax,
 * https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html#API_ListSecrets_RequestSyntax);
 * moto accepts any value.
 */
export const MAX_RESULTS = 100;

/**
 * "The maximum item size in DynamoDB is 400 KB, which includes both attribute name binary length (UTF-8 length) and
 * attribute value lengths": https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
 * (400 KB = 409,600 bytes; moto refuses above 405,000 by its own count).
 */
export const MAX_ITEM_BYTES = 400 * 1024;

/** AWS's message for an item over MAX_ITEM_BYTES (PutItem: ValidationException). */
export const ITEM_TOO_LARGE = 'Item size has exceeded the maximum allowed size';

/** The Secrets Manager operations of `SecretsManagerApi`, the names `calls` and `throttleNext` take. */
export const SM_OPS = [
  'createSecret',
  'putSecretValue',
  'getSecretValue',
  'describeSecret',
  'listSecretVersionIds',
  'listSecrets',
  'updateSecretVersionStage',
  'deleteSecret',
  'tagResource',
  'untagResource',
] as const satisfies readonly Exclude<keyof SecretsManagerApi, 'destroy'>[];

/** DynamoDB data-plane operations of `DynamoApi`. */
export const DYNAMO_DATA_OPS = [
  'getItem',
  'putItem',
  'updateItem',
  'deleteItem',
  'query',
  'transactWriteItems',
] as const satisfies readonly Exclude<keyof DynamoApi, 'destroy'>[];

/** DynamoDB control-plane operations of `DynamoApi`. */
export const DYNAMO_CONTROL_OPS = ['createTable', 'describeTable'] as const satisfies readonly Exclude<keyof DynamoApi, 'destroy'>[];

export type SecretsManagerOp = (typeof SM_OPS)[number];
export type DynamoOp = (typeof DYNAMO_DATA_OPS)[number] | (typeof DYNAMO_CONTROL_OPS)[number];
export type AwsOp = SecretsManagerOp | DynamoOp;

/**
 * The throttling error of each operation (`throttleShape`):
 * - Secrets Manager: ThrottlingException, "The request was denied due to request throttling", HTTP 400
 *   (https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html);
 * - DynamoDB data plane: ProvisionedThroughputExceededException, the throttling error every item operation documents
 *   ("The Amazon Web Services SDKs for DynamoDB automatically retry requests that receive this exception",
 *   https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_PutItem.html#API_PutItem_Errors; the newer
 *   ThrottlingException is listed there too: pass it to `throttleNext` to get it instead);
 * - DynamoDB control plane: ThrottlingException, "Rate of requests exceeds the allowed throughput. This exception might
 *   be returned if you perform any of the following operations too rapidly: CreateTable; UpdateTable; DeleteTable"
 *   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html).
 */
function throttleShape(op: AwsOp): { name: string; message: string } {
  if ((SM_OPS as readonly string[]).includes(op)) return { name: 'ThrottlingException', message: 'Rate exceeded' };
  if ((DYNAMO_CONTROL_OPS as readonly string[]).includes(op)) {
    return { name: 'ThrottlingException', message: 'Rate of requests exceeds the allowed throughput.' };
  }
  return {
    name: 'ProvisionedThroughputExceededException',
    message: 'The level of configured provisioned throughput for the table was exceeded.',
  };
}

const KNOWN_OPS = new Set<string>([...SM_OPS, ...DYNAMO_DATA_OPS, ...DYNAMO_CONTROL_OPS]);

/** An error shaped as the SDK shapes an AWS client error. */
export function awsError(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 }, $fault: 'client' as const }, extra);
}

export interface AwsLimitsOptions {
  /** The test clock for the 24-hour version rule (ms). Default Date.now. */
  clock?: () => number;
  /** How long (real ms) a force-deleted name stays unusable. Default 10_000: any real test runs well within it. */
  deleteSettleMs?: number;
  /** Entries per page of ListSecretVersionIds and ListSecrets. Default 10. */
  pageSize?: number;
}

type VersionsPage = Awaited<ReturnType<SecretsManagerApi['listSecretVersionIds']>>;
type SecretsPage = Awaited<ReturnType<SecretsManagerApi['listSecrets']>>;

interface IssuedToken {
  op: 'listSecretVersionIds' | 'listSecrets';
  /** The request minus MaxResults and NextToken: a token is only good for the listing it came from. */
  scope: string;
  offset: number;
}

/** Quotas AWS enforces and moto does not, shared by every client it wraps (one AWS account). */
export class AwsLimits {
  private readonly clock: () => number;
  private readonly deleteSettleMs: number;
  private readonly pageSize: number;

  private readonly callCounts = new Map<string, number>();
  private readonly throttles = new Map<string, { count: number; name?: string }>();
  /** Secret name -> tag key -> value. */
  private readonly tagsByName = new Map<string, Map<string, string>>();
  /** Secret name -> version id -> created at (test clock). */
  private readonly versions = new Map<string, Map<string, number>>();
  /** Secret name -> when it was force-deleted (real time). */
  private readonly deletedAt = new Map<string, number>();
  private readonly arnToName = new Map<string, string>();
  private readonly tokens = new Map<string, IssuedToken>();

  constructor(options: AwsLimitsOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.deleteSettleMs = options.deleteSettleMs ?? 10_000;
    this.pageSize = options.pageSize ?? 10;
    if (!(this.pageSize >= 1)) throw new Error(`pageSize must be at least 1, not ${this.pageSize}`);
  }

  /** How many times `op` was called through any wrapped client (throttled calls included; the wrapper's own are not). */
  calls(op: AwsOp): number {
    return this.callCounts.get(op) ?? 0;
  }

  /**
   * The next `count` calls of `op` (through any wrapped client) fail with the operation's throttling error (see
   * throttleShape; `name` overrides it) without reaching the underlying api. Replaces any count still pending for `op`.
   */
  throttleNext(op: AwsOp, count: number, name?: string): void {
    if (!KNOWN_OPS.has(op)) throw new Error(`throttleNext: unknown operation ${op}`);
    if (!Number.isInteger(count) || count < 0) throw new Error(`throttleNext: count must be a whole number, not ${count}`);
    this.throttles.set(op, { count, ...(name ? { name } : {}) });
  }

  /** Every version of `name` seen since it was created (young or not). */
  versionCount(name: string): number {
    return this.versions.get(this.nameOf(name))?.size ?? 0;
  }

  /** Versions of `name` created within the last 24 hours of the test clock. */
  young(name: string): number {
    const now = this.clock();
    return [...(this.versions.get(this.nameOf(name))?.values() ?? [])].filter((at) => now - at < DAY_MS).length;
  }

  /** User tags (not `aws:`) on `name`, as far as the wrapped clients have set them. */
  tagCount(name: string): number {
    return userTagCount(this.tagsByName.get(this.nameOf(name)));
  }

  wrap(api: SecretsManagerApi): SecretsManagerApi {
    return {
      createSecret: async (input) => {
        this.enter('createSecret');
        const name = input.Name ?? '';
        const deleted = this.deletedAt.get(name);
        // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html (ForceDeleteWithoutRecovery:
        // "there might be a short delay before the secret is permanently deleted"); the error is CreateSecret's
        // InvalidRequestException (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html#API_CreateSecret_Errors).
        if (deleted !== undefined && Date.now() - deleted < this.deleteSettleMs) {
          throw awsError(
            'InvalidRequestException',
            "You can't create this secret because a secret with this name is already scheduled for deletion.",
          );
        }
        const tags = new Map<string, string>();
        for (const t of input.Tags ?? []) tags.set(t.Key ?? '', t.Value ?? '');
        this.checkTags(name, tags);
        const hasValue = input.SecretString !== undefined || input.SecretBinary !== undefined;
        const out = await api.createSecret(input);
        this.deletedAt.delete(name);
        if (out.ARN) this.arnToName.set(out.ARN, out.Name ?? name);
        this.tagsByName.set(name, tags);
        const versions = new Map<string, number>();
        if (hasValue) versions.set(out.VersionId ?? input.ClientRequestToken ?? randomUUID(), this.clock());
        this.versions.set(name, versions);
        return out;
      },

      putSecretValue: async (input) => {
        this.enter('putSecretValue');
        const name = this.nameOf(String(input.SecretId));
        const seen = this.versions.get(name) ?? new Map<string, number>();
        this.versions.set(name, seen);
        const token = input.ClientRequestToken;
        // A repeated ClientRequestToken is the same version (PutSecretValue is idempotent on it), not a new one.
        const isNew = token === undefined || !seen.has(token);
        // Reserve the slot before the await, so concurrent puts cannot all pass the check.
        const slot = token ?? `pending-${randomUUID()}`;
        if (isNew) {
          const young = this.young(name);
          if (young >= MAX_YOUNG_VERSIONS) {
            throw awsError(
              'LimitExceededException',
              `You have exceeded the maximum number of versions for this secret (${young} versions younger than 24 hours; ${SM_QUOTAS_URL}).`,
            );
          }
          seen.set(slot, this.clock());
        }
        let out: Awaited<ReturnType<SecretsManagerApi['putSecretValue']>>;
        try {
          out = await api.putSecretValue(input);
        } catch (err) {
          if (isNew) seen.delete(slot);
          throw err;
        }
        if (isNew && out.VersionId && out.VersionId !== slot) {
          const at = seen.get(slot) ?? this.clock();
          seen.delete(slot);
          seen.set(out.VersionId, at);
        }
        await this.checkLabels(api, name);
        return out;
      },

      getSecretValue: (input) => this.pass('getSecretValue', () => api.getSecretValue(input)),
      describeSecret: (input) => this.pass('describeSecret', () => api.describeSecret(input)),

      listSecretVersionIds: async (input) => {
        this.enter('listSecretVersionIds');
        const { MaxResults, NextToken, ...rest } = input;
        const { offset, limit } = this.startPage('listSecretVersionIds', rest, MaxResults, NextToken);
        let first: VersionsPage | undefined;
        const all: NonNullable<VersionsPage['Versions']> = [];
        let next: string | undefined;
        for (let i = 0; i < 1000; i++) {
          const out = await api.listSecretVersionIds({ ...rest, ...(next ? { NextToken: next } : {}) });
          first ??= out;
          all.push(...(out.Versions ?? []));
          next = out.NextToken || undefined;
          if (!next) break;
        }
        const page = all.slice(offset, offset + limit);
        const token = this.issue('listSecretVersionIds', rest, offset + page.length, all.length);
        const { NextToken: _ignored, ...head } = first ?? {};
        return { ...head, Versions: page, ...(token ? { NextToken: token } : {}) };
      },

      listSecrets: async (input) => {
        this.enter('listSecrets');
        const { MaxResults, NextToken, ...rest } = input;
        const { offset, limit } = this.startPage('listSecrets', rest, MaxResults, NextToken);
        const all: NonNullable<SecretsPage['SecretList']> = [];
        let next: string | undefined;
        for (let i = 0; i < 1000; i++) {
          const out = await api.listSecrets({ ...rest, ...(next ? { NextToken: next } : {}) });
          all.push(...(out.SecretList ?? []));
          next = out.NextToken || undefined;
          if (!next) break;
        }
        const page = all.slice(offset, offset + limit);
        const token = this.issue('listSecrets', rest, offset + page.length, all.length);
        return { SecretList: page, ...(token ? { NextToken: token } : {}) };
      },

      updateSecretVersionStage: async (input) => {
        this.enter('updateSecretVersionStage');
        const out = await api.updateSecretVersionStage(input);
        await this.checkLabels(api, this.nameOf(String(input.SecretId)));
        return out;
      },

      deleteSecret: async (input) => {
        this.enter('deleteSecret');
        const out = await api.deleteSecret(input);
        if (input.ForceDeleteWithoutRecovery) {
          const name = out.Name ?? this.nameOf(String(input.SecretId));
          this.deletedAt.set(name, Date.now());
          this.versions.delete(name);
          this.tagsByName.delete(name);
        }
        return out;
      },

      tagResource: async (input) => {
        this.enter('tagResource');
        const name = this.nameOf(String(input.SecretId));
        // TagResource adds keys and overwrites the values of keys already there.
        const after = new Map(this.tagsByName.get(name) ?? []);
        for (const t of input.Tags ?? []) after.set(t.Key ?? '', t.Value ?? '');
        this.checkTags(name, after);
        const out = await api.tagResource(input);
        this.tagsByName.set(name, after);
        return out;
      },

      untagResource: async (input) => {
        this.enter('untagResource');
        const name = this.nameOf(String(input.SecretId));
        const out = await api.untagResource(input);
        const tags = this.tagsByName.get(name);
        for (const key of input.TagKeys ?? []) tags?.delete(key);
        return out;
      },

      destroy: () => api.destroy(),
    };
  }

  wrapDynamo(api: DynamoApi): DynamoApi {
    return {
      getItem: (input) => this.pass('getItem', () => api.getItem(input)),
      deleteItem: (input) => this.pass('deleteItem', () => api.deleteItem(input)),
      // Query pages are moto's own (it honours Limit): passed through untouched.
      query: (input) => this.pass('query', () => api.query(input)),
      createTable: (input) => this.pass('createTable', () => api.createTable(input)),
      describeTable: (input) => this.pass('describeTable', () => api.describeTable(input)),

      putItem: async (input) => {
        this.enter('putItem');
        // PutItem of an item over 400 KB: ValidationException (ServiceQuotas.html, above).
        const size = dynamoItemSize(input.Item ?? {});
        if (size > MAX_ITEM_BYTES) throw awsError('ValidationException', ITEM_TOO_LARGE);
        return api.putItem(input);
      },

      updateItem: async (input) => {
        this.enter('updateItem');
        const out = await api.updateItem(input);
        // The item's final size is only known after the update: read it back (not counted) and fail the test.
        await this.checkStoredItem(api, input.TableName, input.Key, 'UpdateItem');
        return out;
      },

      transactWriteItems: async (input) => {
        this.enter('transactWriteItems');
        const items = input.TransactItems ?? [];
        // An oversized item cancels the whole transaction: TransactionCanceledException with a ValidationError reason at
        // its index ("An item size becomes too large (bigger than 400 KB) ...",
        // https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html#API_TransactWriteItems_Errors),
        // not a plain ValidationException; keyctl reads CancellationReasons (dynamo-coordination.ts), so the shape matters.
        const reasons: CancellationReason[] = items.map((t) =>
          t.Put && dynamoItemSize(t.Put.Item ?? {}) > MAX_ITEM_BYTES
            ? { Code: 'ValidationError', Message: ITEM_TOO_LARGE }
            : { Code: 'None' },
        );
        if (reasons.some((r) => r.Code !== 'None')) {
          throw awsError(
            'TransactionCanceledException',
            `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.map((r) => r.Code).join(', ')}]`,
            { CancellationReasons: reasons },
          );
        }
        const out = await api.transactWriteItems(input);
        for (const t of items) {
          if (t.Update) await this.checkStoredItem(api, t.Update.TableName, t.Update.Key, 'TransactWriteItems Update');
        }
        return out;
      },

      destroy: () => api.destroy(),
    };
  }

  /** Counts the call and throws the throttling error when one is pending for `op`. */
  private enter(op: AwsOp): void {
    this.callCounts.set(op, (this.callCounts.get(op) ?? 0) + 1);
    const pending = this.throttles.get(op);
    if (pending && pending.count > 0) {
      pending.count -= 1;
      const shape = throttleShape(op);
      throw awsError(pending.name ?? shape.name, shape.message, { $retryable: { throttling: true } });
    }
  }

  private async pass<T>(op: AwsOp, fn: () => Promise<T>): Promise<T> {
    this.enter(op);
    return fn();
  }

  /** The secret name of a SecretId that may be an ARN (`arn:aws:secretsmanager:<region>:<account>:secret:<name>-XXXXXX`). */
  private nameOf(secretId: string): string {
    const known = this.arnToName.get(secretId);
    if (known !== undefined) return known;
    const m = /^arn:aws[\w-]*:secretsmanager:[^:]*:[^:]*:secret:(.+)-[A-Za-z0-9]{6}$/.exec(secretId);
    return m?.[1] ?? secretId;
  }

  private checkTags(name: string, tags: Map<string, string>): void {
    const count = userTagCount(tags);
    if (count > MAX_TAGS) {
      throw awsError(TAG_LIMIT_ERROR, `The secret ${name} would have ${count} tags; the maximum is ${MAX_TAGS}.`);
    }
  }

  /** Fails the test the moment a secret carries more labels than AWS would have accepted (reference_limits.html). */
  private async checkLabels(api: SecretsManagerApi, name: string): Promise<void> {
    const described = await api.describeSecret({ SecretId: name });
    const labels = new Set(Object.values(described.VersionIdsToStages ?? {}).flat());
    if (labels.size > MAX_LABELS) {
      throw new Error(`AWS would have refused this: ${labels.size} staging labels on ${name} (at most ${MAX_LABELS}: ${SM_QUOTAS_URL}).`);
    }
  }

  private async checkStoredItem(
    api: DynamoApi,
    table: string | undefined,
    key: Record<string, AttributeValue> | undefined,
    op: string,
  ): Promise<void> {
    if (!table || !key) return;
    const got = await api.getItem({ TableName: table, Key: key, ConsistentRead: true });
    const size = got.Item ? dynamoItemSize(got.Item) : 0;
    if (size > MAX_ITEM_BYTES) {
      throw new Error(`AWS would have refused this ${op}: the item would be ${size} bytes, over DynamoDB's ${MAX_ITEM_BYTES}.`);
    }
  }

  /** Validates MaxResults and NextToken of a listing; returns where the page starts and how long it may be. */
  private startPage(
    op: IssuedToken['op'],
    rest: object,
    maxResults: number | undefined,
    nextToken: string | undefined,
  ): { offset: number; limit: number } {
    if (maxResults !== undefined && (maxResults < 1 || maxResults > MAX_RESULTS)) {
      throw awsError(
        'ValidationException',
        `1 validation error detected: Value '${maxResults}' at 'maxResults' failed to satisfy constraint: Member must have value ${
          maxResults < 1 ? 'greater than or equal to 1' : `less than or equal to ${MAX_RESULTS}`
        }`,
      );
    }
    let offset = 0;
    if (nextToken !== undefined) {
      const issued = this.tokens.get(nextToken);
      // InvalidNextTokenException: "The NextToken value is invalid."
      // (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecretVersionIds.html#API_ListSecretVersionIds_Errors)
      if (!issued || issued.op !== op || issued.scope !== scopeOf(rest)) {
        throw awsError('InvalidNextTokenException', 'The NextToken value is invalid.');
      }
      offset = issued.offset;
    }
    return { offset, limit: Math.min(this.pageSize, maxResults ?? this.pageSize) };
  }

  /** A fresh opaque token for the page starting at `offset`, or undefined when the listing ends before it. */
  private issue(op: IssuedToken['op'], rest: object, offset: number, total: number): string | undefined {
    if (offset >= total) return undefined;
    const token = `awslimits-${randomUUID()}`;
    this.tokens.set(token, { op, scope: scopeOf(rest), offset });
    return token;
  }
}

function scopeOf(rest: object): string {
  return JSON.stringify(rest, Object.keys(rest).sort());
}

function userTagCount(tags: Map<string, string> | undefined): number {
  return [...(tags?.keys() ?? [])].filter((k) => !k.startsWith('aws:')).length;
}

const utf8 = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * The size of a DynamoDB item by AWS's documented rules
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html): each attribute is its
 * name's UTF-8 length plus its value's size; strings their UTF-8 length; numbers 1 byte per two significant digits plus
 * 1; binaries their raw length; null and booleans 1 byte; lists and maps 3 bytes plus their elements plus 1 byte per
 * element; sets the sum of their elements.
 *
 * moto counts differently (numbers by their text length, no list or map overhead, a 405,000-byte cap), so an item can
 * pass moto and not AWS (many small list elements) or the other way round (between 405,000 and 409,600 bytes).
 */
export function dynamoItemSize(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += utf8(name) + valueSize(value);
  return size;
}

function numberSize(n: string): number {
  const mantissa = n.replace(/^[+-]/, '').split(/[eE]/)[0] ?? '';
  const digits = mantissa.replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

function valueSize(value: AttributeValue): number {
  const v = value as {
    S?: string;
    N?: string;
    B?: Uint8Array;
    BOOL?: boolean;
    NULL?: boolean;
    L?: AttributeValue[];
    M?: Record<string, AttributeValue>;
    SS?: string[];
    NS?: string[];
    BS?: Uint8Array[];
  };
  if (v.S !== undefined) return utf8(v.S);
  if (v.N !== undefined) return numberSize(v.N);
  if (v.B !== undefined) return v.B.byteLength;
  if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
  if (v.L !== undefined) return 3 + v.L.reduce((sum, e) => sum + valueSize(e) + 1, 0);
  if (v.M !== undefined) return 3 + Object.entries(v.M).reduce((sum, [k, e]) => sum + utf8(k) + valueSize(e) + 1, 0);
  if (v.SS !== undefined) return v.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (v.NS !== undefined) return v.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (v.BS !== undefined) return v.BS.reduce((sum, b) => sum + b.byteLength, 0);
  return 0;
}
