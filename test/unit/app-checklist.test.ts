/**
 * The go-live checklist's decisions (src/app/checklist.ts), attestations (src/app/attest.ts) and the review
 * (src/app/review.ts), on a memory store with the audit entries the events map to. No exchange: the checklist never
 * calls one. Keys are obviously fake (app-world.ts).
 */
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { attest } from '../../src/app/attest.js';
import { checklist, type ChecklistDeps, type ChecklistReport, type HostVerdicts } from '../../src/app/checklist.js';
import { review, reviewMarkdown } from '../../src/app/review.js';
import { checklistSchema } from '../../src/config/checklist-schema.js';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError, UsageError } from '@keyctl/client/errors';
import { appWorld, type AppWorld } from './app-world.js';
import { caught } from '../helpers/caught.js';

const NOW = Date.parse('2030-03-01T12:00:00Z');
const MIN = 60_000;
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
const ATTESTED = ['exchange-2fa', 'withdrawal-whitelist', 'exchange-notifications', 'host-hardened'];
const HOST_OK: HostVerdicts = {
  storePermissions: { status: 'pass', evidence: 'owner only' },
  masterKeyPlacement: { status: 'pass', evidence: 'not beside the store' },
  configSecrets: { status: 'pass', evidence: 'no secret-looking value' },
};

let w: AppWorld | undefined;
let clock = NOW;
afterEach(async () => {
  await w?.close();
  w = undefined;
  clock = NOW;
});

async function world(): Promise<AppWorld> {
  w = await appWorld({ now: () => clock });
  return w;
}

function deps(world: AppWorld, extra: Partial<ChecklistDeps> = {}): ChecklistDeps {
  return { ...world.deps, alertChannels: ['ops'], host: HOST_OK, ...extra };
}

async function fingerprintOf(world: AppWorld, path: string): Promise<string> {
  const info = (await world.store.describe(path))!;
  return info.versions.find((x) => x.id === info.stages.CURRENT)!.meta.fingerprint!;
}

/** Everything a ready setup has on record: every key verified, drills, an alert test, the daemon, every attestation. */
async function ready(world: AppWorld, at = NOW - 10 * MIN): Promise<void> {
  const emit = world.deps.events.emit.bind(world.deps.events);
  for (const [ref, path] of [
    ['alpha/arb1', 'bots/alpha/arb1'],
    ['alpha/arb2', 'bots/alpha/arb2'],
    ['beta/mm', 'bots/beta/mm'],
    ['@main', 'accounts/main'],
  ] as const) {
    await emit({
      type: 'verification.result',
      ref,
      fingerprint: await fingerprintOf(world, path),
      outcome: 'ok',
      violations: [],
      time: iso(at),
    });
  }
  await emit({ type: 'kill.drill', bots: [], all: true, reason: 'monthly drill', orders: 0, positions: 0, keys: 4, time: iso(at) });
  await emit({ type: 'alert.test', channel: 'ops', outcome: 'sent', time: iso(at) });
  await emit({ type: 'due.run', runner: 'daemon', due: 0, failed: 0, time: iso(at) });
  for (const item of ATTESTED) await emit({ type: 'attestation', item, bot: 'alpha', by: 'alice', time: iso(at) });
  for (const item of ATTESTED) await emit({ type: 'attestation', item, bot: 'beta', by: 'bob', time: iso(at) });
}

function rowOf(report: ChecklistReport, id: string, bot: string | null = null) {
  const row = report.rows.find((r) => r.id === id && r.bot === bot);
  expect(row, `row ${id} ${bot}`).toBeDefined();
  return row!;
}

