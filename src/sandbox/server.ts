/**
 * The exchange sandbox: one local HTTP server that speaks several exchanges' key endpoints under a path prefix each
 * (`/bybit`, `/okx`, `/binance`, `/kucoin`, `/mexc`, `/bitget`, `/gate`), verifying signatures as the exchanges do. Each exchange's emulator lives
 * with its adapter (`src/exchanges/<id>/sandbox.ts`) and comes from the registry; the order and position endpoints
 * the sandbox adds to each live in `src/sandbox/trading/`. See docs/sandbox.md.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadEmulators } from '../exchanges/registry.js';
import { handleAdmin } from './admin.js';
import { SandboxAdmin } from './admin-client.js';
import { FaultTable, latencyOf } from './faults.js';
import type { EmulatorContext, Reply, SandboxRequest } from './http.js';
import { RateLimitTable } from './rate-limit.js';
import { isSandboxExchange, SandboxState } from './state.js';
import { TRADING } from './trading/index.js';

export interface SandboxOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Listen address. 127.0.0.1 unless a test needs otherwise; the sandbox is never meant to face a network. */
  host?: string;
  /** JSON file the state is loaded from (if it exists) and saved to on every change and on close. */
  stateFile?: string;
  /** The address every request is treated as coming from (default 127.0.0.1, or the state file's). */
  clientIp?: string;
  /** Turns the `/_admin` endpoint on (off by default: 404). */
  admin?: boolean;
  /** Called once per request with `METHOD /path STATUS` (no query, no headers, no secrets). */
  log?: (line: string) => void;
}

export interface RunningSandbox {
  /** Root URL, no trailing slash. An account's `baseUrl` is `${url}/${exchange}`. */
  url: string;
  port: number;
  admin: SandboxAdmin;
  state: SandboxState;
  /** Saves state, drops held (timed-out) requests and stops listening. */
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Top-level fields of a JSON object body, or a form body, or nothing. */
function parseBody(raw: string, contentType: string | undefined): Record<string, unknown> | undefined {
  if (raw === '') return {};
  if (contentType?.includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(raw));
  }
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return contentType?.includes('json') ? undefined : Object.fromEntries(new URLSearchParams(raw));
  }
}

function send(res: ServerResponse, reply: Reply): void {
  const isText = typeof reply.body === 'string';
  const payload = isText ? (reply.body as string) : JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...reply.headers,
  });
  res.end(payload);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** Starts the sandbox. Resolves once it is listening. */
export async function startSandbox(options: SandboxOptions = {}): Promise<RunningSandbox> {
  const state = SandboxState.open(options.stateFile, options.clientIp);
  const faults = new FaultTable();
  const rateLimits = new RateLimitTable();
  const emulators = await loadEmulators();
  const log = options.log;

  async function handle(req: IncomingMessage): Promise<Reply | undefined> {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const fullPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const rawQuery = q === -1 ? '' : rawUrl.slice(q + 1);
    const rawBody = await readBody(req);
    const contentType = req.headers['content-type'];

    if (fullPath === '/_admin' || fullPath.startsWith('/_admin/')) {
      if (!options.admin) return { status: 404, body: { error: 'not found' } };
      // The admin API is JSON whatever the content type says (curl -d sends form-urlencoded by default).
      const body = parseBody(rawBody, 'application/json');
      if (body === undefined) return { status: 400, body: { error: 'body is not JSON' } };
      return handleAdmin(
        { state, faults, rateLimits, emulators },
        method,
        fullPath.slice('/_admin'.length) || '/',
        new URLSearchParams(rawQuery),
        body,
      );
    }

    const slash = fullPath.indexOf('/', 1);
    const exchange = fullPath.slice(1, slash === -1 ? undefined : slash);
    if (!isSandboxExchange(exchange)) {
      return { status: 404, body: { error: `unknown exchange prefix; use one of ${Object.keys(emulators).join(', ')}` } };
    }
    const emulator = emulators[exchange];
    const path = slash === -1 ? '/' : fullPath.slice(slash);

    const fault = faults.take(exchange, method, path);
    if (fault?.kind === 'timeout') {
      // Never answer; the client gives up. close() drops the socket.
      return undefined;
    }
    if (fault?.kind === 'latency') await sleep(latencyOf(fault));
    const ctx: EmulatorContext = { state, clientIp: state.clientIp, now: Date.now() };
    // Counted on arrival (after the latency), per key and endpoint, when a limit is set (rate-limit.ts).
    if (rateLimits.refuse(exchange, method, path, req.headers, ctx.now)) return emulator.rateLimited(ctx);
    if (fault?.kind === '5xx') return { status: 503, body: 'Service Temporarily Unavailable' };
    if (fault?.kind === 'ratelimit') return emulator.rateLimited(ctx);

    const body = parseBody(rawBody, contentType);
    if (body === undefined) return { status: 400, body: { error: 'malformed JSON body' } };
    const params: Record<string, unknown> = { ...Object.fromEntries(new URLSearchParams(rawQuery)), ...body };
    const sreq: SandboxRequest = { method, path, rawQuery, params, rawBody, headers: req.headers };
    // The order and position endpoints (src/sandbox/trading), authenticated by the emulator like its own.
    const trading = TRADING[exchange];
    if (trading) sreq.extraRoutes = trading(sreq, ctx);
    const before = new Set(state.keys({ exchange }));
    const reply = emulator.handle(sreq, ctx);
    const delay = faults.propagationMs(exchange);
    if (delay > 0) {
      // Keys this request created exist (the create answered) but authenticate only once they have propagated.
      const created = state.keys({ exchange }).filter((k) => !before.has(k));
      for (const k of created) k.activeAt = ctx.now + delay;
      if (created.length > 0) state.changed();
    }
    // The endpoint did its work; the client gets a 5xx or nothing at all, as when a gateway or the network fails late.
    if (fault?.kind === 'after-timeout') return undefined;
    if (fault?.kind === 'after-5xx') return { status: 502, body: 'Bad Gateway' };
    return reply;
  }

  const server = createServer((req, res) => {
    handle(req).then(
      (reply) => {
        if (!reply) return;
        send(res, reply);
        log?.(`${req.method} ${(req.url ?? '/').split('?')[0]} ${reply.status}`);
      },
      (err: unknown) => {
        log?.(`${req.method} ${(req.url ?? '/').split('?')[0]} 500 (${err instanceof Error ? err.message : 'error'})`);
        if (!res.headersSent) send(res, { status: 500, body: { error: 'sandbox internal error' } });
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;

  let closed = false;
  return {
    url,
    port: addr.port,
    admin: new SandboxAdmin(url),
    state,
    async close() {
      if (closed) return;
      closed = true;
      state.save();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
