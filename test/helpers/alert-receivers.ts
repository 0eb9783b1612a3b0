/**
 * Real local servers standing in for the alert services, for test/unit/alerts-*.test.ts. Each one checks requests
 * against its service's documented shape, answers as the service does (errors included), and records every request
 * it got, raw, so a test can look for anything that should not be there (a planted secret).
 *
 * - Slack incoming webhook (https://api.slack.com/messaging/webhooks): POST <secret path>, JSON with a non-empty
 *   `text` (or `blocks`); 200 `ok`; 400 `invalid_payload` / `no_text`; 404 `no_service` for an unknown URL.
 * - Telegram Bot API sendMessage (https://core.telegram.org/bots/api#sendmessage): POST /bot<token>/sendMessage,
 *   `chat_id` integer or string, `text` 1-4096 characters; `{ok:true,result}`; `{ok:false,error_code,description}`
 *   with 400 (chat not found, text empty or too long), 401 (unknown token), 404 (unknown method).
 * - PagerDuty Events API v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/): POST /v2/enqueue,
 *   `routing_key` of 32 characters, `event_action` trigger|acknowledge|resolve, `dedup_key` at most 255, and for a
 *   trigger `payload.summary` (at most 1024), `payload.source`, `payload.severity` critical|error|warning|info; 202
 *   `{status:"success",message:"Event processed",dedup_key}`; 400 `{status:"invalid event",message,errors}`. It also
 *   keeps each dedup key's alert state (triggered, resolved), as PagerDuty does.
 * - The keyctl generic webhook (docs/alerts.md): POST JSON with the documented fields and, when the receiver has a
 *   secret, a valid X-Keyctl-Signature over `<X-Keyctl-Timestamp>.<body>` no older than 5 minutes; else 401.
 * - SMTP (smtp-server): STARTTLS (or implicit TLS) with a throwaway self-signed certificate made by the machine's
 *   openssl, AUTH PLAIN/LOGIN only after TLS, checking the password; records logins and messages.
 *
 * `script(...)` makes the next requests get canned answers (a 503, a 429 with Retry-After, an answer that never
 * comes), after the request was recorded and checked like any other.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from 'smtp-server';

export interface Recorded {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Raw body. */
  body: string;
  /** Body parsed as JSON, or undefined. */
  json: unknown;
  /** How the request differs from the documented shape (empty when it matches). */
  problems: string[];
}

export interface Answer {
  status: number;
  body?: string | Record<string, unknown>;
  headers?: Record<string, string>;
  /** Never answer (until the server closes): for timeouts. */
  hang?: boolean;
}

type Validate = (req: Recorded) => Answer;

/** A node:http server that records each request, checks it with `validate`, and answers. */
export class HttpReceiver {
  readonly requests: Recorded[] = [];
  private readonly queue: Answer[] = [];
  private readonly hanging = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    /** `http://127.0.0.1:<port>` */
    readonly base: string,
  ) {}

  static async start(validate: Validate): Promise<HttpReceiver> {
    const holder: { receiver?: HttpReceiver } = {};
    // A client that gives up mid-request (a timeout) must not become an unhandled rejection here.
    const server = createServer((req, res) => void holder.receiver!.handle(req, res, validate).catch(() => res.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    holder.receiver = new HttpReceiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return holder.receiver;
  }

  /** Canned answers for the next requests, in order. */
  script(...answers: Answer[]): this {
    this.queue.push(...answers);
    return this;
  }

  /** Requests whose shape matched the documentation. */
  get valid(): Recorded[] {
    return this.requests.filter((r) => r.problems.length === 0);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse, validate: Validate): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    const recorded: Recorded = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, json, problems: [] };
    this.requests.push(recorded);
    const natural = validate(recorded);
    const answer = this.queue.shift() ?? natural;
    if (answer.hang) {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      return;
    }
    const text = typeof answer.body === 'string' ? answer.body : answer.body === undefined ? '' : JSON.stringify(answer.body);
    const type = typeof answer.body === 'object' ? 'application/json' : 'text/html';
    res.writeHead(answer.status, { 'content-type': type, ...answer.headers });
    res.end(text);
  }
}

