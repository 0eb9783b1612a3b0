/**
 * A HashiCorp Vault HTTP API test double (node:http), implementing what keyctl calls, with Vault's documented request
 * and response shapes and error codes:
 *
 * - KV v2 (`<mount>/data|metadata|destroy|delete|undelete/<path>`): versions, `options.cas`, `cas_required`,
 *   `max_versions` pruning (the larger of key and mount), `custom_metadata` with Vault's limits (64 keys, key 128 /
 *   value 512 UTF-8 bytes, non-empty, printable), `delete_version_after`, soft delete and destroy, LIST (verb or
 *   `?list=true`), and the mount's `config` (max_versions, cas_required, delete_version_after).
 * - Tokens (`auth/token/create|lookup-self|renew-self|revoke-self|revoke`) with TTL, max TTL, `num_uses`, renewal,
 *   and bound CIDRs checked against the client's TCP address.
 * - Response wrapping: `X-Vault-Wrap-TTL` on any request, `sys/wrapping/wrap|lookup|unwrap`, single use, TTL.
 * - AppRole (`auth/approle/role/<r>`, `role-id`, `secret-id` with `num_uses`/`ttl`/`cidr_list`/`token_bound_cidrs`,
 *   `login`), with `secret_id_bound_cidrs` and `token_bound_cidrs` on the role.
 * - ACL policies (`sys/policies/acl/<name>`, `sys/policy/<name>`) enforced on every request, plus `default`.
 * - Namespaces (`X-Vault-Namespace`, or a namespace leading the path; created with the `namespaces` option or
 *   `createNamespace()`): mounts, data, policies and roles per namespace; a token only works in its own namespace
 *   and those under it.
 * - A path with no mount: the ACL check first (403), then 404 "no handler for route"; the mount preflight
 *   (`sys/internal/ui/mounts/<m>`) answers 403 for a mount that does not exist.
 * - `sys/health` and a sealed mode (`seal()`): every other request answers 503 "Vault is sealed".
 *
 * Errors: `{"errors":[...]}`; 400 for bad requests and cas mismatch, 403 permission denied (with "invalid token" for
 * a bad token, as Vault >= 1.17 does), 404 with empty errors, 503 sealed. Time comes from an injectable clock.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BlockList, isIP, type AddressInfo } from 'node:net';
import { capabilitiesFor, DEFAULT_POLICY, parsePolicy, PolicyParseError, type Capability, type PathRule } from './vault-acl.js';

export interface FakeVaultOptions {
  /** Root token id (default: a random `hvs.` token). */
  rootToken?: string;
  /** Clock in ms for every TTL (default Date.now). */
  now?: () => number;
  /** KV v2 mounts (default `secret`). */
  kvMounts?: string[];
  /** AppRole mount (default `approle`), in every namespace. */
  approleMount?: string;
  /**
   * Child namespaces to create (e.g. ["team-a", "team-a/bots"]), each with the `kvMounts` KV v2 mounts of its own, its
   * own `default` policy, and none of the root namespace's state. Requests pick one with `X-Vault-Namespace`.
   */
  namespaces?: string[];
  /**
   * The mount preflight (`sys/internal/ui/mounts/<m>`) refuses a token with no access under the mount, as Vault does
   * (default false: any valid token may ask about an existing mount, which tests written before this rely on).
   */
  preflightChecksAccess?: boolean;
}

interface Token {
  id: string;
  accessor: string;
  policies: string[];
  /** Remaining uses; 0 means unlimited. */
  numUses: number;
  /** Seconds; 0 means no expiry (root). */
  ttl: number;
  creationTtl: number;
  /** Absolute cap for renewals, ms since epoch; 0 = none. */
  maxExpiresAt: number;
  expiresAt: number;
  issuedAt: number;
  renewable: boolean;
  meta: Record<string, string>;
  displayName: string;
  path: string;
  /** token_bound_cidrs: the client addresses the token may be used from (empty: any). */
  boundCidrs: string[];
  /** The namespace the token was made in ("" root): its policies are that namespace's, its paths under it. */
  ns: string;
}

interface Wrap {
  token: string;
  accessor: string;
  creationPath: string;
  creationTime: number;
  ttl: number;
  expiresAt: number;
  response: Record<string, unknown>;
}

interface KvVersion {
  data: Record<string, unknown> | null;
  createdAt: number;
  /** When the version is (or was) deleted, ms: a soft delete's time or created + delete_version_after; null = none. */
  deletionTime: number | null;
  destroyed: boolean;
}

interface KvEntry {
  versions: Map<number, KvVersion>;
  current: number;
  /** KeyMetadata.OldestVersion: 0 until the first prune. */
  oldest: number;
  createdAt: number;
  updatedAt: number;
  maxVersions: number;
  casRequired: boolean;
  /** Seconds; 0 = not set (the mount's applies). */
  deleteVersionAfter: number;
  customMetadata: Record<string, string> | null;
}

/** A KV v2 mount's `config` (path_config.go): 0 max versions means the default 10; deleteVersionAfter in seconds, -1 disabled. */
export interface KvMountConfig {
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: number;
}

/**
 * One namespace's state (openbao internal/vault/namespace_store.go): mounts, their data, policies and AppRole roles
 * are per namespace. Tokens and wrapping tokens live in one store; a token belongs to the namespace it was made in.
 */
interface Namespace {
  /** Canonical path: "" for root, else ending in "/" ("team-a/"). */
  path: string;
  policies: Map<string, { text: string; rules: PathRule[] }>;
  kv: Map<string, Map<string, KvEntry>>;
  kvConfig: Map<string, KvMountConfig>;
  roles: Map<string, Role>;
  secretIds: Map<string, SecretId>;
}

interface Role {
  name: string;
  roleId: string;
  settings: Record<string, unknown>;
}

interface SecretId {
  role: string;
  accessor: string;
  /** Remaining uses; 0 = unlimited. */
  uses: number;
  expiresAt: number;
  /** `cidr_list`: where a login with this secret id may come from (empty: anywhere the role allows). */
  cidrList: string[];
  /** `token_bound_cidrs` for the tokens this secret id logs in to (empty: the role's). */
  tokenBoundCidrs: string[];
}

interface Reply {
  status: number;
  body?: Record<string, unknown>;
}

class VaultFailure extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
    readonly body?: Record<string, unknown>,
  ) {
    super(errors.join('; '));
  }
}

const PERMISSION_DENIED = '1 error occurred:\n\t* permission denied\n\n';
const INVALID_TOKEN = '2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n';
const BAD_WRAP = 'wrapping token is not valid or does not exist';
const CAS_MISMATCH = 'check-and-set parameter did not match the current version';
const DEFAULT_MAX_VERSIONS = 10;

const denied = () => new VaultFailure(403, [PERMISSION_DENIED]);
const notFound = () => new VaultFailure(404, []);
const bad = (msg: string) => new VaultFailure(400, [msg]);

/** Parses a Vault duration: seconds as a number or string ("60"), or Go-style "90s", "10m", "1h30m". */
export function parseDuration(v: unknown): number {
  if (v === undefined || v === null || v === '') return 0;
  if (typeof v === 'number') return v;
  const s = String(v);
  if (/^\d+$/.test(s)) return Number(s);
  const re = /(\d+)(h|m|s)/g;
  let total = 0;
  let seen = '';
  for (const m of s.matchAll(re)) {
    seen += m[0];
    total += Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  }
  if (seen !== s) throw bad(`invalid duration "${s}"`);
  return total;
}

