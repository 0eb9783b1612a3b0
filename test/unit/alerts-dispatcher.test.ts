/**
 * The alert dispatcher: routing by event and severity, concurrent delivery, retries with back-off, the timeout per
 * attempt, the per-channel rate limit and its one "suppressed" notice, the secret canary, `test()`, and that it never
 * throws. Deliveries go to real local webhook receivers (test/helpers/alert-receivers.ts); the clock and the sleep
 * between attempts are injected.
 */
import * as v from 'valibot';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AlertDispatcher, type DispatcherOptions } from '../../src/alerts/dispatcher.js';
import { alertFromEvent } from '../../src/alerts/events.js';
import { alertsSchema } from '../../src/alerts/schema.js';
import { conditionKey, makeAlert, resolutionOf, type Alert, type AlertResult } from '../../src/alerts/types.js';
import { parseOptions } from '../../src/config/schema.js';
import { ProviderError } from '@keyctl/client/errors';
import { webhookReceiver, type WebhookReceiver } from '../helpers/alert-receivers.js';

const HMAC_SECRET = 'FAKE-SECRET-CANARY-hmac-1001';
const T0 = Date.parse('2025-03-01T12:00:00.000Z');

// The dispatcher's clock, which the signing receiver shares: it refuses a timestamp 5 minutes off its own.
const clock = { now: T0 };
let hook: WebhookReceiver;
let other: WebhookReceiver;
beforeAll(async () => {
  hook = await webhookReceiver({ secret: HMAC_SECRET, nowSeconds: () => Math.floor(clock.now / 1000) });
  other = await webhookReceiver();
});
afterAll(async () => {
  await Promise.all([hook.close(), other.close()]);
});
beforeEach(() => {
  clock.now = T0;
  hook.requests.length = 0;
  other.requests.length = 0;
});

interface Harness {
  d: AlertDispatcher;
  results: AlertResult[];
  sleeps: number[];
  clock: { now: number };
}

function harness(config: Record<string, unknown>, options: Partial<DispatcherOptions> = {}, secrets: Record<string, string> = {}): Harness {
  const results: AlertResult[] = [];
  const sleeps: number[] = [];
  const values: Record<string, string> = { 'env:HOOK_SECRET': HMAC_SECRET, ...secrets };
  const d = new AlertDispatcher(v.parse(alertsSchema, config, parseOptions), {
    resolveSecret: (ref) => (ref in values ? Promise.resolve(values[ref]!) : Promise.reject(new Error(`unknown ${ref}`))),
    now: () => clock.now,
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    random: () => 0.5,
    scheduleNotices: false,
    onResult: (r) => results.push(r),
    ...options,
  });
  return { d, results, sleeps, clock };
}

const signed = () => ({ type: 'webhook', url: hook.url, secret: 'env:HOOK_SECRET' });

function alert(input: Partial<Alert> & Pick<Alert, 'event'>): Alert {
  return makeAlert({ ref: 'alpha/arb1', summary: `${input.event} on alpha/arb1`, time: new Date(T0).toISOString(), ...input });
}

const found = alert({ event: 'violation.found', fingerprint: '0123456789abcdef', codes: ['WITHDRAW_ENABLED'] });

