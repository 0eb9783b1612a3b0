import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { execInvocation } from '../../src/cli/exec-argv.js';
import { buildProgram } from '../../src/cli/main.js';

/** What commander hands exec's command for `argv` (args and options), or why it refused. */
async function viaCommander(argv: string[]): Promise<{ args: string[]; opts: Record<string, unknown> } | { refused: string }> {
  const sink = new PassThrough();
  const io = { stdin: new PassThrough(), stdout: sink, stderr: sink, env: {}, cwd: '/' };
  let seen: { args: string[]; opts: Record<string, unknown> } | undefined;
  const program = buildProgram(io, async (spec, args, opts) => {
    if (spec.name !== 'exec') throw new Error(`ran ${spec.name}`);
    seen = { args, opts };
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    return { refused: (err as { code?: string }).code ?? 'error' };
  }
  return seen ?? { refused: 'nothing ran' };
}

// Command lines the fast path takes: it must read each exactly as the full CLI does.
const TAKEN: string[][] = [
  ['exec', 'alpha/arb1', '--', 'node', '-e', '0'],
  ['exec', 'alpha/arb1', '--fd', '3', '--', 'node'],
  ['exec', '--fd', '3', 'alpha/arb1', '--', 'node'],
  ['exec', '--fd=3', 'alpha/arb1', '--', 'node', '--fd', '4'],
  ['--config', 'c.yaml', 'exec', 'alpha/arb1', '--', 'node'],
  ['--config=c.yaml', '--json', 'exec', 'alpha/arb1', '--', 'node'],
  ['exec', '--config', 'c.yaml', 'alpha/arb1', '--', 'node'],
  ['exec', 'alpha/arb1', '--json', '--', 'node', '--json'],
  ['--json', 'exec', 'alpha/arb1', '--', 'node'],
  ['exec', '--no-mask', 'alpha/arb1', '--', 'node', '--no-mask'],
  ['exec', '--preflight', '--restart-on-rotate', '--reload-signal', 'HUP', 'alpha/arb1', '--', 'node'],
  ['exec', '--strict', 'alpha/arb1', '--', 'node', 'bot.mjs'],
  ['exec', '--env-prefix', 'BOT_', 'alpha/arb1', '--', 'node', '--', 'x'],
  ['exec', '--user', 'nobody', '--group', 'nogroup', 'alpha/arb1', '--', 'node'],
  ['exec', '--reload-signal=SIGUSR2', 'alpha/arb1', '--', 'node'],
  ['exec', 'exec', '--', 'node'],
  ['--config', 'exec', 'exec', 'a/b', '--', 'exec'],
  ['exec', '@main', '--', 'node'],
  // --env is repeatable (a list, in order); --preset takes one value.
  ['exec', '--env', 'BOT_KEY=apiKey', 'alpha/arb1', '--', 'node'],
  ['exec', '--env', 'BOT_KEY=apiKey', '--env=BOT_SECRET=secret', 'alpha/arb1', '--', 'node', '--env', 'X=y'],
  ['exec', '--preset', 'freqtrade', 'alpha/arb1', '--', 'freqtrade', 'trade'],
  ['exec', '--preset=jesse:BYBIT_USDT_PERPETUAL', '--env', 'P=password', 'alpha/arb1', '--', 'jesse', 'run'],
  ['exec', '--preset', 'ccxt', '--fd', '3', 'alpha/arb1', '--', 'node'],
];

// Command lines it leaves to the full CLI (help, errors, and the rarer forms).
const LEFT: string[][] = [
  ['exec', 'alpha/arb1', 'node', 'bot.mjs'],
  ['exec', 'alpha/arb1', '--'],
  ['exec', '--', 'node'],
  ['exec', '-h', 'alpha/arb1', '--', 'node'],
  ['exec', '--help', 'alpha/arb1', '--', 'node'],
  ['--version', 'exec', 'alpha/arb1', '--', 'node'],
  ['exec', '--mask', 'alpha/arb1', '--', 'node'],
  ['exec', '--fd', 'alpha/arb1', '--', 'node'],
  ['exec', '--fd', '--', 'alpha/arb1', '--', 'node'],
  ['exec', '--fd', '-1', 'alpha/arb1', '--', 'node'],
  ['exec', '--fd=', 'alpha/arb1', '--', 'node'],
  ['exec', '--json=1', 'alpha/arb1', '--', 'node'],
  ['exec', '--config', 'a', '--config', 'b', 'alpha/arb1', '--', 'node'],
  ['--config', 'a', 'exec', '--config', 'b', 'alpha/arb1', '--', 'node'],
  ['exec', 'alpha/arb1', 'alpha/arb2', '--', 'node'],
  ['--fd', '3', 'exec', 'alpha/arb1', '--', 'node'],
  ['issue', 'alpha/arb1', '--', 'node'],
  ['key', 'exec', 'alpha/arb1', '--', 'node'],
  ['exec', '-', 'alpha/arb1', '--', 'node'],
  ['exec', '-x', 'alpha/arb1', '--', 'node'],
  ['exec', 'alpha/arb1', '--unknown', '--', 'node'],
  ['status', '--', 'exec'],
  ['exec', '--preset', 'freqtrade', '--preset', 'ccxt', 'alpha/arb1', '--', 'node'],
  ['exec', '--env', 'alpha/arb1', '--', 'node'],
  ['exec', '--env=', 'alpha/arb1', '--', 'node'],
];

describe('keyctl exec: the lean command-line reader', () => {
  it.each(TAKEN)('reads %j exactly as the full CLI does', async (...argv) => {
    const fast = execInvocation(argv);
    expect(fast).not.toBeNull();
    expect(await viaCommander(argv)).toEqual(fast);
  });

  it.each(LEFT)('leaves %j to the full CLI', (...argv) => {
    expect(execInvocation(argv)).toBeNull();
  });
});
