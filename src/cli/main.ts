/**
 * keyctl's entry point: builds the command table (cheap), runs one command (loaded lazily), and maps every error,
 * the argument parser's included, to its message, hint and exit code in one place.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { EXIT_CODE_MEANINGS, ExitCode, toKeyctlError, UsageError, type KeyctlError } from '@keyctl/client/errors';
import { processRedactor } from '../audit/redact.js';
import { CliContext, type CliIo } from './context.js';
import { reportError } from './report.js';
import { specs } from './specs/index.js';
import { exitHelp, GLOBAL_OPTIONS, type CommandSpec } from './types.js';

/** The version users see, from the package itself so it never drifts from what npm installed. */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Where the parser failed, so its error can name the command whose help to read. */
interface ParseState {
  command: string;
  /** --json: stdout carries one JSON document and the parser prints no help or error text. */
  json?: boolean;
}

export function buildProgram(
  io: CliIo,
  onRun: (spec: CommandSpec, args: string[], opts: Record<string, unknown>) => Promise<void>,
  state: ParseState = { command: '' },
): Command {
  // The parser's own messages are turned into KeyctlErrors (see parserError), so it prints none itself.
  const configure = (cmd: Command, path: string) =>
    cmd.exitOverride().configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => void (state.json || io.stderr.write(s)),
      outputError: () => void (state.command = path),
    });
  const program = configure(new Command('keyctl'), '')
    .description("Keeps trading bots' exchange API keys safe: store, verify, rotate, deliver.")
    .version(packageVersion());
  for (const [flags, description] of GLOBAL_OPTIONS) program.option(flags, description);
  program.addHelpText(
    'after',
    `\nExit codes:${Object.entries(EXIT_CODE_MEANINGS)
      .map(([code, meaning]) => `\n  ${code}  ${meaning}`)
      .join('')}\nEach command's own exit codes: keyctl <command> --help.`,
  );

  for (const spec of specs) {
    const words = spec.name.split(' ');
    let parent = program;
    for (const [i, word] of words.slice(0, -1).entries()) {
      parent =
        parent.commands.find((c) => c.name() === word) ??
        configure(parent.command(word), words.slice(0, i + 1).join(' ')).description(`${word} commands`);
    }
    const cmd = configure(parent.command(words.at(-1)!), spec.name).description(spec.summary);
    for (const a of spec.args ?? []) cmd.argument(a);
    for (const [flags, description, def] of spec.options ?? []) {
      if (spec.repeatable?.includes(flags)) cmd.option(flags, description, (v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
      else if (def === undefined) cmd.option(flags, description);
      else cmd.option(flags, description, def);
    }
    for (const [flags, description] of GLOBAL_OPTIONS) cmd.option(flags, description);
    const help = [spec.help, exitHelp(spec)].filter(Boolean).join('\n');
    if (help) cmd.addHelpText('after', `\n${help}`);
    if (spec.passThrough) cmd.passThroughOptions().allowExcessArguments(true);
    cmd.action(async (...received: unknown[]) => {
      const command = received.at(-1) as Command;
      const args = command.processedArgs.flat().filter((a): a is string => typeof a === 'string');
      await onRun(spec, args, command.optsWithGlobals());
    });
  }
  return program;
}

/** `--json` counts only among keyctl's own arguments: after `--` it belongs to the bot (`exec -- node bot --json`). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/** The parser's refusal as a keyctl usage error: same shape, same exit code (2), a hint saying what to run. */
function parserError(err: CommanderError, command: string): KeyctlError {
  // Commander's message reads "error: unknown command 'x'\n(Did you mean y?)".
  const [first = '', ...rest] = err.message.split('\n');
  const message = `${first.replace(/^error:\s*/, '')}.`.replace(/\.\.$/, '.');
  const suggestion = /\(Did you mean (.+)\?\)/.exec(rest.join(' '))?.[1];
  const helpFor = command ? `keyctl ${command} --help` : 'keyctl --help';
  const codes: Record<string, string> = {
    'commander.unknownCommand': 'UNKNOWN_COMMAND',
    'commander.unknownOption': 'UNKNOWN_OPTION',
    'commander.missingArgument': 'MISSING_ARGUMENT',
    'commander.optionMissingArgument': 'MISSING_OPTION_VALUE',
    'commander.missingMandatoryOptionValue': 'MISSING_OPTION_VALUE',
    'commander.excessArguments': 'TOO_MANY_ARGUMENTS',
    'commander.conflictingOption': 'CONFLICTING_OPTIONS',
    'commander.invalidArgument': 'INVALID_ARGUMENT',
  };
  const code = codes[err.code] ?? 'USAGE';
  const what = err.code === 'commander.unknownCommand' ? 'every command' : 'its arguments and options';
  return new UsageError(code, message, {
    hint: `${suggestion ? `Did you mean ${suggestion}? ` : ''}Run ${helpFor} for ${what}.`,
  });
}

/** Runs keyctl with `argv` (without node and script) and returns the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  let exitCode: number = ExitCode.OK;
  let ctx: CliContext | undefined;
  const json = wantsJson(argv);
  const parse: ParseState = { command: '', json };
  const program = buildProgram(
    io,
    async (spec, args, opts) => {
      ctx = new CliContext(io, spec.name, { json: Boolean(opts.json), config: opts.config as string | undefined });
      const mod = await spec.load();
      const code = await mod.run(ctx, args, opts);
      exitCode = code ?? ExitCode.OK;
    },
    parse,
  );
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    let e: KeyctlError;
    if (err instanceof CommanderError) {
      // --help and --version exit through here with code 0.
      if (err.exitCode === 0) return ExitCode.OK;
      // No command (or a command group without its sub-command): the help went to stderr already.
      if (err.code === 'commander.help') {
        if (!json) return ExitCode.USAGE;
        e = new UsageError('COMMAND_REQUIRED', 'No command given.', { hint: 'Run keyctl --help for every command.' });
      } else e = parserError(err, parse.command);
    } else e = toKeyctlError(err);
    return reportError(e, io, json || Boolean(ctx?.json), ctx?.redactor ?? processRedactor);
  } finally {
    await ctx?.close().catch(() => undefined);
  }
  return exitCode;
}