describe('routing', () => {
  it('sends to the channels whose event list and minimum severity match, and reports the rest as filtered', async () => {
    const { d, results } = harness({
      all: { ...signed(), minSeverity: 'info' },
      critical: { type: 'webhook', url: other.url, minSeverity: 'critical' },
      kills: { type: 'webhook', url: other.url, events: ['kill.done'], minSeverity: 'info' },
    });
    const expiring = alert({ event: 'key.expiring', codes: ['EXPIRING'] }); // warning by default
    const out = await d.send(expiring);
    expect(Object.fromEntries(out.map((r) => [r.channel, r.outcome]))).toEqual({ all: 'sent', critical: 'filtered', kills: 'filtered' });
    expect(results).toEqual(out.map((r) => expect.objectContaining({ channel: r.channel, outcome: r.outcome })));
    expect(hook.requests).toHaveLength(1);
    expect(other.requests).toHaveLength(0);

    const kill = await d.send(alert({ event: 'kill.done', codes: [] }));
    expect(
      kill
        .filter((r) => r.outcome === 'sent')
        .map((r) => r.channel)
        .sort(),
    ).toEqual(['all', 'critical', 'kills']);
  });

  it('takes the default minimum severity, warning', async () => {
    const { d } = harness({ ops: signed() });
    expect((await d.send(alert({ event: 'offboard.done', severity: 'info' })))[0]!.outcome).toBe('filtered');
    expect((await d.send(alert({ event: 'offboard.done', severity: 'warning' })))[0]!.outcome).toBe('sent');
  });

  it('sends a resolution to the channels that asked for what it resolves', async () => {
    const { d } = harness({ ops: { ...signed(), events: ['violation.found'], minSeverity: 'critical' } });
    await d.send(found);
    const out = await d.send(resolutionOf(found, 'alpha/arb1 passes again.', new Date(T0 + 60_000).toISOString()));
    expect(out[0]!.outcome).toBe('sent');
    const [trigger, resolved] = hook.requests.map(
      (r) => r.json as { event: string; resolved: boolean; dedupKey: string; severity: string },
    );
    expect(trigger).toMatchObject({ event: 'violation.found', resolved: false, severity: 'critical' });
    expect(resolved).toMatchObject({ event: 'violation.resolved', resolved: true, severity: 'critical', dedupKey: trigger!.dedupKey });
    expect(trigger!.dedupKey).toBe(conditionKey('violation.found', 'alpha/arb1', ['WITHDRAW_ENABLED']));
  });

  it('delivers to channels concurrently: a channel that hangs does not hold the others', async () => {
    const { d, results } = harness({ slow: signed(), fast: { type: 'webhook', url: other.url } }, { timeoutMs: 30_000, retries: 0 });
    hook.script({ status: 200, hang: true });
    const done = d.send(found);
    await expect.poll(() => results.find((r) => r.channel === 'fast')?.outcome, { timeout: 5000, interval: 10 }).toBe('sent');
    expect(results.find((r) => r.channel === 'slow')).toBeUndefined();
    d.close();
    const out = await done;
    expect(out.find((r) => r.channel === 'slow')).toMatchObject({ outcome: 'failed', attempts: 1, error: { code: 'ALERT_NETWORK' } });
  });
});

describe('retries', () => {
  it('retries a failure that may pass, with exponential back-off and jitter, then succeeds', async () => {
    const { d, sleeps } = harness({ ops: signed() }, { baseDelayMs: 1000 });
    hook.script({ status: 503, body: 'busy' }, { status: 502, body: 'bad gateway' });
    const [r] = await d.send(found);
    expect(r).toMatchObject({ outcome: 'sent', attempts: 3 });
    // random() = 0.5: half the delay fixed, a quarter of the jitter range: 0.75 of 1 s, then of 2 s.
    expect(sleeps).toEqual([750, 1500]);
    // One delivery id across the attempts, so a receiver can drop what it already has.
    expect(new Set(hook.requests.map((q) => q.headers['x-keyctl-delivery'])).size).toBe(1);
    expect(hook.requests.every((q) => q.problems.length === 0)).toBe(true);
  });

  it('gives up after the retries (3 by default), as a failed delivery, capped at the maximum back-off', async () => {
    const { d, sleeps } = harness({ ops: signed() }, { baseDelayMs: 1000, maxDelayMs: 3000 });
    hook.script(...Array.from({ length: 4 }, () => ({ status: 500, body: 'down' })));
    const [r] = await d.send(found);
    expect(r).toMatchObject({
      outcome: 'failed',
      attempts: 4,
      error: { code: 'ALERT_UNAVAILABLE', message: `webhook at ${hook.base} failed (HTTP 500): down.` },
    });
    expect(sleeps).toEqual([750, 1500, 2250]);
    expect(hook.requests).toHaveLength(4);
  });

  it('does not retry what will not pass (a 4xx)', async () => {
    const { d, sleeps } = harness({ ops: signed() });
    hook.script({ status: 422, body: 'unprocessable' });
    expect((await d.send(found))[0]).toMatchObject({ outcome: 'failed', attempts: 1, error: { code: 'ALERT_REJECTED' } });
    expect(sleeps).toEqual([]);
  });

  it('waits at least what Retry-After asks, up to the maximum back-off', async () => {
    const { d, sleeps } = harness({ ops: signed() }, { maxDelayMs: 20_000 });
    hook.script({ status: 429, headers: { 'retry-after': '12' } }, { status: 429, headers: { 'retry-after': '600' } });
    expect((await d.send(found))[0]).toMatchObject({ outcome: 'sent', attempts: 3 });
    expect(sleeps).toEqual([12_000, 20_000]);
  });

  it('times out an attempt that gets no answer, and retries it', async () => {
    const { d } = harness({ ops: signed() }, { timeoutMs: 200, retries: 1 });
    hook.script({ status: 200, hang: true }, { status: 200, hang: true });
    const [r] = await d.send(found);
    expect(r).toMatchObject({
      outcome: 'failed',
      attempts: 2,
      error: { code: 'ALERT_TIMEOUT', message: `webhook at ${hook.base} did not answer in time.` },
    });
  });

  it('reports a refused connection by its code', async () => {
    const gone = await webhookReceiver();
    const url = gone.url;
    await gone.close();
    const { d } = harness({ ops: { type: 'webhook', url } }, { retries: 1 });
    const [r] = await d.send(found);
    expect(r).toMatchObject({ outcome: 'failed', attempts: 2, error: { code: 'ALERT_NETWORK' } });
    expect(r!.error!.message).toMatch(/^Could not reach webhook at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)\.$/);
  });
});

