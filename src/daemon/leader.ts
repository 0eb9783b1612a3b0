/**
 * Leader election for daemons that share a store: the one holding the coordination store's `daemon/leader` lease acts,
 * the others stand by. The lease's expiry is judged on the store's clock and every change of holder raises its fence
 * (providers/coordination.ts), so a leader that stalled past its lease cannot act on: its renewal fails, and it stands
 * down before its next cycle. A SIGKILLed leader's lease simply expires; a standby takes it over within one TTL.
 */
import type { CoordinationStore, Lease } from '../../providers/coordination.js';
import { KeyctlError } from '@keyctl/client/errors';

export const LEADER_LEASE = 'daemon/leader';

export interface LeadershipOptions {
  /** Who this daemon is (host:pid), shown to the others while it leads. */
  owner: string;
  /** How long the lease lasts without renewal (the failover time after a SIGKILL). */
  ttlMs: number;
}

export interface LeadershipStep {
  leader: boolean;
  /** This process led before the step and does not now. */
  lost: boolean;
  /** This process took the lead in this step. */
  gained: boolean;
  /** The lease taken over from a leader that stopped renewing (its work is resumed from the journals). */
  previousOwner?: string;
  /** Why the lead was lost, when it was, and the fence of the lease lost. */
  reason?: string;
  lostFence?: number;
}

export class Leadership {
  private held: Lease | undefined;

  constructor(
    private readonly coordination: CoordinationStore,
    private readonly options: LeadershipOptions,
  ) {}

  get lease(): Lease | undefined {
    return this.held;
  }

  /**
   * Takes the lease, or renews it while held. Another holder: standby. A store that cannot be asked: standby too (the
   * lease may already have lapsed by the store's clock, so acting on would be a guess); the error is returned to log.
   */
  async step(): Promise<LeadershipStep & { error?: KeyctlError }> {
    const was = this.held;
    try {
      this.held = was
        ? await this.coordination.renew(was, this.options.ttlMs)
        : await this.coordination.acquire(LEADER_LEASE, this.options.owner, this.options.ttlMs);
    } catch (err) {
      if (!(err instanceof KeyctlError)) throw err;
      if (err.code !== 'LOCKED' && err.code !== 'FENCED') {
        // Unknown whether the lease still holds: do not act this tick, but keep it, so the next renewal (if the
        // store is back within the TTL) carries on without waiting out our own lease.
        return { leader: false, lost: false, gained: false, error: err };
      }
      this.held = undefined;
      return { leader: false, lost: was !== undefined, gained: false, ...(was ? { reason: err.code, lostFence: was.fence } : {}) };
    }
    const taken = this.held;
    return {
      leader: true,
      lost: false,
      gained: was === undefined,
      ...(was === undefined && taken.tookOver && taken.previousOwner ? { previousOwner: taken.previousOwner } : {}),
    };
  }

  /** Gives the lead up (on SIGTERM), so a standby takes over at once instead of after the TTL. */
  async release(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    if (held) await this.coordination.release(held).catch(() => undefined);
  }
}
