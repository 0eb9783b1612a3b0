import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'vault policy',
    summary: 'print the Vault HCL policy that lets a bot read only its own slots',
    args: ['<bot>'],
    exits: { 0: 'printed', 2: 'the store is not vault, or the bot is unknown' },
    help: "Install it with: keyctl vault policy alpha | vault policy write keyctl-bot-alpha -\nOr let `keyctl vault approle alpha` write it together with the bot's AppRole.",
    load: () => import('../commands/vault-policy.js'),
  },
  {
    name: 'vault approle',
    summary: "set up a bot's AppRole (policy keyctl-bot-<bot>, role keyctl-<bot>, single-use short-lived secret ids); prints the role id",
    args: ['<bot>'],
    exits: {
      0: 'policy and role written',
      2: 'the store is not vault, the bot is unknown, or a duration is malformed',
      4: 'Vault refused or is unreachable',
    },
    options: [
      ['--approle-mount <path>', 'AppRole auth mount (default: store.auth.mount, else approle)'],
      ['--secret-id-ttl <duration>', 'lifetime of each secret id (Vault duration)', '10m'],
      ['--token-ttl <duration>', "lifetime of the bot's login token", '15m'],
      ['--token-max-ttl <duration>', "longest the bot's token can be renewed to", '1h'],
      ['--bind-ips', "bind secret ids and tokens to the IPs the bot's slots declare"],
    ],
    help: 'Secret ids are issued later, wrapped, one per start (secure introduction); the role id alone grants nothing.',
    load: () => import('../commands/vault-approle.js'),
  },
];
