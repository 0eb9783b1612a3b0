/**
 * The last verification of each key, read back from the audit log (its latest-entry cache, src/audit/latest.ts): every `keyctl verify` of a key is an entry with
 * its fingerprint, outcome and violation codes. `schedule` uses it for "last verified", `status` and `key list` to
 * show a key whose last verification found a violation.
 */
import type { AuditEntry, AuditLog } from './types.js';

/** The audit command whose entries count as verifications. */
export const VERIFY_COMMAND = 'verify';

/** The latest `verify` entry of each ref in `refs` (the log's latest-entry cache: never the whole log). */
export async function lastVerifications(audit: Pick<AuditLog, 'latest'>, refs: Set<string>): Promise<Map<string, AuditEntry>> {
  const found = new Map<string, AuditEntry>();
  // Oldest first, so a later entry overwrites an earlier one.
  for (const e of await audit.latest([VERIFY_COMMAND])) {
    if (e.ref !== undefined && refs.has(e.ref)) found.set(e.ref, e);
  }
  return found;
}
