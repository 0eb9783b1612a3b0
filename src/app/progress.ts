/**
 * How a use case that works through many slots reports as it goes: the CLI turns it into a line per slot (and a live
 * status line on a terminal); the daemon into logs and metrics. Every callback is optional.
 */
export interface ProgressListener<R> {
  /** The selection is made: these refs will be worked on, in this order. */
  planned?(refs: readonly string[]): void;
  /** Work on one ref started. */
  started?(ref: string): void;
  /** Work on one ref finished (done or failed). */
  finished?(ref: string, result: R): void;
}

/** One slot's failure, as data: the use case goes on with the next slot. */
export interface Failure {
  ref: string;
  code: string;
  message: string;
  hint?: string;
}
