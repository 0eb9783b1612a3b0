/**
 * `keyctl audit tail [-n N]`: the last N entries. Needs no key and so never opens the store (no passphrase prompt);
 * it shows what the file says, and `audit verify` says whether to believe it.
 */
import { UsageError } from '@keyctl/client/errors';
import { openAuditLog } from '../../audit/log.js';
import type { CommandRun } from '../types.js';
import { table } from '../output.js';

const MAX_LINES = 100_000;

export const run: CommandRun = async (ctx, _args, opts) => {
  const n = parseLines(opts.lines);
  const path = ctx.config().auditPath;
  const entries = await openAuditLog({ path }).tail(n);
  ctx.out.result({ entries }, () => {
    if (entries.length === 0) return `No audit entries yet (${path}).`;
    const rows = entries.map((e) => [e.time, e.actor, e.command, e.ref ?? '', e.fingerprint ?? '', e.outcome]);
    return table(['time', 'actor', 'command', 'ref', 'fingerprint', 'outcome'], rows);
  });
};

function parseLines(value: unknown): number {
  const text = String(value ?? '20');
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_LINES) {
    throw new UsageError('BAD_LINES', `--lines must be a whole number from 1 to ${MAX_LINES}, not "${text}".`, {
      hint: 'For example: keyctl audit tail -n 50',
    });
  }
  return n;
}
