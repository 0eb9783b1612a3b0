import { describe, expect, it } from 'vitest';
import { DueQueue } from '../../schedules/queue.js';

describe('DueQueue', () => {
  it('pops what is due, earliest first, and leaves the rest', () => {
    const q = new DueQueue<string>();
    q.schedule('c', 'C', 300);
    q.schedule('a', 'A', 100);
    q.schedule('b', 'B', 200);
    expect(q.size).toBe(3);
    expect(q.nextDueAt()).toBe(100);
    expect(q.popDue(99)).toEqual([]);
    expect(q.popDue(200).map((e) => e.key)).toEqual(['a', 'b']);
    expect(q.size).toBe(1);
    expect(q.peek()).toEqual({ key: 'c', value: 'C', dueAt: 300, failures: 0 });
  });

  it('keeps insertion order among equal due times', () => {
    const q = new DueQueue<number>();
    for (const k of ['x', 'y', 'z', 'w']) q.schedule(k, 0, 50);
    expect(q.popDue(50).map((e) => e.key)).toEqual(['x', 'y', 'z', 'w']);
  });

  it('rescheduling a key replaces its entry', () => {
    const q = new DueQueue<string>();
    q.schedule('a', 'old', 100);
    q.schedule('b', 'B', 150);
    q.schedule('a', 'new', 200);
    expect(q.size).toBe(2);
    expect(q.popDue(1000)).toEqual([
      { key: 'b', value: 'B', dueAt: 150, failures: 0 },
      { key: 'a', value: 'new', dueAt: 200, failures: 0 },
    ]);
    expect(q.size).toBe(0);
    expect(q.nextDueAt()).toBeNull();
  });

  it('remove drops a key', () => {
    const q = new DueQueue<string>();
    q.schedule('a', 'A', 100);
    q.schedule('b', 'B', 200);
    expect(q.remove('a')).toBe(true);
    expect(q.remove('a')).toBe(false);
    expect(q.has('a')).toBe(false);
    expect(q.popDue(1000).map((e) => e.key)).toEqual(['b']);
  });

  it('re-queues a failure after a backoff that doubles and is capped; a success resets it', () => {
    const q = new DueQueue<string>({ backoffMs: 1000, maxBackoffMs: 5000 });
    q.schedule('a', 'A', 0);
    const delays: number[] = [];
    let now = 0;
    for (let i = 0; i < 5; i++) {
      const [entry] = q.popDue(now);
      expect(entry?.failures).toBe(i);
      const due = q.failed(entry!, now);
      delays.push(due - now);
      now = due;
    }
    expect(delays).toEqual([1000, 2000, 4000, 5000, 5000]);
    const [entry] = q.popDue(now);
    expect(entry?.failures).toBe(5);
    q.succeeded(entry!, now + 30 * 86_400_000);
    expect(q.peek()).toMatchObject({ key: 'a', failures: 0, dueAt: now + 30 * 86_400_000 });
    expect(q.backoff(10_000)).toBe(5000);
  });

  it('a failed job waits behind jobs due before its retry', () => {
    const q = new DueQueue<string>({ backoffMs: 60_000 });
    q.schedule('a', 'A', 0);
    q.schedule('b', 'B', 30_000);
    const [a] = q.popDue(0);
    q.failed(a!, 0);
    expect(q.popDue(60_000).map((e) => e.key)).toEqual(['b', 'a']);
  });

  it('matches a sort of its live entries under many random operations', () => {
    let seed = 42;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const q = new DueQueue<number>();
    const model = new Map<string, number>();
    let popped = 0;
    for (let i = 0; i < 1500; i++) {
      const key = `k${Math.floor(rand() * 50)}`;
      const r = rand();
      if (r < 0.6) {
        const due = Math.floor(rand() * 10_000);
        q.schedule(key, due, due);
        model.set(key, due);
      } else if (r < 0.7) {
        expect(q.remove(key)).toBe(model.delete(key));
      } else {
        const now = Math.floor(rand() * 10_000);
        const got = q.popDue(now);
        const want = [...model.entries()].filter(([, d]) => d <= now).sort((x, y) => x[1] - y[1]);
        expect(got.map((e) => e.dueAt)).toEqual(want.map(([, d]) => d));
        expect(new Set(got.map((e) => e.key))).toEqual(new Set(want.map(([k]) => k)));
        for (const [k] of want) model.delete(k);
        popped += got.length;
      }
      expect(q.size).toBe(model.size);
    }
    expect(popped).toBeGreaterThan(50);
  });

  it('rejects a non-finite due time and bad options', () => {
    const q = new DueQueue<string>();
    expect(() => q.schedule('a', 'A', Number.NaN)).toThrow(RangeError);
    expect(() => new DueQueue({ backoffMs: 0 })).toThrow(RangeError);
    expect(() => new DueQueue({ backoffMs: 10, maxBackoffMs: 5 })).toThrow(RangeError);
  });
});
