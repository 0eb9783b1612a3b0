/**
 * keyctl's Prometheus metrics: what the daemon serves on `/metrics`. Every metric lives in this instance's own
 * Registry, never prom-client's global one, so two daemons (or two tests) in one process never share a series, and a
 * library that registers on the global registry cannot change what keyctl exposes.
 *
 * Label values are refs (`alpha/arb1`, `@bybit-main`), codes, exchange ids, operation and channel names only: never
 * a fingerprint, a message or anything else an event carries. Each label value must also match its kind's grammar
 * (anything else is exposed as `invalid`), which bounds the number of series and keeps free text out of the output
 * even if a caller passes the wrong field.
 *
 * The metric names are a contract: deploy/prometheus/keyctl-alerts.yaml and deploy/grafana/keyctl-dashboard.json
 * use them, and test/unit/deploy-files.test.ts checks each name they use against this registry.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RotationDone, RotationFailed, VerificationResult } from '../events/types.js';
import type { EventHandler, SubscribeOptions } from '../events/bus.js';

export const ROTATION_OUTCOMES = ['rotated', 'failed', 'nothing-to-do', 'awaiting-grace', 'revoked-previous'] as const;
export type RotationOutcome = (typeof ROTATION_OUTCOMES)[number];

export const ALERT_OUTCOMES = ['sent', 'failed', 'rate-limited'] as const;
export type AlertOutcome = (typeof ALERT_OUTCOMES)[number];

/** The events the metrics follow. */
export const METRICS_EVENT_TYPES = ['verification.result', 'rotation.done', 'rotation.failed'] as const;
type MetricsEventType = (typeof METRICS_EVENT_TYPES)[number];
export type MetricsEvent = VerificationResult | RotationDone | RotationFailed;

/** What `attach` needs of a bus: src/events/bus.ts's EventBus has it. */
export interface Subscribable {
  subscribe<T extends MetricsEventType>(handler: EventHandler<T>, options?: SubscribeOptions<T>): () => void;
}

/** Last and next rotation of one ref, as ISO-8601 times; null when there is none (never rotated, not scheduled). */
export interface RotationSchedule {
  lastRotation: string | null;
  nextRotation: string | null;
}

export interface KeyctlMetricsOptions {
  /** keyctl's version, for keyctl_build_info. Default `unknown`. */
  version?: string;
  /** Also collect Node's process metrics (CPU, memory, event loop, GC) as `keyctl_process_*`. Default false. */
  defaultMetrics?: boolean;
  /** Clock (ms since the epoch) for the key age computed at each scrape. Default Date.now. */
  now?: () => number;
  /** Buckets (seconds) of keyctl_exchange_request_duration_seconds. */
  exchangeDurationBuckets?: number[];
}

/** The grammar each label kind must match. A ref is parseRef's (src/domain/refs.ts): `bot/sub` or `@account`. */
const LABEL_GRAMMAR = {
  ref: /^(?:@[a-z0-9][a-z0-9_-]{0,62}|[a-z0-9][a-z0-9_-]{0,62}\/[a-z0-9][a-z0-9_-]{0,62})$/,
  code: /^[A-Z][A-Z0-9_]{0,63}$/,
  exchange: /^[a-z][a-z0-9]{0,31}$/,
  operation: /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/,
  channel: /^[a-z0-9][a-z0-9_-]{0,62}$/,
} as const;
type LabelKind = keyof typeof LABEL_GRAMMAR;

/** What a label value out of its grammar is exposed as. */
export const INVALID_LABEL = 'invalid';

function label(kind: LabelKind, value: string): string {
  return LABEL_GRAMMAR[kind].test(value) ? value : INVALID_LABEL;
}

