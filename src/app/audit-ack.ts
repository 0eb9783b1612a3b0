/**
 * `keyctl audit ack --reason ...`: an operator's acknowledgement that they investigated every lost head anchor the
 * log records (docs/audit.md). The acknowledgement is itself an audit entry, with the operator and their reason, so
 * clearing the finding leaves a trace that verify keeps checking.
 */
import type { AuditLog } from '../audit/types.js';
import { checkReason } from './reason.js';

export interface AcknowledgeResult {
  /** Seqs of the `audit.anchor-lost` entries acknowledged; empty when there was nothing to acknowledge. */
  acknowledged: number[];
  /** Seq of the acknowledgement entry written, or null. */
  seq: number | null;
}

export async function acknowledgeAnchorLoss(
  deps: { audit: Pick<AuditLog, 'acknowledge'>; actor: string },
  reason: string,
): Promise<AcknowledgeResult> {
  const text = checkReason(reason, 'keyctl audit ack --reason "compared with the shipped copy: nothing removed (INC-42)"');
  const { acknowledged, entry } = await deps.audit.acknowledge({ reason: text, actor: deps.actor });
  return { acknowledged, seq: entry?.seq ?? null };
}
