/**
 * The alert dispatcher: routes each alert to the channels whose filters match, and delivers it to each concurrently,
 * with retries (exponential back-off with jitter), a timeout per attempt and a rate limit per channel. It never
 * throws and never blocks its caller for longer than the deliveries take: every outcome, failures included, comes
 * back as an AlertResult (and through `onResult`) for the caller to audit.
 *
 * No secret in any alert: before anything is sent, the alert is checked against every secret the dispatcher knows
 * of at that moment (the caller's `secretsNeverToSend` and the channel credentials it has just resolved, in their
 * plain and encoded forms, src/audit/redact.ts); an alert that holds one is refused on every channel
 * (ALERT_SECRET_LEAK) and nothing is sent. Error messages and results pass through the same masking.
 *
 * Credentials are resolved for each delivery through the injected `resolveSecret` (env:/store:), not cached: a
 * rotated Slack URL or SMTP password is picked up at the next alert, and no credential outlives its delivery here.
 */
import { randomUUID } from 'node:crypto';
import { Redactor } from '../audit/redact.js';
import { KeyctlError } from '@keyctl/client/errors';
import { emailSecretRefs, sendEmail } from './channels/email.js';
import { pagerdutySecretRefs, sendPagerDuty } from './channels/pagerduty.js';
import { sendSlack, slackSecretRefs } from './channels/slack.js';
import { sendTelegram, telegramSecretRefs } from './channels/telegram.js';
import { sendWebhook, webhookSecretRefs } from './channels/webhook.js';
import type { SendContext } from './context.js';
import { AlertCode, AlertError } from './errors.js';
import type { AlertsConfig, ChannelConfig } from './schema.js';
import { ALERT_EVENTS, atLeast, makeAlert, RESOLVES, SEVERITIES, type Alert, type AlertResult } from './types.js';

export interface DispatcherOptions {
  /** Resolves a credential reference (`env:NAME`, `store:path`) to its value; may throw. */
  resolveSecret: (ref: string) => Promise<string>;
  /** Clock, ms since the epoch (rate limit, signatures, test alerts). Default Date.now. */
  now?: () => number;
  /** Waits between attempts; resolves early (or rejects) when `signal` aborts. Default: a timer. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1). Default Math.random. */
  random?: () => number;
  /** Retries after the first attempt, for failures that may pass (network, timeout, 429, 5xx). Default 3. */
  retries?: number;
  /** First back-off; doubles at each retry. Default 1 s. */
  baseDelayMs?: number;
  /** Longest back-off, and the most a Retry-After is honoured. Default 30 s. */
  maxDelayMs?: number;
  /** Timeout of each attempt. Default 10 s. */
  timeoutMs?: number;
  /** Alerts per minute per channel (a token bucket holding as many); beyond it alerts are dropped. Default 20. */
  ratePerMinute?: number;
  /** Secret values the caller knows of (keys it handles): an alert holding one is never sent. */
  secretsNeverToSend?: readonly string[];
  /** Called with every result as it is known (a throw here is ignored). */
  onResult?: (result: AlertResult) => void;
  /** Directory relative file paths in channel settings (an e-mail `ca`) are read from. Default: the working directory. */
  baseDir?: string;
  /** Send the "alerts suppressed" notice on a timer once the rate limit allows (default true); else at the next alert or `flushSuppressed()`. */
  scheduleNotices?: boolean;
}

interface Channel {
  name: string;
  config: ChannelConfig;
  /** Token bucket: tokens left, and when it was last refilled. */
  tokens: number;
  refilledAt: number;
  /** Alerts dropped by the rate limit since the last notice. */
  suppressed: { count: number; since: string } | undefined;
  noticeTimer: NodeJS.Timeout | undefined;
}

type Delivery = Omit<AlertResult, 'alert' | 'channel' | 'type'>;

export class AlertDispatcher {
  private readonly channels = new Map<string, Channel>();
  private readonly resolveSecret: (ref: string) => Promise<string>;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly random: () => number;
  private readonly retries: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly timeoutMs: number;
  private readonly ratePerMinute: number;
  private readonly onResult: ((result: AlertResult) => void) | undefined;
  private readonly baseDir: string | undefined;
  private readonly scheduleNotices: boolean;
  /** Masks the caller's secretsNeverToSend; each delivery adds the credentials it resolved in a scope of its own. */
  private readonly redactor = new Redactor();
  private readonly closing = new AbortController();

