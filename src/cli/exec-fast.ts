/**
 * `keyctl exec`'s own start (src/cli/bin.ts): what exec costs is added to every bot's start-up, so a plain
 * `keyctl [--config f] [--json] exec [options] <ref> -- <command...>` is recognised here and run without the argument
 * parser (commander), the other commands, the table renderer or the config stack (src/cli/exec-config.ts caches what
 * exec needs of the config). Anything else, `--help`, a misspelt option or a command without `--` included, goes to
 * the full CLI (main.ts), which parses it as it always has: this path only takes what it reads exactly as commander
 * does (a unit test compares the two on a list of command lines), and then runs the same command (commands/exec.ts)
 * with the same errors and exit codes.
 */
import { resolveConfigPath } from '../config/path.js';
import { toKeyctlError } from '../errors.js';
import { BaseContext, type CliIo, type Notices } from './base-context.js';
import { run } from './commands/exec.js';
import { reportError } from './report.js';

/** A command line this path runs: exec's arguments and options as commander would hand them to the command. */
export interface ExecInvocation {
  /** `<ref>` then the bot's command and its arguments (everything after `--`). */
  args: string[];
  opts: Record<string, unknown>;
}

/** exec's options taking a value, by flag, and the option key commander gives each. */
const VALUE_OPTIONS: Record<string, string> = {
  '--fd': 'fd',
  '--env-prefix': 'envPrefix',
  '--reload-signal': 'reloadSignal',
  '--user': 'user',
  '--group': 'group',
  '--config': 'config',
  '--env': 'env',
  '--preset': 'preset',
};
/** Value options that may be repeated (specs/delivery.ts `repeatable`): their values are collected in a list. */
const REPEATABLE = new Set(['--env']);
/** exec's flags, by flag: the option key and the value it sets. */
const FLAGS: Record<string, [string, boolean]> = {
  '--no-mask': ['mask', false],
  '--preflight': ['preflight', true],
  '--restart-on-rotate': ['restartOnRotate', true],
  '--strict': ['strict', true],
  '--json': ['json', true],
};
/** Options every command takes (GLOBAL_OPTIONS in types.ts): the only ones allowed before `exec`. */
const GLOBAL = new Set(['--json', '--config']);
/** What commander sets when an option is absent (specs/delivery.ts). */
const DEFAULTS = { envPrefix: 'KEYCTL_', mask: true, reloadSignal: 'SIGTERM' };

/**
 * The invocation, when `argv` is a plain exec command line: global options, `exec`, exec's options and exactly one
 * ref before `--` (each option once, values in the next argument or after `=`, none starting with `-`), and a command
 * after it. Null for anything else (the full CLI then takes it).
 */
export function execInvocation(argv: readonly string[]): ExecInvocation | null {
  const end = argv.indexOf('--');
  if (end < 0 || end === argv.length - 1) return null;
  const opts: Record<string, unknown> = { ...DEFAULTS };
  const seen = new Set<string>();
  const positional: string[] = [];
  let exec = false;
  for (let i = 0; i < end; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-')) {
      if (!exec) {
        if (token !== 'exec') return null;
        exec = true;
      } else positional.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const flag = eq < 0 ? token : token.slice(0, eq);
    if ((seen.has(flag) && !REPEATABLE.has(flag)) || (!exec && !GLOBAL.has(flag))) return null;
    seen.add(flag);
    const key = VALUE_OPTIONS[flag];
    if (key !== undefined) {
      const value = eq < 0 ? argv[++i] : token.slice(eq + 1);
      if (value === undefined || i >= end || value === '' || value.startsWith('-')) return null;
      opts[key] = REPEATABLE.has(flag) ? [...((opts[key] as string[] | undefined) ?? []), value] : value;
      continue;
    }
    const set = FLAGS[flag];
    if (set === undefined || eq >= 0) return null;
    opts[set[0]] = set[1];
  }
  if (!exec || positional.length !== 1) return null;
  return { args: [positional[0]!, ...argv.slice(end + 1)], opts };
}

/** Progress on stderr (none with --json) and warnings on stderr, redacted, as the CLI's Output prints them. */
class LeanOutput implements Notices {
  constructor(
    private readonly ctx: BaseContext,
    private readonly json: boolean,
  ) {}

  info(text: string): void {
    if (!this.json) this.ctx.io.stderr.write(this.ctx.redactor.apply(`${text}\n`));
  }

  warn(text: string): void {
    this.ctx.io.stderr.write(this.ctx.redactor.apply(`warning: ${text}\n`));
  }
}

class ExecFastContext extends BaseContext {
  readonly out: LeanOutput;

  constructor(io: CliIo, json: boolean, config: string | undefined) {
    super(io, 'exec', resolveConfigPath(config, io.env, io.cwd));
    this.out = new LeanOutput(this, json);
  }
}

/** Runs exec as main.ts would for this invocation and returns the exit code. */
export async function runExecFast(invocation: ExecInvocation, io: CliIo): Promise<number> {
  const json = invocation.opts.json === true;
  const ctx = new ExecFastContext(io, json, invocation.opts.config as string | undefined);
  // What exec loads on its way to the bot, fetched now, alongside the config: the loader reads files in parallel.
  for (const load of [() => import('../audit/log.js'), () => import('../audit/key.js'), () => import('../../providers/registry.js')]) {
    load().catch(() => undefined);
  }
  try {
    return await run(ctx, invocation.args, invocation.opts);
  } catch (err) {
    return reportError(toKeyctlError(err), io, json, ctx.redactor);
  } finally {
    await ctx.close().catch(() => undefined);
  }
}
