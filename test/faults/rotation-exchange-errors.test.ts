/**
 * Every exchange call a bybit rotation makes, failing with a timeout, a 5xx and the exchange's rate-limit error (no
 * retries left: KEYCTL_EXCHANGE_ATTEMPTS=1), then a re-run with the exchange healthy again. The failed run must stop
 * with exit 6 at the step the call belongs to and lose nothing; the re-run must finish the rotation cleanly.
 *
 * Those faults fire before the endpoint runs, so a timed-out create creates nothing. "The exchange did it but the
 * answer was lost or failed" is the sandbox's `after-timeout` / `after-5xx` modes on the two calls with effects (create
 * and delete), and "the exchange does not know its new key yet" is its `propagation` mode.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultKind } from '../../src/sandbox/faults.js';
import type { RotationStep } from '../../src/rotation/journal.js';
import type { World } from '../helpers/world.js';
import { assertInvariants, faultWorld, keysAtSlot, parseRotate, rerun, rotate, slotState, warmUp } from './helpers/rotation-world.js';

/**
 * keyctl's per-request timeout is one setting for every call of a run, the healthy ones included, so it cannot be short:
 * with two busy loops on the 2-core machine, 30 of 380 healthy calls took over 800 ms, the slowest 1.8 s. Only calls
 * that never get an answer (the sandbox's `timeout` fault, a dropped answer) run into it: it is just how long they wait.
 */
const TIMEOUT_MS = 5_000;
/** The failed run: one attempt per call. */
const ONE_ATTEMPT = { KEYCTL_EXCHANGE_ATTEMPTS: '1' };
const TIMED_ENV = { ...ONE_ATTEMPT, KEYCTL_EXCHANGE_TIMEOUT_MS: String(TIMEOUT_MS) };
/** The faults that fire before the endpoint runs. */
type RefusingFault = Extract<FaultKind, 'timeout' | '5xx' | 'ratelimit'>;
/** The faults that fire after the endpoint did its work. */
type LateFault = Extract<FaultKind, 'after-timeout' | 'after-5xx'>;
/** 5xx and rate limits are answered at once: keyctl's default timeout (10 s) never comes into play. */
const FAULTED_ENV: Record<RefusingFault | LateFault, NodeJS.ProcessEnv> = {
  timeout: TIMED_ENV,
  '5xx': ONE_ATTEMPT,
  ratelimit: ONE_ATTEMPT,
  'after-timeout': TIMED_ENV,
  'after-5xx': ONE_ATTEMPT,
};
/**
 * A case spends much of its time queued for one of the few CLI child slots (helpers/rotation-world.ts) while the other
 * concurrent cases run; cases have taken over 40 s on a loaded machine.
 */
const CASE_TIMEOUT_MS = 120_000;

interface Call {
  method: 'GET' | 'POST';
  path: string;
  /** Where the rotation stands once this call failed. */
  journal: RotationStep;
  keysAtSandbox: number;
  currentIsOld: boolean;
  rerunStatus: 'rotated' | 'revoked-previous';
}

/** The calls in protocol order: sweep (list), create, test (inspect, then a signed balance read), revoke old. */
const CALLS: Call[] = [
  { method: 'GET', path: '/v5/user/sub-apikeys', journal: 'started', keysAtSandbox: 1, currentIsOld: true, rerunStatus: 'rotated' },
  { method: 'POST', path: '/v5/user/create-sub-api', journal: 'started', keysAtSandbox: 1, currentIsOld: true, rerunStatus: 'rotated' },
  { method: 'GET', path: '/v5/user/query-api', journal: 'stored', keysAtSandbox: 2, currentIsOld: true, rerunStatus: 'rotated' },
  { method: 'GET', path: '/v5/account/wallet-balance', journal: 'stored', keysAtSandbox: 2, currentIsOld: true, rerunStatus: 'rotated' },
  {
    method: 'POST',
    path: '/v5/user/delete-sub-api',
    journal: 'promoted',
    keysAtSandbox: 2,
    currentIsOld: false,
    rerunStatus: 'revoked-previous',
  },
];

const KINDS: Array<{ kind: RefusingFault; code: string }> = [
  { kind: 'timeout', code: 'EXCHANGE_TIMEOUT' },
  { kind: '5xx', code: 'EXCHANGE_UNAVAILABLE' },
  { kind: 'ratelimit', code: 'RATE_LIMITED' },
];

const CASES = CALLS.flatMap((call) =>
  KINDS.map(({ kind, code }) => ({ ...call, kind, code, name: `${call.method} ${call.path} ${kind}` })),
);