function newToken(): string {
  return `hvs.${randomBytes(18).toString('base64url')}`;
}

export class FakeVault {
  readonly rootToken: string;
  url = '';
  /**
   * Method and path of every request (never bodies, never tokens), for assertions on what the client called, with the
   * X-Vault-Wrap-TTL header as sent when there was one.
   */
  readonly calls: Array<{ method: string; path: string; status: number; wrapTtl?: string; namespace?: string }> = [];
  private sealed = false;
  private readonly now: () => number;
  private readonly server: Server;
  private readonly tokens = new Map<string, Token>();
  private readonly wraps = new Map<string, Wrap>();
  private readonly namespaces = new Map<string, Namespace>();
  private readonly kvMounts: string[];
  /** The namespace of the request being handled (route() runs synchronously, one request at a time). */
  private current: Namespace;
  private readonly approleMount: string;
  private readonly preflightChecksAccess: boolean;

  private get policies() {
    return this.current.policies;
  }
  private get kv() {
    return this.current.kv;
  }
  private get kvConfig() {
    return this.current.kvConfig;
  }
  private get roles() {
    return this.current.roles;
  }
  private get secretIds() {
    return this.current.secretIds;
  }

  private constructor(options: FakeVaultOptions) {
    this.now = options.now ?? Date.now;
    this.rootToken = options.rootToken ?? newToken();
    this.approleMount = options.approleMount ?? 'approle';
    this.preflightChecksAccess = options.preflightChecksAccess ?? false;
    this.kvMounts = options.kvMounts ?? ['secret'];
    this.current = this.addNamespace('', this.kvMounts);
    for (const ns of options.namespaces ?? []) this.createNamespace(ns);
    const t = this.mint({ policies: ['root'], ttl: 0, numUses: 0, renewable: false, displayName: 'root', path: 'auth/token/root' });
    this.tokens.delete(t.id);
    this.tokens.set(this.rootToken, { ...t, id: this.rootToken });
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Starts a fake Vault on a free localhost port. */
  static async start(options: FakeVaultOptions = {}): Promise<FakeVault> {
    const v = new FakeVault(options);
    await new Promise<void>((resolve) => v.server.listen(0, '127.0.0.1', resolve));
    v.url = `http://127.0.0.1:${(v.server.address() as AddressInfo).port}`;
    return v;
  }

  seal(): void {
    this.sealed = true;
  }

  unseal(): void {
    this.sealed = false;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Test helper: creates a child namespace (as `sys/namespaces/<path>` would, plus KV v2 mounts: by default the same
   * as the root namespace's). Returns its canonical path ("team-a/").
   */
  createNamespace(path: string, kvMounts: string[] = this.kvMounts): string {
    const canonical = canonicalNamespace(path);
    if (canonical === '') throw new Error('the root namespace always exists');
    if (!this.namespaces.has(canonical)) this.addNamespace(canonical, kvMounts);
    return canonical;
  }

  private addNamespace(path: string, kvMounts: string[]): Namespace {
    const ns: Namespace = { path, policies: new Map(), kv: new Map(), kvConfig: new Map(), roles: new Map(), secretIds: new Map() };
    for (const m of kvMounts) {
      ns.kv.set(m, new Map());
      ns.kvConfig.set(m, { maxVersions: 0, casRequired: false, deleteVersionAfter: 0 });
    }
    // Every namespace has its own `default` policy (openbao internal/vault/policy/policy_store.go LoadDefaultPolicies,
    // called on namespace creation in namespace_store.go).
    ns.policies.set('default', { text: DEFAULT_POLICY, rules: parsePolicy(DEFAULT_POLICY) });
    this.namespaces.set(path, ns);
    return ns;
  }

  /** A namespace by (any spelling of) its path; "" or undefined is root. */
  private namespaceState(path = ''): Namespace {
    const ns = this.namespaces.get(canonicalNamespace(path));
    if (!ns) throw new Error(`no namespace "${path}"`);
    return ns;
  }

  /** Test helper: mints a token directly (as `auth/token/create` from root would). */
  createToken(options: {
    policies: string[];
    ttl?: number;
    numUses?: number;
    renewable?: boolean;
    maxTtl?: number;
    /** token_bound_cidrs (e.g. ["10.0.0.0/8"]): used from any other client address, the token is refused (403). */
    boundCidrs?: string[];
    /** The namespace the token belongs to (default root): its policies are that namespace's. */
    namespace?: string;
  }): string {
    const ns = this.namespaceState(options.namespace);
    const policies = options.policies.includes('root') ? options.policies : [...new Set(['default', ...options.policies])];
    return this.mint({
      policies,
      ttl: options.ttl ?? 3600,
      numUses: options.numUses ?? 0,
      renewable: options.renewable ?? true,
      maxTtl: options.maxTtl ?? 0,
      displayName: 'token',
      path: 'auth/token/create',
      ns: ns.path,
      ...(options.boundCidrs ? { boundCidrs: options.boundCidrs } : {}),
    }).id;
  }

  /** Test helper: the stored state of a KV v2 path, for assertions that bypass the API. */
  kvEntry(
    mount: string,
    path: string,
    namespace?: string,
  ): { current: number; customMetadata: Record<string, string> | null; versions: number[] } | null {
    const e = this.namespaceState(namespace).kv.get(mount)?.get(path);
    return e ? { current: e.current, customMetadata: e.customMetadata, versions: [...e.versions.keys()] } : null;
  }

  /** Test helper: sets a KV v2 mount's `config` directly (as `POST <mount>/config` would); unset fields are kept. */
  setKvConfig(mount: string, config: Partial<KvMountConfig>, namespace?: string): void {
    const c = this.namespaceState(namespace).kvConfig.get(mount);
    if (!c) throw new Error(`no KV mount "${mount}"`);
    Object.assign(c, config);
  }

  /** Test helper: a KV v2 mount's `config`. */
  kvMountConfig(mount: string, namespace?: string): KvMountConfig | null {
    const c = this.namespaceState(namespace).kvConfig.get(mount);
    return c ? { ...c } : null;
  }

  // ---------------------------------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://vault');
    const raw = await readBody(req);
    let method = (req.method ?? 'GET').toUpperCase();
    if (method === 'PUT') method = 'POST';
    if (method === 'GET' && ['true', '1'].includes(url.searchParams.get('list') ?? '')) method = 'LIST';
    const path = decodeURIComponent(url.pathname.replace(/^\/v1\//, '')).replace(/\/+$/, '');
    let reply: Reply;
    try {
      if (!url.pathname.startsWith('/v1/')) throw notFound();
      let body: Record<string, unknown> = {};
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw) as Record<string, unknown>;
        } catch {
          throw bad('failed to parse JSON input');
        }
      }
      reply = this.route(method, path, url.searchParams, body, req.headers, clientAddress(req));
    } catch (err) {
      // A bug in the double answers 500 (as Vault's internal errors do) rather than leaving the client hanging.
      const failure = err instanceof VaultFailure ? err : new VaultFailure(500, [`fake vault: ${String(err)}`]);
      reply = { status: failure.status, body: failure.body ?? { errors: failure.errors } };
    }
    const wrapTtl = header(req.headers, 'x-vault-wrap-ttl');
    const namespace = header(req.headers, 'x-vault-namespace');
    this.calls.push({
      method,
      path,
      status: reply.status,
      ...(wrapTtl !== undefined ? { wrapTtl } : {}),
      ...(namespace ? { namespace } : {}),
    });
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    // openbao internal/http/handler.go: a namespace header is echoed on the response.
    res.writeHead(reply.status, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-store',
      ...(namespace ? { 'X-Vault-Namespace': namespace } : {}),
    });
    res.end(text);
  }

