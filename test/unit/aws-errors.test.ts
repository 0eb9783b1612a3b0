/** AWS SDK failures -> keyctl errors (exit 4, with hints, no secret values), and the throttling retry. */
import { describe, expect, it } from 'vitest';
import { createStore } from '../../providers/aws/index.js';
import type { SecretsManagerApi } from '../../providers/aws/api.js';
import { mapAwsError, withThrottleRetry } from '../../providers/aws/errors.js';
import type { DynamoApi } from '../../providers/aws/table.js';
import { AwsSecretsManagerStore, kmsKeysDiffer } from '../../providers/aws/store.js';
import { ExitCode, KeyctlError, ProviderError } from '@keyctl/client/errors';

const CANARY = 'FAKE-SECRET-canary-aws-0d1e';

/** Shaped like an SDK ServiceException: a name, a message, response metadata. */
function awsError(name: string, message = `${name} happened`, status = 400): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });
}

const ctx = { op: 'GetSecretValue', secretName: 'keyctl/bots/alpha/arb1', region: 'eu-west-1' };

describe('mapAwsError', () => {
  const cases: Array<[string, Error, string]> = [
    [
      'access denied',
      awsError(
        'AccessDeniedException',
        'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: secretsmanager:GetSecretValue',
      ),
      'AWS_ACCESS_DENIED',
    ],
    ['missing secret', awsError('ResourceNotFoundException'), 'NOT_FOUND'],
    ['KMS decrypt failure', awsError('DecryptionFailure'), 'AWS_KMS_ERROR'],
    ['KMS encrypt failure', awsError('EncryptionFailure'), 'AWS_KMS_ERROR'],
    ['KMS access denied', awsError('KMSAccessDeniedException'), 'AWS_KMS_ERROR'],
    ['KMS key disabled', awsError('KMSInvalidStateException'), 'AWS_KMS_ERROR'],
    ['access denied by a KMS key policy', awsError('AccessDeniedException', 'Access to KMS is not allowed'), 'AWS_KMS_ERROR'],
    ['expired credentials', awsError('ExpiredTokenException'), 'AWS_BAD_CREDENTIALS'],
    ['no credentials', awsError('CredentialsProviderError', 'Could not load credentials from any providers'), 'AWS_NO_CREDENTIALS'],
    ['throttling', awsError('ThrottlingException', 'Rate exceeded'), 'AWS_THROTTLED'],
    ['quota', awsError('LimitExceededException'), 'AWS_LIMIT_EXCEEDED'],
    [
      'secret scheduled for deletion',
      awsError('InvalidRequestException', "You tried to perform the operation on a secret that's currently marked deleted."),
      'AWS_SECRET_DELETED',
    ],
    ['AWS-side fault', awsError('InternalServiceError', 'oops', 500), 'AWS_UNAVAILABLE'],
    ['network', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'AWS_UNREACHABLE'],
    ['anything else', awsError('PreconditionNotMetException'), 'AWS_ERROR'],
  ];

  for (const [what, err, code] of cases) {
    it(`${what} -> ${code}, exit 4, with a hint`, () => {
      const mapped = mapAwsError(err, ctx);
      expect(mapped).toBeInstanceOf(ProviderError);
      expect(mapped.code).toBe(code);
      expect(mapped.exitCode).toBe(ExitCode.PROVIDER);
      expect(mapped.hint).toBeTruthy();
      expect(mapped.cause).toBe(err);
    });
  }

  it('names the operation and the secret, and retryable only where a retry can help', () => {
    const denied = mapAwsError(awsError('AccessDeniedException', 'not authorized'), ctx);
    expect(denied.message).toContain('GetSecretValue');
    expect(denied.message).toContain('keyctl/bots/alpha/arb1');
    expect(denied.hint).toContain('secretsmanager:GetSecretValue');
    expect(denied.retryable).toBe(false);
    expect(mapAwsError(awsError('ThrottlingException'), ctx).retryable).toBe(true);
    expect(mapAwsError(awsError('InternalServiceError', 'x', 500), ctx).retryable).toBe(true);
  });

  it("never copies an AWS message other than AccessDenied's, so a value echoed by a server cannot leak", () => {
    for (const name of [
      'InvalidParameterException',
      'ResourceExistsException',
      'DecryptionFailure',
      'ResourceNotFoundException',
      'ThrottlingException',
    ]) {
      const mapped = mapAwsError(awsError(name, `bad value ${CANARY}`), ctx);
      expect(JSON.stringify(mapped.toJSON()) + mapped.message + (mapped.hint ?? '')).not.toContain(CANARY);
    }
  });

  it('passes keyctl errors through unchanged', () => {
    const original = new ProviderError('X', 'y');
    expect(mapAwsError(original, ctx)).toBe(original);
  });
});

