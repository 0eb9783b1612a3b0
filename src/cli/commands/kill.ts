import { ExitCode, UsageError } from '../../errors.js';
import type { RevokeOutcome } from '../../rotation/engine.js';
import { engineFor } from '../../rotation/setup.js';
import { describeRevoke } from './revoke.js';
import { failureOf, type Failure } from './rotate.js';
import type { CommandRun } from '../types.js';

/** The emergency stop: every key of the bot(s) revoked at once, in parallel; a held rotation lease does not stop it. */
export const run: CommandRun = async (ctx, args, opts) => {
  const config = ctx.config();
  const [bot] = args;
  if (!opts.all && !bot)
    throw new UsageError('KILL_TARGET', 'Name the bot to kill, or pass --all.', { hint: 'keyctl kill alpha   or   keyctl kill --all' });
  if (opts.all && bot) throw new UsageError('KILL_TARGET', 'Pass a bot or --all, not both.');
  const slots = opts.all ? config.slots : config.slots.filter((s) => s.bot === bot);
  if (slots.length === 0) {
    throw new UsageError('UNKNOWN_BOT', `${config.file} declares no bot "${bot}".`, {
      hint: `Bots: ${[...new Set(config.slots.map((s) => s.bot))].join(', ') || '(none)'}.`,
    });
  }
  const engine = await engineFor(ctx);
  const results: RevokeOutcome[] = [];
  const failures: Failure[] = [];
  const progress = ctx.out.progress('revoking', slots.length);
  try {
    // Every slot at once; each prints its line as it finishes.
    await Promise.all(
      slots.map(async (slot) => {
        progress.begin(slot.ref);
        try {
          const outcome = await engine.revoke(slot, { reason: String(opts.reason), emergency: true });
          results.push(outcome);
          for (const f of outcome.failed) failures.push({ ref: slot.ref, code: f.code, message: `${f.fingerprint}: ${f.message}` });
          progress.done(slot.ref, describeRevoke(outcome));
        } catch (err) {
          const f = failureOf(slot.ref, err);
          failures.push(f);
          progress.done(slot.ref, `${slot.ref}: COULD NOT revoke: ${f.message}`);
        }
      }),
    );
  } finally {
    progress.end();
  }
  // Config order, whatever order the exchanges answered in.
  const order = (ref: string) => slots.findIndex((s) => s.ref === ref);
  results.sort((a, b) => order(a.ref) - order(b.ref));
  failures.sort((a, b) => order(a.ref) - order(b.ref));
  // Each slot's line went to stderr as it finished; stdout gets the verdict.
  ctx.out.result({ results, failures }, () => {
    const revoked = results.reduce((n, r) => n + r.revoked.length, 0);
    const lines = [
      `kill ${opts.all ? '--all' : bot}: ${revoked} key(s) revoked across ${slots.length} slot(s)${failures.length ? `, ${failures.length} NOT revoked` : ''}.`,
    ];
    for (const f of failures) lines.push(`  ${f.ref}: COULD NOT revoke: ${f.message}`);
    if (failures.length) lines.push(`Delete them in the exchange's web UI now, then run keyctl kill again to confirm.`);
    return lines.join('\n');
  });
  return failures.length ? ExitCode.EXCHANGE : ExitCode.OK;
};
