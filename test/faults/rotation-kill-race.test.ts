/**
 * `keyctl kill` while a rotation of the bot is in flight: a real `keyctl rotate` child process is stopped (SIGSTOP,
 * `KEYCTL_FAILPOINT=<name>:stop`) at each step boundary, alive and holding the slot's lease, while `keyctl kill` runs;
 * then it is let go (SIGCONT). The kill must neither wait for the rotation nor give up because of it: it seizes the
 * slot's lease and exits 0 at once, the rotation never promotes and leaves nothing alive, and afterwards no key of the
 * bot is alive at the exchange or in the store, the slot stays paused and the audit chain verifies. Also: a rotation
 * that died at a failpoint (SIGKILL) with its lease unexpired does not hold the kill up either.
 *
 * The lease is long (120 s) on purpose: a kill that waited for the rotation's lease would take that long.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCoordination } from '../../providers/local/index.js';
import { openAuditLog } from '../../src/audit/log.js';
import { loadAuditKey } from '../../src/audit/key.js';
import { loadConfig } from '../../src/config/load.js';
import { readPause } from '../../src/delivery/pause.js';
import { FAILPOINTS, type Failpoint } from '../../src/rotation/failpoints.js';
import { readJournal } from '../../src/rotation/journal.js';
import type { CliResult } from '../helpers/cli.js';
import type { World } from '../helpers/world.js';
import { cli, faultWorld, parseRotate, REF, rotate, startStopped, warmUp, withStore, type StoppedRun } from './helpers/rotation-world.js';

const LEASE_MS = 120_000;
/**
 * A kill that waited for the rotation's lease would take LEASE_MS; a prompt one takes seconds (up to 14 s seen with
 * every case running at once on 2 busy cores).
 */
const PROMPT_MS = 45_000;
const SLOTS = ['bots/alpha/arb1', 'bots/alpha/arb2'];

/**
 * How the rotation ends once let go after the kill: stopped by the pause before it creates or promotes anything
 * (SLOT_PAUSED, exit 3), or by the kill's fence at its next journal write (FENCED, exit 6: a key created but not yet
 * journalled is deleted by the rotation itself), or by a stage the kill moved under it (CONFLICT, exit 6).
 */
const ROTATION_ENDS: Record<Failpoint, { code: string; exit: number }> = {
  'rotate.after-lock': { code: 'SLOT_PAUSED', exit: 3 },
  'rotate.after-journal': { code: 'SLOT_PAUSED', exit: 3 },
  'rotate.after-create': { code: 'FENCED', exit: 6 },
  'rotate.after-store': { code: 'FENCED', exit: 6 },
  'rotate.after-verify': { code: 'SLOT_PAUSED', exit: 3 },
  'rotate.after-promote': { code: 'FENCED', exit: 6 },
  'rotate.after-revoke-exchange': { code: 'CONFLICT', exit: 6 },
  'rotate.after-revoke-store': { code: 'FENCED', exit: 6 },
};

interface KillJson {
  results: Array<{ ref: string; revoked: string[]; failed: unknown[]; orphansDeleted: number }>;
  failures: Array<{ ref: string; code: string; message: string }>;
}

/** `keyctl kill alpha`, timed. */
async function kill(w: World): Promise<{ r: CliResult; ms: number }> {
  const t0 = performance.now();
  const r = await cli(w, ['kill', 'alpha', '--reason', 'test', '--json']);
  return { r, ms: performance.now() - t0 };
}

