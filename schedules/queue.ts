/**
 * The daemon's work queue: slots ordered by when their next job falls due, the way Vault's database engine keeps its
 * rotation queue. The daemon pops what is due, works on it, and puts it back: on success at its next due time
 * (last + period, moved into the window: see due.ts), on failure after a short backoff that doubles with each
 * consecutive failure, so a broken exchange is retried soon but not hammered.
 *
 * A min-heap keyed by due time (ties in insertion order) with one entry per key; rescheduling a key replaces its
 * entry. Replaced entries are dropped lazily when they reach the top.
 */

export interface QueueEntry<T> {
  key: string;
  /** Epoch milliseconds at which the job falls due. */
  dueAt: number;
  value: T;
  /** Consecutive failures so far (0 after a success or a fresh schedule). */
  failures: number;
}

export interface DueQueueOptions {
  /** Delay before the first retry of a failed job. Default 30 s. */
  backoffMs?: number;
  /** The delay never grows beyond this. Default 15 min. */
  maxBackoffMs?: number;
}

interface Node<T> extends QueueEntry<T> {
  seq: number;
}

export class DueQueue<T> {
  private readonly heap: Array<Node<T>> = [];
  private readonly live = new Map<string, Node<T>>();
  private seq = 0;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(options: DueQueueOptions = {}) {
    this.backoffMs = options.backoffMs ?? 30_000;
    this.maxBackoffMs = options.maxBackoffMs ?? 15 * 60_000;
    if (!(this.backoffMs > 0) || !(this.maxBackoffMs >= this.backoffMs)) {
      throw new RangeError('DueQueue needs backoffMs > 0 and maxBackoffMs >= backoffMs');
    }
  }

  /** Number of queued keys. */
  get size(): number {
    return this.live.size;
  }

  has(key: string): boolean {
    return this.live.has(key);
  }

  /** Queues `key` at `dueAt`, replacing any entry it had. Resets its failure count. */
  schedule(key: string, value: T, dueAt: number): void {
    this.insert({ key, value, dueAt, failures: 0 });
  }

  /** Puts a finished job back at its next due time (last + period, computed by the caller). */
  succeeded(entry: QueueEntry<T>, nextDueAt: number): void {
    this.insert({ key: entry.key, value: entry.value, dueAt: nextDueAt, failures: 0 });
  }

  /**
   * Puts a failed job back after the backoff: `backoffMs` doubled per earlier consecutive failure, at most
   * `maxBackoffMs`. Returns when it will be due again.
   */
  failed(entry: QueueEntry<T>, now: number): number {
    const dueAt = now + this.backoff(entry.failures);
    this.insert({ key: entry.key, value: entry.value, dueAt, failures: entry.failures + 1 });
    return dueAt;
  }

  /** The delay after `failures` earlier consecutive failures. */
  backoff(failures: number): number {
    // Cap the exponent too, so a long outage cannot overflow to Infinity.
    return Math.min(this.maxBackoffMs, this.backoffMs * 2 ** Math.min(failures, 40));
  }

  remove(key: string): boolean {
    return this.live.delete(key);
  }

  /** The earliest entry without removing it. */
  peek(): QueueEntry<T> | undefined {
    this.dropStale();
    const top = this.heap[0];
    return top ? publicEntry(top) : undefined;
  }

  /** When the earliest entry falls due, for the daemon's next wake-up; null when empty. */
  nextDueAt(): number | null {
    return this.peek()?.dueAt ?? null;
  }

  /** Removes and returns every entry due at `now` (dueAt <= now), earliest first. */
  popDue(now: number): Array<QueueEntry<T>> {
    const out: Array<QueueEntry<T>> = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.dueAt > now) return out;
      this.popTop();
      this.live.delete(top.key);
      out.push(publicEntry(top));
    }
  }

  private insert(entry: QueueEntry<T>): void {
    if (!Number.isFinite(entry.dueAt)) throw new RangeError(`dueAt for ${entry.key} must be a finite time`);
    const node: Node<T> = { ...entry, seq: this.seq++ };
    this.live.set(entry.key, node);
    this.heap.push(node);
    this.up(this.heap.length - 1);
    // Replaced entries pile up when one key is rescheduled often without being popped; rebuild now and then.
    if (this.heap.length > 2 * this.live.size + 32) this.rebuild();
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.live.get(this.heap[0]!.key) !== this.heap[0]) this.popTop();
  }

  private rebuild(): void {
    const nodes = [...this.live.values()];
    this.heap.length = 0;
    for (const n of nodes) {
      this.heap.push(n);
      this.up(this.heap.length - 1);
    }
  }

  private popTop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
  }

  private less(a: Node<T>, b: Node<T>): boolean {
    return a.dueAt < b.dueAt || (a.dueAt === b.dueAt && a.seq < b.seq);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i]!, h[parent]!)) return;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < h.length && this.less(h[l]!, h[min]!)) min = l;
      if (r < h.length && this.less(h[r]!, h[min]!)) min = r;
      if (min === i) return;
      [h[i], h[min]] = [h[min]!, h[i]!];
      i = min;
    }
  }
}

function publicEntry<T>(n: Node<T>): QueueEntry<T> {
  return { key: n.key, dueAt: n.dueAt, value: n.value, failures: n.failures };
}
