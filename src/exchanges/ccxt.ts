/**
 * The one place keyctl creates ccxt instances and maps ccxt's errors.
 *
 * - ccxt is imported lazily (`await import('ccxt')`) so commands that never talk to an exchange (exec, key list) never
 *   load it.
 * - An account's `baseUrl` replaces the origin of EVERY URL in ccxt's `urls.api` (recursively), keeping each URL's
 *   path: binance sapi `https://api.binance.com/sapi/v1` -> `<baseUrl>/sapi/v1`. Signatures never cover the host, so
 *   this works for testnets, proxies and the keyctl sandbox alike.
 * - Only ccxt's implicit (raw endpoint) methods are used; anything that would pull markets or server time is disabled,
 *   so a call costs exactly one request.
 * - ccxt's error tree is mapped to keyctl ExchangeErrors in {@link mapExchangeError}. ccxt messages hold the request
 *   URL (with Binance's signature in the query string) and the response body: only the exchange's error code and a
 *   cleaned message are kept.
 * - One ccxt instance per account, key and timeout is kept for the process ({@link createClient}): building one costs
 *   tens of milliseconds of CPU, and work on many slots at once would otherwise build one per call. Requests to the
 *   key endpoints wait for the process's rate limits (rate-limit.ts), which count each endpoint on its own as the
 *   exchanges do; ccxt's throttle (one bucket per instance for every endpoint) paces only the others (orders and
 *   positions).
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { processRedactor } from '../audit/redact.js';
import { fingerprint } from '../domain/fingerprint.js';
import { ExchangeError, InternalError, KeyctlError, UsageError } from '@keyctl/client/errors';
import type { ErrorKind } from './descriptor.js';
import { rateLimiters } from './rate-limit.js';
import { exchangeDescriptor, requiresPassphrase } from './registry.js';
import { withRetry } from './retry.js';
import type { CallOptions, Credentials, ExchangeAccount } from './types.js';

/** The slice of a ccxt Exchange instance keyctl uses. */
interface CcxtInstance {
  id: string;
  hostname?: string;
  /** Milliseconds between two requests at cost 1, ccxt's unit for the endpoint costs below. */
  rateLimit?: number;
  urls: { api?: unknown };
  options: Record<string, unknown>;
  request(path: string, api: unknown, method: string, params: Record<string, unknown>, ...rest: unknown[]): Promise<unknown>;
  calculateRateLimiterCost?(api: unknown, method: string, path: string, params: unknown, config: unknown): number;
  throttle(cost?: number): Promise<unknown>;
  [method: string]: unknown;
}

type CcxtModule = Record<string, unknown>;

let ccxtModule: Promise<CcxtModule> | undefined;

/** Loads ccxt once per process. */
export function loadCcxt(): Promise<CcxtModule> {
  ccxtModule ??= import('ccxt').then((m) => (m as { default?: CcxtModule }).default ?? (m as unknown as CcxtModule));
  return ccxtModule;
}

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_BACKOFF_MS = 250;

/**
 * Rewrites every URL in ccxt's `urls.api` (strings at any depth) to `baseUrl` + the URL's path. `{hostname}`
 * placeholders are filled with `hostname` first so the path is parsed correctly.
 */
export function rewriteApiUrls(api: unknown, baseUrl: string, hostname = 'example.invalid'): unknown {
  const base = baseUrl.replace(/\/+$/, '');
  if (typeof api === 'string') {
    let url: URL;
    try {
      url = new URL(api.replaceAll('{hostname}', hostname));
    } catch {
      return api;
    }
    const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
    return `${base}${path}`;
  }
  if (Array.isArray(api)) return api.map((v) => rewriteApiUrls(v, base, hostname));
  if (api && typeof api === 'object') {
    return Object.fromEntries(Object.entries(api).map(([k, v]) => [k, rewriteApiUrls(v, base, hostname)]));
  }
  return api;
}

