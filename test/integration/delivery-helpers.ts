/**
 * Runs the built keyctl as a real child process that a test can watch while it runs: read its output as it comes,
 * signal it, wait for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { assertBuilt, BIN } from '../helpers/cli.js';

export const DELIVERY_BIN = BIN;
export const FIXTURES = fileURLToPath(new URL('../fixtures/delivery/', import.meta.url));

export interface Running {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout contains `text` (rejects after `ms`). */
  waitFor(text: string | RegExp, ms?: number): Promise<void>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export function startKeyctl(args: string[], options: { env: NodeJS.ProcessEnv; cwd?: string }): Running {
  assertBuilt();
  const child = spawn(process.execPath, [DELIVERY_BIN, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, KEYCTL_ACTOR: 'test-runner', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      for (const w of waiters.splice(0)) w();
      resolve({ code, stdout: out, stderr: err });
    }),
  );
  const waitFor = (text: string | RegExp, ms = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${String(text)}; stdout: ${out}; stderr: ${err}`)), ms);
      const check = () => {
        if (typeof text === 'string' ? out.includes(text) : text.test(out)) {
          clearTimeout(timer);
          resolve();
        } else if (child.exitCode !== null || child.signalCode !== null) {
          clearTimeout(timer);
          reject(new Error(`exited before ${String(text)}; stdout: ${out}; stderr: ${err}`));
        } else waiters.push(check);
      };
      check();
    });
  return { child, stdout: () => out, stderr: () => err, waitFor, done };
}

/** JSON lines a stand-in bot printed. */
export function events(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