  private route(
    method: string,
    fullPath: string,
    query: URLSearchParams,
    body: Record<string, unknown>,
    headers: IncomingMessage['headers'],
    client: string,
  ): Reply {
    if (fullPath === 'sys/health') {
      const status = this.sealed ? 503 : 200;
      return { status, body: { initialized: true, sealed: this.sealed, standby: false, version: '1.17.0-fake', cluster_name: 'fake' } };
    }
    if (this.sealed) throw new VaultFailure(503, ['Vault is sealed']);

    // openbao internal/vault/namespace_store.go ResolveNamespaceFromRequest: the header, canonicalized ("root" is the
    // root namespace), is put ahead of the path, and the longest namespace path prefix wins; it must cover the whole
    // header, else request_handling.go answers 404 "namespace not found".
    const resolved = this.resolveNamespace(header(headers, 'x-vault-namespace') ?? '', fullPath);
    this.current = this.namespaces.get('')!;
    if (!resolved) throw new VaultFailure(404, ['namespace not found']);
    this.current = resolved.ns;
    const path = resolved.path;

    const presented = header(headers, 'x-vault-token');
    // Unauthenticated endpoints.
    if (path === 'sys/wrapping/lookup' && method === 'POST') return this.wrapLookup(String(body.token ?? presented ?? ''));
    if (path === 'sys/wrapping/unwrap' && method === 'POST' && presented && this.wraps.has(presented) && !body.token) {
      return this.unwrap(presented);
    }
    if (path === `auth/${this.approleMount}/login` && method === 'POST')
      return this.maybeWrap(headers, path, this.approleLogin(body, client));

    const token = this.authenticate(presented, client);
    // The KV preflight (openbao internal/vault/logical_system.go pathInternalUIMountRead): a path with no mount, or a
    // mount the token has no access to (hasMountAccess), is a 403 with the same message either way, "so this path
    // cannot be used to brute force a list of mounts". The access check only with `preflightChecksAccess`.
    const preflight = /^sys\/internal\/ui\/mounts\/(.+)$/.exec(path);
    if (preflight && method === 'GET') {
      const asked = `${preflight[1]!.replace(/^\/+/, '').replace(/\/+$/, '')}/`;
      const mount = asked.split('/')[0]!;
      const refused = `preflight capability check returned 403, please ensure client's policies grant access to path "${asked}"`;
      if (!this.kv.has(mount) || (this.preflightChecksAccess && !this.hasMountAccess(token, `${mount}/`)))
        throw new VaultFailure(403, [refused]);
      return ok({ data: { type: 'kv', path: `${mount}/`, options: { version: '2' } } });
    }
    this.authorize(token, method, path);
    const reply = this.dispatch(token, method, path, query, body);
    return this.maybeWrap(headers, path, reply);
  }

  private dispatch(token: Token, method: string, path: string, query: URLSearchParams, body: Record<string, unknown>): Reply {
    if (path === 'sys/wrapping/wrap' && method === 'POST') return ok({ data: body });
    if (path === 'sys/wrapping/unwrap' && method === 'POST') return this.unwrap(String(body.token ?? ''));
    if (path.startsWith('auth/token/')) return this.tokenApi(token, method, path.slice('auth/token/'.length), body);
    const policy = /^sys\/(?:policy|policies\/acl)\/([^/]+)$/.exec(path);
    if (policy) return this.policyApi(method, policy[1]!, body);
    if (path.startsWith(`auth/${this.approleMount}/role/`))
      return this.approleApi(method, path.slice(`auth/${this.approleMount}/role/`.length), body);
    const [mount, kind, ...rest] = path.split('/');
    const store = this.kv.get(mount ?? '');
    const config = this.kvConfig.get(mount ?? '');
    if (store && config && kind === 'config' && rest.length === 0) return this.kvConfigApi(config, method, body);
    if (store && config && kind) return this.kvApi(store, config, method, kind, rest.join('/'), query, body);
    // No mount: the ACL check above came first (openbao internal/vault/request_handling.go CheckToken: an unsupported
    // path skips the existence check, so a write needs `update`), so only a token allowed the path gets here, and the
    // router answers ErrUnsupportedPath, a 404 (internal/vault/routing/router.go routeCommon; sdk/logical
    // response_util.go RespondErrorCommon).
    throw new VaultFailure(404, [`no handler for route "${path}". route entry not found.`]);
  }

  // --- tokens --------------------------------------------------------------------------------------------------------

  private mint(o: {
    policies: string[];
    ttl: number;
    numUses: number;
    renewable: boolean;
    maxTtl?: number;
    displayName: string;
    path: string;
    meta?: Record<string, string>;
    boundCidrs?: string[];
    /** Default: the request's namespace. */
    ns?: string;
  }): Token {
    const now = this.now();
    const t: Token = {
      id: newToken(),
      accessor: randomBytes(12).toString('hex'),
      policies: o.policies,
      numUses: o.numUses,
      ttl: o.ttl,
      creationTtl: o.ttl,
      maxExpiresAt: o.maxTtl ? now + o.maxTtl * 1000 : 0,
      expiresAt: o.ttl ? now + o.ttl * 1000 : 0,
      issuedAt: now,
      renewable: o.renewable,
      meta: o.meta ?? {},
      displayName: o.displayName,
      path: o.path,
      // openbao token_store.go: a token with no TTL (root) is never CIDR-bound.
      boundCidrs: o.ttl === 0 ? [] : (o.boundCidrs ?? []),
      ns: o.ns ?? this.current.path,
    };
    this.tokens.set(t.id, t);
    return t;
  }

  private authenticate(presented: string | undefined, client: string): Token {
    const t = presented ? this.tokens.get(presented) : undefined;
    if (!t) throw new VaultFailure(403, [INVALID_TOKEN]);
    if (t.expiresAt && t.expiresAt <= this.now()) {
      this.tokens.delete(t.id);
      throw new VaultFailure(403, [INVALID_TOKEN]);
    }
    // openbao internal/vault/request_handling.go fetchACLTokenEntryAndEntity: "CIDR checks bind all tokens except
    // non-expiring root tokens"; a client address outside them is ErrPermissionDenied, before any use is counted.
    if (t.ttl !== 0 && t.boundCidrs.length > 0 && !inCidrs(client, t.boundCidrs)) throw denied();
    if (t.numUses > 0) {
      t.numUses -= 1;
      // The last use is allowed; the token is gone afterwards.
      if (t.numUses === 0) this.tokens.delete(t.id);
    }
    return t;
  }

