/**
 * PagerDuty Events API v2: POST https://events.pagerduty.com/v2/enqueue with `{routing_key, event_action, dedup_key,
 * payload: {summary, source, severity, ...}}`. `routing_key` is the service's 32-character integration key;
 * `event_action` is trigger, acknowledge or resolve; `dedup_key` (at most 255 characters) correlates a resolve with
 * the trigger that opened the alert; `payload.summary` is at most 1024 characters; `payload.severity` is critical,
 * error, warning or info. A resolve needs only routing_key, dedup_key and event_action. Answers: 202
 * `{"status":"success","message":"Event processed","dedup_key":...}`; 400 `{"status":"invalid event","message":...,
 * "errors":[...]}` (do not retry); 429 and 5xx (retry after some time).
 *   https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
 *   https://developer.pagerduty.com/docs/events-api-v2/overview/#response-codes--retry-logic
 *   (sources: github.com/PagerDuty/developer-docs, docs/events-API-v2/01-Overview.md and 02-Trigger-Events.md)
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { AlertCode, AlertError } from '../errors.js';
import type { PagerDutyChannel } from '../schema.js';
import { secretOf, type SendContext } from '../context.js';
import { title, truncate } from '../format.js';
import { isRecord, originOf, parseJson, postJson, retryAfter, statusError } from '../http.js';
import type { Alert, AlertEvent, Severity } from '../types.js';

const MAX_SUMMARY = 1024;
const NOTICES: ReadonlySet<AlertEvent> = new Set<AlertEvent>(['alert.test', 'alert.suppressed', 'review.ready']);
const MAX_DEDUP_KEY = 255;

const SEVERITY: Record<Severity, 'critical' | 'warning' | 'info'> = { critical: 'critical', warning: 'warning', info: 'info' };

export function pagerdutySecretRefs(channel: PagerDutyChannel): string[] {
  return [channel.routingKey];
}

/** The alert's dedup key, or a stable hash of it when it is longer than PagerDuty takes. */
export function pagerdutyDedupKey(alert: Alert): string {
  if (alert.dedupKey.length <= MAX_DEDUP_KEY) return alert.dedupKey;
  return `keyctl:sha256:${createHash('sha256').update(alert.dedupKey, 'utf8').digest('hex')}`;
}

/** The event for `alert`: a resolve for a resolution, a trigger otherwise. */
export function pagerdutyEvent(channel: PagerDutyChannel, alert: Alert, routingKey: string): Record<string, unknown> {
  const dedupKey = pagerdutyDedupKey(alert);
  if (alert.resolved) return { routing_key: routingKey, event_action: 'resolve', dedup_key: dedupKey };
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey,
    payload: {
      summary: truncate(`${title(alert)}: ${alert.summary}`, MAX_SUMMARY),
      source: channel.source ?? `keyctl@${hostname()}`,
      severity: SEVERITY[alert.severity],
      timestamp: alert.time,
      component: alert.ref ?? 'keyctl',
      group: 'keyctl',
      class: alert.event,
      custom_details: { event: alert.event, ref: alert.ref ?? null, fingerprint: alert.fingerprint ?? null, codes: alert.codes },
    },
    client: 'keyctl',
  };
}

export async function sendPagerDuty(channel: PagerDutyChannel, alert: Alert, ctx: SendContext): Promise<void> {
  const routingKey = secretOf(ctx, channel.routingKey).trim();
  if (routingKey.length !== 32) {
    throw new AlertError(
      AlertCode.CONFIG,
      `Channel "${ctx.channel}": the value of ${channel.routingKey} is not a 32-character PagerDuty integration key.`,
    );
  }
  await enqueue(channel, pagerdutyEvent(channel, alert, routingKey), ctx);
  // A test or a suppression notice has no condition that will later end: resolved as soon as accepted, so it does not
  // stay open on the on-call's phone.
  if (NOTICES.has(alert.event) && !alert.resolved)
    await enqueue(channel, pagerdutyEvent(channel, { ...alert, resolved: true }, routingKey), ctx);
}

async function enqueue(channel: PagerDutyChannel, event: Record<string, unknown>, ctx: SendContext): Promise<void> {
  const where = `PagerDuty at ${originOf(channel.url)}`;
  const answer = await postJson(channel.url, JSON.stringify(event), { service: 'PagerDuty', signal: ctx.signal });
  const json = parseJson(answer.text);
  if (answer.status === 202 && isRecord(json) && json.status === 'success') return;
  if (answer.status === 202) throw new AlertError(AlertCode.BAD_RESPONSE, `${where} answered 202 without {"status": "success"}.`);
  throw statusError(answer.status, where, isRecord(json) ? describe(json) : answer.text, ctx.scrub, retryAfter(answer.headers, ctx.now()));
}

/** `invalid event: Event object is invalid (Length of 'routing_key' is incorrect ...)` from PagerDuty's error body. */
function describe(json: Record<string, unknown>): string {
  const errors = Array.isArray(json.errors) ? json.errors.filter((e): e is string => typeof e === 'string') : [];
  const head = [json.status, json.message].filter((s): s is string => typeof s === 'string').join(': ');
  return `${head}${errors.length ? ` (${errors.join('; ')})` : ''}`;
}
