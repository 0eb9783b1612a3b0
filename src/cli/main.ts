/**
 * keyctl's entry point: builds the command table (cheap), runs one command (loaded lazily), and maps every error to
 * its message, hint and exit code in one place.
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, toKeyctlError } from '../errors.js';
import { processRedactor } from '../audit/redact.js';
import { CliContext, type CliIo } from './context.js';
import { specs } from './specs/index.js';
import type { CommandSpec } from './types.js';

const VERSION = '0.1.0';

export function buildProgram(io: CliIo, onRun: (spec: CommandSpec, args: string[], opts: Record<string, unknown>) => Promise<void>): Command {
  const program = new Command('keyctl')
    .description('Keeps trading bots\' exchange API keys safe: store, verify, rotate, deliver.')
    .version(VERSION)
    .option('--config <file>', 'config file (default: $KEYCTL_CONFIG or ./keyctl.yaml)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();

  for (const spec of specs) {
    const words = spec.name.split(' ');
    let parent = program;
    for (const word of words.slice(0, -1)) {
      parent =
        parent.commands.find((c) => c.name() === word) ??
        parent.command(word).description(`${word} commands`).exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
    }
    const cmd = parent.command(words.at(-1)!).description(spec.summary).exitOverride();
    cmd.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });
    for (const a of spec.args ?? []) cmd.argument(a);
    for (const [flags, description, def] of spec.options ?? []) {
      if (def === undefined) cmd.option(flags, description);
      else cmd.option(flags, description, def);
    }
    cmd.option('--json', 'machine-readable output').option('--config <file>', 'config file');
    if (spec.help) cmd.addHelpText('after', `\n${spec.help}`);
    if (spec.passThrough) cmd.passThroughOptions().allowExcessArguments(true);
    cmd.action(async (...received: unknown[]) => {
      const command = received.at(-1) as Command;
      const args = command.processedArgs.flat().filter((a): a is string => typeof a === 'string');
      await onRun(spec, args, command.optsWithGlobals());
    });
  }
  return program;
}

/** Runs keyctl with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCode.OK;
  let ctx: CliContext | undefined;
  const json = argv.includes('--json');
  const program = buildProgram(io, async (spec, args, opts) => {
    ctx = new CliContext(io, spec.name, { json: Boolean(opts.json), config: opts.config as string | undefined });
    const mod = await spec.load();
    const code = await mod.run(ctx, args, opts);
    exitCode = code ?? ExitCode.OK;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit through here with code 0.
      return err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    const e = toKeyctlError(err);
    const redact = (text: string) => (ctx?.redactor ?? processRedactor).apply(text);
    if (json || ctx?.json) {
      io.stdout.write(redact(`${JSON.stringify({ error: e.toJSON() }, null, 2)}\n`));
    } else {
      io.stderr.write(redact(`keyctl: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`));
    }
    // Internal errors are bugs: with KEYCTL_DEBUG the stack helps a report (still redacted).
    if (io.env.KEYCTL_DEBUG && e.exitCode === ExitCode.INTERNAL) {
      const cause = e.cause instanceof Error ? e.cause : e;
      io.stderr.write(redact(`${cause.stack ?? String(cause)}\n`));
    }
    return e.exitCode;
  } finally {
    await ctx?.close().catch(() => undefined);
  }
  return exitCode;
}

