/**
 * Each bot's last kill and last kill drill, read back from the audit log: a `keyctl kill` ends with one `kill` entry,
 * a `keyctl kill --dry-run` with one `kill.drill` entry, each naming its bots (`*` for --all). `status` shows them, so
 * an operator sees when the kill switch was last practised (monthly drills are what operators are told to do).
 */
import type { AuditEntry, AuditLog } from './types.js';

export const KILL_COMMAND = 'kill';
export const DRILL_COMMAND = 'kill.drill';

/** How many audit entries to read back, growing until every bot's last kill and drill are found or the log ends. */
const TAIL_STEPS = [1_000, 10_000, 100_000];

export interface LastKills {
  kill?: AuditEntry;
  drill?: AuditEntry;
}

/** The bots an entry names: its `bots` detail, comma-separated, or `*` for every bot. */
function named(entry: AuditEntry, bots: ReadonlySet<string>): string[] {
  const text = entry.detail?.bots;
  if (typeof text !== 'string') return [];
  if (text === '*') return [...bots];
  return text.split(',').filter((b) => bots.has(b));
}

/** The latest `kill` and `kill.drill` entry of each bot in `bots`, reading back through the audit log only as far as needed. */
export async function lastKills(audit: Pick<AuditLog, 'tail'>, bots: ReadonlySet<string>): Promise<Map<string, LastKills>> {
  const found = new Map<string, LastKills>();
  for (const n of TAIL_STEPS) {
    const entries = await audit.tail(n);
    found.clear();
    // Oldest first, so a later entry overwrites an earlier one.
    for (const e of entries) {
      const field = e.command === KILL_COMMAND ? 'kill' : e.command === DRILL_COMMAND ? 'drill' : undefined;
      if (!field) continue;
      for (const bot of named(e, bots)) found.set(bot, { ...found.get(bot), [field]: e });
    }
    const complete = [...bots].every((b) => found.get(b)?.kill && found.get(b)?.drill);
    if (complete || entries.length < n) break;
  }
  return found;
}
