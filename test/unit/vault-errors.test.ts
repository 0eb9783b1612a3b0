/** Sealed, denied, expired-token, unreachable and misconfigured Vaults: each is a clear exit-4 ProviderError with a hint. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStore } from '../../providers/vault/index.js';
import { ExitCode, KeyctlError } from '@keyctl/client/errors';
import { vaultStoreSchema } from '../../src/config/schema.js';
import { vaultBed, type VaultBed } from './vault-helpers.js';
import { caught } from '../helpers/caught.js';

const CANARY = 'FAKE-SECRET-vault-errors-5b1d';

function expectClean(err: KeyctlError, ...secrets: string[]): void {
  const text = [err.message, err.hint ?? '', JSON.stringify(err.toJSON()), String(err.stack)].join('\n');
  for (const s of secrets) expect(text).not.toContain(s);
}

let bed: VaultBed;
beforeEach(async () => {
  bed = await vaultBed();
});
afterEach(async () => {
  await bed.close();
});

describe('vault provider errors', () => {
  it('a sealed Vault is VAULT_SEALED, exit 4, with an unseal hint, for health and for data calls', async () => {
    const store = await bed.store();
    await store.write('bots/alpha/arb1', { secret: { secret: CANARY }, stage: 'CURRENT', expect: null });
    bed.vault.seal();
    const health = await caught(store.health());
    expect(health.code).toBe('VAULT_SEALED');
    expect(health.exitCode).toBe(ExitCode.PROVIDER);
    expect(health.hint).toMatch(/unseal/);
    const write = await caught(store.write('bots/alpha/arb1', { secret: { secret: CANARY } }));
    expect(write.code).toBe('VAULT_SEALED');
    expect(write.exitCode).toBe(4);
    expectClean(write, CANARY, bed.vault.rootToken);
    bed.vault.unseal();
    expect((await store.read('bots/alpha/arb1', { stage: 'CURRENT' })).secret.secret).toBe(CANARY);
  });

  it('a path the policy does not allow is VAULT_DENIED naming the path, exit 4', async () => {
    const admin = await bed.store();
    await admin.write('bots/beta/mm1', { secret: { secret: CANARY }, stage: 'CURRENT', expect: null });
    await admin.close();
    const token = bed.vault.createToken({ policies: [] });
    const store = await bed.store({ VAULT_TOKEN: token });
    const err = await caught(store.describe('bots/beta/mm1'));
    expect(err.code).toBe('VAULT_DENIED');
    expect(err.exitCode).toBe(4);
    expect(err.message).toContain('secret/metadata/keyctl/bots/beta/mm1');
    expect(err.hint).toMatch(/policies/);
    expectClean(err, CANARY, token);
  });

  it('an expired token is VAULT_TOKEN_INVALID with a log-in hint, not "denied"', async () => {
    const token = bed.vault.createToken({ policies: [], ttl: 60 });
    const store = await bed.store({ VAULT_TOKEN: token });
    await store.health();
    bed.clock.now += 61_000;
    const err = await caught(store.describe('bots/alpha/arb1'));
    expect(err.code).toBe('VAULT_TOKEN_INVALID');
    expect(err.exitCode).toBe(4);
    expect(err.hint).toMatch(/VAULT_TOKEN/);
    expectClean(err, token);
    expect((await caught(store.health())).code).toBe('VAULT_TOKEN_INVALID');
  });

  it('a use-limited token that is used up is VAULT_TOKEN_INVALID', async () => {
    const token = bed.vault.createToken({ policies: [], numUses: 1 });
    const store = await bed.store({ VAULT_TOKEN: token });
    await caught(store.describe('bots/x/y')); // the one use (denied, and the probe finds the token gone)
    expect((await caught(store.describe('bots/x/y'))).code).toBe('VAULT_TOKEN_INVALID');
  });

  it('an unreachable Vault is VAULT_UNREACHABLE, retryable, and the request body never leaks into the error', async () => {
    const config = vaultStoreSchema.parse({ provider: 'vault', address: 'http://127.0.0.1:9', mount: 'secret', prefix: 'keyctl' });
    const store = await createStore(config, { env: { VAULT_TOKEN: 'hvs.FAKE-token-unreachable' } });
    const err = await caught(store.write('bots/alpha/arb1', { secret: { secret: CANARY } }));
    expect(err.code).toBe('VAULT_UNREACHABLE');
    expect(err.exitCode).toBe(4);
    expect(err.retryable).toBe(true);
    expect(err.cause).toBeUndefined();
    expectClean(err, CANARY, 'hvs.FAKE-token-unreachable');
  });

  it('missing credentials and address are exit-4 errors that say what to set', async () => {
    const noAddr = vaultStoreSchema.parse({ provider: 'vault', mount: 'secret' });
    expect((await caught(createStore(noAddr, { env: {} }))).code).toBe('VAULT_ADDR_MISSING');
    const config = vaultStoreSchema.parse({ provider: 'vault', address: bed.vault.url });
    const noToken = await caught(createStore(config, { env: {} }));
    expect(noToken.code).toBe('VAULT_AUTH_MISSING');
    expect(noToken.hint).toMatch(/VAULT_TOKEN/);
    const approle = vaultStoreSchema.parse({ provider: 'vault', address: bed.vault.url, auth: { method: 'approle' } });
    expect((await caught(createStore(approle, { env: { VAULT_ROLE_ID: 'r' } }))).code).toBe('VAULT_AUTH_MISSING');
  });

  it('a mount that is not a KV v2 engine fails health with an enable hint', async () => {
    const store = await bed.store(undefined, { mount: 'nosuchmount' });
    const err = await caught(store.health());
    expect(err.code).toBe('VAULT_MOUNT_MISSING');
    expect(err.hint).toContain('vault secrets enable -path=nosuchmount kv-v2');
  });
});
