/** providers/aws/credentials.ts: the SDK's default chain, or a role assumed through STS (`store.assumeRole`). */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { AwsStoreConfig } from '../../src/config/schema.js';

const fromTemporaryCredentials = vi.fn((..._args: unknown[]) => async () => ({ accessKeyId: 'FAKEAKIA', secretAccessKey: 'fake' }));
vi.mock('@aws-sdk/credential-providers', () => ({ fromTemporaryCredentials }));

const { awsCredentials } = await import('../../providers/aws/credentials.js');

const STORE: AwsStoreConfig = { provider: 'aws', region: 'eu-west-1', prefix: 'keyctl/', table: 'keyctl' };
const ROLE = 'arn:aws:iam::123456789012:role/keyctl';

afterEach(() => fromTemporaryCredentials.mockClear());

describe('awsCredentials', () => {
  it("without assumeRole: undefined (the SDK's default chain), and the credential providers are never loaded", async () => {
    expect(await awsCredentials(STORE)).toBeUndefined();
    expect(await awsCredentials({ ...STORE, endpoint: 'http://127.0.0.1:5000' })).toBeUndefined();
    expect(fromTemporaryCredentials).not.toHaveBeenCalled();
  });

  it('with assumeRole: a provider function for the role, its session name and external id, via STS in the store region', async () => {
    const provider = await awsCredentials({ ...STORE, assumeRole: { roleArn: ROLE, externalId: 'ext-123', sessionName: 'keyctl-daemon' } });
    expect(typeof provider).toBe('function');
    expect(fromTemporaryCredentials).toHaveBeenCalledTimes(1);
    expect(fromTemporaryCredentials).toHaveBeenCalledWith({
      params: { RoleArn: ROLE, RoleSessionName: 'keyctl-daemon', ExternalId: 'ext-123' },
      clientConfig: { region: 'eu-west-1' },
    });
  });

  it('sends no ExternalId when none is configured, and never points STS at the store endpoint', async () => {
    await awsCredentials({ ...STORE, endpoint: 'http://127.0.0.1:5000', assumeRole: { roleArn: ROLE, sessionName: 'keyctl' } });
    const options = fromTemporaryCredentials.mock.calls[0]![0] as {
      params: Record<string, unknown>;
      clientConfig: Record<string, unknown>;
    };
    expect(options.params).toEqual({ RoleArn: ROLE, RoleSessionName: 'keyctl' });
    expect(options.clientConfig).toEqual({ region: 'eu-west-1' });
    expect(JSON.stringify(options)).not.toContain('127.0.0.1');
  });

  it('from keyctl.yaml: sessionName defaults to "keyctl"', async () => {
    const { config } = parseConfig(
      `store: { provider: aws, region: us-east-2, assumeRole: { roleArn: "${ROLE}", externalId: ext-123 } }\n`,
      '/nonexistent/keyctl.yaml',
    );
    if (config.store.provider !== 'aws') throw new Error('expected the aws store');
    await awsCredentials(config.store);
    expect(fromTemporaryCredentials).toHaveBeenCalledWith({
      params: { RoleArn: ROLE, RoleSessionName: 'keyctl', ExternalId: 'ext-123' },
      clientConfig: { region: 'us-east-2' },
    });
  });

  it('the real provider is a function and makes no AWS call until a client asks it for credentials', async () => {
    const real = await vi.importActual<typeof import('@aws-sdk/credential-providers')>('@aws-sdk/credential-providers');
    const provider = real.fromTemporaryCredentials({
      params: { RoleArn: ROLE, RoleSessionName: 'keyctl' },
      clientConfig: { region: 'eu-west-1' },
    });
    expect(typeof provider).toBe('function');
  });
});
