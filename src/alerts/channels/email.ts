/**
 * E-mail through an SMTP server with nodemailer's SMTP transport. `secure: true` is TLS from the first byte (port
 * 465); otherwise the connection starts in plain text and `requireTLS: true` makes nodemailer upgrade it with
 * STARTTLS or fail without sending anything, the login included. Certificates are verified (Node's default); a
 * private relay's CA is trusted through `ca`, never by turning verification off.
 *   https://nodemailer.com/smtp/  (host, port, secure, requireTLS, auth, tls, connectionTimeout, greetingTimeout,
 *   socketTimeout)
 *   https://nodemailer.com/message/  (from, to, subject, text, headers)
 *
 * A new connection per alert, closed after it: alerts are rare, and an idle pooled connection would only time out.
 * Errors are mapped from nodemailer's error codes and the SMTP reply code; their text is never copied (a server's
 * reply can quote what it was sent).
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { createTransport } from 'nodemailer';
import { AlertCode, AlertError } from '../errors.js';
import type { EmailChannel } from '../schema.js';
import { secretOf, type SendContext } from '../context.js';
import { plainText, oneLine, title, truncate } from '../format.js';
import type { Alert } from '../types.js';

export function emailSecretRefs(channel: EmailChannel): string[] {
  return channel.password ? [channel.password] : [];
}

/** Subject and text of the message. */
export function emailMessage(alert: Alert): { subject: string; text: string } {
  return {
    subject: truncate(oneLine(`keyctl ${title(alert)}`), 200),
    text: `${plainText(alert)}\n\n-- \nSent by keyctl. This message holds no secrets.\n`,
  };
}

export interface EmailOptions {
  /** Directory a relative `ca` path is read from (the config file's directory). Default: the working directory. */
  baseDir?: string;
}

export async function sendEmail(channel: EmailChannel, alert: Alert, ctx: SendContext, options: EmailOptions = {}): Promise<void> {
  const where = `SMTP server ${channel.host}:${channel.port}`;
  let ca: string | undefined;
  if (channel.ca) {
    try {
      ca = await readFile(resolvePath(options.baseDir ?? process.cwd(), channel.ca), 'utf8');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new AlertError(
        AlertCode.CONFIG,
        `Channel "${ctx.channel}": cannot read the CA file ${channel.ca}${typeof code === 'string' ? ` (${code})` : ''}.`,
      );
    }
  }
  const transport = createTransport({
    host: channel.host,
    port: channel.port,
    secure: channel.secure,
    requireTLS: channel.requireTLS,
    ...(channel.user ? { auth: { user: channel.user, ...(channel.password ? { pass: secretOf(ctx, channel.password) } : {}) } } : {}),
    tls: {
      minVersion: 'TLSv1.2',
      ...(ca ? { ca } : {}),
      // SNI and the certificate check use the configured name (nodemailer leaves servername unset for an IP).
      ...(isIP(channel.host) === 0 ? { servername: channel.host } : {}),
    },
    connectionTimeout: ctx.timeoutMs,
    greetingTimeout: ctx.timeoutMs,
    socketTimeout: ctx.timeoutMs,
    // The message is built from the alert alone: no file or URL is ever read into it.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  const { subject, text } = emailMessage(alert);
  try {
    await transport.sendMail({
      from: channel.from,
      to: channel.to,
      subject,
      text,
      headers: { 'X-Keyctl-Event': alert.event, 'X-Keyctl-Dedup-Key': alert.dedupKey, 'X-Keyctl-Delivery': ctx.deliveryId },
      signal: ctx.signal,
    });
  } catch (err) {
    throw smtpError(err, where, ctx.signal);
  } finally {
    transport.close();
  }
}

/** An AlertError for what nodemailer threw, from its code and the SMTP reply code only. */
function smtpError(err: unknown, where: string, signal: AbortSignal): AlertError {
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof Error && reason.name === 'TimeoutError')
      return new AlertError(AlertCode.TIMEOUT, `${where} did not finish in time.`, { retryable: true });
    return new AlertError(AlertCode.NETWORK, `Sending to ${where} was cancelled.`);
  }
  const e = (err ?? {}) as { code?: unknown; responseCode?: unknown };
  const code = typeof e.code === 'string' ? e.code : undefined;
  const reply = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const said = `${code ? ` (${code}${reply ? ` ${reply}` : ''})` : reply ? ` (${reply})` : ''}`;
  switch (code) {
    case 'EAUTH':
    case 'ENOAUTH':
      return new AlertError(AlertCode.AUTH, `${where} refused the login${said}.`, {
        hint: 'Check the user and the password the channel references.',
      });
    case 'ETLS':
    case 'EREQUIRETLS':
      return new AlertError(AlertCode.NETWORK, `${where}: TLS failed or the server does not offer STARTTLS${said}; nothing was sent.`, {
        hint: "Use the server's submission port with STARTTLS (587) or implicit TLS (secure: true, 465); trust a private CA with ca.",
      });
    case 'ETIMEDOUT':
      return new AlertError(AlertCode.TIMEOUT, `${where} did not answer in time${said}.`, { retryable: true });
    case 'ECONNECTION':
    case 'ESOCKET':
    case 'EDNS':
    case 'EPROXY':
      if (isCertificateError(err)) {
        return new AlertError(AlertCode.NETWORK, `${where}: its TLS certificate is not trusted${said}; nothing was sent.`, {
          hint: 'Check the host name, or trust the private CA that signed the certificate with ca.',
        });
      }
      return new AlertError(AlertCode.NETWORK, `Could not reach ${where}${said}.`, { retryable: true });
    default:
      // An SMTP 4yz reply is transient (RFC 5321): the same message may go through later; a 5yz will not.
      if (reply !== undefined && reply >= 400 && reply < 500)
        return new AlertError(AlertCode.UNAVAILABLE, `${where} deferred the message${said}.`, { retryable: true });
      return new AlertError(AlertCode.REJECTED, `${where} refused the message${said}.`);
  }
}

/** Whether a connection error is a certificate the client does not trust (retrying will not help). */
function isCertificateError(err: unknown): boolean {
  // nodemailer keeps the socket's own code (DEPTH_ZERO_SELF_SIGNED_CERT...) in `originalCode`.
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 4; depth++) {
    const { code, originalCode } = e as { code?: unknown; originalCode?: unknown };
    for (const c of [code, originalCode])
      if (typeof c === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(c)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
