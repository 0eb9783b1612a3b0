/**
 * The one provider contract suite. Every SecretStore implementation runs it through a small per-provider test file
 * that supplies a fresh store; the cases are written once, here.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import type { SecretStore } from '../../providers/types.js';
import { KeyctlError } from '@keyctl/client/errors';
import { caught } from '../helpers/caught.js';

export interface ProviderHarness {
  store: SecretStore;
  /** Makes `ms` of time pass for TTLs: moves an injected clock, or really waits for a remote server. */
  advance(ms: number): Promise<void>;
  cleanup?(): Promise<void>;
}

export interface ProviderSuiteOptions {
  /** Shortest TTL the backend honours, in ms (servers with second granularity need about 2000). */
  ttlMs?: number;
  /** Unique prefix per test so a shared server can serve every case. */
  pathPrefix?: () => string;
}

const CANARY = 'FAKE-SECRET-canary-7f3e9a1c';

function expectNoSecret(err: KeyctlError, ...secrets: string[]): void {
  const text = [err.message, err.hint ?? '', JSON.stringify(err.toJSON()), String(err.stack)].join('\n');
  for (const s of secrets) expect(text).not.toContain(s);
}

export function providerContract(name: string, make: () => Promise<ProviderHarness>, options: ProviderSuiteOptions = {}): void {
  const ttl = options.ttlMs ?? 1000;
  describe(`SecretStore contract: ${name}`, () => {
    let h: ProviderHarness;
    let store: SecretStore;
    let p: (s: string) => string;

    beforeEach(async () => {
      h = await make();
      store = h.store;
      await store.init();
      const prefix = options.pathPrefix?.() ?? `t${randomUUID().slice(0, 8)}`;
      p = (s) => `${prefix}/${s}`;
    });
    afterEach(async () => {
      await store.close();
      await h.cleanup?.();
    });

    describe('versions and stages', () => {
      it('a write creates a PENDING version that reads back by stage and by id', async () => {
        const { version } = await store.write(p('bots/a/s1'), {
          secret: { apiKey: 'FAKE-k1', secret: 'FAKE-s1' },
          meta: { fingerprint: 'fp1' },
          expect: null,
        });
        const byStage = await store.read(p('bots/a/s1'), { stage: 'PENDING' });
        expect(byStage.secret).toEqual({ apiKey: 'FAKE-k1', secret: 'FAKE-s1' });
        expect(byStage.version.id).toBe(version);
        expect(byStage.version.stages).toEqual(['PENDING']);
        expect(byStage.version.meta.fingerprint).toBe('fp1');
        const byId = await store.read(p('bots/a/s1'), { version });
        expect(byId.secret.apiKey).toBe('FAKE-k1');
      });

      it('each write is a new version and old versions stay readable', async () => {
        const path = p('bots/a/s2');
        const v1 = (await store.write(path, { secret: { v: '1' }, stage: 'CURRENT', expect: null })).version;
        const v2 = (await store.write(path, { secret: { v: '2' }, expect: null })).version;
        expect(v2).not.toBe(v1);
        expect((await store.read(path, { version: v1 })).secret.v).toBe('1');
        expect((await store.read(path, { stage: 'CURRENT' })).secret.v).toBe('1');
        expect((await store.read(path, { stage: 'PENDING' })).secret.v).toBe('2');
        const info = await store.describe(path);
        expect(info?.versions.map((v) => v.id)).toEqual([v1, v2]);
        expect(info?.stages).toEqual({ CURRENT: v1, PENDING: v2 });
      });

      it('promotion moves CURRENT and PREVIOUS follows in one step', async () => {
        const path = p('bots/a/s3');
        const v1 = (await store.write(path, { secret: { v: '1' }, stage: 'CURRENT', expect: null })).version;
        const v2 = (await store.write(path, { secret: { v: '2' }, expect: null })).version;
        await store.moveStage(path, { stage: 'CURRENT', to: v2, expect: v1 });
        const info = await store.describe(path);
        expect(info?.stages.CURRENT).toBe(v2);
        expect(info?.stages.PREVIOUS).toBe(v1);
        await store.moveStage(path, { stage: 'PENDING', to: null, expect: v2 });
        expect((await store.describe(path))?.stages.PENDING).toBeUndefined();
        expect((await store.read(path, { stage: 'CURRENT' })).secret.v).toBe('2');
        expect((await store.read(path, { stage: 'PREVIOUS' })).secret.v).toBe('1');
      });

      it('a stage that points nowhere and a missing path are NotFound', async () => {
        const path = p('bots/a/s4');
        expect((await caught(store.read(path, { stage: 'CURRENT' }))).code).toBe('NOT_FOUND');
        expect(await store.describe(path)).toBeNull();
        await store.write(path, { secret: { v: '1' }, expect: null });
        expect((await caught(store.read(path, { stage: 'CURRENT' }))).code).toBe('NOT_FOUND');
        expect((await caught(store.read(path, { version: 'no-such-version' }))).code).toBe('NOT_FOUND');
      });

      it('list returns paths under a prefix, sorted', async () => {
        await store.write(p('bots/b/y'), { secret: { v: '1' } });
        await store.write(p('bots/b/x'), { secret: { v: '1' } });
        await store.write(p('accounts/m'), { secret: { v: '1' } });
        expect(await store.list(p('bots/b/'))).toEqual([p('bots/b/x'), p('bots/b/y')]);
        expect(await store.list(p('accounts/'))).toEqual([p('accounts/m')]);
      });

      it('destroy drops material, keeps metadata, and refuses a version a stage points at', async () => {
        const path = p('bots/a/s5');
        const v1 = (await store.write(path, { secret: { v: '1' }, stage: 'CURRENT', expect: null, meta: { fingerprint: 'fpA' } })).version;
        const v2 = (await store.write(path, { secret: { v: '2' }, expect: null })).version;
        expect((await caught(store.destroy(path, v1))).code).toBe('CONFLICT');
        await store.moveStage(path, { stage: 'CURRENT', to: v2, expect: v1 });
        await store.moveStage(path, { stage: 'PREVIOUS', to: null, expect: v1 });
        await store.destroy(path, v1);
        await store.destroy(path, v1); // idempotent
        const info = await store.describe(path);
        const old = info?.versions.find((v) => v.id === v1);
        expect(old?.destroyed).toBe(true);
        expect(old?.meta.fingerprint).toBe('fpA');
        expect((await caught(store.read(path, { version: v1 }))).code).toBe('DESTROYED');
        expect((await store.read(path, { stage: 'CURRENT' })).secret.v).toBe('2');
      });

      it('delete removes the path and is idempotent', async () => {
        const path = p('bots/a/s6');
        await store.write(path, { secret: { v: '1' } });
        await store.delete(path);
        await store.delete(path);
        expect(await store.describe(path)).toBeNull();
        expect(await store.list(p('bots/a/s6'))).toEqual([]);
      });
    });

    describe('compare-and-set', () => {
      it('a write whose expectation is stale fails and changes nothing', async () => {
        const path = p('bots/c/s1');
        const v1 = (await store.write(path, { secret: { v: '1' }, expect: null })).version;
        const err = await caught(store.write(path, { secret: { v: '2' }, expect: null }));
        expect(err.code).toBe('CONFLICT');
        expect((await store.describe(path))?.stages.PENDING).toBe(v1);
        expect((await store.read(path, { stage: 'PENDING' })).secret.v).toBe('1');
      });

      it('two concurrent writers with the same expectation: exactly one wins', async () => {
        const path = p('bots/c/s2');
        const base = (await store.write(path, { secret: { v: '0' }, stage: 'CURRENT', expect: null })).version;
        const results = await Promise.allSettled(
          ['a', 'b', 'c'].map((w) => store.write(path, { secret: { v: w }, stage: 'CURRENT', expect: base })),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect((r.reason as KeyctlError).code).toBe('CONFLICT');
        const current = await store.read(path, { stage: 'CURRENT' });
        expect(current.version.id).toBe((won[0] as PromiseFulfilledResult<{ version: string }>).value.version);
      });

      it('two concurrent promotions from the same state: exactly one wins', async () => {
        const path = p('bots/c/s3');
        const v1 = (await store.write(path, { secret: { v: '1' }, stage: 'CURRENT', expect: null })).version;
        const v2 = (await store.write(path, { secret: { v: '2' }, stage: 'PENDING', expect: null })).version;
        const v3 = (await store.write(path, { secret: { v: '3' }, stage: 'PENDING', expect: v2 })).version;
        const results = await Promise.allSettled([
          store.moveStage(path, { stage: 'CURRENT', to: v2, expect: v1 }),
          store.moveStage(path, { stage: 'CURRENT', to: v3, expect: v1 }),
        ]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        const info = await store.describe(path);
        expect([v2, v3]).toContain(info?.stages.CURRENT);
        expect(info?.stages.PREVIOUS).toBe(v1);
      });

      it('moveStage to a missing version is NotFound; with a stale guard is Conflict', async () => {
        const path = p('bots/c/s4');
        const v1 = (await store.write(path, { secret: { v: '1' }, stage: 'CURRENT', expect: null })).version;
        expect((await caught(store.moveStage(path, { stage: 'CURRENT', to: v1, expect: null }))).code).toBe('CONFLICT');
        expect((await caught(store.moveStage(path, { stage: 'PENDING', to: 'no-such-version', expect: null }))).code).toBe('NOT_FOUND');
      });

      it('a repeated idempotent write returns the same version; a different value under the same key conflicts', async () => {
        const path = p('bots/c/s5');
        const key = randomUUID();
        const a = await store.write(path, { secret: { v: CANARY }, idempotencyKey: key, expect: null });
        const b = await store.write(path, { secret: { v: CANARY }, idempotencyKey: key, expect: null });
        expect(b.version).toBe(a.version);
        expect((await store.describe(path))?.versions).toHaveLength(1);
        const err = await caught(store.write(path, { secret: { v: 'other' }, idempotencyKey: key, expect: null }));
        expect(err.code).toBe('CONFLICT');
        expectNoSecret(err, CANARY, 'other');
      });

      it('idempotency keys of the wrong shape, or in the reserved keyctl- namespace, are refused', async () => {
        const path = p('bots/c/s6');
        for (const bad of ['short', 'keyctl-0123456789abcdef0123456789abcdef', 'has spaces and is long enough to pass the length check']) {
          expect((await caught(store.write(path, { secret: { v: '1' }, idempotencyKey: bad }))).code).toBe('INVALID_IDEMPOTENCY_KEY');
        }
        expect(await store.describe(path)).toBeNull();
      });
    });

    describe('wrapping', () => {
      it('unwrap returns the value once; a second unwrap fails', async () => {
        const token = await store.wrap(CANARY, 60_000);
        expect(token).not.toContain(CANARY);
        expect(await store.unwrap(token)).toBe(CANARY);
        const err = await caught(store.unwrap(token));
        expect(err.code).toBe('WRAP_INVALID');
        expectNoSecret(err, CANARY, token);
      });

      it('an expired token cannot be unwrapped', async () => {
        const token = await store.wrap(CANARY, ttl);
        await h.advance(ttl * 2 + 100);
        expect((await caught(store.unwrap(token))).code).toBe('WRAP_INVALID');
      });

      it('concurrent unwraps of one token: exactly one gets the value', async () => {
        const token = await store.wrap(CANARY, 60_000);
        const results = await Promise.allSettled([store.unwrap(token), store.unwrap(token), store.unwrap(token)]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      });

      it('a made-up token fails without saying why', async () => {
        const err = await caught(store.unwrap('not-a-token'));
        expect(err.code).toBe('WRAP_INVALID');
      });
    });

    describe('redaction', () => {
      it('no error names a secret value', async () => {
        const path = p('bots/r/s1');
        const v1 = (await store.write(path, { secret: { apiKey: 'FAKE-key', secret: CANARY }, stage: 'CURRENT', expect: null })).version;
        const errors = [
          await caught(store.write(path, { secret: { secret: CANARY }, stage: 'CURRENT', expect: null })),
          await caught(store.destroy(path, v1)),
          await caught(store.moveStage(path, { stage: 'CURRENT', to: v1, expect: 'stale' })),
          await caught(store.read(path, { stage: 'PENDING' })),
          await caught(store.unwrap(`kcw_${CANARY}`)),
        ];
        for (const err of errors) expectNoSecret(err, CANARY);
      });

      it('describe and list never return secret material', async () => {
        const path = p('bots/r/s2');
        await store.write(path, { secret: { secret: CANARY }, meta: { fingerprint: 'fp' } });
        expect(JSON.stringify(await store.describe(path))).not.toContain(CANARY);
        expect(JSON.stringify(await store.list(p('')))).not.toContain(CANARY);
      });
    });
  });
}