  constructor(config: AlertsConfig, options: DispatcherOptions) {
    this.resolveSecret = options.resolveSecret;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? abortableSleep;
    this.random = options.random ?? Math.random;
    this.retries = Math.max(0, options.retries ?? 3);
    this.baseDelayMs = options.baseDelayMs ?? 1000;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.ratePerMinute = Math.max(1, options.ratePerMinute ?? 20);
    this.onResult = options.onResult;
    this.baseDir = options.baseDir;
    this.scheduleNotices = options.scheduleNotices ?? true;
    this.redactor.add(...(options.secretsNeverToSend ?? []));
    const at = this.now();
    for (const [name, channel] of Object.entries(config)) {
      this.channels.set(name, {
        name,
        config: channel,
        tokens: this.ratePerMinute,
        refilledAt: at,
        suppressed: undefined,
        noticeTimer: undefined,
      });
    }
  }

  /** The configured channel names. */
  get channelNames(): string[] {
    return [...this.channels.keys()];
  }

  /** Sends `alert` to every channel whose filters match; one result per channel. Never rejects. */
  async send(alert: Alert): Promise<AlertResult[]> {
    try {
      const problem = invalidAlert(alert);
      if (problem) {
        return this.report(
          [...this.channels.values()].map((c) =>
            this.result(c, alert, {
              outcome: 'failed',
              attempts: 0,
              error: { code: AlertCode.INTERNAL, message: `Not a valid alert: ${problem}.` },
            }),
          ),
        );
      }
      const filtered: AlertResult[] = [];
      const targets: Channel[] = [];
      for (const channel of this.channels.values()) {
        if (wants(channel.config, alert)) targets.push(channel);
        else filtered.push(this.result(channel, alert, { outcome: 'filtered', attempts: 0 }));
      }
      this.report(filtered);
      const admitted: Channel[] = [];
      const throttled: AlertResult[] = [];
      for (const channel of targets) {
        if (this.take(channel)) admitted.push(channel);
        else throttled.push(this.throttle(channel, alert));
      }
      this.report(throttled);
      const delivered = await this.deliver(alert, admitted);
      // A channel that dropped alerts, and has room again, hears how many: once, after what it was sent now.
      const notices = await Promise.all(admitted.filter((c) => c.suppressed && this.take(c)).map((c) => this.sendNotice(c)));
      return [...filtered, ...throttled, ...delivered, ...notices.flat()];
    } catch (err) {
      // Unreachable by design; still, an alert subscriber must not turn a bug of its own into the engine's failure.
      return this.report(
        [...this.channels.values()].map((c) =>
          this.result(c, alert, { outcome: 'failed', attempts: 0, error: { code: AlertCode.INTERNAL, message: describe(err) } }),
        ),
      );
    }
  }

  /**
   * Sends an `alert.test` to one channel (or all), whatever its filters and rate limit say: a person asked for it.
   * Never rejects; an unknown channel name gives a failed result.
   */
  async test(channelName?: string): Promise<AlertResult[]> {
    try {
      const names = channelName === undefined ? [...this.channels.keys()] : [channelName];
      const results = await Promise.all(
        names.map(async (name) => {
          const channel = this.channels.get(name);
          const alert = makeAlert(
            {
              event: 'alert.test',
              severity: 'info',
              summary: `Test alert from keyctl to channel "${name}": if you can read this, the channel works.`,
              dedupKey: `alert.test:${name}:${new Date(this.now()).toISOString()}`,
            },
            this.now,
          );
          if (!channel) {
            return this.report([
              {
                channel: name,
                alert,
                outcome: 'failed' as const,
                attempts: 0,
                error: {
                  code: AlertCode.UNKNOWN_CHANNEL,
                  message: `No alert channel "${name}" in the config (channels: ${this.channelNames.join(', ') || 'none'}).`,
                },
              },
            ]);
          }
          return this.deliver(alert, [channel]);
        }),
      );
      return results.flat();
    } catch (err) {
      return [
        {
          channel: channelName ?? '*',
          alert: makeAlert({ event: 'alert.test', summary: 'test' }, this.now),
          outcome: 'failed',
          attempts: 0,
          error: { code: AlertCode.INTERNAL, message: describe(err) },
        },
      ];
    }
  }

