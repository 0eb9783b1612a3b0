/**
 * The engine factory: a RotationEngine from plain dependencies, with assisted-mode I/O passed in as functions. A fake
 * adapter that cannot create keys makes every rotation assisted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRotationEngine } from '../../src/app/engine.js';
import { fingerprint, type Credentials } from '../../src/domain/credentials.js';
import type { ExchangeAdapter, KeyInspection } from '../../src/exchanges/types.js';
import { MemoryCoordination } from '../../providers/memory/coordination.js';
import { MemoryStore } from '../../providers/memory/index.js';
import type { CoordinationRecord, RecordValue, RecordWriteOptions } from '../../providers/coordination.js';
import { ProviderError } from '@keyctl/client/errors';
import { appWorld, CLIENT_IP, liveKeys, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

/** An exchange with no key API: keys are made by hand; every key inspects as trade-only and IP-locked. */
function handMadeKeysExchange(dead: Set<string>): ExchangeAdapter {
  return {
    id: 'bybit',
    capabilities: {
      inspect: true,
      create: false,
      delete: false,
      list: false,
      passphrase: false,
      rotation: 'assisted',
      masterScopes: [],
      boundScopes: [],
    },
    inspect: async (req): Promise<KeyInspection> => ({
      scopes: ['read', 'spot:trade'],
      native: {},
      ips: [CLIENT_IP],
      readOnly: false,
      owner: { uid: req.subaccount ?? '' },
    }),
    createKey: async () => Promise.reject(new Error('no key API')),
    deleteKey: async () => Promise.reject(new Error('no key API')),
    listKeys: async () => [],
    ping: async (req) => {
      if (dead.has(req.key.apiKey)) {
        const { ExchangeError } = await import('@keyctl/client/errors');
        throw new ExchangeError('KEY_REJECTED', 'API key is invalid.');
      }
    },
  } as ExchangeAdapter;
}

describe('createRotationEngine', () => {
  it('runs an assisted rotation through the functions passed in, with its events on the sink given', async () => {
    const dead = new Set<string>();
    w = await appWorld({ adapter: handMadeKeysExchange(dead), grace: 'PT0S' });
    const instructions: string[] = [];
    const made: Credentials = { apiKey: 'FAKE-hand-made-0002', secret: 'FAKE-hand-secret-0002' };
    dead.add(w.keys.arb1!.apiKey); // the operator deleted the old key as asked
    const engine = createRotationEngine(w.deps, {
      owner: 'test:1',
      assisted: { instruct: (text) => instructions.push(text), readKey: async () => made },
    });
    const outcome = await engine.rotate(w.deps.inventory.slots[0]!, { start: true, reason: 'manual' });
    expect(outcome).toMatchObject({ status: 'rotated', newFingerprint: fingerprint(made.apiKey), previousRevoked: true });
    expect(instructions[0]).toContain('Assisted rotation of alpha/arb1');
    expect(w.recorder.of('rotation.started')).toEqual([expect.objectContaining({ mode: 'assisted', reason: 'manual' })]);
    expect(w.recorder.of('rotation.done')).toHaveLength(1);
  });

  it('without assisted I/O an assisted rotation stops with ASSISTED_KEY_REQUIRED and changes nothing', async () => {
    w = await appWorld({ adapter: handMadeKeysExchange(new Set()) });
    const engine = createRotationEngine(w.deps, { owner: 'test:1' });
    await expect(engine.rotate(w.deps.inventory.slots[0]!, { start: true, reason: 'manual' })).rejects.toMatchObject({
      code: 'ASSISTED_KEY_REQUIRED',
    });
    const info = await w.store.describe('bots/alpha/arb1');
    expect(info?.versions).toHaveLength(1);
    expect(w.recorder.of('rotation.failed').map((e) => e.code)).toEqual(['ASSISTED_KEY_REQUIRED']);
  });

  it('takes the lease under the owner given, for the lease length given', async () => {
    w = await appWorld({ adapter: handMadeKeysExchange(new Set()) });
    const engine = createRotationEngine(w.deps, { owner: 'host-a:42', leaseMs: 5000 });
    await engine.rotate(w.deps.inventory.slots[0]!, { start: false, reason: 'manual' });
    expect(w.recorder.of('lease.gained')).toEqual([expect.objectContaining({ name: 'rotate/bots/alpha/arb1', owner: 'host-a:42' })]);
  });
});

/** Memory coordination whose journal write of step `failStep` fails (the store down at that moment) while `failing`. */
class FailingJournal extends MemoryCoordination {
  failing = true;
  constructor(private readonly failStep: string) {
    super();
  }

  override async write<T extends RecordValue>(key: string, value: T, options: RecordWriteOptions): Promise<CoordinationRecord<T>> {
    const step = (value as { step?: unknown } | null)?.step;
    if (this.failing && key.startsWith('journal/') && step === this.failStep) {
      throw new ProviderError('STORE_UNAVAILABLE', 'The coordination store did not answer.');
    }
    return super.write(key, value, options);
  }
}

describe('a rotation whose journal write fails after it created its key', () => {
  it('deletes the key at the exchange and in the store; the re-run then rotates cleanly', async () => {
    const coordination = new FailingJournal('stored');
    w = await appWorld({ sandbox: true, backing: async () => ({ store: new MemoryStore(), coordination }) });
    const engine = createRotationEngine(w.deps, { owner: 'test:1' });
    const slot = w.deps.inventory.slots.find((s) => s.ref === 'alpha/arb1')!;
    const old = w.keys.arb1!.apiKey;
    await expect(engine.rotate(slot, { start: true, reason: 'manual', graceMs: 0 })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      exitCode: 6,
    });
    // Nobody else knew of the key: the journal never named it. It is gone at the exchange, its version destroyed.
    expect(await liveKeys(w, 'arb1')).toEqual([old]);
    const info = await w.store.describe('bots/alpha/arb1');
    expect(info?.versions.filter((v) => !v.destroyed).map((v) => v.stages)).toEqual([['CURRENT']]);
    expect(info?.stages.PENDING).toBeUndefined();
    expect(w.recorder.of('rotation.step').map((e) => e.step)).toEqual(['created', 'discarded']);

    coordination.failing = false;
    const again = await engine.rotate(slot, { start: true, reason: 'manual', graceMs: 0 });
    expect(again).toMatchObject({ status: 'rotated', resumed: true, previousRevoked: true });
    const live = await liveKeys(w, 'arb1');
    expect(live).toHaveLength(1);
    expect(fingerprint(live[0]!)).toBe(again.newFingerprint);
  });
});