/** How a call may be repeated when it fails with a retryable error. */
export type RetryMode =
  /** Reads and deletes: repeat on any retryable error. */
  | 'idempotent'
  /** Creates: repeat only when the exchange refused before doing anything (rate limit); a timeout is not repeated. */
  | 'refused-only';

export interface CallSpec {
  /** What the call does, for messages: "inspecting the key". */
  action: string;
  retry?: RetryMode;
}

/** A ccxt instance for one account and one key, with keyctl's error mapping and retries around every call. */
export interface ExchangeClient {
  readonly exchange: string;
  /** Calls one of ccxt's implicit endpoint methods, e.g. `privateGetV5UserQueryApi`. */
  call(method: string, params: Record<string, unknown>, spec: CallSpec): Promise<unknown>;
  /** ccxt's signed generic request, for endpoints ccxt has no implicit method for. */
  request(path: string, api: string, httpMethod: string, params: Record<string, unknown>, spec: CallSpec): Promise<unknown>;
}

/**
 * The client for `account`, signed with `credentials`: its ccxt instance is built once per account, key and timeout
 * and kept for the process (least recently used first out, dropped after {@link CLIENT_IDLE_MS} unused), so a key
 * revoked at the exchange stays in memory at most that long.
 * Throws ExchangeError `UNKNOWN_EXCHANGE` when ccxt does not know the exchange id.
 */
