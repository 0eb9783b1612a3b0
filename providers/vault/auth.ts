/**
 * How keyctl gets and keeps a Vault token: a token from VAULT_TOKEN, or an AppRole login with VAULT_ROLE_ID and
 * VAULT_SECRET_ID; and a renewal timer for long-running processes (the daemon).
 *
 * Logins go through the facade's generic call, never node-vault's `approleLogin` (which would also overwrite the
 * client's token as a side effect).
 */
import { ProviderError } from '../../src/errors.js';
import type { VaultStoreConfig } from '../../src/config/schema.js';
import { VaultApiError, type VaultAuthBlock, type VaultHttp } from './http.js';
import { mapVaultError } from './errors.js';

export interface TokenInfo {
  /** Seconds left; 0 for a token that never expires (root). */
  ttl: number;
  renewable: boolean;
  policies: string[];
}

/** Logs in as the config says, and sets the facade's token. */
export async function login(http: VaultHttp, auth: VaultStoreConfig['auth'], env: NodeJS.ProcessEnv): Promise<void> {
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
  const path = `auth/${auth.mount}/login`;
  try {
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

export async function lookupSelf(http: VaultHttp): Promise<TokenInfo> {
  try {
    const res = await http.call<{ ttl?: number; renewable?: boolean; policies?: string[] }>({
      method: 'GET',
      path: 'auth/token/lookup-self',
    });
    return { ttl: Number(res.data?.ttl ?? 0), renewable: res.data?.renewable === true, policies: res.data?.policies ?? [] };
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
  /** Timer factory, injectable for tests. */
  setTimer?: (fn: () => void, ms: number) => { unref?: () => void; ref?: () => void };
  clearTimer?: (t: unknown) => void;
}

/**
 * Keeps the facade's token alive for a long-running process: renews at `fraction` of its TTL, again and again, on an
 * unref'd timer (it never keeps the process alive by itself). Returns a stop function. A token without TTL (root)
 * needs nothing; a non-renewable one is reported through `onError` at once, so the daemon can alert before it expires.
 */
export async function startTokenRenewal(http: VaultHttp, options: RenewalOptions = {}): Promise<() => void> {
  const fraction = options.fraction ?? 2 / 3;
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const clearTimer = options.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  let timer: unknown;
  let stopped = false;
  const fail = (err: unknown) => {
    if (stopped) return;
    options.onError?.(
      err instanceof ProviderError
        ? err
        : new ProviderError('VAULT_RENEW_FAILED', 'Renewing the Vault token failed.', { hint: 'Restart with a fresh token.' }),
    );
  };
  const schedule = (ttl: number) => {
    if (stopped) return;
    const t = setTimer(() => void tick(), Math.max(1000, Math.floor(ttl * fraction * 1000)));
    t.unref?.();
    timer = t;
  };
  const tick = async () => {
    try {
      const r = await renewSelf(http);
      options.onRenewed?.(r.ttl);
      if (r.renewable && r.ttl > 0) schedule(r.ttl);
      else
        fail(
          new ProviderError('VAULT_TOKEN_NOT_RENEWABLE', 'The Vault token reached its maximum TTL and cannot be renewed.', {
            hint: 'Restart with a fresh token or secret id before it expires.',
          }),
        );
    } catch (err) {
      fail(err);
    }
  };
  const info = await lookupSelf(http);
  if (info.ttl > 0) {
    if (info.renewable) schedule(info.ttl);
    else
      fail(
        new ProviderError('VAULT_TOKEN_NOT_RENEWABLE', 'The Vault token cannot be renewed and will expire.', {
          hint: 'Use a renewable token (or an AppRole with token_max_ttl) for the daemon.',
        }),
      );
  }
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimer(timer);
  };
}
