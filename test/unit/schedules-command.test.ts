import { PassThrough } from 'node:stream';
import { DateTime } from 'luxon';
import { describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../../providers/memory/index.js';
import { Redactor } from '../../src/audit/redact.js';
import { latestOf } from '../../src/audit/latest.js';
import type { AuditEntry } from '../../src/audit/types.js';
import { Output } from '../../src/cli/output.js';
import type { CliContext } from '../../src/cli/context.js';
import { run } from '../../src/cli/commands/schedule.js';
import { buildSchedule } from '../../src/app/schedule.js';
import { lastVerifications } from '../../src/audit/verifications.js';
import { parseConfig } from '../../src/config/load.js';
import type { SlotSchedule } from '../../schedules/due.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

const CONFIG = `
store: { provider: memory }
accounts:
  bybit-main: { exchange: bybit }
bots:
  alpha:
    subaccounts:
      arb1:
        account: bybit-main
        uid: "100001"
        scopes: [read, spot:trade]
        ips: [203.0.113.7]
        rotate: { every: P30D }
        verify: { every: PT1H }
      arb2:
        account: bybit-main
        uid: "100002"
        scopes: [read, spot:trade]
        ips: [203.0.113.7]
        rotate: { every: P7D, window: { days: [sat], from: "02:00", to: "04:00", zone: Europe/London } }
        verify: { every: PT6H }
  beta:
    subaccounts:
      mm:
        account: bybit-main
        uid: "100003"
        scopes: [read, spot:trade]
        ips: [203.0.113.7]
`;

const config = parseConfig(CONFIG, '/nonexistent/keyctl.yaml').config;

let seq = 0;
function entry(command: string, ref: string, time: number, outcome: AuditEntry['outcome'] = 'ok'): AuditEntry {
  seq += 1;
  return { seq, time: new Date(time).toISOString(), actor: 'ops', command, ref, outcome, prev: 'x', mac: 'y' };
}

function fakeAudit(entries: AuditEntry[]) {
  return { latest: vi.fn(async (commands: readonly string[]) => latestOf(entries, commands)) };
}

async function storeWithKeys(keys: Array<[path: string, createdAt: number]>): Promise<MemoryStore> {
  let now = 0;
  const store = new MemoryStore({ now: () => now });
  for (const [path, at] of keys) {
    now = at;
    await store.write(path, { secret: { apiKey: 'FAKE-api-key', secret: 'FAKE-secret-value' }, stage: 'CURRENT' });
  }
  return store;
}

function fakeContext(json: boolean, store: MemoryStore, audit: ReturnType<typeof fakeAudit>) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  const ctx = {
    out: new Output(json, stdout, stderr, new Redactor()),
    json,
    config: () => config,
    store: async () => store,
    audit: async () => audit,
  } as unknown as CliContext;
  return { ctx, stdout: () => out };
}

