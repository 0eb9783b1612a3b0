/**
 * Rollback and deletion detection of the local store (providers/local/manifest.ts): an older valid copy of any record
 * file put back, or a record file removed, is refused with STORE_ROLLBACK instead of served; a crash between a
 * record's write and the manifest's update is not mistaken for one; a store from before the manifest is adopted.
 */
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCS_DIR, LocalStore, docFileName } from '../../providers/local/index.js';
import { COORDINATION_DIR, LocalCoordination } from '../../providers/local/coordination.js';
import { MANIFEST_FILE, MANIFEST_LOCK_FILE, MANIFEST_TEMP_PREFIX } from '../../providers/local/manifest.js';
import { FileLock } from '../../providers/local/lock.js';
import { docAad, parseKeyring, seal, unwrapDataKey } from '@keyctl/client/local/crypto';
import { caught } from '../helpers/caught.js';

const FAKE_MASTER_KEY = Buffer.alloc(32, 0x33).toString('base64');
const env = { KEYCTL_MASTER_KEY: FAKE_MASTER_KEY };
const PATH = 'bots/a/s1';

let root: string;
let dir: string;
const opened: LocalStore[] = [];

function store(): LocalStore {
  const s = new LocalStore({ path: dir, env, lockStaleMs: 500, lockTimeoutMs: 5_000 });
  opened.push(s);
  return s;
}
const coordination = (s: LocalStore) => new LocalCoordination({ path: dir, integrity: s, lockStaleMs: 500, lockTimeoutMs: 5_000 });
const slotFile = (path = PATH) => join(dir, DOCS_DIR, docFileName(`slot/${path}`));
const manifestFile = () => join(dir, MANIFEST_FILE);
const write = (s: LocalStore, value: string, expect: string | null, path = PATH) =>
  s.write(path, { secret: { apiKey: value }, stage: 'CURRENT', expect });

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'keyctl-rollback-'));
  dir = join(root, 'store');
  await store().init();
});
afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

