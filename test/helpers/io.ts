/** In-process CLI I/O for tests that call main() or a command's run() directly: piped stdin, captured stdout/stderr. */
import { PassThrough, Readable } from 'node:stream';
import type { CliIo } from '../../src/cli/context.js';

export interface CapturedIo {
  io: CliIo;
  stdout(): string;
  stderr(): string;
}

export function captureIo(options: { cwd?: string; env?: NodeJS.ProcessEnv; stdin?: string } = {}): CapturedIo {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const stdin = Object.assign(Readable.from(options.stdin === undefined ? [] : [options.stdin]), { isTTY: false });
  return { io: { stdin, stdout, stderr, env: options.env ?? {}, cwd: options.cwd ?? process.cwd() }, stdout: () => out, stderr: () => err };
}
