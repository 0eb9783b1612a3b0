/**
 * The one CoordinationStore contract suite (providers/coordination.ts). Every backing runs it through a small
 * per-provider test file that opens a fresh store; the cases are written once, here.
 *
 * Time: `advance(ms)` makes `ms` of the STORE's time pass (an injected store clock, a fake server's clock). Without
 * it the suite really waits, so a real server with whole-second TTLs needs `ttlMs` of about 2000.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CoordinationStore, Lease, RecordValue } from '../../providers/coordination.js';
import { FencedError, KeyctlError, LockedError } from '@keyctl/client/errors';
import { caught } from '../helpers/caught.js';

export interface CoordinationHarness {
  coordination: CoordinationStore;
  /** Makes `ms` of the store's time pass. Omitted: the suite waits for real. */
  advance?(ms: number): void | Promise<void>;
  /**
   * A second handle on the same backing, as another process would open it (a new client, a new instance on the same
   * directory). Omitted: the suite uses `coordination` for both sides.
   */
  other?(): Promise<CoordinationStore>;
  /** The store's true clock, when the test knows it (an injected clock): `now()` must follow it, not the caller's. */
  storeClock?(): number;
  cleanup(): Promise<void>;
}

export interface CoordinationSuiteOptions {
  /** Shortest lease TTL the backing honours, ms (default 1000). */
  ttlMs?: number;
  /** How far `now()` may lag the true store clock, ms (a server stamping whole seconds: 1000). Default 0. */
  clockResolutionMs?: number;
  /** Concurrent acquirers / writers in the race cases (default 8). */
  racers?: number;
}

