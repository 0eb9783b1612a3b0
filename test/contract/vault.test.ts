/** The shared provider contract suite against the Vault HTTP API double (test/fakes/vault-server.ts). */
import { afterAll, beforeAll } from 'vitest';
import { createStore } from '../../providers/vault/index.js';
import { vaultStoreSchema } from '../../src/config/schema.js';
import { FakeVault } from '../fakes/vault-server.js';
import { providerContract } from './provider-suite.js';
import { vaultFencingSuite } from './vault-fencing-suite.js';

let clock = Date.parse('2026-01-01T00:00:00Z');
let vault: FakeVault;

beforeAll(async () => {
  vault = await FakeVault.start({ now: () => clock });
});
afterAll(async () => {
  await vault.close();
});

providerContract('vault (API double)', async () => {
  const config = vaultStoreSchema.parse({ provider: 'vault', address: vault.url, mount: 'secret', prefix: 'keyctl' });
  const store = await createStore(config, { env: { VAULT_TOKEN: vault.rootToken }, now: () => clock });
  return {
    store,
    advance: async (ms) => {
      clock += ms;
    },
  };
});

vaultFencingSuite('vault (API double)', () => ({ address: vault.url, token: vault.rootToken, mount: 'secret', prefix: 'keyctl' }));
