/** Long histories: Vault prunes past max_versions; keyctl never lets it prune a staged version and stays in custom_metadata's limits. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyctlError } from '../../src/errors.js';
import { vaultBed, type VaultBed } from './vault-helpers.js';

let bed: VaultBed;
beforeEach(async () => {
  bed = await vaultBed();
});
afterEach(async () => {
  await bed.close();
});

describe('vault version history', () => {
  it('pins max_versions, refuses a write that would prune CURRENT, and keeps custom_metadata within 64 keys', async () => {
    const store = await bed.store();
    const path = 'bots/alpha/arb1';
    const v1 = (await store.write(path, { secret: { v: '1' }, stage: 'CURRENT', expect: null, meta: { fingerprint: 'fp1' } })).version;
    let pending: string | null = null;
    for (let i = 2; i <= 20; i++) {
      const key = `retry-key-${String(i).padStart(24, '0')}`;
      pending = (
        await store.write(path, {
          secret: { v: String(i) },
          expect: pending,
          meta: { fingerprint: `fp${i}`, source: 'rotation' },
          idempotencyKey: key,
        })
      ).version;
      expect(Object.keys(bed.vault.kvEntry('secret', `keyctl/${path}`)!.customMetadata!).length).toBeLessThanOrEqual(64);
    }
    let refused: unknown;
    try {
      await store.write(path, { secret: { v: '21' }, expect: pending });
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(KeyctlError);
    expect((refused as KeyctlError).code).toBe('VAULT_VERSION_LIMIT');
    expect((await store.read(path, { stage: 'CURRENT' })).version.id).toBe(v1);

    // Promote the latest, let go of the old one: now the oldest may be dropped, and its bookkeeping with it.
    await store.moveStage(path, { stage: 'CURRENT', to: pending, expect: v1 });
    await store.moveStage(path, { stage: 'PREVIOUS', to: null, expect: v1 });
    await store.write(path, { secret: { v: '21' }, expect: pending });
    const info = await store.describe(path);
    expect(info?.versions).toHaveLength(20);
    expect(info?.versions.some((v) => v.id === v1)).toBe(false);
    expect(bed.vault.kvEntry('secret', `keyctl/${path}`)!.customMetadata![`v${v1}`]).toBeUndefined();
    expect(info?.versions.at(-2)?.meta).toEqual({ fingerprint: 'fp20', source: 'rotation' });
  });
});
