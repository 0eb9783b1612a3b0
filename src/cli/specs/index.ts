/**
 * The command table. Each spec file is tiny and imports nothing heavy; the command's module loads only when it runs.
 */
import type { CommandSpec } from '../types.js';
import { specs as core } from './core.js';
import { specs as exchange } from './exchange.js';
import { specs as rotation } from './rotation.js';
import { specs as schedule } from './schedule.js';
import { specs as audit } from './audit.js';
import { specs as sandbox } from './sandbox.js';
import { specs as delivery } from './delivery.js';
import { specs as aws } from './aws.js';
import { specs as vault } from './vault.js';
import { specs as completion } from './completion.js';
import { specs as golive } from './golive.js';

export const specs: CommandSpec[] = [
  ...core,
  ...exchange,
  ...delivery,
  ...rotation,
  ...schedule,
  ...audit,
  ...golive,
  ...sandbox,
  ...aws,
  ...vault,
  ...completion,
];
