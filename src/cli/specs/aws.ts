import type { CommandSpec } from '../types.js';

/** Commands for the AWS Secrets Manager provider. */
export const specs: CommandSpec[] = [
  {
    name: 'aws policy',
    summary:
      "print a least-privilege IAM policy: a bot's (only its own slots' AWSCURRENT), keyctl's own (--operator), or the secrets' resource policy (--resource)",
    args: ['[bot]'],
    exits: {
      0: 'printed',
      2: 'not exactly one of a bot, --operator and --resource; the store is not aws; the bot is unknown; or the account id or operator ARN is malformed or missing',
    },
    options: [
      ['--operator', 'print the policy keyctl itself needs (operators, the daemon): its secrets and its DynamoDB table'],
      ['--resource', 'print the resource policy to attach to each keyctl secret: denies every principal outside the account'],
      ['--account-id <id>', 'AWS account id for the ARNs (default: any account, "*"; required with --resource)'],
      ['--operator-arn <arn>', "with --resource: keyctl's role; every other principal is denied changing a key"],
    ],
    help: [
      'Needs store.provider: aws in the config (its region, prefix, table and kmsKeyId shape the policy).',
      'Examples:',
      '  keyctl aws policy alpha --account-id 123456789012 > alpha-policy.json',
      '  keyctl aws policy --operator --account-id 123456789012 > keyctl-policy.json',
      '  keyctl aws policy --resource --account-id 123456789012 > keyctl-resource-policy.json',
    ].join('\n'),
    load: () => import('../commands/aws-policy.js'),
  },
];
