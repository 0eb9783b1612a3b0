/**
 * The `alerts:` section of keyctl.yaml: a mapping from a channel name to a channel (docs/alerts.md).
 *
 *   alerts:
 *     ops:   { type: webhook, url: https://ops.example.com/keyctl, secret: env:KEYCTL_WEBHOOK_SECRET }
 *     desk:  { type: slack, webhookUrl: store:alerts/slack-url, minSeverity: critical }
 *
 * Channel credentials (a Slack webhook URL, a Telegram bot token, a PagerDuty routing key, an SMTP password, a
 * webhook's signing secret) are *references*, `env:NAME` or `store:path`, resolved when an alert is sent: a value
 * that is not a reference is refused, so a credential never sits in a config file that is committed, copied into
 * tickets and printed by `keyctl config`. Plain http is refused except to this machine (tests, a local relay).
 *
 * Written in the style of src/config/schema.ts (strict objects, a tagged union) with local copies of its helpers:
 * that file will import this one, so this one must not import it (no cycles).
 */
import * as v from 'valibot';
import { mapping, oneOf, strict, tagged } from '../config/schema-kit.js';
import { ALERT_EVENTS, SEVERITIES } from './types.js';

const nonEmpty = v.pipe(v.string(), v.minLength(1));

const ENV_REF = /^env:[A-Za-z_][A-Za-z0-9_]*$/;
// Store paths: segments of letters, digits, `.`, `_` and `-`, none starting with `.` (so no `.` or `..`).
const STORE_REF = /^store:[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;

/** Whether `value` is a secret reference (`env:NAME`, `store:path`). */
export function isSecretRef(value: string): boolean {
  return ENV_REF.test(value) || STORE_REF.test(value);
}

const REF_MESSAGE =
  'must be a reference to the secret, env:NAME or store:path (e.g. env:KEYCTL_SLACK_URL or store:alerts/slack-url), ' +
  'never the secret itself: a credential written in keyctl.yaml is in every copy of the file';

/**
 * A credential reference. Anything else is refused with a message that never repeats the value: the value is
 * likely the very credential that must not be printed.
 */
export const secretRef = v.pipe(v.string(REF_MESSAGE), v.trim(), v.check(isSecretRef, REF_MESSAGE));

/**
 * A URL hostname (as the WHATWG parser writes it) that names this machine: localhost, 127.0.0.0/8, ::1 and
 * IPv4-mapped loopback. Other names are not trusted: what they resolve to is up to DNS.
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return (
    host === 'localhost' ||
    host === '[::1]' ||
    host === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) ||
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host)
  );
}

/** `value` parsed as a URL, or undefined. */
function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

const URL_RULES: Array<{ message: string; ok: (url: URL, loopbackOnly: boolean) => boolean }> = [
  { message: 'must be an https URL', ok: (url) => url.protocol === 'https:' || url.protocol === 'http:' },
  { message: 'must not hold a user or password: put credentials in a secret reference', ok: (url) => !url.username && !url.password },
  {
    message: 'must point to this machine (localhost, 127.0.0.1, ::1): it is meant for tests and a local Bot API server',
    ok: (url, loopbackOnly) => !loopbackOnly || isLoopbackHost(url.hostname),
  },
  {
    message: 'must be https: plain http is accepted only to this machine (localhost, 127.0.0.1, ::1)',
    ok: (url) => url.protocol !== 'http:' || isLoopbackHost(url.hostname),
  },
];

const NOT_A_URL = 'must be a URL such as https://alerts.example.com/keyctl';

/**
 * Why `value` cannot be an alert URL, or undefined: https, or http to this machine only (an alert tells an attacker
 * on the path which keys are weak right now), and no user or password in it. `loopbackOnly` also refuses any other
 * host (Telegram's `apiBase`: the bot token travels in its path). Messages never repeat the URL.
 */
export function urlProblem(value: string, loopbackOnly = false): string | undefined {
  const url = parseUrl(value);
  if (!url) return NOT_A_URL;
  return URL_RULES.find((rule) => !rule.ok(url, loopbackOnly))?.message;
}

/**
 * The URL rules as valibot checks (plain `check` actions, which the JSON Schema generator knows to skip). `skip`
 * exempts a value from all of them (a secret reference where one is allowed).
 */
function urlChecks(loopbackOnly: boolean, skip: (value: string) => boolean = () => false, suffix = '') {
  return [
    v.check((s: string) => skip(s) || parseUrl(s) !== undefined, `${NOT_A_URL}${suffix}`),
    ...URL_RULES.map((rule) =>
      v.check((s: string) => {
        if (skip(s)) return true;
        const url = parseUrl(s);
        return url === undefined || rule.ok(url, loopbackOnly);
      }, `${rule.message}${suffix}`),
    ),
  ] as const;
}

function urlField(loopbackOnly = false) {
  return v.pipe(v.string(), v.trim(), ...urlChecks(loopbackOnly));
}

/** A plain URL (not a credential), or a reference when the URL itself is one (a URL with a token in it). */
const urlOrRef = v.pipe(
  v.string(),
  v.trim(),
  ...urlChecks(false, isSecretRef, ' (or a reference, env:NAME or store:path, when the URL holds a token)'),
);

const address = v.pipe(v.string(), v.trim(), v.regex(/^[^\s@<>]+@[^\s@<>]+$/, 'must be an e-mail address such as ops@example.com'));

/** What every channel has: which events it wants and from which severity up. */
const common = {
  /** Events this channel gets; all when absent. A resolution reaches the channels of what it resolves. */
  events: v.optional(v.pipe(v.array(oneOf(ALERT_EVENTS)), v.minLength(1, 'list at least one event, or leave events out for all')), () => [
    ...ALERT_EVENTS,
  ]),
  /** Lowest severity this channel gets. */
  minSeverity: v.optional(oneOf(SEVERITIES), 'warning'),
};

/**
 * A generic webhook: a JSON POST of the alert (docs/alerts.md, "Webhook"). With `secret`, each request is signed
 * (HMAC-SHA256, `X-Keyctl-Signature`).
 */
export const webhookChannelSchema = strict({
  type: v.literal('webhook'),
  ...common,
  /** Where to POST. Not a credential; when it holds a token, give it as a reference. */
  url: urlOrRef,
  /** Signing secret for X-Keyctl-Signature. */
  secret: v.optional(secretRef),
});

/** A Slack incoming webhook. Its URL is the credential: anyone who has it can post to the channel. */
export const slackChannelSchema = strict({
  type: v.literal('slack'),
  ...common,
  webhookUrl: secretRef,
});

/** A Telegram bot: sendMessage to one chat. */
export const telegramChannelSchema = strict({
  type: v.literal('telegram'),
  ...common,
  /** The bot token (`123456:ABC...`). */
  token: secretRef,
  /** Chat id (a number; negative for groups) or `@channelusername`. */
  chatId: v.union(
    [v.pipe(v.number(), v.integer()), v.pipe(v.string(), v.trim(), v.minLength(1))],
    'must be a chat id (a number, negative for groups) or @channelusername',
  ),
  /** Bot API base URL. Only this machine (tests, a local Bot API server); default https://api.telegram.org. */
  apiBase: v.optional(urlField(true)),
});

/** PagerDuty Events API v2: a trigger per alert, a resolve per resolution, one dedup key per condition. */
export const pagerdutyChannelSchema = strict({
  type: v.literal('pagerduty'),
  ...common,
  /** The 32-character integration (routing) key. */
  routingKey: secretRef,
  /** Events endpoint; default https://events.pagerduty.com/v2/enqueue (https://events.eu.pagerduty.com/v2/enqueue for EU accounts). */
  url: v.optional(urlField(), 'https://events.pagerduty.com/v2/enqueue'),
  /** payload.source: the system with the problem. Default: keyctl on this host. */
  source: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(255))),
});

