import { afterEach, describe, expect, it } from 'vitest';
import { listKeys } from '../../src/app/list-keys.js';
import { violationFlags } from '../../src/domain/key-state.js';
import { appWorld, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('listKeys', () => {
  it('lists declared keys with their versions and stages, a declared key without one, and stored keys the config dropped', async () => {
    w = await appWorld({ withoutKey: ['beta/mm'] });
    await w.store.write('bots/gone/old', { secret: { apiKey: 'FAKE-gone-key', secret: 'FAKE-gone-secret' }, stage: 'CURRENT' });
    const keys = await listKeys({ inventory: w.deps.inventory, store: w.store, audit: w.deps.audit });
    const byRef = new Map(keys.map((k) => [k.ref, k]));
    expect(byRef.get('alpha/arb1')).toMatchObject({ kind: 'slot', declared: true, versions: [{ stages: ['CURRENT'], destroyed: false }] });
    expect(byRef.get('alpha/arb1')!.versions[0]!.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(byRef.get('beta/mm')).toMatchObject({ declared: true, versions: [], state: { fingerprint: null, unsafe: null } });
    expect(byRef.get('gone/old')).toMatchObject({ kind: 'slot', declared: false });
    // Declared keys first, in config order; then the undeclared ones, sorted.
    expect(keys.at(-1)!.ref).toBe('gone/old');
    expect(JSON.stringify(keys)).not.toContain('FAKE-gone-secret');
  });

  it('shows a CURRENT key as unsafe when it was stored flagged, and safe again once its verification passed', async () => {
    w = await appWorld();
    await w.store.write('bots/alpha/arb1', {
      secret: { apiKey: 'FAKE-flagged-key', secret: 'FAKE-flagged-secret' },
      stage: 'CURRENT',
      meta: { fingerprint: 'feedfacefeedface', flags: violationFlags(['NOT_IP_LOCKED']) },
    });
    const list = () => listKeys({ inventory: w!.deps.inventory, store: w!.store, audit: w!.deps.audit });
    const before = (await list()).find((k) => k.ref === 'alpha/arb1')!;
    expect(before.state).toMatchObject({ flagged: ['NOT_IP_LOCKED'], unsafe: expect.stringContaining('NOT_IP_LOCKED') });
    await w.deps.events.emit({
      type: 'verification.result',
      ref: 'alpha/arb1',
      fingerprint: 'feedfacefeedface',
      outcome: 'ok',
      violations: [],
    });
    const after = (await list()).find((k) => k.ref === 'alpha/arb1')!;
    expect(after.state).toMatchObject({ flagged: ['NOT_IP_LOCKED'], unsafe: null, lastVerification: { outcome: 'ok' } });
  });
});
