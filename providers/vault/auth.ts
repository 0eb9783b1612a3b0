/**
 * How keyctl gets and keeps a Vault token: a token from VAULT_TOKEN, an AppRole login with VAULT_ROLE_ID and
 * VAULT_SECRET_ID, a Kubernetes login with the pod's service account token, or a JWT login; and a renewal timer for
 * long-running processes (the daemon), which logs in again when the token reaches its max TTL.
 *
 * Logins go through the facade's generic call, never node-vault's `approleLogin` / `kubernetesLogin` (which would also
 * overwrite the client's token as a side effect). Credentials (secret id, JWT) go only into the login body: never into
 * an error, a log line or argv.
 */
import { readFile } from 'node:fs/promises';
import { KeyctlError, ProviderError } from '@keyctl/client/errors';
import type { VaultStoreConfig } from '../../src/config/schema.js';
import { VaultApiError, type VaultAuthBlock, type VaultHttp } from './http.js';
import { mapVaultError } from './errors.js';
import { unreadable } from './tls.js';

export interface TokenInfo {
  /** Seconds left; 0 for a token that never expires (root). */
  ttl: number;
  renewable: boolean;
  policies: string[];
  /** The TTL the token was issued with (what a renewal asks for by default); 0 when Vault does not say. */
  creationTtl?: number;
}

export type VaultAuthConfig = VaultStoreConfig['auth'];

/** Whether `auth` can mint a fresh token on its own (so renewal can log in again at max TTL). */
export function canRelogin(auth: VaultAuthConfig): boolean {
  return auth.method !== 'token';
}

/** A callback that logs in again as `auth` says, for {@link startTokenRenewal}; undefined for a plain token. */
export function reloginFor(http: VaultHttp, auth: VaultAuthConfig, env: NodeJS.ProcessEnv): (() => Promise<void>) | undefined {
  return canRelogin(auth) ? () => login(http, auth, env) : undefined;
}

/** Logs in as the config says, and sets the facade's token. */
export async function login(http: VaultHttp, auth: VaultAuthConfig, env: NodeJS.ProcessEnv): Promise<void> {
  if (auth.method === 'kubernetes' || auth.method === 'jwt') {
    await jwtLogin(http, auth, env);
    return;
  }
  if (auth.method === 'token') {
    const token = env.VAULT_TOKEN;
    if (!token) {
      throw new ProviderError('VAULT_AUTH_MISSING', 'No Vault token: VAULT_TOKEN is not set.', {
        hint: 'Set VAULT_TOKEN (e.g. from `vault login`), or configure store.auth.method: approle with VAULT_ROLE_ID and VAULT_SECRET_ID.',
      });
    }
    http.token = token;
    return;
  }
  const roleId = env.VAULT_ROLE_ID;
  const secretId = env.VAULT_SECRET_ID;
  if (!roleId || !secretId) {
    throw new ProviderError('VAULT_AUTH_MISSING', 'AppRole login needs VAULT_ROLE_ID and VAULT_SECRET_ID.', {
      hint: 'Set both in the environment (the secret id is single-use: fetch a fresh one for each start).',
    });
  }
  const path = `auth/${trimSlashes(auth.mount)}/login`;
  try {
    // Not idempotent: a secret id is typically single-use, so a retried login after a lost reply would fail anyway.
    const res = await http.call({ method: 'POST', path, body: { role_id: roleId, secret_id: secretId }, token: null });
    const token = res.auth?.client_token;
    if (!token) throw new VaultApiError(500, [], undefined);
    http.token = token;
  } catch (err) {
    if (err instanceof VaultApiError && err.status === 400) {
      throw new ProviderError('VAULT_LOGIN_FAILED', `AppRole login at ${path} was refused.`, {
        hint: 'The role id is wrong, or the secret id is used up or expired (they are single-use and short-lived). Get a new one and re-run.',
      });
    }
    throw await mapVaultError(err, http, 'login', path);
  }
}

type JwtAuth = Extract<VaultAuthConfig, { method: 'kubernetes' | 'jwt' }>;

/**
 * Kubernetes and JWT logins: both POST `{role, jwt}` to `auth/<mount>/login` and answer with an `auth` block.
 * - Kubernetes: https://developer.hashicorp.com/vault/api-docs/auth/kubernetes#login (`role`, `jwt`: the service
 *   account token, by default the one mounted at /var/run/secrets/kubernetes.io/serviceaccount/token).
 * - JWT/OIDC: https://developer.hashicorp.com/vault/api-docs/auth/jwt#jwt-login (`role`, `jwt`).
 * The JWT is read at every login (Kubernetes rotates projected tokens), never kept and never shown.
 */