  private resolveNamespace(headerValue: string, path: string): { ns: Namespace; path: string } | null {
    let nsHeader = canonicalNamespace(headerValue);
    if (nsHeader === 'root/') nsHeader = '';
    const full = nsHeader + path;
    let best = this.namespaces.get('')!;
    for (const ns of this.namespaces.values()) {
      if (ns.path.length > best.path.length && (full.startsWith(ns.path) || `${full}/` === ns.path)) best = ns;
    }
    if (!best.path.startsWith(nsHeader)) return null;
    return { ns: best, path: full.slice(best.path.length) };
  }

  /**
   * A token's policies, as rules on full paths: openbao policy/policy.go parses a namespace's policy with its paths
   * prefixed by the namespace path (`pc.Path = result.Namespace.Path + pc.Path`).
   */
  private rulesOf(token: Token): PathRule[][] {
    const home = this.namespaces.get(token.ns);
    return token.policies.map((p) =>
      (home?.policies.get(p)?.rules ?? []).map((r) => ({ pattern: token.ns + r.pattern, capabilities: r.capabilities })),
    );
  }

  /**
   * The ACL check on the request's full path (namespace path + path: openbao policy/acl.go AllowOperation). A root
   * token is allowed only in its own namespace and those under it (`ns.HasParent(a.root)`); so a token from one
   * namespace is refused (403) in a sibling or a parent.
   */
  private authorize(token: Token, method: string, path: string): void {
    if (token.policies.includes('root')) {
      if (this.current.path.startsWith(token.ns)) return;
      throw denied();
    }
    const rules = this.rulesOf(token);
    const caps = capabilitiesFor(rules, this.current.path + path);
    const need = this.capabilityFor(method, path);
    if (caps.has('deny') || !caps.has(need)) throw denied();
  }

  /**
   * openbao internal/vault/logical_system.go hasMountAccess: any capability but deny on the mount path itself, or on
   * any rule at or under it (the exact and prefix rule trees walked from the mount path), or a `+` rule that could
   * match under it.
   */
  private hasMountAccess(token: Token, mountPath: string): boolean {
    if (token.policies.includes('root')) return this.current.path.startsWith(token.ns);
    const full = this.current.path + mountPath;
    const rules = this.rulesOf(token);
    const direct = capabilitiesFor(rules, full);
    if (direct.size > 0 && !direct.has('deny')) return true;
    return rules.some((list) =>
      list.some((r) => {
        if (r.capabilities.has('deny') || r.capabilities.size === 0) return false;
        if (r.pattern.startsWith(full)) return true;
        // A `+` segment, or a glob ending inside the mount path, could match under it.
        const wild = r.pattern.search(/[+*]/);
        return wild !== -1 && full.startsWith(r.pattern.slice(0, wild));
      }),
    );
  }

  /** The capability a request needs: POST is `create` on a KV path that does not exist yet, else `update`. */
  private capabilityFor(method: string, path: string): Capability {
    if (method === 'GET') return 'read';
    if (method === 'LIST') return 'list';
    if (method === 'DELETE') return 'delete';
    if (method === 'PATCH') return 'patch';
    const [mount, kind, ...rest] = path.split('/');
    const store = this.kv.get(mount ?? '');
    if (store && (kind === 'data' || kind === 'metadata')) return store.has(rest.join('/')) ? 'update' : 'create';
    return 'update';
  }

  private tokenApi(token: Token, method: string, op: string, body: Record<string, unknown>): Reply {
    if ((op === 'create' || op === 'create-orphan') && method === 'POST') {
      const requested = Array.isArray(body.policies) ? (body.policies as string[]) : token.policies.filter((p) => p !== 'default');
      const isRoot = token.policies.includes('root');
      if (!isRoot && requested.some((p) => !token.policies.includes(p))) throw bad('child policies must be subset of parent');
      const policies = requested.includes('root') ? ['root'] : [...new Set([...(body.no_default_policy ? [] : ['default']), ...requested])];
      const ttl = parseDuration(body.ttl) || 32 * 24 * 3600;
      const t = this.mint({
        policies,
        ttl,
        numUses: Number(body.num_uses ?? 0),
        renewable: body.renewable !== false,
        maxTtl: parseDuration(body.explicit_max_ttl),
        displayName: `token-${String(body.display_name ?? '')}`,
        path: `auth/token/${op}`,
        meta: (body.meta as Record<string, string>) ?? {},
        // openbao token_store.go handleCreateCommon: a child (not an orphan) copies its parent's bound CIDRs.
        ...(op === 'create' ? { boundCidrs: token.boundCidrs } : {}),
      });
      return ok({ auth: this.authBlock(t) });
    }
    if (op === 'lookup-self' && method === 'GET') return ok({ data: this.lookupData(token) });
    if (op === 'renew-self' && method === 'POST') {
      if (!token.renewable || token.ttl === 0) throw bad('lease is not renewable');
      const now = this.now();
      let ttl = parseDuration(body.increment) || token.creationTtl;
      if (token.maxExpiresAt) ttl = Math.min(ttl, Math.floor((token.maxExpiresAt - now) / 1000));
      token.ttl = ttl;
      token.expiresAt = now + ttl * 1000;
      return ok({ auth: this.authBlock(token) });
    }
    if (op === 'revoke-self' && method === 'POST') {
      this.tokens.delete(token.id);
      return { status: 204 };
    }
    if (op === 'revoke' && method === 'POST') {
      this.tokens.delete(String(body.token ?? ''));
      return { status: 204 };
    }
    throw new VaultFailure(405, ['unsupported operation']);
  }

  private authBlock(t: Token): Record<string, unknown> {
    return {
      client_token: t.id,
      accessor: t.accessor,
      policies: t.policies,
      token_policies: t.policies,
      metadata: t.meta,
      lease_duration: t.ttl,
      renewable: t.renewable,
      entity_id: '',
      token_type: 'service',
      orphan: false,
      num_uses: t.numUses,
    };
  }

  private lookupData(t: Token): Record<string, unknown> {
    const now = this.now();
    return {
      accessor: t.accessor,
      creation_time: Math.floor(t.issuedAt / 1000),
      creation_ttl: t.creationTtl,
      display_name: t.displayName,
      entity_id: '',
      expire_time: t.expiresAt ? new Date(t.expiresAt).toISOString() : null,
      explicit_max_ttl: t.maxExpiresAt ? Math.floor((t.maxExpiresAt - t.issuedAt) / 1000) : 0,
      id: t.id,
      issue_time: new Date(t.issuedAt).toISOString(),
      meta: t.meta,
      num_uses: t.numUses,
      orphan: false,
      path: t.path,
      policies: t.policies,
      renewable: t.renewable,
      ttl: t.expiresAt ? Math.max(0, Math.floor((t.expiresAt - now) / 1000)) : 0,
      type: 'service',
      // openbao token_store.go handleLookup: bound_cidrs only when there are some.
      ...(t.boundCidrs.length > 0 ? { bound_cidrs: t.boundCidrs } : {}),
      // token_store.go handleLookup: namespace_path for a token outside the root namespace.
      ...(t.ns !== '' ? { namespace_path: t.ns } : {}),
    };
  }

  // --- response wrapping -------------------------------------------------------------------------------------------

