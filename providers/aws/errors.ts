/**
 * One place that turns AWS SDK failures into keyctl errors (exit 4) with hints, and retries throttling.
 *
 * AWS messages are never copied wholesale: only the error's name, the operation and the secret's name (not secret) go
 * into a message. The one exception is AccessDenied, whose text names the principal and the missing action, which is
 * exactly what the operator needs and holds no secret value.
 */
import { KeyctlError, NotFoundError, ProviderError } from '@keyctl/client/errors';

/** The bits of an SDK error keyctl looks at. */
interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'SlowDown',
]);
const DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation', 'NotAuthorized']);
const BAD_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredTokenException',
  'ExpiredToken',
  'IncompleteSignature',
]);
const KMS = new Set([
  'DecryptionFailure',
  'EncryptionFailure',
  'KMSAccessDeniedException',
  'KMSInvalidStateException',
  'KMSDisabledException',
  'KMSNotFoundException',
  'KMSInternalException',
]);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH']);

/** The AWS error name of `err` (`ResourceNotFoundException`, ...), or undefined for non-AWS errors. */
export function awsErrorName(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const name = (err as AwsLikeError).name;
  return typeof name === 'string' ? name : undefined;
}

export function isThrottling(err: unknown): boolean {
  const e = err as AwsLikeError | null;
  return THROTTLING.has(awsErrorName(err) ?? '') || e?.$metadata?.httpStatusCode === 429;
}

/** What was being done, for the message and hint. Never holds a secret value. */
export interface AwsCallContext {
  /** AWS operation, e.g. `GetSecretValue`. */
  op: string;
  /** Secret name the call touched, when there is one. */
  secretName?: string;
  region?: string;
  kmsKeyId?: string;
  /** The service called: Secrets Manager (the default) or DynamoDB (the provider's table). */
  service?: 'secretsmanager' | 'dynamodb';
  /** The DynamoDB table, for DynamoDB calls. */
  table?: string;
}