describe('checklist', () => {
  it('fresh setup: every attested item fails and says how to attest it; nothing on record is a fail, never a pass', async () => {
    const report = await checklist(deps(await world()));
    expect(report.ok).toBe(false);
    for (const item of ATTESTED) {
      expect(rowOf(report, item, 'alpha')).toMatchObject({
        kind: 'attested',
        status: 'fail',
        required: true,
        evidence: 'never attested',
        fix: expect.stringContaining(`keyctl attest ${item} alpha --by`),
      });
    }
    for (const id of ['key-verified', 'master-withdrawals-off', 'kill-drill']) expect(rowOf(report, id, 'beta').status).toBe('fail');
    for (const id of ['alerts-tested', 'scheduler-ran']) expect(rowOf(report, id).status).toBe('fail');
    // What keyctl can prove from the store alone passes.
    for (const id of ['one-key-per-slot', 'own-sub-account', 'rotation-age', 'no-flagged-key']) {
      expect(rowOf(report, id, 'alpha').status).toBe('pass');
    }
    expect(rowOf(report, 'audit-chain')).toMatchObject({ status: 'pass', kind: 'automated' });
  });

  it('a ready setup passes every row, with evidence of what was checked, when and by whom', async () => {
    const world_ = await world();
    await ready(world_);
    const report = await checklist(deps(world_));
    expect(report.rows.filter((r) => r.status !== 'pass')).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.rows.every((r) => r.fix === undefined)).toBe(true);
    expect(rowOf(report, 'exchange-2fa', 'beta').evidence).toMatch(/attested by bob \(run by test\) on 2030-03-01 11:50Z/);
    expect(rowOf(report, 'key-verified', 'alpha').evidence).toMatch(/alpha\/arb1: verified ok .*alpha\/arb2: verified ok/);
    // One row per (setup item) and per (bot item, bot): 6 setup items, 11 bot items for each of two bots.
    expect(report.rows).toHaveLength(6 + 2 * 11);
  });

  it('a setup with no bot declared does not pass, whatever its setup-wide rows say', async () => {
    const world_ = await world();
    await ready(world_);
    const empty = { ...world_.deps.inventory, slots: [] };
    const report = await checklist(deps(world_, { inventory: empty }));
    expect(report.rows.every((r) => r.bot === null && r.status === 'pass')).toBe(true);
    expect(report.ok).toBe(false);
  });

  it('checklist <bot> covers that bot only; an unknown bot is a usage error', async () => {
    const world_ = await world();
    const report = await checklist(deps(world_), { bot: 'beta' });
    expect(new Set(report.rows.map((r) => r.bot))).toEqual(new Set([null, 'beta']));
    expect((await caught(checklist(deps(world_), { bot: 'gamma' }))).code).toBe('UNKNOWN_BOT');
  });

  describe('automated items', () => {
    it('key-verified: due past verify.every, fail on a violation, on an error, or when only an older key was verified', async () => {
      const world_ = await world();
      await ready(world_, NOW - 2 * 3_600_000); // verify.every is PT1H
      const stale = rowOf(await checklist(deps(world_)), 'key-verified', 'alpha');
      expect(stale).toMatchObject({ status: 'due', fix: expect.stringContaining('keyctl verify alpha/arb1') });

      const fp = await fingerprintOf(world_, 'bots/alpha/arb1');
      await world_.deps.events.emit({
        type: 'verification.result',
        ref: 'alpha/arb1',
        fingerprint: fp,
        outcome: 'violation',
        violations: ['WITHDRAW_ENABLED'],
      });
      const refused = await checklist(deps(world_));
      expect(rowOf(refused, 'key-verified', 'alpha')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('WITHDRAW_ENABLED'),
      });
      expect(rowOf(refused, 'no-flagged-key', 'alpha').status).toBe('fail');

      await world_.deps.events.emit({
        type: 'verification.result',
        ref: 'alpha/arb1',
        fingerprint: fp,
        outcome: 'error',
        violations: [],
        error: 'EXCHANGE_UNAVAILABLE',
      });
      expect(rowOf(await checklist(deps(world_)), 'key-verified', 'alpha')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('could not check'),
      });

      await world_.deps.events.emit({
        type: 'verification.result',
        ref: 'alpha/arb1',
        fingerprint: 'ffffffffffff',
        outcome: 'ok',
        violations: [],
      });
      expect(rowOf(await checklist(deps(world_)), 'key-verified', 'alpha')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('never verified'),
      });
    });

    it('master-withdrawals-off: fails when the master key is missing or its verification found withdrawals on', async () => {
      w = await appWorld({ now: () => clock, importMaster: false });
      expect(rowOf(await checklist(deps(w)), 'master-withdrawals-off', 'alpha')).toMatchObject({
        status: 'fail',
        evidence: '@main: no master key stored',
      });
      await w.close();
      const world_ = await world();
      await ready(world_);
      await world_.deps.events.emit({
        type: 'verification.result',
        ref: '@main',
        fingerprint: await fingerprintOf(world_, 'accounts/main'),
        outcome: 'violation',
        violations: ['WITHDRAW_ENABLED'],
      });
      expect(rowOf(await checklist(deps(world_)), 'master-withdrawals-off', 'beta')).toMatchObject({
        status: 'fail',
        fix: expect.stringContaining('turn them off at the exchange'),
      });
    });

    it('one-key-per-slot: the same key in two slots (of two bots) fails both', async () => {
      const world_ = await world();
      await ready(world_);
      await world_.store.write('bots/beta/mm', {
        secret: { apiKey: 'FAKE-key-arb1-0001', secret: 'FAKE-secret-arb1-0001' },
        meta: { fingerprint: await fingerprintOf(world_, 'bots/alpha/arb1') },
        stage: 'CURRENT',
        expect: (await world_.store.describe('bots/beta/mm'))!.stages.CURRENT!,
      });
      const report = await checklist(deps(world_));
      expect(rowOf(report, 'one-key-per-slot', 'beta')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('also the CURRENT key of alpha/arb1'),
      });
      expect(rowOf(report, 'one-key-per-slot', 'alpha').status).toBe('fail');
    });

    it("own-sub-account: a bot on another bot's sub-account, or on the main account, fails", async () => {
      const world_ = await world();
      await ready(world_);
      const inv = world_.deps.inventory;
      const arb1 = inv.slots.find((s) => s.ref === 'alpha/arb1')!;
      const shared = { ...inv, slots: inv.slots.map((s) => (s.ref === 'beta/mm' ? { ...s, uid: arb1.uid } : s)) };
      expect(rowOf(await checklist(deps(world_, { inventory: shared })), 'own-sub-account', 'beta')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('also holds alpha/arb1'),
      });
      const onMain = { ...inv, accounts: { main: { ...inv.accounts.main!, uid: arb1.uid } } };
      expect(rowOf(await checklist(deps(world_, { inventory: onMain })), 'own-sub-account', 'alpha')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('is the main account'),
      });
    });

    it('rotation-age: due once the key is older than rotate.every', async () => {
      const world_ = await world();
      clock = NOW + 31 * DAY;
      await ready(world_, clock - 10 * MIN);
      expect(rowOf(await checklist(deps(world_)), 'rotation-age', 'alpha')).toMatchObject({
        status: 'due',
        evidence: expect.stringContaining('rotate.every P30D'),
        fix: 'keyctl rotate alpha/arb1; keyctl rotate alpha/arb2',
      });
      clock = NOW + 29 * DAY;
      expect(rowOf(await checklist(deps(world_)), 'rotation-age', 'alpha').status).toBe('pass');
    });

    it('no-flagged-key: a key stored with --accept-violations fails until a verification passes', async () => {
      const world_ = await world();
      await world_.store.write('bots/alpha/arb2', {
        secret: { apiKey: 'FAKE-flagged-key', secret: 'FAKE-flagged-secret' },
        meta: { fingerprint: 'aaaaaaaaaaaa', flags: 'violations:NOT_IP_LOCKED' },
        stage: 'CURRENT',
        expect: (await world_.store.describe('bots/alpha/arb2'))!.stages.CURRENT!,
      });
      expect(rowOf(await checklist(deps(world_)), 'no-flagged-key', 'alpha')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('NOT_IP_LOCKED'),
      });
    });

    it('kill-drill: the latest drill naming the bot (or all bots) counts; due after 30 days', async () => {
      const world_ = await world();
      const drill = (bots: string[], at: number) =>
        world_.deps.events.emit({ type: 'kill.drill', bots, all: false, reason: 'x', orders: 0, positions: 0, keys: 1, time: iso(at) });
      await drill(['beta'], NOW - 40 * DAY);
      let report = await checklist(deps(world_));
      expect(rowOf(report, 'kill-drill', 'beta')).toMatchObject({
        status: 'due',
        fix: 'keyctl kill beta --dry-run --reason "monthly drill"',
      });
      expect(rowOf(report, 'kill-drill', 'alpha')).toMatchObject({ status: 'fail', evidence: 'no kill drill on record' });
      await drill(['alpha', 'beta'], NOW - 29 * DAY);
      report = await checklist(deps(world_));
      expect(rowOf(report, 'kill-drill', 'beta')).toMatchObject({ status: 'pass', evidence: expect.stringContaining('by test') });
      clock = NOW + 2 * DAY;
      expect(rowOf(await checklist(deps(world_)), 'kill-drill', 'alpha').status).toBe('due');
    });

    it('alerts-tested: fails with no channel, a channel never tested or whose last test failed; due after 30 days', async () => {
      const world_ = await world();
      await ready(world_);
      expect(rowOf(await checklist(deps(world_, { alertChannels: [] })), 'alerts-tested')).toMatchObject({
        status: 'fail',
        evidence: 'no alert channel configured',
      });
      const two = await checklist(deps(world_, { alertChannels: ['ops', 'pager'] }));
      expect(rowOf(two, 'alerts-tested')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('pager: never tested'),
        fix: 'keyctl alert test pager',
      });
      await world_.deps.events.emit({ type: 'alert.test', channel: 'ops', outcome: 'failed', error: 'ALERT_HTTP_STATUS' });
      expect(rowOf(await checklist(deps(world_)), 'alerts-tested')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('not delivered'),
      });
      await world_.deps.events.emit({ type: 'alert.test', channel: 'ops', outcome: 'sent' });
      expect(rowOf(await checklist(deps(world_)), 'alerts-tested').status).toBe('pass');
      clock = NOW + 31 * DAY;
      expect(rowOf(await checklist(deps(world_)), 'alerts-tested').status).toBe('due');
    });

    it('scheduler-ran: the daemon within twice verify.every, or cron verify --due and rotate --due; a stale record is due', async () => {
      const world_ = await world();
      const emit = (runner: 'daemon' | 'verify' | 'rotate', at: number) =>
        world_.deps.events.emit({ type: 'due.run', runner, due: 0, failed: 0, time: iso(at) });
      expect(rowOf(await checklist(deps(world_)), 'scheduler-ran').status).toBe('fail');
      await emit('daemon', NOW - 3 * 3_600_000); // verify.every PT1H: the daemon must have run within 2h
      expect(rowOf(await checklist(deps(world_)), 'scheduler-ran').status).toBe('due');
      await emit('verify', NOW - 30 * MIN);
      expect(rowOf(await checklist(deps(world_)), 'scheduler-ran').status).toBe('due'); // rotate --due never ran
      await emit('rotate', NOW - DAY);
      expect(rowOf(await checklist(deps(world_)), 'scheduler-ran').status).toBe('pass');
      await emit('daemon', NOW - MIN);
      expect(rowOf(await checklist(deps(world_)), 'scheduler-ran')).toMatchObject({
        status: 'pass',
        evidence: expect.stringContaining('daemon cycle'),
      });
    });

    it('audit-chain and the host checks: a broken chain or a failing host verdict fails its row', async () => {
      const world_ = await world();
      await ready(world_);
      const broken = { ...world_.deps.audit, verify: async () => ({ ok: false, entries: 3, problems: [] }) };
      expect(rowOf(await checklist(deps(world_, { audit: broken as never })), 'audit-chain')).toMatchObject({
        status: 'fail',
        fix: 'keyctl audit verify',
      });
      const host = {
        ...HOST_OK,
        configSecrets: { status: 'fail' as const, evidence: 'line 3: secret has a literal value', fix: 'use env:' },
      };
      const report = await checklist(deps(world_, { host }));
      expect(rowOf(report, 'config-no-secrets')).toMatchObject({ status: 'fail', required: true });
      expect(report.ok).toBe(false);
    });
  });

  describe('attested items', () => {
    it('pass once attested, are due after attestationsValidFor, and fail when the attester left staff', async () => {
      const world_ = await world();
      await ready(world_);
      const config = v.parse(checklistSchema, { attestationsValidFor: 'P7D' });
      expect(rowOf(await checklist(deps(world_, { checklist: config })), 'host-hardened', 'alpha').status).toBe('pass');
      clock = NOW + 8 * DAY;
      expect(rowOf(await checklist(deps(world_, { checklist: config })), 'host-hardened', 'alpha')).toMatchObject({
        status: 'due',
        fix: expect.stringContaining('keyctl attest host-hardened alpha'),
      });
      clock = NOW;
      const inv = { ...world_.deps.inventory, staff: ['alice', 'carol'] }; // bob offboarded
      expect(rowOf(await checklist(deps(world_, { inventory: inv })), 'host-hardened', 'beta')).toMatchObject({
        status: 'fail',
        evidence: expect.stringContaining('no longer listed under staff'),
      });
    });

    it('an attestation dated in the future does not pass', async () => {
      const world_ = await world();
      await world_.deps.events.emit({ type: 'attestation', item: 'exchange-2fa', bot: 'alpha', by: 'alice', time: iso(NOW + DAY) });
      expect(rowOf(await checklist(deps(world_)), 'exchange-2fa', 'alpha').status).toBe('fail');
    });
  });

  describe('configuration', () => {
    it('optional items do not count for the exit; a bot can require one made optional for all', async () => {
      const world_ = await world();
      await ready(world_);
      const config = v.parse(checklistSchema, {
        optional: ['kill-drill'],
        bots: { beta: { require: ['kill-drill'], optional: ['host-hardened'] } },
      });
      clock = NOW + 31 * DAY; // drills and attestations have lapsed
      await world_.deps.events.emit({ type: 'due.run', runner: 'daemon', due: 0, failed: 0 });
      const report = await checklist(deps(world_, { checklist: config }), { bot: 'alpha' });
      expect(rowOf(report, 'kill-drill', 'alpha')).toMatchObject({ status: 'due', required: false });
      expect(rowOf(report, 'host-hardened', 'alpha')).toMatchObject({ status: 'due', required: true });
      const beta = await checklist(deps(world_, { checklist: config }), { bot: 'beta' });
      expect(rowOf(beta, 'kill-drill', 'beta').required).toBe(true);
      expect(rowOf(beta, 'host-hardened', 'beta').required).toBe(false);
    });

    it('only optional rows failing: the checklist passes', async () => {
      const world_ = await world();
      await ready(world_);
      const config = v.parse(checklistSchema, { optional: ['alerts-tested'] });
      const report = await checklist(deps(world_, { checklist: config, alertChannels: [] }));
      expect(rowOf(report, 'alerts-tested')).toMatchObject({ status: 'fail', required: false });
      expect(report.ok).toBe(true);
    });

    it("an operator's items are attested like the built-in ones, for the bots they name", async () => {
      const world_ = await world();
      await ready(world_);
      const config = v.parse(checklistSchema, {
        items: { 'vps-console-2fa': { title: "2FA on the VPS provider's console", bots: ['beta'] } },
      });
      const report = await checklist(deps(world_, { checklist: config }));
      expect(report.rows.filter((r) => r.id === 'vps-console-2fa').map((r) => r.bot)).toEqual(['beta']);
      expect(rowOf(report, 'vps-console-2fa', 'beta')).toMatchObject({ kind: 'attested', status: 'fail', required: true });
      expect(report.ok).toBe(false);
      await attest({ ...world_.deps, checklist: config }, { item: 'vps-console-2fa', by: 'carol' });
      const after = await checklist(deps(world_, { checklist: config }));
      expect(rowOf(after, 'vps-console-2fa', 'beta').status).toBe('pass');
      expect(after.ok).toBe(true);
      await expect(
        attest({ ...world_.deps, checklist: config }, { item: 'vps-console-2fa', bot: 'alpha', by: 'carol' }),
      ).rejects.toMatchObject({
        code: 'ITEM_NOT_FOR_BOT',
      });
    });

    it('a checklist section naming an unknown item is a usage error listing the items; unknown bots fail at load', async () => {
      const world_ = await world();
      const config = v.parse(checklistSchema, { optional: ['no-such-item'] });
      const err = await caught(checklist(deps(world_, { checklist: config })));
      expect(err).toBeInstanceOf(UsageError);
      expect(err).toMatchObject({ code: 'CHECKLIST_CONFIG', hint: expect.stringContaining('exchange-2fa') });
      const yaml = (extra: string) =>
        `accounts:\n  main: { exchange: bybit }\nbots:\n  alpha:\n    subaccounts:\n      arb1: { account: main, uid: "1", scopes: [read], ips: [203.0.113.7] }\n${extra}`;
      const bad = (() => {
        try {
          parseConfig(
            yaml('checklist:\n  bots:\n    gamma: { optional: [kill-drill] }\n  items:\n    x-y: { title: X, bots: [delta] }\n'),
            '/x/keyctl.yaml',
          );
        } catch (e) {
          return e;
        }
      })();
      expect(bad).toBeInstanceOf(ConfigError);
      expect((bad as ConfigError).issues.map((i) => i.path)).toEqual(['checklist.bots.gamma', 'checklist.items.x-y.bots.0']);
      expect(parseConfig(yaml(''), '/x/keyctl.yaml').config.checklist).toEqual({
        attestationsValidFor: 'P30D',
        optional: [],
        bots: {},
        items: {},
      });
      expect(() => parseConfig(yaml('checklist:\n  attestationsValidFor: PT0S\n'), '/x/keyctl.yaml')).toThrow(ConfigError);
      expect(() => parseConfig(yaml('checklist:\n  items:\n    Not_Kebab: { title: X }\n'), '/x/keyctl.yaml')).toThrow(ConfigError);
    });
  });
});

