/**
 * One function maps every Vault failure to what the user sees: a ProviderError (exit 4) with a code and a hint that
 * says what to do. Messages name the Vault path and status only, never a request body or a token.
 */
import { KeyctlError, ProviderError } from '@keyctl/client/errors';
import { VaultApiError, type VaultHttp } from './http.js';

export const HINT_SEALED = 'Unseal it (`vault operator unseal`, or wait for auto-unseal), then re-run; keyctl changed nothing.';
export const HINT_TOKEN =
  'The Vault token is expired, revoked or wrong. Get a fresh one (VAULT_TOKEN, or VAULT_ROLE_ID and a new VAULT_SECRET_ID for AppRole) and re-run.';

/**
 * Maps `err` from a call on `path` (`op` names the operation, e.g. "read") to a KeyctlError. A bare 403 is ambiguous
 * (older Vaults answer "permission denied" for a bad token too), so it is told apart by one `lookup-self` probe.
 */
export async function mapVaultError(err: unknown, http: VaultHttp, op: string, path: string): Promise<KeyctlError> {
  if (err instanceof KeyctlError) return err;
  if (!(err instanceof VaultApiError)) {
    return new ProviderError('VAULT_ERROR', `Vault ${op} of ${path} failed unexpectedly.`, {
      hint: 'Re-run; if it persists, check the Vault server logs.',
      retryable: true,
    });
  }
  const where = `${http.address}`;
  // A 503 that says something else (a standby that cannot reach the active node) is VAULT_UNAVAILABLE below; a bare
  // 503 is most likely a sealed node behind a proxy.
  if (err.has('Vault is sealed') || (err.status === 503 && err.errors.length === 0)) {
    return new ProviderError('VAULT_SEALED', `Vault at ${where} is sealed.`, {
      hint: HINT_SEALED,
      retryable: true,
      details: { status: err.status },
    });
  }
  if (err.status === 403) {
    if (err.has('invalid token') || !(await tokenWorks(http))) {
      return new ProviderError('VAULT_TOKEN_INVALID', `Vault at ${where} rejected keyctl's token.`, {
        hint: HINT_TOKEN,
        details: { status: 403 },
      });
    }
    return new ProviderError('VAULT_DENIED', `Vault denied ${op} on ${path}.`, {
      hint: `The token's policies do not allow ${op} on ${path}. Grant it (docs/vault.md lists what keyctl needs) or use a token that has it.`,
      details: { status: 403, path },
    });
  }
  if (err.has('no handler for route')) {
    const mount = path.split('/')[0] ?? '';
    return new ProviderError('VAULT_MOUNT_MISSING', `Vault has no KV v2 engine at "${mount}/".`, {
      hint: `Enable one (\`vault secrets enable -path=${mount} kv-v2\`) or set store.mount to an existing KV v2 mount.`,
      details: { status: err.status, path },
    });
  }
  const tries = err.attempts > 1 ? `, ${err.attempts} attempts` : '';
  if (err.status === 412) {
    // Vault Enterprise: this node lacks replicated state the request needs (https://developer.hashicorp.com/vault/docs/enterprise/consistency).
    return new ProviderError('VAULT_UNAVAILABLE', `Vault at ${where} could not serve ${op} on ${path} yet (HTTP 412${tries}).`, {
      hint: 'A Vault Enterprise standby or replica has not caught up with a recent change (eventual consistency). Re-run in a moment, or point store.address at the active node.',
      retryable: true,
      details: { status: err.status, path, attempts: err.attempts },
    });
  }
  if (err.status === 429 || err.status >= 500) {
    return new ProviderError('VAULT_UNAVAILABLE', `Vault at ${where} could not serve ${op} on ${path} (HTTP ${err.status}${tries}).`, {
      hint: 'Vault is overloaded, in standby or failing. Re-run later; check its status with `vault status`.',
      retryable: true,
      details: { status: err.status, path, attempts: err.attempts },
    });
  }
  return new ProviderError('VAULT_ERROR', `Vault refused ${op} on ${path} (HTTP ${err.status}).`, {
    hint: 'Check that store.mount is a KV v2 engine and that the Vault version is 1.9 or newer (custom_metadata).',
    details: { status: err.status, path },
  });
}

async function tokenWorks(http: VaultHttp): Promise<boolean> {
  try {
    await http.call({ method: 'GET', path: 'auth/token/lookup-self' });
    return true;
  } catch (err) {
    return !(err instanceof VaultApiError && err.status === 403);
  }
}
