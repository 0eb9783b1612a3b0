/**
 * Slack incoming webhook: POST the webhook URL with a JSON body `{"text": "..."}`; `text` is the message (mrkdwn),
 * and Slack answers HTTP 200 with the plain-text body `ok`. Errors come back as a non-200 status with a short string
 * body: 400 `invalid_payload` / `user_not_found`, 403 `action_prohibited`, 404 `channel_not_found`, 410
 * `channel_is_archived`, 500 `rollup_error` (and `no_service`, `invalid_token` for a revoked URL).
 *   https://api.slack.com/messaging/webhooks (now https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks)
 *   https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
 *   https://api.slack.com/reference/surfaces/formatting#escaping (&, <, > escaped in text)
 *
 * The whole URL is the credential (anyone holding it can post), so it is a secret reference and no message ever
 * shows more than its origin.
 */
import { AlertCode, AlertError } from '../errors.js';
import { urlProblem, type SlackChannel } from '../schema.js';
import { secretOf, type SendContext } from '../context.js';
import { detailLines, title, truncate } from '../format.js';
import { originOf, postJson, retryAfter, statusError } from '../http.js';
import type { Alert } from '../types.js';

// Slack cuts messages far above this; an alert is a few lines, so this only bounds a runaway summary.
const MAX_TEXT = 3000;

export function slackSecretRefs(channel: SlackChannel): string[] {
  return [channel.webhookUrl];
}

/** Slack's three control characters in message text. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The request body: the title in bold, the details under it. */
export function slackBody(alert: Alert): string {
  const icon = alert.resolved
    ? ':white_check_mark:'
    : alert.severity === 'critical'
      ? ':rotating_light:'
      : alert.severity === 'warning'
        ? ':warning:'
        : ':information_source:';
  const text = `${icon} *${escape(title(alert))}*\n${detailLines(alert).map(escape).join('\n')}`;
  return JSON.stringify({ text: truncate(text, MAX_TEXT) });
}

export async function sendSlack(channel: SlackChannel, alert: Alert, ctx: SendContext): Promise<void> {
  const url = secretOf(ctx, channel.webhookUrl).trim();
  const problem = urlProblem(url);
  if (problem)
    throw new AlertError(AlertCode.CONFIG, `Channel "${ctx.channel}": the Slack webhook URL from ${channel.webhookUrl} ${problem}.`);
  const where = `Slack at ${originOf(url)}`;
  const answer = await postJson(url, slackBody(alert), { service: 'Slack', signal: ctx.signal });
  if (answer.status === 200) {
    if (answer.text.trim() === 'ok') return;
    throw new AlertError(AlertCode.BAD_RESPONSE, `${where} answered HTTP 200 without "ok": the URL may not be a Slack incoming webhook.`);
  }
  throw statusError(answer.status, where, answer.text, ctx.scrub, retryAfter(answer.headers, ctx.now()));
}
