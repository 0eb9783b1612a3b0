/** Token renewal for the daemon: renews at 2/3 of the TTL on an unref'd timer, and says when it cannot. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProviderError } from '../../src/errors.js';
import { vaultBed, type VaultBed } from './vault-helpers.js';

let bed: VaultBed;
beforeEach(async () => {
  bed = await vaultBed();
});
afterEach(async () => {
  await bed.close();
});

/** A timer stand-in: records what was scheduled, runs it on demand. */
function manualTimers() {
  const pending: Array<{ fn: () => void; ms: number; unrefed: boolean }> = [];
  return {
    pending,
    setTimer: (fn: () => void, ms: number) => {
      const t = { fn, ms, unrefed: false };
      pending.push(t);
      return { unref: () => void (t.unrefed = true) };
    },
    clearTimer: () => undefined,
    async fire(): Promise<void> {
      pending.shift()!.fn();
      await new Promise((r) => setTimeout(r, 50));
    },
  };
}

describe('vault token renewal', () => {
  it('renews before expiry, again and again, so the token outlives its first TTL', async () => {
    const token = bed.vault.createToken({ policies: [], ttl: 60, renewable: true });
    const store = await bed.store({ VAULT_TOKEN: token });
    const timers = manualTimers();
    const renewed: number[] = [];
    await store.startTokenRenewal({ setTimer: timers.setTimer, clearTimer: timers.clearTimer, onRenewed: (ttl) => renewed.push(ttl) });
    expect(timers.pending).toHaveLength(1);
    expect(timers.pending[0]).toMatchObject({ ms: 40_000, unrefed: true });
    for (let i = 0; i < 3; i++) {
      bed.clock.now += 40_000;
      await timers.fire();
    }
    expect(renewed).toEqual([60, 60, 60]);
    bed.clock.now += 30_000; // 150 s after issue: long past the first TTL
    await store.health();
    await store.close();
  });

  it('reports a token that cannot be renewed, so the daemon can alert before it expires', async () => {
    const token = bed.vault.createToken({ policies: [], ttl: 60, renewable: false });
    const store = await bed.store({ VAULT_TOKEN: token });
    const errors: ProviderError[] = [];
    const timers = manualTimers();
    await store.startTokenRenewal({ setTimer: timers.setTimer, onError: (e) => errors.push(e) });
    expect(errors.map((e) => e.code)).toEqual(['VAULT_TOKEN_NOT_RENEWABLE']);
    expect(timers.pending).toHaveLength(0);
  });

  it('stops at the token\'s max TTL and reports it', async () => {
    const token = bed.vault.createToken({ policies: [], ttl: 60, renewable: true, maxTtl: 90 });
    const store = await bed.store({ VAULT_TOKEN: token });
    const errors: string[] = [];
    const timers = manualTimers();
    await store.startTokenRenewal({ setTimer: timers.setTimer, onError: (e) => errors.push(e.code) });
    bed.clock.now += 40_000;
    await timers.fire(); // renewed to the 50 s left before the max TTL
    expect(timers.pending[0]?.ms).toBe(Math.floor(50 * (2 / 3) * 1000));
    bed.clock.now += 50_000;
    await timers.fire(); // max TTL reached: Vault grants 0 s
    expect(errors.length).toBe(1);
  });

  it('a root token (no TTL) needs no timer', async () => {
    const store = await bed.store();
    const timers = manualTimers();
    await store.startTokenRenewal({ setTimer: timers.setTimer });
    expect(timers.pending).toHaveLength(0);
  });
});
