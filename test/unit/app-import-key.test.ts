import { afterEach, describe, expect, it } from 'vitest';
import { importKey } from '../../src/app/import-key.js';
import { fingerprint } from '../../src/domain/credentials.js';
import { resolveKey } from '../../src/domain/resolve.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { ExchangeAdapter } from '../../src/exchanges/types.js';
import { appWorld, CLIENT_IP, UNSAFE_BOT, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

async function sandboxKey(world: AppWorld, permissions: unknown) {
  return world.sandbox!.admin.createKey({
    exchange: 'bybit',
    owner: world.subs.arb1!,
    permissions: permissions as never,
    ips: [CLIENT_IP],
  });
}

describe('importKey', () => {
  it("a scope the exchange grants only with a declared one: the remedy points at the slot's scopes, not at the exchange", async () => {
    w = await appWorld({ sandbox: true });
    const bybit = await getAdapter('bybit');
    // As OKX's one `trade` permission: spot and futures come together, so no key for the slot can lack futures.
    const bundled: ExchangeAdapter = Object.assign(Object.create(bybit) as ExchangeAdapter, {
      capabilities: { ...bybit.capabilities, boundScopes: [['spot:trade', 'futures:trade']] },
    });
    const deps = { ...w.deps, adapter: async () => bundled };
    const key = resolveKey(w.deps.inventory, 'alpha/arb1');
    const both = await sandboxKey(w, { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'] });
    const refused = await importKey(deps, { key, credentials: both, actor: 'ops' });
    expect(refused).toMatchObject({ status: 'refused', violations: [expect.objectContaining({ code: 'EXCESS_SCOPE' })] });
    expect(refused.status === 'refused' && refused.remedy).toMatch(/add futures:trade to bots\.alpha\.subaccounts\.arb1\.scopes/);
    // A violation the exchange side can fix keeps the import's own hint (no remedy).
    const unsafe = await sandboxKey(w, UNSAFE_BOT);
    const other = await importKey(deps, { key, credentials: unsafe, actor: 'ops' });
    expect(other).toMatchObject({ status: 'refused' });
    expect(other.status === 'refused' && other.remedy).toBeUndefined();
  });

  it('stores a safe key as CURRENT, the old one becoming PREVIOUS, and emits key.imported', async () => {
    w = await appWorld({ sandbox: true });
    const key = await sandboxKey(w, { Spot: ['SpotTrade'] });
    const result = await importKey(w.deps, { key: resolveKey(w.deps.inventory, 'alpha/arb1'), credentials: key, actor: 'ops' });
    const old = fingerprint(w.keys.arb1!.apiKey);
    expect(result).toMatchObject({ status: 'stored', fingerprint: fingerprint(key.apiKey), violations: [], previous: old });
    const info = await w.store.describe('bots/alpha/arb1');
    const current = info!.versions.find((v) => v.id === info!.stages.CURRENT)!;
    expect(current.meta).toMatchObject({ fingerprint: fingerprint(key.apiKey), importedBy: 'ops', source: 'import' });
    expect(info!.versions.find((v) => v.id === info!.stages.PREVIOUS)?.meta.fingerprint).toBe(old);
    expect(w.recorder.entries).toEqual([
      expect.objectContaining({
        command: 'key import',
        ref: 'alpha/arb1',
        outcome: 'ok',
        detail: { version: result.status === 'stored' ? result.version : '', replaced: old },
      }),
    ]);
    // The same key again: nothing is stored or recorded, but the exchange is asked again.
    const again = await importKey(w.deps, { key: resolveKey(w.deps.inventory, 'alpha/arb1'), credentials: key, actor: 'ops' });
    expect(again).toMatchObject({ status: 'unchanged', violations: [] });
    expect(w.recorder.events).toHaveLength(1);
    // Withdrawals switched on at the exchange since: re-importing the same key reports it, never "nothing changed".
    await w.sandbox!.admin.tamper(key.apiKey, { withdraw: true });
    const drifted = await importKey(w.deps, { key: resolveKey(w.deps.inventory, 'alpha/arb1'), credentials: key, actor: 'ops' });
    expect(drifted).toMatchObject({ status: 'unchanged', violations: [expect.objectContaining({ code: 'WITHDRAW_ENABLED' })] });
    expect(w.recorder.of('violation')).toEqual([expect.objectContaining({ source: 'import', codes: ['WITHDRAW_ENABLED'] })]);
  });

  it('refuses a key with violations (nothing stored), or stores it flagged when they are accepted', async () => {
    w = await appWorld({ sandbox: true, withoutKey: ['alpha/arb1'] });
    const unsafe = await sandboxKey(w, UNSAFE_BOT);
    const target = resolveKey(w.deps.inventory, 'alpha/arb1');
    const refused = await importKey(w.deps, { key: target, credentials: unsafe, actor: 'ops' });
    expect(refused).toMatchObject({ status: 'refused', violations: [expect.objectContaining({ code: 'TRANSFER_ENABLED' })] });
    expect(await w.store.describe('bots/alpha/arb1')).toBeNull();
    const stored = await importKey(w.deps, { key: target, credentials: unsafe, actor: 'ops', acceptViolations: true });
    expect(stored).toMatchObject({ status: 'stored', previous: null });
    const info = await w.store.describe('bots/alpha/arb1');
    expect(info!.versions[0]!.meta.flags).toBe('violations:TRANSFER_ENABLED');
    expect(w.recorder.of('violation').map((e) => e.source)).toEqual(['import', 'import']);
    expect(w.recorder.entries.map((e) => [e.outcome, e.detail])).toEqual([
      ['refused', { violations: 'TRANSFER_ENABLED' }],
      ['ok', { version: info!.versions[0]!.id, replaced: null, acceptedViolations: 'TRANSFER_ENABLED' }],
    ]);
  });

  it('an exchange with no inspection API cannot vouch for a key: a KEY_REJECTED violation', async () => {
    const blind = {
      id: 'bybit',
      capabilities: { inspect: false },
      inspect: async () => {
        const { ExchangeError } = await import('@keyctl/client/errors');
        throw new ExchangeError('CAPABILITY_GAP', 'bybit offers no API to inspect keys.');
      },
    } as unknown as ExchangeAdapter;
    w = await appWorld({ adapter: blind });
    const result = await importKey(w.deps, {
      key: resolveKey(w.deps.inventory, 'alpha/arb1'),
      credentials: { apiKey: 'FAKE-new-key-0001', secret: 'FAKE-new-secret-0001' },
      actor: 'ops',
    });
    expect(result).toMatchObject({ status: 'refused', violations: [expect.objectContaining({ code: 'KEY_REJECTED' })] });
  });

  it('a failed store write is recorded as failed and rethrown', async () => {
    w = await appWorld({ sandbox: true });
    const key = await sandboxKey(w, { Spot: ['SpotTrade'] });
    const target = resolveKey(w.deps.inventory, 'alpha/arb1');
    const { ConflictError } = await import('@keyctl/client/errors');
    w.store.write = async () => {
      throw new ConflictError('CURRENT changed meanwhile.');
    };
    await expect(importKey(w.deps, { key: target, credentials: key, actor: 'ops' })).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(w.recorder.entries.map((e) => [e.outcome, e.detail])).toEqual([['failed', { error: 'CONFLICT' }]]);
  });
});
