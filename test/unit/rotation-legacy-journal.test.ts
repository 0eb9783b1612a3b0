/**
 * Upgrading from keyctl 0.1, which kept each slot's rotation journal as a secret (`keyctl/journal/<bot>/<sub>`): the
 * engine adopts such a journal into the coordination store under the slot's lease, so a rotation inside its grace
 * period when keyctl was upgraded still ends with its PREVIOUS key revoked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { rotate } from '../../src/app/rotate.js';
import { selectSlots } from '../../src/domain/resolve.js';
import { adoptLegacyJournal, journalKey, legacyJournalPath, type JournalEntry } from '../../src/rotation/journal.js';
import { caught } from '../helpers/caught.js';
import { appWorld, liveKeys, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const DAY = 86_400_000;
const SLOT = 'bots/alpha/arb1';

/** Puts the slot's journal back where keyctl 0.1 kept it, as 0.1 wrote it. */
async function downgradeJournal(world: AppWorld): Promise<JournalEntry> {
  const record = await world.deps.coordination.read(journalKey(SLOT));
  expect(record, 'the rotation left a journal').not.toBeNull();
  const entry = record!.value as unknown as JournalEntry;
  await world.store.write(legacyJournalPath(SLOT), { secret: { entry: JSON.stringify(entry) }, stage: 'CURRENT' });
  await world.deps.coordination.delete(journalKey(SLOT));
  return entry;
}

describe('a journal keyctl 0.1 left in the secret store', () => {
  it('is adopted: a rotation in its grace period at the upgrade still revokes its PREVIOUS key, and the old journal goes', async () => {
    let now = Date.parse('2026-12-01T00:00:00Z');
    w = await appWorld({ sandbox: true, now: () => now });
    const deps = { ...w.deps, engine: createRotationEngine(w.deps, { owner: 'test:1' }) };
    const [slot] = selectSlots(w.deps.inventory, ['alpha/arb1']);
    expect((await rotate(deps, { slots: [slot!], mode: 'manual', graceMs: DAY })).results[0]).toMatchObject({ status: 'rotated' });
    expect(await liveKeys(w, 'arb1')).toHaveLength(2);
    const entry = await downgradeJournal(w);
    expect(entry.step).toBe('promoted');

    now += DAY + 1;
    const after = await rotate(deps, { slots: [slot!], mode: 'manual' });
    expect(after.results[0]).toMatchObject({ previousRevoked: true });
    expect(await liveKeys(w, 'arb1')).toHaveLength(1);
    expect(await w.store.list('keyctl/')).toEqual([]);
  });

  it('when the coordination store already holds the journal (a crash mid-adoption), that one is kept and the old one deleted', async () => {
    w = await appWorld();
    const lease = await w.deps.coordination.acquire(`rotate/${SLOT}`, 'test:1', 30_000);
    const kept: JournalEntry = {
      rotationId: 'r-new',
      step: 'started',
      mode: 'automatic',
      startedAt: '2026-12-01T00:00:00Z',
      label: 'keyctl-r-new',
    };
    await w.deps.coordination.write(journalKey(SLOT), kept as never, { expect: null, fence: lease });
    await w.store.write(legacyJournalPath(SLOT), { secret: { entry: JSON.stringify({ ...kept, rotationId: 'r-old' }) }, stage: 'CURRENT' });
    await adoptLegacyJournal(w.store, w.deps.coordination, SLOT, lease);
    expect((await w.deps.coordination.read(journalKey(SLOT)))?.value).toMatchObject({ rotationId: 'r-new' });
    expect(await w.store.list('keyctl/')).toEqual([]);
  });

  it('one keyctl did not write is refused (STORE_CORRUPT) and left in place for a person to look at', async () => {
    w = await appWorld();
    const lease = await w.deps.coordination.acquire(`rotate/${SLOT}`, 'test:1', 30_000);
    for (const entry of ['not json', JSON.stringify({ rotationId: 'r-1', step: 'revoke-everything' }), JSON.stringify(['r-1'])]) {
      await w.store.write(legacyJournalPath(SLOT), { secret: { entry }, stage: 'CURRENT' });
      expect((await caught(adoptLegacyJournal(w.store, w.deps.coordination, SLOT, lease))).code).toBe('STORE_CORRUPT');
      expect(await w.store.list('keyctl/')).toEqual([legacyJournalPath(SLOT)]);
      expect(await w.deps.coordination.read(journalKey(SLOT))).toBeNull();
    }
  });

  it('none at all: nothing changes', async () => {
    w = await appWorld();
    const lease = await w.deps.coordination.acquire(`rotate/${SLOT}`, 'test:1', 30_000);
    await adoptLegacyJournal(w.store, w.deps.coordination, SLOT, lease);
    expect(await w.deps.coordination.read(journalKey(SLOT))).toBeNull();
  });
});
