/**
 * The same provider and coordination contract suites against a real Vault, e.g. a dev server:
 *
 *   vault server -dev -dev-root-token-id=keyctl-dev-root
 *   KEYCTL_IT_VAULT_ADDR=http://127.0.0.1:8200 KEYCTL_IT_VAULT_TOKEN=keyctl-dev-root npx vitest run test/contract/vault-real.slow.test.ts
 *
 * KEYCTL_IT_VAULT_MOUNT picks the KV v2 mount (default `secret`, which a dev server has). Each run works under a fresh
 * prefix and deletes it afterwards. TTLs are real here, so the suite waits for them (about a minute in all).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe } from 'vitest';
import { connectVault, createCoordination, createStore } from '../../providers/vault/index.js';
import type { Kv } from '../../providers/vault/kv.js';
import { vaultStoreSchema } from '../../src/config/schema.js';
import { coordinationContract } from './coordination-suite.js';
import { providerContract } from './provider-suite.js';
import { vaultFencingSuite } from './vault-fencing-suite.js';

const address = process.env.KEYCTL_IT_VAULT_ADDR;
const token = process.env.KEYCTL_IT_VAULT_TOKEN;
const enabled = Boolean(address && token);
const prefix = `keyctl-it-${randomUUID().slice(0, 8)}`;
const config = () => vaultStoreSchema.parse({ provider: 'vault', address, mount: process.env.KEYCTL_IT_VAULT_MOUNT ?? 'secret', prefix });

async function deleteTree(kv: Kv, dir: string): Promise<void> {
  for (const key of await kv.list(dir)) {
    if (key.endsWith('/')) await deleteTree(kv, `${dir}/${key.slice(0, -1)}`);
    else await kv.deleteAll(`${dir}/${key}`);
  }
}

describe.skipIf(!enabled)('real Vault (skipped unless KEYCTL_IT_VAULT_ADDR and KEYCTL_IT_VAULT_TOKEN are set)', () => {
  afterAll(async () => {
    const { kv } = await connectVault(config(), { env: { VAULT_TOKEN: token } });
    await deleteTree(kv, prefix);
  });

  providerContract(
    'vault (real server)',
    async () => ({
      store: await createStore(config(), { env: { VAULT_TOKEN: token } }),
      advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    }),
    // Vault's TTLs have whole-second granularity.
    { ttlMs: 2000 },
  );

  coordinationContract(
    'vault (real server)',
    async () => {
      const context = { env: { VAULT_TOKEN: token } };
      const open = async () => createCoordination(config(), await createStore(config(), context), context);
      // No advance: the suite waits in real time, and the server's clock runs on its own.
      return { coordination: await open(), other: open, cleanup: async () => undefined };
    },
    { ttlMs: 2000 },
  );

  vaultFencingSuite('vault (real server)', () => ({
    address: address!,
    token: token!,
    mount: process.env.KEYCTL_IT_VAULT_MOUNT ?? 'secret',
    prefix,
  }));
});
