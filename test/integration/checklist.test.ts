/**
 * The go-live gate end to end with the built CLI against the exchange sandbox (issue #21's "done when"): a fresh setup
 * fails with the attested items failing; once keyctl's own checks pass and listed staff attest the rest, it passes; an
 * attestation by a name not under staff is refused; the review lists the week's events.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { ChecklistReport } from '../../src/app/checklist.js';
import type { Review } from '../../src/app/review.js';
import { ATTESTED_ITEMS, attestAll, automatedReady } from '../helpers/go-live.js';
import { makeWorld, type World } from '../helpers/world.js';

let w: World | undefined;
afterAll(async () => w?.close());

describe('keyctl checklist, attest and review', () => {
  it('fresh: exit 3 with attested items failing; ready and attested by staff: exit 0; a non-staff name is refused', async () => {
    w = await makeWorld({ env: { KEYCTL_EXCHANGE_ATTEMPTS: '1' } });
    const fresh = await w.cli(['checklist', '--json']);
    expect(fresh.code, fresh.stderr).toBe(3);
    const report = fresh.json<ChecklistReport>();
    expect(report.ok).toBe(false);
    for (const item of ATTESTED_ITEMS) {
      expect(report.rows.find((r) => r.id === item && r.bot === 'alpha')).toMatchObject({
        kind: 'attested',
        status: 'fail',
        required: true,
      });
    }
    // The verdict is recorded: exec --strict holds the bot back and names what failed.
    const BOT = ['--', process.execPath, '-e', 'console.log("bot started")'];
    const gated = await w.cli(['exec', 'alpha/arb1', '--strict', '--json', ...BOT]);
    expect(gated.code).toBe(3);
    expect(gated.stdout).not.toContain('bot started');
    expect(gated.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'CHECKLIST_NOT_PASSED',
      message: expect.stringContaining('exchange-2fa'),
    });
    // The world's hand-made keys hold transfer rights: once verified, keyctl says so.
    expect((await w.cli(['verify'])).code).toBe(3);
    const unsafe = (await w.cli(['checklist', '--json'])).json<ChecklistReport>();
    expect(unsafe.rows.find((r) => r.id === 'key-verified')).toMatchObject({
      status: 'fail',
      evidence: expect.stringContaining('TRANSFER_ENABLED'),
    });

    await automatedReady(w);
    const automated = (await w.cli(['checklist', '--json'])).json<ChecklistReport>();
    expect(automated.rows.filter((r) => r.status !== 'pass').map((r) => r.id)).toEqual(ATTESTED_ITEMS);

    const refused = await w.cli(['attest', 'exchange-2fa', 'alpha', '--by', 'mallory', '--json']);
    expect(refused.code).toBe(2);
    expect(refused.json<{ error: { code: string } }>().error.code).toBe('UNKNOWN_STAFF');

    await attestAll(w);
    const done = await w.cli(['checklist', 'alpha', '--json']);
    expect(done.code, done.stdout).toBe(0);
    const rows = done.json<ChecklistReport>().rows;
    expect(rows.every((r) => r.status === 'pass')).toBe(true);
    // The passing verdict opens the go-live gate.
    const started = await w.cli(['exec', 'alpha/arb1', '--strict', ...BOT]);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toContain('bot started');
    expect(rows.find((r) => r.id === 'host-hardened')!.evidence).toMatch(/attested by alice \(run by .+\) on .*: checked at the exchange/);
    // The text form says the same, and no secret of the setup is in it.
    const text = await w.cli(['checklist']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Every required item passes');
    for (const secret of [w.master.secret, w.master.apiKey, String(w.env.KEYCTL_MASTER_KEY)]) expect(text.stdout).not.toContain(secret);

    const review = await w.cli(['review', '--since', '7d', '--json']);
    expect(review.code).toBe(0);
    const r = review.json<Review>();
    expect(r.attestations).toHaveLength(ATTESTED_ITEMS.length);
    expect(r.drills).toHaveLength(1);
    expect(r.verificationsFailed.map((i) => i.ref).sort()).toEqual(['alpha/arb1', 'alpha/arb2']);
    expect(r.drift.map((d) => [d.ref, d.fixed !== null]).sort()).toEqual([
      ['alpha/arb1', true],
      ['alpha/arb2', true],
    ]);
    expect(r.counts).toMatchObject({ 'alert test': 1, 'due.run': 2, attest: ATTESTED_ITEMS.length });
    const md = await w.cli(['review']);
    expect(md.stdout).toMatch(/^# keyctl review: /);
    expect(md.stdout).toContain('## Drift found and fixed');
  });
});