async function jwtLogin(http: VaultHttp, auth: JwtAuth, env: NodeJS.ProcessEnv): Promise<void> {
  const kind = auth.method === 'kubernetes' ? 'Kubernetes' : 'JWT';
  const jwt = await readJwt(auth, env);
  const path = `auth/${trimSlashes(auth.mount)}/login`;
  try {
    // Idempotent: logging in twice only mints a second token; the JWT is not used up.
    const res = await http.call({ method: 'POST', path, body: { role: auth.role, jwt }, token: null, idempotent: true });
    const token = res.auth?.client_token;
    if (!token) throw new VaultApiError(500, [], undefined);
    http.token = token;
  } catch (err) {
    if (err instanceof VaultApiError && (err.status === 400 || err.status === 403)) {
      throw new ProviderError('VAULT_LOGIN_FAILED', `${kind} login at ${path} as role "${auth.role}" was refused.`, {
        hint:
          auth.method === 'kubernetes'
            ? `Check that role "${auth.role}" exists on the ${trimSlashes(auth.mount)}/ mount and is bound to this pod's service account and namespace (bound_service_account_names, bound_service_account_namespaces), and that the mount's kubernetes_host is reachable from Vault.`
            : `Check that role "${auth.role}" exists on the ${trimSlashes(auth.mount)}/ mount and that the JWT matches it (bound_audiences, bound_subject, bound_claims, issuer) and has not expired.`,
        details: { status: err.status, path, role: auth.role },
      });
    }
    throw await mapVaultError(err, http, 'login', path);
  }
}

/** The login JWT: from `tokenPath`, else (JWT auth only) KEYCTL_VAULT_JWT. Never part of an error. */
async function readJwt(auth: JwtAuth, env: NodeJS.ProcessEnv): Promise<string> {
  const file = auth.tokenPath;
  if (file === undefined) {
    const fromEnv = env.KEYCTL_VAULT_JWT?.trim();
    if (!fromEnv) {
      throw new ProviderError(
        'VAULT_AUTH_MISSING',
        'JWT login needs a token: store.auth.tokenPath is not set and KEYCTL_VAULT_JWT is empty.',
        {
          hint: 'Set store.auth.tokenPath to the file your platform writes the JWT to (re-read at each login), or pass it in KEYCTL_VAULT_JWT.',
        },
      );
    }
    return fromEnv;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const problem = unreadable(err);
    throw new ProviderError(
      'VAULT_JWT_FILE',
      `The ${auth.method === 'kubernetes' ? 'service account token' : 'JWT'} file ${file} ${problem}.`,
      {
        hint:
          auth.method === 'kubernetes'
            ? 'Run keyctl in a pod with a service account token mounted (automountServiceAccountToken, or a projected volume), or set store.auth.tokenPath to where it is mounted.'
            : 'Set store.auth.tokenPath to the file your platform writes the JWT to, readable by the user keyctl runs as, or unset it and pass the JWT in KEYCTL_VAULT_JWT.',
        details: { setting: 'store.auth.tokenPath', file },
      },
    );
  }
  const jwt = text.trim();
  if (jwt === '') {
    throw new ProviderError('VAULT_JWT_FILE', `The token file ${file} is empty.`, {
      hint: 'It is written by the platform (kubelet, CI runner, identity agent): check that it has been written before keyctl starts.',
      details: { setting: 'store.auth.tokenPath', file },
    });
  }
  return jwt;
}

function trimSlashes(mount: string): string {
  return mount.replace(/^\/+|\/+$/g, '');
}

export async function lookupSelf(http: VaultHttp): Promise<TokenInfo> {
  try {
    const res = await http.call<{ ttl?: number; renewable?: boolean; policies?: string[]; creation_ttl?: number }>({
      method: 'GET',
      path: 'auth/token/lookup-self',
    });
    return {
      ttl: Number(res.data?.ttl ?? 0),
      renewable: res.data?.renewable === true,
      policies: res.data?.policies ?? [],
      creationTtl: Number(res.data?.creation_ttl ?? 0) || 0,
    };
  } catch (err) {
    throw await mapVaultError(err, http, 'token lookup', 'auth/token/lookup-self');
  }
}

/** Renews the facade's token once; returns its new TTL in seconds. */
export async function renewSelf(http: VaultHttp, incrementSeconds?: number): Promise<{ ttl: number; renewable: boolean }> {
  try {
    const res = await http.call({
      method: 'POST',
      path: 'auth/token/renew-self',
      body: incrementSeconds ? { increment: `${incrementSeconds}s` } : {},
      // Renewing twice only extends the same lease again.
      idempotent: true,
    });
    const auth = res.auth as VaultAuthBlock | undefined | null;
    return { ttl: Number(auth?.lease_duration ?? 0), renewable: auth?.renewable === true };
  } catch (err) {
    throw await mapVaultError(err, http, 'token renewal', 'auth/token/renew-self');
  }
}

