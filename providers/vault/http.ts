/**
 * The one place keyctl touches node-vault: a small typed facade that avoids its three pitfalls
 * (see ../shared notes and docs/vault.md):
 *
 * 1. Commands that mint tokens (`tokenCreate`, every `*Login`) replace the client's own token. We never call node-vault
 *    commands: every call goes through the generic `request()`, and the token is sent per request from this facade's
 *    own field, which node-vault cannot change.
 * 2. Schema'd commands silently drop parameters (`getApproleRoleSecret` loses `num_uses` and `ttl`). Again: only the
 *    generic `request()`, with the body we built.
 * 3. Its `debug` namespace logs request payloads, secrets included, whenever `DEBUG` matches `node-vault`. We hand it a
 *    no-op logger, so nothing it does can print a payload whatever `DEBUG` says; and nothing here logs at all.
 *
 * node-vault is imported lazily, so a local-store user never loads it.
 */
import { Agent } from 'node:https';
import { ProviderError } from '@keyctl/client/errors';
import type { VaultTls } from './tls.js';

export type VaultMethod = 'GET' | 'POST' | 'DELETE' | 'LIST';

export interface VaultAuthBlock {
  client_token: string;
  accessor: string;
  policies: string[];
  token_policies?: string[];
  lease_duration: number;
  renewable: boolean;
}

export interface VaultWrapInfo {
  token: string;
  accessor?: string;
  ttl: number;
  creation_time: string;
  creation_path: string;
  wrapped_accessor?: string;
}

/** The envelope every Vault response shares (fields keyctl reads). */
export interface VaultResponse<D = Record<string, unknown>> {
  data?: D | null;
  auth?: VaultAuthBlock | null;
  wrap_info?: VaultWrapInfo | null;
  warnings?: string[] | null;
}

export interface VaultCall {
  method: VaultMethod;
  /** Path below /v1/, without a leading slash; may carry a query string. */
  path: string;
  body?: Record<string, unknown>;
  /** Token to send: the facade's own by default; `null` for an unauthenticated call; a string for another token. */
  token?: string | null;
  /** Ask Vault to wrap the response for this many seconds (X-Vault-Wrap-TTL). */
  wrapTtlSeconds?: number;
  /**
   * Whether sending the request twice is harmless (see {@link VaultHttp.call} on retries). Default: true for GET and
   * LIST, false for POST and DELETE. A KV write with `cas`, an AppRole login with a single-use secret id, an unwrap:
   * never mark these; a lost reply may mean the first one landed.
   */
  idempotent?: boolean;
  /** Upper bound on retries for this call; 0 never retries. Default: the facade's (3). */
  maxRetries?: number;
}

/** Retries of {@link VaultHttp.call}: bounded count, exponential backoff with jitter, capped total delay. */
export interface VaultRetryPolicy {
  /** Retries after the first attempt (default 3). */
  retries?: number;
  /** Backoff before retry n is between half and all of baseDelayMs * 2^(n-1) (default 250 ms). */
  baseDelayMs?: number;
  /** Total backoff of one call never exceeds this (default 2000 ms). */
  maxTotalDelayMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/**
 * An HTTP error answer from Vault. Internal: the store turns it into a ProviderError (see errors.ts), never shows it.
 * Carries only the status and Vault's error strings, never the request.
 */
export class VaultApiError extends Error {
  /** How many times the request was sent before this answer was final (1: not retried). */
  attempts = 1;

  constructor(
    readonly status: number,
    readonly errors: string[],
    readonly body: VaultResponse | undefined,
  ) {
    super(`Vault answered HTTP ${status}`);
    this.name = 'VaultApiError';
  }

  has(text: string): boolean {
    return this.errors.some((e) => e.includes(text));
  }
}

/** node-vault's client, typed down to the parts we use. */
interface RawClient {
  token: string | undefined;
  namespace: string | undefined;
  request(options: {
    path: string;
    method: string;
    json?: unknown;
    headers?: Record<string, string>;
    httpsAgent?: Agent;
  }): Promise<unknown>;
}

type RawFactory = (options: Record<string, unknown>) => RawClient;

export interface VaultHttpOptions {
  address: string;
  namespace?: string;
  /** Per-request timeout, ms. */
  timeoutMs?: number;
  /** CAs, client certificate, server name, verification (providers/vault/tls.ts). Default: Node's roots, verified. */
  tls?: VaultTls;
  retry?: VaultRetryPolicy;
}

const RETRY_DEFAULTS = { retries: 3, baseDelayMs: 250, maxTotalDelayMs: 2_000 } as const;

const noop = Object.assign(() => undefined, { enabled: false });

export class VaultHttp {
  /** The token this facade sends. Only keyctl's own code changes it (login, renewal). */
  token: string | undefined;
  /**
   * Logs in again with the configured auth method and sets {@link token}; set by `openVaultHttp` (connect.ts) for
   * methods that can (AppRole, Kubernetes, JWT), undefined for a plain token. Token renewal uses it at max TTL.
   */
  relogin: (() => Promise<void>) | undefined;
  /** True when certificate verification is off (tls.skipVerify / VAULT_SKIP_VERIFY): callers may warn. */
  readonly insecure: boolean;