  private maybeWrap(headers: IncomingMessage['headers'], path: string, reply: Reply): Reply {
    const ttlHeader = header(headers, 'x-vault-wrap-ttl');
    if (!ttlHeader || reply.status !== 200 || !reply.body) return reply;
    const ttl = parseDuration(ttlHeader);
    if (ttl <= 0) throw bad('invalid wrap TTL');
    const now = this.now();
    const w: Wrap = {
      token: newToken(),
      accessor: randomBytes(12).toString('hex'),
      creationPath: path,
      creationTime: now,
      ttl,
      expiresAt: now + ttl * 1000,
      response: reply.body,
    };
    this.wraps.set(w.token, w);
    const wrappedAccessor = ((reply.body.data as Record<string, unknown> | undefined)?.secret_id_accessor ??
      (reply.body.auth as Record<string, unknown> | undefined)?.accessor ??
      '') as string;
    return ok({
      data: null,
      wrap_info: {
        token: w.token,
        accessor: w.accessor,
        ttl: w.ttl,
        creation_time: new Date(w.creationTime).toISOString(),
        creation_path: w.creationPath,
        wrapped_accessor: wrappedAccessor,
      },
    });
  }

  private liveWrap(token: string): Wrap {
    const w = this.wraps.get(token);
    if (!w) throw bad(BAD_WRAP);
    if (w.expiresAt <= this.now()) {
      this.wraps.delete(token);
      throw bad(BAD_WRAP);
    }
    return w;
  }

  private wrapLookup(token: string): Reply {
    const w = this.liveWrap(token);
    return ok({ data: { creation_path: w.creationPath, creation_time: new Date(w.creationTime).toISOString(), creation_ttl: w.ttl } });
  }

  private unwrap(token: string): Reply {
    const w = this.liveWrap(token);
    this.wraps.delete(token);
    return { status: 200, body: { ...envelope(), ...w.response } };
  }

  // --- policies ------------------------------------------------------------------------------------------------------

  private policyApi(method: string, name: string, body: Record<string, unknown>): Reply {
    if (method === 'POST') {
      const text = String(body.policy ?? '');
      try {
        this.policies.set(name, { text, rules: parsePolicy(text) });
      } catch (err) {
        if (err instanceof PolicyParseError) throw bad(`failed to parse policy: ${err.message}`);
        throw err;
      }
      return { status: 204 };
    }
    if (method === 'GET') {
      const p = this.policies.get(name);
      if (!p) throw notFound();
      return ok({ data: { name, policy: p.text }, name, rules: p.text });
    }
    if (method === 'DELETE') {
      if (name === 'default' || name === 'root') throw bad(`cannot delete "${name}" policy`);
      this.policies.delete(name);
      return { status: 204 };
    }
    throw new VaultFailure(405, ['unsupported operation']);
  }

  // --- AppRole -------------------------------------------------------------------------------------------------------

  private approleApi(method: string, rest: string, body: Record<string, unknown>): Reply {
    const [name, sub, ...more] = rest.split('/');
    if (!name) throw notFound();
    const role = this.roles.get(name);
    if (sub === undefined) {
      if (method === 'POST') {
        const r = role ?? { name, roleId: randomUUID(), settings: { bind_secret_id: true } };
        const settings: Record<string, unknown> = { ...r.settings, ...body };
        // openbao approle path_role.go pathRoleCreateUpdate: secret_id_bound_cidrs (or the deprecated bound_cidr_list,
        // GetFirst) must be CIDR blocks (cidrutil.ValidateCIDRListSlice, a plain error: 500); token_bound_cidrs are
        // addresses or blocks (tokenutil ParseTokenFields, parseutil.ParseAddrs: 400).
        const secretCidrs = commaList(body.secret_id_bound_cidrs ?? body.bound_cidr_list);
        delete settings.bound_cidr_list;
        if (secretCidrs !== undefined) {
          const badBlock = secretCidrs.find((c) => !parseCidr(c, false));
          if (badBlock !== undefined)
            throw new VaultFailure(500, [multiError([`failed to validate CIDR blocks: invalid CIDR address: ${badBlock}`])]);
          settings.secret_id_bound_cidrs = secretCidrs;
        }
        const tokenCidrs = commaList(body.token_bound_cidrs);
        if (tokenCidrs !== undefined) {
          const badAddr = tokenCidrs.find((c) => !parseCidr(c, true));
          if (badAddr !== undefined) throw bad(`error parsing address "${badAddr}"`);
          settings.token_bound_cidrs = tokenCidrs;
        }
        r.settings = settings;
        this.roles.set(name, r);
        return { status: 204 };
      }
      if (!role) throw notFound();
      if (method === 'GET') return ok({ data: { ...role.settings } });
      if (method === 'DELETE') {
        this.roles.delete(name);
        return { status: 204 };
      }
    }
    if (sub === 'role-id' && more.length === 0 && method === 'GET') {
      // path_role.go pathRoleFieldRead: no role is a nil response, a 404 with no errors.
      if (!role) throw notFound();
      return ok({ data: { role_id: role.roleId } });
    }
    if (sub === 'secret-id' && more.length === 0 && method === 'POST') {
      // path_role.go handleRoleSecretIDCommon: `role %q does not exist` with ErrUnsupportedPath, so a 404.
      if (!role) throw new VaultFailure(404, [`role "${name}" does not exist`]);
      if (role.settings.bind_secret_id === false) throw bad('bind_secret_id is not set on the role');
      // cidr_list and token_bound_cidrs must be CIDR blocks (a plain error, 500) and subsets of the role's
      // (validation.go verifyCIDRRoleSecretIDSubset, also a plain error).
      const cidrList = commaList(body.cidr_list) ?? [];
      const tokenBoundCidrs = commaList(body.token_bound_cidrs) ?? [];
      const badBlock = cidrList.find((c) => !parseCidr(c, false));
      if (badBlock !== undefined)
        throw new VaultFailure(500, [multiError([`failed to validate CIDR blocks: invalid CIDR address: ${badBlock}`])]);
      const badToken = tokenBoundCidrs.find((c) => !parseCidr(c, false));
      if (badToken !== undefined)
        throw new VaultFailure(500, [multiError([`failed to validate token CIDR blocks: invalid CIDR address: ${badToken}`])]);
      assertCidrSubset(cidrList, roleCidrs(role, 'secret_id_bound_cidrs'));
      assertCidrSubset(tokenBoundCidrs, roleCidrs(role, 'token_bound_cidrs'));
      const roleUses = Number(role.settings.secret_id_num_uses ?? 0);
      const roleTtl = parseDuration(role.settings.secret_id_ttl);
      const uses = body.num_uses === undefined ? roleUses : Number(body.num_uses);
      const ttl = body.ttl === undefined ? roleTtl : parseDuration(body.ttl);
      if (uses < 0) throw bad('num_uses cannot be negative');
      if (roleUses > 0 && (uses === 0 || uses > roleUses)) throw bad("num_uses cannot be higher than the role's secret_id_num_uses");
      if (roleTtl > 0 && (ttl === 0 || ttl > roleTtl)) throw bad("ttl cannot be longer than the role's secret_id_ttl");
      const id = randomUUID();
      const accessor = randomUUID();
      this.secretIds.set(id, { role: name, accessor, uses, expiresAt: ttl ? this.now() + ttl * 1000 : 0, cidrList, tokenBoundCidrs });
      return ok({ data: { secret_id: id, secret_id_accessor: accessor, secret_id_ttl: ttl, secret_id_num_uses: uses } });
    }
    if (!role) throw bad(`role "${name}" does not exist`);
    throw new VaultFailure(405, ['unsupported operation']);
  }

