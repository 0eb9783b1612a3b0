/**
 * IAM policies for the AWS provider, pure (no SDK): `keyctl aws policy` prints what these return.
 * - buildBotPolicy: one bot reads its own slots' AWSCURRENT, nothing else (`aws policy <bot>`).
 * - buildOperatorPolicy: keyctl itself, operators and the daemon (`aws policy --operator`).
 * - buildResourcePolicy: attached to each keyctl secret, denies every principal outside the account
 *   (`aws policy --resource`).
 */

import { partition, type ItemKind } from './table.js';

export interface BotPolicyInput {
  bot: string;
  region: string;
  /** The store's secret name prefix, e.g. `keyctl/`. */
  prefix: string;
  /** 12-digit AWS account id; any account (`*`) when omitted. */
  accountId?: string;
  /** The store's customer-managed KMS key, when one is configured. */
  kmsKeyId?: string;
}

export interface IamStatement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  /** Resource policies only; identity policies have none. */
  Principal?: '*' | { AWS: string | string[] };
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface IamPolicy {
  Version: '2012-10-17';
  Statement: IamStatement[];
}

/** A generated policy and what it cannot say itself. */
export interface GeneratedPolicy {
  policy: IamPolicy;
  /** Things the operator must still do by hand (never secret). */
  notes: string[];
}

export type BotPolicy = GeneratedPolicy;

/** ARN pattern of every slot secret of `bot`. AWS appends `-XXXXXX` to secret ARNs, which the `*` covers. */
export function botSecretArnPattern(input: Pick<BotPolicyInput, 'bot' | 'region' | 'prefix' | 'accountId'>): string {
  return `arn:aws:secretsmanager:${input.region}:${input.accountId ?? '*'}:secret:${input.prefix}bots/${input.bot}/*`;
}

/**
 * Builds the bot's read policy. GetSecretValue is allowed only with `VersionStage = AWSCURRENT`: a request naming
 * AWSPENDING or AWSPREVIOUS, or only a VersionId, carries no matching condition key and is denied, so a bot can never
 * read a key before it is verified or after it was replaced. Bots must therefore pass `VersionStage: 'AWSCURRENT'`
 * explicitly, which keyctl's client does anyway.
 */
export function buildBotPolicy(input: BotPolicyInput): BotPolicy {
  const secrets = botSecretArnPattern(input);
  const statements: IamStatement[] = [
    {
      Sid: 'ReadOwnCurrentKeys',
      Effect: 'Allow',
      Action: 'secretsmanager:GetSecretValue',
      Resource: secrets,
      Condition: { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } },
    },
  ];
  const notes: string[] = [];
  if (!input.accountId) notes.push('The ARNs match any account ("*"); pass --account-id to pin them to yours.');
  if (input.kmsKeyId) {
    const key = kmsKeyArn(input.kmsKeyId, input.region, input.accountId);
    if (key === '*')
      notes.push(`kmsKeyId "${input.kmsKeyId}" is an alias; IAM needs the key ARN, so replace the KMS statement's "*" with it.`);
    statements.push({
      Sid: 'DecryptOwnKeysViaSecretsManager',
      Effect: 'Allow',
      Action: 'kms:Decrypt',
      Resource: key,
      Condition: {
        StringEquals: { 'kms:ViaService': `secretsmanager.${input.region}.amazonaws.com` },
        StringLike: { 'kms:EncryptionContext:SecretARN': secrets },
      },
    });
  }
  return { policy: { Version: '2012-10-17', Statement: statements }, notes };
}

/** The least-privilege identity policy for keyctl itself: operators running the CLI, and the daemon. */
export interface OperatorPolicyInput {
  region: string;
  /** The store's secret name prefix, e.g. `keyctl/`. */
  prefix: string;
  /** The store's DynamoDB table (`store.table`). */
  table: string;
  /** 12-digit AWS account id; any account (`*`) when omitted. */
  accountId?: string;
  /** The store's customer-managed KMS key, when one is configured. */
  kmsKeyId?: string;
}

/** What keyctl calls on its own secrets (providers/aws/api.ts), each scoped to `<prefix>*`. */
export const OPERATOR_SECRET_ACTIONS = [
  'secretsmanager:CreateSecret',
  'secretsmanager:PutSecretValue',
  'secretsmanager:GetSecretValue',
  'secretsmanager:DescribeSecret',
  'secretsmanager:ListSecretVersionIds',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:DeleteSecret',
  'secretsmanager:TagResource',
  'secretsmanager:UntagResource',
] as const;

