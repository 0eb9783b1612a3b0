import { InternalError } from '../../errors.js';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async () => {
  throw new InternalError('Not implemented yet.');
};
