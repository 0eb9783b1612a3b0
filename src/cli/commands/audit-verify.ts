/**
 * `keyctl audit verify`: checks every entry's MAC, the chain and the head anchor. Reading the log is not an action,
 * so nothing is recorded. Tampering is a finding, not a crash: the report is printed and the exit code is 3.
 */
import { ExitCode } from '@keyctl/client/errors';
import type { CommandRun } from '../types.js';
import { table } from '../output.js';

const HINT =
  'Treat this as a security incident: keep a copy of the log and its .head file as they are, compare them with your ' +
  'backups or the copy shipped off this host, and check who had write access to the file. See docs/audit.md.';

export const run: CommandRun = async (ctx) => {
  const report = await (await ctx.audit()).verify();
  const path = ctx.config().auditPath;
  if (report.ok) {
    ctx.out.result(report, () =>
      report.entries === 0 ? `No audit entries yet (${path}).` : `${path}: ${report.entries} entries, chain verified.`,
    );
    return ExitCode.OK;
  }
  ctx.out.result({ ...report, hint: HINT }, () => {
    const rows = report.problems.map((p) => [p.line, p.seq ?? '-', p.kind, p.message]);
    const n = report.problems.length;
    return `${path}: ${report.entries} entries, ${n} problem${n === 1 ? '' : 's'} found:\n${table(['line', 'seq', 'kind', 'problem'], rows)}\nhint: ${HINT}`;
  });
  return ExitCode.POLICY;
};
