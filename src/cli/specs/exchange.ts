import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'verify',
    summary: 'inspect keys at their exchange and check them against the key policy',
    args: ['[refs...]'],
    exits: {
      0: 'every key passes',
      2: 'an unknown ref, or a named key has no CURRENT version in the store',
      3: "a key violates the key policy (see the hint: rotate it, or change the slot's declared scopes)",
      4: 'the store cannot be opened',
      5: 'an exchange could not be asked (after retries)',
    },
    options: [
      [
        '--due',
        'only slots whose verification is due by verify.every (what cron runs between daemon-less checks); a slot whose last check failed stays due',
      ],
    ],
    help: [
      'refs are bot/subaccount (a bot key) or @account (an account master key); without refs, every account master key',
      'and every configured slot that has a CURRENT key in the store is verified.',
      'Violation codes: WITHDRAW_ENABLED TRANSFER_ENABLED NOT_IP_LOCKED IP_MISMATCH EXCESS_SCOPE MISSING_SCOPE',
      'WRONG_ACCOUNT EXPIRING KEY_REJECTED UNKNOWN_PERMISSION (docs/exchanges.md).',
      'Network: KEYCTL_EXCHANGE_TIMEOUT_MS (default 10000), KEYCTL_EXCHANGE_ATTEMPTS (default 3).',
    ].join('\n'),
    load: () => import('../commands/verify.js'),
  },
];
