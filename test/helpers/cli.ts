/**
 * Runs the built keyctl CLI (dist/, produced by `npm run build`, which `npm test` runs first) as a real child process,
 * the way users and cron run it: its own process, its own environment, stdin piped.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { assertDistFresh } from './dist.js';

export const BIN = fileURLToPath(new URL('../../dist/src/cli/bin.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (throws when it is not). */
  json<T = Record<string, unknown>>(): T;
}

/** Throws, saying to run `npm run build`, when dist/ is missing or older than the sources (test/helpers/dist.ts). */
export function assertBuilt(): void {
  assertDistFresh();
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first (npm test does).`);
}

/**
 * Runs `cmd <args>` with exactly `env` (plus PATH): nothing of the test runner's environment. Resolves with its exit
 * code, output and pid when it closes.
 */
export async function runProcess(
  cmd: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd?: string },
): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
  const child = spawn(cmd, args, { env: { PATH: process.env.PATH, ...options.env }, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr, pid: child.pid! };
}

/** `node <args>` as a bot sees it: only the environment it is given (runProcess). */
export function runNode(args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }) {
  return runProcess(process.execPath, args, options);
}

export async function runCli(
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    stdin?: string;
    cwd?: string;
    /** Sends `signal` once stdout matches `when` (a long-running command such as the daemon). */
    signalWhen?: { when: RegExp; signal: NodeJS.Signals };
  } = {},
): Promise<CliResult> {
  assertBuilt();
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    // A minimal environment, so nothing from the developer's shell (a real KEYCTL_MASTER_KEY, say) leaks into a test.
    env: { PATH: process.env.PATH, HOME: process.env.HOME, KEYCTL_ACTOR: 'test-runner', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let signalled = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (options.signalWhen && !signalled && options.signalWhen.when.test(stdout)) {
      signalled = true;
      child.kill(options.signalWhen.signal);
    }
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(options.stdin ?? '');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return {
    code,
    stdout,
    stderr,
    json<T>() {
      return JSON.parse(stdout) as T;
    },
  };
}