/** Maps anything thrown by an AWS call to a KeyctlError (a KeyctlError passes through unchanged). */
export function mapAwsError(err: unknown, ctx: AwsCallContext): KeyctlError {
  if (err instanceof KeyctlError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as AwsLikeError;
  const name = awsErrorName(err) ?? typeof err;
  const where = ctx.secretName ? ` on "${ctx.secretName}"` : '';
  const named = ctx.secretName ? ` "${ctx.secretName}"` : '';
  const options = { cause: err, details: { awsError: name, operation: ctx.op } };
  const message = typeof e.message === 'string' ? e.message : '';

  if (KMS.has(name) || (DENIED.has(name) && /\bkms\b/i.test(message))) {
    return new ProviderError('AWS_KMS_ERROR', `AWS KMS refused ${ctx.op}${where} (${name}).`, {
      ...options,
      hint: ctx.kmsKeyId
        ? `Check that KMS key ${ctx.kmsKeyId} is enabled and that its key policy lets this principal use kms:Decrypt and kms:GenerateDataKey through Secrets Manager.`
        : "Check that the secret's KMS key is enabled and that this principal may use kms:Decrypt and kms:GenerateDataKey through Secrets Manager.",
    });
  }
  if (ctx.service === 'dynamodb') {
    const table = ctx.table ?? 'keyctl';
    if (DENIED.has(name)) {
      return new ProviderError('AWS_ACCESS_DENIED', `AWS denied DynamoDB ${ctx.op} on table "${table}": ${oneLine(message)}`, {
        ...options,
        hint: `Grant dynamodb:${ctx.op === 'TransactWriteItems' ? 'PutItem, dynamodb:DeleteItem and dynamodb:ConditionCheckItem' : ctx.op} on the table to this principal (\`keyctl aws policy --operator\` prints the whole policy).`,
      });
    }
    if (name === 'ResourceNotFoundException') {
      return new ProviderError('STORE_NOT_INITIALIZED', `The DynamoDB table "${table}" of the AWS store does not exist.`, {
        ...options,
        hint: 'Run `keyctl init`: it creates the table (leases, rotation journals and the version index live there). Check store.table and store.region in keyctl.yaml.',
      });
    }
  }
  if (DENIED.has(name)) {
    return new ProviderError('AWS_ACCESS_DENIED', `AWS denied ${ctx.op}${where}: ${oneLine(message)}`, {
      ...options,
      hint: `Grant secretsmanager:${ctx.op} on the keyctl secrets to this principal. keyctl takes credentials only from the AWS SDK default chain (environment, profile, instance or task role).`,
    });
  }
  if (BAD_CREDENTIALS.has(name) || name === 'CredentialsProviderError') {
    const missing = name === 'CredentialsProviderError';
    return new ProviderError(
      missing ? 'AWS_NO_CREDENTIALS' : 'AWS_BAD_CREDENTIALS',
      missing ? 'No AWS credentials were found.' : `AWS did not accept the credentials for ${ctx.op} (${name}).`,
      {
        ...options,
        hint: 'keyctl reads credentials from the AWS SDK default chain only: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, or an instance/task role. Check that they are present and not expired.',
      },
    );
  }
  if (name === 'ResourceNotFoundException') {
    return new NotFoundError(`AWS Secrets Manager has no secret${named} (${ctx.op}).`, {
      ...options,
      hint: "Check the store's region and prefix in keyctl.yaml, and run `keyctl key list` to see what is stored.",
    });
  }
  if (isThrottling(err)) {
    return new ProviderError('AWS_THROTTLED', `AWS Secrets Manager kept throttling ${ctx.op}${where}.`, {
      ...options,
      retryable: true,
      hint: "keyctl retried with backoff and gave up. Wait a minute and re-run; if it persists, check the account's Secrets Manager request quotas.",
    });
  }
  if (name === 'LimitExceededException') {
    return new ProviderError('AWS_LIMIT_EXCEEDED', `An AWS Secrets Manager quota was reached by ${ctx.op}${where}.`, {
      ...options,
      hint: 'Usually too many versions of one secret (more than 100 within 24 hours) or too many tags. Wait for AWS to prune old versions, or ask AWS to raise the quota.',
    });
  }
  if (name === 'InvalidRequestException' && /delet/i.test(message)) {
    // CreateSecret of a name whose deletion is still under way: a force delete completes asynchronously on AWS
    // (DeleteSecret API reference: "there might be a short delay before the secret is permanently deleted"), and a
    // delete with a recovery window keeps the name until the window ends.
    if (ctx.op === 'CreateSecret') {
      return new ProviderError('AWS_SECRET_DELETING', `The AWS secret${named} is still being deleted, so it cannot be created again yet.`, {
        ...options,
        retryable: true,
        hint: 'If keyctl deleted it moments ago, wait a minute and re-run. If it is in a recovery window, restore it with `aws secretsmanager restore-secret --secret-id <name>` (keyctl then uses it as it is), or wait for the window to end.',
      });
    }
    return new ProviderError('AWS_SECRET_DELETED', `The AWS secret${named} is scheduled for deletion.`, {
      ...options,
      hint: 'Restore it with `aws secretsmanager restore-secret --secret-id <name>`, or wait until AWS has deleted it, then re-run.',
    });
  }
  if (name === 'InternalServiceError' || (e.$metadata?.httpStatusCode ?? 0) >= 500) {
    return new ProviderError('AWS_UNAVAILABLE', `AWS Secrets Manager failed ${ctx.op}${where} (${name}).`, {
      ...options,
      retryable: true,
      hint: "A fault on AWS's side. Re-run in a moment; check the AWS Health Dashboard if it persists.",
    });
  }
  if (NETWORK_CODES.has(e.code ?? '') || name === 'TimeoutError' || name === 'RequestTimeout') {
    return new ProviderError('AWS_UNREACHABLE', `Cannot reach AWS Secrets Manager for ${ctx.op}${ctx.region ? ` in ${ctx.region}` : ''}.`, {
      ...options,
      retryable: true,
      hint: "Check the network, the store's region and (if set) its endpoint in keyctl.yaml.",
    });
  }
  const service = ctx.service === 'dynamodb' ? 'DynamoDB' : 'AWS Secrets Manager';
  return new ProviderError('AWS_ERROR', `${service} rejected ${ctx.op}${where} (${name}).`, {
    ...options,
    hint: `Re-run with the AWS CLI (\`aws ${ctx.service ?? 'secretsmanager'} ...\`) to see AWS's own message, or check CloudTrail for the failed call.`,
  });
}

function oneLine(text: string): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > 300 ? `${t.slice(0, 300)}...` : t || 'no reason given.';
}

export interface RetryOptions {
  /** Extra attempts after the first (on top of the SDK's own retries). */
  retries?: number;
  baseMs?: number;
  maxMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn`, retrying throttling errors with capped exponential backoff and full jitter. The SDK retries too; this
 * second layer rides out sustained throttling (a busy account during a mass rotation) that outlasts the SDK's budget.
 * Other errors are thrown at once, unchanged.
 */
export async function withThrottleRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const retries = options.retries ?? 4;
  const base = options.baseMs ?? 200;
  const max = options.maxMs ?? 5000;
  const sleep = options.sleep ?? realSleep;
  const random = options.random ?? Math.random;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isThrottling(err) || attempt >= retries) throw err;
      await sleep(Math.round(random() * Math.min(max, base * 2 ** attempt)));
    }
  }
}
