/**
 * The calls every part of the AWS provider shares (slots, wraps, leases): one AWS call with keyctl's throttling retry,
 * the mapping of whatever escapes a public operation to a KeyctlError, and the reads that treat "no such secret" as
 * null. The SDK is not imported here (types only): everything goes through the narrow SecretsManagerApi.
 */
import type * as SM from '@aws-sdk/client-secrets-manager';
import { NotFoundError, ProviderError } from '@keyctl/client/errors';
import type { Stage } from '../types.js';
import type { SecretsManagerApi } from './api.js';
import { awsErrorName, mapAwsError, withThrottleRetry, type RetryOptions } from './errors.js';
import { LABEL, type VersionIdsToStages } from './stages.js';

export interface AwsStoreOptions {
  region: string;
  /** Secret name prefix, e.g. `keyctl/`. */
  prefix: string;
  kmsKeyId?: string;
  /** The DynamoDB table (table.ts); `keyctl` by default. */
  table?: string;
  /** Longest wait for AWS to finish deleting a name before it can be created again (ms, default 30 s). */
  deleteWaitMs?: number;
  /** Clock for lease and wrap expiry (injectable for tests). */
  now?: () => number;
  /** keyctl's own throttling retry, on top of the SDK's. */
  retry?: RetryOptions;
}

/** One AWS secret: its full name, and the keyctl path (or lease name) it stands for, for messages. */
export type Ref = { name: string; path: string };
export type Tag = { Key: string; Value: string };
export type GetOut = Awaited<ReturnType<SecretsManagerApi['getSecretValue']>>;
export type DescribeOut = Awaited<ReturnType<SecretsManagerApi['describeSecret']>>;

export const TAG_MANAGED_BY = 'managed-by';
export const TAG_KIND = 'keyctl:kind';
export const TAG_PATH = 'keyctl:path';

export const DEFAULT_TABLE = 'keyctl';

/** Remembers which AWS operation an error came from, for the hint ("grant secretsmanager:<op>"). */
const OP = Symbol('keyctl.awsOp');

export function tagValue(tags: SM.Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

export class AwsClient {
  readonly now: () => number;
  readonly table: string;

  constructor(
    readonly api: SecretsManagerApi,
    readonly options: AwsStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.table = options.table ?? DEFAULT_TABLE;
  }

  /** One AWS call with keyctl's throttling retry; raw AWS errors are thrown, tagged with the operation. */
  async aws<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withThrottleRetry(fn, this.options.retry);
    } catch (err) {
      if (typeof err === 'object' && err !== null && !(OP in err)) Object.defineProperty(err, OP, { value: op });
      throw err;
    }
  }

  /** Runs a public operation and maps whatever AWS error escapes it to a KeyctlError (exit 4) with a hint. */
  async guard<T>(secretName: string | undefined, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      const op = typeof err === 'object' && err !== null ? ((err as { [OP]?: string })[OP] ?? 'a call') : 'a call';
      throw mapAwsError(err, {
        op,
        ...(secretName !== undefined ? { secretName } : {}),
        region: this.options.region,
        ...(this.options.kmsKeyId !== undefined ? { kmsKeyId: this.options.kmsKeyId } : {}),
      });
    }
  }

  /** DescribeSecret, or null when the secret does not exist or is scheduled for deletion. */
  async describeRaw(name: string): Promise<DescribeOut | null> {
    try {
      const out = await this.aws('DescribeSecret', () => this.api.describeSecret({ SecretId: name }));
      return out.DeletedDate ? null : out;
    } catch (err) {
      if (awsErrorName(err) === 'ResourceNotFoundException') return null;
      throw err;
    }
  }

  async labels(name: string): Promise<VersionIdsToStages> {
    const info = await this.describeRaw(name);
    if (!info) throw new NotFoundError(`No secret named "${name}".`);
    return info.VersionIdsToStages ?? {};
  }

  /**
   * GetSecretValue by stage or by id, or null when there is no such version. A stage read always names its
   * VersionStage: moto does not update its default version on UpdateSecretVersionStage, so a read without one
   * returns the old value there.
   */
  async getVersion(name: string, sel: { stage: Stage } | { versionId: string }): Promise<GetOut | null> {
    try {
      return await this.aws('GetSecretValue', () =>
        this.api.getSecretValue(
          'stage' in sel ? { SecretId: name, VersionStage: LABEL[sel.stage] } : { SecretId: name, VersionId: sel.versionId },
        ),
      );
    } catch (err) {
      if (awsErrorName(err) === 'ResourceNotFoundException') return null;
      throw err;
    }
  }

  /** Every version AWS still keeps, labelled or not. */
  async listVersions(name: string): Promise<SM.SecretVersionsListEntry[]> {
    const out: SM.SecretVersionsListEntry[] = [];
    let next: string | undefined;
    do {
      const page = await this.aws('ListSecretVersionIds', () =>
        this.api.listSecretVersionIds({ SecretId: name, IncludeDeprecated: true, MaxResults: 100, ...(next ? { NextToken: next } : {}) }),
      );
      out.push(...(page.Versions ?? []));
      next = page.NextToken || undefined;
    } while (next);
    return out;
  }

  /** Every live secret whose name starts with `prefix`, with its tags. */
  async listSecrets(prefix: string): Promise<SM.SecretListEntry[]> {
    const out: SM.SecretListEntry[] = [];
    let next: string | undefined;
    do {
      const page = await this.aws('ListSecrets', () =>
        this.api.listSecrets({ MaxResults: 100, ...this.nameFilter(prefix), ...(next ? { NextToken: next } : {}) }),
      );
      for (const s of page.SecretList ?? []) {
        // AWS's name filter is a case-insensitive prefix match; keyctl paths are case-sensitive.
        if (s.Name?.startsWith(prefix) && !s.DeletedDate) out.push(s);
      }
      next = page.NextToken || undefined;
    } while (next);
    return out;
  }

  /** DeleteSecret without a recovery window. Idempotent: a missing secret is already deleted. */
  async forceDelete(name: string): Promise<void> {
    try {
      await this.aws('DeleteSecret', () => this.api.deleteSecret({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    } catch (err) {
      if (awsErrorName(err) !== 'ResourceNotFoundException') throw err;
    }
  }

  nameFilter(prefix: string): { Filters?: SM.Filter[] } {
    return prefix ? { Filters: [{ Key: 'name', Values: [prefix] }] } : {};
  }

  tags(kind: string, extra: Tag[]): Tag[] {
    return [{ Key: TAG_MANAGED_BY, Value: 'keyctl' }, { Key: TAG_KIND, Value: kind }, ...extra];
  }

  /** `KmsKeyId` for CreateSecret, when the store is configured with a customer-managed key. */
  kms(): { KmsKeyId?: string } {
    return this.options.kmsKeyId ? { KmsKeyId: this.options.kmsKeyId } : {};
  }

  foreign(ref: Ref): ProviderError {
    return new ProviderError('STORE_CORRUPT', `The AWS secret "${ref.name}" holds a value keyctl did not write.`, {
      hint: 'It was changed outside keyctl (console or CLI). Restore a keyctl-written version with `aws secretsmanager update-secret-version-stage`, or remove the secret.',
    });
  }
}