describe('rate limit', () => {
  it('drops alerts over the limit, then sends one notice saying how many', async () => {
    const { d, clock } = harness({ ops: signed(), spare: { type: 'webhook', url: other.url } }, { ratePerMinute: 5 });
    const out = (
      await Promise.all(Array.from({ length: 8 }, (_, i) => d.send(alert({ event: 'rotation.failed', codes: [`E${i}`] }))))
    ).flat();
    const ops = out.filter((r) => r.channel === 'ops');
    expect(ops.filter((r) => r.outcome === 'sent')).toHaveLength(5);
    const dropped = ops.filter((r) => r.outcome === 'rate-limited');
    expect(dropped).toHaveLength(3);
    expect(dropped[0]).toMatchObject({ attempts: 0, error: { code: 'ALERT_THROTTLED' } });
    // Each channel has its own bucket.
    expect(out.filter((r) => r.channel === 'spare' && r.outcome === 'rate-limited')).toHaveLength(3);

    expect(await d.flushSuppressed()).toEqual([]); // no room yet
    clock.now += 12_000; // 5/min: one token back
    const notices = await d.flushSuppressed();
    expect(notices.map((r) => [r.channel, r.outcome, r.alert.event])).toEqual([
      ['ops', 'sent', 'alert.suppressed'],
      ['spare', 'sent', 'alert.suppressed'],
    ]);
    expect(notices[0]!.alert.summary).toBe(
      `3 alerts were not sent to channel "ops" since ${new Date(T0).toISOString()}: over its rate limit of 5/min. Each is in keyctl's audit log.`,
    );
    expect(hook.requests.at(-1)!.json).toMatchObject({ event: 'alert.suppressed', severity: 'warning', codes: ['ALERT_THROTTLED'] });
    clock.now += 60_000;
    expect(await d.flushSuppressed()).toEqual([]); // one notice only
  });

  it('sends the pending notice after the next alert that fits, even to a channel that filters notices out', async () => {
    const { d, clock } = harness({ ops: { ...signed(), events: ['rotation.failed'] } }, { ratePerMinute: 2 });
    for (let i = 0; i < 3; i++) await d.send(alert({ event: 'rotation.failed', codes: [`E${i}`] }));
    clock.now += 60_000;
    const out = await d.send(alert({ event: 'rotation.failed', codes: ['E9'] }));
    expect(out.map((r) => [r.outcome, r.alert.event])).toEqual([
      ['sent', 'rotation.failed'],
      ['sent', 'alert.suppressed'],
    ]);
    expect((hook.requests.at(-1)!.json as { summary: string }).summary).toMatch(/^1 alert was not sent/);
  });

  it('sends the notice on its own timer when no alert comes', async () => {
    // 60/min: a token comes back each second, and the timer fires then.
    clock.now = Date.now();
    const { d } = harness({ ops: signed() }, { ratePerMinute: 60, scheduleNotices: true, now: Date.now });
    try {
      await Promise.all(Array.from({ length: 61 }, () => d.send(found)));
      await expect
        .poll(() => hook.requests.some((r) => (r.json as { event: string }).event === 'alert.suppressed'), { timeout: 3000 })
        .toBe(true);
    } finally {
      d.close();
    }
  });
});

