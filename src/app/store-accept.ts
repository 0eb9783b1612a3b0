/**
 * `keyctl store accept --reason ...`: after a deliberate restore of the local store from a backup, the operator
 * accepts the record files as they are now, so keyctl stops refusing them as rolled back (docs/local-store.md). The
 * decision, its reason and every record it changed are audited.
 */
import { UsageError } from '@keyctl/client/errors';
import type { AuditEntry, AuditInput } from '../audit/types.js';
import type { RestoreChange, SecretStore } from '../../providers/types.js';
import { checkReason } from './reason.js';

export interface AcceptRestoreResult {
  changes: RestoreChange[];
  /** Seq of the audit entry recording the decision. */
  seq: number;
}

export async function acceptRestore(
  deps: { store: SecretStore; record: (input: Omit<AuditInput, 'command'>) => Promise<AuditEntry> },
  reason: string,
): Promise<AcceptRestoreResult> {
  const text = checkReason(reason, 'keyctl store accept --reason "restored from the 02:00 backup after disk loss (INC-7)"');
  if (!deps.store.acceptRestore) {
    throw new UsageError(
      'STORE_ACCEPT_UNSUPPORTED',
      `The ${deps.store.id} store keeps no manifest of its records: there is nothing to accept.`,
      {
        hint: 'store accept is for the local store, after restoring its directory from a backup.',
      },
    );
  }
  const changes = await deps.store.acceptRestore();
  // Recorded after the rebuild: before it, a rolled-back audit-key record would keep the audit key itself unreadable.
  const entry = await deps.record({
    outcome: 'ok',
    detail: {
      reason: text,
      changed: changes.length,
      // Audit details are flat: the first 50 changes, one per `;`-separated item.
      changes: changes
        .slice(0, 50)
        .map((c) => `${c.record}: ${c.was} -> ${c.now}`)
        .join('; '),
    },
  });
  return { changes, seq: entry.seq };
}
