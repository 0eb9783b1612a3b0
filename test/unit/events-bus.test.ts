import { describe, expect, expectTypeOf, it } from 'vitest';
import { EventBus, nullEvents, NullSink } from '../../src/events/bus.js';
import type { KeyctlEvent, Logger, RotationStarted, RotationStep } from '../../src/events/types.js';

const T0 = Date.parse('2025-03-01T10:00:00Z');

const started = {
  type: 'rotation.started',
  ref: 'alpha/arb1',
  rotationId: 'r1',
  mode: 'automatic',
  reason: 'schedule',
} as const;
const swept = { type: 'key.swept', ref: 'alpha/arb1', fingerprint: 'fp1', label: 'keyctl-r0', outcome: 'ok' } as const;

interface Line {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

function recordingLogger(lines: Line[]): Logger {
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push({ level, message, fields });
    };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('EventBus', () => {
  it('stamps time from its clock when absent and keeps a given one', async () => {
    const bus = new EventBus({ now: () => T0 });
    const seen: KeyctlEvent[] = [];
    bus.subscribe((e) => void seen.push(e));
    await bus.emit(started);
    await bus.emit({ ...started, time: '2020-01-01T00:00:00.000Z' });
    expect(seen.map((e) => e.time)).toEqual(['2025-03-01T10:00:00.000Z', '2020-01-01T00:00:00.000Z']);
    expect(seen[0]).toEqual({ ...started, time: '2025-03-01T10:00:00.000Z' });
  });

  it('calls every matching subscriber in subscription order, honouring type filters', async () => {
    const bus = new EventBus();
    const calls: string[] = [];
    bus.subscribe((e) => void calls.push(`all:${e.type}`));
    bus.subscribe((e) => void calls.push(`swept:${e.type}`), { types: ['key.swept'] });
    bus.subscribe((e) => void calls.push(`durable:${e.type}`), { durable: true, types: ['rotation.started', 'key.swept'] });
    await bus.emit(started);
    await bus.emit(swept);
    expect(calls).toEqual(['all:rotation.started', 'durable:rotation.started', 'all:key.swept', 'swept:key.swept', 'durable:key.swept']);
  });

  it('hands subscribers a frozen copy, so one cannot change what the next sees', async () => {
    const bus = new EventBus();
    const input = { ...started };
    let got: KeyctlEvent | undefined;
    bus.subscribe((e) => void (got = e));
    await bus.emit(input);
    expect(Object.isFrozen(got)).toBe(true);
    expect(input).not.toHaveProperty('time');
  });

  it('stops delivering to an unsubscribed handler; unsubscribing twice is harmless', async () => {
    const bus = new EventBus();
    let n = 0;
    const off = bus.subscribe(() => void n++);
    await bus.emit(started);
    off();
    off();
    await bus.emit(started);
    expect(n).toBe(1);
  });

  it('a handler unsubscribing during an emit does not make the others miss that event', async () => {
    const bus = new EventBus();
    const calls: string[] = [];
    const offB = bus.subscribe(() => void calls.push('b'));
    bus.subscribe(() => {
      calls.push('a');
      offB();
    });
    bus.subscribe(() => void calls.push('c'));
    await bus.emit(started);
    expect(calls).toEqual(['b', 'a', 'c']);
  });

  it('resolves emit only once durable subscribers have finished', async () => {
    const bus = new EventBus();
    const gate = deferred();
    let written = false;
    bus.subscribe(
      async () => {
        await gate.promise;
        written = true;
      },
      { durable: true },
    );
    let settled = false;
    const emitted = bus.emit(started).then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(settled).toBe(false);
    gate.resolve();
    await emitted;
    expect(written).toBe(true);
  });

  it('rejects emit with a durable subscriber error, sync or async, and still delivers to the others', async () => {
    const bus = new EventBus();
    const boom = new Error('audit write failed');
    const others: string[] = [];
    const off = bus.subscribe(
      () => {
        throw boom;
      },
      { durable: true },
    );
    bus.subscribe(() => void others.push('after'));
    await expect(bus.emit(started)).rejects.toBe(boom);
    off();
    bus.subscribe(() => Promise.reject(boom), { durable: true });
    await expect(bus.emit(started)).rejects.toBe(boom);
    expect(others).toEqual(['after', 'after']);
  });

  it('with several durable failures rejects with the first and logs the others at error', async () => {
    const lines: Line[] = [];
    const bus = new EventBus({ logger: recordingLogger(lines) });
    const first = new Error('first');
    bus.subscribe(() => Promise.reject(first), { durable: true });
    bus.subscribe(() => Promise.reject(Object.assign(new Error('second'), { code: 'AUDIT_IO' })), { durable: true });
    await expect(bus.emit(started)).rejects.toBe(first);
    expect(lines).toEqual([
      { level: 'error', message: 'durable event subscriber failed', fields: { type: 'rotation.started', error: 'AUDIT_IO: second' } },
    ]);
  });

  it('isolates non-durable subscribers: their errors go to the logger at warn, never to the emitter', async () => {
    const lines: Line[] = [];
    const bus = new EventBus({ logger: recordingLogger(lines) });
    bus.subscribe(() => {
      throw new Error('sync alert failure');
    });
    bus.subscribe(async () => {
      await Promise.resolve();
      throw Object.assign(new Error('webhook 500'), { code: 'ALERT_HTTP' });
    });
    bus.subscribe(() => Promise.reject('not an Error'));
    await expect(bus.emit(swept)).resolves.toBeUndefined();
    await bus.flush();
    // Detached handlers settle in whatever order their promises do: the set of lines matters, not their order.
    expect(lines).toHaveLength(3);
    expect(lines).toEqual(
      expect.arrayContaining([
        { level: 'warn', message: 'event subscriber failed', fields: { type: 'key.swept', error: 'sync alert failure' } },
        { level: 'warn', message: 'event subscriber failed', fields: { type: 'key.swept', error: 'ALERT_HTTP: webhook 500' } },
        { level: 'warn', message: 'event subscriber failed', fields: { type: 'key.swept', error: 'not an Error' } },
      ]),
    );
  });

  it('does not wait for non-durable subscribers; flush does', async () => {
    const bus = new EventBus();
    const gate = deferred();
    let done = false;
    bus.subscribe(async () => {
      await gate.promise;
      done = true;
    });
    await bus.emit(started);
    expect(done).toBe(false);
    const flushed = bus.flush();
    gate.resolve();
    await flushed;
    expect(done).toBe(true);
  });

  it('survives a logger that throws while reporting a subscriber failure', async () => {
    const throwing: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => {
        throw new Error('logger broken');
      },
      error: () => undefined,
      child: () => throwing,
    };
    const bus = new EventBus({ logger: throwing });
    bus.subscribe(() => {
      throw new Error('alert failed');
    });
    await expect(bus.emit(started)).resolves.toBeUndefined();
    await expect(bus.flush()).resolves.toBeUndefined();
  });

  it('types handlers by the event types they subscribe to', () => {
    const bus = new EventBus();
    bus.subscribe(
      (e) => {
        expectTypeOf(e).toEqualTypeOf<RotationStarted | RotationStep>();
      },
      { types: ['rotation.started', 'rotation.step'] },
    );
    bus.subscribe((e) => {
      expectTypeOf(e).toEqualTypeOf<KeyctlEvent>();
    });
    // @ts-expect-error: a rotation.started event needs its rotationId, mode and reason
    void nullEvents.emit({ type: 'rotation.started', ref: 'alpha/arb1' });
  });
});

describe('NullSink', () => {
  it('drops events and resolves', async () => {
    await expect(nullEvents.emit(started)).resolves.toBeUndefined();
    await expect(new NullSink().emit(swept)).resolves.toBeUndefined();
  });
});