function isJson(req: Recorded): boolean {
  return /^application\/json\b/i.test(req.headers['content-type'] ?? '');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// ---- Slack ----

export interface SlackReceiver extends HttpReceiver {
  /** The full webhook URL (a credential, like Slack's). */
  webhookUrl: string;
}

/** A Slack incoming webhook at `path` (e.g. `/services/T000/B000/<secret>`). */
export async function slackReceiver(path: string): Promise<SlackReceiver> {
  const receiver = await HttpReceiver.start((req) => {
    const fail = (status: number, body: string, problem: string): Answer => {
      req.problems.push(problem);
      return { status, body };
    };
    if (req.path !== path) return fail(404, 'no_service', `unknown webhook path`);
    if (req.method !== 'POST') return fail(405, 'invalid_method', `method ${req.method}`);
    if (!isJson(req)) return fail(400, 'invalid_payload', `content-type ${req.headers['content-type']}`);
    if (!isObject(req.json)) return fail(400, 'invalid_payload', 'body is not a JSON object');
    const { text, blocks } = req.json;
    const hasBlocks = Array.isArray(blocks) && blocks.length > 0;
    if (text !== undefined && typeof text !== 'string') return fail(400, 'invalid_payload', 'text is not a string');
    if (!hasBlocks && (typeof text !== 'string' || text.trim() === '')) return fail(400, 'no_text', 'text is empty');
    return { status: 200, body: 'ok' };
  });
  return Object.assign(receiver, { webhookUrl: `${receiver.base}${path}` });
}

// ---- Telegram ----

/** A Telegram Bot API server knowing one bot (`token`) that may post in one chat (`chatId`). */
export async function telegramReceiver(token: string, chatId: number | string): Promise<HttpReceiver> {
  let messageId = 0;
  return HttpReceiver.start((req) => {
    const fail = (code: number, description: string, problem?: string): Answer => {
      if (problem) req.problems.push(problem);
      return { status: code, body: { ok: false, error_code: code, description } };
    };
    const m = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(req.path);
    if (!m) return fail(404, 'Not Found', 'not a /bot<token>/<method> path');
    if (m[1] !== token) return fail(401, 'Unauthorized', 'unknown bot token');
    // Method names are case-insensitive (Bot API, "Making requests").
    if (m[2]!.toLowerCase() !== 'sendmessage') return fail(404, 'Not Found', `method ${m[2]}`);
    if (req.method !== 'POST') return fail(400, 'Bad Request: use POST', `method ${req.method}`);
    if (!isJson(req) || !isObject(req.json)) return fail(400, 'Bad Request: message text is empty', 'body is not a JSON object');
    const { chat_id: chat, text } = req.json;
    if (!(Number.isInteger(chat) || (typeof chat === 'string' && chat.length > 0)))
      return fail(400, 'Bad Request: chat_id is empty', 'chat_id type');
    if (typeof text !== 'string' || text.length === 0) return fail(400, 'Bad Request: message text is empty', 'text is empty');
    if (text.length > 4096) return fail(400, 'Bad Request: message is too long', `text is ${text.length} characters`);
    // A well-formed request to a chat the bot is not in: Telegram's own answer, not a shape problem.
    if (chat !== chatId) return fail(400, 'Bad Request: chat not found');
    messageId++;
    return {
      status: 200,
      body: { ok: true, result: { message_id: messageId, date: Math.floor(Date.now() / 1000), chat: { id: chat, type: 'group' }, text } },
    };
  });
}

// ---- PagerDuty ----

export interface PagerDutyReceiver extends HttpReceiver {
  /** `<base>/v2/enqueue` */
  eventsUrl: string;
  /** Alert state per dedup key, as PagerDuty keeps it. */
  alerts: Map<string, 'triggered' | 'acknowledged' | 'resolved'>;
}

const PD_SEVERITIES = ['critical', 'error', 'warning', 'info'];
const PD_ACTIONS = ['trigger', 'acknowledge', 'resolve'];

/** The Events API v2 for one integration (`routingKey`). */
export async function pagerdutyReceiver(routingKey: string): Promise<PagerDutyReceiver> {
  const alerts = new Map<string, 'triggered' | 'acknowledged' | 'resolved'>();
  const receiver = await HttpReceiver.start((req) => {
    const invalid = (errors: string[], record = true): Answer => {
      if (record) req.problems.push(...errors);
      return { status: 400, body: { status: 'invalid event', message: 'Event object is invalid', errors } };
    };
    if (req.path !== '/v2/enqueue') {
      req.problems.push(`path ${req.path}`);
      return { status: 404, body: { status: 'not found' } };
    }
    if (req.method !== 'POST') return invalid([`method ${req.method}`]);
    if (!isJson(req) || !isObject(req.json)) return invalid(['Event object is not valid JSON']);
    if (req.body.length > 512 * 1024) return invalid(['Event is larger than 512 KB']);
    const e = req.json;
    const errors: string[] = [];
    if (typeof e.routing_key !== 'string' || e.routing_key.length !== 32)
      errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
    if (!PD_ACTIONS.includes(e.event_action as string))
      errors.push("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
    if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255))
      errors.push("'dedup_key' must be a string of at most 255 characters");
    if (e.event_action !== 'trigger' && e.dedup_key === undefined) errors.push("'dedup_key' is required for acknowledge and resolve");
    if (e.event_action === 'trigger') {
      const p = e.payload;
      if (!isObject(p)) errors.push("'payload' is missing or not an object");
      else {
        if (typeof p.summary !== 'string' || p.summary.length === 0) errors.push("'payload.summary' is missing");
        else if (p.summary.length > 1024) errors.push("'payload.summary' is longer than 1024 characters");
        if (typeof p.source !== 'string' || p.source.length === 0) errors.push("'payload.source' is missing");
        if (!PD_SEVERITIES.includes(p.severity as string))
          errors.push("'payload.severity' is invalid (must be one of: critical, error, warning, info)");
        if (p.timestamp !== undefined && (typeof p.timestamp !== 'string' || Number.isNaN(Date.parse(p.timestamp))))
          errors.push("'payload.timestamp' is not a timestamp");
        if (p.custom_details !== undefined && !isObject(p.custom_details)) errors.push("'payload.custom_details' is not an object");
      }
    }
    if (errors.length > 0) return invalid(errors);
    // A well-formed event for an integration this double does not have: refused, but not a shape problem.
    if (e.routing_key !== routingKey) return invalid(['Invalid routing key'], false);
    const key = typeof e.dedup_key === 'string' ? e.dedup_key : `pd-${alerts.size + 1}`;
    const now = alerts.get(key);
    if (e.event_action === 'trigger') alerts.set(key, now === 'acknowledged' ? 'acknowledged' : 'triggered');
    else if (now !== undefined && now !== 'resolved') alerts.set(key, e.event_action === 'resolve' ? 'resolved' : 'acknowledged');
    return { status: 202, body: { status: 'success', message: 'Event processed', dedup_key: key } };
  });
  return Object.assign(receiver, { eventsUrl: `${receiver.base}/v2/enqueue`, alerts });
}