describe('attest', () => {
  it('records one audit entry per bot with the claimed name and the note; the checklist then passes the item', async () => {
    const world_ = await world();
    const result = await attest(world_.deps, { item: 'withdrawal-whitelist', by: 'bob', note: 'locked, 2 addresses' });
    expect(result).toEqual({ item: 'withdrawal-whitelist', bots: ['alpha', 'beta'], by: 'bob', validUntil: iso(NOW + 30 * DAY) });
    expect(world_.recorder.entries.map((e) => e.detail)).toEqual([
      { item: 'withdrawal-whitelist', bot: 'alpha', by: 'bob', note: 'locked, 2 addresses' },
      { item: 'withdrawal-whitelist', bot: 'beta', by: 'bob', note: 'locked, 2 addresses' },
    ]);
    const report = await checklist(deps(world_));
    expect(rowOf(report, 'withdrawal-whitelist', 'beta')).toMatchObject({
      status: 'pass',
      evidence: expect.stringContaining('locked, 2 addresses'),
    });
  });

  it('refuses a name not under staff, an unknown or automated item, an unknown bot and a bad note, recording nothing', async () => {
    const world_ = await world();
    const refused = async (input: Parameters<typeof attest>[1], code: string) => {
      const err = await caught(attest(world_.deps, input));
      expect(err, code).toBeInstanceOf(UsageError);
      expect((err as UsageError).code).toBe(code);
    };
    await refused({ item: 'exchange-2fa', by: 'mallory' }, 'UNKNOWN_STAFF');
    // The name is checked first, whatever else is wrong.
    await refused({ item: 'no-such-item', by: 'mallory' }, 'UNKNOWN_STAFF');
    await refused({ item: 'no-such-item', by: 'alice' }, 'UNKNOWN_ITEM');
    await refused({ item: 'key-verified', by: 'alice' }, 'NOT_ATTESTED');
    await refused({ item: 'exchange-2fa', bot: 'gamma', by: 'alice' }, 'UNKNOWN_BOT');
    await refused({ item: 'exchange-2fa', by: 'alice', note: 'two\nlines' }, 'BAD_NOTE');
    await refused({ item: 'exchange-2fa', by: 'alice', note: '   ' }, 'BAD_NOTE');
    await refused({ item: 'exchange-2fa', by: 'alice', note: 'x'.repeat(501) }, 'BAD_NOTE');
    expect(world_.recorder.entries).toEqual([]);
  });
});