export interface RenewalOptions {
  /** Fraction of the TTL after which to renew (default 2/3). */
  fraction?: number;
  /** Called when renewal stops working: the token will expire; the process should re-authenticate or stop. */
  onError?: (err: ProviderError) => void;
  /** Called after each successful renewal, with the new TTL in seconds. */
  onRenewed?: (ttl: number) => void;
  /**
   * Logs in again and sets the facade's token. Used when the token cannot be renewed any further: it is not
   * renewable, a renewal came back shorter than the token's TTL (capped by its max TTL), or Vault refused the renewal
   * (400/403). Default: the facade's own (`http.relogin`, set by `openVaultHttp` for AppRole, Kubernetes and JWT).
   * Without one, renewal reports such a token through `onError` as before.
   */
  relogin?: () => Promise<void>;
  /** Called after each successful re-login. */
  onRelogin?: () => void;
  /** Timer factory, injectable for tests. */
  setTimer?: (fn: () => void, ms: number) => { unref?: () => void; ref?: () => void };
  clearTimer?: (t: unknown) => void;
}

/**
 * Keeps the facade's token alive for a long-running process: renews at `fraction` of its TTL, again and again, on an
 * unref'd timer (it never keeps the process alive by itself). Returns a stop function. A token without TTL (root)
 * needs nothing.
 *
 * When the token can go no further (not renewable, or its max TTL caps a renewal), renewal logs in again at `fraction`
 * of the time left, before it expires, and carries on with the new token, if it has a `relogin`; otherwise it
 * reports that through `onError` (at once for a non-renewable token, so the daemon can alert before it expires; for a
 * capped one, when a renewal gets no more time). A failed re-login is reported through `onError` and ends renewal.
 */
export async function startTokenRenewal(http: VaultHttp, options: RenewalOptions = {}): Promise<() => void> {
  const fraction = options.fraction ?? 2 / 3;
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  const relogin = options.relogin ?? http.relogin;
  let timer: unknown;
  let stopped = false;
  /** What a renewal gets when nothing caps it: the TTL the current token was issued with. */
  let fullTtl = 0;
  const fail = (err: unknown) => {
    if (stopped) return;
    options.onError?.(
      err instanceof ProviderError
        ? err
        : new ProviderError('VAULT_RENEW_FAILED', 'Renewing the Vault token failed.', { hint: 'Restart with a fresh token.' }),
    );
  };
  const schedule = (ttl: number, step: () => Promise<void>) => {
    if (stopped) return;
    const t = setTimer(() => void step(), Math.max(1000, Math.floor(ttl * fraction * 1000)));
    t.unref?.();
    timer = t;
  };
  const renew = async () => {
    if (stopped) return;
    let r: { ttl: number; renewable: boolean };
    try {
      r = await renewSelf(http);
    } catch (err) {
      // Refused (revoked, expired, not renewable, renewal denied): a fresh login is the way on, when there is one.
      if (relogin && refused(err)) await again();
      else fail(err);
      return;
    }
    options.onRenewed?.(r.ttl);
    const capped = fullTtl > 0 && r.ttl < fullTtl;
    if (relogin && (capped || !r.renewable || r.ttl <= 0)) {
      // The token is near its max TTL: log in again while it is still valid.
      if (r.ttl > 0) schedule(r.ttl, again);
      else await again();
    } else if (r.renewable && r.ttl > 0) schedule(r.ttl, renew);
    else
      fail(
        new ProviderError('VAULT_TOKEN_NOT_RENEWABLE', 'The Vault token reached its maximum TTL and cannot be renewed.', {
          hint: 'Restart with a fresh token or secret id before it expires.',
        }),
      );
  };
  const again = async () => {
    if (stopped || !relogin) return;
    try {
      await relogin();
      if (stopped) return;
      options.onRelogin?.();
      await begin();
    } catch (err) {
      fail(err);
    }
  };
  /** Looks the current token up and schedules what comes next for it. */
  const begin = async () => {
    const info = await lookupSelf(http);
    fullTtl = info.creationTtl || info.ttl;
    if (info.ttl <= 0) return;
    if (info.renewable) schedule(info.ttl, renew);
    else if (relogin) schedule(info.ttl, again);
    else
      fail(
        new ProviderError('VAULT_TOKEN_NOT_RENEWABLE', 'The Vault token cannot be renewed and will expire.', {
          hint: 'Use a renewable token (or an AppRole with token_max_ttl) for the daemon.',
        }),
      );
  };
  await begin();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimer(timer);
  };
}

/** A renewal Vault refused outright (as opposed to failing to answer): status 400 or 403. */
function refused(err: unknown): boolean {
  if (!(err instanceof KeyctlError)) return false;
  const status = err.details?.status;
  return status === 400 || status === 403;
}