// ---- generic webhook ----

export interface WebhookReceiverOptions {
  /** Verify X-Keyctl-Signature with this secret. */
  secret?: string;
  path?: string;
  /** The receiver's clock, seconds (default: now). */
  nowSeconds?: () => number;
}

export interface WebhookReceiver extends HttpReceiver {
  url: string;
}

const EVENT_NAME = /^[a-z]+(\.[a-z]+)+$/;

/** A receiver of keyctl's generic webhook, verifying it the way docs/alerts.md tells users to. */
export async function webhookReceiver(options: WebhookReceiverOptions = {}): Promise<WebhookReceiver> {
  const path = options.path ?? '/keyctl';
  const receiver = await HttpReceiver.start((req) => {
    const fail = (status: number, problem: string): Answer => {
      req.problems.push(problem);
      return { status, body: { error: problem } };
    };
    if (req.path !== path) return fail(404, `path ${req.path}`);
    if (req.method !== 'POST') return fail(405, `method ${req.method}`);
    if (!isJson(req) || !isObject(req.json)) return fail(400, 'body is not a JSON object');
    if (options.secret !== undefined) {
      const problem = signatureProblem(req, options.secret, options.nowSeconds?.() ?? Math.floor(Date.now() / 1000));
      if (problem) return fail(401, problem);
    }
    const b = req.json;
    const problems: string[] = [];
    if (typeof b.event !== 'string' || !EVENT_NAME.test(b.event)) problems.push('event');
    if (!['info', 'warning', 'critical'].includes(b.severity as string)) problems.push('severity');
    if (!(b.ref === null || typeof b.ref === 'string')) problems.push('ref');
    if (!(b.fingerprint === null || typeof b.fingerprint === 'string')) problems.push('fingerprint');
    if (!Array.isArray(b.codes) || !b.codes.every((c) => typeof c === 'string')) problems.push('codes');
    if (typeof b.summary !== 'string' || b.summary.length === 0) problems.push('summary');
    if (typeof b.time !== 'string' || Number.isNaN(Date.parse(b.time))) problems.push('time');
    if (typeof b.resolved !== 'boolean') problems.push('resolved');
    if (typeof b.dedupKey !== 'string') problems.push('dedupKey');
    if (problems.length > 0) return fail(400, `bad fields: ${problems.join(', ')}`);
    return { status: 200, body: { received: true } };
  });
  return Object.assign(receiver, { url: `${receiver.base}${path}` });
}