  /** Sends the pending "alerts suppressed" notice of every channel whose rate limit has room again. */
  async flushSuppressed(): Promise<AlertResult[]> {
    const ready = [...this.channels.values()].filter((c) => c.suppressed && this.take(c));
    const results = (await Promise.all(ready.map((c) => this.sendNotice(c)))).flat();
    for (const c of this.channels.values()) if (c.suppressed) this.planNotice(c);
    return results;
  }

  /** Cancels deliveries in progress (they end as failed) and pending notice timers. */
  close(): void {
    this.closing.abort();
    for (const c of this.channels.values()) {
      if (c.noticeTimer) clearTimeout(c.noticeTimer);
      c.noticeTimer = undefined;
    }
  }

  // ---- delivery ----

  /** Resolves the channels' credentials, checks the alert against every known secret, then delivers concurrently. */
  private async deliver(alert: Alert, channels: Channel[]): Promise<AlertResult[]> {
    if (channels.length === 0) return [];
    const scope = this.redactor.scope();
    try {
      const resolved = await Promise.all(channels.map((c) => this.resolve(c)));
      for (const r of resolved) if (r.secrets) scope.add(...r.secrets.values());
      const leak = leaks(alert, scope);
      // Each result is reported as soon as it is known: a slow channel does not delay the audit of a fast one.
      return await Promise.all(
        resolved.map(async ({ channel, secrets, error }): Promise<AlertResult> => {
          let delivery: Delivery;
          if (error || !secrets) delivery = { outcome: 'failed', attempts: 0, error: error ?? internal() };
          else if (leak) {
            const message = `Refused to send ${alert.event}${alert.ref ? ` for ${alert.ref}` : ''}: the alert holds a secret value (${leak}). Nothing was sent.`;
            delivery = { outcome: 'failed', attempts: 0, error: { code: AlertCode.SECRET_LEAK, message } };
          } else delivery = await this.attempts(channel, alert, secrets, scope);
          return this.report([this.result(channel, alert, delivery, scope)])[0]!;
        }),
      );
    } finally {
      scope.dispose();
    }
  }

  /** The channel's credential references, resolved; or why not (the resolver's message is not copied). */
  private async resolve(
    channel: Channel,
  ): Promise<{ channel: Channel; secrets?: Map<string, string>; error?: { code: string; message: string } }> {
    const secrets = new Map<string, string>();
    for (const ref of secretRefs(channel.config)) {
      try {
        const value = await this.resolveSecret(ref);
        if (typeof value !== 'string' || value.length === 0) throw new Error('empty');
        secrets.set(ref, value);
      } catch (err) {
        const code = err instanceof KeyctlError ? ` (${err.code})` : '';
        return {
          channel,
          error: {
            code: AlertCode.SECRET_UNRESOLVED,
            message: `Channel "${channel.name}": could not resolve ${ref}${code}; nothing was sent.`,
          },
        };
      }
    }
    return { channel, secrets };
  }

