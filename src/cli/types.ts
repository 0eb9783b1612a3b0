import type { CliContext } from './context.js';
import type { ExitCode } from '@keyctl/client/errors';

/** What a command module exports. Returns the exit code (default 0). */
export type CommandRun = (ctx: CliContext, args: string[], opts: Record<string, unknown>) => Promise<number | void>;

/**
 * One command's entry in the command table: cheap to import (no dependencies), so the table costs nothing at start-up
 * and each command pays only for its own module, loaded when it runs.
 */
export interface CommandSpec {
  /** Space-separated for sub-commands: `key import`, `audit verify`. */
  name: string;
  summary: string;
  /** Commander argument syntax: `<ref>`, `[refs...]`. */
  args?: string[];
  /** [flags, description, default?] in commander syntax. */
  options?: Array<[string, string] | [string, string, string | boolean]>;
  /** Extra help text shown under the command's usage. */
  help?: string;
  /**
   * What each exit code means for this command, shown in its help. Every command can also exit 1 (a bug). A test
   * produces every exit listed here, so the list is a promise.
   */
  exits: Partial<Record<ExitCode, string>>;
  /** Options (by their flags, as in `options`) that may be given more than once: their values arrive as a list. */
  repeatable?: string[];
  /** Accepts arguments after `--` (passed through untouched, e.g. `exec`). */
  passThrough?: boolean;
  /** Commands that need no config file (e.g. `sandbox`). */
  noConfig?: boolean;
  load: () => Promise<{ run: CommandRun }>;
}

/** Options every command takes (main.ts adds them; the completion scripts offer them). */
export const GLOBAL_OPTIONS: ReadonlyArray<[string, string]> = [
  ['--json', 'machine-readable output'],
  ['--config <file>', 'config file (default: $KEYCTL_CONFIG or ./keyctl.yaml)'],
];

/** The "Exit codes" section of a command's help. */
export function exitHelp(spec: Pick<CommandSpec, 'exits'>): string {
  const lines = Object.entries(spec.exits).map(([code, meaning]) => `  ${code}  ${meaning}`);
  return lines.length ? `Exit codes:\n${lines.join('\n')}` : '';
}
