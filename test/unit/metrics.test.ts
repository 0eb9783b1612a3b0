/**
 * KeyctlMetrics as Prometheus sees it: every assertion reads the exposition text back (parsed line by line), never
 * prom-client's objects, so what is checked is what a scrape returns.
 */
import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { EventBus } from '../../src/events/bus.js';
import type { EventInput, VerificationResult } from '../../src/events/types.js';
import { INVALID_LABEL, KeyctlMetrics } from '../../src/observability/metrics.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Samples of the text format: `name{a="x",b="y"} value`; comment lines are left to `types`. */
function samples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** `# TYPE name type` lines, as name -> type. */
function types(text: string): Map<string, string> {
  return new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** The value of the one sample with this name and exactly these labels; undefined when there is none. */
function value(all: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = all.filter((s) => s.name === name && sameLabels(s.labels, labels));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

function series(all: Sample[], name: string): Array<Record<string, string>> {
  return all.filter((s) => s.name === name).map((s) => s.labels);
}

async function scrape(m: KeyctlMetrics): Promise<Sample[]> {
  return samples(await m.metricsText());
}

const T0 = Date.parse('2030-01-10T00:00:00.000Z');

function verification(
  ref: string,
  outcome: 'ok' | 'violation' | 'error',
  violations: string[] = [],
  time = '2030-01-09T12:00:00.000Z',
): VerificationResult {
  return { type: 'verification.result', ref, time, fingerprint: 'fp-fake-0001', outcome, violations };
}

describe('KeyctlMetrics', () => {
  it('exposes every metric of the contract with its type, and the constant ones from the start', async () => {
    const m = new KeyctlMetrics({ version: '9.9.9-test' });
    const text = await m.metricsText();
    expect(Object.fromEntries(types(text))).toEqual({
      keyctl_verification_last_timestamp_seconds: 'gauge',
      keyctl_verification_ok: 'gauge',
      keyctl_violations: 'gauge',
      keyctl_key_age_seconds: 'gauge',
      keyctl_next_rotation_timestamp_seconds: 'gauge',
      keyctl_rotations_total: 'counter',
      keyctl_exchange_request_duration_seconds: 'histogram',
      keyctl_exchange_errors_total: 'counter',
      keyctl_alerts_total: 'counter',
      keyctl_leader: 'gauge',
      keyctl_up: 'gauge',
      keyctl_build_info: 'gauge',
    });
    const all = samples(text);
    expect(value(all, 'keyctl_up')).toBe(1);
    expect(value(all, 'keyctl_leader')).toBe(0);
    expect(value(all, 'keyctl_build_info', { version: '9.9.9-test', node: process.versions.node })).toBe(1);
    expect(m.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(m.metricNames().sort()).toEqual([...types(text).keys()].sort());
  });

  it('records a verification: time, ok, and the violation codes of the last verdict, stale codes removed', async () => {
    const m = new KeyctlMetrics();
    m.record(verification('alpha/arb1', 'violation', ['WITHDRAW_ENABLED', 'NOT_IP_LOCKED']));
    let all = await scrape(m);
    expect(value(all, 'keyctl_verification_last_timestamp_seconds', { ref: 'alpha/arb1' })).toBe(Date.parse('2030-01-09T12:00:00Z') / 1000);
    expect(value(all, 'keyctl_verification_ok', { ref: 'alpha/arb1' })).toBe(0);
    expect(series(all, 'keyctl_violations')).toEqual(
      expect.arrayContaining([
        { ref: 'alpha/arb1', code: 'WITHDRAW_ENABLED' },
        { ref: 'alpha/arb1', code: 'NOT_IP_LOCKED' },
      ]),
    );
    expect(series(all, 'keyctl_violations')).toHaveLength(2);

    // A second key's violations are its own; a new verdict on the first replaces its set.
    m.record(verification('beta/mm1', 'violation', ['EXCESS_SCOPE']));
    m.record(verification('alpha/arb1', 'violation', ['NOT_IP_LOCKED', 'IP_MISMATCH'], '2030-01-09T13:00:00.000Z'));
    all = await scrape(m);
    expect(series(all, 'keyctl_violations').sort((a, b) => `${a.ref}${a.code}`.localeCompare(`${b.ref}${b.code}`))).toEqual([
      { ref: 'alpha/arb1', code: 'IP_MISMATCH' },
      { ref: 'alpha/arb1', code: 'NOT_IP_LOCKED' },
      { ref: 'beta/mm1', code: 'EXCESS_SCOPE' },
    ]);
    expect(all.filter((s) => s.name === 'keyctl_violations').every((s) => s.value === 1)).toBe(true);

    // Passing clears the key's violations and no one else's.
    m.record(verification('alpha/arb1', 'ok', [], '2030-01-09T14:00:00.000Z'));
    all = await scrape(m);
    expect(series(all, 'keyctl_violations')).toEqual([{ ref: 'beta/mm1', code: 'EXCESS_SCOPE' }]);
    expect(value(all, 'keyctl_verification_ok', { ref: 'alpha/arb1' })).toBe(1);
    expect(value(all, 'keyctl_verification_last_timestamp_seconds', { ref: 'alpha/arb1' })).toBe(Date.parse('2030-01-09T14:00:00Z') / 1000);
  });

  it('keeps the last verdict when a verification errors: an exchange outage does not clear a known violation', async () => {
    const m = new KeyctlMetrics();
    m.record(verification('alpha/arb1', 'violation', ['WITHDRAW_ENABLED']));
    m.record({ ...verification('alpha/arb1', 'error', [], '2030-01-09T15:00:00.000Z'), error: 'EXCHANGE_UNAVAILABLE' });
    const all = await scrape(m);
    expect(series(all, 'keyctl_violations')).toEqual([{ ref: 'alpha/arb1', code: 'WITHDRAW_ENABLED' }]);
    expect(value(all, 'keyctl_verification_ok', { ref: 'alpha/arb1' })).toBe(0);
    expect(value(all, 'keyctl_verification_last_timestamp_seconds', { ref: 'alpha/arb1' })).toBe(Date.parse('2030-01-09T15:00:00Z') / 1000);
  });

  it('computes the key age at scrape time from the injected clock, and exposes the next rotation', async () => {
    let now = T0;
    const m = new KeyctlMetrics({ now: () => now });
    m.setSchedule('alpha/arb1', { lastRotation: '2030-01-09T00:00:00.000Z', nextRotation: '2030-02-08T00:00:00.000Z' });
    m.setSchedule('@bybit-main', { lastRotation: null, nextRotation: null });
    let all = await scrape(m);
    expect(value(all, 'keyctl_key_age_seconds', { ref: 'alpha/arb1' })).toBe(86_400);
    expect(value(all, 'keyctl_next_rotation_timestamp_seconds', { ref: 'alpha/arb1' })).toBe(Date.parse('2030-02-08T00:00:00Z') / 1000);
    expect(value(all, 'keyctl_key_age_seconds', { ref: '@bybit-main' })).toBeUndefined();
    expect(value(all, 'keyctl_next_rotation_timestamp_seconds', { ref: '@bybit-main' })).toBeUndefined();

    now = T0 + 3_600_000;
    all = await scrape(m);
    expect(value(all, 'keyctl_key_age_seconds', { ref: 'alpha/arb1' })).toBe(90_000);

    // A rotation resets the age; a slot no longer scheduled loses its series.
    m.setSchedule('alpha/arb1', { lastRotation: '2030-01-10T00:30:00.000Z', nextRotation: null });
    all = await scrape(m);
    expect(value(all, 'keyctl_key_age_seconds', { ref: 'alpha/arb1' })).toBe(1_800);
    expect(series(all, 'keyctl_next_rotation_timestamp_seconds')).toEqual([]);
  });

  it('counts rotations by outcome from the bus, starting each scheduled ref at 0, until unsubscribed', async () => {
    const bus = new EventBus({ now: () => T0 });
    const m = new KeyctlMetrics();
    m.setSchedule('alpha/arb1', { lastRotation: null, nextRotation: null });
    let all = await scrape(m);
    for (const outcome of ['rotated', 'failed', 'nothing-to-do', 'awaiting-grace', 'revoked-previous']) {
      expect(value(all, 'keyctl_rotations_total', { ref: 'alpha/arb1', outcome }), outcome).toBe(0);
    }

    const detach = m.attach(bus);
    const done = (status: 'rotated' | 'revoked-previous' | 'awaiting-grace' | 'nothing-to-do'): EventInput => ({
      type: 'rotation.done',
      ref: 'alpha/arb1',
      status,
      previousRevoked: false,
      resumed: false,
    });
    await bus.emit(done('rotated'));
    await bus.emit(done('rotated'));
    await bus.emit(done('awaiting-grace'));
    await bus.emit(done('revoked-previous'));
    await bus.emit({ type: 'rotation.failed', ref: 'alpha/arb1', code: 'EXCHANGE_UNAVAILABLE', message: 'the exchange did not answer' });
    await bus.emit({ type: 'rotation.failed', ref: 'beta/mm1', code: 'FENCED', message: 'lost the lease' });
    // Events the metrics do not follow change nothing.
    await bus.emit({ type: 'rotation.started', ref: 'alpha/arb1', rotationId: 'rot-fake-1', mode: 'automatic', reason: 'schedule' });
    await bus.flush();
    all = await scrape(m);
    expect(value(all, 'keyctl_rotations_total', { ref: 'alpha/arb1', outcome: 'rotated' })).toBe(2);
    expect(value(all, 'keyctl_rotations_total', { ref: 'alpha/arb1', outcome: 'awaiting-grace' })).toBe(1);
    expect(value(all, 'keyctl_rotations_total', { ref: 'alpha/arb1', outcome: 'revoked-previous' })).toBe(1);
    expect(value(all, 'keyctl_rotations_total', { ref: 'alpha/arb1', outcome: 'failed' })).toBe(1);
    expect(value(all, 'keyctl_rotations_total', { ref: 'alpha/arb1', outcome: 'nothing-to-do' })).toBe(0);
    expect(value(all, 'keyctl_rotations_total', { ref: 'beta/mm1', outcome: 'failed' })).toBe(1);

    await bus.emit(verification('alpha/arb1', 'ok'));
    await bus.flush();
    expect(value(await scrape(m), 'keyctl_verification_ok', { ref: 'alpha/arb1' })).toBe(1);

    detach();
    await bus.emit(done('rotated'));
    await bus.flush();
    expect(value(await scrape(m), 'keyctl_rotations_total', { ref: 'alpha/arb1', outcome: 'rotated' })).toBe(2);
  });

  it('observes exchange calls: latency histogram by exchange and operation, errors by code', async () => {
    const m = new KeyctlMetrics({ exchangeDurationBuckets: [0.1, 1] });
    m.observeExchangeCall('bybit', 'inspect', 0.05);
    m.observeExchangeCall('bybit', 'inspect', 0.5);
    m.observeExchangeCall('bybit', 'createKey', 2, 'RATE_LIMITED');
    m.observeExchangeCall('okx', 'deleteKey', Number.NaN, 'KEY_REJECTED');
    m.observeExchangeCall('okx', 'deleteKey', -1);
    const all = await scrape(m);
    const inspect = { exchange: 'bybit', operation: 'inspect' };
    expect(value(all, 'keyctl_exchange_request_duration_seconds_bucket', { ...inspect, le: '0.1' })).toBe(1);
    expect(value(all, 'keyctl_exchange_request_duration_seconds_bucket', { ...inspect, le: '1' })).toBe(2);
    expect(value(all, 'keyctl_exchange_request_duration_seconds_bucket', { ...inspect, le: '+Inf' })).toBe(2);
    expect(value(all, 'keyctl_exchange_request_duration_seconds_count', inspect)).toBe(2);
    expect(value(all, 'keyctl_exchange_request_duration_seconds_sum', inspect)).toBeCloseTo(0.55);
    expect(value(all, 'keyctl_exchange_request_duration_seconds_count', { exchange: 'bybit', operation: 'createKey' })).toBe(1);
    // A duration that is not one is not observed; its error still counts.
    expect(value(all, 'keyctl_exchange_request_duration_seconds_count', { exchange: 'okx', operation: 'deleteKey' })).toBeUndefined();
    expect(value(all, 'keyctl_exchange_errors_total', { exchange: 'bybit', code: 'RATE_LIMITED' })).toBe(1);
    expect(value(all, 'keyctl_exchange_errors_total', { exchange: 'okx', code: 'KEY_REJECTED' })).toBe(1);
    expect(series(all, 'keyctl_exchange_errors_total')).toHaveLength(2);
  });

  it('counts alert deliveries by channel and outcome, declared channels starting at 0', async () => {
    const m = new KeyctlMetrics();
    m.declareAlertChannels(['ops-slack', 'pager']);
    m.alertResult('ops-slack', 'sent');
    m.alertResult('ops-slack', 'sent');
    m.alertResult('pager', 'failed');
    m.alertResult('mail', 'rate-limited');
    const all = await scrape(m);
    expect(value(all, 'keyctl_alerts_total', { channel: 'ops-slack', outcome: 'sent' })).toBe(2);
    expect(value(all, 'keyctl_alerts_total', { channel: 'ops-slack', outcome: 'failed' })).toBe(0);
    expect(value(all, 'keyctl_alerts_total', { channel: 'pager', outcome: 'failed' })).toBe(1);
    expect(value(all, 'keyctl_alerts_total', { channel: 'pager', outcome: 'sent' })).toBe(0);
    expect(value(all, 'keyctl_alerts_total', { channel: 'mail', outcome: 'rate-limited' })).toBe(1);
    expect(value(all, 'keyctl_alerts_total', { channel: 'mail', outcome: 'sent' })).toBe(0);
  });

  it('reports leadership, and drops the per-key gauges when the lead is lost (the new leader reports them)', async () => {
    const m = new KeyctlMetrics({ now: () => T0 });
    m.setLeader(true);
    m.record(verification('alpha/arb1', 'violation', ['WITHDRAW_ENABLED']));
    m.setSchedule('alpha/arb1', { lastRotation: '2030-01-09T00:00:00.000Z', nextRotation: '2030-02-08T00:00:00.000Z' });
    m.record({ type: 'rotation.failed', ref: 'alpha/arb1', time: '2030-01-09T00:00:00.000Z', code: 'FENCED', message: 'x' });
    let all = await scrape(m);
    expect(value(all, 'keyctl_leader')).toBe(1);
    expect(series(all, 'keyctl_violations')).toHaveLength(1);

    m.setLeader(false);
    all = await scrape(m);
    expect(value(all, 'keyctl_leader')).toBe(0);
    for (const name of [
      'keyctl_verification_last_timestamp_seconds',
      'keyctl_verification_ok',
      'keyctl_violations',
      'keyctl_key_age_seconds',
      'keyctl_next_rotation_timestamp_seconds',
    ]) {
      expect(series(all, name), name).toEqual([]);
    }
    // Counters count what this process did, leader or not.
    expect(value(all, 'keyctl_rotations_total', { ref: 'alpha/arb1', outcome: 'failed' })).toBe(1);
  });

  it('drops every series of a ref removed from the config (retainRefs after a reload)', async () => {
    const m = new KeyctlMetrics({ now: () => T0 });
    for (const ref of ['alpha/arb1', 'beta/mm1']) {
      m.record(verification(ref, 'violation', ['EXCESS_SCOPE']));
      m.setSchedule(ref, { lastRotation: '2030-01-09T00:00:00.000Z', nextRotation: '2030-02-08T00:00:00.000Z' });
    }
    m.retainRefs(['beta/mm1']);
    const all = await scrape(m);
    const refs = new Set(all.map((s) => s.labels.ref).filter((r) => r !== undefined));
    expect([...refs]).toEqual(['beta/mm1']);
  });

  it('exposes a label value outside its grammar as "invalid", never as given', async () => {
    const m = new KeyctlMetrics();
    m.record(verification('not a ref {"}', 'violation', ['lowercase-code', 'WITHDRAW_ENABLED']));
    m.observeExchangeCall('By Bit', 'inspect\n', 1, 'code with spaces');
    m.alertResult('Ops Channel!', 'sent');
    const text = await m.metricsText();
    const all = samples(text);
    expect(series(all, 'keyctl_violations')).toEqual(
      expect.arrayContaining([
        { ref: INVALID_LABEL, code: INVALID_LABEL },
        { ref: INVALID_LABEL, code: 'WITHDRAW_ENABLED' },
      ]),
    );
    expect(value(all, 'keyctl_exchange_errors_total', { exchange: INVALID_LABEL, code: INVALID_LABEL })).toBe(1);
    expect(value(all, 'keyctl_exchange_request_duration_seconds_count', { exchange: INVALID_LABEL, operation: INVALID_LABEL })).toBe(1);
    expect(value(all, 'keyctl_alerts_total', { channel: INVALID_LABEL, outcome: 'sent' })).toBe(1);
    for (const given of ['not a ref', 'lowercase-code', 'By Bit', 'code with spaces', 'Ops Channel']) expect(text).not.toContain(given);
  });

  it('never exposes what an event carries outside its label fields (fingerprints, messages, ids, error text)', async () => {
    // Obviously fake, but shaped like what must never leak: an API secret and a Vault token.
    const secret = 'FAKE-SECRET-dGhpcyBpcyBub3QgYSByZWFsIHNlY3JldA';
    const token = 'hvs.FAKE-TOKEN-not-a-real-one-0000';
    const bus = new EventBus({ now: () => T0 });
    const m = new KeyctlMetrics({ defaultMetrics: true });
    m.attach(bus);
    await bus.emit({ ...verification('alpha/arb1', 'error'), fingerprint: secret, error: token });
    await bus.emit({ ...verification('alpha/arb1', 'violation', ['WITHDRAW_ENABLED']), fingerprint: secret });
    await bus.emit({
      type: 'rotation.failed',
      ref: 'alpha/arb1',
      rotationId: secret,
      code: 'EXCHANGE_UNAVAILABLE',
      message: `secret=${secret}`,
    });
    await bus.emit({
      type: 'rotation.done',
      ref: 'alpha/arb1',
      rotationId: token,
      status: 'rotated',
      newFingerprint: secret,
      oldFingerprint: token,
      previousRevoked: true,
      resumed: false,
    });
    await bus.flush();
    const text = await m.metricsText();
    expect(text).toContain('keyctl_rotations_total{ref="alpha/arb1",outcome="rotated"} 1');
    for (const leaked of [secret, token, 'FAKE-SECRET', 'FAKE-TOKEN', 'hvs.']) expect(text).not.toContain(leaked);
  });

  it('keeps each instance to its own registry: two instances share nothing, and the global registry stays empty of keyctl', async () => {
    const a = new KeyctlMetrics({ version: '1.0.0-a' });
    const b = new KeyctlMetrics({ version: '1.0.0-b' });
    a.setLeader(true);
    a.record(verification('alpha/arb1', 'violation', ['WITHDRAW_ENABLED']));
    a.observeExchangeCall('bybit', 'inspect', 0.2, 'RATE_LIMITED');
    a.alertResult('ops-slack', 'failed');
    a.record({
      type: 'rotation.done',
      ref: 'alpha/arb1',
      time: '2030-01-09T00:00:00.000Z',
      status: 'rotated',
      previousRevoked: false,
      resumed: false,
    });
    const sa = await scrape(a);
    const sb = await scrape(b);
    expect(value(sa, 'keyctl_leader')).toBe(1);
    expect(value(sb, 'keyctl_leader')).toBe(0);
    expect(value(sb, 'keyctl_build_info', { version: '1.0.0-b', node: process.versions.node })).toBe(1);
    expect(series(sb, 'keyctl_build_info')).toHaveLength(1);
    for (const name of [
      'keyctl_violations',
      'keyctl_verification_ok',
      'keyctl_exchange_errors_total',
      'keyctl_alerts_total',
      'keyctl_rotations_total',
    ]) {
      expect(series(sa, name).length, name).toBeGreaterThan(0);
      expect(series(sb, name), name).toEqual([]);
    }
    expect(series(sb, 'keyctl_exchange_request_duration_seconds_count')).toEqual([]);
    expect(globalRegistry.getMetricsAsArray().filter((metric) => metric.name.startsWith('keyctl_'))).toEqual([]);
  });

  it('adds Node process metrics under keyctl_process_ only when asked to', async () => {
    const plain = new KeyctlMetrics();
    const withProcess = new KeyctlMetrics({ defaultMetrics: true });
    expect(plain.metricNames().filter((n) => n.startsWith('keyctl_process_'))).toEqual([]);
    const names = withProcess.metricNames();
    expect(names).toContain('keyctl_process_process_cpu_seconds_total');
    expect(names.filter((n) => !n.startsWith('keyctl_'))).toEqual([]);
    expect(value(await scrape(withProcess), 'keyctl_up')).toBe(1);
  });
});
