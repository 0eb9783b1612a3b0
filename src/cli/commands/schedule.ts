/**
 * `keyctl schedule [--json]`: every slot's last and next rotation and verification, and whether each is due now
 * (src/app/schedule.ts computes it; this renders it).
 */
import { DateTime } from 'luxon';
import { buildSchedule } from '../../app/schedule.js';
import { describeWindow } from '../../../schedules/window.js';
import { age, table } from '../output.js';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx) => {
  const now = DateTime.utc();
  const slots = await buildSchedule({
    inventory: ctx.config(),
    store: await ctx.store(),
    audit: await ctx.audit(),
    now: () => now.toMillis(),
  });

  ctx.out.result({ slots }, () => {
    if (slots.length === 0) return 'No slots declared in the config yet.';
    const rows = slots.map((s) => [
      s.ref,
      s.state === 'missing' ? 'MISSING' : 'ok',
      when(s.lastRotation, now),
      s.state === 'missing' ? 'import a key first' : `${when(s.nextRotation, now)}${s.rotationDue ? ' DUE' : ''}`,
      `${describeWindow(s.window)}${s.window ? (s.windowOpen ? ' (open)' : ' (closed)') : ''}`,
      s.lastVerification
        ? `${when(s.lastVerification, now)}${s.lastVerificationOutcome === 'ok' ? '' : ` ${s.lastVerificationOutcome?.toUpperCase()}`}`
        : 'never',
      s.state === 'missing' ? '-' : `${when(s.nextVerification, now)}${s.verificationDue ? ' DUE' : ''}`,
    ]);
    const lines = [
      table(['slot', 'state', 'last rotation', 'next rotation', 'window', 'last verified', 'next verification'], rows),
      'Times are UTC.',
    ];
    const missing = slots.filter((s) => s.state === 'missing').map((s) => s.ref);
    if (missing.length) lines.push(`No key for ${missing.join(', ')}: import with keyctl key import <ref> < key.json`);
    const due = slots.filter((s) => s.rotationDue).length;
    if (due) lines.push(`${due} slot(s) due for rotation: keyctl rotate --due`);
    return lines.join('\n');
  });
};

/** `2025-06-01 02:00 (in 3d)` / `(5h ago)`, in UTC. */
function when(iso: string | null, now: DateTime): string {
  if (!iso) return '-';
  const t = DateTime.fromISO(iso, { zone: 'utc' });
  const ms = t.toMillis();
  const rel = ms <= now.toMillis() ? `${age(iso, now.toMillis())} ago` : `in ${age(now.toISO() ?? '', ms)}`;
  return `${t.toFormat('yyyy-MM-dd HH:mm')} (${rel})`;
}
