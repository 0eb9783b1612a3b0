import type { CommandSpec } from '../types.js';

/** The go-live gate (docs/go-live.md): the checklist, attestations of what only a person can check, the review. */
export const specs: CommandSpec[] = [
  {
    name: 'checklist',
    summary: 'the go-live checklist: one row per item and bot (pass, fail or due), with evidence and the command that fixes it',
    args: ['[bot]'],
    exits: {
      0: 'every required item passes for the bot (or every bot)',
      2: 'config invalid (the checklist: section names an unknown item), or an unknown bot',
      3: 'a required item fails or is due, or no bot is declared: not ready for live capital (each row says how to fix it)',
      4: 'the store cannot be opened',
    },
    help: [
      "Checks what keyctl holds (store, audit log, config, this host's files); never calls an exchange, so the key checks",
      'read the last verification (run keyctl verify first). Items a person checks at the exchange or on the host pass once',
      'a staff member attests them (keyctl attest), for checklist.attestationsValidFor (default P30D). docs/go-live.md.',
    ].join('\n'),
    load: () => import('../commands/checklist.js'),
  },
  {
    name: 'attest',
    summary: 'record that a staff member checked an attested checklist item (for one bot, or every bot)',
    args: ['<item>', '[bot]'],
    options: [
      ['--by <staff>', 'who checked it (must be listed under staff; recorded with the user running the command)'],
      ['--note <text>', 'what was checked, one line (recorded in the audit log: never a secret)'],
    ],
    exits: {
      0: 'recorded in the audit log for each bot the item applies to',
      2: 'no --by, a name not listed under staff, an unknown or automated item, an unknown bot or one the item does not apply to, or a bad --note',
      4: 'the store or the audit log cannot be opened',
    },
    help: [
      'Items: exchange-2fa, withdrawal-whitelist, exchange-notifications, host-hardened, and those under checklist.items.',
      'Example: keyctl attest exchange-2fa alpha --by alice --note "YubiKey on main and sub-account logins"',
    ].join('\n'),
    load: () => import('../commands/attest.js'),
  },
  {
    name: 'review',
    summary: 'the weekly review from the audit log: what changed and what needs a person (Markdown; --json)',
    options: [['--since <duration>', 'the period: ISO-8601 (P7D) or 7d, 30d', '7d']],
    exits: {
      0: 'the review was printed (what needs a person is in it; it is not an exit code)',
      2: 'a bad --since, or the config is invalid',
      4: 'the store or the audit log cannot be opened',
    },
    help: 'Failed verifications, drift found and fixed, rotations, kills and drills, offboards, attestations made and coming due, keys nearing exchange expiry, undelivered alerts.',
    load: () => import('../commands/review.js'),
  },
];