/** ISO-8601 time -> seconds since the epoch; undefined when it is not a time. */
function epochSeconds(iso: string | null | undefined): number | undefined {
  if (iso === null || iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

// Exchange calls go from tens of milliseconds to the retry-inclusive tail of a rate-limited exchange.
const DEFAULT_EXCHANGE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class KeyctlMetrics {
  /** This instance's registry: every keyctl_* metric and, when asked for, the keyctl_process_* ones. */
  readonly registry: Registry;
  /** The Content-Type of `metricsText()` (Prometheus text format 0.0.4). */
  readonly contentType: string;

  private readonly now: () => number;
  private readonly verificationTimestamp: Gauge<'ref'>;
  private readonly verificationOk: Gauge<'ref'>;
  private readonly violations: Gauge<'ref' | 'code'>;
  private readonly nextRotation: Gauge<'ref'>;
  private readonly rotations: Counter<'ref' | 'outcome'>;
  private readonly exchangeDuration: Histogram<'exchange' | 'operation'>;
  private readonly exchangeErrors: Counter<'exchange' | 'code'>;
  private readonly alerts: Counter<'channel' | 'outcome'>;
  private readonly leader: Gauge;
  /** Violation codes each ref's gauge holds now, so a new verification can remove the stale ones. */
  private readonly currentViolations = new Map<string, ReadonlySet<string>>();
  /** Last rotation (epoch seconds) per ref, read at each scrape for keyctl_key_age_seconds. */
  private readonly lastRotation = new Map<string, number>();
  /** Every ref that has (or had) a series, so `retainRefs` can find the ones to drop. */
  private readonly knownRefs = new Set<string>();
  private readonly knownChannels = new Set<string>();
  private isLeader = false;

  constructor(options: KeyctlMetricsOptions = {}) {
    this.registry = new Registry();
    this.contentType = this.registry.contentType;
    this.now = options.now ?? Date.now;
    const registers = [this.registry];
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'keyctl_process_' });

    this.verificationTimestamp = new Gauge({
      name: 'keyctl_verification_last_timestamp_seconds',
      help: 'When the key was last verified at its exchange (any outcome), in seconds since the epoch.',
      labelNames: ['ref'],
      registers,
    });
    this.verificationOk = new Gauge({
      name: 'keyctl_verification_ok',
      help: 'Whether the last verification of the key passed (1), or found violations or could not check it (0).',
      labelNames: ['ref'],
      registers,
    });
    this.violations = new Gauge({
      name: 'keyctl_violations',
      help: 'Violation codes the last verification that reached a verdict found on the key (1 per code present).',
      labelNames: ['ref', 'code'],
      registers,
    });
    const ages = this.lastRotation;
    const now = this.now;
    new Gauge({
      name: 'keyctl_key_age_seconds',
      help: 'Seconds since the key was last rotated (or imported), at scrape time.',
      labelNames: ['ref'],
      registers,
      collect() {
        this.reset();
        const at = now() / 1000;
        for (const [ref, last] of ages) this.set({ ref }, Math.max(0, at - last));
      },
    });
    this.nextRotation = new Gauge({
      name: 'keyctl_next_rotation_timestamp_seconds',
      help: 'When the key is next due for rotation, in seconds since the epoch.',
      labelNames: ['ref'],
      registers,
    });
    this.rotations = new Counter({
      name: 'keyctl_rotations_total',
      help: `Rotation runs by outcome (${ROTATION_OUTCOMES.join(', ')}).`,
      labelNames: ['ref', 'outcome'],
      registers,
    });
    this.exchangeDuration = new Histogram({
      name: 'keyctl_exchange_request_duration_seconds',
      help: 'Duration of calls to an exchange, retries included, by exchange and operation.',
      labelNames: ['exchange', 'operation'],
      buckets: options.exchangeDurationBuckets ?? DEFAULT_EXCHANGE_BUCKETS,
      registers,
    });
    this.exchangeErrors = new Counter({
      name: 'keyctl_exchange_errors_total',
      help: 'Failed calls to an exchange, by exchange and keyctl error code.',
      labelNames: ['exchange', 'code'],
      registers,
    });
    this.alerts = new Counter({
      name: 'keyctl_alerts_total',
      help: `Alert deliveries by channel and outcome (${ALERT_OUTCOMES.join(', ')}).`,
      labelNames: ['channel', 'outcome'],
      registers,
    });
    this.leader = new Gauge({
      name: 'keyctl_leader',
      help: 'Whether this daemon is the leader of its store (1) or a standby (0).',
      registers,
    });
    this.leader.set(0);
    new Gauge({ name: 'keyctl_up', help: 'Always 1 while keyctl serves metrics.', registers }).set(1);
    new Gauge({
      name: 'keyctl_build_info',
      help: 'keyctl version and Node.js version, as labels; the value is always 1.',
      labelNames: ['version', 'node'],
      registers,
    }).set({ version: options.version ?? 'unknown', node: process.versions.node }, 1);
  }

  /**
   * Follows `verification.result`, `rotation.done` and `rotation.failed` on the bus, as a non-durable subscriber (a
   * metrics failure never fails a step). Returns the function that stops following.
   */
  attach(bus: Subscribable): () => void {
    return bus.subscribe<MetricsEventType>((event) => this.record(event), { durable: false, types: METRICS_EVENT_TYPES });
  }

  /** Applies one event (what `attach` does for each event it receives). */
  record(event: MetricsEvent): void {
    switch (event.type) {
      case 'verification.result':
        this.recordVerification(event);
        break;
      case 'rotation.done':
        this.rotations.inc({ ref: this.ref(event.ref), outcome: event.status });
        break;
      case 'rotation.failed':
        this.rotations.inc({ ref: this.ref(event.ref), outcome: 'failed' });
        break;
    }
  }

  /**
   * The ref's last and next rotation, as the daemon's schedule knows them; a null (or unparseable) time removes that
   * series. Also starts the ref's rotation counters at 0, so that its first failure is an increase Prometheus can see
   * (a series born at 1 shows no `increase()`).
   */
  setSchedule(ref: string, schedule: RotationSchedule): void {
    const r = this.ref(ref);
    const last = epochSeconds(schedule.lastRotation);
    if (last === undefined) this.lastRotation.delete(r);
    else this.lastRotation.set(r, last);
    const next = epochSeconds(schedule.nextRotation);
    if (next === undefined) this.nextRotation.remove({ ref: r });
    else this.nextRotation.set({ ref: r }, next);
    for (const outcome of ROTATION_OUTCOMES) this.rotations.inc({ ref: r, outcome }, 0);
  }

  /** One call to an exchange: its duration, and its keyctl error code when it failed. */
  observeExchangeCall(exchange: string, operation: string, seconds: number, errorCode?: string): void {
    const ex = label('exchange', exchange);
    if (Number.isFinite(seconds) && seconds >= 0) {
      this.exchangeDuration.observe({ exchange: ex, operation: label('operation', operation) }, seconds);
    }
    if (errorCode !== undefined) this.exchangeErrors.inc({ exchange: ex, code: label('code', errorCode) });
  }

  /** One alert delivery attempt on a channel. */
  alertResult(channel: string, outcome: AlertOutcome): void {
    const c = this.declareChannel(channel);
    this.alerts.inc({ channel: c, outcome });
  }

  /**
   * Starts each channel's alert counters at 0 (call it with the configured channels at start and on reload), so the
   * first failed delivery is an increase Prometheus can see.
   */
  declareAlertChannels(channels: Iterable<string>): void {
    for (const channel of channels) this.declareChannel(channel);
  }

  /**
   * Whether this daemon leads. Losing the lead also drops every per-key gauge (verification, violations, schedule):
   * the new leader reports those from now on, and a violation this daemon saw last would otherwise stay exposed, and
   * alerting, after the new leader found the key fixed.
   */
  setLeader(leader: boolean): void {
    if (this.isLeader && !leader) this.clearKeyGauges();
    this.isLeader = leader;
    this.leader.set(leader ? 1 : 0);
  }

  /** Drops every series of the refs not in `refs` (slots removed from the config, after a reload). */
  retainRefs(refs: Iterable<string>): void {
    const keep = new Set([...refs].map((r) => label('ref', r)));
    for (const ref of [...this.knownRefs]) if (!keep.has(ref)) this.forgetRef(ref);
  }

  /** The exposition text (Prometheus text format) of every metric of this instance. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  /** Names of the metrics this instance registers (what the deploy files may use). */
  metricNames(): string[] {
    return this.registry.getMetricsAsArray().map((m) => m.name);
  }

  private recordVerification(event: VerificationResult): void {
    const ref = this.ref(event.ref);
    this.verificationTimestamp.set({ ref }, epochSeconds(event.time) ?? this.now() / 1000);
    this.verificationOk.set({ ref }, event.outcome === 'ok' ? 1 : 0);
    // An error checked nothing: the violations of the last verdict stay (verification_ok says the check failed),
    // so an exchange outage cannot silence the alert on a key known to be unsafe.
    if (event.outcome === 'error') return;
    const codes = new Set(event.outcome === 'violation' ? event.violations.map((c) => label('code', c)) : []);
    for (const stale of this.currentViolations.get(ref) ?? []) if (!codes.has(stale)) this.violations.remove({ ref, code: stale });
    for (const code of codes) this.violations.set({ ref, code }, 1);
    if (codes.size === 0) this.currentViolations.delete(ref);
    else this.currentViolations.set(ref, codes);
  }

  /** The label value of a ref, remembered as known. */
  private ref(ref: string): string {
    const r = label('ref', ref);
    this.knownRefs.add(r);
    return r;
  }

  private declareChannel(channel: string): string {
    const c = label('channel', channel);
    if (!this.knownChannels.has(c)) {
      this.knownChannels.add(c);
      for (const outcome of ALERT_OUTCOMES) this.alerts.inc({ channel: c, outcome }, 0);
    }
    return c;
  }

  private clearKeyGauges(): void {
    this.verificationTimestamp.reset();
    this.verificationOk.reset();
    this.violations.reset();
    this.currentViolations.clear();
    this.nextRotation.reset();
    this.lastRotation.clear();
  }

  private forgetRef(ref: string): void {
    this.verificationTimestamp.remove({ ref });
    this.verificationOk.remove({ ref });
    for (const code of this.currentViolations.get(ref) ?? []) this.violations.remove({ ref, code });
    this.currentViolations.delete(ref);
    this.nextRotation.remove({ ref });
    this.lastRotation.delete(ref);
    for (const outcome of ROTATION_OUTCOMES) this.rotations.remove({ ref, outcome });
    this.knownRefs.delete(ref);
  }
}
