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
import { ProviderError } from '../../src/errors.js';

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
}

/**
 * An HTTP error answer from Vault. Internal: the store turns it into a ProviderError (see errors.ts), never shows it.
 * Carries only the status and Vault's error strings, never the request.
 */
export class VaultApiError extends Error {
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
  request(options: { path: string; method: string; json?: unknown; headers?: Record<string, string> }): Promise<unknown>;
}

type RawFactory = (options: Record<string, unknown>) => RawClient;

export interface VaultHttpOptions {
  address: string;
  namespace?: string;
  /** Per-request timeout, ms. */
  timeoutMs?: number;
}

const noop = Object.assign(() => undefined, { enabled: false });

export class VaultHttp {
  /** The token this facade sends. Only keyctl's own code changes it (login, renewal). */
  token: string | undefined;

  private constructor(
    private readonly raw: RawClient,
    readonly address: string,
  ) {}

  static async create(options: VaultHttpOptions): Promise<VaultHttp> {
    const mod = (await import('node-vault')) as unknown as { default: RawFactory };
    const raw = mod.default({
      endpoint: options.address,
      apiVersion: 'v1',
      // Pitfall 3: node-vault uses `config.debug` instead of its `debug('node-vault')` logger when given.
      debug: noop,
      namespace: options.namespace,
      rpDefaults: { timeout: options.timeoutMs ?? 15_000 },
      // LIST is sent as GET ?list=true (see list()); keep node-vault from inventing verbs of its own.
      noCustomHTTPVerbs: true,
    });
    // node-vault falls back to process.env.VAULT_TOKEN / VAULT_NAMESPACE; keyctl decides itself which to use.
    raw.token = '';
    raw.namespace = options.namespace ?? '';
    return new VaultHttp(raw, options.address.replace(/\/$/, ''));
  }

  /** One API call. Resolves with the parsed body (empty object for 204); rejects with VaultApiError or ProviderError. */
  async call<D = Record<string, unknown>>(call: VaultCall): Promise<VaultResponse<D>> {
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
      });
      return (body && typeof body === 'object' ? body : {}) as VaultResponse<D>;
    } catch (err) {
      throw toTransportError(err, this.address);
    }
  }

  /** `sys/health`, which answers 429/472/473/501/503 with a body describing the state; never throws VaultApiError. */
  async healthState(): Promise<{ initialized: boolean; sealed: boolean; standby: boolean }> {
    // node-vault resolves sys/health answers whatever the status, which is what we want here.
    const body = (await this.call<never>({ method: 'GET', path: 'sys/health?standbyok=true&perfstandbyok=true', token: null })) as Record<
      string,
      unknown
    >;
    return { initialized: body.initialized !== false, sealed: body.sealed === true, standby: body.standby === true };
  }
}

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
  return new ProviderError('VAULT_UNREACHABLE', `Cannot reach Vault at ${address} (${code}).`, {
    hint: 'Check store.address or VAULT_ADDR, that Vault is running, and that this host can reach it (TLS, proxy, firewall).',
    retryable: true,
    details: { address, code },
  });
}
