import { describe, expect, it } from 'vitest';
import { mapConcurrent } from '../../src/app/concurrency.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapConcurrent', () => {
  it('keeps the order of the items whatever order the work finishes in, and never runs more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapConcurrent([50, 10, 40, 0, 30, 20, 5], 3, async (ms, i) => {
      running += 1;
      most = Math.max(most, running);
      await tick(ms);
      running -= 1;
      return `${i}:${ms}`;
    });
    expect(out).toEqual(['0:50', '1:10', '2:40', '3:0', '4:30', '5:20', '6:5']);
    expect(most).toBe(3);
  });

  it('runs everything at once with Infinity and one at a time with 1', async () => {
    const order: string[] = [];
    await mapConcurrent(['a', 'b'], 1, async (x) => {
      order.push(`start ${x}`);
      await tick(5);
      order.push(`end ${x}`);
    });
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b']);
    let running = 0;
    let most = 0;
    await mapConcurrent([1, 2, 3, 4, 5], Number.POSITIVE_INFINITY, async () => {
      most = Math.max(most, ++running);
      await tick(5);
      running -= 1;
    });
    expect(most).toBe(5);
    expect(await mapConcurrent([], 4, async () => 1)).toEqual([]);
  });

  it('after a rejection starts nothing more, lets what runs finish, then rejects with the first error', async () => {
    const log: string[] = [];
    const run = mapConcurrent(['slow', 'bad', 'next', 'later'], 2, async (x) => {
      log.push(`start ${x}`);
      if (x === 'bad') {
        await tick(5);
        throw new Error('FAKE failure of bad');
      }
      await tick(40);
      log.push(`end ${x}`);
    }).catch((err: unknown) => {
      log.push('rejected');
      throw err;
    });
    await expect(run).rejects.toThrow('FAKE failure of bad');
    expect(log).toEqual(['start slow', 'start bad', 'end slow', 'rejected']);
  });

  it('refuses a limit that is not a whole number of at least 1', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await expect(mapConcurrent([1], bad, async (x) => x)).rejects.toThrow(RangeError);
    }
  });
});
