import type { Config } from '../../config/load.js';
import { UsageError } from '@keyctl/client/errors';
import { completionScript, isShell, REF_KINDS, SHELLS, type RefKind } from '../completion/index.js';
import { specs } from '../specs/index.js';
import type { CliContext } from '../context.js';
import type { CommandRun } from '../types.js';

const INSTALL =
  'e.g. keyctl completion bash > ~/.local/share/bash-completion/completions/keyctl (keyctl completion --help shows each shell)';

export const run: CommandRun = async (ctx, args, opts) => {
  const [shell] = args;
  if (opts.refs !== undefined) {
    if (shell)
      throw new UsageError('COMPLETION_ARGS', 'Pass a shell or --refs, not both.', {
        hint: 'keyctl completion bash   or   keyctl completion --refs slot',
      });
    return printRefs(ctx, String(opts.refs));
  }
  if (!shell) {
    throw new UsageError('COMPLETION_SHELL', 'Name the shell to print a completion script for.', {
      hint: `Use ${SHELLS.slice(0, -1).join(', ')} or ${SHELLS.at(-1)}, ${INSTALL}.`,
    });
  }
  if (!isShell(shell)) {
    throw new UsageError('UNKNOWN_SHELL', `No completion script for "${shell}".`, {
      hint: `Use ${SHELLS.slice(0, -1).join(', ')} or ${SHELLS.at(-1)}, ${INSTALL}.`,
    });
  }
  const script = completionScript(shell, specs);
  ctx.out.result({ shell, script }, script);
  return 0;
};

/**
 * What the scripts call on Tab: the config's candidates, one per line. Reads only the config (no store, no exchange)
 * and prints nothing, exit 0, when the config is missing or invalid: a completion must never print errors into the
 * user's command line.
 */
async function printRefs(ctx: CliContext, kind: string): Promise<number> {
  if (!(REF_KINDS as readonly string[]).includes(kind)) {
    throw new UsageError('UNKNOWN_REF_KIND', `--refs takes a kind of candidate, not "${kind}".`, {
      hint: `Use one of: ${REF_KINDS.join(', ')}.`,
    });
  }
  const { loadConfig } = await import('../../config/load.js');
  let candidates: string[] = [];
  try {
    // loadConfig, not ctx.config(): its warnings would land on the user's terminal mid-completion.
    candidates = candidatesOf(loadConfig(ctx.configPath).config, kind as RefKind);
  } catch {
    candidates = [];
  }
  ctx.out.result({ kind, candidates }, candidates.join('\n'));
  return 0;
}

function candidatesOf(config: Config, kind: RefKind): string[] {
  const slots = config.slots.map((s) => s.ref);
  const accounts = Object.keys(config.accounts).map((a) => `@${a}`);
  switch (kind) {
    case 'slot':
      return slots;
    case 'account':
      return accounts;
    case 'ref':
      return [...slots, ...accounts];
    case 'bot':
      return [...new Set(config.slots.map((s) => s.bot))];
    case 'staff':
      return [...new Set(config.staff)];
  }
}
