/**
 * Long histories: Vault prunes past max_versions (the larger of the key's and the mount's, 10 when both are unset:
 * vault-plugin-secrets-kv path_data.go, KeyMetadata.AddVersion); keyctl never lets it prune a staged version, keeps
 * its bookkeeping in the stage record, and mirrors only the staged versions into custom_metadata.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyctlError } from '@keyctl/client/errors';
import { vaultBed, type VaultBed } from './vault-helpers.js';

let bed: VaultBed;
beforeEach(async () => {
  bed = await vaultBed();
});
afterEach(async () => {
  await bed.close();
});

describe('vault version history', () => {
  it('refuses a write that would prune CURRENT, sets no max_versions of its own, and keeps custom_metadata small', async () => {
    const store = await bed.store();
    const path = 'bots/alpha/arb1';
    const v1 = (await store.write(path, { secret: { v: '1' }, stage: 'CURRENT', expect: null, meta: { fingerprint: 'fp1' } })).version;
    let pending: string | null = null;
    for (let i = 2; i <= 10; i++) {
      const key = `retry-key-${String(i).padStart(24, '0')}`;
      pending = (
        await store.write(path, {
          secret: { v: String(i) },
          expect: pending,
          meta: { fingerprint: `fp${i}`, source: 'rotation' },
          idempotencyKey: key,
        })
      ).version;
      // stage.CURRENT, stage.PENDING, their two metadata values and keyctl.rev: never one key per version.
      expect(Object.keys(bed.vault.kvEntry('secret', `keyctl/${path}`)!.customMetadata!).length).toBeLessThanOrEqual(6);
    }
    const refused = (await store.write(path, { secret: { v: '11' }, expect: pending }).catch((e: unknown) => e)) as KeyctlError;
    expect(refused).toBeInstanceOf(KeyctlError);
    expect(refused.code).toBe('VAULT_VERSION_LIMIT');
    expect(refused.hint).toContain('larger of the key');
    expect((await store.read(path, { stage: 'CURRENT' })).version.id).toBe(v1);
    const md = (await (
      await fetch(`${bed.vault.url}/v1/secret/metadata/keyctl/${path}`, { headers: { 'X-Vault-Token': bed.vault.rootToken } })
    ).json()) as { data: { max_versions: number } };
    expect(md.data.max_versions).toBe(0);

    // Promote the latest, let go of the old one: now the oldest may be dropped, and its bookkeeping with it.
    await store.moveStage(path, { stage: 'CURRENT', to: pending, expect: v1 });
    await store.moveStage(path, { stage: 'PREVIOUS', to: null, expect: v1 });
    await store.write(path, { secret: { v: '11' }, expect: pending });
    const info = await store.describe(path);
    expect(info?.versions).toHaveLength(10);
    expect(info?.versions.some((v) => v.id === v1)).toBe(false);
    expect(info?.versions.at(-2)?.meta).toEqual({ fingerprint: 'fp10', source: 'rotation' });
    const custom = bed.vault.kvEntry('secret', `keyctl/${path}`)!.customMetadata!;
    expect(custom[`v${pending}`]).toBe(JSON.stringify({ fingerprint: 'fp10', source: 'rotation' }));
    expect(Object.keys(custom).some((k) => k.startsWith('idem.'))).toBe(false);
  });

  it('a path written by a keyctl from before stage records is read from its custom_metadata, then moved to a record', async () => {
    const store = await bed.store();
    const path = 'bots/alpha/legacy';
    // What an older keyctl left: a version and its bookkeeping in custom_metadata only.
    const token = bed.vault.rootToken;
    const post = (p: string, body: unknown) =>
      fetch(`${bed.vault.url}/v1/${p}`, { method: 'POST', headers: { 'X-Vault-Token': token }, body: JSON.stringify(body) });
    await post(`secret/data/keyctl/${path}`, { data: { apiKey: 'FAKE-old' } });
    await post(`secret/metadata/keyctl/${path}`, { custom_metadata: { 'stage.CURRENT': '1', v1: '{"fingerprint":"fp-old"}' } });
    expect((await store.read(path, { stage: 'CURRENT' })).version.meta).toEqual({ fingerprint: 'fp-old' });
    const v2 = (await store.write(path, { secret: { apiKey: 'FAKE-new' }, stage: 'CURRENT', expect: '1' })).version;
    expect((await store.describe(path))?.stages).toEqual({ CURRENT: v2, PREVIOUS: '1' });
    expect((await store.describe(path))?.versions.find((v) => v.id === '1')?.meta).toEqual({ fingerprint: 'fp-old' });
  });

  it('delete hides every version and never reuses an id; the next write goes on numbering', async () => {
    const store = await bed.store();
    const path = 'bots/alpha/again';
    const v1 = (await store.write(path, { secret: { v: '1' }, stage: 'CURRENT', expect: null })).version;
    await store.delete(path);
    expect(await store.describe(path)).toBeNull();
    expect(await store.list('bots/alpha/')).toEqual([]);
    const v2 = (await store.write(path, { secret: { v: '2' }, stage: 'CURRENT', expect: null })).version;
    expect(v2).not.toBe(v1);
    expect(Number(v2)).toBeGreaterThan(Number(v1));
    expect((await store.describe(path))?.versions.map((v) => v.id)).toEqual([v2]);
    expect(((await store.read(path, { version: v1 }).catch((e: unknown) => e)) as KeyctlError).code).toBe('NOT_FOUND');
  });
});

/** Root-token API calls, as an operator would make them with `vault write`. */
async function vaultApi(bed: VaultBed, path: string, body: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${bed.vault.url}/v1/${path}`, {
    method: 'POST',
    headers: { 'X-Vault-Token': bed.vault.rootToken, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBeLessThan(300);
}

describe("the KV mount's settings (vault-plugin-secrets-kv path_config.go)", () => {
  const writeHistory = async (store: Awaited<ReturnType<VaultBed['store']>>, path: string, count: number) => {
    await store.write(path, { secret: { v: '1' }, stage: 'CURRENT', expect: null });
    let pending: string | null = null;
    for (let i = 2; i <= count; i++) pending = (await store.write(path, { secret: { v: String(i) }, expect: pending })).version;
    return pending;
  };

  it("a mount's max_versions above 10 gives room; a key's lower setting cannot take it away (max of the two)", async () => {
    await vaultApi(bed, 'secret/config', { max_versions: 12 });
    const store = await bed.store();
    // Version 12 is the 12th kept: CURRENT (version 1) survives it; version 13 would drop it.
    let pending = await writeHistory(store, 'bots/alpha/wide', 12);
    const refused = (await store
      .write('bots/alpha/wide', { secret: { v: '13' }, expect: pending })
      .catch((e: unknown) => e)) as KeyctlError;
    expect(refused.code).toBe('VAULT_VERSION_LIMIT');
    expect(refused.message).toContain('version 1,');

    await vaultApi(bed, 'secret/metadata/keyctl/bots/alpha/narrow', { max_versions: 5 });
    pending = await writeHistory(store, 'bots/alpha/narrow', 12);
    expect((await store.read('bots/alpha/narrow', { stage: 'CURRENT' })).version.id).toBe('1');
    expect((await store.read('bots/alpha/narrow', { stage: 'PENDING' })).version.id).toBe(pending);
    expect(await store.settings()).toEqual({ max_versions: 12, cas_required: false, delete_version_after: '0s' });
  });

  it('a mount that deletes versions after a while is refused at start and at write, naming the setting and the fix', async () => {
    const store = await bed.store();
    await store.write('bots/alpha/s1', { secret: { v: '1' }, stage: 'CURRENT', expect: null });
    await vaultApi(bed, 'secret/config', { delete_version_after: '768h' });
    const later = await (await bed.store()).health().catch((e: unknown) => e);
    expect(later).toBeInstanceOf(KeyctlError);
    expect((later as KeyctlError).code).toBe('VAULT_DELETE_VERSION_AFTER');
    expect((later as KeyctlError).hint).toContain('delete_version_after=0s');
    // A store reads the settings once; every command opens a new one, which refuses.
    const fresh = await bed.store();
    const refusedFresh = (await fresh.write('bots/alpha/s1', { secret: { v: '2' }, expect: null }).catch((e: unknown) => e)) as KeyctlError;
    expect(refusedFresh.code).toBe('VAULT_DELETE_VERSION_AFTER');
  });

  it('a key given its own delete_version_after outside keyctl is refused before a write', async () => {
    const store = await bed.store();
    await store.write('bots/alpha/s1', { secret: { v: '1' }, stage: 'CURRENT', expect: null });
    await vaultApi(bed, 'secret/metadata/keyctl/bots/alpha/s1', { delete_version_after: '1h' });
    const refused = (await store.write('bots/alpha/s1', { secret: { v: '2' }, expect: null }).catch((e: unknown) => e)) as KeyctlError;
    expect(refused.code).toBe('VAULT_DELETE_VERSION_AFTER');
    expect((await store.describe('bots/alpha/s1'))?.versions).toHaveLength(1);
  });

  it('cas_required on the mount changes nothing: every keyctl write already carries cas', async () => {
    await vaultApi(bed, 'secret/config', { cas_required: true });
    const store = await bed.store();
    const v1 = (await store.write('bots/alpha/s1', { secret: { v: '1' }, stage: 'CURRENT', expect: null })).version;
    const v2 = (await store.write('bots/alpha/s1', { secret: { v: '2' }, expect: null })).version;
    await store.moveStage('bots/alpha/s1', { stage: 'CURRENT', to: v2, expect: v1 });
    expect((await store.describe('bots/alpha/s1'))?.stages).toEqual({ CURRENT: v2, PENDING: v2, PREVIOUS: v1 });
  });
});