  private readonly retry: Required<VaultRetryPolicy>;

  private constructor(
    private readonly raw: RawClient,
    readonly address: string,
    private readonly agent: Agent,
    retry: VaultRetryPolicy | undefined,
  ) {
    this.insecure = !agent.options.rejectUnauthorized;
    this.retry = {
      retries: retry?.retries ?? RETRY_DEFAULTS.retries,
      baseDelayMs: retry?.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs,
      maxTotalDelayMs: retry?.maxTotalDelayMs ?? RETRY_DEFAULTS.maxTotalDelayMs,
      sleep: retry?.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      random: retry?.random ?? Math.random,
    };
  }

  static async create(options: VaultHttpOptions): Promise<VaultHttp> {
    const mod = (await import('node-vault')) as unknown as { default: RawFactory };
    const tls = options.tls ?? { rejectUnauthorized: true };
    // keyctl's own agent, sent with every request (node-vault passes a per-request `httpsAgent` to axios untouched), so
    // what is trusted is exactly what tls.ts resolved. `rejectUnauthorized` is always explicit: Node's default, and
    // node-vault's own `strictSSL: !process.env.VAULT_SKIP_VERIFY` (which "false" would switch off) never apply.
    const agent = new Agent({
      keepAlive: true,
      rejectUnauthorized: tls.rejectUnauthorized,
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
      ...(tls.servername ? { servername: tls.servername } : {}),
    });
    const raw = mod.default({
      endpoint: options.address,
      apiVersion: 'v1',
      // Pitfall 3: node-vault uses `config.debug` instead of its `debug('node-vault')` logger when given.
      debug: noop,
      namespace: options.namespace,
      // strictSSL set explicitly too: should a node-vault update stop honouring the per-request agent, its default one
      // still verifies (and, without keyctl's CAs, fails closed).
      rpDefaults: { timeout: options.timeoutMs ?? 15_000, strictSSL: tls.rejectUnauthorized },
      // LIST is sent as GET ?list=true (see list()); keep node-vault from inventing verbs of its own.
      noCustomHTTPVerbs: true,
    });
    // node-vault falls back to process.env.VAULT_TOKEN / VAULT_NAMESPACE; keyctl decides itself which to use.
    raw.token = '';
    raw.namespace = options.namespace ?? '';
    return new VaultHttp(raw, options.address.replace(/\/$/, ''), agent, options.retry);
  }

