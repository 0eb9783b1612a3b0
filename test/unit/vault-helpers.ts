/** Shared set-up for the Vault unit tests: a fake Vault with a movable clock, and stores on it. */
import { createStore, type VaultStore } from '../../providers/vault/index.js';
import { vaultStoreSchema } from '../../src/config/schema.js';
import { FakeVault } from '../fakes/vault-server.js';

export interface VaultBed {
  vault: FakeVault;
  clock: { now: number };
  /** A store on the fake, authenticated with `env` (root token by default). */
  store(env?: NodeJS.ProcessEnv, overrides?: Record<string, unknown>): Promise<VaultStore>;
  close(): Promise<void>;
}

export async function vaultBed(): Promise<VaultBed> {
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const vault = await FakeVault.start({ now: () => clock.now });
  return {
    vault,
    clock,
    store: async (env = { VAULT_TOKEN: vault.rootToken }, overrides = {}) =>
      (await createStore(
        vaultStoreSchema.parse({ provider: 'vault', address: vault.url, mount: 'secret', prefix: 'keyctl', ...overrides }),
        {
          env,
          now: () => clock.now,
        },
      )) as VaultStore,
    close: () => vault.close(),
  };
}