/** What a kill must leave, whatever the rotation was doing: nothing of alpha alive anywhere, paused, audit intact. */
async function assertKilled(w: World): Promise<void> {
  for (const sub of ['arb1', 'arb2']) {
    expect(
      (await w.keysAt(w.subs[sub]!)).map((k) => k.label),
      `keys of alpha/${sub} alive at the sandbox`,
    ).toEqual([]);
  }
  const config = loadConfig(join(w.dir, 'keyctl.yaml')).config;
  await withStore(w, async (store) => {
    const coordination = await createCoordination({ provider: 'local', path: join(w.dir, 'store') }, store, {});
    for (const path of SLOTS) {
      const live = (await store.describe(path))?.versions.filter((v) => !v.destroyed) ?? [];
      expect(
        live.map((v) => v.stages),
        `live versions of ${path} in the store`,
      ).toEqual([]);
      expect(await readPause(coordination, path), `${path} paused`).not.toBeNull();
    }
    expect((await readJournal(coordination, SLOTS[0]!))?.entry ?? null, 'rotation journal').toBeNull();
    const report = await openAuditLog({ path: config.auditPath, key: await loadAuditKey(store) }).verify();
    expect(report.problems, 'audit chain problems').toEqual([]);
    expect(report.ok).toBe(true);
  });
}

describe('keyctl kill during a rotation', () => {
  const worlds: World[] = [];
  const runs: StoppedRun[] = [];
  const timings: string[] = [];
  beforeAll(warmUp);
  afterAll(async () => {
    // A failed case may leave its rotation stopped: it would never end on its own.
    for (const run of runs) run.kill();
    await Promise.all(runs.map((run) => run.result));
    await Promise.all(worlds.map((w) => w.close()));
    console.log(`rotation-kill-race: kill took ${timings.join(', ')}`);
  });

  it('covers every failpoint the engine declares', () => {
    expect(Object.keys(ROTATION_ENDS).sort()).toEqual([...FAILPOINTS].sort());
  });

  it.concurrent.for(FAILPOINTS)(
    'rotation stopped at %s: kill exits 0 at once, the rotation never promotes, no key of the bot is left alive',
    { timeout: LEASE_MS },
    async (failpoint, { task }) => {
      const w = await faultWorld({ env: { KEYCTL_LEASE_MS: String(LEASE_MS) } });
      worlds.push(w);
      const run = await startStopped(w, ['rotate', REF, '--grace', '0s', '--json'], failpoint);
      runs.push(run);

      const { r, ms } = await kill(w);
      timings.push(`${Math.round(ms)} ms (${failpoint})`);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.json<KillJson>().failures).toEqual([]);
      expect(ms, 'kill did not wait for the rotation').toBeLessThan(PROMPT_MS);
      // The kill's work is done before the rotation moves again.
      expect(run.ended(), 'the rotation is still stopped').toBe(false);

      run.resume();
      const rotated = await run.result;
      const expected = ROTATION_ENDS[failpoint];
      expect(rotated.code, rotated.stdout + rotated.stderr).toBe(expected.exit);
      const json = parseRotate(rotated);
      expect(json?.results, 'the rotation reports no result').toEqual([]);
      expect(json?.failures.map((f) => [f.ref, f.code])).toEqual([[REF, expected.code]]);

      await assertKilled(w);
      task.meta.faultOutcome = `kill 0 in ${(ms / 1000).toFixed(1)} s; rotation ${expected.code}`;
    },
  );

  it(
    'a rotation that died at a failpoint with its lease unexpired does not hold the kill up',
    async () => {
      const w = await faultWorld({ env: { KEYCTL_LEASE_MS: String(LEASE_MS) } });
      worlds.push(w);
      // Killed right after creating its key: alive at the exchange, labelled, in no store, the lease held for 2 min more.
      const died = await rotate(w, { KEYCTL_FAILPOINT: 'rotate.after-create' });
      expect(died.code, died.stderr).toBeNull();
      expect((await w.keysAt(w.subs.arb1!)).filter((k) => k.label?.startsWith('keyctl-'))).toHaveLength(1);

      const { r, ms } = await kill(w);
      timings.push(`${Math.round(ms)} ms (dead holder)`);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(ms, 'kill did not wait for the dead rotation lease').toBeLessThan(PROMPT_MS);
      const arb1 = r.json<KillJson>().results.find((x) => x.ref === REF)!;
      expect(arb1).toMatchObject({ revoked: [expect.any(String)], failed: [], orphansDeleted: 1 });
      await assertKilled(w);
    },
    LEASE_MS,
  );
});
