/**
 * The last verification of each key, read back from the audit log: every `keyctl verify` of a key is an entry with
 * its fingerprint, outcome and violation codes. `schedule` uses it for "last verified", `status` and `key list` to
 * show a key whose last verification found a violation.
 */
import type { AuditEntry, AuditLog } from './types.js';

/** The audit command whose entries count as verifications. */
export const VERIFY_COMMAND = 'verify';

/** How many audit entries to read back, growing until every key's last verification is found or the log ends. */
const TAIL_STEPS = [1_000, 10_000, 100_000];

/** The latest `verify` entry of each ref in `refs`, reading back through the audit log only as far as needed. */
export async function lastVerifications(audit: Pick<AuditLog, 'tail'>, refs: Set<string>): Promise<Map<string, AuditEntry>> {
  const found = new Map<string, AuditEntry>();
  for (const n of TAIL_STEPS) {
    const entries = await audit.tail(n);
    found.clear();
    // Oldest first, so a later entry overwrites an earlier one.
    for (const e of entries) {
      if (e.command === VERIFY_COMMAND && e.ref !== undefined && refs.has(e.ref)) found.set(e.ref, e);
    }
    if (found.size === refs.size || entries.length < n) break;
  }
  return found;
}
