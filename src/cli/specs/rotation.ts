import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'rotate',
    summary: 'replace slots\' keys with fresh trade-only, IP-locked keys (crash-safe; re-running is always safe)',
    args: ['[refs...]'],
    options: [
      ['--due', 'only slots whose rotation is due and inside their window (what cron runs); always finishes pending work'],
      ['--force', 'revoke a previous key still in its grace period so a new rotation can start'],
      ['--grace <duration>', 'how long the old key stays valid: ISO-8601 (PT15M) or 90s, 15m, 24h, 30d; default the slot\'s rotate.grace'],
    ],
    help: 'No ref: every slot. Exit 6 means a rotation stopped part-way: nothing was lost, re-run the same command.',
    load: () => import('../commands/rotate.js'),
  },
  {
    name: 'revoke',
    summary: 'delete a slot\'s keys at the exchange now and mark them revoked',
    args: ['<ref>'],
    options: [['--reason <text>', 'why, for the audit trail', 'manual revoke']],
    load: () => import('../commands/revoke.js'),
  },
  {
    name: 'offboard',
    summary: 'a staff member left: rotate at once, with no grace, every slot they could see; list master keys to rotate by hand',
    args: ['<staff>'],
    options: [['--reason <text>', 'why, for the audit trail', 'staff offboarding']],
    load: () => import('../commands/offboard.js'),
  },
  {
    name: 'kill',
    summary: 'emergency stop: revoke every key of a bot (or of every bot) at its exchanges, in parallel',
    args: ['[bot]'],
    options: [
      ['--all', 'every bot'],
      ['--reason <text>', 'why, for the audit trail', 'kill switch'],
    ],
    load: () => import('../commands/kill.js'),
  },
];
