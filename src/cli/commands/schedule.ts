/**
 * `keyctl schedule [--json]`: every slot's last and next rotation and verification, and whether each is due now.
 *
 * Last rotation is the creation time of the slot's CURRENT version in the store; last verification is the latest
 * `verify` entry for the slot in the audit log (read, not verified: `keyctl audit verify` says whether to trust it).
 * The arithmetic lives in schedules/due.ts, shared with `keyctl rotate --due`.
 */
import { DateTime } from 'luxon';
import type { SecretStore } from '../../../providers/types.js';
import type { Config } from '../../config/load.js';
import type { AuditLog } from '../../audit/types.js';
import { lastVerifications } from '../../audit/verifications.js';
import { storePath } from '../../domain/refs.js';
import { slotSchedule, type SlotHistory, type SlotSchedule } from '../../../schedules/due.js';
import { describeWindow } from '../../../schedules/window.js';
import { age, table } from '../output.js';
import type { CommandRun } from '../types.js';

export const run: CommandRun = async (ctx) => {
  const config = ctx.config();
  const store = await ctx.store();
  const audit = await ctx.audit();
  const now = DateTime.utc();
  const slots = await buildSchedule(config, store, audit, now);

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

/** Each declared slot's schedule at `now`, in config order. */
export async function buildSchedule(
  config: Config,
  store: SecretStore,
  audit: Pick<AuditLog, 'tail'>,
  now: DateTime,
): Promise<SlotSchedule[]> {
  const verified = await lastVerifications(audit, new Set(config.slots.map((s) => s.ref)));
  const out: SlotSchedule[] = [];
  for (const slot of config.slots) {
    const info = await store.describe(storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }));
    const currentId = info?.stages.CURRENT;
    const current = currentId ? info?.versions.find((v) => v.id === currentId) : undefined;
    const v = verified.get(slot.ref);
    const history: SlotHistory = {
      lastRotation: current?.createdAt ?? null,
      lastVerification: v?.time ?? null,
      lastVerificationOutcome: v?.outcome ?? null,
    };
    out.push(slotSchedule(slot, history, now));
  }
  return out;
}

/** `2025-06-01 02:00 (in 3d)` / `(5h ago)`, in UTC. */
function when(iso: string | null, now: DateTime): string {
  if (!iso) return '-';
  const t = DateTime.fromISO(iso, { zone: 'utc' });
  const ms = t.toMillis();
  const rel = ms <= now.toMillis() ? `${age(iso, now.toMillis())} ago` : `in ${age(now.toISO() ?? '', ms)}`;
  return `${t.toFormat('yyyy-MM-dd HH:mm')} (${rel})`;
}
