import { MemoryStore } from '../../providers/memory/index.js';
import { providerContract } from './provider-suite.js';

let clock = 0;
providerContract('memory', async () => {
  clock = Date.parse('2026-01-01T00:00:00Z');
  return {
    store: new MemoryStore({ now: () => clock }),
    advance: async (ms) => {
      clock += ms;
    },
  };
});
