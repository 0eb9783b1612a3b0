/**
 * Alerts: what keyctl tells people through the channels of the `alerts:` config (docs/alerts.md). An Alert is built
 * from refs, fingerprints, codes and a one-line summary only: like the typed events it comes from
 * (src/events/types.ts), it never carries a secret, and the dispatcher refuses one that does (ALERT_SECRET_LEAK).
 */

/**
 * Every alert's event name. Dotted, and stable: a webhook receiver routes on them. `alert.test` is what
 * `AlertDispatcher.test()` sends; `alert.suppressed` is the one notice a channel gets after its rate limit dropped
 * alerts.
 */
export const ALERT_EVENTS = [
  'violation.found',
  'violation.resolved',
  'key.rejected',
  'rotation.failed',
  'rotation.stuck',
  'key.expiring',
  'kill.done',
  'offboard.done',
  'audit.broken',
  'store.unreachable',
  'leadership.lost',
  'alert.test',
  'alert.suppressed',
  'config.invalid',
  'review.ready',
] as const;

export type AlertEvent = (typeof ALERT_EVENTS)[number];

/** Severities, lowest first: a channel's `minSeverity` lets through its own level and those after it. */
export const SEVERITIES = ['info', 'warning', 'critical'] as const;

export type Severity = (typeof SEVERITIES)[number];

/** The severity each event has unless its emitter says otherwise (a resolution keeps its condition's severity). */
export const DEFAULT_SEVERITY: Readonly<Record<AlertEvent, Severity>> = {
  'violation.found': 'critical',
  'violation.resolved': 'critical',
  'key.rejected': 'critical',
  'rotation.failed': 'warning',
  'rotation.stuck': 'warning',
  'key.expiring': 'warning',
  'kill.done': 'critical',
  'offboard.done': 'warning',
  'audit.broken': 'critical',
  'store.unreachable': 'critical',
  'leadership.lost': 'warning',
  'alert.test': 'info',
  'alert.suppressed': 'warning',
  'config.invalid': 'warning',
  // Warning, not info: a channel's default minSeverity (warning) lets the review through; PagerDuty takes it as a notice.
  'review.ready': 'warning',
};

export interface Alert {
  event: AlertEvent;
  severity: Severity;
  /** Slot or account ref (`alpha/arb1`, `@bybit-main`) the alert concerns, when there is one. */
  ref?: string;
  /** Fingerprint of the key concerned (short SHA-256 of its apiKey); null when no key could be read. */
  fingerprint?: string | null;
  /** Violation or error codes (`WITHDRAW_ENABLED`, `STORE_UNAVAILABLE`); empty when there are none. */
  codes: string[];
  /** One line for a person: what happened and what to look at. No secrets, no URLs with tokens. */
  summary: string;
  /** ISO-8601 time of the condition (the emitter's clock). */
  time: string;
  /**
   * The same for every alert about one condition, so a resolution closes what the trigger opened (PagerDuty's
   * dedup_key) and a receiver can fold repeats. Build it with {@link conditionKey}.
   */
  dedupKey: string;
  /** True when the condition is over: PagerDuty gets `resolve`, the others a "resolved" message. */
  resolved?: boolean;
}

/** Rank of a severity: info 0, warning 1, critical 2. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** Whether `severity` is at least `min`. */
export function atLeast(severity: Severity, min: Severity): boolean {
  return severityRank(severity) >= severityRank(min);
}

/**
 * The event whose channels also get this one's resolution: `violation.resolved` closes `violation.found`, so a
 * channel that asked for found violations hears when they are gone. Other events resolve under their own name with
 * `resolved: true` (`store.unreachable` when the store is back).
 */
export const RESOLVES: Readonly<Partial<Record<AlertEvent, AlertEvent>>> = { 'violation.resolved': 'violation.found' };

/** The event family a dedup key is built from: found and resolved violations are one condition. */
function family(event: AlertEvent): string {
  return event === 'violation.found' || event === 'violation.resolved' ? 'violation' : event;
}

/**
 * A stable key for one condition: `<family>:<ref>:<sorted codes>`, e.g. `violation:alpha/arb1:NOT_IP_LOCKED,WITHDRAW_ENABLED`.
 * Codes are sorted so the order an adapter reports them in does not open a second incident.
 */
export function conditionKey(event: AlertEvent, ref: string | undefined, codes: readonly string[] = []): string {
  return `${family(event)}:${ref ?? '-'}:${[...codes].sort().join(',')}`;
}

export interface AlertInput {
  event: AlertEvent;
  severity?: Severity;
  ref?: string;
  fingerprint?: string | null;
  codes?: string[];
  summary: string;
  /** Default: now. */
  time?: string;
  dedupKey?: string;
  resolved?: boolean;
}

/** An Alert with the defaults filled in: the event's severity, no codes, now, the condition key. */
export function makeAlert(input: AlertInput, now: () => number = Date.now): Alert {
  const codes = input.codes ?? [];
  return {
    event: input.event,
    severity: input.severity ?? DEFAULT_SEVERITY[input.event],
    ...(input.ref !== undefined ? { ref: input.ref } : {}),
    ...(input.fingerprint !== undefined ? { fingerprint: input.fingerprint } : {}),
    codes,
    summary: input.summary,
    time: input.time ?? new Date(now()).toISOString(),
    dedupKey: input.dedupKey ?? conditionKey(input.event, input.ref, codes),
    ...(input.resolved !== undefined ? { resolved: input.resolved } : {}),
  };
}

/**
 * The alert that closes `trigger`'s condition: same dedup key and severity (so the channels that got the trigger pass
 * it through their filters), `resolved: true`, and `violation.resolved` for a violation.
 */
export function resolutionOf(trigger: Alert, summary: string, time: string): Alert {
  return {
    ...trigger,
    event: trigger.event === 'violation.found' ? 'violation.resolved' : trigger.event,
    summary,
    time,
    resolved: true,
  };
}

export type ChannelType = 'webhook' | 'slack' | 'telegram' | 'pagerduty' | 'email';

/** What happened to one alert on one channel. */
export type AlertOutcome = 'sent' | 'failed' | 'filtered' | 'rate-limited';

export interface AlertResult {
  channel: string;
  /** The channel's type; absent when no such channel is configured. */
  type?: ChannelType;
  alert: Alert;
  outcome: AlertOutcome;
  /** Delivery attempts made (0 when filtered, rate-limited, or refused before sending). */
  attempts: number;
  /** Why it failed or was dropped: a code and a message with no secret in it. */
  error?: { code: string; message: string };
}
