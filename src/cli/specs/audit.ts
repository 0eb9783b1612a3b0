import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'audit verify',
    summary: "check the audit log's hash chain; names every edited, removed or reordered entry",
    exits: {
      0: 'the chain verifies (or the log is empty)',
      3: 'an entry was edited, removed or reordered',
      4: 'the store holding the audit key cannot be opened',
    },
    load: () => import('../commands/audit-verify.js'),
  },
  {
    name: 'audit tail',
    summary: 'print the last audit entries',
    options: [['-n, --lines <n>', 'how many entries', '20']],
    exits: { 0: 'printed', 2: '--lines is not a whole number from 1 to 100000, or the config is invalid' },
    load: () => import('../commands/audit-tail.js'),
  },
];