/**
 * What keyctl does to items of its table (providers/aws/table.ts). There is no IAM action for TransactWriteItems:
 * each action inside a transaction is authorized as its single-item counterpart (Put as PutItem, Update as
 * UpdateItem, Delete as DeleteItem) and a ConditionCheck as `dynamodb:ConditionCheckItem`
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
 */
export const OPERATOR_ITEM_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:Query',
  'dynamodb:ConditionCheckItem',
] as const;

/** Table-level actions: `keyctl init` creates the table, `health` describes it. They carry no item key. */
export const OPERATOR_TABLE_ACTIONS = ['dynamodb:DescribeTable', 'dynamodb:CreateTable'] as const;

/** The item kinds of the table; each is one partition per store prefix. */
const ITEM_KINDS = ['lease', 'record', 'index'] as const satisfies readonly ItemKind[];

/** ARN pattern of every secret of the store. AWS appends `-XXXXXX` to secret ARNs, which the `*` covers. */
export function storeSecretArnPattern(input: Pick<OperatorPolicyInput, 'region' | 'prefix' | 'accountId'>): string {
  return `arn:aws:secretsmanager:${input.region}:${input.accountId ?? '*'}:secret:${input.prefix}*`;
}

/** ARN of the store's DynamoDB table. */
export function tableArn(input: Pick<OperatorPolicyInput, 'region' | 'table' | 'accountId'>): string {
  return `arn:aws:dynamodb:${input.region}:${input.accountId ?? '*'}:table/${input.table}`;
}

/** The partition keys (`pk`) of the store's items: `<kind>|<prefix>`, built by table.ts itself. */
export function storePartitions(prefix: string): string[] {
  return ITEM_KINDS.map((kind) => partition(kind, prefix));
}

/**
 * Builds keyctl's own policy: the Secrets Manager calls on the store's secrets, `ListSecrets` (which AWS does not
 * scope by resource), the item and table calls on the store's DynamoDB table, and KMS through Secrets Manager when a
 * customer-managed key is configured.
 *
 * The item statement is limited to the store's own partitions with `ForAllValues:StringEquals` on
 * `dynamodb:LeadingKeys`, the partition key values a request touches. AWS documents exactly this form for GetItem,
 * PutItem, UpdateItem, DeleteItem and Query
 * (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_dynamodb_items.html, and
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html), and the Service
 * Authorization Reference lists `dynamodb:LeadingKeys` for ConditionCheckItem as well
 * (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html). Several stores may
 * share one table; this way each store's principal reaches only its own items. DescribeTable and CreateTable carry no
 * item key, and `ForAllValues` is true when the key is absent, so they get a statement of their own, without the
 * condition, rather than slipping through this one.
 */
export function buildOperatorPolicy(input: OperatorPolicyInput): GeneratedPolicy {
  const secrets = storeSecretArnPattern(input);
  const table = tableArn(input);
  const statements: IamStatement[] = [
    { Sid: 'ManageStoreSecrets', Effect: 'Allow', Action: [...OPERATOR_SECRET_ACTIONS], Resource: secrets },
    { Sid: 'ListSecrets', Effect: 'Allow', Action: 'secretsmanager:ListSecrets', Resource: '*' },
    {
      Sid: 'StoreItems',
      Effect: 'Allow',
      Action: [...OPERATOR_ITEM_ACTIONS],
      Resource: table,
      Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': storePartitions(input.prefix) } },
    },
    { Sid: 'StoreTable', Effect: 'Allow', Action: [...OPERATOR_TABLE_ACTIONS], Resource: table },
  ];
  const notes: string[] = [];
  if (!input.accountId) notes.push('The ARNs match any account ("*"); pass --account-id to pin them to yours.');
  if (!input.prefix.endsWith('/'))
    notes.push(
      `The prefix "${input.prefix}" does not end with "/", so "${input.prefix}*" also matches other secrets whose names start with it.`,
    );
  notes.push(
    'ListSecrets cannot be limited to the prefix: AWS authorizes it on "*" only, so it lists (names and tags, not values) every secret.',
  );
  if (input.kmsKeyId) {
    const key = kmsKeyArn(input.kmsKeyId, input.region, input.accountId);
    if (key === '*')
      notes.push(`kmsKeyId "${input.kmsKeyId}" is an alias; IAM needs the key ARN, so replace the KMS statement's "*" with it.`);
    statements.push({
      Sid: 'UseStoreKeyViaSecretsManager',
      Effect: 'Allow',
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: key,
      Condition: {
        StringEquals: { 'kms:ViaService': `secretsmanager.${input.region}.amazonaws.com` },
        // Secrets Manager passes the secret's ARN as encryption context on both calls
        // (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html).
        StringLike: { 'kms:EncryptionContext:SecretARN': secrets },
      },
    });
  }
  return { policy: { Version: '2012-10-17', Statement: statements }, notes };
}

