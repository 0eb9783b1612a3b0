/**
 * The failures of an alert delivery. They never reach the engine (the dispatcher turns each into a result the caller
 * audits); they are KeyctlErrors so that `keyctl alerts test` can print and exit with them like any other.
 *
 * Messages are built here from the channel name, its type, a ref (`env:SLACK_URL`) and at most a URL's origin: never
 * from a URL's path or query (a Slack webhook path and a Telegram bot path are credentials), never by copying an
 * underlying error's message.
 */
import { ExitCode, KeyctlError } from '@keyctl/client/errors';

export const AlertCode = {
  /** A credential reference (env:/store:) could not be resolved. */
  SECRET_UNRESOLVED: 'ALERT_SECRET_UNRESOLVED',
  /** The alert holds a value that must never be sent (a known secret). Nothing was sent anywhere. */
  SECRET_LEAK: 'ALERT_SECRET_LEAK',
  /** The channel's settings cannot work (a resolved URL that is not https, a malformed token). */
  CONFIG: 'ALERT_CONFIG',
  /** No answer within the attempt's timeout. */
  TIMEOUT: 'ALERT_TIMEOUT',
  /** The connection failed (refused, reset, DNS, TLS). */
  NETWORK: 'ALERT_NETWORK',
  /** The service said to slow down (HTTP 429). */
  RATE_LIMITED: 'ALERT_RATE_LIMITED',
  /** The service failed (HTTP 5xx, SMTP 4xx). */
  UNAVAILABLE: 'ALERT_UNAVAILABLE',
  /** The service refused the request for good (HTTP 4xx, SMTP 5xx): wrong credential, unknown chat, bad payload. */
  REJECTED: 'ALERT_REJECTED',
  /** The service refused the credential (HTTP 401/403, SMTP 535). */
  AUTH: 'ALERT_AUTH',
  /** The answer was not the documented success (Slack `ok`, Telegram `{ok:true}`, PagerDuty `{status:"success"}`). */
  BAD_RESPONSE: 'ALERT_BAD_RESPONSE',
  /** keyctl's own per-channel rate limit dropped the alert. */
  THROTTLED: 'ALERT_THROTTLED',
  /** `test()` named a channel that is not configured. */
  UNKNOWN_CHANNEL: 'ALERT_UNKNOWN_CHANNEL',
  /** A bug: something threw that should not have. */
  INTERNAL: 'ALERT_INTERNAL',
} as const;

export type AlertCode = (typeof AlertCode)[keyof typeof AlertCode];

const CONFIG_CODES: ReadonlySet<string> = new Set([AlertCode.SECRET_UNRESOLVED, AlertCode.CONFIG, AlertCode.UNKNOWN_CHANNEL]);

export interface AlertErrorOptions {
  /** The same delivery may succeed if attempted again (network, timeout, 429, 5xx). */
  retryable?: boolean;
  /** How long the service asked us to wait (Retry-After, Telegram's retry_after). */
  retryAfterMs?: number;
  hint?: string;
  cause?: unknown;
}

export class AlertError extends KeyctlError {
  readonly retryAfterMs: number | undefined;

  constructor(code: AlertCode, message: string, options: AlertErrorOptions = {}) {
    // No exit code is about alert channels: a setting or credential is a usage error (2); a channel that is down or
    // refuses is an outside service failing, the nearest being 4 (a service keyctl depends on unavailable or denied).
    super(code, message, CONFIG_CODES.has(code) ? ExitCode.USAGE : ExitCode.PROVIDER, {
      retryable: options.retryable ?? false,
      ...(options.hint ? { hint: options.hint } : {}),
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
    });
    this.retryAfterMs = options.retryAfterMs;
  }
}