  /**
   * openbao approle path_login.go pathLoginUpdate. The secret id's cidr_list, then the role's secret_id_bound_cidrs,
   * are checked against the client's TCP address; outside them the login is an error response with no error: 400.
   * openbao runs the login in a storage transaction (StartTxStorage) that a refusal rolls back, so a refused login
   * uses up nothing: every check here comes before a use is counted. (HashiCorp Vault, without transactions, counts the
   * use of a num_uses secret id before its CIDR check.) The token is bound to the secret id's token_bound_cidrs, else
   * the role's.
   */
  private approleLogin(body: Record<string, unknown>, client: string): Reply {
    const role = [...this.roles.values()].find((r) => r.roleId === body.role_id);
    const sid = this.secretIds.get(String(body.secret_id ?? ''));
    if (!role) throw bad('invalid role or secret ID');
    const bound = role.settings.bind_secret_id !== false;
    if (bound) {
      if (!sid || sid.role !== role.name) throw bad('invalid role or secret ID');
      if (sid.expiresAt && sid.expiresAt <= this.now()) {
        this.secretIds.delete(String(body.secret_id));
        throw bad('invalid role or secret ID');
      }
      assertCidrSubset(sid.cidrList, roleCidrs(role, 'secret_id_bound_cidrs'));
      if (sid.cidrList.length > 0 && !inCidrs(client, sid.cidrList)) {
        throw bad(
          sid.uses === 0
            ? `source address "${client}" unauthorized through CIDR restrictions on the secret ID`
            : `source address "${client}" unauthorized by CIDR restrictions on the secret ID: %!w(<nil>)`,
        );
      }
    }
    const roleBound = roleCidrs(role, 'secret_id_bound_cidrs');
    if (roleBound.length > 0 && !inCidrs(client, roleBound)) {
      throw bad(`source address "${client}" unauthorized by CIDR restrictions on the role: %!w(<nil>)`);
    }
    if (bound && sid && sid.uses > 0) {
      sid.uses -= 1;
      if (sid.uses === 0) this.secretIds.delete(String(body.secret_id));
    }
    const s = role.settings;
    const policies = Array.isArray(s.token_policies) ? (s.token_policies as string[]) : [];
    const t = this.mint({
      policies: [...new Set(['default', ...policies])],
      ttl: parseDuration(s.token_ttl) || 3600,
      numUses: Number(s.token_num_uses ?? 0),
      renewable: true,
      maxTtl: parseDuration(s.token_max_ttl),
      displayName: `approle`,
      path: `auth/${this.approleMount}/login`,
      meta: { role_name: role.name },
      boundCidrs: bound && sid && sid.tokenBoundCidrs.length > 0 ? sid.tokenBoundCidrs : roleCidrs(role, 'token_bound_cidrs'),
    });
    return ok({ auth: this.authBlock(t) });
  }

  // --- KV v2 ---------------------------------------------------------------------------------------------------------

  /**
   * `<mount>/config` (vault-plugin-secrets-kv path_config.go): GET answers max_versions, cas_required and
   * delete_version_after as a Go duration string ("0s" when unset); POST sets only the fields given (204). A negative
   * delete_version_after disables it for every key, 0 clears it (TypeSignedDurationSecond).
   */
  private kvConfigApi(config: KvMountConfig, method: string, body: Record<string, unknown>): Reply {
    if (method === 'GET') {
      return ok({
        data: {
          max_versions: config.maxVersions,
          cas_required: config.casRequired,
          delete_version_after: goDuration(config.deleteVersionAfter),
        },
      });
    }
    if (method === 'POST') {
      const next = { ...config };
      if (body.max_versions !== undefined) next.maxVersions = intField('max_versions', body.max_versions);
      if (body.cas_required !== undefined) next.casRequired = boolField('cas_required', body.cas_required);
      if (body.delete_version_after !== undefined) {
        const d = signedDuration('delete_version_after', body.delete_version_after);
        next.deleteVersionAfter = d < 0 ? -1 : d;
      }
      Object.assign(config, next);
      return { status: 204 };
    }
    throw new VaultFailure(405, ['unsupported operation']);
  }

