/**
 * The coordination contract suite on Vault's backing, against the API double (test/fakes/vault-server.ts). The
 * server's clock is the suite's store clock; the client is given a clock far off it, which must not matter.
 */
import { afterAll, beforeAll } from 'vitest';
import { createCoordination, createStore } from '../../providers/vault/index.js';
import { vaultStoreSchema } from '../../src/config/schema.js';
import { FakeVault } from '../fakes/vault-server.js';
import { coordinationContract } from './coordination-suite.js';

let clock = Date.parse('2026-01-01T00:00:00Z');
let vault: FakeVault;

beforeAll(async () => {
  vault = await FakeVault.start({ now: () => clock });
});
afterAll(async () => {
  await vault.close();
});

/** A client clock a year behind the server: coordination must never read it. */
const wrongClientClock = () => clock - 365 * 24 * 3600_000;

coordinationContract('vault (API double)', async () => {
  const config = vaultStoreSchema.parse({ provider: 'vault', address: vault.url, mount: 'secret', prefix: 'keyctl' });
  const context = { env: { VAULT_TOKEN: vault.rootToken }, now: wrongClientClock };
  const open = async () => createCoordination(config, await createStore(config, context), context);
  return {
    coordination: await open(),
    other: open,
    advance: (ms) => {
      clock += ms;
    },
    storeClock: () => clock,
    cleanup: async () => undefined,
  };
});
