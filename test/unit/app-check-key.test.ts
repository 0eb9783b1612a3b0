import { afterEach, describe, expect, it } from 'vitest';
import { checkKey } from '../../src/app/check-key.js';
import { fingerprint } from '../../src/domain/credentials.js';
import { appWorld, CLIENT_IP, UNSAFE_BOT, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('checkKey', () => {
  it('a safe bot key passes, judged against its slot (the master key read from the store)', async () => {
    w = await appWorld({ sandbox: true });
    const result = await checkKey(w.deps, { key: 'alpha/arb1', credentials: w.keys.arb1! });
    expect(result).toMatchObject({ ref: 'alpha/arb1', fingerprint: fingerprint(w.keys.arb1!.apiKey), violations: [] });
    expect(result.inspection?.ips).toEqual([CLIENT_IP]);
  });

  it('an unsafe bot key gets its violations; a master key is judged as a master key', async () => {
    w = await appWorld({ sandbox: true, permissions: { arb2: UNSAFE_BOT } });
    expect((await checkKey(w.deps, { key: 'alpha/arb2', credentials: w.keys.arb2! })).violations.map((v) => v.code)).toEqual([
      'TRANSFER_ENABLED',
    ]);
    // The master key's transfer rights are what bybit needs to manage sub-account keys: not a violation for it.
    expect((await checkKey(w.deps, { key: '@main', credentials: w.master! })).violations).toEqual([]);
    // The same key judged as a bot key is not fine.
    expect((await checkKey(w.deps, { key: 'alpha/arb1', credentials: w.master! })).violations.length).toBeGreaterThan(0);
  });

  it('a key the exchange rejects is a KEY_REJECTED violation with the refusal, never a pass', async () => {
    w = await appWorld({ sandbox: true });
    const result = await checkKey(w.deps, { key: 'alpha/arb1', credentials: { apiKey: 'FAKE-nosuchkey01', secret: 'FAKE-secret-000001' } });
    expect(result.violations.map((v) => v.code)).toEqual(['KEY_REJECTED']);
    expect(result.refusal).toMatchObject({ code: 'KEY_REJECTED', address: false });
    expect(result.inspection).toBeUndefined();
  });

  it('an exchange that cannot be asked is an error; an unknown ref is UNKNOWN_REF', async () => {
    w = await appWorld({ sandbox: true });
    await w.sandbox!.admin.addFault({ exchange: 'bybit', path: '*', kind: '5xx' });
    await expect(checkKey(w.deps, { key: 'alpha/arb1', credentials: w.keys.arb1! })).rejects.toMatchObject({
      code: 'EXCHANGE_UNAVAILABLE',
    });
    await expect(checkKey(w.deps, { key: 'alpha/nope', credentials: w.keys.arb1! })).rejects.toMatchObject({ code: 'UNKNOWN_REF' });
  });
});
