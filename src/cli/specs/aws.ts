import type { CommandSpec } from '../types.js';

/** Commands for the AWS Secrets Manager provider. */
export const specs: CommandSpec[] = [
  {
    name: 'aws policy',
    summary: "print a least-privilege IAM policy letting a bot read only its own slots' AWSCURRENT",
    args: ['<bot>'],
    exits: { 0: 'printed', 2: 'the store is not aws, the bot is unknown, or the account id is malformed' },
    options: [['--account-id <id>', 'AWS account id for the ARNs (default: any account, "*")']],
    help: 'Needs store.provider: aws in the config (its region, prefix and kmsKeyId shape the policy).\nExample: keyctl aws policy alpha --account-id 123456789012 > alpha-policy.json',
    load: () => import('../commands/aws-policy.js'),
  },
];