  private kvApi(
    store: Map<string, KvEntry>,
    config: KvMountConfig,
    method: string,
    kind: string,
    path: string,
    query: URLSearchParams,
    body: Record<string, unknown>,
  ): Reply {
    const now = this.now();
    const entry = store.get(path);
    const versionMeta = (e: KvEntry, n: number) => {
      const v = e.versions.get(n)!;
      return {
        created_time: iso(v.createdAt),
        custom_metadata: e.customMetadata,
        deletion_time: v.deletionTime !== null ? iso(v.deletionTime) : '',
        destroyed: v.destroyed,
        version: n,
      };
    };
    // A version is deleted once its deletion_time has passed (path_data.go pathDataRead, path_delete.go:
    // `deletionTime.Before(time.Now())`). `<=` here: a soft delete stamps "now", and the double's clock may not move
    // between that and the next read, where Go's always has.
    const gone = (v: KvVersion) => v.deletionTime !== null && v.deletionTime <= now;
    // delete_version_after.go deletionTime: created + the minimum non-zero of the mount's and the key's setting; none
    // when the mount disabled it (-1: Configuration.IsDeleteVersionAfterDisabled) or both are 0.
    const scheduled = (from: number, e: KvEntry): number | null => {
      if (config.deleteVersionAfter < 0) return null;
      const mount = config.deleteVersionAfter;
      const key = e.deleteVersionAfter;
      if (mount === 0 && key === 0) return null;
      let min = key;
      if ((mount !== 0 && mount < min) || min === 0) min = mount;
      return from + min * 1000;
    };

    if (kind === 'data') {
      if (method === 'GET') {
        if (!entry || entry.current === 0) throw notFound();
        const n = Number(query.get('version') ?? 0) || entry.current;
        const v = entry.versions.get(n);
        if (!v) throw notFound();
        // path_data.go pathDataRead: a deleted (deletion_time passed) or destroyed version is a 404 carrying its
        // metadata and `data: null`.
        if (v.destroyed || gone(v))
          throw new VaultFailure(404, [], { ...envelope(), data: { data: null, metadata: versionMeta(entry, n) } });
        return ok({ data: { data: v.data, metadata: versionMeta(entry, n) } });
      }
      if (method === 'POST') {
        if (!body.data || typeof body.data !== 'object') throw bad('no data provided');
        const options = (body.options ?? {}) as { cas?: number };
        const e = entry ?? newEntry(now);
        // path_data.go validateCheckAndSetOption: without options.cas, the mount's or the key's cas_required refuses.
        if (options.cas === undefined && (config.casRequired || e.casRequired)) throw bad('check-and-set parameter required for this call');
        if (options.cas !== undefined && Number(options.cas) !== e.current) throw bad(CAS_MISMATCH);
        const n = e.current + 1;
        const deletionTime = scheduled(now, e);
        e.versions.set(n, { data: body.data as Record<string, unknown>, createdAt: now, deletionTime, destroyed: false });
        e.current = n;
        e.updatedAt = now;
        // path_data.go KeyMetadata.AddVersion: keep max(key, mount) versions (10 when both are 0); once
        // current - oldest reaches it, every version from oldest through current - max goes, and oldest moves on.
        const max = Math.max(e.maxVersions, config.maxVersions) || DEFAULT_MAX_VERSIONS;
        if (e.current - e.oldest >= max) {
          const versionToDelete = e.current - max;
          for (let i = e.oldest; i < versionToDelete + 1; i++) e.versions.delete(i);
          e.oldest = versionToDelete + 1;
        }
        store.set(path, e);
        return ok({ data: versionMeta(e, n) });
      }
      if (method === 'DELETE') {
        // path_data.go pathDataDelete: the current version, unless destroyed or already past its deletion_time.
        const v = entry?.versions.get(entry.current);
        if (v && !v.destroyed && !gone(v)) v.deletionTime = now;
        return { status: 204 };
      }
    }
    if (kind === 'metadata') {
      if (method === 'LIST') {
        const dir = path === '' ? '' : `${path}/`;
        const keys = new Set<string>();
        for (const p of store.keys()) {
          if (!p.startsWith(dir)) continue;
          const rest = p.slice(dir.length);
          const slash = rest.indexOf('/');
          keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
        }
        if (keys.size === 0) throw notFound();
        return ok({ data: { keys: [...keys].sort() } });
      }
      if (method === 'GET') {
        if (!entry) throw notFound();
        const versions: Record<string, unknown> = {};
        for (const [n, v] of entry.versions) {
          versions[String(n)] = {
            created_time: iso(v.createdAt),
            deletion_time: v.deletionTime !== null ? iso(v.deletionTime) : '',
            destroyed: v.destroyed,
          };
        }
        // path_metadata.go pathMetadataRead: oldest_version is the stored OldestVersion (0 until AddVersion first prunes).
        return ok({
          data: {
            cas_required: entry.casRequired,
            created_time: iso(entry.createdAt),
            current_version: entry.current,
            custom_metadata: entry.customMetadata,
            delete_version_after: goDuration(entry.deleteVersionAfter),
            max_versions: entry.maxVersions,
            oldest_version: entry.oldest,
            updated_time: iso(entry.updatedAt),
            versions,
          },
        });
      }
      if (method === 'POST') {
        // path_metadata.go pathMetadataWrite: every field is parsed before anything changes; max_versions is stored
        // as uint32 and prunes nothing now (the next data write's AddVersion does); delete_version_after is a
        // TypeDurationSecond (negative refused, 0 clears).
        const custom = body.custom_metadata !== undefined ? validateCustomMetadata(body.custom_metadata) : undefined;
        const maxVersions = body.max_versions !== undefined ? intField('max_versions', body.max_versions) >>> 0 : undefined;
        const casRequired = body.cas_required !== undefined ? boolField('cas_required', body.cas_required) : undefined;
        const dva = body.delete_version_after !== undefined ? durationField('delete_version_after', body.delete_version_after) : undefined;
        // No fields at all: nothing is written, not even an empty key ("Fast path validation").
        if ([custom, maxVersions, casRequired, dva].every((f) => f === undefined)) return { status: 204 };
        const e = entry ?? newEntry(now);
        if (custom !== undefined) e.customMetadata = custom;
        if (maxVersions !== undefined) e.maxVersions = maxVersions;
        if (casRequired !== undefined) e.casRequired = casRequired;
        if (dva !== undefined) e.deleteVersionAfter = dva;
        store.set(path, e);
        if (casRequired === false && config.casRequired) {
          return ok({ warnings: ['"cas_required" set to false, but is mandated by backend config. This value will be ignored.'] });
        }
        return { status: 204 };
      }
      if (method === 'DELETE') {
        store.delete(path);
        return { status: 204 };
      }
    }
    if ((kind === 'destroy' || kind === 'delete' || kind === 'undelete') && method === 'POST') {
      const versions = body.versions;
      // path_destroy.go says "no version number provided", path_delete.go (delete, undelete) "No version number provided".
      if (!Array.isArray(versions) || versions.length === 0)
        throw bad(kind === 'destroy' ? 'no version number provided' : 'No version number provided');
      for (const n of versions as number[]) {
        const v = entry?.versions.get(Number(n));
        if (!v || v.destroyed) continue;
        if (kind === 'destroy') {
          v.destroyed = true;
          v.data = null;
        } else if (kind === 'delete') {
          // path_delete.go pathDeleteWrite: a version already past its deletion_time keeps it.
          if (!gone(v)) v.deletionTime = now;
        } else {
          // path_delete.go pathUndeleteWrite: clears deletion_time, then schedules a new one from now.
          v.deletionTime = scheduled(now, entry!);
        }
      }
      return { status: 204 };
    }
    throw new VaultFailure(405, ['unsupported operation']);
  }
}

function newEntry(now: number): KvEntry {
  return {
    versions: new Map(),
    current: 0,
    oldest: 0,
    createdAt: now,
    updatedAt: now,
    maxVersions: 0,
    casRequired: false,
    deleteVersionAfter: 0,
    customMetadata: null,
  };
}

const CUSTOM_METADATA_PREFIX = 'custom_metadata validation failed';

/**
 * custom_metadata as vault-plugin-secrets-kv path_metadata.go takes it: parseCustomMetadata weakly decodes each value
 * to a string (numbers as written, booleans "1"/"0", null as ""; maps and lists refused), then validateCustomMetadata:
 * at most 64 keys (checked alone, first), each key and value non-empty and at most 128 / 512 BYTES (Go len() counts
 * UTF-8 bytes), and printable (strutil.Printable); every problem is reported, in one multierror.
 */
function validateCustomMetadata(v: unknown): Record<string, string> {
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v))
    throw bad(`error converting input ${JSON.stringify(v)} for field "custom_metadata": '' expected a map, got '${goKind(v)}'`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (val !== null && typeof val === 'object') {
      throw bad(
        `${CUSTOM_METADATA_PREFIX}: '' expected type 'string', got unconvertible type '${goKind(val)}', value: '${JSON.stringify(val)}'`,
      );
    }
    out[k] = val === null || val === undefined ? '' : typeof val === 'boolean' ? (val ? '1' : '0') : String(val);
  }
  const entries = Object.entries(out);
  if (entries.length > 64) {
    throw bad(multiError([`${CUSTOM_METADATA_PREFIX}: payload must contain at most 64 keys, provided ${entries.length}`]));
  }
  const problems: string[] = [];
  for (const [k, val] of entries) {
    const keyLen = Buffer.byteLength(k, 'utf8');
    const valueLen = Buffer.byteLength(val, 'utf8');
    if (keyLen === 0 || keyLen > 128)
      problems.push(`${CUSTOM_METADATA_PREFIX}: length of key ${goQuote(k)} is ${keyLen} but must be 0 < len(key) <= 128`);
    if (valueLen === 0 || valueLen > 512)
      problems.push(`${CUSTOM_METADATA_PREFIX}: length of value for key ${goQuote(k)} is ${valueLen} but must be 0 < len(value) <= 512`);
    if (!printable(k)) problems.push(`${CUSTOM_METADATA_PREFIX}: key ${goQuote(k)} (${k}) contains unprintable characters`);
    if (!printable(val)) problems.push(`${CUSTOM_METADATA_PREFIX}: value for key ${goQuote(k)} contains unprintable characters`);
  }
  if (problems.length) throw bad(multiError(problems));
  return out;
}

