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
  if (!opts.all && !bot) throw new UsageError('KILL_TARGET', 'Name the bot to kill, or pass --all.', { hint: 'keyctl kill alpha   or   keyctl kill --all' });
  if (opts.all && bot) throw new UsageError('KILL_TARGET', 'Pass a bot or --all, not both.');
  const slots = opts.all ? config.slots : config.slots.filter((s) => s.bot === bot);
  if (slots.length === 0) {
    throw new UsageError('UNKNOWN_BOT', `${config.file} declares no bot "${bot}".`, { hint: `Bots: ${[...new Set(config.slots.map((s) => s.bot))].join(', ') || '(none)'}.` });
  }
  const engine = await engineFor(ctx);
  const settled = await Promise.allSettled(slots.map((slot) => engine.revoke(slot, { reason: String(opts.reason), emergency: true })));
  const results: RevokeOutcome[] = [];
  const failures: Failure[] = [];
  settled.forEach((s, i) => {
    const ref = slots[i]!.ref;
    if (s.status === 'fulfilled') {
      results.push(s.value);
      for (const f of s.value.failed) failures.push({ ref, code: f.code, message: `${f.fingerprint}: ${f.message}` });
    } else failures.push(failureOf(ref, s.reason));
  });
  ctx.out.result({ results, failures }, () => {
    const lines = results.map(describeRevoke);
    for (const f of failures.filter((x) => !results.some((r) => r.ref === x.ref))) lines.push(`${f.ref}: COULD NOT revoke: ${f.message}`);
    if (failures.length) lines.push(`\n${failures.length} key(s) could NOT be revoked. Delete them in the exchange's web UI now, then run keyctl kill again to confirm.`);
    return lines.join('\n');
  });
  return failures.length ? ExitCode.EXCHANGE : ExitCode.OK;
};
