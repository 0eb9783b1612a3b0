/**
 * What an exchange emulator sees and answers, plus the signing helpers they share. Emulators never touch node:http,
 * so they are plain functions over these types.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { NativePermissions, SandboxExchange, SandboxKey, SandboxState } from './state.js';

export interface SandboxRequest {
  method: string;
  /** The path the exchange would see (prefix stripped), without the query. */
  path: string;
  /** The query string exactly as sent, without `?` ('' when none). */
  rawQuery: string;
  /** Parsed query (GET/DELETE) merged with a form or JSON body's top-level fields (POST), as strings or values. */
  params: Record<string, unknown>;
  /** The body exactly as sent. */
  rawBody: string;
  headers: IncomingHttpHeaders;
  /**
   * Routes the sandbox adds to the emulator's own: the order and position endpoints (src/sandbox/trading). `dispatch`
   * authenticates them with the emulator's own check, exactly like its key endpoints; an emulator route of the same
   * name wins.
   */
  extraRoutes?: Record<string, (key: SandboxKey) => Reply>;
}

export interface Reply {
  status: number;
  /** Serialized as JSON unless it is a string. */
  body: unknown;
  headers?: Record<string, string>;
}

export interface EmulatorContext {
  state: SandboxState;
  /** The address the request is treated as coming from. */
  clientIp: string;
  /** Server time, ms. */
  now: number;
}

/**
 * One emulated exchange (`src/exchanges/<id>/sandbox.ts`, loaded through the registry). It checks signatures exactly
 * as the exchange does and answers in the exchange's own shapes, citing the exchange's documentation.
 */
export interface ExchangeEmulator {
  readonly id: SandboxExchange;
  handle(req: SandboxRequest, ctx: EmulatorContext): Reply;
  /** Fresh credentials in the exchange's usual format. */
  newCredentials(): { apiKey: string; secret: string };
  /** The handle a new sub-account gets when the admin API names none: what the config's sub-account id would hold. */
  defaultSubaccountId(uid: string): string;
  /** The exchange names a sub-account by its numeric uid (Bybit): a seeded id must be numeric and becomes the uid. */
  readonly subaccountIdIsUid?: boolean;
  /** The exchange's real rate-limit answer. */
  rateLimited(ctx: EmulatorContext): Reply;
  /** Checks admin-seeded native permissions; returns them normalized or an error message. */
  parsePermissions(input: unknown): { permissions: NativePermissions } | { error: string };
  /** Turns the withdraw permission on or off in native permissions. */
  setWithdraw(perms: NativePermissions, on: boolean): NativePermissions;
}

export function header(req: SandboxRequest, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

export function hmac(secret: string, payload: string, encoding: 'hex' | 'base64'): string {
  return createHmac('sha256', secret).update(payload, 'utf8').digest(encoding);
}

/** Constant-time string comparison (length leaks, content does not). */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    // Still spend the comparison so a wrong length is not measurably faster.
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

export function json(status: number, body: unknown, headers?: Record<string, string>): Reply {
  return { status, body, ...(headers ? { headers } : {}) };
}

/** Splits a comma list, trimming and dropping blanks. */
export function commaList(v: unknown): string[] {
  if (typeof v !== 'string') return [];
  return v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** Request parameter as a string, or undefined. */
export function param(req: SandboxRequest, name: string): string | undefined {
  const v = req.params[name];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
}

export type Authed = { key: SandboxKey } | { reply: Reply };

/**
 * How every emulator answers a request: an unknown `METHOD /path` gets the exchange's own 404; a known one is
 * authenticated as the exchange does (signature, timestamp, passphrase, IP) before its handler runs.
 */
export function dispatch(
  req: SandboxRequest,
  routes: Record<string, (key: SandboxKey) => Reply>,
  authenticate: () => Authed,
  notFound: (route: string) => Reply,
): Reply {
  const route = `${req.method} ${req.path}`;
  const handler = routes[route] ?? req.extraRoutes?.[route];
  if (!handler) return notFound(route);
  const auth = authenticate();
  return 'reply' in auth ? auth.reply : handler(auth.key);
}
