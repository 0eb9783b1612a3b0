import { afterEach, describe, expect, it } from 'vitest';
import { status } from '../../src/app/status.js';
import { ProviderError } from '../../src/errors.js';
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
