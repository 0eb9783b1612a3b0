/**
 * Which command lines `keyctl exec`'s own start (exec-fast.ts) takes: a plain
 * `keyctl [--config f] [--json] exec [options] <ref> -- <command...>`, read exactly as commander would (a unit test
 * compares the two on a list of command lines). Anything else goes to the full CLI. A module of its own, loaded before
 * the exec bundle (dist/src/cli/exec-bundle.js, built by deploy/build/exec-bundle.mjs), so a command line the fast path
 * does not take never loads it.
 */

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
