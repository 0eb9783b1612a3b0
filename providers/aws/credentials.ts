/**
 * Credentials for the AWS provider's SDK clients (Secrets Manager, DynamoDB).
 *
 * Without `store.assumeRole` keyctl passes no credentials, and each client uses the SDK's default chain (environment,
 * shared profile, SSO, instance or task role). With `store.assumeRole`, that same default chain signs an STS
 * AssumeRole for the role, and the clients use the role's temporary credentials, which the provider refreshes before
 * they expire (https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html). keyctl.yaml never holds a
 * credential either way.
 */
import type { fromTemporaryCredentials } from '@aws-sdk/credential-providers';
import type { AwsStoreConfig } from '../../src/config/schema.js';

/** What the SDK clients accept as `credentials`: a function resolving (and refreshing) temporary credentials. */
export type AwsCredentialIdentityProvider = ReturnType<typeof fromTemporaryCredentials>;

/**
 * The clients' `credentials`: undefined (the SDK's default chain) without `assumeRole`, otherwise a provider of the
 * role's temporary credentials. Makes no AWS call: the provider calls STS the first time a client needs credentials.
 * `@aws-sdk/credential-providers` is imported only here and only with `assumeRole`, so nobody else loads it.
 *
 * STS is never sent to `store.endpoint`. That endpoint is for an emulator of Secrets Manager and DynamoDB, and the
 * AssumeRole request is signed with the operator's real base credentials: a signed request handed to some other
 * server can be replayed to AWS STS for the few minutes the signature is valid, and whoever runs that server would get
 * the role's credentials. STS therefore goes to AWS's regional endpoint for the store's region (regional, not the
 * global one: the role's session then does not depend on us-east-1). A test against an emulator that also serves STS
 * (moto does) points it there explicitly with the SDK's own `AWS_ENDPOINT_URL_STS`, a choice made outside keyctl.yaml.
 */
export async function awsCredentials(config: AwsStoreConfig): Promise<AwsCredentialIdentityProvider | undefined> {
  const role = config.assumeRole;
  if (!role) return undefined;
  const { fromTemporaryCredentials } = await import('@aws-sdk/credential-providers');
  return fromTemporaryCredentials({
    params: {
      RoleArn: role.roleArn,
      RoleSessionName: role.sessionName,
      ...(role.externalId !== undefined ? { ExternalId: role.externalId } : {}),
    },
    clientConfig: { region: config.region },
  });
}
