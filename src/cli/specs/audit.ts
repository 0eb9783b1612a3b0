import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'audit verify',
    summary: 'check the audit log\'s hash chain; names every edited, removed or reordered entry',
    load: () => import('../commands/audit-verify.js'),
  },
  {
    name: 'audit tail',
    summary: 'print the last audit entries',
    options: [['-n, --lines <n>', 'how many entries', '20']],
    load: () => import('../commands/audit-tail.js'),
  },
];
