/**
 * `keyctl aws policy <bot> | --operator | --resource`: prints one IAM policy for the AWS provider, and nothing more.
 * - `<bot>`: the identity policy a bot needs (read its own slots' AWSCURRENT).
 * - `--operator`: the identity policy keyctl itself needs (operators, the daemon): its secrets, its DynamoDB table.
 * - `--resource`: the resource policy to attach to each keyctl secret, denying every principal outside the account.
 * Reads the config only (no AWS call, no SDK): each policy is derived from the store's region, prefix, table and KMS key.
 */
import { UsageError } from '@keyctl/client/errors';
import { botSlots } from '../../domain/resolve.js';
import { buildBotPolicy, buildOperatorPolicy, buildResourcePolicy, type GeneratedPolicy } from '../../../providers/aws/policy.js';
import type { CommandRun } from '../types.js';

const ACCOUNT_ID = /^\d{12}$/;
/** An IAM role or user ARN, the principal keyctl runs as (an assumed role's `aws:PrincipalArn` is the role's ARN). */
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/.+$/;

const TARGET_HINT =
  'keyctl aws policy alpha   or   keyctl aws policy --operator   or   keyctl aws policy --resource --account-id 123456789012';

export const run: CommandRun = async (ctx, args, opts) => {
  const bot = args[0];
  const operator = opts.operator === true;
  const resource = opts.resource === true;
  const targets = [bot !== undefined, operator, resource].filter(Boolean).length;
  if (targets === 0) throw new UsageError('POLICY_TARGET', 'Name a bot, or pass --operator or --resource.', { hint: TARGET_HINT });
  if (targets > 1)
    throw new UsageError('POLICY_TARGET', 'Pass one of a bot, --operator or --resource, not several.', { hint: TARGET_HINT });
  const operatorArn = opts.operatorArn === undefined ? undefined : String(opts.operatorArn);
  if (operatorArn !== undefined && !resource) {
    throw new UsageError('POLICY_TARGET', '--operator-arn applies only to --resource.', {
      hint: 'keyctl aws policy --resource --account-id 123456789012 --operator-arn arn:aws:iam::123456789012:role/keyctl',
    });
  }

  const config = ctx.config();
  const store = config.store;
  if (store.provider !== 'aws') {
    throw new UsageError('STORE_NOT_AWS', `The store in ${config.file} is "${store.provider}", not "aws".`, {
      hint: 'This policy is for the AWS Secrets Manager provider: set store.provider: aws (with its region) in keyctl.yaml.',
    });
  }
  if (bot !== undefined) botSlots(config, bot);
  const accountId = opts.accountId === undefined ? undefined : String(opts.accountId);
  if (accountId !== undefined && !ACCOUNT_ID.test(accountId)) {
    throw new UsageError('INVALID_ACCOUNT_ID', `"${accountId}" is not an AWS account id.`, {
      hint: 'An account id is 12 digits, e.g. 123456789012.',
    });
  }
  const account = accountId !== undefined ? { accountId } : {};
  const kms = store.kmsKeyId !== undefined ? { kmsKeyId: store.kmsKeyId } : {};

  let generated: GeneratedPolicy;
  let data: Record<string, unknown>;
  if (bot !== undefined) {
    generated = buildBotPolicy({ bot, region: store.region, prefix: store.prefix, ...account, ...kms });
    const slots = config.slots.filter((s) => s.bot === bot).map((s) => s.ref);
    data = { kind: 'bot', bot, slots, policy: generated.policy, notes: generated.notes };
  } else if (operator) {
    generated = buildOperatorPolicy({ region: store.region, prefix: store.prefix, table: store.table, ...account, ...kms });
    data = { kind: 'operator', policy: generated.policy, notes: generated.notes };
  } else {
    if (accountId === undefined) {
      throw new UsageError('ACCOUNT_ID_REQUIRED', 'The resource policy needs the account id of the store.', {
        hint: 'It denies every principal outside that account: keyctl aws policy --resource --account-id 123456789012',
      });
    }
    if (operatorArn !== undefined && !PRINCIPAL_ARN.test(operatorArn)) {
      throw new UsageError('INVALID_OPERATOR_ARN', `"${operatorArn}" is not an IAM role or user ARN.`, {
        hint: 'Pass the ARN of the role keyctl runs as (store.assumeRole.roleArn, if set), e.g. arn:aws:iam::123456789012:role/keyctl.',
      });
    }
    generated = buildResourcePolicy({
      region: store.region,
      prefix: store.prefix,
      accountId,
      ...(operatorArn !== undefined ? { operatorPrincipalArn: operatorArn } : {}),
    });
    data = { kind: 'resource', policy: generated.policy, notes: generated.notes };
  }
  for (const note of generated.notes) ctx.out.info(`note: ${note}`);
  ctx.out.result(data, JSON.stringify(generated.policy, null, 2));
};
