import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStore } from '../../providers/local/index.js';
import { providerContract } from './provider-suite.js';

const FAKE_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

let clock = 0;
providerContract('local', async () => {
  clock = Date.parse('2026-01-01T00:00:00Z');
  const dir = await mkdtemp(join(tmpdir(), 'keyctl-local-contract-'));
  return {
    store: new LocalStore({ path: join(dir, 'store'), env: { KEYCTL_MASTER_KEY: FAKE_MASTER_KEY }, now: () => clock }),
    advance: async (ms) => {
      clock += ms;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