describe('rotation with an exchange call failing, then re-run', () => {
  const worlds: World[] = [];
  beforeAll(warmUp);
  afterAll(async () => {
    await Promise.all(worlds.map((w) => w.close()));
  });

  async function world(): Promise<World> {
    const w = await faultWorld();
    worlds.push(w);
    return w;
  }

  it.concurrent.each(CASES)(
    '$name: exit 6 at the step that made the call, then the re-run finishes and every invariant holds',
    async (c) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', method: c.method, path: c.path, kind: c.kind });

      const failed = await rotate(w, FAULTED_ENV[c.kind]);
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual([c.code]);
      const state = await slotState(w);
      expect(state.journal?.step, 'journal step after the failed run').toBe(c.journal);
      const atSandbox = await keysAtSlot(w);
      expect(atSandbox, 'keys at the sandbox after the failed run').toHaveLength(c.keysAtSandbox);
      const held = new Set(state.live.map((v) => v.apiKey));
      expect(
        atSandbox.filter((k) => !held.has(k.apiKey)),
        'untracked keys after the failed run',
      ).toEqual([]);
      expect(state.current?.apiKey === w.botKeys.arb1!.apiKey, 'CURRENT is still the old key').toBe(c.currentIsOld);

      await w.sandbox.admin.clearFaults();
      const again = await rerun(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(parseRotate(again)!.results[0]).toMatchObject({ status: c.rerunStatus, previousRevoked: true, orphansDeleted: 0 });

      await assertInvariants(w);
    },
    CASE_TIMEOUT_MS,
  );

  const LATE = (['after-timeout', 'after-5xx'] as const).map((kind) => ({
    kind,
    code: kind === 'after-timeout' ? 'EXCHANGE_TIMEOUT' : 'EXCHANGE_UNAVAILABLE',
  }));

  it.concurrent.each(LATE)(
    'a create that happened but answered $kind: exit 6 with the key alive, then the re-run sweeps it by its label',
    async ({ kind, code }) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', method: 'POST', path: '/v5/user/create-sub-api', kind, times: 1 });

      const failed = await rotate(w, FAULTED_ENV[kind]);
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual([code]);
      const state = await slotState(w);
      expect(state.journal?.step).toBe('started');
      const atSandbox = await keysAtSlot(w);
      expect(atSandbox, 'the sandbox created the key although keyctl never learnt it').toHaveLength(2);
      const orphan = atSandbox.find((k) => k.apiKey !== w.botKeys.arb1!.apiKey)!;
      expect(orphan.label, 'the orphan carries the rotation label').toBe(state.journal!.label);

      const again = await rerun(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(parseRotate(again)!.results[0]).toMatchObject({ status: 'rotated', resumed: true, orphansDeleted: 1, previousRevoked: true });

      const current = await assertInvariants(w);
      expect(current).not.toBe(orphan.apiKey);
    },
    CASE_TIMEOUT_MS,
  );

  it.concurrent.each(LATE)(
    'a delete of the old key that happened but answered $kind: exit 6, then the re-run confirms it dead and finishes',
    async ({ kind, code }) => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', method: 'POST', path: '/v5/user/delete-sub-api', kind, times: 1 });

      const failed = await rotate(w, FAULTED_ENV[kind]);
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual([code]);
      expect(
        (await keysAtSlot(w)).map((k) => k.apiKey),
        'the sandbox deleted the old key',
      ).not.toContain(w.botKeys.arb1!.apiKey);
      const state = await slotState(w);
      expect(state.journal?.step).toBe('promoted');
      expect(
        state.live.some((v) => v.apiKey === w.botKeys.arb1!.apiKey),
        'the store still holds the old key',
      ).toBe(true);

      const again = await rerun(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(parseRotate(again)!.results[0]).toMatchObject({ status: 'revoked-previous', previousRevoked: true });

      await assertInvariants(w);
    },
    CASE_TIMEOUT_MS,
  );

  it.concurrent(
    'a delete that happened but answered 5xx, retried by keyctl: the repeat finds the key gone and the run finishes',
    async () => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', method: 'POST', path: '/v5/user/delete-sub-api', kind: 'after-5xx', times: 1 });

      const r = await rotate(w, { KEYCTL_EXCHANGE_ATTEMPTS: '3', KEYCTL_EXCHANGE_BACKOFF_MS: '10' });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(parseRotate(r)!.results[0]).toMatchObject({ status: 'rotated', previousRevoked: true });
      await assertInvariants(w);
    },
    CASE_TIMEOUT_MS,
  );

  it.concurrent(
    'a new key the exchange does not know yet (propagation 1.5 s): the test waits for it and the rotation finishes',
    async () => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '*', kind: 'propagation', ms: 1_500 });

      const r = await rotate(w);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(parseRotate(r)!.results[0]).toMatchObject({ status: 'rotated', previousRevoked: true, orphansDeleted: 0 });
      await assertInvariants(w);
    },
    CASE_TIMEOUT_MS,
  );

  it.concurrent(
    'a new key still unknown when the propagation wait is spent: exit 6, the key is deleted, the current key kept',
    async () => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', path: '*', kind: 'propagation', ms: 60_000 });

      const failed = await rotate(w, { KEYCTL_PROPAGATION_WAIT_MS: '300' });
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual(['ROTATION_TEST_FAILED']);
      expect(
        (await keysAtSlot(w)).map((k) => k.apiKey),
        'only the old key is left at the exchange',
      ).toEqual([w.botKeys.arb1!.apiKey]);
      const state = await slotState(w);
      expect(state.current?.apiKey).toBe(w.botKeys.arb1!.apiKey);
      expect(state.journal).toBeNull();

      await w.sandbox.admin.clearFaults();
      const again = await rotate(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      await assertInvariants(w);
    },
    CASE_TIMEOUT_MS,
  );
});
