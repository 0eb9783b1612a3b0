/**
 * `keyctl verify [ref...]`: every named key (or every stored key) checked at its exchange against the key policy, by
 * the application layer (src/app/verify.ts); this renders the results. Exit 3 on a violation, else the exit code of
 * the first key that could not be checked.
 */
import { verifyDue, verifyKeys, type VerifyResult } from '../../app/verify.js';
import { resolveKey } from '../../domain/resolve.js';
import { ExitCode, UsageError } from '@keyctl/client/errors';
import { progressLines } from '../render.js';
import { table } from '../output.js';
import type { CommandRun } from '../types.js';

export type { VerifyResult };

export const run: CommandRun = async (ctx, args, opts) => {
  const due = opts.due === true;
  if (due && args.length > 0) {
    throw new UsageError('DUE_WITH_REFS', '--due picks the slots itself: name no refs with it.', {
      hint: 'Run `keyctl verify --due` alone, or `keyctl verify <ref...>` without --due.',
    });
  }
  const explicit = args.length > 0;
  const keys = explicit ? args.map((a) => resolveKey(ctx.config(), a)) : undefined;
  const deps = { ...(await ctx.base()), secrets: ctx.redactor };
  const progress = progressLines<VerifyResult>(ctx.out, 'verifying', (_ref, r) => line(r));
  let results: VerifyResult[];
  try {
    results = due ? await verifyDue(deps, { progress }) : await verifyKeys(deps, { ...(keys ? { keys } : {}), progress });
  } finally {
    progress.end();
  }

  if (due) {
    // Recorded even when nothing was due: the go-live checklist's proof that the cron job runs (src/app/checklist.ts).
    await deps.events.emit({ type: 'due.run', runner: 'verify', due: results.length, failed: results.filter((r) => r.error).length });
  }
  ctx.out.result({ results }, () => human(results, explicit, due));
  if (results.some((r) => r.violations.length > 0)) return ExitCode.POLICY;
  const failed = results.find((r) => r.error);
  return failed?.error ? failed.error.exitCode : ExitCode.OK;
};

/** One key's line as it finishes. */
function line(r: VerifyResult): string {
  const key = `${r.ref}${r.fingerprint ? ` (key ${r.fingerprint})` : ''}`;
  if (r.error) return `${key}: NOT CHECKED: ${r.error.code}: ${r.error.message}`;
  if (r.ok) return `${key}: ok${r.accepted ? ` (accepted gaps: ${r.accepted.join(', ')})` : ''}`;
  return `${key}: VIOLATION ${r.violations.map((v) => v.code).join(', ')}`;
}

/** A result's violations, then the gaps its account accepts (never hidden: a pass with a known blind spot). */
function details(r: VerifyResult): string {
  const lines = r.violations.map((v) => `${v.code}: ${v.detail}`);
  if (r.accepted) lines.push(`accepted: ${r.accepted.join(', ')} (not checked: accounts.<name>.accept)`);
  return lines.join('\n') || '-';
}

function human(results: VerifyResult[], explicit: boolean, due: boolean): string {
  if (results.length === 0) {
    if (due) return 'No verification is due.';
    return explicit ? 'Nothing to verify.' : 'No stored keys to verify yet: import keys with `keyctl key import <ref>`.';
  }
  const rows = results.map((r) => [
    r.ref,
    r.fingerprint ?? '-',
    r.error ? 'ERROR' : r.ok ? 'ok' : 'VIOLATION',
    r.error ? `${r.error.code}: ${r.error.message}` : details(r),
  ]);
  const bad = results.filter((r) => r.violations.length > 0).length;
  const failed = results.filter((r) => r.error).length;
  const summary = [
    `${results.length} key${results.length === 1 ? '' : 's'} checked: ${results.length - bad - failed} ok`,
    bad ? `${bad} with violations` : '',
    failed ? `${failed} not checked` : '',
  ]
    .filter(Boolean)
    .join(', ');
  const hints = results.filter((r) => r.hint).map((r) => `hint: ${r.ref}: ${r.hint}`);
  return [`${table(['ref', 'fingerprint', 'result', 'details'], rows)}`, `${summary}.`, ...hints].join('\n');
}
