/** Token renewal for the daemon: renews at 2/3 of the TTL on an unref'd timer, and says when it cannot. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProviderError } from '@keyctl/client/errors';
import { vaultBed, type VaultBed } from './vault-helpers.js';

let bed: VaultBed;
beforeEach(async () => {
  bed = await vaultBed();
});
afterEach(async () => {
  await bed.close();
});

/**
 * A timer stand-in and the renewal's callbacks: records what was scheduled and what renewal reported, and runs a
 * scheduled renewal on demand. A renewal is over once it has scheduled the next one or reported why it stopped (after a
 * successful renew-self the code calls onRenewed and then, synchronously, schedules or reports).
 */
function manualTimers() {
  const pending: Array<{ fn: () => void; ms: number; unrefed: boolean }> = [];
  const renewed: number[] = [];
  const errors: ProviderError[] = [];
  let settled: (() => void) | undefined;
  const settle = () => {
    settled?.();
    settled = undefined;
  };
  return {
    pending,
    renewed,
    errors,
    setTimer: (fn: () => void, ms: number) => {
      const t = { fn, ms, unrefed: false };
      pending.push(t);
      settle();
      return { unref: () => void (t.unrefed = true) };
    },
    clearTimer: () => undefined,
    onRenewed: (ttl: number) => void renewed.push(ttl),
    onError: (e: ProviderError) => {
      errors.push(e);
      settle();
    },
    /** Runs the earliest scheduled renewal and resolves once it is over. */
    async fire(): Promise<void> {
      const timer = pending.shift();
      if (!timer) throw new Error('no renewal is scheduled');
      let giveUp: NodeJS.Timeout | undefined;
      const over = new Promise<void>((resolve, reject) => {
        settled = resolve;
        // One request to a local fake: far longer than any loaded machine needs, but a renewal that ends silently
        // fails here, with a reason, rather than at the test's timeout.
        giveUp = setTimeout(() => reject(new Error('the renewal neither scheduled the next one nor reported an error')), 10_000);
      });
      timer.fn();
      await over.finally(() => clearTimeout(giveUp));
    },
  };
}

describe('vault token renewal', () => {
  it('renews before expiry, again and again, so the token outlives its first TTL', async () => {
    const token = bed.vault.createToken({ policies: [], ttl: 60, renewable: true });
    const store = await bed.store({ VAULT_TOKEN: token });
    const timers = manualTimers();
    await store.startTokenRenewal(timers);
    expect(timers.pending).toHaveLength(1);
    expect(timers.pending[0]).toMatchObject({ ms: 40_000, unrefed: true });
    for (let i = 0; i < 3; i++) {
      bed.clock.now += 40_000;
      await timers.fire();
      // Each renewal schedules the next, again at 2/3 of the renewed TTL.
      expect(timers.pending).toEqual([{ fn: expect.any(Function), ms: 40_000, unrefed: true }]);
    }
    expect(timers.renewed).toEqual([60, 60, 60]);
    expect(timers.errors).toEqual([]);
    bed.clock.now += 30_000; // 150 s after issue: long past the first TTL
    await store.health();
    await store.close();
  });

  it('reports a token that cannot be renewed, so the daemon can alert before it expires', async () => {
    const token = bed.vault.createToken({ policies: [], ttl: 60, renewable: false });
    const store = await bed.store({ VAULT_TOKEN: token });
    const timers = manualTimers();
    await store.startTokenRenewal(timers);
    expect(timers.errors.map((e) => e.code)).toEqual(['VAULT_TOKEN_NOT_RENEWABLE']);
    expect(timers.pending).toHaveLength(0);
  });

  it("stops at the token's max TTL and reports it", async () => {
    const token = bed.vault.createToken({ policies: [], ttl: 60, renewable: true, maxTtl: 90 });
    const store = await bed.store({ VAULT_TOKEN: token });
    const timers = manualTimers();
    const issuedAt = bed.clock.now;
    await store.startTokenRenewal(timers);
    // Run every renewal when it is due, until renewal schedules no more (bounded, in case it never stops).
    for (let i = 0; i < 10 && timers.pending.length > 0; i++) {
      bed.clock.now += timers.pending[0]!.ms;
      await timers.fire();
    }
    // Each renewal gets only what is left before the max TTL (90 s after issue), down to 0 s.
    expect(timers.renewed).toEqual([50, 16, 6, 2, 0]);
    expect(bed.clock.now - issuedAt).toBeLessThan(90_000);
    // Renewal reports it once, as the max TTL: the token was still valid throughout (never VAULT_TOKEN_INVALID).
    expect(timers.errors.map((e) => e.code)).toEqual(['VAULT_TOKEN_NOT_RENEWABLE']);
    // Stopped: nothing is scheduled, and only a scheduled timer ever starts a renewal; Vault saw no other attempt.
    expect(timers.pending).toEqual([]);
    expect(bed.vault.calls.filter((c) => c.path === 'auth/token/renew-self')).toHaveLength(timers.renewed.length);
  });

  it('a root token (no TTL) needs no timer', async () => {
    const store = await bed.store();
    const timers = manualTimers();
    await store.startTokenRenewal(timers);
    expect(timers.pending).toHaveLength(0);
    expect(timers.errors).toEqual([]);
  });
});
