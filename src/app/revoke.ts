/**
 * Revoking one slot's keys now: every stored version deleted at the exchange and its material dropped, orphans swept.
 * The engine emits a `key.revoked` event per key (the audit log records each).
 */
import type { Slot } from '../domain/inventory.js';
import type { RevokeOutcome, RotationEngine } from '../rotation/engine.js';

export interface RevokeInput {
  slot: Slot;
  reason: string;
  /**
   * keyctl kill: seize the slot's lease even from a rotation in flight, never wait for it (RotationEngine.revoke).
   * Without it, a held lease is ROTATION_IN_PROGRESS.
   */
  emergency?: boolean;
}

export function revoke(deps: { engine: RotationEngine }, input: RevokeInput): Promise<RevokeOutcome> {
  return deps.engine.revoke(input.slot, { reason: input.reason, ...(input.emergency ? { emergency: true } : {}) });
}
