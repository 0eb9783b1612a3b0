/**
 * A HashiCorp Vault HTTP API test double (node:http), implementing what keyctl calls, with Vault's documented request
 * and response shapes and error codes:
 *
 * - KV v2 (`<mount>/data|metadata|destroy|delete|undelete/<path>`): versions, `options.cas`, `cas_required`,
 *   `max_versions` pruning, `custom_metadata` with Vault's limits (64 keys, key 128 / value 512 characters),
 *   soft delete and destroy, LIST (verb or `?list=true`).
 * - Tokens (`auth/token/create|lookup-self|renew-self|revoke-self|revoke`) with TTL, max TTL, `num_uses`, renewal.
 * - Response wrapping: `X-Vault-Wrap-TTL` on any request, `sys/wrapping/wrap|lookup|unwrap`, single use, TTL.
 * - AppRole (`auth/approle/role/<r>`, `role-id`, `secret-id` with `num_uses`/`ttl`, `login`).
 * - ACL policies (`sys/policies/acl/<name>`, `sys/policy/<name>`) enforced on every request, plus `default`.
 * - `sys/health` and a sealed mode (`seal()`): every other request answers 503 "Vault is sealed".
 *
 * Errors: `{"errors":[...]}`; 400 for bad requests and cas mismatch, 403 permission denied (with "invalid token" for
 * a bad token, as Vault >= 1.17 does), 404 with empty errors, 503 sealed. Time comes from an injectable clock.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { capabilitiesFor, DEFAULT_POLICY, parsePolicy, PolicyParseError, type Capability, type PathRule } from './vault-acl.js';

export interface FakeVaultOptions {
  /** Root token id (default: a random `hvs.` token). */
  rootToken?: string;
  /** Clock in ms for every TTL (default Date.now). */
  now?: () => number;
  /** KV v2 mounts (default `secret`). */
  kvMounts?: string[];
  /** AppRole mount (default `approle`). */
  approleMount?: string;
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
  deletedAt: number | null;
  destroyed: boolean;
}

interface KvEntry {
  versions: Map<number, KvVersion>;
  current: number;
  createdAt: number;
  updatedAt: number;
  maxVersions: number;
  casRequired: boolean;
  customMetadata: Record<string, string> | null;
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
  readonly calls: Array<{ method: string; path: string; status: number; wrapTtl?: string }> = [];
  private sealed = false;
  private readonly now: () => number;
  private readonly server: Server;
  private readonly tokens = new Map<string, Token>();
  private readonly wraps = new Map<string, Wrap>();
  private readonly policies = new Map<string, { text: string; rules: PathRule[] }>();
  private readonly kv = new Map<string, Map<string, KvEntry>>();
  private readonly roles = new Map<string, Role>();
  private readonly secretIds = new Map<string, SecretId>();
  private readonly approleMount: string;