describe('never throws, never leaks', () => {
  it('turns an unresolvable credential into a failed result without the resolver`s words', async () => {
    const { d } = harness(
      { ops: signed(), broken: { type: 'slack', webhookUrl: 'store:alerts/slack' } },
      {
        resolveSecret: (ref) =>
          ref === 'env:HOOK_SECRET'
            ? Promise.resolve(HMAC_SECRET)
            : Promise.reject(new ProviderError('STORE_UNAVAILABLE', 'store said FAKE-SECRET-CANARY-resolver-words')),
      },
    );
    const out = await d.send(found);
    expect(out.find((r) => r.channel === 'ops')!.outcome).toBe('sent');
    expect(out.find((r) => r.channel === 'broken')).toMatchObject({
      outcome: 'failed',
      attempts: 0,
      error: {
        code: 'ALERT_SECRET_UNRESOLVED',
        message: 'Channel "broken": could not resolve store:alerts/slack (STORE_UNAVAILABLE); nothing was sent.',
      },
    });
    expect(JSON.stringify(out)).not.toContain('FAKE-SECRET-CANARY');
  });

  it('survives an onResult that throws and an alert that is not one', async () => {
    const { d } = harness(
      { ops: signed() },
      {
        onResult: () => {
          throw new Error('audit hook down');
        },
      },
    );
    await expect(d.send(found)).resolves.toMatchObject([{ outcome: 'sent' }]);
    const bogus = await d.send({ event: 'nope', summary: 1 } as unknown as Alert);
    expect(bogus).toMatchObject([{ outcome: 'failed', error: { code: 'ALERT_INTERNAL', message: 'Not a valid alert: unknown event.' } }]);
    const circular = { ...found, extra: {} as Record<string, unknown> };
    circular.extra.self = circular;
    expect(await d.send(circular)).toMatchObject([{ outcome: 'failed', error: { code: 'ALERT_INTERNAL' } }]);
  });

  it('refuses, on every channel, an alert holding a value from secretsNeverToSend, in any encoding', async () => {
    const apiSecret = 'FAKE-SECRET-CANARY-apisecret-1002';
    const { d } = harness({ ops: signed(), spare: { type: 'webhook', url: other.url } }, { secretsNeverToSend: [apiSecret] });
    for (const summary of [
      `secret is ${apiSecret}`,
      `b64 ${Buffer.from(`k:${apiSecret}`).toString('base64')}`,
      `hex ${Buffer.from(apiSecret).toString('hex')}`,
    ]) {
      const out = await d.send(alert({ event: 'rotation.failed', summary }));
      expect(out.map((r) => [r.outcome, r.error?.code])).toEqual([
        ['failed', 'ALERT_SECRET_LEAK'],
        ['failed', 'ALERT_SECRET_LEAK'],
      ]);
      expect(out[0]!.error!.message).toBe(
        'Refused to send rotation.failed for alpha/arb1: the alert holds a secret value (in summary). Nothing was sent.',
      );
      // The result does not hand the secret back either.
      expect(JSON.stringify(out)).not.toContain('CANARY-apisecret');
      expect(out[0]!.alert.summary).toContain('[REDACTED]');
    }
    expect(hook.requests).toEqual([]);
    expect(other.requests).toEqual([]);
  });

  it('refuses an alert holding a channel credential it just resolved', async () => {
    const { d } = harness({ ops: signed(), spare: { type: 'webhook', url: other.url } });
    const out = await d.send(alert({ event: 'audit.broken', codes: [`X-${HMAC_SECRET}`] }));
    expect(out.map((r) => r.error?.code)).toEqual(['ALERT_SECRET_LEAK', 'ALERT_SECRET_LEAK']);
    expect(out[0]!.error!.message).toContain('(in codes[0])');
    expect(hook.requests).toEqual([]);
    expect(other.requests).toEqual([]);
  });

  it('close() cancels a delivery in progress', async () => {
    const { d } = harness({ ops: signed() }, { timeoutMs: 10_000 });
    hook.script({ status: 200, hang: true });
    const pending = d.send(found);
    await expect.poll(() => hook.requests.length).toBe(1);
    d.close();
    expect((await pending)[0]).toMatchObject({ outcome: 'failed', attempts: 1, error: { code: 'ALERT_NETWORK' } });
  });
});

