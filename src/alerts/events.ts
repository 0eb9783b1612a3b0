/**
 * From the engine's typed events (src/events/types.ts) to alerts: the ones an event alone decides. Conditions that
 * need memory (a violation now resolved, a rotation pending too long, the store unreachable for a while, the audit
 * chain broken) are raised by the daemon, which keeps the open conditions in the coordination store, with
 * `makeAlert` / `resolutionOf`.
 *
 *   bus.subscribe((event) => {
 *     const alert = alertFromEvent(event, { leaderLease: 'daemon/leader' });
 *     if (alert) return dispatcher.send(alert).then(() => undefined);
 *   });
 *
 * The subscriber is not durable: the bus runs it detached, so a slow or failing channel never holds the engine.
 */
import type { KeyctlEvent } from '../events/types.js';
import { conditionKey, makeAlert, type Alert } from './types.js';

export interface FromEventOptions {
  /** Name of the daemon's leadership lease: losing it is `leadership.lost`. Other leases (rotations) raise nothing. */
  leaderLease?: string;
}

/** The alert an event raises on its own, or undefined. */
export function alertFromEvent(event: KeyctlEvent, options: FromEventOptions = {}): Alert | undefined {
  const at = () => Date.parse(event.time);
  switch (event.type) {
    case 'violation': {
      const codes = [...event.codes];
      const key = event.fingerprint ? `key ${event.fingerprint}` : 'the key';
      // A key the exchange refuses and a key about to expire are their own events: different runbooks.
      if (codes.includes('KEY_REJECTED')) {
        return makeAlert(
          {
            event: 'key.rejected',
            ref: event.ref,
            fingerprint: event.fingerprint,
            codes,
            summary: `The exchange rejects ${key} of ${event.ref} (found by ${event.source}).`,
            time: event.time,
          },
          at,
        );
      }
      if (codes.length > 0 && codes.every((c) => c === 'EXPIRING')) {
        return makeAlert(
          {
            event: 'key.expiring',
            ref: event.ref,
            fingerprint: event.fingerprint,
            codes,
            summary: `${capital(key)} of ${event.ref} expires soon: rotate it.`,
            time: event.time,
          },
          at,
        );
      }
      // Each unaccepted unverifiable check is its own condition (`UNVERIFIABLE:ip-lock`): a new gap alerts again, the
      // same gap found again does not (the daemon's open conditions are keyed by dedupKey).
      const gaps = (event.unverifiable ?? []).map((c) => `UNVERIFIABLE:${c}`);
      return makeAlert(
        {
          event: 'violation.found',
          ref: event.ref,
          fingerprint: event.fingerprint,
          codes,
          summary: `${capital(key)} of ${event.ref} breaks the key policy: ${codes.join(', ')}${
            gaps.length > 0 ? ` (cannot verify: ${event.unverifiable!.join(', ')}; accept it in accounts.<name>.accept or fix it)` : ''
          } (found by ${event.source}).`,
          time: event.time,
          ...(gaps.length > 0
            ? { dedupKey: conditionKey('violation.found', event.ref, [...codes.filter((c) => c !== 'UNVERIFIABLE'), ...gaps]) }
            : {}),
        },
        at,
      );
    }
    case 'rotation.failed':
      return makeAlert(
        {
          event: 'rotation.failed',
          ref: event.ref,
          codes: [event.code],
          summary: `Rotation of ${event.ref} stopped (${event.code}): ${event.message} Nothing was lost; re-running it is safe.`,
          time: event.time,
        },
        at,
      );
    case 'rotation.stuck':
      return makeAlert(
        {
          event: 'rotation.stuck',
          ref: event.ref,
          codes: [`STEP_${event.step.toUpperCase()}`],
          summary:
            `Rotation ${event.rotationId} of ${event.ref} has been unfinished (step ${event.step}) since ${event.since}. ` +
            `Run \`keyctl rotate ${event.ref}\` to see why; \`keyctl status\` shows the slot.`,
          // One incident per rotation: a later one that sticks again is a new one.
          dedupKey: `rotation.stuck:${event.ref}:${event.rotationId}`,
          time: event.time,
        },
        at,
      );
    case 'kill':
      return makeAlert(
        {
          event: 'kill.done',
          codes: event.failed > 0 ? ['KILL_INCOMPLETE'] : [],
          summary:
            `Kill of ${event.all ? 'every bot' : event.bots.join(', ')}: ${event.revoked} key${event.revoked === 1 ? '' : 's'} revoked` +
            `${event.failed > 0 ? `, ${event.failed} NOT revoked (still alive)` : ''}. Reason: ${event.reason}`,
          // Each kill is its own incident, never folded into an earlier one.
          dedupKey: `kill.done:${event.time}`,
          time: event.time,
        },
        at,
      );
    case 'offboard':
      return makeAlert(
        {
          event: 'offboard.done',
          codes: event.failed > 0 ? ['OFFBOARD_INCOMPLETE'] : [],
          summary:
            `Offboarded ${event.staff}: ${event.rotated} slot${event.rotated === 1 ? '' : 's'} rotated${event.failed > 0 ? `, ${event.failed} not finished` : ''}` +
            `${event.masterKeys.length > 0 ? `; rotate by hand: ${event.masterKeys.join(', ')}` : ''}.`,
          dedupKey: `offboard.done:${event.staff}:${event.time}`,
          time: event.time,
        },
        at,
      );
    case 'lease.lost':
      if (options.leaderLease === undefined || event.name !== options.leaderLease) return undefined;
      return makeAlert(
        {
          event: 'leadership.lost',
          codes: [event.code],
          summary: `${event.owner} lost the lease ${event.name} (${event.code}); another instance leads now.`,
          time: event.time,
        },
        at,
      );
    default:
      return undefined;
  }
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
