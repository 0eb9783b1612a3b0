/**
 * Each bot's last kill and last kill drill, read back from the audit log: a `keyctl kill` ends with one `kill` entry,
 * a `keyctl kill --dry-run` with one `kill.drill` entry, each naming its bots (`*` for --all). `status` shows them, so
 * an operator sees when the kill switch was last practised (monthly drills are what operators are told to do).
 */
import type { AuditEntry, AuditLog } from './types.js';

export const KILL_COMMAND = 'kill';
export const DRILL_COMMAND = 'kill.drill';

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

/** The latest `kill` and `kill.drill` entry of each bot in `bots` (the log's latest-entry cache: never the whole log). */
export async function lastKills(audit: Pick<AuditLog, 'latest'>, bots: ReadonlySet<string>): Promise<Map<string, LastKills>> {
  const found = new Map<string, LastKills>();
  // Oldest first, so a later entry overwrites an earlier one.
  for (const e of await audit.latest([KILL_COMMAND, DRILL_COMMAND])) {
    const field = e.command === KILL_COMMAND ? 'kill' : 'drill';
    for (const bot of named(e, bots)) found.set(bot, { ...found.get(bot), [field]: e });
  }
  return found;
}
