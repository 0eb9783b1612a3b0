/**
 * Telegram Bot API sendMessage: POST https://api.telegram.org/bot<token>/sendMessage with a JSON body
 * `{chat_id, text}`; `chat_id` is an integer or `@channelusername`, `text` is 1-4096 characters. Every answer is a
 * JSON object with a boolean `ok`: on success `{ok: true, result: Message}`; on failure `{ok: false, error_code,
 * description}`, with `parameters.retry_after` (seconds) on a 429.
 *   https://core.telegram.org/bots/api#making-requests
 *   https://core.telegram.org/bots/api#sendmessage
 *
 * The token is in the URL's path, so the path is never shown: messages name the API's origin only. No parse_mode:
 * the text is sent as plain text, so nothing in a summary needs escaping or can break the formatting.
 */
import { AlertCode, AlertError } from '../errors.js';
import type { TelegramChannel } from '../schema.js';
import { secretOf, type SendContext } from '../context.js';
import { plainText, truncate } from '../format.js';
import { isRecord, originOf, parseJson, postJson, statusError } from '../http.js';
import type { Alert } from '../types.js';

export const TELEGRAM_API = 'https://api.telegram.org';
const MAX_TEXT = 4096;
// `<bot id>:<secret>`, as BotFather issues them. Checked so a wrong value never becomes part of a request path.
const TOKEN = /^\d{1,20}:[A-Za-z0-9_-]{10,200}$/;

export function telegramSecretRefs(channel: TelegramChannel): string[] {
  return [channel.token];
}

export function telegramBody(channel: TelegramChannel, alert: Alert): string {
  return JSON.stringify({
    chat_id: channel.chatId,
    text: truncate(plainText(alert), MAX_TEXT),
    link_preview_options: { is_disabled: true },
    // Information-only alerts arrive without a sound.
    disable_notification: alert.severity === 'info',
  });
}

export async function sendTelegram(channel: TelegramChannel, alert: Alert, ctx: SendContext): Promise<void> {
  const token = secretOf(ctx, channel.token).trim();
  if (!TOKEN.test(token)) {
    throw new AlertError(
      AlertCode.CONFIG,
      `Channel "${ctx.channel}": the value of ${channel.token} is not a Telegram bot token (<bot id>:<secret>).`,
    );
  }
  const base = (channel.apiBase ?? TELEGRAM_API).replace(/\/+$/, '');
  const where = `Telegram Bot API at ${originOf(base)}`;
  const answer = await postJson(`${base}/bot${token}/sendMessage`, telegramBody(channel, alert), {
    service: 'Telegram Bot API',
    signal: ctx.signal,
  });
  const json = parseJson(answer.text);
  if (answer.status === 200 && isRecord(json) && json.ok === true) return;
  if (isRecord(json) && json.ok === false) {
    const code = typeof json.error_code === 'number' ? json.error_code : answer.status;
    const description = typeof json.description === 'string' ? json.description : undefined;
    const parameters = isRecord(json.parameters) ? json.parameters : {};
    const wait = typeof parameters.retry_after === 'number' ? parameters.retry_after * 1000 : undefined;
    // Telegram's error_code mirrors the HTTP status; a 200 with ok:false would otherwise pass as a success.
    throw statusError(code >= 300 ? code : 400, where, description, ctx.scrub, wait);
  }
  if (answer.status >= 300) throw statusError(answer.status, where, undefined, ctx.scrub);
  throw new AlertError(AlertCode.BAD_RESPONSE, `${where} answered HTTP ${answer.status} without {"ok": true}.`);
}
