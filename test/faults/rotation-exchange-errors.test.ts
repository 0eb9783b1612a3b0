/**
 * Every exchange call a bybit rotation makes, failing with a timeout, a 5xx and the exchange's rate-limit error (no
 * retries left: KEYCTL_EXCHANGE_ATTEMPTS=1), then a re-run with the exchange healthy again. The failed run must stop
 * with exit 6 at the step the call belongs to and lose nothing; the re-run must finish the rotation cleanly.
 *
 * The sandbox's faults fire before the endpoint runs, so a timed-out create creates nothing. "The exchange did it but
 * the answer was lost" is covered separately: a proxy lets the call reach the sandbox, then drops its answer, so
 * keyctl times out after the work was done.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultKind } from '../../src/sandbox/faults.js';
import type { RotationStep } from '../../src/rotation/journal.js';
import type { World } from '../helpers/world.js';
import { loseNextAnswer, type LostAnswerProxy } from './helpers/lost-answer-proxy.js';
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
/** 5xx and rate limits are answered at once: keyctl's default timeout (10 s) never comes into play. */
const FAULTED_ENV: Record<Exclude<FaultKind, 'latency'>, NodeJS.ProcessEnv> = {
  timeout: TIMED_ENV,
  '5xx': ONE_ATTEMPT,
  ratelimit: ONE_ATTEMPT,
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

const KINDS: Array<{ kind: Exclude<FaultKind, 'latency'>; code: string }> = [
  { kind: 'timeout', code: 'EXCHANGE_TIMEOUT' },
  { kind: '5xx', code: 'EXCHANGE_UNAVAILABLE' },
  { kind: 'ratelimit', code: 'RATE_LIMITED' },
];

const CASES = CALLS.flatMap((call) =>
  KINDS.map(({ kind, code }) => ({ ...call, kind, code, name: `${call.method} ${call.path} ${kind}` })),
);

describe('rotation with an exchange call failing, then re-run', () => {
  const worlds: World[] = [];
  const proxies: LostAnswerProxy[] = [];
  beforeAll(warmUp);
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
    await Promise.all(worlds.map((w) => w.close()));
  });

  async function world(): Promise<World> {
    const w = await faultWorld();
    worlds.push(w);
    return w;
  }

  /** Routes the world's exchange calls through a proxy that drops the answer to the next `call` (it drops one only). */
  async function lostAnswer(w: World, call: { method: string; path: string }): Promise<LostAnswerProxy> {
    const p = await loseNextAnswer(w, call);
    proxies.push(p);
    return p;
  }

  /**
   * The answer keyctl never got, and bybit's retCode in it (0: the exchange did the work). It came back seconds before
   * keyctl timed out; the bound is only there to fail with a reason if the call never reached the sandbox.
   */
  async function exchangeDidIt(p: LostAnswerProxy): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const never = new Promise<never>(
      (_, reject) => (timer = setTimeout(() => reject(new Error('the call never reached the sandbox')), 30_000)),
    );
    const answer = await Promise.race([p.dropped, never]).finally(() => clearTimeout(timer));
    expect(answer.status).toBe(200);
    return (JSON.parse(answer.body) as { retCode?: unknown }).retCode;
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

  it.concurrent(
    'a create whose answer is lost (the key exists, keyctl timed out): the re-run sweeps the orphan by its label',
    async () => {
      const w = await world();
      const proxy = await lostAnswer(w, { method: 'POST', path: '/v5/user/create-sub-api' });

      const failed = await rotate(w, TIMED_ENV);
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual(['EXCHANGE_TIMEOUT']);
      expect(await exchangeDidIt(proxy), 'the sandbox created the key').toBe(0);
      expect(await keysAtSlot(w)).toHaveLength(2);
      const state = await slotState(w);
      expect(state.journal?.step).toBe('started');
      const orphan = (await keysAtSlot(w)).find((k) => k.apiKey !== w.botKeys.arb1!.apiKey)!;
      expect(orphan.label, 'the orphan carries the rotation label').toBe(state.journal!.label);

      const again = await rerun(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(parseRotate(again)!.results[0]).toMatchObject({ status: 'rotated', resumed: true, orphansDeleted: 1, previousRevoked: true });

      const current = await assertInvariants(w);
      expect(current).not.toBe(orphan.apiKey);
    },
    CASE_TIMEOUT_MS,
  );

  it.concurrent(
    'a delete of the old key whose answer is lost (deleted, keyctl timed out): the re-run confirms it dead and finishes',
    async () => {
      const w = await world();
      const proxy = await lostAnswer(w, { method: 'POST', path: '/v5/user/delete-sub-api' });

      const failed = await rotate(w, TIMED_ENV);
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual(['EXCHANGE_TIMEOUT']);
      expect(await exchangeDidIt(proxy), 'the sandbox deleted the old key').toBe(0);
      expect((await keysAtSlot(w)).map((k) => k.apiKey)).not.toContain(w.botKeys.arb1!.apiKey);
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
});