/** A resource policy for every keyctl secret. */
export interface ResourcePolicyInput {
  region: string;
  /** The store's secret name prefix, e.g. `keyctl/`. */
  prefix: string;
  /** 12-digit AWS account id of the store. Required in practice: the command refuses to build the policy without it. */
  accountId: string;
  /**
   * keyctl's own principal (the role the daemon and operators use, e.g. `store.assumeRole.roleArn`). When set, every
   * other principal of the account is denied the calls that change a secret.
   */
  operatorPrincipalArn?: string;
}

/** Calls that change a keyctl secret: only keyctl's principal may make them when `operatorPrincipalArn` is set. */
export const RESOURCE_POLICY_WRITE_ACTIONS = [
  'secretsmanager:PutSecretValue',
  'secretsmanager:UpdateSecret',
  'secretsmanager:UpdateSecretVersionStage',
  'secretsmanager:DeleteSecret',
  'secretsmanager:RotateSecret',
  'secretsmanager:CancelRotateSecret',
  'secretsmanager:TagResource',
  'secretsmanager:UntagResource',
] as const;

/**
 * Builds the resource policy to attach to each keyctl secret (`PutResourcePolicy`, with `BlockPublicPolicy`).
 *
 * It only denies, so it grants nothing and is accepted with `BlockPublicPolicy`, which refuses only policies that
 * allow broad access, e.g. a wildcard principal in an Allow
 * (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutResourcePolicy.html,
 * https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_secret-policy.html). In a secret's resource
 * policy, `Resource: "*"` means that secret.
 * - Every principal outside the account is denied everything (`aws:PrincipalAccount`). Another account reaches a
 *   secret only through an Allow in its resource policy, and this Deny wins over any Allow added later. A role
 *   assumed in the store's account (`store.assumeRole`) is a principal of that account. AWS service principals carry
 *   no account, so they are denied too: keyctl uses no rotation Lambda and no replication.
 * - With `operatorPrincipalArn`, every other principal is denied the calls that change the secret (an administrator
 *   with `secretsmanager:*` included). `PutResourcePolicy` and `DeleteResourcePolicy` are deliberately not denied, so
 *   an administrator can still change or remove this policy: a resource policy that denies its own removal locks
 *   everyone out.
 */
export function buildResourcePolicy(input: ResourcePolicyInput): GeneratedPolicy {
  const statements: IamStatement[] = [
    {
      Sid: 'DenyOutsideAccount',
      Effect: 'Deny',
      Principal: '*',
      Action: 'secretsmanager:*',
      Resource: '*',
      Condition: { StringNotEquals: { 'aws:PrincipalAccount': input.accountId } },
    },
  ];
  const notes: string[] = [];
  if (input.operatorPrincipalArn) {
    statements.push({
      Sid: 'OnlyKeyctlChangesKeys',
      Effect: 'Deny',
      Principal: '*',
      Action: [...RESOURCE_POLICY_WRITE_ACTIONS],
      Resource: '*',
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': input.operatorPrincipalArn } },
    });
  } else {
    notes.push("Pass --operator-arn <keyctl's role ARN> to also deny every other principal the calls that change a key.");
  }
  const file = 'keyctl-resource-policy.json';
  notes.push(
    `Save the policy as ${file} and attach it to every keyctl secret (the name filter is a prefix match): ` +
      `for id in $(aws secretsmanager list-secrets --region ${input.region} --filters Key=name,Values=${input.prefix} ` +
      `--query 'SecretList[].ARN' --output text); do aws secretsmanager put-resource-policy --region ${input.region} ` +
      `--secret-id "$id" --resource-policy file://${file} --block-public-policy; done`,
  );
  notes.push('Secrets keyctl creates later (new slots, leases, wraps) do not get it: run the same loop again after adding slots.');
  return { policy: { Version: '2012-10-17', Statement: statements }, notes };
}

function kmsKeyArn(kmsKeyId: string, region: string, accountId: string | undefined): string {
  if (kmsKeyId.startsWith('arn:')) return kmsKeyId.includes(':alias/') ? '*' : kmsKeyId;
  if (kmsKeyId.startsWith('alias/')) return '*';
  return `arn:aws:kms:${region}:${accountId ?? '*'}:key/${kmsKeyId}`;
}
