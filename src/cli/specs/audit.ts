import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'audit verify',
    summary: "check the audit log's hash chain; names every edited, removed or reordered entry",
    exits: {
      0: 'the chain verifies (or the log is empty)',
      3: 'an entry was edited, removed or reordered, or a lost head anchor is not yet acknowledged (audit ack)',
      4: 'the store holding the audit key cannot be opened',
    },
    load: () => import('../commands/audit-verify.js'),
  },
  {
    name: 'audit ack',
    summary: 'acknowledge, after investigating, the lost head anchors the audit log records (itself audited)',
    options: [['--reason <text>', 'what you checked and found (required, one line)']],
    exits: {
      0: 'acknowledged, or nothing to acknowledge',
      2: '--reason is missing, empty or longer than 500 characters',
      4: 'the store holding the audit key cannot be opened, or the audit log cannot be written safely',
    },
    load: () => import('../commands/audit-ack.js'),
  },
  {
    name: 'audit tail',
    summary: 'print the last audit entries',
    options: [['-n, --lines <n>', 'how many entries', '20']],
    exits: { 0: 'printed', 2: '--lines is not a whole number from 1 to 100000, or the config is invalid' },
    load: () => import('../commands/audit-tail.js'),
  },
];
