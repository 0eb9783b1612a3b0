import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'sandbox',
    summary: 'run the local exchange sandbox (the key endpoints of every exchange it emulates) for tests and drills',
    exits: {
      0: 'stopped by SIGINT or SIGTERM, state saved',
      2: 'bad --port or --client-ip, the port is taken, or --state is not sandbox state',
    },
    options: [
      ['--port <n>', 'TCP port on 127.0.0.1 (0 picks a free one)', '8101'],
      ['--state <file>', 'load state from FILE if it exists and save it there (mode 0600) on every change and on exit'],
      ['--client-ip <ip>', 'the address every request is treated as coming from, for IP allowlists (default 127.0.0.1)'],
      ['--admin', 'turn on the /_admin endpoint (seed accounts and keys, tamper, inject faults)'],
    ],
    help:
      'Point an account at it with baseUrl: http://127.0.0.1:8101/<exchange>.\n' +
      'Runs until SIGINT or SIGTERM, then saves state and exits 0. Never expose it beyond localhost. See docs/sandbox.md.',
    noConfig: true,
    load: () => import('../commands/sandbox.js'),
  },
];
