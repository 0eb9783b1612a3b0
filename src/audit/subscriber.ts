/**
 * The audit log as an event subscriber: turns events into the entries the rotation engine and the commands wrote
 * directly before the event bus, field for field, so moving to events changes nothing in the log.
 *
 * Subscribe it durable (`bus.subscribe(auditSubscriber(log, actor), { durable: true })`): a step counts as done only
 * once its entry is written.
 */
import type { KeyctlEvent } from '../events/types.js';
import type { AuditInput, AuditLog } from './types.js';

/** The audit entry for an event, or null for events the audit log does not record. */
export function auditInputOf(event: KeyctlEvent): AuditInput | null {
  switch (event.type) {
    case 'rotation.started':
      return {
        command: 'rotate.start',
        ref: event.ref,
        outcome: 'ok',
        detail: { rotationId: event.rotationId, mode: event.mode, reason: event.reason },
      };
    case 'rotation.step':
      return stepInput(event);
    case 'key.swept':
      return {
        command: 'rotate.sweep',
        ref: event.ref,
        outcome: event.outcome,
        fingerprint: event.fingerprint,
        detail: { label: event.label, ...(event.outcome === 'failed' ? { error: event.error ?? 'INTERNAL' } : {}) },
      };
    case 'key.revoked':
      return {
        command: 'revoke',
        ref: event.ref,
        outcome: event.outcome,
        fingerprint: event.fingerprint,
        detail: { reason: event.reason, ...(event.outcome === 'failed' ? { error: event.error ?? 'INTERNAL' } : {}) },
      };
    case 'verification.result':
      return {
        command: 'verify',
        ref: event.ref,
        ...(event.fingerprint ? { fingerprint: event.fingerprint } : {}),
        outcome: event.outcome === 'error' ? 'failed' : event.outcome === 'violation' ? 'refused' : 'ok',
        detail: { violations: event.violations.join(','), ...(event.outcome === 'error' ? { error: event.error ?? 'INTERNAL' } : {}) },
      };
    case 'key.imported':
      return importInput(event);
    case 'kill.drill':
      return {
        command: 'kill.drill',
        outcome: 'ok',
        detail: {
          bots: event.all ? '*' : event.bots.join(','),
          reason: event.reason,
          orders: event.orders,
          positions: event.positions,
          keys: event.keys,
        },
      };
    case 'kill.trading':
      return {
        command: 'kill.trading',
        ref: event.ref,
        outcome: event.problems.length > 0 ? 'failed' : 'ok',
        detail: {
          ordersFound: event.ordersFound,
          cancelled: event.cancelled,
          positionsFound: event.positionsFound,
          closed: event.closed,
          problems: event.problems.join(','),
          ...(event.skipped ? { skipped: event.skipped } : {}),
        },
      };
    case 'kill.stop':
      return {
        command: 'kill.stop',
        ref: event.ref,
        outcome: event.outcome,
        detail: { stopped: event.stopped, exited: event.exited, told: event.told, unconfirmed: event.unconfirmed },
      };
    case 'kill.read-only':
      return {
        command: 'kill.read-only',
        ref: event.ref,
        fingerprint: event.fingerprint,
        outcome: event.outcome,
        detail: event.outcome === 'ok' ? { state: event.state ?? 'read-only' } : { error: event.error ?? 'INTERNAL' },
      };
    case 'slot.pause':
      return { command: event.action === 'paused' ? 'pause' : 'resume', ref: event.ref, outcome: 'ok', detail: { reason: event.reason } };
    case 'alert.delivery':
      return {
        command: 'alert',
        ...(event.ref ? { ref: event.ref } : {}),
        outcome: 'failed',
        detail: { channel: event.channel, event: event.event, outcome: event.outcome, error: event.error ?? 'INTERNAL' },
      };
    case 'alert.secret':
      return {
        command: 'alert secret',
        outcome: 'ok',
        fingerprint: event.fingerprint,
        detail: { path: event.path, replaced: event.replaced },
      };
    case 'kill':
      // The kill as a whole (its steps are entries of their own): what `status` reads as a bot's last kill.
      return {
        command: 'kill',
        outcome: event.failed ? 'failed' : 'ok',
        detail: { bots: event.all ? '*' : event.bots.join(','), reason: event.reason, revoked: event.revoked, failed: event.failed },
      };
    case 'rotation.stuck':
      return {
        command: 'rotate.stuck',
        ref: event.ref,
        outcome: 'failed',
        detail: { rotationId: event.rotationId, step: event.step, since: event.since },
      };
    case 'offboard':
      return {
        command: 'offboard',
        outcome: event.failed ? 'failed' : 'ok',
        detail: { staff: event.staff, rotated: event.rotated, failed: event.failed, masterKeys: event.masterKeys.join(',') },
      };
    case 'lease.gained':
      // A lease taken from another holder (a kill breaking a rotation's lease, a dead holder replaced) is audited:
      // it is the moment one process's work was cut off by another's.
      if (!event.tookOver) return null;
      return {
        command: 'lease.takeover',
        ...(event.ref ? { ref: event.ref } : {}),
        outcome: 'ok',
        detail: { name: event.name, previousOwner: event.previousOwner ?? null, fence: event.fence },
      };
    case 'attestation':
      // The claimed name is `by`; the entry's actor is who ran the command (they may differ, and both are kept).
      return {
        command: 'attest',
        outcome: 'ok',
        detail: { item: event.item, bot: event.bot, by: event.by, note: event.note ?? null },
      };
    case 'alert.test':
      return {
        command: 'alert test',
        outcome: event.outcome === 'sent' ? 'ok' : 'failed',
        detail: { channel: event.channel, ...(event.outcome === 'failed' ? { error: event.error ?? 'INTERNAL' } : {}) },
      };
    case 'due.run':
      return {
        command: 'due.run',
        outcome: event.failed > 0 ? 'failed' : 'ok',
        detail: { runner: event.runner, due: event.due, failed: event.failed },
      };
    case 'checklist.verdict':
      return {
        command: 'checklist',
        outcome: event.passed ? 'ok' : 'refused',
        detail: { bot: event.bot, failing: event.failing.join(',') },
      };
    // Outcomes and signals, not steps: what they say is already in the entries of the steps that led to them.
    case 'rotation.done':
    case 'rotation.failed':
    case 'violation':
    case 'lease.lost':
      return null;
    default:
      return unmapped(event);
  }
}