/** docs/alerts.md's verification: HMAC-SHA256 of `<timestamp>.<raw body>`, constant-time compare, 5-minute window. */
function signatureProblem(req: Recorded, secret: string, now: number): string | undefined {
  const timestamp = req.headers['x-keyctl-timestamp'];
  const signature = req.headers['x-keyctl-signature'];
  if (typeof timestamp !== 'string' || !/^\d+$/.test(timestamp)) return 'missing or malformed X-Keyctl-Timestamp';
  if (typeof signature !== 'string') return 'missing X-Keyctl-Signature';
  if (Math.abs(now - Number(timestamp)) > 300) return 'timestamp outside the 5-minute window';
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${req.body}`).digest('hex')}`);
  const got = Buffer.from(signature);
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) return 'signature does not match';
  return undefined;
}

// ---- SMTP ----

export interface SmtpLogin {
  method: string;
  username: string | undefined;
  password: string | null | undefined;
  /** Whether the connection was encrypted when the login came. */
  secure: boolean;
  ok: boolean;
}

export interface SmtpMessage {
  from: string | undefined;
  to: string[];
  /** The message as received (headers and body). */
  raw: string;
  /** Whether the connection was encrypted. */
  secure: boolean;
  user: unknown;
}

export interface SmtpReceiverOptions {
  user: string;
  password: string;
  /** `starttls` (default): plain connection upgraded with STARTTLS; `implicit`: TLS from the start; `none`: no TLS offered. */
  tls?: 'starttls' | 'implicit' | 'none';
}

export interface SmtpReceiver {
  port: number;
  /** PEM file of the server's self-signed certificate, for the client to trust. */
  caPath: string;
  logins: SmtpLogin[];
  messages: SmtpMessage[];
  /** Every connection's session id, in order (a retry opens a new one). */
  connections: string[];
  close(): Promise<void>;
}

let certificate: { dir: string; key: string; cert: string; certPath: string } | undefined;

/** A throwaway self-signed certificate for 127.0.0.1 and localhost, made once per process by openssl. */
export function testCertificate(): { key: string; cert: string; certPath: string } {
  if (!certificate) {
    const dir = mkdtempSync(join(tmpdir(), 'keyctl-smtp-'));
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyPath,
        '-out',
        certPath,
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
      ],
      { stdio: 'ignore' },
    );
    certificate = { dir, key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), certPath };
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return certificate;
}

export async function smtpReceiver(options: SmtpReceiverOptions): Promise<SmtpReceiver> {
  const { key, cert, certPath } = testCertificate();
  const mode = options.tls ?? 'starttls';
  const logins: SmtpLogin[] = [];
  const messages: SmtpMessage[] = [];
  const connections: string[] = [];
  const server = new SMTPServer({
    key,
    cert,
    secure: mode === 'implicit',
    // `none`: a server with no TLS at all, which would even take a login in clear text: a client must not offer one.
    hideSTARTTLS: mode === 'none',
    disabledCommands: mode === 'none' ? ['STARTTLS'] : [],
    // Otherwise AUTH before TLS is refused (538), as a submission server should.
    allowInsecureAuth: mode === 'none',
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    disableReverseLookup: true,
    onConnect(session: SMTPServerSession, callback) {
      connections.push(session.id);
      callback();
    },
    onAuth(auth: SMTPServerAuthentication, session: SMTPServerSession, callback) {
      const ok = auth.username === options.user && auth.password === options.password;
      logins.push({ method: auth.method, username: auth.username, password: auth.password, secure: session.secure, ok });
      if (!ok) return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        messages.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          user: session.user,
        });
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    caPath: certPath,
    logins,
    messages,
    connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
