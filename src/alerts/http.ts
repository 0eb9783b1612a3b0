/**
 * The one place alert channels make HTTP requests (Node's built-in fetch), and where transport failures and HTTP
 * statuses become AlertErrors.
 *
 * Messages name the service and at most the URL's origin (`https://hooks.slack.com`): a Slack webhook path and a
 * Telegram bot path are credentials, and a fetch error's own text is never copied (it could carry the URL). Redirects
 * are not followed: a 3xx would send the alert, and for Slack the credential, wherever it points.
 */
import { AlertCode, AlertError } from './errors.js';
import { oneLine, truncate } from './format.js';

/** An answer's body is read up to this size: enough for any documented answer, bounded against a hostile server. */
const MAX_BODY = 64 * 1024;
/** The longest Retry-After honoured; the dispatcher caps it again at its own maximum back-off. */
const MAX_RETRY_AFTER_MS = 5 * 60_000;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  /** The body as text, cut at 64 KiB. */
  text: string;
}

export interface PostOptions {
  /** `Slack`, `Telegram`, `PagerDuty`, `webhook`: who the request goes to, for messages. */
  service: string;
  /** Extra headers (Content-Type and User-Agent are set here). */
  headers?: Record<string, string>;
  signal: AbortSignal;
}

/** `https://host:port` of a URL: what a message may say about where a request went. */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

/** POSTs a JSON body; resolves with any HTTP answer, rejects with an AlertError when no answer came. */
export async function postJson(url: string, body: string, options: PostOptions): Promise<HttpAnswer> {
  const where = `${options.service} at ${originOf(url)}`;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'User-Agent': 'keyctl-alerts/1', ...options.headers },
      body,
      redirect: 'manual',
      signal: options.signal,
    });
    return { status: res.status, headers: res.headers, text: await readCapped(res) };
  } catch (err) {
    throw transportError(err, where, options.signal);
  }
}

/** The body as text, at most MAX_BODY bytes of it. */
async function readCapped(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size >= MAX_BODY) {
      await reader.cancel().catch(() => undefined);
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
}

/** What went wrong when no answer came: a timeout, or a connection failure named by its code only. */
export function transportError(err: unknown, where: string, signal: AbortSignal): AlertError {
  if (err instanceof AlertError) return err;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
    return timedOut
      ? new AlertError(AlertCode.TIMEOUT, `${where} did not answer in time.`, { retryable: true })
      : new AlertError(AlertCode.NETWORK, `Sending to ${where} was cancelled.`);
  }
  const code = errorCode(err);
  // A certificate the client does not trust will not be trusted on the next attempt either.
  const tls = code !== undefined && /CERT|SELF_SIGNED|ERR_TLS|ERR_SSL|UNABLE_TO_VERIFY/.test(code);
  return new AlertError(AlertCode.NETWORK, `Could not reach ${where}${code ? ` (${code})` : ''}.`, {
    retryable: !tls,
    ...(tls ? { hint: 'The server certificate is not trusted: check the URL, or the CA the channel trusts.' } : {}),
  });
}

/** The `code` of an error or of its causes (fetch wraps the socket's error in `cause`); only codes, never messages. */
function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{2,64}$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The error for an HTTP answer that is not the documented success. `detail` is the service's own short error (Slack's
 * `invalid_payload`, PagerDuty's `errors`), scrubbed and cut to one short line. 429, 408 and 5xx may be retried.
 */
export function statusError(
  status: number,
  where: string,
  detail: string | undefined,
  scrub: (text: string) => string,
  retryAfterMs?: number,
): AlertError {
  const said = detail ? `: ${truncate(oneLine(scrub(detail)), 200)}` : '';
  const retry = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (status === 429)
    return new AlertError(AlertCode.RATE_LIMITED, `${where} is rate-limiting (HTTP 429)${said}.`, { retryable: true, ...retry });
  if (status === 408) return new AlertError(AlertCode.TIMEOUT, `${where} timed out the request (HTTP 408)${said}.`, { retryable: true });
  if (status >= 500)
    return new AlertError(AlertCode.UNAVAILABLE, `${where} failed (HTTP ${status})${said}.`, { retryable: true, ...retry });
  if (status === 401 || status === 403) {
    return new AlertError(AlertCode.AUTH, `${where} refused the credential (HTTP ${status})${said}.`, {
      hint: 'Check the credential the channel references; it may be revoked or mistyped.',
    });
  }
  if (status >= 300 && status < 400) {
    return new AlertError(AlertCode.REJECTED, `${where} answered with a redirect (HTTP ${status}), which keyctl does not follow.`, {
      hint: 'Configure the final URL.',
    });
  }
  if (status >= 400) return new AlertError(AlertCode.REJECTED, `${where} refused the alert (HTTP ${status})${said}.`);
  return new AlertError(AlertCode.BAD_RESPONSE, `${where} answered HTTP ${status}${said}, not the documented success.`);
}

/** Retry-After in ms (delta-seconds or an HTTP date), capped; undefined when absent or unreadable. */
export function retryAfter(headers: Headers, now: number): number | undefined {
  const value = headers.get('retry-after');
  if (!value) return undefined;
  const seconds = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(seconds) ? Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_MS) : undefined;
}

/** The body parsed as JSON, or undefined. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