export function coordinationContract(name: string, open: () => Promise<CoordinationHarness>, options: CoordinationSuiteOptions = {}): void {
  const ttl = options.ttlMs ?? 1000;
  const resolution = options.clockResolutionMs ?? 0;
  const racers = options.racers ?? 8;

  describe(`CoordinationStore contract: ${name}`, () => {
    let h: CoordinationHarness;
    let c: CoordinationStore;
    let peer: CoordinationStore;
    let k: (s: string) => string;
    const advance = async (ms: number) => {
      if (h.advance) await h.advance(ms);
      else await new Promise((r) => setTimeout(r, ms));
    };
    /** Past the expiry of a lease taken for `ttl` (plus the clock's resolution). */
    const expire = () => advance(ttl * 2 + resolution + 100);

    beforeEach(async () => {
      h = await open();
      c = h.coordination;
      peer = h.other ? await h.other() : c;
      const prefix = `t${randomUUID().slice(0, 8)}`;
      k = (s) => `${prefix}/${s}`;
    });
    afterEach(async () => {
      if (peer !== c) await peer.close();
      await c.close();
      await h.cleanup();
    });

    describe('clock', () => {
      it('now() is the store clock and moves with it', async () => {
        const before = await c.now();
        expect(Number.isFinite(before)).toBe(true);
        if (h.storeClock) {
          const truth = h.storeClock();
          expect(before).toBeLessThanOrEqual(truth);
          expect(before).toBeGreaterThanOrEqual(truth - resolution);
        }
        await advance(ttl * 3);
        const after = await c.now();
        expect(after - before).toBeGreaterThanOrEqual(ttl * 3 - resolution);
      });

      it("a lease's expiry is the store's now() plus its TTL", async () => {
        const before = await c.now();
        const lease = await c.acquire(k('clock'), 'host-a', ttl * 30);
        const after = await c.now();
        const expiry = Date.parse(lease.expiresAt);
        expect(expiry).toBeGreaterThanOrEqual(before + ttl * 30 - resolution);
        expect(expiry).toBeLessThanOrEqual(after + ttl * 30 + resolution);
        await c.release(lease);
      });
    });

    describe('leases', () => {
      it('acquire, renew and release', async () => {
        const name = k('rotate/bots/a/s1');
        const lease = await c.acquire(name, 'host-a', ttl);
        expect(lease).toMatchObject({ name, owner: 'host-a', tookOver: false });
        expect(lease.previousOwner).toBeUndefined();
        expect(Number.isInteger(lease.fence) && lease.fence > 0).toBe(true);
        expect(lease.token).not.toBe('');
        const err = await caught(peer.acquire(name, 'host-b', ttl));
        expect(err).toBeInstanceOf(LockedError);
        expect(err.code).toBe('LOCKED');
        expect(err.message).toContain('host-a');

        const renewed = await c.renew(lease, ttl * 20);
        expect(renewed.fence).toBe(lease.fence);
        expect(renewed.token).toBe(lease.token);
        expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.parse(lease.expiresAt));
        // Past the first TTL, the renewal keeps it held.
        await advance(ttl + resolution + 200);
        expect((await caught(peer.acquire(name, 'host-b', ttl))).code).toBe('LOCKED');

        await c.release(renewed);
        const next = await peer.acquire(name, 'host-b', ttl);
        expect(next.tookOver).toBe(false);
        await peer.release(next);
      });

      it(`exactly one of ${racers} concurrent acquirers wins`, async () => {
        const name = k('race');
        const stores = [c, peer];
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, i) => stores[i % 2]!.acquire(name, `racer-${i}`, 60_000)),
        );
        const won = results.filter((r): r is PromiseFulfilledResult<Lease> => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) {
          if (r.status === 'rejected') expect((r.reason as KeyctlError).code).toBe('LOCKED');
        }
        // Every loser is told who won.
        const winner = won[0]!.value;
        expect(((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason as Error).message).toContain(winner.owner);
        await c.release(winner);
      });

      it('exactly one of concurrent acquirers takes over an expired lease', async () => {
        const name = k('race-takeover');
        const first = await c.acquire(name, 'host-a', ttl);
        await expire();
        const stores = [c, peer];
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, i) => stores[i % 2]!.acquire(name, `racer-${i}`, 60_000)),
        );
        const won = results.filter((r): r is PromiseFulfilledResult<Lease> => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        expect(won[0]!.value).toMatchObject({ tookOver: true, previousOwner: 'host-a' });
        expect(won[0]!.value.fence).toBeGreaterThan(first.fence);
        await c.release(won[0]!.value);
      });

      it('an expired lease is taken over with a strictly greater fence', async () => {
        const name = k('takeover');
        const first = await c.acquire(name, 'host-a', ttl);
        await expire();
        const second = await peer.acquire(name, 'host-b', ttl * 30);
        expect(second).toMatchObject({ tookOver: true, previousOwner: 'host-a', owner: 'host-b' });
        expect(second.fence).toBeGreaterThan(first.fence);
        expect(second.token).not.toBe(first.token);
        await peer.release(second);
      });

      it('the broken holder cannot renew (LockedError), and its release never frees the new holder', async () => {
        const name = k('lost');
        const first = await c.acquire(name, 'host-a', ttl);
        await expire();
        const second = await peer.acquire(name, 'host-b', ttl * 30);
        const err = await caught(c.renew(first, ttl));
        expect(err).toBeInstanceOf(LockedError);
        expect(err.code).toBe('LOCKED');
        await c.release(first); // a no-op
        expect((await caught(c.acquire(name, 'host-c', ttl))).code).toBe('LOCKED');
        // The new holder still has it, with its fence.
        const renewed = await peer.renew(second, ttl * 30);
        expect(renewed.fence).toBe(second.fence);
        await peer.release(renewed);
      });

      it('fences are never reused: each new holder gets a greater one, also after a release', async () => {
        const name = k('fences');
        const seen: number[] = [];
        for (const owner of ['a', 'b', 'c']) {
          const lease = await (owner === 'b' ? peer : c).acquire(name, owner, ttl);
          seen.push(lease.fence);
          await (owner === 'b' ? peer : c).release(lease);
        }
        const taken = await c.acquire(name, 'd', ttl);
        seen.push(taken.fence);
        await expire();
        const over = await peer.acquire(name, 'e', ttl);
        seen.push(over.fence);
        for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThan(seen[i - 1]!);
        await peer.release(over);
      });

      it('leases of different names are independent; names may contain "/"', async () => {
        const a = await c.acquire(k('rotate/bots/x/s1'), 'host-a', ttl * 30);
        const b = await peer.acquire(k('rotate/bots/x/s2'), 'host-b', ttl * 30);
        expect(b.tookOver).toBe(false);
        await c.release(a);
        await peer.release(b);
      });

      it('release of a lease twice is harmless', async () => {
        const name = k('twice');
        const lease = await c.acquire(name, 'host-a', ttl);
        await c.release(lease);
        await c.release(lease);
        const again = await peer.acquire(name, 'host-b', ttl);
        expect(again.fence).toBeGreaterThan(lease.fence);
        await peer.release(again);
      });
    });

    describe('seize (the kill switch breaks a lease)', () => {
      it('takes a live lease at once with a greater fence: the holder can no longer renew, write or release it', async () => {
        const name = k('rotate/bots/a/seized');
        const key = k('journal/a/seized');
        const held = await c.acquire(name, 'host-a', ttl * 30);
        const rec = await c.write(key, { step: 'started' }, { expect: null, fence: held });
        // Not expired: acquire is refused, seize is not.
        expect((await caught(peer.acquire(name, 'host-b', ttl))).code).toBe('LOCKED');
        const seized = await peer.seize(name, 'killer', ttl * 30);
        expect(seized).toMatchObject({ name, owner: 'killer', tookOver: true, previousOwner: 'host-a' });
        expect(seized.fence).toBeGreaterThan(held.fence);
        expect(seized.token).not.toBe(held.token);

        const renewErr = await caught(c.renew(held, ttl * 30));
        expect(renewErr).toBeInstanceOf(LockedError);
        // The record is untouched since host-a wrote it: only the fence stops host-a.
        expect((await caught(c.write(key, { step: 'stored' }, { expect: rec.revision, fence: held }))).code).toBe('FENCED');
        expect((await caught(c.delete(key, { fence: held }))).code).toBe('FENCED');
        expect((await peer.read(key))?.value).toEqual({ step: 'started' });
        await c.release(held); // a no-op: the lease is the seizer's
        const err = await caught(c.acquire(name, 'host-c', ttl));
        expect(err.code).toBe('LOCKED');
        expect(err.message).toContain('killer');

        // The seizer holds it like any lease: renews, writes and deletes under its fence, releases.
        const renewed = await peer.renew(seized, ttl * 30);
        expect(renewed.fence).toBe(seized.fence);
        await peer.delete(key, { expect: rec.revision, fence: renewed });
        expect(await c.read(key)).toBeNull();
        await peer.release(renewed);
        const next = await c.acquire(name, 'host-c', ttl);
        expect(next.fence).toBeGreaterThan(seized.fence);
        await c.release(next);
      });

      it('of a free or released lease is an acquire (tookOver false), and never reuses a fence', async () => {
        const name = k('rotate/bots/a/free');
        const first = await c.seize(name, 'killer-1', ttl);
        expect(first).toMatchObject({ owner: 'killer-1', tookOver: false });
        expect(first.previousOwner).toBeUndefined();
        await c.release(first);
        const second = await peer.acquire(name, 'host-a', ttl);
        expect(second.fence).toBeGreaterThan(first.fence);
        await peer.release(second);
        const third = await peer.seize(name, 'killer-2', ttl);
        expect(third).toMatchObject({ tookOver: false });
        expect(third.fence).toBeGreaterThan(second.fence);
        await peer.release(third);
      });

      it('of an expired lease says whose it was, like a takeover', async () => {
        const name = k('rotate/bots/a/expired');
        const first = await c.acquire(name, 'host-a', ttl);
        await expire();
        const seized = await peer.seize(name, 'killer', ttl * 30);
        expect(seized).toMatchObject({ tookOver: true, previousOwner: 'host-a' });
        expect(seized.fence).toBeGreaterThan(first.fence);
        await peer.release(seized);
      });

      it(`${racers} concurrent seizers: distinct fences, and only the last one holds the lease`, async () => {
        const name = k('seize-race');
        const held = await c.acquire(name, 'host-a', 60_000);
        const stores = [c, peer];
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, i) => stores[i % 2]!.seize(name, `killer-${i}`, 60_000)),
        );
        const won = results.filter((r): r is PromiseFulfilledResult<Lease> => r.status === 'fulfilled').map((r) => r.value);
        expect(won.length).toBeGreaterThan(0);
        // A seizer that kept losing the store's compare-and-set says so; it never gets a lease that is not its own.
        for (const r of results) if (r.status === 'rejected') expect((r.reason as KeyctlError).code).toBe('LOCKED');
        const fences = won.map((l) => l.fence);
        expect(new Set(fences).size).toBe(fences.length);
        for (const f of fences) expect(f).toBeGreaterThan(held.fence);
        const last = won.reduce((a, b) => (b.fence > a.fence ? b : a));
        for (const lease of [held, ...won]) {
          if (lease === last) continue;
          expect((await caught(c.renew(lease, 60_000))).code, `renew of fence ${lease.fence}`).toBe('LOCKED');
        }
        await c.release(await c.renew(last, 60_000));
      });
    });

    describe('fencing', () => {
      it("a broken holder's fenced write is refused though the new holder has not written yet", async () => {
        const name = k('rotate/slot');
        const key = k('journal/slot');
        const first = await c.acquire(name, 'host-a', ttl);
        const rec = await c.write(key, { step: 1 }, { expect: null, fence: first });
        await expire();
        const second = await peer.acquire(name, 'host-b', ttl * 30);
        // The record is untouched since host-a wrote it, so only the fence can stop host-a: CAS alone would pass.
        const err = await caught(c.write(key, { step: 2 }, { expect: rec.revision, fence: first }));
        expect(err).toBeInstanceOf(FencedError);
        expect(err.code).toBe('FENCED');
        expect((await peer.read(key))?.value).toEqual({ step: 1 });
        // Nor may it create a new record, or delete one, under its old fence.
        expect((await caught(c.write(k('journal/other'), { step: 1 }, { expect: null, fence: first }))).code).toBe('FENCED');
        expect(await peer.read(k('journal/other'))).toBeNull();
        expect((await caught(c.delete(key, { fence: first }))).code).toBe('FENCED');
        expect((await caught(c.delete(key, { expect: rec.revision, fence: first }))).code).toBe('FENCED');
        expect((await peer.read(key))?.revision).toBe(rec.revision);
        // The new holder writes and deletes under its own fence.
        const mine = await peer.write(key, { step: 2 }, { expect: rec.revision, fence: second });
        await peer.delete(key, { expect: mine.revision, fence: second });
        expect(await peer.read(key)).toBeNull();
        await peer.release(second);
      });

      it('the fence still holds after the new holder released the lease', async () => {
        const name = k('rotate/slot2');
        const key = k('journal/slot2');
        const first = await c.acquire(name, 'host-a', ttl);
        await expire();
        const second = await peer.acquire(name, 'host-b', ttl);
        await peer.release(second);
        expect((await caught(c.write(key, { late: true }, { expect: null, fence: first }))).code).toBe('FENCED');
        expect(await peer.read(key)).toBeNull();
      });

      it('the current holder writes with its fence, also after renewals', async () => {
        const name = k('rotate/slot3');
        const key = k('journal/slot3');
        const lease = await c.acquire(name, 'host-a', ttl * 30);
        const renewed = await c.renew(lease, ttl * 30);
        const r1 = await c.write(key, { step: 1 }, { expect: null, fence: lease });
        const r2 = await c.write(key, { step: 2 }, { expect: r1.revision, fence: renewed });
        await c.delete(key, { expect: r2.revision, fence: renewed });
        await c.release(renewed);
      });
    });

    describe('records', () => {
      it('create with expect null, update with the revision, read back', async () => {
        const key = k('journal/bots/alpha/arb1');
        expect(await c.read(key)).toBeNull();
        const created = await c.write(key, { step: 'created', n: 1 }, { expect: null });
        expect(created).toMatchObject({ key, value: { step: 'created', n: 1 } });
        expect(typeof created.revision).toBe('string');
        expect(Number.isNaN(Date.parse(created.updatedAt))).toBe(false);
        const read = await peer.read(key);
        expect(read).toEqual(created);
        const updated = await peer.write(key, { step: 'promoted', n: 2 }, { expect: created.revision });
        expect(updated.revision).not.toBe(created.revision);
        expect((await c.read(key))?.value).toEqual({ step: 'promoted', n: 2 });
      });

      it('stale guards are ConflictError and change nothing', async () => {
        const key = k('cas');
        const r1 = await c.write(key, 'one', { expect: null });
        expect((await caught(c.write(key, 'again', { expect: null }))).code).toBe('CONFLICT');
        const r2 = await c.write(key, 'two', { expect: r1.revision });
        expect((await caught(peer.write(key, 'stale', { expect: r1.revision }))).code).toBe('CONFLICT');
        expect((await caught(c.write(k('missing'), 'x', { expect: r2.revision }))).code).toBe('CONFLICT');
        expect(await c.read(k('missing'))).toBeNull();
        expect(await c.read(key)).toMatchObject({ value: 'two', revision: r2.revision });
      });

      it('a revision is never reused, even after a delete and re-create', async () => {
        const key = k('aba');
        const r1 = await c.write(key, 'v', { expect: null });
        await c.delete(key);
        const r2 = await c.write(key, 'v', { expect: null });
        expect(r2.revision).not.toBe(r1.revision);
        // A writer still holding the first revision must not overwrite the re-created record.
        expect((await caught(peer.write(key, 'old', { expect: r1.revision }))).code).toBe('CONFLICT');
      });

      it(`exactly one of ${racers} concurrent creators wins`, async () => {
        const key = k('create-race');
        const stores = [c, peer];
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, i) => stores[i % 2]!.write(key, { writer: i }, { expect: null })),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect((r.reason as KeyctlError).code).toBe('CONFLICT');
        const winner = (won[0] as PromiseFulfilledResult<{ value: RecordValue }>).value.value;
        expect((await c.read(key))?.value).toEqual(winner);
      });

      it(`exactly one of ${racers} concurrent updaters from one revision wins`, async () => {
        const key = k('update-race');
        const base = await c.write(key, { writer: -1 }, { expect: null });
        const stores = [c, peer];
        const results = await Promise.allSettled(
          Array.from({ length: racers }, (_, i) => stores[i % 2]!.write(key, { writer: i }, { expect: base.revision })),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect((r.reason as KeyctlError).code).toBe('CONFLICT');
        expect((await c.read(key))?.value).toEqual((won[0] as PromiseFulfilledResult<{ value: RecordValue }>).value.value);
      });

      it('delete with and without expect', async () => {
        const key = k('del');
        await c.delete(key); // missing: fine
        expect((await caught(c.delete(key, { expect: 'no-such-revision' }))).code).toBe('CONFLICT');
        const r1 = await c.write(key, 1, { expect: null });
        const r2 = await c.write(key, 2, { expect: r1.revision });
        expect((await caught(peer.delete(key, { expect: r1.revision }))).code).toBe('CONFLICT');
        expect((await c.read(key))?.value).toBe(2);
        await peer.delete(key, { expect: r2.revision });
        expect(await c.read(key)).toBeNull();
        await c.write(key, 3, { expect: null });
        await c.delete(key);
        expect(await peer.read(key)).toBeNull();
        expect(await c.list(k(''))).toEqual([]);
      });

      it('list(prefix) is sorted, exact-prefix, and skips deleted records', async () => {
        const keys = ['handover/b/s1', 'handover/a/s2', 'handover/a/s1', 'handover-x/a', 'journal/a/s1', 'handover/a/s10'];
        for (const key of keys) await c.write(k(key), key, { expect: null });
        await c.write(k('handover/zz'), 'gone', { expect: null });
        await c.delete(k('handover/zz'));
        expect(await peer.list(k('handover/'))).toEqual(['handover/a/s1', 'handover/a/s10', 'handover/a/s2', 'handover/b/s1'].map(k));
        expect(await c.list(k('handover/a/s1'))).toEqual([k('handover/a/s1'), k('handover/a/s10')]);
        expect(await c.list(k('handover'))).toEqual(
          ['handover-x/a', 'handover/a/s1', 'handover/a/s10', 'handover/a/s2', 'handover/b/s1'].map(k),
        );
        expect(await c.list(k('nothing/'))).toEqual([]);
        expect(await c.list(k(''))).toEqual([...keys.map(k)].sort());
      });

      it('keys with "/", dots, spaces and other characters round-trip', async () => {
        const odd = ['a/b/c', 'a//b', 'trailing/', 'dots/../x', 'spaces and ünïcode', 'pct%2Fslash', '_internal-looking'];
        for (const key of odd) await c.write(k(key), key, { expect: null });
        for (const key of odd) expect((await peer.read(k(key)))?.value).toBe(key);
        expect(await peer.list(k(''))).toEqual(odd.map(k).sort());
      });

      it('values round-trip as JSON', async () => {
        const value: RecordValue = {
          s: 'text with "quotes" and \\ and \n',
          n: 1.5,
          neg: -3,
          t: true,
          f: false,
          z: null,
          list: [1, 'two', { three: [3] }, []],
          nested: { deep: { deeper: {} } },
        };
        await c.write(k('json'), value, { expect: null });
        expect((await peer.read(k('json')))?.value).toEqual(value);
        for (const scalar of ['plain', 0, false, null, [] as RecordValue]) {
          const key = k(`scalar-${JSON.stringify(scalar)}`);
          await c.write(key, scalar, { expect: null });
          expect((await peer.read(key))?.value).toEqual(scalar);
        }
      });

      it("updatedAt is the store's time of the write", async () => {
        const before = await c.now();
        const r = await c.write(k('stamp'), 1, { expect: null });
        const after = await c.now();
        expect(Date.parse(r.updatedAt)).toBeGreaterThanOrEqual(before - resolution);
        expect(Date.parse(r.updatedAt)).toBeLessThanOrEqual(after + resolution);
        expect((await c.read(k('stamp')))?.updatedAt).toBe(r.updatedAt);
      });
    });
  });
}
