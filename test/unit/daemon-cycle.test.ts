/**
 * One guardian cycle (src/daemon/cycle.ts) against the exchange sandbox: a dangerous key trips the bot's kill when the
 * slot says `verify.onViolation: kill`, a rotation left unfinished is reported stuck once, and the periodic sweep
 * deletes keyctl-labelled keys the store does not hold (and nothing else).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCoordination } from '../../providers/memory/coordination.js';
import { createRotationEngine } from '../../src/app/engine.js';
import { AlertConditions } from '../../src/daemon/conditions.js';
import { runCycle } from '../../src/daemon/cycle.js';
import { readPause } from '../../src/delivery/pause.js';
import { RotationIncompleteError } from '@keyctl/client/errors';
import { silentLogger } from '../../src/events/logger.js';
import type { KeyctlEvent } from '../../src/events/types.js';
import type { RotationEngine } from '../../src/rotation/engine.js';
import { writeJournal } from '../../src/rotation/journal.js';
import { appWorld, CLIENT_IP, liveKeys, UNSAFE_BOT, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const HOUR = 3_600_000;

function engineOf(world: AppWorld): RotationEngine {
  return createRotationEngine(world.deps, { owner: 'test:1', propagationWaitMs: 0 });
}

describe('verify.onViolation: kill', () => {
  it("kills the slot's bot once: paused, keys revoked, the other bot untouched; the next cycle does not kill again", async () => {
    w = await appWorld({ sandbox: true, permissions: { arb1: UNSAFE_BOT } });
    const arb1 = w.deps.inventory.slots.find((s) => s.ref === 'alpha/arb1')!;
    arb1.verify.onViolation = 'kill';
    const deps = { ...w.deps, engine: engineOf(w) };
    const first = await runCycle(deps);
    expect(first.killed).toEqual(['alpha']);
    expect(first.replaced).toEqual([]);
    expect(first.failures).toEqual([]);
    // The whole bot: both of alpha's slots paused and their keys dead at the exchange; beta's key alive.
    for (const [ref, sub] of [
      ['alpha/arb1', 'arb1'],
      ['alpha/arb2', 'arb2'],
    ] as const) {
      expect(await readPause(w.deps.coordination, `bots/${ref}`)).toMatchObject({ by: 'keyctl daemon' });
      expect(await liveKeys(w, sub)).toEqual([]);
    }
    expect(await liveKeys(w, 'mm')).toEqual([w.keys.mm!.apiKey]);
    const kill = w.recorder.of('kill');
    expect(kill).toHaveLength(1);
    expect(kill[0]!.reason).toContain('TRANSFER_ENABLED on alpha/arb1');
    // Audited as a kill, so `status` can show it.
    expect(w.recorder.entries.filter((e) => e.command === 'kill')).toHaveLength(1);

    const second = await runCycle(deps);
    expect(second.killed).toEqual([]);
    expect(w.recorder.of('kill')).toHaveLength(1);
  });

  it('onViolation: alert leaves the key and the bot as they are', async () => {
    w = await appWorld({ sandbox: true, permissions: { arb1: UNSAFE_BOT } });
    w.deps.inventory.slots.find((s) => s.ref === 'alpha/arb1')!.verify.onViolation = 'alert';
    const report = await runCycle({ ...w.deps, engine: engineOf(w) });
    expect(report).toMatchObject({ killed: [], replaced: [], alertedOnly: ['alpha/arb1'] });
    expect(await liveKeys(w, 'arb1')).toEqual([w.keys.arb1!.apiKey]);
    expect(await readPause(w.deps.coordination, 'bots/alpha/arb1')).toBeNull();
  });
});

describe('stuck rotations', () => {
  it('a rotation unfinished past --stuck-after is reported once per rotation, and its alert resolves when it finishes', async () => {
    let now = Date.parse('2026-06-01T12:00:00Z');
    w = await appWorld({ now: () => now });
    // An engine that cannot finish anything (an exchange that keeps refusing): the journal stays as it is.
    const engine = {
      rotate: () => Promise.reject(new RotationIncompleteError('EXCHANGE_UNAVAILABLE', 'the exchange is down')),
      sweepOrphans: () => Promise.resolve({ deleted: 0, kept: [] }),
    } as unknown as RotationEngine;
    await writeJournal(
      w.deps.coordination,
      'bots/alpha/arb2',
      { rotationId: 'r1', step: 'stored', mode: 'automatic', startedAt: new Date(now - 30 * 60_000).toISOString(), label: 'keyctl-r1' },
      null,
    );
    const stuckSeen = new Set<string>();
    const deps = { ...w.deps, engine };
    expect((await runCycle(deps, { stuckAfterMs: HOUR, stuckSeen })).stuck).toEqual([]); // 30 minutes: not yet
    now += 31 * 60_000;
    expect((await runCycle(deps, { stuckAfterMs: HOUR, stuckSeen })).stuck).toEqual(['alpha/arb2']);
    expect((await runCycle(deps, { stuckAfterMs: HOUR, stuckSeen })).stuck).toEqual(['alpha/arb2']);
    const events = w.recorder.of('rotation.stuck');
    expect(events).toEqual([expect.objectContaining({ ref: 'alpha/arb2', rotationId: 'r1', step: 'stored' })]);
    expect(w.recorder.entries.filter((e) => e.command === 'rotate.stuck').map((e) => e.ref)).toEqual(['alpha/arb2']);

    // The alert: once, and its resolution when the rotation finishes (a standby taking over does not repeat it).
    const sent: string[] = [];
    const coordination = new MemoryCoordination();
    const conditions = new AlertConditions(
      coordination,
      { send: async (a) => void sent.push(`${a.event}${a.resolved ? ' resolved' : ''}`) },
      silentLogger,
    );
    await conditions.onEvent(events[0]!);
    await new AlertConditions(coordination, { send: async (a) => void sent.push(a.event) }, silentLogger).onEvent(events[0]!);
    const done = {
      type: 'rotation.done',
      ref: 'alpha/arb2',
      status: 'rotated',
      previousRevoked: true,
      resumed: true,
      time: events[0]!.time,
    };
    await conditions.onEvent(done as KeyctlEvent);
    expect(sent).toEqual(['rotation.stuck', 'rotation.stuck resolved']);
  });

  it('a promoted rotation in its grace period is not stuck until the grace is long over', async () => {
    let now = Date.parse('2026-06-01T12:00:00Z');
    w = await appWorld({ now: () => now });
    const engine = { rotate: () => Promise.reject(new RotationIncompleteError('X', 'x')) } as unknown as RotationEngine;
    await writeJournal(
      w.deps.coordination,
      'bots/alpha/arb1',
      {
        rotationId: 'r2',
        step: 'promoted',
        mode: 'automatic',
        startedAt: new Date(now - 3 * HOUR).toISOString(),
        revokeAfter: new Date(now + HOUR).toISOString(),
        label: 'keyctl-r2',
      },
      null,
    );
    expect((await runCycle({ ...w.deps, engine }, { stuckAfterMs: HOUR })).stuck).toEqual([]);
    now += 2 * HOUR;
    expect((await runCycle({ ...w.deps, engine }, { stuckAfterMs: HOUR })).stuck).toEqual(['alpha/arb1']);
  });
});

describe('the periodic orphan sweep', () => {
  it('deletes keyctl-labelled keys the store does not hold, and leaves keys keyctl did not label', async () => {
    w = await appWorld({ sandbox: true });
    const orphan = await w.sandbox!.admin.createKey({
      exchange: 'bybit',
      owner: w.subs.arb2!,
      permissions: { Spot: ['SpotTrade'] },
      ips: [CLIENT_IP],
      label: 'keyctl-0a0b0c0d0e0f',
    });
    const byHand = await w.sandbox!.admin.createKey({
      exchange: 'bybit',
      owner: w.subs.arb2!,
      permissions: { Spot: ['SpotTrade'] },
      ips: [CLIENT_IP],
      label: 'desk-readonly',
    });
    const deps = { ...w.deps, engine: engineOf(w) };
    expect((await runCycle(deps)).swept).toBeUndefined(); // not asked for: no listing at all
    expect(await liveKeys(w, 'arb2')).toContain(orphan.apiKey);
    const report = await runCycle(deps, { sweep: true });
    expect(report.swept).toEqual({ deleted: 1, kept: 0 });
    expect((await liveKeys(w, 'arb2')).sort()).toEqual([w.keys.arb2!.apiKey, byHand.apiKey].sort());
    expect(w.recorder.of('key.swept').map((e) => [e.ref, e.label, e.outcome])).toEqual([['alpha/arb2', 'keyctl-0a0b0c0d0e0f', 'ok']]);
  });
});