  private constructor(options: FakeVaultOptions) {
    this.now = options.now ?? Date.now;
    this.rootToken = options.rootToken ?? newToken();
    this.approleMount = options.approleMount ?? 'approle';
    for (const m of options.kvMounts ?? ['secret']) this.kv.set(m, new Map());
    this.policies.set('default', { text: DEFAULT_POLICY, rules: parsePolicy(DEFAULT_POLICY) });
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

  /** Test helper: mints a token directly (as `auth/token/create` from root would). */
  createToken(options: { policies: string[]; ttl?: number; numUses?: number; renewable?: boolean; maxTtl?: number }): string {
    const policies = options.policies.includes('root') ? options.policies : [...new Set(['default', ...options.policies])];
    return this.mint({
      policies,
      ttl: options.ttl ?? 3600,
      numUses: options.numUses ?? 0,
      renewable: options.renewable ?? true,
      maxTtl: options.maxTtl ?? 0,
      displayName: 'token',
      path: 'auth/token/create',
    }).id;
  }

  /** Test helper: the stored state of a KV v2 path, for assertions that bypass the API. */
  kvEntry(mount: string, path: string): { current: number; customMetadata: Record<string, string> | null; versions: number[] } | null {
    const e = this.kv.get(mount)?.get(path);
    return e ? { current: e.current, customMetadata: e.customMetadata, versions: [...e.versions.keys()] } : null;
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
      reply = this.route(method, path, url.searchParams, body, req.headers);
    } catch (err) {
      if (!(err instanceof VaultFailure)) throw err;
      reply = { status: err.status, body: err.body ?? { errors: err.errors } };
    }
    const wrapTtl = header(req.headers, 'x-vault-wrap-ttl');
    this.calls.push({ method, path, status: reply.status, ...(wrapTtl !== undefined ? { wrapTtl } : {}) });
    const text = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.writeHead(reply.status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(text);
  }

  private route(
    method: string,
    path: string,
    query: URLSearchParams,
    body: Record<string, unknown>,
    headers: IncomingMessage['headers'],
  ): Reply {
    if (path === 'sys/health') {
      const status = this.sealed ? 503 : 200;
      return { status, body: { initialized: true, sealed: this.sealed, standby: false, version: '1.17.0-fake', cluster_name: 'fake' } };
    }
    if (this.sealed) throw new VaultFailure(503, ['Vault is sealed']);

    const presented = header(headers, 'x-vault-token');
    // Unauthenticated endpoints.
    if (path === 'sys/wrapping/lookup' && method === 'POST') return this.wrapLookup(String(body.token ?? presented ?? ''));
    if (path === 'sys/wrapping/unwrap' && method === 'POST' && presented && this.wraps.has(presented) && !body.token) {
      return this.unwrap(presented);
    }
    if (path === `auth/${this.approleMount}/login` && method === 'POST') return this.maybeWrap(headers, path, this.approleLogin(body));

    const token = this.authenticate(presented);
    // The CLI's KV preflight: any valid token may ask what a mount is (Vault filters by access; the double does not).
    const preflight = /^sys\/internal\/ui\/mounts\/([^/]+)$/.exec(path);
    if (preflight && method === 'GET') {
      if (!this.kv.has(preflight[1]!)) throw bad(`no mount found at ${preflight[1]}/`);
      return ok({ data: { type: 'kv', path: `${preflight[1]}/`, options: { version: '2' } } });
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
    if (store && kind) return this.kvApi(store, method, kind, rest.join('/'), query, body);
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
    };
    this.tokens.set(t.id, t);
    return t;
  }

  private authenticate(presented: string | undefined): Token {
    const t = presented ? this.tokens.get(presented) : undefined;
    if (!t) throw new VaultFailure(403, [INVALID_TOKEN]);
    if (t.expiresAt && t.expiresAt <= this.now()) {
      this.tokens.delete(t.id);
      throw new VaultFailure(403, [INVALID_TOKEN]);
    }
    if (t.numUses > 0) {
      t.numUses -= 1;
      // The last use is allowed; the token is gone afterwards.
      if (t.numUses === 0) this.tokens.delete(t.id);
    }
    return t;
  }

  private authorize(token: Token, method: string, path: string): void {
    if (token.policies.includes('root')) return;
    const rules = token.policies.map((p) => this.policies.get(p)?.rules ?? []);
    const caps = capabilitiesFor(rules, path);
    const need = this.capabilityFor(method, path);
    if (caps.has('deny') || !caps.has(need)) throw denied();
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
        r.settings = { ...r.settings, ...body };
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
    if (!role) throw bad(`role "${name}" does not exist`);
    if (sub === 'role-id' && more.length === 0 && method === 'GET') return ok({ data: { role_id: role.roleId } });
    if (sub === 'secret-id' && more.length === 0 && method === 'POST') {
      const roleUses = Number(role.settings.secret_id_num_uses ?? 0);
      const roleTtl = parseDuration(role.settings.secret_id_ttl);
      const uses = body.num_uses === undefined ? roleUses : Number(body.num_uses);
      const ttl = body.ttl === undefined ? roleTtl : parseDuration(body.ttl);
      if (roleUses > 0 && (uses === 0 || uses > roleUses)) throw bad("num_uses cannot be higher than the role's secret_id_num_uses");
      if (roleTtl > 0 && (ttl === 0 || ttl > roleTtl)) throw bad("ttl cannot be longer than the role's secret_id_ttl");
      const id = randomUUID();
      const accessor = randomUUID();
      this.secretIds.set(id, { role: name, accessor, uses, expiresAt: ttl ? this.now() + ttl * 1000 : 0 });
      return ok({ data: { secret_id: id, secret_id_accessor: accessor, secret_id_ttl: ttl, secret_id_num_uses: uses } });
    }
    throw new VaultFailure(405, ['unsupported operation']);
  }

  private approleLogin(body: Record<string, unknown>): Reply {
    const role = [...this.roles.values()].find((r) => r.roleId === body.role_id);
    const sid = this.secretIds.get(String(body.secret_id ?? ''));
    if (!role) throw bad('invalid role or secret ID');
    if (role.settings.bind_secret_id !== false) {
      if (!sid || sid.role !== role.name) throw bad('invalid role or secret ID');
      if (sid.expiresAt && sid.expiresAt <= this.now()) {
        this.secretIds.delete(String(body.secret_id));
        throw bad('invalid role or secret ID');
      }
      if (sid.uses > 0) {
        sid.uses -= 1;
        if (sid.uses === 0) this.secretIds.delete(String(body.secret_id));
      }
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
    });
    return ok({ auth: this.authBlock(t) });
  }