  /**
   * One API call. Resolves with the parsed body (empty object for 204); rejects with VaultApiError or ProviderError.
   *
   * Retries, at most `retries` times (3) with exponential backoff and jitter, never more than 2 s of waiting in all:
   * - 429 (rate-limit quota) and 5xx other than 501 (not initialized) and a sealed 503 (unsealing takes longer than
   *   any backoff), only when the call is idempotent (GET, LIST, or `idempotent: true`): a POST whose reply was a 502
   *   from a proxy may still have landed, and a `cas` write or single-use login must not be sent twice blindly.
   * - 412, whatever the method. Vault Enterprise answers 412 when the node lacks replicated state the request needs
   *   (e.g. a token just minted on another node), before handling it, and HTTP defines 412 as "the method was not
   *   applied" (RFC 9110 §15.5.13), so a retry cannot apply anything twice. Vault's own Go client retries 412 the
   *   same way. https://developer.hashicorp.com/vault/docs/enterprise/consistency
   * Transport failures (refused, reset, TLS) are never retried here. The error finally thrown is the last answer's.
   */
  async call<D = Record<string, unknown>>(call: VaultCall): Promise<VaultResponse<D>> {
    const idempotent = call.idempotent ?? (call.method === 'GET' || call.method === 'LIST');
    const maxRetries = call.maxRetries ?? this.retry.retries;
    let waited = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once<D>(call);
      } catch (err) {
        if (!(err instanceof VaultApiError)) throw err;
        err.attempts = attempt;
        if (attempt > maxRetries || !shouldRetry(err, idempotent)) throw err;
        const ceiling = this.retry.baseDelayMs * 2 ** (attempt - 1);
        const delay = Math.min(Math.round(ceiling / 2 + this.retry.random() * (ceiling / 2)), this.retry.maxTotalDelayMs - waited);
        if (delay <= 0) throw err;
        waited += delay;
        await this.retry.sleep(delay);
      }
    }
  }

  private async once<D>(call: VaultCall): Promise<VaultResponse<D>> {
    const headers: Record<string, string> = {};
    const token = call.token === undefined ? this.token : call.token;
    if (token) headers['X-Vault-Token'] = token;
    if (call.wrapTtlSeconds !== undefined) headers['X-Vault-Wrap-TTL'] = `${call.wrapTtlSeconds}s`;
    let path = call.path;
    let method: string = call.method;
    if (method === 'LIST') {
      method = 'GET';
      path += `${path.includes('?') ? '&' : '?'}list=true`;
    }
    try {
      const body = await this.raw.request({
        path: `/${path}`,
        method,
        ...(call.body !== undefined ? { json: call.body } : {}),
        headers,
        httpsAgent: this.agent,
      });
      return (body && typeof body === 'object' ? body : {}) as VaultResponse<D>;
    } catch (err) {
      throw toTransportError(err, this.address);
    }
  }

  /** `sys/health`, which answers 429/472/473/501/503 with a body describing the state; never throws VaultApiError. */
  async healthState(): Promise<{ initialized: boolean; sealed: boolean; standby: boolean }> {
    // node-vault resolves sys/health answers whatever the status, which is what we want here.
    // Never retried: its status codes describe the state (429 standby, 503 sealed), which is the answer wanted.
    const body = (await this.call<never>({
      method: 'GET',
      path: 'sys/health?standbyok=true&perfstandbyok=true',
      token: null,
      maxRetries: 0,
    })) as Record<string, unknown>;
    return { initialized: body.initialized !== false, sealed: body.sealed === true, standby: body.standby === true };
  }
}

/** Whether an error answer is worth sending the same request again (see {@link VaultHttp.call}). */
function shouldRetry(err: VaultApiError, idempotent: boolean): boolean {
  if (err.status === 412) return true;
  if (!idempotent) return false;
  if (err.status === 429) return true;
  if (err.status === 503 && err.has('Vault is sealed')) return false;
  return err.status >= 500 && err.status !== 501;
}

/** Node's codes for a server certificate that failed verification (OpenSSL verify results, and the name check). */
const UNTRUSTED_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Keeps only what is safe of whatever node-vault or axios threw. An axios error carries the whole request config,
 * body included (a secret, for a write), so it is never kept as a cause.
 */
function toTransportError(err: unknown, address: string): Error {
  const e = err as { response?: { statusCode?: number; body?: unknown }; code?: string; name?: string };
  if (e && e.response && typeof e.response.statusCode === 'number') {
    const body = (e.response.body && typeof e.response.body === 'object' ? e.response.body : undefined) as
      (VaultResponse & { errors?: unknown }) | undefined;
    const errors = Array.isArray(body?.errors) ? body.errors.filter((x): x is string => typeof x === 'string') : [];
    return new VaultApiError(e.response.statusCode, errors, body);
  }
  const code = typeof e?.code === 'string' ? e.code : 'UNKNOWN';
  if (UNTRUSTED_CODES.has(code)) {
    const name = code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH';
    return new ProviderError('VAULT_TLS_UNTRUSTED', `Vault at ${address} presented a certificate keyctl does not trust (${code}).`, {
      hint: name
        ? "The certificate is not issued for the address's host name: use the name it is issued for in store.address / VAULT_ADDR, or set store.tls.serverName (VAULT_TLS_SERVER_NAME) to it."
        : "Set store.tls.caCert (or VAULT_CACERT) to the CA bundle that signed Vault's certificate, or store.tls.caPath / VAULT_CAPATH to a directory of them. keyctl does not connect to an unverified Vault.",
      details: { address, code },
    });
  }
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO') {
    return new ProviderError('VAULT_TLS_HANDSHAKE', `The TLS handshake with Vault at ${address} failed (${code}).`, {
      hint:
        'If Vault requires client certificates, set store.tls.clientCert and clientKey (or VAULT_CLIENT_CERT / VAULT_CLIENT_KEY) to a certificate its listener trusts. ' +
        'If Vault listens without TLS, the address must start with http://.',
      details: { address, code },
    });
  }
  return new ProviderError('VAULT_UNREACHABLE', `Cannot reach Vault at ${address} (${code}).`, {
    hint: 'Check store.address or VAULT_ADDR, that Vault is running, and that this host can reach it (TLS, proxy, firewall).',
    retryable: true,
    details: { address, code },
  });
}
