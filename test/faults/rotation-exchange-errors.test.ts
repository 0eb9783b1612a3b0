/**
 * Every exchange call a bybit rotation makes, failing with a timeout, a 5xx and the exchange's rate-limit error (no
 * retries left: KEYCTL_EXCHANGE_ATTEMPTS=1), then a re-run with the exchange healthy again. The failed run must stop
 * with exit 6 at the step the call belongs to and lose nothing; the re-run must finish the rotation cleanly.
 *
 * The sandbox's faults fire before the endpoint runs, so a timed-out create creates nothing. "The exchange did it but
 * the answer was lost" is covered separately with a latency fault longer than keyctl's timeout: the sandbox then
 * does the work after keyctl gave up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultKind } from '../../src/sandbox/faults.js';
import type { RotationStep } from '../../src/rotation/journal.js';
import type { World } from '../helpers/world.js';
import { assertInvariants, faultWorld, keysAtSlot, parseRotate, rerun, rotate, sleep, slotState, warmUp } from './helpers/rotation-world.js';

/** The failed run: one attempt per call, and a timeout short enough to keep the suite fast. */
const FAULTED_ENV = { KEYCTL_EXCHANGE_ATTEMPTS: '1', KEYCTL_EXCHANGE_TIMEOUT_MS: '800' };

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
  { method: 'POST', path: '/v5/user/delete-sub-api', journal: 'promoted', keysAtSandbox: 2, currentIsOld: false, rerunStatus: 'revoked-previous' },
];

const KINDS: Array<{ kind: Exclude<FaultKind, 'latency'>; code: string }> = [
  { kind: 'timeout', code: 'EXCHANGE_TIMEOUT' },
  { kind: '5xx', code: 'EXCHANGE_UNAVAILABLE' },
  { kind: 'ratelimit', code: 'RATE_LIMITED' },
];

const CASES = CALLS.flatMap((call) => KINDS.map(({ kind, code }) => ({ ...call, kind, code, name: `${call.method} ${call.path} ${kind}` })));

async function pollUntil(what: string, check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

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

      const failed = await rotate(w, FAULTED_ENV);
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual([c.code]);
      const state = await slotState(w);
      expect(state.journal?.step, 'journal step after the failed run').toBe(c.journal);
      const atSandbox = await keysAtSlot(w);
      expect(atSandbox, 'keys at the sandbox after the failed run').toHaveLength(c.keysAtSandbox);
      const held = new Set(state.live.map((v) => v.apiKey));
      expect(atSandbox.filter((k) => !held.has(k.apiKey)), 'untracked keys after the failed run').toEqual([]);
      expect(state.current?.apiKey === w.botKeys.arb1!.apiKey, 'CURRENT is still the old key').toBe(c.currentIsOld);

      await w.sandbox.admin.clearFaults();
      const again = await rerun(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(parseRotate(again)!.results[0]).toMatchObject({ status: c.rerunStatus, previousRevoked: true, orphansDeleted: 0 });

      await assertInvariants(w);
    },
    60_000,
  );

  it.concurrent(
    'a create whose answer is lost (the key exists, keyctl timed out): the re-run sweeps the orphan by its label',
    async () => {
      const w = await world();
      // The sandbox creates the key 1.5 s later, after keyctl gave up at 800 ms.
      await w.sandbox.admin.addFault({ exchange: 'bybit', method: 'POST', path: '/v5/user/create-sub-api', kind: 'latency', ms: 1500 });

      const failed = await rotate(w, FAULTED_ENV);
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual(['EXCHANGE_TIMEOUT']);
      await pollUntil('the late create lands', async () => (await keysAtSlot(w)).length === 2);
      const state = await slotState(w);
      expect(state.journal?.step).toBe('started');
      const orphan = (await keysAtSlot(w)).find((k) => k.apiKey !== w.botKeys.arb1!.apiKey)!;
      expect(orphan.label, 'the orphan carries the rotation label').toBe(state.journal!.label);

      await w.sandbox.admin.clearFaults();
      const again = await rerun(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(parseRotate(again)!.results[0]).toMatchObject({ status: 'rotated', resumed: true, orphansDeleted: 1, previousRevoked: true });

      const current = await assertInvariants(w);
      expect(current).not.toBe(orphan.apiKey);
    },
    60_000,
  );

  it.concurrent(
    'a delete of the old key whose answer is lost (deleted, keyctl timed out): the re-run confirms it dead and finishes',
    async () => {
      const w = await world();
      await w.sandbox.admin.addFault({ exchange: 'bybit', method: 'POST', path: '/v5/user/delete-sub-api', kind: 'latency', ms: 1500 });

      const failed = await rotate(w, FAULTED_ENV);
      expect(failed.code, failed.stdout + failed.stderr).toBe(6);
      expect(parseRotate(failed)?.failures.map((f) => f.code)).toEqual(['EXCHANGE_TIMEOUT']);
      await pollUntil('the late delete lands', async () => (await keysAtSlot(w)).every((k) => k.apiKey !== w.botKeys.arb1!.apiKey));
      const state = await slotState(w);
      expect(state.journal?.step).toBe('promoted');
      expect(state.live.some((v) => v.apiKey === w.botKeys.arb1!.apiKey), 'the store still holds the old key').toBe(true);

      await w.sandbox.admin.clearFaults();
      const again = await rerun(w);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(parseRotate(again)!.results[0]).toMatchObject({ status: 'revoked-previous', previousRevoked: true });

      await assertInvariants(w);
    },
    60_000,
  );
});
