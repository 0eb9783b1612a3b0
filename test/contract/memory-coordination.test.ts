import { MemoryCoordination } from '../../providers/memory/coordination.js';
import { coordinationContract } from './coordination-suite.js';

let clock = 0;
coordinationContract('memory', async () => {
  clock = Date.parse('2026-01-01T00:00:00Z');
  const coordination = new MemoryCoordination({ now: () => clock });
  return {
    coordination,
    advance: (ms) => {
      clock += ms;
    },
    storeClock: () => clock,
    cleanup: async () => undefined,
  };
});
