/**
 * The least-privilege IAM policy for one bot on the AWS provider: read its own slots' AWSCURRENT, nothing else.
 * Pure (no SDK): `keyctl aws policy <bot>` prints what this returns.
 */

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
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface IamPolicy {
  Version: '2012-10-17';
  Statement: IamStatement[];
}

export interface BotPolicy {
  policy: IamPolicy;
  /** Things the operator must still do by hand (never secret). */
  notes: string[];
}

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

function kmsKeyArn(kmsKeyId: string, region: string, accountId: string | undefined): string {
  if (kmsKeyId.startsWith('arn:')) return kmsKeyId.includes(':alias/') ? '*' : kmsKeyId;
  if (kmsKeyId.startsWith('alias/')) return '*';
  return `arn:aws:kms:${region}:${accountId ?? '*'}:key/${kmsKeyId}`;
}
