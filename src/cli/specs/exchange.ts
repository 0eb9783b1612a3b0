import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'verify',
    summary: 'inspect keys at their exchange and check them against the key policy',
    args: ['[refs...]'],
    help: [
      'refs are bot/subaccount (a bot key) or @account (an account master key); without refs, every account master key',
      'and every configured slot that has a CURRENT key in the store is verified.',
      'Violation codes: WITHDRAW_ENABLED TRANSFER_ENABLED NOT_IP_LOCKED IP_MISMATCH EXCESS_SCOPE MISSING_SCOPE',
      'WRONG_ACCOUNT EXPIRING KEY_REJECTED UNKNOWN_PERMISSION (docs/exchanges.md).',
      'Exit: 0 all keys pass, 3 a key violates the policy, 5 an exchange could not be asked (after retries),',
      '4 a named key is missing from the store.',
      'Network: KEYCTL_EXCHANGE_TIMEOUT_MS (default 10000), KEYCTL_EXCHANGE_ATTEMPTS (default 3).',
    ].join('\n'),
    load: () => import('../commands/verify.js'),
  },
];
