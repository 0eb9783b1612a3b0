/**
 * `keyctl aws policy <bot>`: prints the IAM policy a bot needs on the AWS provider, and nothing more. Reads the
 * config only (no AWS call, no SDK): the policy is derived from the store's region, prefix and KMS key.
 */
import { UsageError } from '../../errors.js';
import { botSlots } from '../../domain/resolve.js';
import { buildBotPolicy } from '../../../providers/aws/policy.js';
import type { CommandRun } from '../types.js';

const ACCOUNT_ID = /^\d{12}$/;

export const run: CommandRun = async (ctx, args, opts) => {
  const bot = args[0] ?? '';
  const config = ctx.config();
  const store = config.store;
  if (store.provider !== 'aws') {
    throw new UsageError('STORE_NOT_AWS', `The store in ${config.file} is "${store.provider}", not "aws".`, {
      hint: 'This policy is for the AWS Secrets Manager provider: set store.provider: aws (with its region) in keyctl.yaml.',
    });
  }
  botSlots(config, bot);
  const accountId = opts.accountId === undefined ? undefined : String(opts.accountId);
  if (accountId !== undefined && !ACCOUNT_ID.test(accountId)) {
    throw new UsageError('INVALID_ACCOUNT_ID', `"${accountId}" is not an AWS account id.`, {
      hint: 'An account id is 12 digits, e.g. 123456789012.',
    });
  }
  const { policy, notes } = buildBotPolicy({
    bot,
    region: store.region,
    prefix: store.prefix,
    ...(accountId !== undefined ? { accountId } : {}),
    ...(store.kmsKeyId !== undefined ? { kmsKeyId: store.kmsKeyId } : {}),
  });
  const slots = config.slots.filter((s) => s.bot === bot).map((s) => s.ref);
  for (const note of notes) ctx.out.info(`note: ${note}`);
  ctx.out.result({ bot, slots, policy, notes }, JSON.stringify(policy, null, 2));
};
