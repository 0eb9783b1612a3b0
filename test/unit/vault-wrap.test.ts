/** Native response wrapping: the creation_path check, single use and TTL, and secure introduction of a secret id. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectVault, unwrapChecked, WRAP_PATH } from '../../providers/vault/index.js';
import { issueWrappedSecretId, setupBotAppRole } from '../../providers/vault/policy.js';
import { KeyctlError } from '@keyctl/client/errors';
import { vaultStoreSchema } from '../../src/config/schema.js';
import { vaultBed, type VaultBed } from './vault-helpers.js';

const CANARY = 'FAKE-SECRET-wrap-0c9e';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KeyctlError);
    return (err as KeyctlError).code;
  }
  throw new Error('expected the call to fail');
}

let bed: VaultBed;
beforeEach(async () => {
  bed = await vaultBed();
});
afterEach(async () => {
  await bed.close();
});

describe('vault wrapping', () => {
  it('wraps through sys/wrapping/wrap and unwraps once', async () => {
    const store = await bed.store();
    const token = await store.wrap(CANARY, 30_000);
    const before = bed.vault.calls.length;
    expect(await store.unwrap(token)).toBe(CANARY);
    // Vault's recipe: lookup, then unwrap.
    expect(bed.vault.calls.slice(before).map((c) => c.path)).toEqual(['sys/wrapping/lookup', 'sys/wrapping/unwrap']);
    expect(await code(store.unwrap(token))).toBe('WRAP_INVALID');
  });

  it('refuses a token wrapped at another path, and does not consume it', async () => {
    const store = await bed.store();
    await store.write('bots/alpha/arb1', { secret: { secret: CANARY }, stage: 'CURRENT', expect: null });
    // An attacker-made token: the same kind of value, but wrapped from a KV read instead of sys/wrapping/wrap.
    const { http } = await connectVault(vaultStoreSchema.parse({ provider: 'vault', address: bed.vault.url }), {
      env: { VAULT_TOKEN: bed.vault.rootToken },
    });
    const res = await http.call({ method: 'GET', path: 'secret/data/keyctl/bots/alpha/arb1', wrapTtlSeconds: 60 });
    const foreign = res.wrap_info!.token;
    expect(res.wrap_info!.creation_path).toBe('secret/data/keyctl/bots/alpha/arb1');
    expect(await code(store.unwrap(foreign))).toBe('WRAP_ORIGIN_MISMATCH');
    expect(bed.vault.calls.at(-1)!.path).toBe('sys/wrapping/lookup');
    // Still unconsumed: the path it really came from can unwrap it.
    const data = await unwrapChecked(http, foreign, 'secret/data/keyctl/bots/alpha/arb1', (d) => d as Record<string, unknown>);
    expect((data.data as Record<string, string>).secret).toBe(CANARY);
  });

  it('a prefix of the expected path is not enough', async () => {
    const { http } = await connectVault(vaultStoreSchema.parse({ provider: 'vault', address: bed.vault.url }), {
      env: { VAULT_TOKEN: bed.vault.rootToken },
    });
    const res = await http.call({ method: 'POST', path: WRAP_PATH, body: { value: CANARY }, wrapTtlSeconds: 60 });
    expect(await code(unwrapChecked(http, res.wrap_info!.token, `${WRAP_PATH}/extra`, () => 'x'))).toBe('WRAP_ORIGIN_MISMATCH');
    expect(await code(unwrapChecked(http, res.wrap_info!.token, 'sys/wrapping', () => 'x'))).toBe('WRAP_ORIGIN_MISMATCH');
  });

  it("the TTL is Vault's: rounded up to whole seconds, expired tokens are WRAP_INVALID", async () => {
    const store = await bed.store();
    const token = await store.wrap(CANARY, 1500);
    bed.clock.now += 1900;
    expect(await store.unwrap(token)).toBe(CANARY);
    const late = await store.wrap(CANARY, 1500);
    bed.clock.now += 2100;
    expect(await code(store.unwrap(late))).toBe('WRAP_INVALID');
  });

  it('a malformed token never reaches Vault', async () => {
    const store = await bed.store();
    const before = bed.vault.calls.length;
    for (const t of ['', 'a b', 'x\r\nX-Injected: 1', 'short']) expect(await code(store.unwrap(t))).toBe('WRAP_INVALID');
    expect(bed.vault.calls.length).toBe(before);
  });

  it('secure introduction: a wrapped single-use secret id, checked by creation path, logs the bot in once', async () => {
    const { http } = await connectVault(vaultStoreSchema.parse({ provider: 'vault', address: bed.vault.url }), {
      env: { VAULT_TOKEN: bed.vault.rootToken },
    });
    const { roleId } = await setupBotAppRole(http, {
      mount: 'secret',
      prefix: 'keyctl',
      bot: 'alpha',
      approleMount: 'approle',
      secretIdTtl: '10m',
      tokenTtl: '15m',
      tokenMaxTtl: '1h',
      cidrs: [],
    });
    const issued = await issueWrappedSecretId(http, { approleMount: 'approle', bot: 'alpha', ttlSeconds: 300, wrapTtlSeconds: 60 });
    expect(issued.creationPath).toBe('auth/approle/role/keyctl-alpha/secret-id');
    // The receiving side checks the creation path the issuer promised before unwrapping.
    const secretId = await unwrapChecked(http, issued.wrappingToken, 'auth/approle/role/keyctl-alpha/secret-id', (d) =>
      typeof d?.secret_id === 'string' ? d.secret_id : null,
    );
    const approle = { provider: 'vault', address: bed.vault.url, auth: { method: 'approle' } };
    const bot = await bed.store({ VAULT_ROLE_ID: roleId, VAULT_SECRET_ID: secretId }, approle);
    await bot.close();
    // Single use: the same secret id cannot log in twice.
    expect(await code(bed.store({ VAULT_ROLE_ID: roleId, VAULT_SECRET_ID: secretId }, approle))).toBe('VAULT_LOGIN_FAILED');
  });
});
