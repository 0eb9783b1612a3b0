/**
 * `keyctl alert secret <path>`: stores an alert channel credential (a Slack or webhook URL, a Telegram token, a
 * PagerDuty routing key, an SMTP password) read from stdin, so the config can name it as `store:<path>` instead of
 * holding it. Never from an argument or a flag: those end up in shell history and the process list.
 */
import { storeAlertSecret } from '../../app/alert-secrets.js';
import { ExitCode } from '@keyctl/client/errors';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx, args) => {
  const path = args[0] ?? '';
  const value = await ctx.readStdin('the credential');
  ctx.redactor.add(value.trim());
  const base = await ctx.base();
  const stored = await storeAlertSecret({ store: base.store, events: base.events }, { path, value });
  const used = Object.entries(ctx.config().alerts)
    .filter(([, channel]) => JSON.stringify(channel).includes(`"store:${stored.path}"`))
    .map(([name]) => name);
  ctx.out.result(stored, () =>
    [
      `${stored.path}: stored credential ${stored.fingerprint}${stored.replaced ? ` (replaced ${stored.replaced}, now dropped)` : ''}.`,
      used.length
        ? `Used by: ${used.join(', ')}. Check with keyctl alert test ${used[0]}.`
        : `No channel refers to it yet: use store:${stored.path} in a channel under alerts: (docs/alerts.md).`,
    ].join('\n'),
  );
  return ExitCode.OK;
};
