/**
 * The narrow slice of AWS Secrets Manager that keyctl uses, as plain async methods. The store depends on this
 * interface only, so unit tests can hand it a fake object; the real implementation wraps the SDK client and is built
 * only by providers/aws/index.ts, which imports the SDK lazily.
 */
import type * as SM from '@aws-sdk/client-secrets-manager';

type Out<T> = Omit<T, '$metadata'>;

export interface SecretsManagerApi {
  createSecret(input: SM.CreateSecretCommandInput): Promise<Out<SM.CreateSecretCommandOutput>>;
  putSecretValue(input: SM.PutSecretValueCommandInput): Promise<Out<SM.PutSecretValueCommandOutput>>;
  getSecretValue(input: SM.GetSecretValueCommandInput): Promise<Out<SM.GetSecretValueCommandOutput>>;
  describeSecret(input: SM.DescribeSecretCommandInput): Promise<Out<SM.DescribeSecretCommandOutput>>;
  listSecretVersionIds(input: SM.ListSecretVersionIdsCommandInput): Promise<Out<SM.ListSecretVersionIdsCommandOutput>>;
  listSecrets(input: SM.ListSecretsCommandInput): Promise<Out<SM.ListSecretsCommandOutput>>;
  updateSecretVersionStage(input: SM.UpdateSecretVersionStageCommandInput): Promise<Out<SM.UpdateSecretVersionStageCommandOutput>>;
  deleteSecret(input: SM.DeleteSecretCommandInput): Promise<Out<SM.DeleteSecretCommandOutput>>;
  tagResource(input: SM.TagResourceCommandInput): Promise<unknown>;
  untagResource(input: SM.UntagResourceCommandInput): Promise<unknown>;
  /** Releases sockets. */
  destroy(): void;
}

/** Adapts an SDK client (and the lazily imported SDK module that holds the command classes). */
export function sdkApi(sdk: typeof SM, client: SM.SecretsManagerClient): SecretsManagerApi {
  return {
    createSecret: (input) => client.send(new sdk.CreateSecretCommand(input)),
    putSecretValue: (input) => client.send(new sdk.PutSecretValueCommand(input)),
    getSecretValue: (input) => client.send(new sdk.GetSecretValueCommand(input)),
    describeSecret: (input) => client.send(new sdk.DescribeSecretCommand(input)),
    listSecretVersionIds: (input) => client.send(new sdk.ListSecretVersionIdsCommand(input)),
    listSecrets: (input) => client.send(new sdk.ListSecretsCommand(input)),
    updateSecretVersionStage: (input) => client.send(new sdk.UpdateSecretVersionStageCommand(input)),
    deleteSecret: (input) => client.send(new sdk.DeleteSecretCommand(input)),
    tagResource: (input) => client.send(new sdk.TagResourceCommand(input)),
    untagResource: (input) => client.send(new sdk.UntagResourceCommand(input)),
    destroy: () => client.destroy(),
  };
}