  // --- KV v2 ---------------------------------------------------------------------------------------------------------

  private kvApi(
    store: Map<string, KvEntry>,
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
        deletion_time: v.deletedAt ? iso(v.deletedAt) : '',
        destroyed: v.destroyed,
        version: n,
      };
    };

    if (kind === 'data') {
      if (method === 'GET') {
        if (!entry || entry.current === 0) throw notFound();
        const n = Number(query.get('version') ?? 0) || entry.current;
        const v = entry.versions.get(n);
        if (!v) throw notFound();
        if (v.destroyed || v.deletedAt)
          throw new VaultFailure(404, [], { ...envelope(), data: { data: null, metadata: versionMeta(entry, n) } });
        return ok({ data: { data: v.data, metadata: versionMeta(entry, n) } });
      }
      if (method === 'POST') {
        if (!body.data || typeof body.data !== 'object') throw bad('no data provided');
        const options = (body.options ?? {}) as { cas?: number };
        const e = entry ?? newEntry(now);
        if (options.cas === undefined && e.casRequired) throw bad('check-and-set parameter required for this call');
        if (options.cas !== undefined && Number(options.cas) !== e.current) throw bad(CAS_MISMATCH);
        const n = e.current + 1;
        e.versions.set(n, { data: body.data as Record<string, unknown>, createdAt: now, deletedAt: null, destroyed: false });
        e.current = n;
        e.updatedAt = now;
        const max = e.maxVersions || DEFAULT_MAX_VERSIONS;
        for (const k of [...e.versions.keys()].sort((a, b) => a - b)) if (e.versions.size > max) e.versions.delete(k);
        store.set(path, e);
        return ok({ data: versionMeta(e, n) });
      }
      if (method === 'DELETE') {
        const v = entry?.versions.get(entry.current);
        if (v && !v.deletedAt) v.deletedAt = now;
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
            deletion_time: v.deletedAt ? iso(v.deletedAt) : '',
            destroyed: v.destroyed,
          };
        }
        return ok({
          data: {
            cas_required: entry.casRequired,
            created_time: iso(entry.createdAt),
            current_version: entry.current,
            custom_metadata: entry.customMetadata,
            delete_version_after: '0s',
            max_versions: entry.maxVersions,
            oldest_version: Math.min(...entry.versions.keys(), entry.current) || 0,
            updated_time: iso(entry.updatedAt),
            versions,
          },
        });
      }
      if (method === 'POST') {
        const e = entry ?? newEntry(now);
        if (body.custom_metadata !== undefined) e.customMetadata = validateCustomMetadata(body.custom_metadata);
        if (body.max_versions !== undefined) e.maxVersions = Number(body.max_versions);
        if (body.cas_required !== undefined) e.casRequired = Boolean(body.cas_required);
        e.updatedAt = now;
        store.set(path, e);
        return { status: 204 };
      }
      if (method === 'DELETE') {
        store.delete(path);
        return { status: 204 };
      }
    }
    if ((kind === 'destroy' || kind === 'delete' || kind === 'undelete') && method === 'POST') {
      const versions = body.versions;
      if (!Array.isArray(versions) || versions.length === 0) throw bad('no version number provided');
      for (const n of versions as number[]) {
        const v = entry?.versions.get(Number(n));
        if (!v) continue;
        if (kind === 'destroy') {
          v.destroyed = true;
          v.data = null;
        } else if (kind === 'delete') {
          if (!v.deletedAt) v.deletedAt = now;
        } else if (!v.destroyed) v.deletedAt = null;
      }
      return { status: 204 };
    }
    throw new VaultFailure(405, ['unsupported operation']);
  }
}

function newEntry(now: number): KvEntry {
  return { versions: new Map(), current: 0, createdAt: now, updatedAt: now, maxVersions: 0, casRequired: false, customMetadata: null };
}

function validateCustomMetadata(v: unknown): Record<string, string> {
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('custom_metadata validation failed: not a map');
  const entries = Object.entries(v as Record<string, unknown>);
  const problems: string[] = [];
  if (entries.length > 64) problems.push(`payload must contain at most 64 keys, provided: ${entries.length}`);
  for (const [k, val] of entries) {
    if (typeof val !== 'string') problems.push(`value for key "${k}" is not a string`);
    if (k.length > 128) problems.push(`length of key "${k.slice(0, 20)}..." is ${k.length} but max is 128`);
    if (typeof val === 'string' && val.length > 512) problems.push(`length of value for key "${k}" is ${val.length} but max is 512`);
  }
  if (problems.length) throw bad(`custom_metadata validation failed: ${problems.join('; ')}`);
  return { ...(v as Record<string, string>) };
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
