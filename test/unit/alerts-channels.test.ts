/**
 * The alert channels against real local servers that check each service's documented request shape
 * (test/helpers/alert-receivers.ts), the `alerts:` schema, and the canary: secrets planted in the store and the
 * environment appear in no request except as the channel's own credential in its documented place, and never in a
 * result or an error message.
 */
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretForms } from '../../src/audit/redact.js';
import { AlertDispatcher, type DispatcherOptions } from '../../src/alerts/dispatcher.js';
import { alertsSchema } from '../../src/alerts/schema.js';
import { makeAlert, resolutionOf, type Alert, type AlertResult } from '../../src/alerts/types.js';
import { parseOptions } from '../../src/config/schema.js';
import {
  pagerdutyReceiver,
  slackReceiver,
  smtpReceiver,
  telegramReceiver,
  webhookReceiver,
  type HttpReceiver,
  type PagerDutyReceiver,
  type Recorded,
  type SlackReceiver,
  type WebhookReceiver,
} from '../helpers/alert-receivers.js';

// Obviously fake secrets, each unique so a leak says which one.
const SLACK_PATH = '/services/T0000FAKE/B0000FAKE/FAKE-SECRET-CANARY-slack-0001';
const TELEGRAM_TOKEN = '123456789:FAKE-SECRET-CANARY-telegram-0002';
const PD_KEY = 'FAKE-SECRET-CANARY-pagerduty-003'; // 32 characters, as integration keys are
const HMAC_SECRET = 'FAKE-SECRET-CANARY-hmac-0004';
const SMTP_PASSWORD = 'FAKE-SECRET-CANARY-smtp-0005';
const EXCHANGE_SECRET = 'FAKE-SECRET-CANARY-exchange-0006'; // in the store, used by no channel
const CHAT_ID = -1001234567890;

/** The injected resolver: env:NAME from `env`, store:path from `store`; unknown refs throw. */
function resolver(env: Record<string, string>, store: Record<string, string>): (ref: string) => Promise<string> {
  return (ref) => {
    const [kind, name] = [ref.slice(0, ref.indexOf(':')), ref.slice(ref.indexOf(':') + 1)];
    const value = kind === 'env' ? env[name] : kind === 'store' ? store[name] : undefined;
    return value === undefined ? Promise.reject(new Error(`no ${ref}`)) : Promise.resolve(value);
  };
}

function parse(input: unknown) {
  return v.safeParse(alertsSchema, input, parseOptions);
}

function issues(input: unknown): string[] {
  const r = parse(input);
  return r.success ? [] : r.issues.map((i) => `${(i.path ?? []).map((p) => String(p.key)).join('.')}: ${i.message}`);
}

function dispatcher(
  config: unknown,
  env: Record<string, string>,
  store: Record<string, string> = {},
  options: Partial<DispatcherOptions> = {},
) {
  return new AlertDispatcher(v.parse(alertsSchema, config, parseOptions), {
    resolveSecret: resolver(env, store),
    sleep: () => Promise.resolve(),
    retries: 0,
    timeoutMs: 5000,
    scheduleNotices: false,
    ...options,
  });
}

const TIME = '2025-01-02T03:04:05.000Z';
const violation: Alert = makeAlert({
  event: 'violation.found',
  ref: 'alpha/arb1',
  fingerprint: '0123456789abcdef',
  codes: ['WITHDRAW_ENABLED', 'NOT_IP_LOCKED'],
  summary: 'Key 0123456789abcdef of alpha/arb1 can withdraw & is not IP-locked <see verify>',
  time: TIME,
});

function only(results: AlertResult[]): AlertResult {
  expect(results).toHaveLength(1);
  return results[0]!;
}

