import { afterEach, describe, expect, it } from 'vitest';
import { status } from '../../src/app/status.js';
import { ProviderError } from '@keyctl/client/errors';
import { appWorld, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const where = { provider: 'memory', location: 'memory' };

describe('status', () => {
  it('counts the declared keys present and missing, a rotation pending, and the keys known to be unsafe', async () => {
    w = await appWorld({ withoutKey: ['beta/mm'] });
    await w.store.write('bots/alpha/arb2', { secret: { apiKey: 'FAKE-pending-key', secret: 'FAKE-pending-secret' }, stage: 'PENDING' });
    const arb1 = (await w.store.describe('bots/alpha/arb1'))!;
    const fp = arb1.versions[0]!.meta.fingerprint!;
    await w.deps.events.emit({
      type: 'verification.result',
      ref: 'alpha/arb1',
      fingerprint: fp,
      outcome: 'violation',
      violations: ['NOT_IP_LOCKED'],
    });
    const result = await status({ inventory: w.deps.inventory, where, auditPath: '/tmp/audit.log', open: async () => w!.deps });
    expect(result.store).toEqual({ provider: 'memory', location: 'memory', ok: true });
    expect(result.keys).toMatchObject({ declared: 4, withCurrent: 3, withPending: 1, missing: ['beta/mm'] });
    expect(result.keys.unsafe).toEqual([
      {
        ref: 'alpha/arb1',
        fingerprint: fp,
        unsafe: expect.stringContaining('NOT_IP_LOCKED'),
        hint: expect.stringContaining('keyctl rotate alpha/arb1'),
      },
    ]);
    expect(result.audit).toEqual({ path: '/tmp/audit.log', entries: 1, ok: true });
  });

  it("shows each bot's last kill drill and last kill from the audit log, with a hint when the drill is over 30 days old", async () => {
    const now = Date.parse('2030-03-01T00:00:00Z');
    w = await appWorld({ now: () => now });
    const day = (d: string) => `2030-${d}T12:00:00.000Z`;
    const drill = (bots: string[], time: string) =>
      w!.deps.events.emit({ type: 'kill.drill', bots, all: false, reason: 'monthly drill', orders: 0, positions: 0, keys: 2, time });
    await drill(['alpha'], day('01-01'));
    await drill(['beta'], day('01-10'));
    await drill(['beta'], day('02-20'));
    await w.deps.events.emit({
      type: 'kill',
      bots: ['alpha', 'beta'],
      all: true,
      reason: 'incident 7',
      revoked: 3,
      failed: 1,
      time: day('02-25'),
    });
    await w.deps.events.emit({ type: 'kill', bots: ['beta'], all: false, reason: 'incident 8', revoked: 1, failed: 0, time: day('02-26') });
    const result = await status({ inventory: w.deps.inventory, where, auditPath: 'x', open: async () => w!.deps, now: () => now });
    expect(result.kills).toEqual([
      {
        bot: 'alpha',
        lastDrill: { at: day('01-01'), actor: 'test', reason: 'monthly drill' },
        lastKill: { at: day('02-25'), actor: 'test', reason: 'incident 7', outcome: 'failed', failed: 1 },
        hint: 'last drilled 58 days ago: keyctl kill alpha --dry-run --reason "monthly drill"',
      },
      {
        bot: 'beta',
        lastDrill: { at: day('02-20'), actor: 'test', reason: 'monthly drill' },
        lastKill: { at: day('02-26'), actor: 'test', reason: 'incident 8', outcome: 'ok', failed: 0 },
      },
    ]);
  });

  it('a bot never drilled gets the hint; a stale drill does not make status fail', async () => {
    w = await appWorld();
    const result = await status({ inventory: w.deps.inventory, where, auditPath: 'x', open: async () => w!.deps });
    expect(result.kills.map((k) => [k.bot, k.lastDrill, k.lastKill, k.hint])).toEqual([
      ['alpha', null, null, 'no kill drill on record: keyctl kill alpha --dry-run --reason "monthly drill"'],
      ['beta', null, null, 'no kill drill on record: keyctl kill beta --dry-run --reason "monthly drill"'],
    ]);
    expect(result.keys.unsafe).toEqual([]);
  });

  it('a store that cannot be opened is reported, not thrown', async () => {
    w = await appWorld();
    const result = await status({
      inventory: w.deps.inventory,
      where,
      auditPath: '/tmp/audit.log',
      open: async () => {
        throw new ProviderError('WRONG_MASTER_KEY', 'The master key does not open this store.', { hint: 'Check KEYCTL_MASTER_KEY.' });
      },
    });
    expect(result.store).toEqual({
      ...where,
      ok: false,
      error: { code: 'WRONG_MASTER_KEY', message: 'The master key does not open this store.', hint: 'Check KEYCTL_MASTER_KEY.' },
    });
    expect(result.keys.declared).toBe(0);
    expect(result.audit.ok).toBeNull();
  });

  it('a bug is not reported as a store problem', async () => {
    w = await appWorld();
    const broken = status({ inventory: w.deps.inventory, where, auditPath: 'x', open: async () => Promise.reject(new TypeError('bug')) });
    await expect(broken).rejects.toThrow(TypeError);
  });
});