export async function createClient(account: ExchangeAccount, credentials: Credentials, options: CallOptions = {}): Promise<ExchangeClient> {
  // Secrets handled in this process must never reach output, even through an exchange's echo.
  processRedactor.add(credentials.apiKey, credentials.secret, credentials.passphrase);
  if (requiresPassphrase(account.exchange) && !credentials.passphrase) {
    throw new UsageError('PASSPHRASE_MISSING', `${account.exchange} keys need a passphrase, and this key has none.`, {
      hint: 'Import the key again with its passphrase: {"apiKey","secret","passphrase"} on stdin.',
    });
  }
  const ex = await instanceFor(account, credentials, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const retry = {
    attempts: options.attempts ?? DEFAULT_ATTEMPTS,
    baseDelayMs: options.backoffMs ?? DEFAULT_BACKOFF_MS,
  };
  const run = (spec: CallSpec, fn: () => Promise<unknown>) =>
    withRetry(async () => {
      try {
        return await fn();
      } catch (err) {
        const mapped = mapExchangeError(
          err,
          account.exchange,
          spec.action,
          account.baseUrl === undefined ? {} : { baseUrl: account.baseUrl },
        );
        // A create that timed out may have happened: never repeat it (the orphan sweep finds it by label).
        if (spec.retry === 'refused-only' && mapped.code !== 'RATE_LIMITED' && mapped.retryable) {
          throw new ExchangeError(mapped.code, mapped.message, {
            hint: 'The exchange may have done it anyway: the orphan sweep finds such a key by its label. Re-run to continue.',
            cause: err,
            details: { ...mapped.details, outcomeUnknown: true },
          });
        }
        throw mapped;
      }
    }, retry);
  return {
    exchange: account.exchange,
    call(method, params, spec) {
      const fn = ex[method];
      if (typeof fn !== 'function') {
        return Promise.reject(new InternalError(`ccxt ${account.exchange} has no method ${method}.`));
      }
      return run(spec, () => (fn as (p: Record<string, unknown>) => Promise<unknown>).call(ex, params));
    },
    request(path, api, httpMethod, params, spec) {
      return run(spec, () => ex.request(path, api, httpMethod, params));
    },
  };
}

/** How many ccxt instances a process keeps, and how long one unused is kept. */
export const CLIENT_CACHE_SIZE = 256;
export const CLIENT_IDLE_MS = 10 * 60_000;

interface CachedInstance {
  instance: Promise<CcxtInstance>;
  usedAt: number;
}

/** Map order is use order: the first entry is the least recently used. Keys are hashes, never credentials. */
const instances = new Map<string, CachedInstance>();

/** Drops every kept ccxt instance (tests; a process that wants no key material left in ccxt objects). */
export function forgetClients(): void {
  instances.clear();
}

/** How many ccxt instances the process keeps now. */
export function keptClients(): number {
  return instances.size;
}

function instanceFor(account: ExchangeAccount, credentials: Credentials, timeoutMs: number): Promise<CcxtInstance> {
  const id = createHash('sha256')
    .update(
      [
        account.exchange,
        account.baseUrl ?? '',
        account.name ?? '',
        JSON.stringify(account.rateLimit ?? null),
        credentials.apiKey,
        credentials.secret,
        credentials.passphrase ?? '',
        String(timeoutMs),
      ].join('\u0000'),
    )
    .digest('hex');
  const now = Date.now();
  for (const [k, v] of instances) {
    if (now - v.usedAt < CLIENT_IDLE_MS) break;
    instances.delete(k);
  }
  const kept = instances.get(id);
  if (kept) {
    instances.delete(id);
    instances.set(id, { ...kept, usedAt: now });
    return kept.instance;
  }
  const instance = buildInstance(account, credentials, timeoutMs);
  instances.set(id, { instance, usedAt: now });
  instance.catch(() => instances.delete(id));
  if (instances.size > CLIENT_CACHE_SIZE) instances.delete(instances.keys().next().value!);
  return instance;
}

async function buildInstance(account: ExchangeAccount, credentials: Credentials, timeoutMs: number): Promise<CcxtInstance> {
  const mod = await loadCcxt();
  const Ctor = mod[account.exchange];
  if (typeof Ctor !== 'function') {
    throw new ExchangeError('UNKNOWN_EXCHANGE', `ccxt does not know an exchange called "${account.exchange}".`, {
      hint: 'Use a ccxt exchange id in accounts.<name>.exchange, e.g. bybit, okx, binance or kucoin.',
    });
  }
  const ex = new (Ctor as new (config: Record<string, unknown>) => CcxtInstance)({
    apiKey: credentials.apiKey,
    secret: credentials.secret,
    ...(credentials.passphrase ? { password: credentials.passphrase } : {}),
    // request() below paces every call: ccxt's one bucket per instance would also hold a create back behind the
    // listing before it, below what the exchange allows.
    enableRateLimit: false,
    timeout: timeoutMs,
    options: { adjustForTimeDifference: false },
  });
  if (account.baseUrl) ex.urls.api = rewriteApiUrls(ex.urls.api, account.baseUrl, ex.hostname);
  // Key management never needs market data or server time; make sure nothing fetches them behind our back.
  for (const m of ['loadMarkets', 'fetchMarkets', 'fetchTime', 'loadTimeDifference', 'fetchCurrencies']) {
    ex[m] = () =>
      Promise.reject(new InternalError(`keyctl does not fetch ${m.replace(/^(load|fetch)/, '').toLowerCase()} from exchanges.`));
  }
  // Every implicit endpoint method and every generic request ends in request(): the one place to wait for the limit.
  const request = ex.request.bind(ex);
  const keyId = fingerprint(credentials.apiKey);
  ex.request = async (path, api, method, params, ...rest) => {
    const httpMethod = String(method).toUpperCase();
    const gate = rateLimiters.gate({
      exchange: account.exchange,
      ...(account.name !== undefined ? { account: account.name } : {}),
      ...(account.baseUrl !== undefined ? { baseUrl: account.baseUrl } : {}),
      keyId,
      endpoint: `${Array.isArray(api) ? api.join('/') : String(api)} ${httpMethod} ${path}`,
      ...(account.rateLimit ? { setting: account.rateLimit } : {}),
    });
    if (!gate) {
      // Not a key endpoint: ccxt's throttle, at the cost ccxt's table gives the endpoint, as its fetch2 would.
      await ex.throttle(ex.calculateRateLimiterCost?.(api, httpMethod, path, params, rest[2] ?? {}) ?? 1);
      return request(path, api, method, params, ...rest);
    }
    await gate.limiter.acquire(gate.weight);
    try {
      const answer = await request(path, api, method, params, ...rest);
      gate.limiter.succeeded();
      return answer;
    } catch (err) {
      // The account slows down on this endpoint; the call itself is repeated (after the pause) by createClient's retry.
      if (mapExchangeError(err, account.exchange).code === 'RATE_LIMITED') gate.limiter.limited();
      throw err;
    }
  };
  return ex;
}

/** What the exchange said, reduced to its error code and a cleaned message. */
export interface ExchangeFeedback {
  code?: string;
  msg?: string;
  httpStatus?: number;
}

/** Removes query strings (where Binance carries the signature) and fragments from every URL in `text`. */
export function stripUrls(text: string): string {
  return text.replace(/\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi, (u) => {
    try {
      const url = new URL(u);
      return `${url.origin}${url.pathname}`;
    } catch {
      return '<url>';
    }
  });
}

function clean(text: string, max = 160): string {
  const s = stripUrls(text).replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function parseJsonTail(message: string): Record<string, unknown> | undefined {
  const start = message.indexOf('{');
  if (start < 0) return undefined;
  const end = message.lastIndexOf('}');
  for (const candidate of [message.slice(start), message.slice(start, end + 1)]) {
    try {
      const v: unknown = JSON.parse(candidate);
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // not JSON: try the next candidate
    }
  }
  return undefined;
}

/**
 * Extracts the exchange's error code and message from a ccxt error message (`<id> <body>` or
 * `<id> <METHOD> <url> <status> <reason> <body>`). Never returns the URL's query string.
 */
export function exchangeFeedback(message: string): ExchangeFeedback {
  const out: ExchangeFeedback = {};
  const status = /^\S+ (?:GET|POST|PUT|DELETE|PATCH) \S+ (\d{3})\b/.exec(message);
  if (status) out.httpStatus = Number(status[1]);
  const body = parseJsonTail(message);
  if (body) {
    // Kraken answers `{"error":["EAPI:Invalid key"]}`, Coinbase `{"error":"PERMISSION_DENIED",...}`: the error string is
    // their code when no numeric one is given.
    const error = Array.isArray(body.error) ? (body.error as unknown[])[0] : body.error;
    const code = body.retCode ?? body.code ?? body.label ?? (typeof error === 'string' && error !== '' ? error : undefined);
    const msg = body.retMsg ?? body.msg ?? body.message;
    if (code !== undefined && code !== null && code !== '') out.code = String(code);
    if (typeof msg === 'string' && msg) out.msg = clean(msg);
    return out;
  }
  // Binance's message-matched errors are `<id> <msg>`; network errors `<id> <METHOD> <url> <what happened>`.
  const rest = message.replace(/^\S+\s+/, '');
  if (rest) out.msg = clean(rest);
  return out;
}

/** The first IP address in an exchange's message (OKX and KuCoin name the address they saw). */
function addressIn(text: string | undefined): string | undefined {
  for (const token of text?.split(/[\s,;()"'<>]+/) ?? []) {
    const candidate = token.replace(/[.:]+$/, '');
    if (candidate && isIP(candidate) !== 0) return candidate;
  }
  return undefined;
}

/** True when `baseUrl` points at this machine, where the keyctl sandbox listens. */
function isLocal(baseUrl: string | undefined): boolean {
  if (!baseUrl) return false;
  try {
    return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(new URL(baseUrl).hostname);
  } catch {
    return false;
  }
}

/** The sentence that tells a sandbox user which address the sandbox pretends keyctl calls from. */
function sandboxAddressNote(baseUrl: string | undefined, whose: string): string {
  return isLocal(baseUrl)
    ? ` If accounts.<name>.baseUrl is the keyctl sandbox, the address it sees is its --client-ip (POST /_admin/client-ip): it must be one of ${whose}.`
    : '';
}

/** Class names of `err` and its ancestors: ccxt's error tree without importing ccxt. */
function classChain(err: object): string[] {
  const names: string[] = [];
  for (let p = Object.getPrototypeOf(err) as object | null; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    const name = (p as { constructor?: { name?: string } }).constructor?.name;
    if (name) names.push(name);
  }
  return names;
}

/**
 * Maps anything a ccxt call threw to a KeyctlError. The one function that decides what is retryable (network,
 * timeout, rate limit), what is fatal (authentication, permission), and what is a capability gap (NotSupported).
 */
export function mapExchangeError(
  err: unknown,
  exchange: string,
  action = 'calling the exchange',
  where: { baseUrl?: string } = {},
): KeyctlError {
  if (err instanceof KeyctlError) return err;
  if (!(err instanceof Error)) return new InternalError(`Unexpected ${typeof err} thrown while ${action}.`, { cause: err });
  const chain = classChain(err);
  const is = (name: string) => chain.includes(name);
  const isCcxt = is('BaseError');
  const feedback = isCcxt ? exchangeFeedback(err.message) : {};
  const said = feedback.code || feedback.msg ? ` (${[feedback.code, feedback.msg].filter(Boolean).join(' ')})` : '';
  const details: Record<string, unknown> = {
    exchange,
    ...(feedback.code ? { exchangeCode: feedback.code } : {}),
    ...(feedback.msg ? { exchangeMessage: feedback.msg } : {}),
    ...(feedback.httpStatus ? { httpStatus: feedback.httpStatus } : {}),
  };
  const opts = { cause: err, details };

  // Each exchange's own error codes, from its descriptor (`errors` in src/exchanges/<id>/descriptor.ts, each citing the
  // exchange's error table). A known code decides the mapping whatever ccxt class it was thrown as, because ccxt
  // classifies some codes differently by host (Binance -2015: OperationRejected on api.binance.com, AuthenticationError
  // elsewhere). `IP_NOT_ALLOWED` is only for a code that means exactly "the call came from an address outside the key's
  // IP allowlist" (bybit 10010, okx 50110, kucoin 400006); an answer that does not tell the key from the address
  // (Binance -2015, the descriptor's `keyOrIp`) stays KEY_REJECTED, worded to name the allowlist as one possible cause.
  const codes = exchangeDescriptor(exchange)?.errors;
  const byCode = feedback.code && codes && Object.hasOwn(codes.codes, feedback.code) ? codes.codes[feedback.code] : undefined;
  const kind: ErrorKind | undefined =
    byCode ??
    (is('InvalidNonce')
      ? 'CLOCK_SKEW'
      : is('RateLimitExceeded') || is('DDoSProtection')
        ? 'RATE_LIMITED'
        : is('PermissionDenied')
          ? 'PERMISSION_DENIED'
          : is('AuthenticationError')
            ? 'KEY_REJECTED'
            : undefined);

  switch (kind) {
    case 'IP_NOT_ALLOWED': {
      const seen = addressIn(feedback.msg);
      return new ExchangeError(
        'IP_NOT_ALLOWED',
        `${exchange} refused the key from this address while ${action}: the key's IP allowlist does not include the address keyctl runs from${said}.`,
        {
          ...opts,
          details: { ...details, ...(seen ? { clientIp: seen } : {}) },
          hint:
            `Run keyctl from an address in the key's IP allowlist (for a bot key, the slot's ips in keyctl.yaml), or add this host's public address${seen ? ` (${exchange} saw ${seen})` : ''} to the key's allowlist at ${exchange}.` +
            sandboxAddressNote(where.baseUrl, "the key's ips"),
        },
      );
    }
    case 'KEY_REJECTED': {
      const ambiguous = codes?.keyOrIp;
      if (
        ambiguous &&
        ((feedback.code && ambiguous.codes.includes(feedback.code)) || (!feedback.code && ambiguous.message.test(feedback.msg ?? '')))
      ) {
        return new ExchangeError(
          'KEY_REJECTED',
          `${exchange} refused the key while ${action}${said}: ${exchange} gives this same answer for an unknown, deleted or mistyped key, for a missing permission, and for a call from an address outside the key's IP allowlist.`,
          {
            ...opts,
            details: { ...details, possibleCauses: ['key', 'ip-allowlist', 'permission'] },
            hint:
              `Check that this host's public address is in the key's IP allowlist (for a bot key, the slot's ips in keyctl.yaml) at ${exchange}, that the key still exists and the stored secret is its own, and that the key holds the permission this call needs.` +
              sandboxAddressNote(where.baseUrl, "the key's ips"),
          },
        );
      }
      return new ExchangeError('KEY_REJECTED', `${exchange} rejected the key while ${action}${said}.`, {
        ...opts,
        hint: 'The key is wrong, deleted, expired or signed with another secret (or passphrase). Check what is stored for it.',
      });
    }
    case 'PERMISSION_DENIED':
      if (feedback.code && codes?.addressBanned?.includes(feedback.code)) {
        return new ExchangeError(
          'PERMISSION_DENIED',
          `${exchange} refused ${action}: ${exchange} has banned the address keyctl runs from${said}.`,
          {
            ...opts,
            hint: `The ban is on this host's address, not on the key. Contact ${exchange} support, or run keyctl from another address in the key's IP allowlist.`,
          },
        );
      }
      return new ExchangeError('PERMISSION_DENIED', `${exchange} refused ${action}: the key may not do this${said}.`, {
        ...opts,
        hint: "Check the key's permissions at the exchange (docs/exchanges.md lists what each keyctl call needs).",
      });
    case 'RATE_LIMITED':
      return new ExchangeError('RATE_LIMITED', `${exchange} rate-limited keyctl while ${action}${said}.`, {
        ...opts,
        retryable: true,
        hint: 'Wait a minute and re-run; keyctl already retried with backoff.',
      });
    case 'CLOCK_SKEW':
      return new ExchangeError('CLOCK_SKEW', `${exchange} refused the request's timestamp while ${action}${said}.`, {
        ...opts,
        hint: "This machine's clock is off: synchronize it (NTP) and re-run.",
      });
  }
  if (is('RequestTimeout')) {
    return new ExchangeError('EXCHANGE_TIMEOUT', `${exchange} did not answer in time while ${action}.`, {
      ...opts,
      retryable: true,
      hint: 'Nothing is known to have changed. Check connectivity to the exchange (and accounts.<name>.baseUrl) and re-run.',
    });
  }
  if (is('NetworkError') || is('BadResponse')) {
    return new ExchangeError('EXCHANGE_UNAVAILABLE', `${exchange} is unreachable or failing while ${action}${said}.`, {
      ...opts,
      retryable: true,
      hint: 'Check connectivity to the exchange (and accounts.<name>.baseUrl) and its status page, then re-run.',
    });
  }
  if (is('NotSupported')) {
    return new ExchangeError('CAPABILITY_GAP', `${exchange} offers no API for ${action}${said}.`, {
      ...opts,
      hint: "See docs/exchanges.md for what each exchange supports; this step must be done in the exchange's web UI.",
    });
  }
  if (isCcxt) {
    return new ExchangeError('EXCHANGE_REFUSED', `${exchange} refused ${action}${said}.`, {
      ...opts,
      hint: "The exchange's error code above says why; see its API documentation.",
    });
  }
  // Not a ccxt error: a bug here or in ccxt. Its message may hold request data, so it is not copied.
  return new InternalError(`${err.name} while ${action} at ${exchange}.`, { cause: err });
}

/** Throws the exchange's capability gap for an operation an adapter does not offer. */
export function capabilityGap(exchange: string, what: string): never {
  throw new ExchangeError('CAPABILITY_GAP', `${exchange} offers no API to ${what}.`, {
    hint: "Rotation for this exchange is assisted: create or delete the key in the exchange's web UI (see docs/exchanges.md).",
  });
}

/** Error codes meaning the exchange refused this key for this call: the key itself, its permissions, or the address. */
export const KEY_REFUSAL_CODES = ['KEY_REJECTED', 'PERMISSION_DENIED', 'IP_NOT_ALLOWED'] as const;

/**
 * True when the exchange refused the key (KEY_REJECTED, PERMISSION_DENIED or IP_NOT_ALLOWED): the key cannot be used
 * from here for this call. It says nothing about whether the key still exists: see {@link isIpRefusal}.
 */
export function isKeyRefusal(err: unknown): err is ExchangeError {
  return err instanceof ExchangeError && !err.retryable && (KEY_REFUSAL_CODES as readonly string[]).includes(err.code);
}

/**
 * True when the exchange refused the call because it came from an address outside the key's IP allowlist
 * (IP_NOT_ALLOWED). Such a key may be perfectly alive: it cannot be verified, used or proven revoked from here.
 */
export function isIpRefusal(err: unknown): err is ExchangeError & { code: 'IP_NOT_ALLOWED' } {
  return err instanceof ExchangeError && err.code === 'IP_NOT_ALLOWED';
}

/**
 * True when the address may be why the exchange refused the key: an IP refusal, or an answer that does not tell the
 * address from the key (Binance -2015, `details.possibleCauses` holding `ip-allowlist`). Use it to word hints.
 */
export function mayBeIpRefusal(err: unknown): boolean {
  if (isIpRefusal(err)) return true;
  const causes = err instanceof ExchangeError ? err.details?.possibleCauses : undefined;
  return Array.isArray(causes) && causes.includes('ip-allowlist');
}

/**
 * True when the exchange does not accept the key itself (KEY_REJECTED: unknown, deleted, expired, wrong secret or
 * passphrase): the only refusal that may mean a key no longer authenticates (was revoked). Never an IP refusal (the
 * key may be alive, used from the wrong address) nor PERMISSION_DENIED (a live key that may not do this, or a banned
 * address). Binance -2015 is KEY_REJECTED and cannot tell a deleted key from a wrong address (`mayBeIpRefusal`).
 */
export function isKeyRejected(err: unknown): err is ExchangeError {
  return err instanceof ExchangeError && !err.retryable && err.code === 'KEY_REJECTED';
}

/**
 * Re-labels a refusal of the account's master key, met while inspecting a bot key, so it is never mistaken for the
 * bot key being refused. The code is MASTER_KEY_REJECTED whatever the cause; `details.refusal` keeps the original code,
 * and an IP refusal keeps its wording and gets a hint about the master key's allowlist.
 */
export function asMasterError(err: unknown, account: ExchangeAccount): unknown {
  if (!isKeyRefusal(err)) return err;
  const name = account.name ? `@${account.name}` : `the ${account.exchange} account`;
  const check = account.name ? ` Then check it with \`keyctl verify @${account.name}\`.` : '';
  const seen = typeof err.details?.clientIp === 'string' ? ` (${account.exchange} saw ${err.details.clientIp})` : '';
  const hint = isIpRefusal(err)
    ? `The bot key is not at fault: the master key's IP allowlist does not include the address keyctl runs from. Run keyctl from an address in the master key's allowlist, or add this host's public address${seen} to it at ${account.exchange}.${check}` +
      sandboxAddressNote(account.baseUrl, "the master key's ips")
    : mayBeIpRefusal(err)
      ? `The bot key is not at fault. Check that this host's public address is in the master key's IP allowlist at ${account.exchange}, that the master key still exists and the stored secret is its own, and that it holds the permissions keyctl needs.${check}` +
        sandboxAddressNote(account.baseUrl, "the master key's ips")
      : account.name
        ? `Check it with \`keyctl verify @${account.name}\` and fix it first.`
        : 'Check the master key and fix it first.';
  return new ExchangeError('MASTER_KEY_REJECTED', `The master key of ${name} was refused: ${err.message}`, {
    hint,
    cause: err,
    details: { ...err.details, refusal: err.code },
  });
}
