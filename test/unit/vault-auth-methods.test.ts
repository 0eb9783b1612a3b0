/**
 * Kubernetes and JWT logins, re-login at a token's max TTL, and VaultHttp's bounded retries, against a small node:http
 * server that records every request and answers as each test scripts it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { login, startTokenRenewal } from '../../providers/vault/auth.js';
import { openVaultHttp } from '../../providers/vault/connect.js';
import { mapVaultError } from '../../providers/vault/errors.js';
import { VaultApiError, VaultHttp } from '../../providers/vault/http.js';
import { vaultStoreSchema } from '../../src/config/schema.js';
import { ProviderError } from '@keyctl/client/errors';

interface Call {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  token: string | undefined;
}
type Reply = { status: number; body?: unknown };
type Handler = (call: Call, calls: Call[]) => Reply | undefined;

/** A scriptable Vault stand-in: `handler` answers first; then a login, lookup-self and renew-self that just work. */
class MiniVault {
  calls: Call[] = [];
  handler: Handler = () => undefined;
  tokens = 0;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static start(): Promise<MiniVault> {
    let vault: MiniVault | undefined;
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const call: Call = {
          method: req.method ?? '',
          path: (req.url ?? '').replace(/^\/v1\//, ''),
          body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
          token: req.headers['x-vault-token'] as string | undefined,
        };
        vault!.calls.push(call);
        const reply = vault!.handler(call, vault!.calls) ?? vault!.standard(call);
        res.writeHead(reply.status, { 'content-type': 'application/json' });
        res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
      });
    });
    return new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => {
        vault = new MiniVault(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
        resolve(vault);
      }),
    );
  }

  /** Paths only, e.g. `POST auth/kubernetes/login`. */
  get requests(): string[] {
    return this.calls.map((c) => `${c.method} ${c.path}`);
  }

  private standard(call: Call): Reply {
    if (call.method === 'POST' && call.path.endsWith('/login')) {
      this.tokens += 1;
      return { status: 200, body: { auth: auth(`hvs.token-${this.tokens}`, 60) } };
    }
    if (call.path === 'auth/token/lookup-self')
      return { status: 200, body: { data: { ttl: 60, creation_ttl: 60, renewable: true, policies: ['default'] } } };
    if (call.path === 'auth/token/renew-self') return { status: 200, body: { auth: auth(call.token ?? '', 60) } };
    if (call.path.startsWith('sys/health')) return { status: 200, body: { initialized: true, sealed: false, standby: false } };
    return { status: 404, body: { errors: [] } };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function auth(token: string, ttl: number, renewable = true) {
  return { client_token: token, accessor: `acc-${token}`, policies: ['default'], lease_duration: ttl, renewable };
}

let vault: MiniVault;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyctl-vault-auth-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
  vault = await MiniVault.start();
});
afterEach(async () => {
  await vault.close();
});

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a2V5Y3RsIn0.c2lnbmF0dXJlLWNhbmFyeQ';

function tokenFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function config(authConfig: Record<string, unknown>) {
  return vaultStoreSchema.parse({ provider: 'vault', address: vault.url, auth: authConfig });
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

/** Everything a user or a log could see of an error. */
function shown(err: ProviderError): string {
  return [err.message, err.hint ?? '', JSON.stringify(err.toJSON()), String(err.stack)].join('\n');
}

describe('kubernetes and jwt login', () => {
  it('kubernetes: posts role and the service account token to auth/<mount>/login', async () => {
    const path = tokenFile('sa-token', `${JWT}\n`);
    const http = await openVaultHttp(config({ method: 'kubernetes', role: 'keyctl', tokenPath: path }), {});
    expect(vault.calls).toEqual([{ method: 'POST', path: 'auth/kubernetes/login', body: { role: 'keyctl', jwt: JWT }, token: undefined }]);
    expect(http.token).toBe('hvs.token-1');
    expect(http.relogin).toBeTypeOf('function');

    await openVaultHttp(config({ method: 'kubernetes', role: 'bots', mount: 'k8s-prod', tokenPath: path }), {});
    expect(vault.calls[1]).toMatchObject({ path: 'auth/k8s-prod/login', body: { role: 'bots', jwt: JWT } });
  });

  it("kubernetes defaults to the pod's service account token and the kubernetes mount", () => {
    expect(vaultStoreSchema.parse({ provider: 'vault', auth: { method: 'kubernetes', role: 'keyctl' } }).auth).toEqual({
      method: 'kubernetes',
      role: 'keyctl',
      mount: 'kubernetes',
      tokenPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    });
    expect(vaultStoreSchema.parse({ provider: 'vault', auth: { method: 'jwt', role: 'ci' } }).auth).toEqual({
      method: 'jwt',
      role: 'ci',
      mount: 'jwt',
    });
    expect(() => vaultStoreSchema.parse({ provider: 'vault', auth: { method: 'kubernetes' } })).toThrow();
  });

  it('jwt: from tokenPath, or from KEYCTL_VAULT_JWT when no path is set', async () => {
    const path = tokenFile('ci-jwt', JWT);
    const fromFile = await openVaultHttp(config({ method: 'jwt', role: 'ci', tokenPath: path }), { KEYCTL_VAULT_JWT: 'ignored' });
    expect(vault.calls[0]).toEqual({ method: 'POST', path: 'auth/jwt/login', body: { role: 'ci', jwt: JWT }, token: undefined });
    expect(fromFile.token).toBe('hvs.token-1');

    const fromEnv = await openVaultHttp(config({ method: 'jwt', role: 'ci', mount: 'gitlab' }), { KEYCTL_VAULT_JWT: `${JWT}\n` });
    expect(vault.calls[1]).toEqual({ method: 'POST', path: 'auth/gitlab/login', body: { role: 'ci', jwt: JWT }, token: undefined });
    expect(fromEnv.token).toBe('hvs.token-2');
  });

  it('a missing, unreadable or empty token file is VAULT_JWT_FILE with a hint, and nothing is sent', async () => {
    const missing = await failure(openVaultHttp(config({ method: 'kubernetes', role: 'keyctl', tokenPath: join(dir, 'absent') }), {}));
    expect(missing.code).toBe('VAULT_JWT_FILE');
    expect(missing.exitCode).toBe(4);
    expect(missing.message).toContain(join(dir, 'absent'));
    expect(missing.hint).toMatch(/service account token/);

    const isDir = await failure(openVaultHttp(config({ method: 'jwt', role: 'ci', tokenPath: dir }), {}));
    expect(isDir.code).toBe('VAULT_JWT_FILE');
    expect(isDir.hint).toMatch(/tokenPath/);

    const empty = await failure(openVaultHttp(config({ method: 'jwt', role: 'ci', tokenPath: tokenFile('empty', '\n') }), {}));
    expect(empty.code).toBe('VAULT_JWT_FILE');

    const none = await failure(openVaultHttp(config({ method: 'jwt', role: 'ci' }), {}));
    expect(none.code).toBe('VAULT_AUTH_MISSING');
    expect(none.hint).toContain('KEYCTL_VAULT_JWT');
    expect(vault.calls).toEqual([]);
  });

  it('a refused login is VAULT_LOGIN_FAILED naming mount and role, never the JWT', async () => {
    vault.handler = (c) => (c.path.endsWith('/login') ? { status: 400, body: { errors: [`invalid jwt ${JWT}`] } } : undefined);
    const k8s = await failure(openVaultHttp(config({ method: 'kubernetes', role: 'keyctl', tokenPath: tokenFile('sa', JWT) }), {}));
    expect(k8s.code).toBe('VAULT_LOGIN_FAILED');
    expect(k8s.message).toBe('Kubernetes login at auth/kubernetes/login as role "keyctl" was refused.');
    expect(k8s.hint).toMatch(/bound_service_account_names/);
    vault.handler = (c) => (c.path.endsWith('/login') ? { status: 403, body: { errors: ['permission denied'] } } : undefined);
    const jwt = await failure(openVaultHttp(config({ method: 'jwt', role: 'ci' }), { KEYCTL_VAULT_JWT: JWT }));
    expect(jwt.code).toBe('VAULT_LOGIN_FAILED');
    expect(jwt.hint).toMatch(/bound_audiences/);
    for (const e of [k8s, jwt]) expect(shown(e)).not.toContain('c2lnbmF0dXJlLWNhbmFyeQ');
  });

  it('a plain token has no re-login; AppRole, Kubernetes and JWT do', async () => {
    expect((await openVaultHttp(config({ method: 'token' }), { VAULT_TOKEN: 'hvs.root' })).relogin).toBeUndefined();
    const approle = await openVaultHttp(config({ method: 'approle' }), { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's' });
    expect(approle.relogin).toBeTypeOf('function');
    await approle.relogin!();
    expect(vault.requests).toEqual(['POST auth/approle/login', 'POST auth/approle/login']);
    expect(approle.token).toBe('hvs.token-2');
  });
});

/** Timers the test fires by hand; a step is over when it scheduled the next one or reported an error. */
function manualTimers() {
  const pending: Array<{ fn: () => void; ms: number }> = [];
  const errors: ProviderError[] = [];
  const renewed: number[] = [];
  let relogins = 0;
  let settled: (() => void) | undefined;
  const settle = () => {
    settled?.();
    settled = undefined;
  };
  return {
    pending,
    errors,
    renewed,
    get relogins() {
      return relogins;
    },
    setTimer: (fn: () => void, ms: number) => {
      pending.push({ fn, ms });
      settle();
      return { unref: () => undefined };
    },
    clearTimer: () => undefined,
    onRenewed: (ttl: number) => void renewed.push(ttl),
    onRelogin: () => void (relogins += 1),
    onError: (e: ProviderError) => {
      errors.push(e);
      settle();
    },
    async fire(): Promise<void> {
      const timer = pending.shift();
      if (!timer) throw new Error('nothing is scheduled');
      const over = new Promise<void>((resolve) => (settled = resolve));
      timer.fn();
      await over;
    },
  };
}

describe('re-login at max TTL', () => {
  it('logs in again before a capped token expires, with a freshly read JWT, and carries on renewing', async () => {
    const path = tokenFile('rotating', 'jwt-one');
    // Token 1 renews once at full TTL, then gets only 30 s (its max TTL); token 2 renews normally.
    let renewals = 0;
    vault.handler = (c) => {
      if (c.path !== 'auth/token/renew-self') return undefined;
      renewals += 1;
      return { status: 200, body: { auth: auth(c.token!, c.token === 'hvs.token-1' && renewals === 2 ? 30 : 60) } };
    };
    const http = await openVaultHttp(config({ method: 'kubernetes', role: 'keyctl', tokenPath: path }), {});
    const timers = manualTimers();
    await startTokenRenewal(http, timers);
    expect(timers.pending.map((t) => t.ms)).toEqual([40_000]);

    await timers.fire(); // renewal 1: full 60 s
    expect(timers.pending.map((t) => t.ms)).toEqual([40_000]);
    await timers.fire(); // renewal 2: capped at 30 s, so a re-login at 2/3 of that, before it expires
    expect(timers.renewed).toEqual([60, 30]);
    expect(timers.pending.map((t) => t.ms)).toEqual([20_000]);
    expect(http.token).toBe('hvs.token-1');

    writeFileSync(path, 'jwt-two'); // the platform rotated the token file
    await timers.fire(); // re-login
    expect(http.token).toBe('hvs.token-2');
    expect(timers.relogins).toBe(1);
    expect(timers.pending.map((t) => t.ms)).toEqual([40_000]);
    const logins = vault.calls.filter((c) => c.path === 'auth/kubernetes/login').map((c) => c.body?.jwt);
    expect(logins).toEqual(['jwt-one', 'jwt-two']);

    await timers.fire(); // the new token renews as usual
    expect(vault.calls.at(-1)).toMatchObject({ path: 'auth/token/renew-self', token: 'hvs.token-2' });
    expect(timers.errors).toEqual([]);
  });

  it('a non-renewable token is replaced by a login before it expires (no error)', async () => {
    vault.handler = (c) =>
      c.path === 'auth/token/lookup-self' && c.token === 'hvs.token-1'
        ? { status: 200, body: { data: { ttl: 90, creation_ttl: 90, renewable: false, policies: [] } } }
        : undefined;
    const http = await openVaultHttp(config({ method: 'jwt', role: 'ci' }), { KEYCTL_VAULT_JWT: JWT });
    const timers = manualTimers();
    await startTokenRenewal(http, timers);
    expect(timers.errors).toEqual([]);
    expect(timers.pending.map((t) => t.ms)).toEqual([60_000]);
    await timers.fire();
    expect(http.token).toBe('hvs.token-2');
    expect(vault.requests.filter((r) => r.endsWith('/login'))).toHaveLength(2);
  });

  it('a renewal refused with 403 logs in again at once', async () => {
    vault.handler = (c) =>
      c.path === 'auth/token/renew-self' && c.token === 'hvs.token-1'
        ? { status: 403, body: { errors: ['permission denied'] } }
        : undefined;
    const http = await openVaultHttp(config({ method: 'approle' }), { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's' });
    const timers = manualTimers();
    await startTokenRenewal(http, timers);
    await timers.fire();
    expect(http.token).toBe('hvs.token-2');
    expect(timers.errors).toEqual([]);
    expect(timers.pending.map((t) => t.ms)).toEqual([40_000]);
  });

  it('a failed re-login is reported through onError, once, and renewal stops', async () => {
    vault.handler = (c, calls) => {
      if (c.path === 'auth/token/renew-self') return { status: 200, body: { auth: auth(c.token!, 10) } };
      // The first login works; the secret id is single-use, so the second is refused.
      if (c.path === 'auth/approle/login' && calls.filter((x) => x.path === c.path).length > 1)
        return { status: 400, body: { errors: ['invalid secret id'] } };
      return undefined;
    };
    const http = await openVaultHttp(config({ method: 'approle' }), { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 'single-use-secret-id' });
    const timers = manualTimers();
    await startTokenRenewal(http, timers);
    await timers.fire(); // renewal capped at 10 s
    await timers.fire(); // re-login refused
    expect(timers.errors.map((e) => e.code)).toEqual(['VAULT_LOGIN_FAILED']);
    expect(shown(timers.errors[0]!)).not.toContain('single-use-secret-id');
    expect(timers.pending).toEqual([]);
    expect(http.token).toBe('hvs.token-1');
  });

  it('without a re-login (a plain token) a capped token is renewed to the end and reported, as before', async () => {
    let left = 50;
    vault.handler = (c) => {
      if (c.path !== 'auth/token/renew-self') return undefined;
      left = Math.floor(left / 3);
      return { status: 200, body: { auth: auth(c.token!, left) } };
    };
    const http = await openVaultHttp(config({ method: 'token' }), { VAULT_TOKEN: 'hvs.plain' });
    const timers = manualTimers();
    await startTokenRenewal(http, timers);
    for (let i = 0; i < 10 && timers.pending.length > 0; i++) await timers.fire();
    expect(timers.renewed).toEqual([16, 5, 1, 0]);
    expect(timers.errors.map((e) => e.code)).toEqual(['VAULT_TOKEN_NOT_RENEWABLE']);
    expect(vault.requests.some((r) => r.endsWith('/login'))).toBe(false);
  });

  it('an explicit relogin callback overrides the facade and works with any facade', async () => {
    const http = await VaultHttp.create({ address: vault.url });
    http.token = 'hvs.plain';
    vault.handler = (c) =>
      c.path === 'auth/token/lookup-self' && c.token === 'hvs.plain'
        ? { status: 200, body: { data: { ttl: 30, creation_ttl: 30, renewable: false, policies: [] } } }
        : undefined;
    const timers = manualTimers();
    let called = 0;
    await startTokenRenewal(http, {
      ...timers,
      relogin: async () => {
        called += 1;
        await login(http, { method: 'jwt', role: 'ci', mount: 'jwt' }, { KEYCTL_VAULT_JWT: JWT });
      },
    });
    await timers.fire();
    expect(called).toBe(1);
    expect(http.token).toBe('hvs.token-1');
  });
});

describe('retries', () => {
  const STANDBY = 'local node not active but active cluster node not found';
  /** A facade whose backoff is recorded instead of slept. */
  async function facade() {
    const slept: number[] = [];
    const http = await VaultHttp.create({
      address: vault.url,
      retry: { sleep: async (ms) => void slept.push(ms) },
    });
    http.token = 'hvs.test';
    return { http, slept };
  }

  const failing = (status: number, times: number, errors: string[] = []): Handler => {
    let left = times;
    return (c) => {
      if (!c.path.startsWith('secret/')) return undefined;
      if (left-- > 0) return { status, body: { errors } };
      return { status: 200, body: { data: { ok: true } } };
    };
  };

  it('a GET answered 503 twice then 200 succeeds on the third call', async () => {
    vault.handler = failing(503, 2);
    const { http, slept } = await facade();
    const res = await http.call({ method: 'GET', path: 'secret/data/x' });
    expect(res.data).toEqual({ ok: true });
    expect(vault.requests).toEqual(['GET secret/data/x', 'GET secret/data/x', 'GET secret/data/x']);
    expect(slept).toHaveLength(2);
    // Exponential with jitter: between half and all of 250 ms, then of 500 ms.
    expect(slept[0]).toBeGreaterThanOrEqual(125);
    expect(slept[0]).toBeLessThanOrEqual(250);
    expect(slept[1]).toBeGreaterThanOrEqual(250);
    expect(slept[1]).toBeLessThanOrEqual(500);
  });

  it('LIST and 429 are retried too', async () => {
    vault.handler = failing(429, 1);
    const { http } = await facade();
    await http.call({ method: 'LIST', path: 'secret/metadata/keyctl' });
    expect(vault.requests).toEqual(['GET secret/metadata/keyctl?list=true', 'GET secret/metadata/keyctl?list=true']);
  });

  it('a POST is not retried (a lost reply may have landed) unless marked idempotent', async () => {
    const CANARY = 'FAKE-SECRET-retry-body-7d1e';
    vault.handler = failing(503, 1, [STANDBY]);
    const { http } = await facade();
    const err = await http
      .call({ method: 'POST', path: 'secret/data/x', body: { options: { cas: 1 }, data: { v: CANARY } } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultApiError);
    expect((err as VaultApiError).attempts).toBe(1);
    expect(vault.requests).toEqual(['POST secret/data/x']);
    const mapped = await mapVaultError(err, http, 'write', 'secret/data/x');
    expect(mapped.code).toBe('VAULT_UNAVAILABLE');
    expect(shown(mapped as ProviderError)).not.toContain(CANARY);
    expect(JSON.stringify(err)).not.toContain(CANARY);

    vault.calls = [];
    vault.handler = failing(503, 1);
    await http.call({ method: 'POST', path: 'secret/lookup', body: {}, idempotent: true });
    expect(vault.requests).toEqual(['POST secret/lookup', 'POST secret/lookup']);
    vault.calls = [];
    vault.handler = failing(503, 1);
    await expect(http.call({ method: 'DELETE', path: 'secret/metadata/x' })).rejects.toBeInstanceOf(VaultApiError);
    expect(vault.requests).toEqual(['DELETE secret/metadata/x']);
  });

  it('412 (a standby not caught up yet) is retried whatever the method: Vault did not apply it', async () => {
    vault.handler = failing(412, 1, ['required index state not present']);
    const { http } = await facade();
    await http.call({ method: 'POST', path: 'secret/data/x', body: { data: {} } });
    expect(vault.requests).toEqual(['POST secret/data/x', 'POST secret/data/x']);
  });

  it('gives up after 3 retries with the typed error, within the 2 s budget', async () => {
    vault.handler = failing(502, 100);
    const http = await VaultHttp.create({ address: vault.url });
    const started = Date.now();
    const err = await http.call({ method: 'GET', path: 'secret/data/x' }).catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(vault.requests).toHaveLength(4);
    expect(elapsed).toBeLessThan(2_000 + 1_000);
    expect(err).toBeInstanceOf(VaultApiError);
    const mapped = await mapVaultError(err, http, 'read', 'secret/data/x');
    expect(mapped).toMatchObject({ code: 'VAULT_UNAVAILABLE', retryable: true, details: { status: 502, attempts: 4 } });
    expect(mapped.message).toContain('4 attempts');
  });

  it('the total backoff is capped even with a large base delay', async () => {
    vault.handler = failing(500, 100);
    const slept: number[] = [];
    const http = await VaultHttp.create({
      address: vault.url,
      retry: { baseDelayMs: 1_500, random: () => 1, sleep: async (ms) => void slept.push(ms) },
    });
    await expect(http.call({ method: 'GET', path: 'secret/data/x' })).rejects.toBeInstanceOf(VaultApiError);
    expect(slept).toEqual([1_500, 500]);
    expect(vault.requests).toHaveLength(3);
  });

  it('a sealed Vault, 501 and 4xx are not retried; sys/health answers its state at once', async () => {
    const { http } = await facade();
    vault.handler = failing(503, 100, ['Vault is sealed']);
    await expect(http.call({ method: 'GET', path: 'secret/data/x' })).rejects.toBeInstanceOf(VaultApiError);
    vault.handler = failing(501, 100);
    await expect(http.call({ method: 'GET', path: 'secret/data/x' })).rejects.toBeInstanceOf(VaultApiError);
    vault.handler = failing(404, 100);
    await expect(http.call({ method: 'GET', path: 'secret/data/x' })).rejects.toBeInstanceOf(VaultApiError);
    expect(vault.requests).toHaveLength(3);

    vault.calls = [];
    vault.handler = (c) =>
      c.path.startsWith('sys/health') ? { status: 503, body: { initialized: true, sealed: true, standby: false } } : undefined;
    expect(await http.healthState()).toEqual({ initialized: true, sealed: true, standby: false });
    vault.handler = (c) =>
      c.path.startsWith('sys/health') ? { status: 429, body: { initialized: true, sealed: false, standby: true } } : undefined;
    expect(await http.healthState()).toEqual({ initialized: true, sealed: false, standby: true });
    expect(vault.calls).toHaveLength(2);
  });

  it('a Kubernetes login is retried on 503; an AppRole login (single-use secret id) is not', async () => {
    let k8sFails = 1;
    vault.handler = (c) => (c.path === 'auth/kubernetes/login' && k8sFails-- > 0 ? { status: 503, body: { errors: [] } } : undefined);
    const http = await openVaultHttp(config({ method: 'kubernetes', role: 'keyctl', tokenPath: tokenFile('k', JWT) }), {});
    expect(http.token).toBe('hvs.token-1');
    expect(vault.requests).toEqual(['POST auth/kubernetes/login', 'POST auth/kubernetes/login']);

    vault.calls = [];
    vault.handler = (c) => (c.path === 'auth/approle/login' ? { status: 503, body: { errors: [STANDBY] } } : undefined);
    const err = await failure(openVaultHttp(config({ method: 'approle' }), { VAULT_ROLE_ID: 'r', VAULT_SECRET_ID: 's' }));
    expect(err.code).toBe('VAULT_UNAVAILABLE');
    expect(vault.requests).toEqual(['POST auth/approle/login']);
  });
});
