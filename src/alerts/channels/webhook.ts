/**
 * The generic webhook: a JSON POST of the alert, signed when the channel has a secret.
 *
 * Body (docs/alerts.md, "Webhook"): {version, event, severity, ref, fingerprint, codes, summary, time, resolved,
 * dedupKey}. Any 2xx is success.
 *
 * Signature, when `secret` is set:
 *   X-Keyctl-Timestamp: <unix seconds>
 *   X-Keyctl-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
 * The timestamp is inside the signed string so a captured request cannot be replayed later with a new timestamp; a
 * receiver recomputes the HMAC over the raw bytes it received, compares in constant time, and refuses a timestamp more
 * than 5 minutes away from its clock. The same scheme as Stripe's and Slack's request signing (timestamp, separator,
 * body), so existing verifiers adapt easily. Each attempt is signed afresh; X-Keyctl-Delivery stays the same across
 * retries so a receiver can drop duplicates.
 */
import { createHmac } from 'node:crypto';
import { AlertCode, AlertError } from '../errors.js';
import { isSecretRef, urlProblem, type WebhookChannel } from '../schema.js';
import { secretOf, type SendContext } from '../context.js';
import { originOf, postJson, statusError, retryAfter } from '../http.js';
import type { Alert } from '../types.js';

export const SIGNATURE_HEADER = 'X-Keyctl-Signature';
export const TIMESTAMP_HEADER = 'X-Keyctl-Timestamp';
export const DELIVERY_HEADER = 'X-Keyctl-Delivery';
export const EVENT_HEADER = 'X-Keyctl-Event';

/** The references this channel needs resolved. */
export function webhookSecretRefs(channel: WebhookChannel): string[] {
  return [...(isSecretRef(channel.url) ? [channel.url] : []), ...(channel.secret ? [channel.secret] : [])];
}

/** The JSON body: every field always present (null when unknown), so receivers need no optional handling. */
export function webhookBody(alert: Alert): string {
  return JSON.stringify({
    version: 1,
    event: alert.event,
    severity: alert.severity,
    ref: alert.ref ?? null,
    fingerprint: alert.fingerprint ?? null,
    codes: alert.codes,
    summary: alert.summary,
    time: alert.time,
    resolved: alert.resolved ?? false,
    dedupKey: alert.dedupKey,
  });
}

/** `sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` under `secret`. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex')}`;
}

export async function sendWebhook(channel: WebhookChannel, alert: Alert, ctx: SendContext): Promise<void> {
  const fromRef = isSecretRef(channel.url);
  const url = fromRef ? secretOf(ctx, channel.url).trim() : channel.url;
  if (fromRef) {
    const problem = urlProblem(url);
    if (problem) throw new AlertError(AlertCode.CONFIG, `Channel "${ctx.channel}": the URL from ${channel.url} ${problem}.`);
  }
  const body = webhookBody(alert);
  const headers: Record<string, string> = { [EVENT_HEADER]: alert.event, [DELIVERY_HEADER]: ctx.deliveryId };
  if (channel.secret) {
    const timestamp = String(Math.floor(ctx.now() / 1000));
    headers[TIMESTAMP_HEADER] = timestamp;
    headers[SIGNATURE_HEADER] = webhookSignature(secretOf(ctx, channel.secret), timestamp, body);
  }
  const where = `webhook at ${originOf(url)}`;
  const answer = await postJson(url, body, { service: 'webhook', headers, signal: ctx.signal });
  if (answer.status >= 200 && answer.status < 300) return;
  throw statusError(answer.status, where, answer.text, ctx.scrub, retryAfter(answer.headers, ctx.now()));
}
