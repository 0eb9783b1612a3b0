import type { CommandSpec } from '../types.js';
import { bashScript } from './bash.js';
import { fishScript } from './fish.js';
import { buildModel, type Shell } from './model.js';
import { zshScript } from './zsh.js';

export { REF_KINDS, SHELLS, isShell, type RefKind, type Shell } from './model.js';

/** The completion script for `shell`, covering every command, sub-command, option and argument in `specs`. */
export function completionScript(shell: Shell, specs: readonly CommandSpec[]): string {
  const nodes = buildModel(specs);
  return { bash: bashScript, zsh: zshScript, fish: fishScript }[shell](nodes);
}
