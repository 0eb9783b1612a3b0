/**
 * How a failed command is reported, in one place for the full CLI (main.ts) and exec's lean start (exec-fast.ts): the
 * error's message and hint on stderr, or `{"error": {...}}` on stdout with --json, redacted; the stack of an internal
 * error with KEYCTL_DEBUG. Returns the exit code.
 */
import type { Redactor } from '../audit/redact.js';
import { ExitCode, type KeyctlError } from '@keyctl/client/errors';
import type { CliIo } from './base-context.js';

export function reportError(e: KeyctlError, io: CliIo, json: boolean, redactor: Redactor): number {
  const redact = (text: string) => redactor.apply(text);
  if (json) {
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
}
