/**
 * What the Vault provider must get right on a real server and that the plain contract suite cannot show: a writer that
 * stalls between reading and writing can never overwrite a newer stage move (the stage record is written with KV v2
 * `cas`, checked by Vault itself: vault-plugin-secrets-kv path_data.go, pathDataWrite), writers' clocks play no part,
 * and custom_metadata's limits (in bytes, path_metadata.go validateCustomMetadata) are checked before any data write.
 *
 * Runs against the double (test/contract/vault.test.ts) and a real Vault (vault-real.slow.test.ts). The stalling proxy
 * sits between one writer and the server and holds the request that writes the stage record until the test lets go.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectVault, createStore, readStageWithDataAccess } from '../../providers/vault/index.js';
import { vaultStoreSchema } from '../../src/config/schema.js';
import { KeyctlError } from '@keyctl/client/errors';

export interface VaultTarget {
  address: string;
  token: string;
  mount: string;
  prefix: string;
}

/** An HTTP proxy to `target` that can hold the next request matching a predicate until released. */
class StallingProxy {
  private server!: Server;
  private holds: { match: (method: string, path: string, body: string) => boolean; gate: Promise<void>; arrived: () => void }[] = [];
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const i = this.holds.findIndex((h) => h.match(req.method ?? '', req.url ?? '', body.toString('utf8')));
        const hold = i >= 0 ? this.holds.splice(i, 1)[0] : undefined;
        hold?.arrived();
        void (hold?.gate ?? Promise.resolve()).then(() => this.forward(req, body, res));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Holds the next matching request; resolves `arrived` when it reaches the proxy. Call `release` to let it through. */
  hold(match: (method: string, path: string, body: string) => boolean): { arrived: Promise<void>; release: () => void } {
    let release!: () => void;
    let arrived!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const reached = new Promise<void>((r) => (arrived = r));
    this.holds.push({ match, gate, arrived });
    return { arrived: reached, release };
  }