describe('review', () => {
  it("lists the period's events by kind, drift found and whether it was fixed, and what needs a person", async () => {
    const world_ = await world();
    const emit = world_.deps.events.emit.bind(world_.deps.events);
    const t = (daysAgo: number) => iso(NOW - daysAgo * DAY);
    await emit({ type: 'kill.drill', bots: ['alpha'], all: false, reason: 'too old', orders: 0, positions: 0, keys: 2, time: t(9) });
    await emit({
      type: 'verification.result',
      ref: 'alpha/arb1',
      fingerprint: 'a1',
      outcome: 'violation',
      violations: ['NOT_IP_LOCKED'],
      time: t(5),
    });
    await emit({ type: 'verification.result', ref: 'alpha/arb1', fingerprint: 'a1', outcome: 'ok', violations: [], time: t(4) });
    await emit({
      type: 'verification.result',
      ref: 'beta/mm',
      fingerprint: 'b1',
      outcome: 'violation',
      violations: ['EXPIRING'],
      time: t(3),
    });
    await emit({
      type: 'verification.result',
      ref: 'alpha/arb2',
      fingerprint: 'c1',
      outcome: 'error',
      violations: [],
      error: 'EXCHANGE_UNAVAILABLE',
      time: t(3),
    });
    await emit({
      type: 'rotation.step',
      step: 'promoted',
      outcome: 'ok',
      ref: 'alpha/arb1',
      rotationId: 'r1',
      fingerprint: 'a2',
      previous: 'a1',
      time: t(2),
    });
    await emit({ type: 'kill.drill', bots: ['beta'], all: false, reason: 'monthly', orders: 0, positions: 0, keys: 1, time: t(2) });
    await emit({ type: 'offboard', staff: 'bob', rotated: 2, failed: 0, masterKeys: [], time: t(1) });
    await emit({ type: 'alert.test', channel: 'ops', outcome: 'failed', error: 'ALERT_TIMEOUT', time: t(1) });
    await emit({ type: 'attestation', item: 'exchange-2fa', bot: 'alpha', by: 'alice', note: 'checked', time: t(1) });
    const r = await review(world_.deps, { sinceMs: 7 * DAY });
    expect(r.since).toBe(t(7));
    expect(r.entries).toBe(9); // the drill 9 days ago is outside
    expect(r.drills.map((d) => d.what)).toEqual(['drill for beta: monthly']);
    expect(r.drift).toEqual([
      { ref: 'alpha/arb1', found: t(5), codes: 'NOT_IP_LOCKED', fixed: t(4) },
      { ref: 'beta/mm', found: t(3), codes: 'EXPIRING', fixed: null },
    ]);
    expect(r.verificationsFailed.map((i) => [i.ref, i.what])).toEqual([
      ['alpha/arb1', 'violation: NOT_IP_LOCKED'],
      ['beta/mm', 'violation: EXPIRING'],
      ['alpha/arb2', 'not checked: EXCHANGE_UNAVAILABLE'],
    ]);
    expect(r.expiring.map((i) => i.ref)).toEqual(['beta/mm']);
    expect(r.rotations).toHaveLength(1);
    expect(r.offboards[0]!.what).toContain('offboarded bob');
    expect(r.alertFailures[0]!.what).toContain('alert test to ops failed (ALERT_TIMEOUT)');
    expect(r.attestations[0]!.what).toBe('exchange-2fa for alpha attested by alice: checked');
    // Coming due: every attested item of every bot but the one just attested.
    expect(r.attestationsComingDue).toHaveLength(2 * 4 - 1);
    expect(r.attestationsComingDue.find((a) => a.item === 'exchange-2fa' && a.bot === 'alpha')).toBeUndefined();
    // Lapsing before the next weekly review: listed.
    const later = await review({ ...world_.deps, now: () => NOW + 25 * DAY }, { sinceMs: 7 * DAY });
    expect(later.attestationsComingDue.find((a) => a.item === 'exchange-2fa' && a.bot === 'alpha')).toMatchObject({ by: 'alice' });
    const md = reviewMarkdown(r);
    expect(md).toContain('## Needs a person');
    expect(md).toMatch(/`beta\/mm` drift found .* \(EXPIRING\), not fixed yet/);
    expect(md).toMatch(/## Drift found and fixed\n\n- `alpha\/arb1` NOT_IP_LOCKED found/);
  });
});