describe('local store: an older copy or a removed record is refused', () => {
  it('a slot file put back from before a rotation is STORE_ROLLBACK on read, describe and list, and nothing is served', async () => {
    const s = store();
    const v1 = (await write(s, 'FAKE-old-key', null)).version;
    const old = await readFile(slotFile());
    await write(s, 'FAKE-new-key', v1);
    await writeFile(slotFile(), old);

    const fresh = store();
    for (const attempt of [
      () => fresh.read(PATH, { stage: 'CURRENT' }),
      () => fresh.describe(PATH),
      async () => {
        for (const p of await fresh.list('')) await fresh.describe(p);
      },
    ]) {
      const err = await caught(attempt());
      expect(err.code).toBe('STORE_ROLLBACK');
      expect(err.exitCode).toBe(4);
      expect(err.message).toContain('older copy');
      expect(err.hint).toContain('keyctl store accept');
      expect(err.message).not.toContain('FAKE-');
    }
    // Writing on top of it is refused too: the write path reads the current record through the same check.
    expect((await caught(write(fresh, 'FAKE-third', v1))).code).toBe('STORE_ROLLBACK');
  });

  it('a slot file removed outside keyctl is STORE_ROLLBACK (missing), on read and on list; a delete through keyctl is not', async () => {
    const s = store();
    await write(s, 'FAKE-a', null);
    await write(s, 'FAKE-b', null, 'bots/a/s2');
    await s.delete('bots/a/s2');
    expect(await s.describe('bots/a/s2')).toBeNull();
    await unlink(slotFile());
    const fresh = store();
    const err = await caught(fresh.describe(PATH));
    expect(err.code).toBe('STORE_ROLLBACK');
    expect(err.message).toContain('missing');
    expect((await caught(fresh.list(''))).code).toBe('STORE_ROLLBACK');
  });

  it('a deleted record put back reads as absent (its tombstone outranks it), never as the old key', async () => {
    const s = store();
    await write(s, 'FAKE-revoked', null);
    const old = await readFile(slotFile());
    await s.delete(PATH);
    await writeFile(slotFile(), old);
    expect(await store().describe(PATH)).toBeNull();
    // Created again after that, the record is one generation past the tombstone and reads normally.
    await write(s, 'FAKE-new', null);
    expect((await store().read(PATH, { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-new');
  });

  it('a coordination record (journal) or a lease put back from an older copy is STORE_ROLLBACK; a removed one too', async () => {
    const s = store();
    const c = coordination(s);
    const lease = await c.acquire('rotate/bots/a/s1', 'host-a', 60_000);
    const j1 = await c.write('journal/bots/a/s1', { step: 'created' }, { expect: null, fence: lease });
    const files = async () => (await readdir(join(dir, COORDINATION_DIR))).filter((n) => n.endsWith('.json'));
    const snapshot = new Map<string, Buffer>();
    for (const n of await files()) snapshot.set(n, await readFile(join(dir, COORDINATION_DIR, n)));
    await c.write('journal/bots/a/s1', { step: 'promoted' }, { expect: j1.revision, fence: lease });
    await c.release(lease);

    const recordName = (await files()).find((n) => n.startsWith('record-'))!;
    const leaseName = (await files()).find((n) => n.startsWith('lease-'))!;
    await writeFile(join(dir, COORDINATION_DIR, recordName), snapshot.get(recordName)!);
    expect((await caught(coordination(store()).read('journal/bots/a/s1'))).code).toBe('STORE_ROLLBACK');
    expect((await caught(coordination(store()).list('journal/'))).code).toBe('STORE_ROLLBACK');

    // The lease's old copy says "held by host-a": served, it would block or (with its old fence) unfence writers.
    await writeFile(join(dir, COORDINATION_DIR, leaseName), snapshot.get(leaseName)!);
    expect((await caught(coordination(store()).acquire('rotate/bots/a/s1', 'host-b', 60_000))).code).toBe('STORE_ROLLBACK');

    await unlink(join(dir, COORDINATION_DIR, recordName));
    expect((await caught(coordination(store()).list('journal/'))).code).toBe('STORE_ROLLBACK');
  });

  it('a coordination file whose generation was edited fails authentication (COORDINATION_CORRUPT)', async () => {
    const s = store();
    const c = coordination(s);
    await c.write('journal/x', { step: 1 }, { expect: null });
    const name = (await readdir(join(dir, COORDINATION_DIR))).find((n) => n.startsWith('record-'))!;
    const raw = await readFile(join(dir, COORDINATION_DIR, name), 'utf8');
    await writeFile(join(dir, COORDINATION_DIR, name), raw.replace(/"gen":1/, '"gen":9'));
    expect((await caught(coordination(store()).read('journal/x'))).code).toBe('COORDINATION_CORRUPT');
  });

  it('a removed manifest is STORE_ROLLBACK, an edited one STORE_CORRUPT', async () => {
    const s = store();
    await write(s, 'FAKE-a', null);
    const good = await readFile(manifestFile(), 'utf8');
    await writeFile(manifestFile(), good.replace(/"seq":\d+/, '"seq":99'));
    expect((await caught(store().describe(PATH))).code).toBe('STORE_CORRUPT');
    await unlink(manifestFile());
    const err = await caught(store().describe(PATH));
    expect(err.code).toBe('STORE_ROLLBACK');
    expect(err.message).toContain('manifest');
  });

  it('the whole store put back together (a restore from a backup) opens as it was', async () => {
    const s = store();
    const v1 = (await write(s, 'FAKE-backed-up', null)).version;
    const backup = join(root, 'backup');
    await copyTree(dir, backup);
    await write(s, 'FAKE-later', v1);
    await s.close();
    await rm(dir, { recursive: true });
    await copyTree(backup, dir);
    expect((await store().read(PATH, { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-backed-up');
  });

  it('store accept takes the files as they are, lists what changed, and then they are served', async () => {
    const s = store();
    const v1 = (await write(s, 'FAKE-restored', null)).version;
    const old = await readFile(slotFile());
    await write(s, 'FAKE-latest', v1);
    await write(s, 'FAKE-other', null, 'bots/a/s2');
    await writeFile(slotFile(), old);
    await unlink(slotFile('bots/a/s2'));
    const fresh = store();
    const changes = await fresh.acceptRestore();
    expect(changes.map((c) => c.now).sort()).toEqual(['generation 1', 'missing']);
    expect(changes.find((c) => c.now === 'generation 1')?.was).toBe('generation 2');
    expect((await fresh.read(PATH, { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-restored');
    expect(await fresh.describe('bots/a/s2')).toBeNull();
    expect(await fresh.acceptRestore()).toEqual([]);
  });
});

describe('local store: crashes and concurrency are not rollbacks', () => {
  it('a record written whose manifest update never happened (a crash between) is served, and the next write carries on', async () => {
    const s = store();
    const v1 = (await write(s, 'FAKE-1', null)).version;
    const manifestBefore = await readFile(manifestFile());
    const v2 = (await write(s, 'FAKE-2', v1)).version;
    await writeFile(manifestFile(), manifestBefore); // as if the process died after renaming the record into place
    const fresh = store();
    expect((await fresh.read(PATH, { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-2');
    await write(fresh, 'FAKE-3', v2);
    expect((await store().read(PATH, { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-3');
  });

  it("a store's clean-up of dead writers' temp files never removes the manifest's temp file of a write in flight", async () => {
    // A manifest writer in flight: it holds the manifest lock and has written its temp file, not yet renamed it.
    const held = await new FileLock(join(dir, MANIFEST_LOCK_FILE), { staleMs: 60_000, timeoutMs: 1_000 }).acquire();
    const inFlight = join(dir, `${MANIFEST_TEMP_PREFIX}${'ab'.repeat(16)}`);
    await writeFile(inFlight, 'a manifest being written');
    // A fresh store's first write cleans up under the store lock, then waits for the manifest lock.
    const writing = write(store(), 'FAKE-during', null);
    await new Promise((r) => setTimeout(r, 300));
    expect(await readFile(inFlight, 'utf8')).toBe('a manifest being written');
    await held.release();
    await writing;
  });

  it('readers racing writers and deleters (docs and coordination at once) never see a false STORE_ROLLBACK', async () => {
    const reader = store();
    const readerC = coordination(reader);
    // The coordination writer shares the reader's store (and so its manifest): as in one keyctl process, where lease
    // renewals and reads of the same store interleave.
    const c = coordination(reader);
    let stop = false;
    const errors: string[] = [];
    const reads = (async () => {
      while (!stop) {
        try {
          await reader.describe(PATH);
          await reader.list('');
          await readerC.read('journal/j');
          await readerC.list('');
        } catch (err) {
          errors.push((err as { code?: string }).code ?? String(err));
        }
      }
    })();
    const docWrites = (async () => {
      for (let i = 0; i < 40; i++) {
        // A fresh instance each time: its first lock cleans up dead writers' temp files, which must never be the
        // manifest's temp file of a coordination write in flight.
        const fresh = store();
        await write(fresh, `FAKE-${i}`, null);
        await fresh.delete(PATH);
      }
    })();
    const coordWrites = (async () => {
      for (let i = 0; i < 40; i++) {
        const r = await c.write('journal/j', { i }, { expect: null });
        await c.delete('journal/j', { expect: r.revision });
      }
    })();
    const [docWritesDone, coordWritesDone] = await Promise.allSettled([docWrites, coordWrites]).then((rs) =>
      rs.map((r) => (r.status === 'rejected' ? Promise.reject(r.reason as Error) : Promise.resolve())),
    );
    stop = true;
    await reads;
    expect(errors).toEqual([]);
    await Promise.all([docWritesDone, coordWritesDone]);
  }, 60_000);
});

describe('local store: a store from before the manifest', () => {
  it('is read as it is, adopted at the first write, and an old copy of a record rewritten since is then refused', async () => {
    // Write a format-1 document by hand, as keyctl 0.2 did (no generation, no manifest).
    const s = store();
    await write(s, 'FAKE-legacy', null);
    const keyring = parseKeyring(await readFile(join(dir, 'keyring.json'), 'utf8'))!;
    const dataKey = unwrapDataKey(keyring, Buffer.from(FAKE_MASTER_KEY, 'base64'));
    const current = JSON.parse(await readFile(slotFile(), 'utf8')) as { gen: number } & Record<string, string>;
    const { open } = await import('@keyctl/client/local/crypto');
    const inner = open(dataKey, current as never, docAad(`slot/${PATH}`, current.gen));
    const legacy = JSON.stringify({ format: 'keyctl-doc/1', key: `slot/${PATH}`, ...seal(dataKey, inner, docAad(`slot/${PATH}`)) });
    await writeFile(slotFile(), legacy);
    await unlink(manifestFile());

    const fresh = store();
    expect((await fresh.read(PATH, { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-legacy');
    const info = await fresh.describe(PATH);
    await write(fresh, 'FAKE-after-upgrade', info!.stages.CURRENT!);
    await writeFile(slotFile(), legacy);
    expect((await caught(store().describe(PATH))).code).toBe('STORE_ROLLBACK');
  });
});

async function copyTree(from: string, to: string): Promise<void> {
  const { cp } = await import('node:fs/promises');
  await cp(from, to, { recursive: true, preserveTimestamps: true });
}
