/**
 * The human text of an alert, shared by the channels that show text (Slack, Telegram, e-mail, PagerDuty's summary).
 * Built from the alert's fields only, which hold refs, fingerprints and codes, never secrets.
 */
import type { Alert } from './types.js';

/** `[CRITICAL] violation.found alpha/arb1`, or `[RESOLVED] ...` for a resolution. */
export function title(alert: Alert): string {
  const tag = alert.resolved ? 'RESOLVED' : alert.severity.toUpperCase();
  return `[${tag}] ${alert.event}${alert.ref ? ` ${alert.ref}` : ''}`;
}

/** The detail lines under the title: summary, then the facts a responder looks up. */
export function detailLines(alert: Alert): string[] {
  return [
    oneLine(alert.summary),
    ...(alert.ref ? [`ref: ${alert.ref}`] : []),
    ...(alert.fingerprint ? [`key: ${alert.fingerprint}`] : []),
    ...(alert.codes.length > 0 ? [`codes: ${alert.codes.join(', ')}`] : []),
    `severity: ${alert.severity}`,
    `time: ${alert.time}`,
  ];
}

/** Title and details as plain text. */
export function plainText(alert: Alert): string {
  return [title(alert), ...detailLines(alert)].join('\n');
}

/** Control characters (a newline in a summary) become spaces: each field is one line wherever it is shown. */
export function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what is replaced
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

/**
 * Cuts `text` to at most `max` UTF-16 code units (how JavaScript, and the services' limits, count characters),
 * without splitting a surrogate pair, ending with an ellipsis when it was cut.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = '';
  for (const ch of text) {
    if (out.length + ch.length > max - 1) break;
    out += ch;
  }
  return `${out}…`;
}
