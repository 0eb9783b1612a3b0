/**
 * The latest entry of each kind the read-side commands ask for (a key's last verification, a bot's last kill and
 * drill, an attestation), kept beside the log in `<log>.latest` so that `status`, `schedule` and `key list` never read
 * the whole log, however long it grows.
 *
 * The file is a cache of the log, never a second source of truth: `{ through, latest }`, where `latest` holds at least
 * the newest entry of every kind among entries 1..`through`, and possibly newer ones. A reader takes it and reads back
 * only the entries after `through` (what was appended since: at most what happened since the last read), so an append
 * whose cache update was lost (a crash between the two, a reader's write-back racing it) costs a short scan, never a
 * wrong answer. The file is two lines, the JSON and its HMAC under the audit key (one MAC for the file: checking each
 * entry's own MAC would cost more than the scan it saves). A cache that is missing, malformed, forged or ahead of the
 * log (cut or replaced) is rebuilt from the whole log, once.
 *
 * Only appends of an indexed command touch the file (`keyctl exec`'s entries do not: its start-up stays as it was).
 */
import { entryFromObject, hmacHex, macEquals } from './chain.js';
import type { AuditEntry } from './types.js';

/**
 * The commands whose latest entries are kept: verification, kill switch, go-live evidence, and the anchor losses and
 * acknowledgements `status` checks (names as in subscriber.ts and log.ts).
 */
export const LATEST_COMMANDS: ReadonlySet<string> = new Set([
  'verify',
  'kill',
  'kill.drill',
  'attest',
  'alert test',
  'due.run',
  'checklist',
  'audit.anchor-lost',
  'audit.ack',
]);

export interface LatestFile {
  v: 1;
  /** Every kind's newest entry among 1..through is in `latest`. */
  through: number;
  latest: AuditEntry[];
}

/** What makes two entries the same kind: one latest entry is kept per key. */
export function kindOf(entry: AuditEntry): string {
  const d = entry.detail ?? {};
  return JSON.stringify([
    entry.command,
    entry.ref ?? null,
    d.bots ?? null,
    d.item ?? null,
    d.bot ?? null,
    d.channel ?? null,
    d.runner ?? null,
  ]);
}

export function isIndexed(entry: AuditEntry): boolean {
  return LATEST_COMMANDS.has(entry.command);
}

/** Merges entries into a latest set: per kind, the one with the highest seq wins. */
export function mergeLatest(into: Map<string, AuditEntry>, entries: Iterable<AuditEntry>): void {
  for (const e of entries) {
    if (!isIndexed(e)) continue;
    const k = kindOf(e);
    const held = into.get(k);
    if (!held || held.seq < e.seq) into.set(k, e);
  }
}

/** The newest entry of each kind among `commands` in `entries` (any order), oldest first: AuditLog.latest over a list. */
export function latestOf(entries: Iterable<AuditEntry>, commands: readonly string[]): AuditEntry[] {
  const merged = new Map<string, AuditEntry>();
  mergeLatest(merged, entries);
  const wanted = new Set(commands);
  return [...merged.values()].filter((e) => wanted.has(e.command)).sort((a, b) => a.seq - b.seq);
}

/** Keeps the cache's MAC domain apart from entries' (canonical JSON objects) and the head anchor's. */
const DOMAIN = 'keyctl-audit-latest\n';

/** The file's text: the JSON line, then its HMAC. */
export function serializeLatest(file: LatestFile, key: Buffer): string {
  const body = JSON.stringify(file);
  return `${body}\n${hmacHex(key, DOMAIN + body)}\n`;
}

/** Parses the file's text; null for anything not exactly what keyctl writes under this key (rebuilt from the log). */
export function parseLatestFile(text: string, key: Buffer): LatestFile | null {
  const lines = text.split('\n');
  if (lines.length !== 3 || lines[2] !== '' || !macEquals(hmacHex(key, DOMAIN + lines[0]!), lines[1]!)) return null;
  let value: unknown;
  try {
    value = JSON.parse(lines[0]!);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { v, through, latest } = value as Record<string, unknown>;
  if (v !== 1 || !Number.isSafeInteger(through) || (through as number) < 0 || !Array.isArray(latest)) return null;
  const entries: AuditEntry[] = [];
  for (const e of latest) {
    // Each cached entry must be a well-formed log entry (the log's own line check), and an indexed one.
    const parsed = entryFromObject(e);
    if (!parsed.ok || !isIndexed(parsed.value.entry)) return null;
    entries.push(parsed.value.entry);
  }
  return { v: 1, through: through as number, latest: entries };
}