describe('withThrottleRetry', () => {
  it('retries throttling with growing, capped delays, then succeeds', async () => {
    const delays: number[] = [];
    let calls = 0;
    const result = await withThrottleRetry(
      async () => {
        calls += 1;
        if (calls < 4) throw awsError('ThrottlingException', 'Rate exceeded');
        return 'ok';
      },
      { retries: 4, baseMs: 100, maxMs: 250, sleep: async (ms) => void delays.push(ms), random: () => 1 },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(4);
    expect(delays).toEqual([100, 200, 250]);
  });

  it('treats HTTP 429 as throttling too', async () => {
    let calls = 0;
    await withThrottleRetry(
      async () => {
        calls += 1;
        if (calls === 1) throw awsError('SomethingNew', 'slow down', 429);
      },
      { sleep: async () => undefined },
    );
    expect(calls).toBe(2);
  });

  it('gives up after its budget and throws the last throttling error', async () => {
    let calls = 0;
    const err = await withThrottleRetry(
      async () => {
        calls += 1;
        throw awsError('ThrottlingException');
      },
      { retries: 2, sleep: async () => undefined },
    ).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect((err as Error).name).toBe('ThrottlingException');
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    await expect(
      withThrottleRetry(
        async () => {
          calls += 1;
          throw awsError('AccessDeniedException');
        },
        { sleep: async () => undefined },
      ),
    ).rejects.toThrow();
    expect(calls).toBe(1);
  });
});

/** A fake API whose every call runs `impl(op)`. */
function fakeApi(impl: (op: string) => Promise<unknown>): SecretsManagerApi {
  return new Proxy({} as SecretsManagerApi, {
    get: (_t, prop) => (prop === 'destroy' ? () => undefined : () => impl(String(prop))),
  });
}

/** A DynamoDB table that answers every call with an empty result (no index entries). */
const emptyTable = new Proxy({} as DynamoApi, {
  get: (_t, prop) => (prop === 'destroy' ? () => undefined : async () => ({})),
});

describe('the store maps what escapes it', () => {
  it('AccessDenied on a read is AWS_ACCESS_DENIED naming the AWS operation that was refused', async () => {
    const store = new AwsSecretsManagerStore(
      fakeApi(async (op) => {
        throw awsError('AccessDeniedException', `not authorized to perform: secretsmanager:${op}`);
      }),
      { region: 'eu-west-1', prefix: 'keyctl/' },
      emptyTable,
    );
    const err = (await store.describe('bots/alpha/arb1').catch((e: unknown) => e)) as KeyctlError;
    expect(err.code).toBe('AWS_ACCESS_DENIED');
    expect(err.exitCode).toBe(ExitCode.PROVIDER);
    expect(err.message).toContain('DescribeSecret');
    expect(err.hint).toContain('secretsmanager:DescribeSecret');
  });

  it('throttled calls are retried by the store, and a lasting throttle ends as AWS_THROTTLED', async () => {
    let calls = 0;
    const flaky = new AwsSecretsManagerStore(
      fakeApi(async () => {
        calls += 1;
        if (calls <= 2) throw awsError('ThrottlingException', 'Rate exceeded');
        throw awsError('ResourceNotFoundException');
      }),
      { region: 'eu-west-1', prefix: 'keyctl/', retry: { sleep: async () => undefined } },
      emptyTable,
    );
    expect(await flaky.describe('bots/alpha/arb1')).toBeNull();
    expect(calls).toBe(3);

    const stuck = new AwsSecretsManagerStore(
      fakeApi(async () => {
        throw awsError('ThrottlingException', 'Rate exceeded');
      }),
      { region: 'eu-west-1', prefix: 'keyctl/', retry: { retries: 2, sleep: async () => undefined } },
      emptyTable,
    );
    const err = (await stuck.read('bots/alpha/arb1', { stage: 'CURRENT' }).catch((e: unknown) => e)) as KeyctlError;
    expect(err.code).toBe('AWS_THROTTLED');
    expect(err.retryable).toBe(true);
  });

  it('an unreachable endpoint is AWS_UNREACHABLE (exit 4), not an internal error', async () => {
    const env = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'FAKEAKIA000', AWS_SECRET_ACCESS_KEY: 'FAKE-secret' });
    try {
      // Port 9 (discard) on loopback: nothing listens there, so the connection is refused at once.
      const store = await createStore({ provider: 'aws', region: 'us-east-1', endpoint: 'http://127.0.0.1:9', prefix: 'keyctl/' }, {});
      const err = await store.health().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyctlError);
      expect((err as KeyctlError).code).toBe('AWS_UNREACHABLE');
      expect((err as KeyctlError).exitCode).toBe(ExitCode.PROVIDER);
      await store.close();
    } finally {
      process.env = env;
    }
  });
});

describe('kmsKeysDiffer: which KMS key references certainly name different keys', () => {
  it('compares aliases with aliases and keys with keys, in any of the forms DescribeSecret reports', () => {
    expect(kmsKeysDiffer(undefined, undefined)).toBe(false);
    expect(kmsKeysDiffer(undefined, 'alias/aws/secretsmanager')).toBe(false);
    expect(kmsKeysDiffer('alias/keyctl', undefined)).toBe(true);
    expect(kmsKeysDiffer(undefined, 'arn:aws:kms:eu-west-1:123456789012:alias/keyctl')).toBe(true);
    expect(kmsKeysDiffer('alias/keyctl', 'arn:aws:kms:eu-west-1:123456789012:alias/keyctl')).toBe(false);
    expect(kmsKeysDiffer('alias/keyctl', 'arn:aws:kms:eu-west-1:123456789012:alias/other')).toBe(true);
    expect(
      kmsKeysDiffer('1234abcd-12ab-34cd-56ef-1234567890ab', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'),
    ).toBe(false);
    expect(
      kmsKeysDiffer('1234abcd-12ab-34cd-56ef-1234567890ab', 'arn:aws:kms:eu-west-1:123456789012:key/ffffffff-12ab-34cd-56ef-1234567890ab'),
    ).toBe(true);
    // An alias against a key id cannot be settled without asking KMS: not refused.
    expect(kmsKeysDiffer('alias/keyctl', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab')).toBe(false);
  });
});
