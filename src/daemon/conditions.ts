/**
 * Alerts for conditions, not for cycles: one alert when a condition opens (a key found dangerous, a rotation that
 * stopped), one when it resolves, nothing while it stays as it was. The open conditions live in the coordination
 * store (`alerts/<ref>/<family>`), so a daemon that takes over from a dead leader neither repeats an alert nor drops a
 * resolution. Events that are incidents of their own (a kill, an offboarding, a lost lead) are sent as they come.
 *
 * Subscribed to the bus non-durably: a slow or failing channel never holds the engine.
 */
import type { CoordinationStore, CoordinationRecord } from '../../providers/coordination.js';
import { alertFromEvent, resolutionOf, type Alert } from '../alerts/index.js';
import type { EventBus } from '../events/bus.js';
import type { KeyctlEvent, Logger } from '../events/types.js';
import { KeyctlError } from '@keyctl/client/errors';
import { LEADER_LEASE } from './leader.js';

export interface AlertSink {
  send(alert: Alert): Promise<unknown>;
}

interface OpenCondition {
  [key: string]: string | null;
  dedupKey: string;
  alert: string;
}

export class AlertConditions {
  constructor(
    private readonly coordination: CoordinationStore,
    private readonly sink: AlertSink,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Subscribes to the bus; returns the unsubscribe. */
  attach(bus: Pick<EventBus, 'subscribe'>): () => void {
    return bus.subscribe((event) => this.onEvent(event));
  }

  async onEvent(event: KeyctlEvent): Promise<void> {
    switch (event.type) {
      case 'verification.result':
        if (event.outcome === 'ok')
          await this.resolve(
            event.ref,
            'violation',
            `Key ${event.fingerprint ?? ''} of ${event.ref} passes the key policy again.`,
            event.time,
          );
        return;
      case 'rotation.done':
        // A finished rotation closes a stopped one (no alert: the replacement speaks for itself in the audit log),
        // and resolves a stuck one (whoever was paged for it hears that it is over).
        await this.close(event.ref, 'rotation');
        if (event.status !== 'nothing-to-do')
          await this.resolve(event.ref, 'stuck', `The rotation of ${event.ref} finished (${event.status}).`, event.time);
        return;
      case 'rotation.stuck': {
        const alert = alertFromEvent(event, { leaderLease: LEADER_LEASE });
        if (alert) await this.open(event.ref, 'stuck', alert);
        return;
      }
      case 'violation':
      case 'rotation.failed': {
        const alert = alertFromEvent(event, { leaderLease: LEADER_LEASE });
        if (alert) await this.open(event.ref, event.type === 'violation' ? 'violation' : 'rotation', alert);
        return;
      }
      default: {
        const alert = alertFromEvent(event, { leaderLease: LEADER_LEASE });
        if (alert) await this.sink.send(alert);
      }
    }
  }

  /** Sends `alert` unless the same condition is already open; a changed condition (other codes) alerts again. */
  private async open(ref: string, family: string, alert: Alert): Promise<void> {
    const key = recordKey(ref, family);
    const existing = await this.read(key);
    if (existing?.value.dedupKey === alert.dedupKey) return;
    try {
      await this.coordination.write<OpenCondition>(
        key,
        { dedupKey: alert.dedupKey, alert: JSON.stringify(alert) },
        { expect: existing?.revision ?? null },
      );
    } catch (err) {
      // Another writer recorded it first: that one alerts.
      if (err instanceof KeyctlError && err.code === 'CONFLICT') return;
      throw err;
    }
    await this.sink.send(alert);
  }

  private async resolve(ref: string, family: string, summary: string, time: string): Promise<void> {
    const key = recordKey(ref, family);
    const existing = await this.read(key);
    if (!existing) return;
    await this.coordination.delete(key, { expect: existing.revision }).catch((err: unknown) => {
      if (err instanceof KeyctlError && err.code === 'CONFLICT') return;
      throw err;
    });
    const trigger = JSON.parse(existing.value.alert ?? '{}') as Alert;
    await this.sink.send(resolutionOf(trigger, summary, time || new Date(this.now()).toISOString()));
  }

  private async close(ref: string, family: string): Promise<void> {
    const key = recordKey(ref, family);
    const existing = await this.read(key);
    if (existing) await this.coordination.delete(key, { expect: existing.revision }).catch(() => undefined);
  }

  private async read(key: string): Promise<CoordinationRecord<OpenCondition> | null> {
    try {
      return await this.coordination.read<OpenCondition>(key);
    } catch (err) {
      // Unknown state: alert rather than stay silent (a repeat is better than a miss).
      this.logger.warn('open alert conditions could not be read', { key, error: err instanceof KeyctlError ? err.code : 'INTERNAL' });
      return null;
    }
  }
}

/** `alpha/arb1` -> `alerts/alpha/arb1/violation`; `@bybit-main` -> `alerts/accounts/bybit-main/violation`. */
function recordKey(ref: string, family: string): string {
  const where = ref.startsWith('@') ? `accounts/${ref.slice(1)}` : ref;
  return `alerts/${where}/${family}`;
}