describe('alerts schema', () => {
  const ok = {
    hook: { type: 'webhook', url: 'https://ops.example.com/keyctl', secret: 'env:KEYCTL_WEBHOOK_SECRET' },
    desk: { type: 'slack', webhookUrl: 'store:alerts/slack-url', minSeverity: 'critical' },
    tg: { type: 'telegram', token: 'env:TG_TOKEN', chatId: -100123, events: ['violation.found', 'kill.done'] },
    pd: { type: 'pagerduty', routingKey: 'store:alerts/pagerduty' },
    mail: {
      type: 'email',
      host: 'smtp.example.com',
      user: 'keyctl',
      password: 'env:SMTP_PASSWORD',
      from: 'keyctl@example.com',
      to: ['ops@example.com'],
    },
  };

  it('accepts every channel type and fills in the defaults', () => {
    const r = parse(ok);
    if (!r.success) throw new Error(issues(ok).join('\n'));
    const c = r.output;
    expect(c.hook).toMatchObject({ minSeverity: 'warning' });
    expect(c.hook!.events).toContain('violation.found');
    expect(c.tg).toMatchObject({ events: ['violation.found', 'kill.done'], chatId: -100123 });
    expect(c.pd).toMatchObject({ url: 'https://events.pagerduty.com/v2/enqueue' });
    expect(c.mail).toMatchObject({ port: 587, secure: false, requireTLS: true });
  });

  it.each([
    ['a Slack URL', { type: 'slack', webhookUrl: 'https://hooks.slack.com/services/T1/B1/FAKE-SECRET-CANARY-inline' }, 'webhookUrl'],
    ['a Telegram token', { type: 'telegram', token: '123:FAKE-SECRET-CANARY-inline', chatId: 1 }, 'token'],
    ['a PagerDuty routing key', { type: 'pagerduty', routingKey: 'FAKE-SECRET-CANARY-inline-000032' }, 'routingKey'],
    [
      'an SMTP password',
      {
        type: 'email',
        host: 'smtp.example.com',
        user: 'u',
        password: 'FAKE-SECRET-CANARY-inline',
        from: 'a@example.com',
        to: ['b@example.com'],
      },
      'password',
    ],
    ['a webhook signing secret', { type: 'webhook', url: 'https://ops.example.com/h', secret: 'FAKE-SECRET-CANARY-inline' }, 'secret'],
  ])('refuses %s written inline, without repeating it', (_what, channel, field) => {
    const found = issues({ ch: channel });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^ch\\.${field}: must be a reference to the secret, env:NAME or store:path`));
    expect(found[0]).not.toContain('FAKE-SECRET-CANARY');
  });

  it('takes env: and store: references, and refuses malformed ones', () => {
    expect(issues({ s: { type: 'slack', webhookUrl: 'env:SLACK_URL_1' } })).toEqual([]);
    expect(issues({ s: { type: 'slack', webhookUrl: 'store:alerts/slack/desk-1.url' } })).toEqual([]);
    for (const bad of ['env:', 'env:1X', 'store:', 'store:../x', 'store:a//b', 'vault:x']) {
      expect(issues({ s: { type: 'slack', webhookUrl: bad } }), bad).toHaveLength(1);
    }
  });

  it('takes https URLs, http only to this machine, and no credentials in a URL', () => {
    const hook = (url: string) => issues({ h: { type: 'webhook', url } });
    expect(hook('https://ops.example.com/keyctl')).toEqual([]);
    expect(hook('http://127.0.0.1:8080/keyctl')).toEqual([]);
    expect(hook('http://localhost/keyctl')).toEqual([]);
    expect(hook('http://[::1]:9/keyctl')).toEqual([]);
    expect(hook('env:OPS_WEBHOOK_URL')).toEqual([]);
    expect(hook('http://ops.example.com/keyctl')).toEqual([expect.stringContaining('must be https')]);
    expect(hook('http://127.0.0.1.example.com/keyctl')).toEqual([expect.stringContaining('must be https')]);
    expect(hook('https://user:FAKE-SECRET-CANARY-pw@ops.example.com/')).toEqual([
      expect.stringContaining('must not hold a user or password'),
    ]);
    expect(hook('ftp://ops.example.com/')).toEqual([expect.stringContaining('https')]);
    expect(hook('not a url')[0]).not.toContain('not a url');
    const pd = (url: string) => issues({ p: { type: 'pagerduty', routingKey: 'env:PD', url } });
    expect(pd('https://events.eu.pagerduty.com/v2/enqueue')).toEqual([]);
    expect(pd('http://events.pagerduty.com/v2/enqueue')).toHaveLength(1);
    const tg = (apiBase: string) => issues({ t: { type: 'telegram', token: 'env:TG', chatId: '@desk', apiBase } });
    expect(tg('http://127.0.0.1:8081')).toEqual([]);
    expect(tg('https://api.telegram.org')).toEqual([expect.stringContaining('must point to this machine')]);
  });

  it('keeps SMTP on TLS except to this machine, and wants a user with a password', () => {
    const mail = (extra: Record<string, unknown>) =>
      issues({ m: { type: 'email', host: 'smtp.example.com', from: 'a@example.com', to: ['b@example.com'], ...extra } });
    expect(mail({ requireTLS: false })).toEqual([expect.stringMatching(/^m\.requireTLS: must stay true/)]);
    expect(mail({ requireTLS: false, secure: true, port: 465 })).toEqual([]);
    expect(mail({ requireTLS: false, host: '127.0.0.1', port: 25 })).toEqual([]);
    expect(mail({ password: 'env:SMTP_PASSWORD' })).toEqual(['m.user: required when password is set']);
    expect(mail({ to: [] })).toEqual([expect.stringContaining('at least one recipient')]);
    expect(mail({ to: ['not-an-address'] })).toEqual([expect.stringContaining('e-mail address')]);
  });

  it('refuses unknown fields, types, events, severities and channel names', () => {
    expect(issues({ s: { type: 'slack', webhookUrl: 'env:S', minSeverty: 'info' } })).toEqual(['s.minSeverty: unknown field "minSeverty"']);
    expect(issues({ s: { type: 'discord', url: 'https://x.example' } })[0]).toMatch(/^s\.type: Invalid discriminator value/);
    expect(issues({ s: { webhookUrl: 'env:S' } })[0]).toMatch(/^s\.type: required, one of 'webhook' \| 'slack'/);
    expect(issues({ s: { type: 'slack', webhookUrl: 'env:S', events: ['violation.fond'] } })).toHaveLength(1);
    expect(issues({ s: { type: 'slack', webhookUrl: 'env:S', events: [] } })).toHaveLength(1);
    expect(issues({ s: { type: 'slack', webhookUrl: 'env:S', minSeverity: 'error' } })).toHaveLength(1);
    expect(issues({ 'Bad Name': { type: 'slack', webhookUrl: 'env:S' } })[0]).toContain('Channel names use lowercase');
    // Worded as the rest of keyctl.yaml words a list where a mapping belongs (src/config/schema-kit.ts).
    expect(issues([{ type: 'slack', webhookUrl: 'env:S' }])).toEqual([': Invalid input: expected record, received array']);
  });
});

describe('generic webhook', () => {
  let hook: WebhookReceiver;
  beforeAll(async () => {
    hook = await webhookReceiver({ secret: HMAC_SECRET });
  });
  afterAll(() => hook.close());

  it('POSTs the documented JSON, signed over timestamp and body', async () => {
    const d = dispatcher({ ops: { type: 'webhook', url: hook.url, secret: 'env:HOOK_SECRET' } }, { HOOK_SECRET: HMAC_SECRET });
    const r = only(await d.send(violation));
    expect(r).toMatchObject({ channel: 'ops', type: 'webhook', outcome: 'sent', attempts: 1 });
    const got = hook.requests.at(-1)!;
    expect(got.problems).toEqual([]);
    expect(got.json).toEqual({
      version: 1,
      event: 'violation.found',
      severity: 'critical',
      ref: 'alpha/arb1',
      fingerprint: '0123456789abcdef',
      codes: ['WITHDRAW_ENABLED', 'NOT_IP_LOCKED'],
      summary: violation.summary,
      time: TIME,
      resolved: false,
      dedupKey: 'violation:alpha/arb1:NOT_IP_LOCKED,WITHDRAW_ENABLED',
    });
    expect(got.headers['x-keyctl-event']).toBe('violation.found');
    expect(got.headers['x-keyctl-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(got.headers['x-keyctl-delivery']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('is refused (401, not retried) when signed with another secret', async () => {
    const d = dispatcher(
      { ops: { type: 'webhook', url: hook.url, secret: 'env:HOOK_SECRET' } },
      { HOOK_SECRET: 'FAKE-other-secret-0000' },
      {},
      { retries: 2 },
    );
    const r = only(await d.send(violation));
    expect(r).toMatchObject({ outcome: 'failed', attempts: 1, error: { code: 'ALERT_AUTH' } });
    expect(r.error!.message).toContain(`webhook at ${hook.base}`);
  });

  it('takes its URL from a reference, and never shows more of it than the origin', async () => {
    const open = await webhookReceiver({ path: '/hook/FAKE-SECRET-CANARY-path-token' });
    try {
      const d = dispatcher({ ops: { type: 'webhook', url: 'store:alerts/hook-url' } }, {}, { 'alerts/hook-url': open.url });
      expect(only(await d.send(violation)).outcome).toBe('sent');
      open.script({ status: 500, body: 'upstream down' });
      const r = only(await d.send(violation));
      expect(r.error).toEqual({ code: 'ALERT_UNAVAILABLE', message: `webhook at ${open.base} failed (HTTP 500): upstream down.` });
      expect(JSON.stringify(r)).not.toContain('FAKE-SECRET-CANARY');
    } finally {
      await open.close();
    }
  });
});

describe('Slack', () => {
  let slack: SlackReceiver;
  beforeAll(async () => {
    slack = await slackReceiver(SLACK_PATH);
  });
  afterAll(() => slack.close());
  const config = { desk: { type: 'slack', webhookUrl: 'env:SLACK_URL' } };

  it('POSTs {text} and takes the `ok` answer', async () => {
    const d = dispatcher(config, { SLACK_URL: slack.webhookUrl });
    expect(only(await d.send(violation))).toMatchObject({ outcome: 'sent', attempts: 1 });
    const got = slack.requests.at(-1)!;
    expect(got.problems).toEqual([]);
    const text = (got.json as { text: string }).text;
    expect(text).toContain('*[CRITICAL] violation.found alpha/arb1*');
    expect(text).toContain('can withdraw &amp; is not IP-locked &lt;see verify&gt;');
    expect(text).toContain('codes: WITHDRAW_ENABLED, NOT_IP_LOCKED');
  });

  it.each([
    [404, 'channel_not_found', 'ALERT_REJECTED'],
    [400, 'invalid_payload', 'ALERT_REJECTED'],
    [403, 'action_prohibited', 'ALERT_AUTH'],
    [410, 'channel_is_archived', 'ALERT_REJECTED'],
    [500, 'rollup_error', 'ALERT_UNAVAILABLE'],
  ])('maps HTTP %i %s to %s, never showing the webhook path', async (status, body, code) => {
    slack.script({ status, body });
    const r = only(await dispatcher(config, { SLACK_URL: slack.webhookUrl }).send(violation));
    expect(r).toMatchObject({ outcome: 'failed', error: { code } });
    expect(r.error!.message).toContain(body);
    expect(r.error!.message).toContain(`Slack at ${slack.base}`);
    expect(r.error!.message).not.toContain('/services/');
  });

  it('treats a 200 without `ok` as a failed delivery', async () => {
    slack.script({ status: 200, body: '<html>login</html>' });
    const r = only(await dispatcher(config, { SLACK_URL: slack.webhookUrl }).send(violation));
    expect(r.error?.code).toBe('ALERT_BAD_RESPONSE');
  });

  it('refuses a resolved URL that is plain http to another host, before sending anything', async () => {
    const before = slack.requests.length;
    const r = only(await dispatcher(config, { SLACK_URL: 'http://hooks.example.com/services/T/B/FAKE-SECRET-CANARY-x' }).send(violation));
    expect(r.error).toMatchObject({ code: 'ALERT_CONFIG' });
    expect(r.error!.message).toContain('env:SLACK_URL');
    expect(r.error!.message).not.toContain('FAKE-SECRET-CANARY');
    expect(slack.requests.length).toBe(before);
  });
});

describe('Telegram', () => {
  let tg: HttpReceiver;
  beforeAll(async () => {
    tg = await telegramReceiver(TELEGRAM_TOKEN, CHAT_ID);
  });
  afterAll(() => tg.close());
  const config = () => ({ chat: { type: 'telegram', token: 'env:TG_TOKEN', chatId: CHAT_ID, apiBase: tg.base } });

  it('POSTs sendMessage {chat_id, text} and takes {ok: true}', async () => {
    const r = only(await dispatcher(config(), { TG_TOKEN: TELEGRAM_TOKEN }).send(violation));
    expect(r).toMatchObject({ outcome: 'sent', attempts: 1 });
    const got = tg.requests.at(-1)!;
    expect(got.problems).toEqual([]);
    expect(got.path).toBe(`/bot${TELEGRAM_TOKEN}/sendMessage`);
    expect(got.json).toMatchObject({ chat_id: CHAT_ID, disable_notification: false });
    expect((got.json as { text: string }).text).toMatch(/^\[CRITICAL\] violation\.found alpha\/arb1\nKey 0123456789abcdef/);
  });

  it('keeps text within 4096 characters', async () => {
    const long = makeAlert({ event: 'rotation.failed', ref: 'alpha/arb1', codes: ['X'], summary: '🔑'.repeat(5000), time: TIME });
    expect(only(await dispatcher(config(), { TG_TOKEN: TELEGRAM_TOKEN }).send(long)).outcome).toBe('sent');
    const got = tg.requests.at(-1)!;
    expect(got.problems).toEqual([]);
    expect((got.json as { text: string }).text.length).toBeLessThanOrEqual(4096);
  });

  it('reports an unknown chat, a refused token and a 429 without the token', async () => {
    const wrongChat = only(await dispatcher({ chat: { ...config().chat, chatId: 42 } }, { TG_TOKEN: TELEGRAM_TOKEN }).send(violation));
    expect(wrongChat.error).toEqual({
      code: 'ALERT_REJECTED',
      message: `Telegram Bot API at ${tg.base} refused the alert (HTTP 400): Bad Request: chat not found.`,
    });

    const otherToken = '987654321:FAKE-SECRET-CANARY-telegram-wrong';
    const refused = only(await dispatcher(config(), { TG_TOKEN: otherToken }, {}, { retries: 2 }).send(violation));
    expect(refused).toMatchObject({ attempts: 1, error: { code: 'ALERT_AUTH' } });
    expect(JSON.stringify(refused)).not.toContain('FAKE-SECRET-CANARY');

    tg.script({
      status: 429,
      body: { ok: false, error_code: 429, description: 'Too Many Requests: retry after 7', parameters: { retry_after: 7 } },
    });
    const waits: number[] = [];
    const limited = only(
      await dispatcher(config(), { TG_TOKEN: TELEGRAM_TOKEN }, {}, { retries: 1, sleep: (ms) => (waits.push(ms), Promise.resolve()) }).send(
        violation,
      ),
    );
    expect(limited).toMatchObject({ outcome: 'sent', attempts: 2 });
    expect(waits[0]).toBeGreaterThanOrEqual(7000);
  });

  it('refuses a value that is not a bot token without putting it in a path', async () => {
    const before = tg.requests.length;
    const r = only(await dispatcher(config(), { TG_TOKEN: 'FAKE-SECRET-CANARY/../../x' }).send(violation));
    expect(r.error?.code).toBe('ALERT_CONFIG');
    expect(r.error!.message).not.toContain('FAKE-SECRET-CANARY');
    expect(tg.requests.length).toBe(before);
  });
});

describe('PagerDuty', () => {
  let pd: PagerDutyReceiver;
  beforeAll(async () => {
    pd = await pagerdutyReceiver(PD_KEY);
  });
  afterAll(() => pd.close());
  const config = () => ({ oncall: { type: 'pagerduty', routingKey: 'store:alerts/pagerduty', url: pd.eventsUrl, source: 'keyctl-test' } });
  const store = { 'alerts/pagerduty': PD_KEY };

  it('triggers with the dedup key, then resolves the same dedup key', async () => {
    const d = dispatcher(config(), {}, store);
    expect(only(await d.send(violation))).toMatchObject({ outcome: 'sent', attempts: 1 });
    const trigger = pd.requests.at(-1)!;
    expect(trigger.problems).toEqual([]);
    expect(trigger.json).toMatchObject({
      routing_key: PD_KEY,
      event_action: 'trigger',
      dedup_key: violation.dedupKey,
      payload: { source: 'keyctl-test', severity: 'critical', timestamp: TIME, class: 'violation.found', component: 'alpha/arb1' },
    });
    expect(pd.alerts.get(violation.dedupKey)).toBe('triggered');

    const resolved = resolutionOf(violation, 'alpha/arb1 passes verification again.', '2025-01-02T04:00:00.000Z');
    expect(only(await d.send(resolved)).outcome).toBe('sent');
    const resolve = pd.requests.at(-1)!;
    expect(resolve.problems).toEqual([]);
    expect(resolve.json).toEqual({ routing_key: PD_KEY, event_action: 'resolve', dedup_key: violation.dedupKey });
    expect(pd.alerts.get(violation.dedupKey)).toBe('resolved');
  });

  it('maps severities and keeps summary and dedup key within their limits', async () => {
    const long = makeAlert({
      event: 'key.expiring',
      severity: 'warning',
      ref: 'beta/mm',
      summary: 'x'.repeat(3000),
      dedupKey: 'k'.repeat(400),
      time: TIME,
    });
    expect(only(await dispatcher(config(), {}, store).send(long)).outcome).toBe('sent');
    const got = pd.requests.at(-1)!;
    expect(got.problems).toEqual([]);
    const e = got.json as { dedup_key: string; payload: { summary: string; severity: string } };
    expect(e.payload.severity).toBe('warning');
    expect(e.payload.summary.length).toBeLessThanOrEqual(1024);
    expect(e.dedup_key).toMatch(/^keyctl:sha256:[0-9a-f]{64}$/);
  });

  it('reports 400 "invalid event" without retrying, and with no secret the answer echoed', async () => {
    pd.script({
      status: 400,
      body: { status: 'invalid event', message: 'Event object is invalid', errors: [`Invalid routing key ${PD_KEY}`] },
    });
    const r = only(await dispatcher(config(), {}, store, { retries: 3 }).send(violation));
    expect(r).toMatchObject({ outcome: 'failed', attempts: 1, error: { code: 'ALERT_REJECTED' } });
    expect(r.error!.message).toBe(
      `PagerDuty at ${pd.base} refused the alert (HTTP 400): invalid event: Event object is invalid (Invalid routing key [REDACTED]).`,
    );
  });

  it('retries a 429 and a 5xx, and calls a non-success 202 a failure', async () => {
    pd.script({ status: 429, body: '' }, { status: 502, body: 'bad gateway' });
    const ok = only(await dispatcher(config(), {}, store, { retries: 3 }).send(violation));
    expect(ok).toMatchObject({ outcome: 'sent', attempts: 3 });
    pd.script({ status: 202, body: { status: 'queued?' } });
    expect(only(await dispatcher(config(), {}, store).send(violation)).error?.code).toBe('ALERT_BAD_RESPONSE');
  });

  it('refuses a routing key that is not 32 characters, and one PagerDuty does not know', async () => {
    const short = only(await dispatcher(config(), {}, { 'alerts/pagerduty': 'FAKE-SECRET-CANARY-short' }).send(violation));
    expect(short.error?.code).toBe('ALERT_CONFIG');
    expect(short.error!.message).not.toContain('FAKE-SECRET-CANARY');
    const unknown = only(await dispatcher(config(), {}, { 'alerts/pagerduty': 'FAKE-SECRET-CANARY-unknown-00032' }).send(violation));
    expect(unknown.error?.code).toBe('ALERT_REJECTED');
  });

  it('resolves a test alert as soon as it is accepted', async () => {
    const results = await dispatcher(config(), {}, store).test('oncall');
    expect(only(results)).toMatchObject({ outcome: 'sent', alert: { event: 'alert.test', severity: 'info' } });
    const [trigger, resolve] = pd.requests.slice(-2).map((r) => r.json as { event_action: string; dedup_key: string });
    expect([trigger!.event_action, resolve!.event_action]).toEqual(['trigger', 'resolve']);
    expect(pd.alerts.get(trigger!.dedup_key)).toBe('resolved');
  });
});

describe('e-mail (SMTP)', () => {
  const mail = (port: number, ca: string | undefined, extra: Record<string, unknown> = {}) => ({
    mail: {
      type: 'email',
      host: '127.0.0.1',
      port,
      user: 'keyctl-alerts',
      password: 'env:SMTP_PASSWORD',
      from: 'keyctl@example.com',
      to: ['ops@example.com', 'desk@example.com'],
      ...(ca ? { ca } : {}),
      ...extra,
    },
  });

  it('sends over STARTTLS, logs in after TLS, and the message holds the alert', async () => {
    const smtp = await smtpReceiver({ user: 'keyctl-alerts', password: SMTP_PASSWORD });
    try {
      const r = only(await dispatcher(mail(smtp.port, smtp.caPath), { SMTP_PASSWORD }).send(violation));
      expect(r).toMatchObject({ outcome: 'sent', attempts: 1 });
      expect(smtp.logins).toEqual([
        { method: expect.stringMatching(/PLAIN|LOGIN/), username: 'keyctl-alerts', password: SMTP_PASSWORD, secure: true, ok: true },
      ]);
      const [m] = smtp.messages;
      expect(m).toMatchObject({ from: 'keyctl@example.com', to: ['ops@example.com', 'desk@example.com'], secure: true });
      const raw = m!.raw.replace(/\r\n[ \t]+/g, ' ');
      expect(raw).toMatch(/^Subject: keyctl \[CRITICAL\] violation\.found alpha\/arb1$/m);
      expect(raw).toMatch(/^X-Keyctl-Event: violation\.found$/m);
      expect(raw).toContain('codes: WITHDRAW_ENABLED, NOT_IP_LOCKED');
    } finally {
      await smtp.close();
    }
  });

  it('sends over implicit TLS (secure: true)', async () => {
    const smtp = await smtpReceiver({ user: 'keyctl-alerts', password: SMTP_PASSWORD, tls: 'implicit' });
    try {
      const r = only(await dispatcher(mail(smtp.port, smtp.caPath, { secure: true }), { SMTP_PASSWORD }).send(violation));
      expect(r.outcome).toBe('sent');
      expect(smtp.messages[0]?.secure).toBe(true);
    } finally {
      await smtp.close();
    }
  });

  it('reports a refused login without retrying it and without the password', async () => {
    const smtp = await smtpReceiver({ user: 'keyctl-alerts', password: 'FAKE-the-right-one-000' });
    try {
      const r = only(await dispatcher(mail(smtp.port, smtp.caPath), { SMTP_PASSWORD }, {}, { retries: 2 }).send(violation));
      expect(r).toMatchObject({ outcome: 'failed', attempts: 1, error: { code: 'ALERT_AUTH' } });
      expect(JSON.stringify(r)).not.toContain(SMTP_PASSWORD);
      expect(smtp.messages).toEqual([]);
    } finally {
      await smtp.close();
    }
  });

  it('sends nothing, not even the login, to a server that offers no STARTTLS', async () => {
    const smtp = await smtpReceiver({ user: 'keyctl-alerts', password: SMTP_PASSWORD, tls: 'none' });
    try {
      const r = only(await dispatcher(mail(smtp.port, smtp.caPath), { SMTP_PASSWORD }, {}, { retries: 2 }).send(violation));
      expect(r).toMatchObject({ outcome: 'failed', attempts: 1, error: { code: 'ALERT_NETWORK' } });
      expect(r.error!.message).toContain('STARTTLS');
      expect(smtp.logins).toEqual([]);
      expect(smtp.messages).toEqual([]);
    } finally {
      await smtp.close();
    }
  });

  it('does not trust a certificate it was not told to, and does not retry that', async () => {
    const smtp = await smtpReceiver({ user: 'keyctl-alerts', password: SMTP_PASSWORD });
    try {
      const r = only(await dispatcher(mail(smtp.port, undefined), { SMTP_PASSWORD }, {}, { retries: 2 }).send(violation));
      expect(r).toMatchObject({ outcome: 'failed', attempts: 1, error: { code: 'ALERT_NETWORK' } });
      expect(r.error!.message).toContain('certificate is not trusted');
      expect(smtp.logins).toEqual([]);
    } finally {
      await smtp.close();
    }
  });
});

describe('canary: no planted secret leaves except as its own channel credential, in its documented place', () => {
  it('holds for every channel, on success and on error answers', async () => {
    const env = { SLACK_URL: '', TG_TOKEN: TELEGRAM_TOKEN, HOOK_SECRET: HMAC_SECRET, SMTP_PASSWORD };
    const store: Record<string, string> = { 'alerts/pagerduty': PD_KEY, 'alpha/arb1/current': EXCHANGE_SECRET };
    const slack = await slackReceiver(SLACK_PATH);
    const tg = await telegramReceiver(TELEGRAM_TOKEN, CHAT_ID);
    const pd = await pagerdutyReceiver(PD_KEY);
    const hook = await webhookReceiver({ secret: HMAC_SECRET });
    const smtp = await smtpReceiver({ user: 'keyctl-alerts', password: SMTP_PASSWORD });
    try {
      env.SLACK_URL = slack.webhookUrl;
      const results: AlertResult[] = [];
      const d = dispatcher(
        {
          hook: { type: 'webhook', url: hook.url, secret: 'env:HOOK_SECRET', minSeverity: 'info' },
          slack: { type: 'slack', webhookUrl: 'env:SLACK_URL', minSeverity: 'info' },
          tg: { type: 'telegram', token: 'env:TG_TOKEN', chatId: CHAT_ID, apiBase: tg.base, minSeverity: 'info' },
          pd: { type: 'pagerduty', routingKey: 'store:alerts/pagerduty', url: pd.eventsUrl, minSeverity: 'info' },
          mail: {
            type: 'email',
            host: '127.0.0.1',
            port: smtp.port,
            ca: smtp.caPath,
            user: 'keyctl-alerts',
            password: 'env:SMTP_PASSWORD',
            from: 'keyctl@example.com',
            to: ['ops@example.com'],
            minSeverity: 'info',
          },
        },
        env,
        store,
        { retries: 1, onResult: (r) => results.push(r) },
      );
      await d.send(violation);
      await d.send(resolutionOf(violation, 'alpha/arb1 passes verification again.', TIME));
      await d.test();
      // Error answers that quote the credential back must not carry it into a result.
      slack.script({ status: 404, body: `channel_not_found for ${slack.webhookUrl}` });
      tg.script({ status: 400, body: { ok: false, error_code: 400, description: `Bad Request: bot${TELEGRAM_TOKEN} cannot post` } });
      pd.script({
        status: 400,
        body: { status: 'invalid event', message: `routing key ${PD_KEY}`, errors: [Buffer.from(PD_KEY).toString('base64')] },
      });
      hook.script({ status: 400, body: `bad signature, expected secret ${HMAC_SECRET}` });
      await d.send(
        makeAlert({
          event: 'store.unreachable',
          summary: 'The secret store does not answer (STORE_UNAVAILABLE).',
          codes: ['STORE_UNAVAILABLE'],
          time: TIME,
        }),
      );

      expect(results.filter((r) => r.outcome === 'sent')).toHaveLength(16);
      expect(
        results
          .filter((r) => r.outcome === 'failed')
          .map((r) => r.channel)
          .sort(),
      ).toEqual(['hook', 'pd', 'slack', 'tg']);

      const canaries = [SLACK_PATH.split('/').pop()!, TELEGRAM_TOKEN, PD_KEY, HMAC_SECRET, SMTP_PASSWORD, EXCHANGE_SECRET];
      const forms = canaries.flatMap((c) => secretForms(c).map((f) => [c, f] as const));
      const leaks = (where: string, text: string, allowed: string[] = []): string[] =>
        forms.filter(([c, f]) => !allowed.includes(c) && text.includes(f)).map(([c]) => `${where}: ${c}`);
      const surface = (r: Recorded, body = r.body) => `${r.method} ${JSON.stringify(r.headers)}\n${body}`;

      const found: string[] = [];
      for (const r of slack.requests) {
        found.push(...leaks('slack path', r.path, [SLACK_PATH.split('/').pop()!]), ...leaks('slack request', surface(r)));
      }
      for (const r of tg.requests)
        found.push(...leaks('telegram path', r.path, [TELEGRAM_TOKEN]), ...leaks('telegram request', surface(r)));
      for (const r of pd.requests) {
        const { routing_key: key, ...rest } = r.json as Record<string, unknown>;
        expect(key).toBe(PD_KEY);
        found.push(...leaks('pagerduty path', r.path), ...leaks('pagerduty request', surface(r, JSON.stringify(rest))));
      }
      for (const r of hook.requests) found.push(...leaks('webhook', `${r.path} ${surface(r)}`));
      for (const m of smtp.messages) found.push(...leaks('e-mail message', m.raw));
      expect(smtp.logins.every((l) => l.password === SMTP_PASSWORD && l.secure)).toBe(true);
      found.push(...leaks('results', JSON.stringify(results)));
      expect(found).toEqual([]);

      // Every request matched its service's documented shape.
      for (const r of [...slack.requests, ...tg.requests, ...pd.requests, ...hook.requests]) expect(r.problems).toEqual([]);
      expect(smtp.messages).toHaveLength(4);
    } finally {
      await Promise.all([slack.close(), tg.close(), pd.close(), hook.close(), smtp.close()]);
    }
  });
});
