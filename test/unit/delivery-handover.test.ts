import { describe, expect, it } from 'vitest';
import { MemoryCoordination } from '../../providers/memory/coordination.js';
import {
  confirmConsumer,
  handoverKey,
  readConsumers,
  registerConsumer,
  removeConsumer,
  thisHost,
  updateConsumers,
} from '../../src/delivery/handover.js';

const SLOT = 'bots/alpha/arb1';
const me = () => ({ host: thisHost(), pid: process.pid, startedAt: '2030-01-01T00:00:00.000Z' });

describe('hand-over registry', () => {
  it('lives at keyctl/handover/<bot>/<sub>', () => {
    expect(handoverKey(SLOT)).toBe('handover/alpha/arb1');
    expect(() => handoverKey('accounts/main')).toThrow();
  });

  it('registers, confirms and removes consumers, one CAS-guarded version per change', async () => {
    const store = new MemoryCoordination();
    expect(await readConsumers(store, SLOT)).toEqual({});
    await registerConsumer(store, SLOT, 'a', { ...me(), fingerprint: null, ackedAt: null, mode: 'fd' });
    await registerConsumer(store, SLOT, 'b', { ...me(), fingerprint: 'fp1', ackedAt: '2030-01-01T00:00:00.000Z', mode: 'env' });
    await confirmConsumer(store, SLOT, 'a', 'fp2', me(), new Date('2030-01-01T00:01:00Z'));
    const all = await readConsumers(store, SLOT);
    expect(all.a).toMatchObject({ fingerprint: 'fp2', ackedAt: '2030-01-01T00:01:00.000Z', mode: 'fd' });
    expect(all.b?.fingerprint).toBe('fp1');
    // Confirming the key a consumer already confirmed writes nothing.
    const revision = (await store.read('handover/alpha/arb1'))!.revision;
    await confirmConsumer(store, SLOT, 'a', 'fp2', me());
    expect((await store.read('handover/alpha/arb1'))!.revision).toBe(revision);
    await removeConsumer(store, SLOT, 'a');
    await removeConsumer(store, SLOT, 'missing');
    expect(Object.keys(await readConsumers(store, SLOT))).toEqual(['b']);
  });

  it('loses no entry when many execs register at once (compare-and-set retries)', async () => {
    const store = new MemoryCoordination();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => registerConsumer(store, SLOT, `e${i}`, { ...me(), fingerprint: null, ackedAt: null })),
    );
    expect(Object.keys(await readConsumers(store, SLOT)).sort()).toHaveLength(12);
  });

  it('drops entries of this host whose exec process is gone, keeps other hosts', async () => {
    const store = new MemoryCoordination();
    await updateConsumers(store, SLOT, () => ({
      dead: { host: thisHost(), pid: 2 ** 22 + 12345, startedAt: '', fingerprint: null, ackedAt: null },
      remote: { host: 'other-host.invalid', pid: 1, startedAt: '', fingerprint: 'x', ackedAt: null },
    }));
    await registerConsumer(store, SLOT, 'new', { ...me(), fingerprint: null, ackedAt: null });
    expect(Object.keys(await readConsumers(store, SLOT)).sort()).toEqual(['new', 'remote']);
  });

  it('reads a damaged registry as empty instead of blocking bots', async () => {
    const store = new MemoryCoordination();
    await store.write('handover/alpha/arb1', '{not json', { expect: null });
    expect(await readConsumers(store, SLOT)).toEqual({});
    await registerConsumer(store, SLOT, 'a', { ...me(), fingerprint: null, ackedAt: null });
    expect(Object.keys(await readConsumers(store, SLOT))).toEqual(['a']);
  });
});