/**
 * A durable event handler that appends each event's entry (see {@link auditInputOf}) as `actor`. Its promise
 * rejects when the append fails, which makes the bus's `emit` reject.
 */
export function auditSubscriber(log: Pick<AuditLog, 'append'>, actor: string): (event: KeyctlEvent) => Promise<void> {
  return async (event) => {
    const input = auditInputOf(event);
    if (input) await log.append({ ...input, actor });
  };
}

function importInput(e: Extract<KeyctlEvent, { type: 'key.imported' }>): AuditInput {
  const base = { command: 'key import', ref: e.ref, fingerprint: e.fingerprint };
  switch (e.outcome) {
    case 'refused':
      return { ...base, outcome: 'refused', detail: { violations: e.violations.join(',') } };
    case 'failed':
      return { ...base, outcome: 'failed', detail: { error: e.error ?? 'unknown' } };
    case 'ok':
      return {
        ...base,
        outcome: 'ok',
        detail: {
          version: e.version ?? null,
          replaced: e.replaced ?? null,
          ...(e.violations.length ? { acceptedViolations: e.violations.join(',') } : {}),
        },
      };
    default:
      return unmapped(e.outcome);
  }
}

function stepInput(e: Extract<KeyctlEvent, { type: 'rotation.step' }>): AuditInput {
  // The engine passed possibly-undefined fingerprints; the log leaves an undefined one out, and so does this.
  const base = { ref: e.ref, ...(e.fingerprint !== undefined ? { fingerprint: e.fingerprint } : {}) };
  switch (e.step) {
    case 'created':
      return { command: 'rotate.create', ...base, outcome: 'ok', detail: { rotationId: e.rotationId, version: e.version ?? null } };
    case 'tested':
      return e.outcome === 'refused'
        ? {
            command: 'rotate.test',
            ...base,
            outcome: 'refused',
            detail: { rotationId: e.rotationId, violations: (e.violations ?? []).join(',') },
          }
        : { command: 'rotate.test', ...base, outcome: 'ok', detail: { rotationId: e.rotationId } };
    case 'promoted':
      return {
        command: 'rotate.promote',
        ...base,
        outcome: 'ok',
        detail: { rotationId: e.rotationId, previous: e.previous ?? null, revokeAfter: e.revokeAfter ?? null },
      };
    case 'revoked-previous':
      return { command: 'rotate.revoke', ...base, outcome: 'ok', detail: { rotationId: e.rotationId } };
    case 'discarded':
      return { command: 'rotate.discard', ...base, outcome: 'ok', detail: { version: e.version ?? null, why: e.why ?? null } };
    default:
      return unmapped(e.step);
  }
}

/** Compile-time exhaustiveness: a new event type or step does not compile until it is mapped above. */
function unmapped(value: never): never {
  throw new TypeError(`No audit mapping for ${JSON.stringify(value)}`);
}