describe('keyctl schedule', () => {
  it('--json lists every slot with last/next rotation and verification', async () => {
    const now = Date.now();
    // arb1: rotated 40 days ago (overdue for P30D), verified 10 minutes ago. arb2: rotated yesterday, never verified.
    // A later rotation of arb1 superseded an older key: the CURRENT one's creation counts.
    const store = await storeWithKeys([
      ['bots/alpha/arb1', now - 100 * DAY],
      ['bots/alpha/arb1', now - 40 * DAY],
      ['bots/alpha/arb2', now - DAY],
    ]);
    const audit = fakeAudit([
      entry('verify', 'alpha/arb1', now - 2 * HOUR, 'failed'),
      entry('key import', 'alpha/arb1', now - HOUR),
      entry('verify', 'alpha/arb1', now - 10 * 60_000),
      entry('verify', 'beta/other', now - 60_000),
    ]);
    const { ctx, stdout } = fakeContext(true, store, audit);
    expect(await run(ctx, [], {})).toBeUndefined();
    const { slots } = JSON.parse(stdout()) as { slots: SlotSchedule[] };
    expect(slots.map((s) => s.ref)).toEqual(['alpha/arb1', 'alpha/arb2', 'beta/mm']);
    const [arb1, arb2, mm] = slots;

    const isoAt = (ms: number) => DateTime.fromMillis(ms, { zone: 'utc' }).toISO({ suppressMilliseconds: true });
    expect(arb1).toMatchObject({
      state: 'ok',
      lastRotation: isoAt(now - 40 * DAY),
      nextRotation: isoAt(now - 10 * DAY),
      rotationDue: true,
      window: null,
      lastVerification: isoAt(now - 10 * 60_000),
      lastVerificationOutcome: 'ok',
      nextVerification: isoAt(now - 10 * 60_000 + HOUR),
      verificationDue: false,
    });

    expect(arb2).toMatchObject({
      state: 'ok',
      lastRotation: isoAt(now - DAY),
      rotationDue: false,
      window: { days: ['sat'], from: '02:00', to: '04:00', zone: 'Europe/London' },
      lastVerification: null,
      nextVerification: isoAt(now - DAY),
      verificationDue: true,
    });
    // Six days from now at the earliest, always on a Saturday between 02:00 and 04:00 London time.
    const next = DateTime.fromISO(arb2!.nextRotation!, { zone: 'Europe/London' });
    expect(next.toMillis()).toBeGreaterThanOrEqual(now + 6 * DAY - 1000);
    expect(next.weekday).toBe(6);
    expect(next.hour >= 2 && next.hour < 4).toBe(true);

    expect(mm).toMatchObject({ state: 'missing', lastRotation: null, nextRotation: null, rotationDue: false, verificationDue: false });
    for (const s of slots)
      for (const t of [s.lastRotation, s.nextRotation, s.lastVerification, s.nextVerification]) if (t) expect(t).toMatch(/Z$/);
  });

  it('prints a table for humans, in UTC with relative times, naming what to do next', async () => {
    const now = Date.now();
    const store = await storeWithKeys([['bots/alpha/arb1', now - 40 * DAY]]);
    const { ctx, stdout } = fakeContext(false, store, fakeAudit([entry('verify', 'alpha/arb1', now - 3 * HOUR, 'failed')]));
    await run(ctx, [], {});
    const text = stdout();
    for (const s of [
      'alpha/arb1',
      'alpha/arb2',
      'beta/mm',
      'MISSING',
      'DUE',
      'FAILED',
      '40d ago',
      'sat 02:00-04:00 Europe/London',
      'never',
      'Times are UTC',
      'keyctl key import',
      'keyctl rotate --due',
    ]) {
      expect(text).toContain(s);
    }
    expect(text).toContain(DateTime.fromMillis(now - 40 * DAY, { zone: 'utc' }).toFormat('yyyy-MM-dd HH:mm'));
    expect(text).not.toContain('FAKE-');
  });
});

describe('buildSchedule', () => {
  it('is a pure function of config, store, audit and now', async () => {
    const store = await storeWithKeys([['bots/beta/mm', Date.parse('2025-01-01T00:00:00Z')]]);
    const slots = await buildSchedule({ inventory: config, store, audit: fakeAudit([]), now: () => Date.parse('2025-01-02T00:00:00Z') });
    expect(slots.find((s) => s.ref === 'beta/mm')).toMatchObject({
      lastRotation: '2025-01-01T00:00:00Z',
      nextRotation: '2025-01-31T00:00:00Z',
      rotationDue: false,
      nextVerification: '2025-01-01T00:00:00Z',
      verificationDue: true,
    });
  });

  it('a slot whose key is only PENDING is still missing', async () => {
    const store = new MemoryStore();
    await store.write('bots/beta/mm', { secret: { apiKey: 'FAKE-a', secret: 'FAKE-b' }, stage: 'PENDING' });
    const slots = await buildSchedule({ inventory: config, store, audit: fakeAudit([]), now: Date.now });
    expect(slots.find((s) => s.ref === 'beta/mm')?.state).toBe('missing');
  });
});

describe('lastVerifications', () => {
  it("asks the log for its latest verify entries only, and keeps each ref's newest", async () => {
    const t = Date.parse('2025-01-01T00:00:00Z');
    const entries = [entry('verify', 'alpha/arb2', t)];
    for (let i = 0; i < 1500; i++) entries.push(entry('verify', 'alpha/arb1', t + i));
    entries.push(entry('verify', 'beta/mm', t));
    const audit = fakeAudit(entries);
    const found = await lastVerifications(audit, new Set(['alpha/arb1', 'alpha/arb2']));
    expect(audit.latest.mock.calls).toEqual([[['verify']]]);
    expect(found.get('alpha/arb1')?.time).toBe(new Date(t + 1499).toISOString());
    expect(found.get('alpha/arb2')?.time).toBe(new Date(t).toISOString());
    expect(found.has('beta/mm')).toBe(false); // not asked for
  });

  it('finds nothing for a ref never verified', async () => {
    const audit = fakeAudit([entry('key import', 'alpha/arb1', 0)]);
    expect((await lastVerifications(audit, new Set(['alpha/arb1']))).size).toBe(0);
  });
});
