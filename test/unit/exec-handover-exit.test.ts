import { describe, expect, it } from 'vitest';
import { MemoryCoordination } from '../../providers/memory/coordination.js';
import { procStartOf, readConsumers, registerConsumer, thisHost, updateConsumers } from '../../src/delivery/handover.js';

const SLOT = 'bots/alpha/arb1';
const DEAD_PID = 2 ** 22 + 12345;

// exec leaves its entry when its bot exits (removing it would hold up exec's exit): readers must not count it.
describe('hand-over registry: entries of execs that ended', () => {
  it('are not read as consumers on their host; other hosts keep theirs', async () => {
    const store = new MemoryCoordination();
    const mine = procStartOf(process.pid);
    expect(mine).toMatch(/^\d+$/);
    await updateConsumers(store, SLOT, () => ({
      live: { host: thisHost(), pid: process.pid, procStart: mine!, startedAt: '', fingerprint: 'a', ackedAt: null },
      dead: { host: thisHost(), pid: DEAD_PID, startedAt: '', fingerprint: 'a', ackedAt: null },
      // This process's pid, but another start time: the pid was reused after that exec ended.
      reused: { host: thisHost(), pid: process.pid, procStart: '1', startedAt: '', fingerprint: 'a', ackedAt: null },
      legacy: { host: thisHost(), pid: process.pid, startedAt: '', fingerprint: 'a', ackedAt: null },
      remote: { host: 'other-host.invalid', pid: DEAD_PID, startedAt: '', fingerprint: 'a', ackedAt: null },
    }));
    expect(Object.keys(await readConsumers(store, SLOT)).sort()).toEqual(['legacy', 'live', 'remote']);
    // The next registration on this host drops them from the record itself.
    await registerConsumer(store, SLOT, 'next', { host: thisHost(), pid: process.pid, startedAt: '', fingerprint: null, ackedAt: null });
    const raw = JSON.parse(String((await store.read('handover/alpha/arb1'))!.value)) as Record<string, unknown>;
    expect(Object.keys(raw).sort()).toEqual(['legacy', 'live', 'next', 'remote']);
  });
});
