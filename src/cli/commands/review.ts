/**
 * `keyctl review [--since 7d]`: the weekly (or monthly) review from the audit log (src/app/review.ts):
 * what changed in the period and what needs a person. Reading it never fails the run: exit 0 unless the store or the
 * log cannot be opened.
 */
import { parseDuration } from '../../../schedules/duration.js';
import { review, reviewMarkdown } from '../../app/review.js';
import { UsageError } from '@keyctl/client/errors';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx, _args, opts) => {
  const config = ctx.config();
  const sinceMs = parseDuration(typeof opts.since === 'string' ? opts.since : '7d', '--since');
  if (sinceMs <= 0) {
    throw new UsageError('INVALID_DURATION', '--since must be longer than zero.', { hint: 'e.g. --since 7d (a week) or --since 30d.' });
  }
  const result = await review({ inventory: config, audit: await ctx.audit(), now: Date.now, checklist: config.checklist }, { sinceMs });
  // The text form is Markdown: it reads as plain text in a terminal and pastes into a weekly report as it is.
  ctx.out.result(result, () => reviewMarkdown(result));
};
