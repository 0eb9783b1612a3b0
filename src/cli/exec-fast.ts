/**
 * `keyctl exec`'s own start (src/cli/bin.ts): what exec costs is added to every bot's start-up, so a plain
 * `keyctl [--config f] [--json] exec [options] <ref> -- <command...>` (recognised by exec-argv.ts) is run here without
 * the argument parser (commander), the other commands, the table renderer or the config stack (src/cli/exec-config.ts
 * caches what exec needs of the config). Anything else, `--help`, a misspelt option or a command without `--`
 * included, goes to the full CLI (main.ts). This path runs the same command (commands/exec.ts) with the same errors and
 * exit codes.
 *
 * The installed command runs this module from its bundle, dist/src/cli/exec-bundle.js (deploy/build/exec-bundle.mjs):
 * loading ~35 modules one by one cost a bot's every start ~40 ms. The start-up environment module comes from the same
 * bundle (bin.ts takes it from here), so an exec process holds one copy of each of keyctl's modules.
 */
import { resolveConfigPath } from '../config/path.js';
import { toKeyctlError } from '@keyctl/client/errors';
import { BaseContext, type CliIo, type Notices } from './base-context.js';
import { run } from './commands/exec.js';
import type { ExecInvocation } from './exec-argv.js';
import { reportError } from './report.js';

export { takeStartupEnv } from './startup-env.js';

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