  /** Attempts until success, a failure that will not pass, or the retries are spent. */
  private async attempts(channel: Channel, alert: Alert, secrets: Map<string, string>, scope: Redactor): Promise<Delivery> {
    const deliveryId = randomUUID();
    for (let attempt = 1; ; attempt++) {
      const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(this.timeoutMs)]);
      const ctx: SendContext = {
        channel: channel.name,
        secrets,
        signal,
        timeoutMs: this.timeoutMs,
        now: this.now,
        deliveryId,
        scrub: (text) => scope.apply(text),
      };
      let error: AlertError;
      try {
        await this.sendOn(channel.config, alert, ctx);
        return { outcome: 'sent', attempts: attempt };
      } catch (err) {
        error = err instanceof AlertError ? err : new AlertError(AlertCode.INTERNAL, describe(err));
      }
      if (!error.retryable || attempt > this.retries || this.closing.signal.aborted) {
        return { outcome: 'failed', attempts: attempt, error: { code: error.code, message: error.message } };
      }
      try {
        await this.sleep(this.backoff(attempt, error.retryAfterMs), this.closing.signal);
      } catch {
        // Closing: the next check ends the loop.
      }
    }
  }

  private sendOn(config: ChannelConfig, alert: Alert, ctx: SendContext): Promise<void> {
    switch (config.type) {
      case 'webhook':
        return sendWebhook(config, alert, ctx);
      case 'slack':
        return sendSlack(config, alert, ctx);
      case 'telegram':
        return sendTelegram(config, alert, ctx);
      case 'pagerduty':
        return sendPagerDuty(config, alert, ctx);
      case 'email':
        return sendEmail(config, alert, ctx, this.baseDir === undefined ? {} : { baseDir: this.baseDir });
    }
  }

  /** Back-off before retry `attempt` (1-based): base * 2^(attempt-1), capped, the upper half jittered; at least what the service asked for. */
  private backoff(attempt: number, retryAfterMs: number | undefined): number {
    const exp = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    const jittered = exp / 2 + this.random() * (exp / 2);
    return Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, this.maxDelayMs)));
  }

  // ---- rate limit ----

  /** Takes a token from the channel's bucket; false when it is empty. */
  private take(channel: Channel): boolean {
    const now = this.now();
    const elapsed = Math.max(0, now - channel.refilledAt);
    channel.tokens = Math.min(this.ratePerMinute, channel.tokens + (elapsed * this.ratePerMinute) / 60_000);
    channel.refilledAt = now;
    if (channel.tokens < 1) return false;
    channel.tokens -= 1;
    return true;
  }

  private throttle(channel: Channel, alert: Alert): AlertResult {
    channel.suppressed ??= { count: 0, since: new Date(this.now()).toISOString() };
    channel.suppressed.count++;
    this.planNotice(channel);
    return this.result(channel, alert, {
      outcome: 'rate-limited',
      attempts: 0,
      error: {
        code: AlertCode.THROTTLED,
        message: `Channel "${channel.name}" is over its rate limit (${this.ratePerMinute}/min): ${alert.event} dropped; one notice will say how many were.`,
      },
    });
  }

  /** Arms a timer for when the bucket will hold a token again, to send the notice even if no alert comes. */
  private planNotice(channel: Channel): void {
    if (!this.scheduleNotices || channel.noticeTimer || this.closing.signal.aborted) return;
    const wait = Math.ceil(((1 - channel.tokens) * 60_000) / this.ratePerMinute) + 50;
    channel.noticeTimer = setTimeout(() => {
      channel.noticeTimer = undefined;
      this.flushSuppressed().catch(() => undefined);
    }, wait);
    channel.noticeTimer.unref();
  }

  /** The one "alerts suppressed" notice for what the channel dropped (the caller holds a token for it). */
  private async sendNotice(channel: Channel): Promise<AlertResult[]> {
    const dropped = channel.suppressed;
    if (!dropped) return [];
    channel.suppressed = undefined;
    if (channel.noticeTimer) clearTimeout(channel.noticeTimer);
    channel.noticeTimer = undefined;
    const notice = makeAlert(
      {
        event: 'alert.suppressed',
        severity: 'warning',
        codes: [AlertCode.THROTTLED],
        summary:
          `${dropped.count} alert${dropped.count === 1 ? ' was' : 's were'} not sent to channel "${channel.name}" since ${dropped.since}: ` +
          `over its rate limit of ${this.ratePerMinute}/min. Each is in keyctl's audit log.`,
        dedupKey: `alert.suppressed:${channel.name}:${dropped.since}`,
      },
      this.now,
    );
    return this.deliver(notice, [channel]);
  }

  // ---- results ----

  private result(channel: Channel, alert: Alert, delivery: Delivery, scope: Redactor = this.redactor): AlertResult {
    const error = delivery.error ? { code: delivery.error.code, message: scope.apply(delivery.error.message) } : undefined;
    return {
      channel: channel.name,
      type: channel.config.type,
      alert: scrubAlert(alert, scope),
      outcome: delivery.outcome,
      attempts: delivery.attempts,
      ...(error ? { error } : {}),
    };
  }

  private report(results: AlertResult[]): AlertResult[] {
    if (this.onResult) {
      for (const r of results) {
        try {
          this.onResult(r);
        } catch {
          // The caller's audit hook failing must not stop the other results, nor reach the engine.
        }
      }
    }
    return results;
  }
}