/** E-mail through an SMTP server, over TLS (nodemailer). Rules across fields: see channelSchema. */
export const emailChannelSchema = strict({
  type: v.literal('email'),
  ...common,
  host: v.pipe(v.string(), v.trim(), v.minLength(1)),
  port: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), 587),
  /** Implicit TLS from the first byte (usually port 465). */
  secure: v.optional(v.boolean(), false),
  /** STARTTLS is required: without it nothing is sent. Off only to this machine. */
  requireTLS: v.optional(v.boolean(), true),
  user: v.optional(nonEmpty),
  password: v.optional(secretRef),
  from: address,
  to: v.pipe(v.array(address), v.minLength(1, 'list at least one recipient')),
  /** PEM file of a CA to trust for this server (a private relay); the system's CAs otherwise. */
  ca: v.optional(nonEmpty),
});

type AnyChannel = v.InferOutput<ReturnType<typeof channelVariant>>;

/** A rule of the e-mail channel across its fields, reported on `field` (other channel types pass). */
function emailRule(field: 'user' | 'requireTLS', ok: (c: v.InferOutput<typeof emailChannelSchema>) => boolean, message: string) {
  // The path is checked at runtime by forward; typed loosely because the input is the union of every channel type.
  const check = v.check((c: AnyChannel) => c.type !== 'email' || ok(c), message);
  return v.forward(check, [field] as never);
}

function channelVariant() {
  return tagged('type', [webhookChannelSchema, slackChannelSchema, telegramChannelSchema, pagerdutyChannelSchema, emailChannelSchema]);
}

/** One channel. A variant's options must be plain objects, so the e-mail rules across fields are checked here. */
export const channelSchema = v.pipe(
  channelVariant(),
  emailRule('user', (c) => c.password === undefined || c.user !== undefined, 'required when password is set'),
  emailRule(
    'requireTLS',
    (c) => c.secure || c.requireTLS || isLoopbackHost(c.host),
    'must stay true for a server other than this machine: the SMTP login and the alerts would cross the network ' +
      'unencrypted (or use secure: true for implicit TLS)',
  ),
);

const CHANNEL_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The `alerts:` mapping: channel name -> channel. */
export const alertsSchema = mapping(
  v.record(
    v.pipe(
      v.string(),
      v.regex(CHANNEL_NAME, 'Channel names use lowercase letters, digits, "-" and "_" (at most 63 characters)'),
      v.check((n) => !['__proto__', 'constructor', 'prototype'].includes(n), 'is reserved'),
    ),
    channelSchema,
  ),
);

export type AlertsConfig = v.InferOutput<typeof alertsSchema>;
export type ChannelConfig = v.InferOutput<typeof channelSchema>;
export type WebhookChannel = v.InferOutput<typeof webhookChannelSchema>;
export type SlackChannel = v.InferOutput<typeof slackChannelSchema>;
export type TelegramChannel = v.InferOutput<typeof telegramChannelSchema>;
export type PagerDutyChannel = v.InferOutput<typeof pagerdutyChannelSchema>;
export type EmailChannel = v.InferOutput<typeof emailChannelSchema>;
