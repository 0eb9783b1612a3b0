/**
 * The daemon's parts on their own: leadership on the coordination store's clock, alert conditions that alert once per
 * condition (and not again after a failover), and the --listen parser. The processes together: test/integration/
 * daemon.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MemoryCoordination } from '../../providers/memory/coordination.js';
import type { Alert } from '../../src/alerts/index.js';
import { AlertConditions } from '../../src/daemon/conditions.js';
import { Leadership } from '../../src/daemon/leader.js';
import { parseListen } from '../../src/daemon/server.js';
import { runDaemon } from '../../src/daemon/run.js';
import { createRotationEngine } from '../../src/app/engine.js';
import { KeyctlMetrics } from '../../src/observability/metrics.js';
import { appWorld, UNSAFE_BOT } from './app-world.js';
import { reviewSummary, type Review } from '../../src/app/review.js';
import { silentLogger } from '../../src/events/logger.js';
import type { KeyctlEvent } from '../../src/events/types.js';
import { ProviderError } from '@keyctl/client/errors';

const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('leadership', () => {
  it('one leader; the other stands by until the lease lapses by the store clock, then takes over', async () => {
    let now = T0;
    const store = new MemoryCoordination({ now: () => now });
    const a = new Leadership(store, { owner: 'host-a:1', ttlMs: 3000 });
    const b = new Leadership(store, { owner: 'host-b:2', ttlMs: 3000 });
    expect(await a.step()).toMatchObject({ leader: true, gained: true });
    expect(await b.step()).toMatchObject({ leader: false, gained: false, lost: false });
    now += 2000;
    expect(await a.step()).toMatchObject({ leader: true, gained: false }); // renewed
    now += 2500;
    expect((await b.step()).leader).toBe(false); // renewed 2.5 s ago: still a's
    now += 4000; // a stalled past its lease
    const taken = await b.step();
    expect(taken).toMatchObject({ leader: true, gained: true, previousOwner: 'host-a:1' });
    const lost = await a.step();
    expect(lost).toMatchObject({ leader: false, lost: true });
    expect(lost.reason).toBeDefined();
  });

  it('release hands the lead over at once', async () => {
    const store = new MemoryCoordination({ now: () => T0 });
    const a = new Leadership(store, { owner: 'a', ttlMs: 60_000 });
    const b = new Leadership(store, { owner: 'b', ttlMs: 60_000 });
    await a.step();
    await a.release();
    expect((await b.step()).leader).toBe(true);
  });

  it('a store that does not answer means no action this tick, and the lead carries on once it answers again', async () => {
    const store = new MemoryCoordination({ now: () => T0 });
    const renew = store.renew.bind(store);
    const a = new Leadership(store, { owner: 'a', ttlMs: 60_000 });
    await a.step();
    store.renew = () => Promise.reject(new ProviderError('STORE_UNAVAILABLE', 'down'));
    const step = await a.step();
    expect(step).toMatchObject({ leader: false, lost: false });
    expect(step.error?.code).toBe('STORE_UNAVAILABLE');
    store.renew = renew;
    expect(await a.step()).toMatchObject({ leader: true, gained: false });
  });
});

describe('alert conditions', () => {
  const event = (e: Partial<KeyctlEvent> & Pick<KeyctlEvent, 'type'>): KeyctlEvent =>
    ({ time: new Date(T0).toISOString(), ...e }) as KeyctlEvent;
  const violation = (codes: string[]) => event({ type: 'violation', ref: 'alpha/arb1', fingerprint: 'fp1', codes, source: 'verify' });
  const ok = event({ type: 'verification.result', ref: 'alpha/arb1', fingerprint: 'fp2', outcome: 'ok', violations: [] });

  it('alerts once per open condition, again when it changes, and once when it resolves', async () => {
    const sent: Alert[] = [];
    const c = new AlertConditions(new MemoryCoordination(), { send: async (a) => void sent.push(a) }, silentLogger);
    await c.onEvent(violation(['WITHDRAW_ENABLED']));
    await c.onEvent(violation(['WITHDRAW_ENABLED']));
    expect(sent.map((a) => a.event)).toEqual(['violation.found']);
    await c.onEvent(violation(['WITHDRAW_ENABLED', 'NOT_IP_LOCKED']));
    expect(sent).toHaveLength(2);
    await c.onEvent(ok);
    await c.onEvent(ok);
    expect(sent.map((a) => [a.event, a.resolved ?? false])).toEqual([
      ['violation.found', false],
      ['violation.found', false],
      ['violation.resolved', true],
    ]);
    expect(sent[2]!.dedupKey).toBe(sent[1]!.dedupKey);
  });

  it('a new leader on the same store neither repeats an open alert nor drops its resolution', async () => {
    const store = new MemoryCoordination();
    const sent: string[] = [];
    const sink = { send: async (a: Alert) => void sent.push(`${a.event}`) };
    await new AlertConditions(store, sink, silentLogger).onEvent(violation(['TRANSFER_ENABLED']));
    const successor = new AlertConditions(store, sink, silentLogger);
    await successor.onEvent(violation(['TRANSFER_ENABLED']));
    await successor.onEvent(ok);
    expect(sent).toEqual(['violation.found', 'violation.resolved']);
  });

  it('a stopped rotation alerts once until a rotation of the slot finishes', async () => {
    const sent: string[] = [];
    const c = new AlertConditions(new MemoryCoordination(), { send: async (a) => void sent.push(a.event) }, silentLogger);
    const failed = event({ type: 'rotation.failed', ref: 'alpha/arb1', code: 'EXCHANGE_UNAVAILABLE', message: 'down' });
    await c.onEvent(failed);
    await c.onEvent(failed);
    await c.onEvent(event({ type: 'rotation.done', ref: 'alpha/arb1', status: 'rotated', previousRevoked: true, resumed: true }));
    await c.onEvent(failed);
    expect(sent).toEqual(['rotation.failed', 'rotation.failed']);
  });
});

describe('--listen', () => {
  it('reads host:port, [v6]:port and :port, and refuses the rest', () => {
    expect(parseListen('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(':9464')).toEqual({ host: '0.0.0.0', port: 9464 });
    for (const bad of ['9464', 'localhost', '1.2.3.4:70000', '[::1]', 'a:b:c']) {
      expect(() => parseListen(bad), bad).toThrow(/not host:port/);
    }
  });
});

describe('the daemon loop', () => {
  it('alerts once when the store stops answering and once when it is back; and when the audit chain breaks', async () => {
    const w = await appWorld({ sandbox: true });
    try {
      const coordination = w.deps.coordination;
      let down = false;
      const flaky = Object.create(coordination) as typeof coordination;
      flaky.acquire = (...a) => (down ? Promise.reject(new ProviderError('STORE_UNAVAILABLE', 'down')) : coordination.acquire(...a));
      flaky.renew = (...a) => (down ? Promise.reject(new ProviderError('STORE_UNAVAILABLE', 'down')) : coordination.renew(...a));
      let chainOk = true;
      const audit = { ...w.deps.audit, verify: async () => ({ ...(await w.deps.audit.verify()), ok: chainOk }) };
      const seen: string[] = [];
      const stop = new AbortController();
      let ticks = 0;
      const deps = { ...w.deps, coordination: flaky, audit, engine: createRotationEngine(w.deps, { owner: 'test:1' }) };
      const running = runDaemon(deps, {
        owner: 'test:1',
        intervalMs: 5,
        leaseTtlMs: 60_000,
        auditCheckMs: 0,
        signal: stop.signal,
        logger: silentLogger,
        metrics: new KeyctlMetrics(),
        onCondition: (c, open, code) => seen.push(`${c} ${open ? 'open' : 'closed'}${code ? ` ${code}` : ''}`),
        onCycle: () => {
          ticks += 1;
          if (ticks === 2) {
            // The lease renewals of the next ticks fail, for a while (ticks without the store run no cycle).
            down = true;
            setTimeout(() => (down = false), 100);
          }
          if (ticks === 3) chainOk = false;
          if (ticks === 5) stop.abort();
        },
      });
      await running;
      expect(seen).toEqual([
        'store.unreachable open STORE_UNAVAILABLE',
        'store.unreachable closed',
        'audit.broken open AUDIT_CHAIN_BROKEN',
      ]);
    } finally {
      await w.close();
    }
  }, 30_000);

  it('sends the scheduled review once a period, not again from a new leader, and again once the period is over', async () => {
    const w = await appWorld({ sandbox: true, permissions: { arb1: UNSAFE_BOT } });
    try {
      const sent: Review[] = [];
      const WEEK = 7 * 86_400_000;
      const daemon = async (owner: string, cycles: number) => {
        const stop = new AbortController();
        let ticks = 0;
        await runDaemon(
          { ...w.deps, engine: createRotationEngine(w.deps, { owner, propagationWaitMs: 0 }) },
          {
            owner,
            intervalMs: 5,
            leaseTtlMs: 60_000,
            signal: stop.signal,
            logger: silentLogger,
            metrics: new KeyctlMetrics(),
            review: { everyMs: WEEK, period: '7d', send: (r) => void sent.push(r) },
            onCycle: () => {
              ticks += 1;
              if (ticks === cycles) stop.abort();
            },
          },
        );
      };
      await daemon('host-a:1', 3);
      expect(sent).toHaveLength(1);
      // Built after the cycle's own verifications: the unsafe key is in it, and its one line says so.
      expect(sent[0]!.verificationsFailed.map((i) => i.ref)).toContain('alpha/arb1');
      expect(reviewSummary(sent[0]!, '7d')).toMatch(
        /^keyctl review of the last 7d: 1 verification\(s\) failed, .*keyctl review --since 7d$/,
      );
      await daemon('host-b:2', 2); // a new leader within the week: the record says it was sent
      expect(sent).toHaveLength(1);
      const rec = await w.deps.coordination.read<{ at: string }>('daemon/review');
      await w.deps.coordination.write('daemon/review', { at: new Date(Date.now() - WEEK - 1000).toISOString() }, { expect: rec!.revision });
      await daemon('host-b:2', 1);
      expect(sent).toHaveLength(2);
    } finally {
      await w.close();
    }
  }, 30_000);

  it("records a due.run (the checklist's proof that the schedule is kept) on its first cycle, then at most hourly", async () => {
    const w = await appWorld({ sandbox: true });
    try {
      let clock = Date.parse('2030-01-01T00:00:00Z');
      const stop = new AbortController();
      let ticks = 0;
      const deps = { ...w.deps, engine: createRotationEngine(w.deps, { owner: 'test:1' }) };
      await runDaemon(deps, {
        owner: 'test:1',
        intervalMs: 5,
        leaseTtlMs: 60_000,
        signal: stop.signal,
        logger: silentLogger,
        metrics: new KeyctlMetrics(),
        now: () => clock,
        onCycle: () => {
          ticks += 1;
          // Cycles at 0, 30 min, 59 min, 61 min: the first and the last record.
          clock += ([30, 29, 2][ticks - 1] ?? 0) * 60_000;
          if (ticks === 4) stop.abort();
        },
      });
      const runs = w.recorder.of('due.run');
      expect(runs.map((r) => r.runner)).toEqual(['daemon', 'daemon']);
      expect(runs[0]).toMatchObject({ failed: 0 });
      // The first cycle verified the four keys (never verified before): they count as due.
      expect(runs[0]!.due).toBe(4);
    } finally {
      await w.close();
    }
  }, 30_000);
});
