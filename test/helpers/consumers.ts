/**
 * What the integration tests of delivery read back: the hand-over registry of a world's local store (who took which
 * key of alpha/arb1), and a poll for a condition that a separate process makes true.
 */
import { join } from 'node:path';
import { createCoordination, createStore } from '../../providers/local/index.js';
import { readConsumers } from '../../src/delivery/handover.js';
import type { World } from './world.js';

/** The registered consumers of a slot (default alpha/arb1) in `w`'s local store. */
export async function consumersOf(w: World, slotPath = 'bots/alpha/arb1'): ReturnType<typeof readConsumers> {
  const config = { provider: 'local' as const, path: join(w.dir, 'store') };
  const store = await createStore(config, { env: w.env });
  try {
    return await readConsumers(await createCoordination(config, store, { env: w.env }), slotPath);
  } finally {
    await store.close();
  }
}

/** Polls `cond` every 100 ms until it holds; throws after `ms`. */
export async function until(cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