  private forward(req: IncomingMessage, body: Buffer, res: import('node:http').ServerResponse): void {
    const url = new URL(req.url ?? '/', this.target);
    const out = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    out.end(body);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export function vaultFencingSuite(name: string, target: () => VaultTarget): void {
  describe(`Vault fencing and limits: ${name}`, () => {
    let proxy: StallingProxy;
    beforeAll(async () => {
      proxy = new StallingProxy(target().address);
      await proxy.start();
    });
    afterAll(async () => {
      await proxy?.close();
    });

    const open = (via: 'direct' | 'proxy', now?: () => number) => {
      const t = target();
      const config = vaultStoreSchema.parse({
        provider: 'vault',
        address: via === 'proxy' ? proxy.url : t.address,
        mount: t.mount,
        prefix: t.prefix,
      });
      return createStore(config, { env: { VAULT_TOKEN: t.token }, ...(now ? { now } : {}) });
    };
    let n = 0;
    const fresh = () => `bots/fence/s${++n}-${Date.now().toString(36)}`;

    it('a writer stalled before its stage-record write cannot overwrite a newer move: Vault refuses it, and the newer move stands', async () => {
      const a = await open('proxy');
      const b = await open('direct');
      const path = fresh();
      const v1 = (await b.write(path, { secret: { apiKey: 'FAKE-1' }, stage: 'CURRENT', expect: null })).version;
      const v2 = (await b.write(path, { secret: { apiKey: 'FAKE-2' }, expect: null })).version;
      const v3 = (await b.write(path, { secret: { apiKey: 'FAKE-3' }, stage: 'PREVIOUS', expect: null })).version;
      expect(v3).not.toBe(v2);
      // A promotes v2 to CURRENT; its stage-record write is held at the proxy, long past any mutex or lease TTL.
      const held = proxy.hold((method, url, body) => method === 'POST' && url.includes('/_stages/') && body.includes('"options"'));
      const promotion = a.moveStage(path, { stage: 'CURRENT', to: v2, expect: v1 }).then(
        () => 'done',
        (e: unknown) => e,
      );
      await held.arrived;
      // Meanwhile B detaches PENDING and promotes v3 (whatever happened to v2).
      await b.moveStage(path, { stage: 'PENDING', to: null, expect: v2 });
      await b.moveStage(path, { stage: 'CURRENT', to: v3, expect: v1 });
      held.release();
      const outcome = await promotion;
      expect(outcome).toBeInstanceOf(KeyctlError);
      expect((outcome as KeyctlError).code).toBe('CONFLICT');
      const info = await b.describe(path);
      expect(info?.stages).toEqual({ CURRENT: v3, PREVIOUS: v1 });
      // The mirror a bot with data-only access reads agrees with the record.
      const t = target();
      const { kv } = await connectVault(
        vaultStoreSchema.parse({ provider: 'vault', address: t.address, mount: t.mount, prefix: t.prefix }),
        {
          env: { VAULT_TOKEN: t.token },
        },
      );
      expect((await readStageWithDataAccess(kv, `${t.prefix}/${path}`)).secret.apiKey).toBe('FAKE-3');
      await a.close();
      await b.close();
    });

    it('two writers whose clocks are 30 s apart: of every race exactly one wins, and clocks play no part', async () => {
      const ahead = await open('direct', () => Date.now() + 30_000);
      const behind = await open('direct', () => Date.now() - 30_000);
      const path = fresh();
      let current = (await ahead.write(path, { secret: { v: '0' }, stage: 'CURRENT', expect: null })).version;
      for (let round = 1; round <= 4; round++) {
        const results = await Promise.allSettled([
          ahead.write(path, { secret: { v: `${round}a` }, stage: 'CURRENT', expect: current }),
          behind.write(path, { secret: { v: `${round}b` }, stage: 'CURRENT', expect: current }),
        ]);
        const won = results.filter((r): r is PromiseFulfilledResult<{ version: string }> => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect((r.reason as KeyctlError).code).toBe('CONFLICT');
        current = won[0]!.value.version;
        expect((await behind.read(path, { stage: 'CURRENT' })).version.id).toBe(current);
      }
      await ahead.close();
      await behind.close();
    });

    it('version metadata over 512 bytes (counted as Vault counts them, in UTF-8 bytes) is refused before any data write', async () => {
      const store = await open('direct');
      const path = fresh();
      // 311 characters, 611 bytes: fits a count of UTF-16 units, not Vault's byte limit.
      const meta = { note: `${'é'.repeat(300)}x` };
      expect(JSON.stringify(meta).length).toBeLessThan(512);
      const err = (await store.write(path, { secret: { v: '1' }, meta }).catch((e: unknown) => e)) as KeyctlError;
      expect(err.code).toBe('META_TOO_LARGE');
      expect(await store.describe(path)).toBeNull();
      await store.close();
    });

    it('a retried idempotent write after a crash between its data write and its stage record finishes, with no second version', async () => {
      const store = await open('proxy');
      const path = fresh();
      const key = '0123456789abcdef0123456789abcdef';
      // The first attempt's stage-record write never arrives (the process "dies" there): hold it forever.
      const held = proxy.hold((method, url) => method === 'POST' && url.includes('/_stages/'));
      const first = store.write(path, { secret: { v: '1' }, idempotencyKey: key, expect: null });
      await held.arrived;
      const retry = await open('direct');
      const { version } = await retry.write(path, { secret: { v: '1' }, idempotencyKey: key, expect: null });
      const info = await retry.describe(path);
      expect(info?.versions.map((v) => v.id)).toEqual([version]);
      expect(info?.stages).toEqual({ PENDING: version });
      held.release();
      // The first attempt's own record write is refused by cas (the retry wrote the record); it settles on the same version.
      expect((await first).version).toBe(version);
      expect((await retry.describe(path))?.versions).toHaveLength(1);
      await store.close();
      await retry.close();
    });
  });
}
