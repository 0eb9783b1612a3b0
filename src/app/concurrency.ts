/**
 * How use cases work on many slots at once: a bounded number at a time, results in the order of the input. What
 * bounds the pace at an exchange is its rate limit (src/exchanges/rate-limit.ts), not this: this only keeps enough
 * slots in flight to reach that limit without opening hundreds of requests at once.
 */

/**
 * Slots worked on at once (rotation, verification): with ~200 ms a call and ~5 calls a slot, 8 keep a 5-a-second
 * endpoint busy with room to spare.
 */
export const SLOT_CONCURRENCY = 8;

/** Store reads at once (key list, schedule): a network store (Vault, AWS) answers in tens of milliseconds each. */
export const STORE_CONCURRENCY = 16;

/**
 * Runs `work` on every item, at most `limit` at once (Infinity: all at once), and resolves to the results in the items' order. A `work` that
 * rejects stops new items from starting; its error is thrown once every item already started has settled, so nothing
 * keeps running behind the caller's back. Failures that must not stop the others are caught inside `work`.
 */
export async function mapConcurrent<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const index = next++;
      try {
        results[index] = await work(items[index]!, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  if (!(limit >= 1) || (Number.isFinite(limit) && !Number.isInteger(limit))) {
    throw new RangeError(`concurrency must be a whole number of at least 1, not ${limit}`);
  }
  const workers = Math.min(limit, items.length);
  await Promise.all(Array.from({ length: workers }, worker));
  if (failure) throw failure.error;
  return results;
}