/** The references a channel's settings hold. */
export function secretRefs(config: ChannelConfig): string[] {
  switch (config.type) {
    case 'webhook':
      return webhookSecretRefs(config);
    case 'slack':
      return slackSecretRefs(config);
    case 'telegram':
      return telegramSecretRefs(config);
    case 'pagerduty':
      return pagerdutySecretRefs(config);
    case 'email':
      return emailSecretRefs(config);
  }
}

/**
 * Whether the channel wants the alert: its event (or, for a resolution, the event it resolves) is in the channel's
 * list, and its severity is at least the channel's minimum. A resolution carries its condition's severity, so it
 * reaches exactly the channels its trigger reached.
 */
export function wants(config: ChannelConfig, alert: Alert): boolean {
  const resolves = alert.resolved ? RESOLVES[alert.event] : undefined;
  const listed = config.events.includes(alert.event) || (resolves !== undefined && config.events.includes(resolves));
  return listed && atLeast(alert.severity, config.minSeverity);
}

/** Which field of the alert holds a secret the scope masks, or undefined. Each string is checked raw and as JSON. */
function leaks(alert: Alert, scope: Redactor): string | undefined {
  const fields: Array<[string, string | undefined | null]> = [
    ['summary', alert.summary],
    ['ref', alert.ref],
    ['fingerprint', alert.fingerprint],
    ...alert.codes.map((c, i): [string, string] => [`codes[${i}]`, c]),
    ['dedupKey', alert.dedupKey],
    ['time', alert.time],
  ];
  for (const [name, value] of fields) if (typeof value === 'string' && scope.apply(value) !== value) return `in ${name}`;
  const json = JSON.stringify(alert);
  return scope.apply(json) !== json ? 'in its serialized form' : undefined;
}

/** The alert with every secret the scope knows masked (the same object when there is none). */
function scrubAlert(alert: Alert, scope: Redactor): Alert {
  try {
    const json = JSON.stringify(alert);
    if (scope.apply(json) === json) return alert;
    const mask = (s: string): string => scope.apply(s);
    return {
      ...alert,
      summary: mask(alert.summary),
      codes: alert.codes.map(mask),
      dedupKey: mask(alert.dedupKey),
      time: mask(alert.time),
      ...(alert.ref !== undefined ? { ref: mask(alert.ref) } : {}),
      ...(typeof alert.fingerprint === 'string' ? { fingerprint: mask(alert.fingerprint) } : {}),
    };
  } catch {
    // Not an Alert at all (a caller's bug, reported as such): nothing of it was sent.
    return alert;
  }
}

/** Why `alert` is not an Alert, or undefined: the caller's bug must end as a failed result, not a throw. */
function invalidAlert(alert: unknown): string | undefined {
  if (typeof alert !== 'object' || alert === null) return 'not an object';
  const a = alert as Record<string, unknown>;
  if (!(ALERT_EVENTS as readonly unknown[]).includes(a.event)) return 'unknown event';
  if (!(SEVERITIES as readonly unknown[]).includes(a.severity)) return 'unknown severity';
  if (!Array.isArray(a.codes) || !a.codes.every((c) => typeof c === 'string')) return 'codes must be strings';
  if (typeof a.summary !== 'string' || typeof a.time !== 'string' || typeof a.dedupKey !== 'string')
    return 'summary, time and dedupKey must be strings';
  if (a.ref !== undefined && typeof a.ref !== 'string') return 'ref must be a string';
  if (a.fingerprint !== undefined && a.fingerprint !== null && typeof a.fingerprint !== 'string')
    return 'fingerprint must be a string or null';
  return undefined;
}

function internal(): { code: string; message: string } {
  return { code: AlertCode.INTERNAL, message: 'Delivery ended without a result.' };
}

/** An unexpected error, by its name only: its message could hold anything. */
function describe(err: unknown): string {
  if (err instanceof KeyctlError) return `${err.code}: ${err.message}`;
  return `Unexpected ${err instanceof Error ? err.name : typeof err} while delivering an alert.`;
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