/**
 * Go's unicode.IsPrint for every rune (go-secure-stdlib strutil.Printable): letters, marks, numbers, punctuation,
 * symbols and the ASCII space; other spaces (U+00A0, line/paragraph separators), controls, format characters, private
 * use, surrogates and unassigned code points are not printable. (JS and Go may differ on the Unicode version.)
 */
function printable(s: string): boolean {
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]*$/u.test(s);
}

/** Go's %q (strconv.Quote): printable runes as they are, the rest escaped. */
function goQuote(s: string): string {
  const named: Record<string, string> = { '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v' };
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (printable(ch)) out += ch;
    else if (named[ch]) out += named[ch];
    else if (cp < 0x80) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `"${out}"`;
}

/** hashicorp/go-multierror's default format, which Vault sends as one error string. */
function multiError(errors: string[]): string {
  const head = errors.length === 1 ? '1 error occurred:' : `${errors.length} errors occurred:`;
  return `${head}\n${errors.map((e) => `\t* ${e}`).join('\n')}\n\n`;
}

function goKind(v: unknown): string {
  if (Array.isArray(v)) return '[]interface {}';
  if (v !== null && typeof v === 'object') return 'map[string]interface {}';
  if (typeof v === 'number') return 'json.Number';
  return typeof v;
}

/** Go's time.Duration.String() for whole seconds ("0s", "90s" -> "1m30s", "768h" -> "768h0m0s", -1 -> "-1s"). */
export function goDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  const sign = seconds < 0 ? '-' : '';
  const abs = Math.abs(seconds);
  const h = Math.floor(abs / 3600);
  const m = Math.floor((abs % 3600) / 60);
  const sec = abs % 60;
  if (h > 0) return `${sign}${h}h${m}m${sec}s`;
  if (m > 0) return `${sign}${m}m${sec}s`;
  return `${sign}${sec}s`;
}

/** A duration field that may be negative (framework TypeSignedDurationSecond): "-1s", -1, or anything parseDuration takes. */
function signedDuration(field: string, v: unknown): number {
  if (typeof v === 'number') return Math.trunc(v);
  const s = String(v);
  try {
    return s.startsWith('-') ? -parseDuration(s.slice(1)) : parseDuration(s);
  } catch {
    throw bad(`error converting input ${s} for field "${field}": time: invalid duration "${s}"`);
  }
}

/** An unsigned duration field (framework TypeDurationSecond): negative values are refused. */
function durationField(field: string, v: unknown): number {
  const d = signedDuration(field, v);
  if (d < 0) throw bad(`error converting input ${String(v)} for field "${field}": cannot provide negative value '${d}'`);
  return d;
}

/** framework TypeInt: a number or a numeric string (mapstructure weak decoding). */
function intField(field: string, v: unknown): number {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw bad(`error converting input ${String(v)} for field "${field}"`);
  return n;
}

/** framework TypeBool: a boolean or "true"/"false"/"1"/"0" (strconv.ParseBool via weak decoding). */
function boolField(field: string, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && ['true', '1', 't', 'T', 'TRUE', 'True'].includes(v)) return true;
  if (typeof v === 'string' && ['false', '0', 'f', 'F', 'FALSE', 'False', ''].includes(v)) return false;
  if (typeof v === 'number') return v !== 0;
  throw bad(`error converting input ${String(v)} for field "${field}"`);
}

/** openbao helper/namespace Canonicalize: no leading "/", no doubled slashes, a trailing "/" ("" stays ""). */
function canonicalNamespace(p: string): string {
  const clean = p
    .trim()
    .split('/')
    .filter((seg) => seg !== '' && seg !== '.')
    .join('/');
  return clean === '' ? '' : `${clean}/`;
}

/** The client address Vault sees: the TCP peer (IPv4-mapped IPv6 as plain IPv4); X-Forwarded-For is not honoured. */
function clientAddress(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

/** framework TypeCommaStringSlice: a list, or a comma-separated string; undefined when the field is absent. */
function commaList(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  const items = Array.isArray(v) ? v.map(String) : String(v).split(',');
  return items.map((x) => x.trim()).filter((x) => x !== '');
}

/**
 * A CIDR block as Go's net.ParseCIDR takes it ("10.0.0.0/8"); with `bareIp`, a lone address too, as a /32 or /128
 * (parseutil.ParseAddrs, for token_bound_cidrs).
 */
function parseCidr(c: string, bareIp: boolean): { net: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  const [addr = '', bits, extra] = c.trim().split('/');
  const v = isIP(addr);
  if (v === 0 || extra !== undefined) return null;
  const max = v === 4 ? 32 : 128;
  if (bits === undefined && !bareIp) return null;
  const prefix = bits === undefined ? max : /^\d+$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return null;
  return { net: addr, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** True when `ip` is in one of `cidrs` (cidrutil.IPBelongsToCIDRBlocksSlice; sockaddr Contains for tokens). */
function inCidrs(ip: string, cidrs: string[]): boolean {
  const v = isIP(ip);
  if (v === 0) return false;
  return cidrs.some((c) => {
    const p = parseCidr(c, true);
    if (!p || (p.family === 'ipv4') !== (v === 4)) return false;
    const list = new BlockList();
    list.addSubnet(p.net, p.prefix, p.family);
    return list.check(ip, v === 4 ? 'ipv4' : 'ipv6');
  });
}

/** An AppRole role's CIDR list setting (stored normalized by the role write). */
function roleCidrs(role: Role, field: 'secret_id_bound_cidrs' | 'token_bound_cidrs'): string[] {
  return commaList(role.settings[field]) ?? [];
}

/**
 * approle validation.go verifyCIDRRoleSecretIDSubset: each of the secret id's blocks must lie within one of the
 * role's (none on the role: anything goes). A plain error, so a 500, with Go's `%q` of both lists and a nil `%w`.
 */
function assertCidrSubset(secretCidrs: string[], roleList: string[]): void {
  if (secretCidrs.length === 0 || roleList.length === 0) return;
  const within = (inner: string, outer: string) => {
    const i = parseCidr(inner, true);
    const o = parseCidr(outer, true);
    return !!i && !!o && i.family === o.family && i.prefix >= o.prefix && inCidrs(i.net, [outer]);
  };
  if (secretCidrs.every((c) => roleList.some((r) => within(c, r)))) return;
  const q = (l: string[]) => `[${l.map((x) => JSON.stringify(x)).join(' ')}]`;
  throw new VaultFailure(500, [
    multiError([
      `failed to verify subset relationship between CIDR blocks on the role ${q(roleList.map((r) => (r.includes('/') ? r : `${r}/32`)))} and CIDR blocks on the secret ID ${q(secretCidrs)}: %!w(<nil>)`,
    ]),
  ]);
}

function envelope(): Record<string, unknown> {
  return {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: null,
    wrap_info: null,
    warnings: null,
    auth: null,
  };
}

function ok(body: Record<string, unknown>): Reply {
  return { status: 200, body: { ...envelope(), ...body } };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function header(headers: IncomingMessage['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
