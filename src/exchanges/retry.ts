import { KeyctlError } from '@keyctl/client/errors';

export interface RetryOptions {
  /** Total attempts including the first. */
  attempts: number;
  /** First delay (ms); doubles each attempt. */
  baseDelayMs: number;
  /** Upper bound of one delay (ms). */
  maxDelayMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `fn`, repeating it while it fails with a retryable KeyctlError, with exponential backoff and full jitter
 * (so many keyctl processes hitting one rate limit do not retry in lockstep). Anything else is thrown at once.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const attempts = Math.max(1, Math.floor(options.attempts));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const retryable = err instanceof KeyctlError && err.retryable;
      if (!retryable || attempt >= attempts) throw err;
      const cap = Math.min(options.maxDelayMs ?? 5_000, options.baseDelayMs * 2 ** (attempt - 1));
      // Half fixed, half random: never zero, never in lockstep.
      await sleep(cap / 2 + random() * (cap / 2));
    }
  }
}
