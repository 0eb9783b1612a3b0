import type { CommandSpec } from '../types.js';

export const specs: CommandSpec[] = [
  {
    name: 'schedule',
    summary: "list every slot's last and next rotation and verification, and what is due now",
    exits: { 0: 'printed', 4: 'the store cannot be opened' },
    help:
      'Next rotation = last rotation (creation of the CURRENT key) + rotate.every, moved into rotate.window.\n' +
      'Next verification = last `keyctl verify` of the slot (from the audit log) + verify.every.\n' +
      'Cron runs `keyctl rotate --due` to rotate what is due; see docs/schedules.md.',
    load: () => import('../commands/schedule.js'),
  },
];