describe('test()', () => {
  it('sends alert.test to a channel whatever its filters and rate limit', async () => {
    const { d } = harness({ ops: { ...signed(), events: ['kill.done'], minSeverity: 'critical' } }, { ratePerMinute: 1 });
    await d.send(alert({ event: 'kill.done' }));
    const [r] = await d.test('ops');
    expect(r).toMatchObject({ channel: 'ops', type: 'webhook', outcome: 'sent', alert: { event: 'alert.test', severity: 'info' } });
    expect(hook.requests.at(-1)!.json).toMatchObject({ event: 'alert.test', resolved: false });
  });

  it('tests every channel, and names an unknown one', async () => {
    const { d } = harness({ ops: signed(), spare: { type: 'webhook', url: other.url } });
    expect((await d.test()).map((r) => [r.channel, r.outcome])).toEqual([
      ['ops', 'sent'],
      ['spare', 'sent'],
    ]);
    const [r] = await d.test('nope');
    expect(r).toMatchObject({
      channel: 'nope',
      outcome: 'failed',
      error: { code: 'ALERT_UNKNOWN_CHANNEL', message: 'No alert channel "nope" in the config (channels: ops, spare).' },
    });
  });
});

describe('alertFromEvent', () => {
  const time = new Date(T0).toISOString();
  it('maps violations to found, rejected and expiring keys', () => {
    const base = { type: 'violation' as const, time, ref: 'alpha/arb1', fingerprint: 'abcd', source: 'verify' as const };
    expect(alertFromEvent({ ...base, codes: ['WITHDRAW_ENABLED', 'NOT_IP_LOCKED'] })).toMatchObject({
      event: 'violation.found',
      severity: 'critical',
      dedupKey: 'violation:alpha/arb1:NOT_IP_LOCKED,WITHDRAW_ENABLED',
      time,
    });
    expect(alertFromEvent({ ...base, codes: ['KEY_REJECTED'] })).toMatchObject({ event: 'key.rejected', severity: 'critical' });
    expect(alertFromEvent({ ...base, codes: ['EXPIRING'] })).toMatchObject({ event: 'key.expiring', severity: 'warning' });
  });

  it('maps rotation failures, kills, offboarding and the leader lease only', () => {
    expect(
      alertFromEvent({ type: 'rotation.failed', time, ref: 'alpha/arb1', code: 'EXCHANGE_DOWN', message: 'Bybit did not answer.' }),
    ).toMatchObject({
      event: 'rotation.failed',
      codes: ['EXCHANGE_DOWN'],
    });
    expect(alertFromEvent({ type: 'kill', time, bots: ['alpha'], all: false, reason: 'breach', revoked: 2, failed: 1 })).toMatchObject({
      event: 'kill.done',
      codes: ['KILL_INCOMPLETE'],
      dedupKey: `kill.done:${time}`,
    });
    expect(alertFromEvent({ type: 'offboard', time, staff: 'eve', rotated: 3, failed: 0, masterKeys: ['@bybit-main'] })?.summary).toBe(
      'Offboarded eve: 3 slots rotated; rotate by hand: @bybit-main.',
    );
    const lost = { type: 'lease.lost' as const, time, name: 'daemon/leader', owner: 'host-a', fence: 3, code: 'FENCED' };
    expect(alertFromEvent(lost, { leaderLease: 'daemon/leader' })).toMatchObject({ event: 'leadership.lost' });
    expect(alertFromEvent({ ...lost, name: 'rotate/alpha/arb1' }, { leaderLease: 'daemon/leader' })).toBeUndefined();
    expect(
      alertFromEvent({ type: 'rotation.started', time, ref: 'a/b', rotationId: 'r', mode: 'automatic', reason: 'schedule' }),
    ).toBeUndefined();
  });
});
