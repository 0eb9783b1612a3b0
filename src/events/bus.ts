/**
 * The in-process event bus: emitters (the rotation engine, commands, the daemon) call `emit`; subscribers (the audit
 * log, alerts, metrics) receive each event whose type they asked for.
 *
 * Durable subscribers (the audit log) are awaited and their failure fails `emit`: a step whose audit entry could not
 * be written does not count as done. Every other subscriber runs detached: whatever it throws, synchronously or not,
 * goes to the bus's logger at warn level and never reaches the emitter.
 */
import { silentLogger } from './logger.js';
import type { EventInput, EventSink, EventType, KeyctlEvent, Logger } from './types.js';

/** The event of type `T`. */
export type EventOf<T extends EventType> = Extract<KeyctlEvent, { type: T }>;

export type EventHandler<T extends EventType = EventType> = (event: EventOf<T>) => void | Promise<void>;

export interface SubscribeOptions<T extends EventType = EventType> {
  /** Awaited by `emit`, whose promise rejects if this handler fails. Default false. */
  durable?: boolean;
  /** Only these event types; every type when absent. */
  types?: readonly T[];
}

export interface EventBusOptions {
  /** Where failures of non-durable subscribers are reported. Default: silent. */
  logger?: Logger;
  /** Clock for `time` when an emitter leaves it out (ms since the epoch). Default: Date.now. */
  now?: () => number;
}

interface Subscription {
  handler: (event: KeyctlEvent) => void | Promise<void>;
  durable: boolean;
  types: ReadonlySet<EventType> | undefined;
}

export class EventBus implements EventSink {
  // Replaced, never mutated, so an emit in progress keeps the list it started with.
  private subscriptions: readonly Subscription[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly logger: Logger;
  private readonly now: () => number;

  constructor(options: EventBusOptions = {}) {
    this.logger = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  /** Adds a handler; returns the function that removes it (calling it twice is harmless). */
  subscribe<T extends EventType = EventType>(handler: EventHandler<T>, options: SubscribeOptions<T> = {}): () => void {
    const sub: Subscription = {
      handler: handler as Subscription['handler'],
      durable: options.durable ?? false,
      types: options.types ? new Set<EventType>(options.types) : undefined,
    };
    this.subscriptions = [...this.subscriptions, sub];
    return () => {
      this.subscriptions = this.subscriptions.filter((s) => s !== sub);
    };
  }

  /**
   * Delivers the event to every matching subscriber, in subscription order, stamping `time` when absent. Resolves
   * once every durable subscriber has finished; rejects with the first durable failure (any further ones are logged).
   */
  async emit(input: EventInput): Promise<void> {
    const event = Object.freeze({ ...input, time: input.time ?? new Date(this.now()).toISOString() }) as KeyctlEvent;
    const durable: Array<Promise<void>> = [];
    for (const sub of this.subscriptions) {
      if (sub.types && !sub.types.has(event.type)) continue;
      const run = call(sub.handler, event);
      if (sub.durable) durable.push(run);
      else this.detach(run, event);
    }
    if (durable.length === 0) return;
    const failures = (await Promise.allSettled(durable)).filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length === 0) return;
    for (const extra of failures.slice(1)) {
      this.logger.error('durable event subscriber failed', { type: event.type, error: describe(extra.reason) });
    }
    throw failures[0]!.reason;
  }

  /** Resolves when every non-durable handler started so far has finished (for shutdown and tests). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private detach(run: Promise<void>, event: KeyctlEvent): void {
    const tracked = run.then(
      () => undefined,
      (err: unknown) => {
        try {
          this.logger.warn('event subscriber failed', { type: event.type, error: describe(err) });
        } catch {
          // A logger that throws must not turn a subscriber's failure into the emitter's.
        }
      },
    );
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }
}

/** Runs a handler so that a synchronous throw becomes a rejection like an asynchronous one. */
async function call(handler: Subscription['handler'], event: KeyctlEvent): Promise<void> {
  await handler(event);
}

/** What a log line may say about a failure: its code and message (the logger redacts them), never its stack. */
function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** An EventSink that drops every event: for tests and for library callers that do not want events. */
export class NullSink implements EventSink {
  emit(_event: EventInput): Promise<void> {
    return Promise.resolve();
  }
}

export const nullEvents: EventSink = new NullSink();
