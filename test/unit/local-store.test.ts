import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DOCS_DIR,
  KEYRING_FILE,
  LOCK_FILE,
  LocalStore,
  docFileName,
  generateMasterKey,
  type LocalStoreOptions,
} from '../../providers/local/index.js';
import { docAad, open, parseKeyring, seal, unwrapDataKey, type Sealed } from '@keyctl/client/local/crypto';
import { LocalCoordination } from '../../providers/local/coordination.js';
import { KeyctlError } from '@keyctl/client/errors';
import { caught } from '../helpers/caught.js';

const FAKE_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const OTHER_MASTER_KEY = Buffer.alloc(32, 9).toString('base64');
const PASSPHRASE = 'FAKE-correct horse battery staple';

let root: string;
let dir: string;
const opened: LocalStore[] = [];

function store(env: NodeJS.ProcessEnv = { KEYCTL_MASTER_KEY: FAKE_MASTER_KEY }, extra: Partial<LocalStoreOptions> = {}): LocalStore {
  const s = new LocalStore({ path: dir, env, ...extra });
  opened.push(s);
  return s;
}

async function files(base: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(base, { withFileTypes: true })) {
    const p = join(base, e.name);
    if (e.isDirectory()) out.push(p, ...(await files(p)));
    else out.push(p);
  }
  return out;
}

/** Every file's bytes, by relative path, to prove a failed call changed nothing. */
async function snapshot(): Promise<Record<string, string>> {
  const snap: Record<string, string> = {};
  for (const f of await files(dir)) if (!(await stat(f)).isDirectory()) snap[relative(dir, f)] = (await readFile(f)).toString('base64');
  return snap;
}

const docPath = (key: string) => join(dir, DOCS_DIR, docFileName(key));

async function dataKeyOf(masterKey = FAKE_MASTER_KEY): Promise<Buffer> {
  const keyring = parseKeyring(await readFile(join(dir, KEYRING_FILE), 'utf8'));
  if (!keyring) throw new Error('keyring unreadable');
  return unwrapDataKey(keyring, Buffer.from(masterKey, 'base64'));
}

/** Opens a document file's outer layer with the data key, as only someone holding the master key could. */
async function openDocFile(key: string, dataKey: Buffer): Promise<{ envelope: Record<string, unknown>; inner: Record<string, unknown> }> {
  const envelope = JSON.parse(await readFile(docPath(key), 'utf8')) as Record<string, unknown> & Sealed & { gen: number };
  return { envelope, inner: JSON.parse(open(dataKey, envelope, docAad(key, envelope.gen)).toString('utf8')) as Record<string, unknown> };
}

/** Re-seals a document file in place (same generation), as someone holding the data key could. */
async function writeDocFile(key: string, dataKey: Buffer, inner: unknown): Promise<void> {
  const { gen } = JSON.parse(await readFile(docPath(key), 'utf8')) as { gen: number };
  const sealed = seal(dataKey, Buffer.from(JSON.stringify(inner)), docAad(key, gen));
  await writeFile(docPath(key), JSON.stringify({ format: 'keyctl-doc/2', key, gen, ...sealed }));
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'keyctl-local-unit-'));
  dir = join(root, 'store');
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

describe('local store: init and health', () => {
  it('init creates a 0700 directory and 0600 files; every later file is 0600 too', async () => {
    const s = store();
    expect(await s.init()).toEqual({ created: true, protection: 'master-key' });
    await s.write('bots/a/s1', { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null });
    await s.wrap('FAKE-wrapped', 60_000);
    await new LocalCoordination({ path: dir, integrity: s }).acquire('rotate', 'me', 60_000);
    const all = await files(dir);
    expect(all.length).toBeGreaterThanOrEqual(5);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const f of all) {
      const st = await stat(f);
      expect({ f, mode: st.mode & 0o777 }).toEqual({ f, mode: st.isDirectory() ? 0o700 : 0o600 });
    }
  });

  it('init is idempotent and never replaces an existing keyring, whatever key is set', async () => {
    await store().init();
    const before = await snapshot();
    expect(await store().init()).toEqual({ created: false, protection: 'master-key' });
    expect(await store({ KEYCTL_MASTER_KEY: OTHER_MASTER_KEY }).init()).toEqual({ created: false, protection: 'master-key' });
    expect(await snapshot()).toEqual(before);
  });

  it('health on a missing store is STORE_NOT_INITIALIZED and creates nothing', async () => {
    const err = await caught(store().health());
    expect(err.code).toBe('STORE_NOT_INITIALIZED');
    expect(err.hint).toContain('keyctl init');
    await expect(stat(dir)).rejects.toThrow();
  });

  it('no master key and no passphrase is MASTER_KEY_MISSING, for init and for an existing store', async () => {
    expect((await caught(store({}).init())).code).toBe('MASTER_KEY_MISSING');
    await expect(stat(dir)).rejects.toThrow();
    await store().init();
    const err = await caught(store({}).health());
    expect(err.code).toBe('MASTER_KEY_MISSING');
    expect(err.exitCode).toBe(4);
    expect(err.hint).toContain('KEYCTL_MASTER_KEY');
  });

  it('a malformed master key is refused without echoing it', async () => {
    for (const bad of ['FAKE-not-base64!', Buffer.alloc(16, 1).toString('base64'), Buffer.alloc(33, 1).toString('base64')]) {
      const err = await caught(store({ KEYCTL_MASTER_KEY: bad }).init());
      expect(err.code).toBe('MASTER_KEY_INVALID');
      expect(JSON.stringify(err.toJSON())).not.toContain(bad);
    }
  });

  it('a wrong master key is WRONG_MASTER_KEY (exit 4) and changes nothing on disk', async () => {
    const s = store();
    await s.init();
    await s.write('bots/a/s1', { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null });
    const before = await snapshot();
    const wrong = store({ KEYCTL_MASTER_KEY: OTHER_MASTER_KEY });
    const err = await caught(wrong.health());
    expect(err.code).toBe('WRONG_MASTER_KEY');
    expect(err.exitCode).toBe(4);
    expect(err.hint).toContain('KEYCTL_MASTER_KEY');
    expect(JSON.stringify(err.toJSON())).not.toContain(OTHER_MASTER_KEY);
    expect((await caught(wrong.read('bots/a/s1', { stage: 'CURRENT' }))).code).toBe('WRONG_MASTER_KEY');
    expect((await caught(wrong.write('bots/a/s1', { secret: { apiKey: 'FAKE-x' } }))).code).toBe('WRONG_MASTER_KEY');
    expect((await caught(wrong.delete('bots/a/s1'))).code).toBe('WRONG_MASTER_KEY');
    expect(await snapshot()).toEqual(before);
    expect((await store().read('bots/a/s1', { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-k');
  });

  it('generateMasterKey makes keys the store accepts', async () => {
    const key = generateMasterKey();
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    expect(key).not.toBe(generateMasterKey());
    expect((await store({ KEYCTL_MASTER_KEY: `${key}\n` }).init()).created).toBe(true);
    await store({ KEYCTL_MASTER_KEY: key }).health();
  });
});

describe('local store: passphrase', () => {
  it('a passphrase store opens with the passphrase and refuses a wrong one', async () => {
    const s = store({ KEYCTL_PASSPHRASE: PASSPHRASE });
    expect(await s.init()).toEqual({ created: true, protection: 'passphrase' });
    await s.write('bots/a/s1', { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null });
    const keyring = JSON.parse(await readFile(join(dir, KEYRING_FILE), 'utf8')) as { kdf: { name: string; N: number } };
    expect(keyring.kdf.name).toBe('scrypt');
    expect(keyring.kdf.N).toBeGreaterThanOrEqual(2 ** 15);
    expect((await store({ KEYCTL_PASSPHRASE: PASSPHRASE }).read('bots/a/s1', { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-k');
    const before = await snapshot();
    const err = await caught(store({ KEYCTL_PASSPHRASE: 'FAKE-wrong passphrase' }).health());
    expect(err.code).toBe('WRONG_MASTER_KEY');
    expect(err.hint).toContain('KEYCTL_PASSPHRASE');
    // A master key does not stand in for the passphrase of a passphrase store.
    expect((await caught(store({ KEYCTL_MASTER_KEY: FAKE_MASTER_KEY }).health())).code).toBe('MASTER_KEY_MISSING');
    expect(await snapshot()).toEqual(before);
  });

  it('without env vars the passphrase is asked (twice on init) through promptSecret', async () => {
    const asked: string[] = [];
    const prompt = (answers: string[]) => async (q: string) => {
      asked.push(q);
      return answers.shift() ?? '';
    };
    expect((await caught(store({}, { promptSecret: prompt([PASSPHRASE, 'FAKE-typo passphrase']) }).init())).code).toBe(
      'PASSPHRASE_MISMATCH',
    );
    expect((await caught(store({}, { promptSecret: prompt(['short', 'short']) }).init())).code).toBe('PASSPHRASE_TOO_SHORT');
    expect((await store({}, { promptSecret: prompt([PASSPHRASE, PASSPHRASE]) }).init()).protection).toBe('passphrase');
    await store({}, { promptSecret: prompt([PASSPHRASE]) }).health();
    expect((await caught(store({}, { promptSecret: prompt(['FAKE-wrong passphrase']) }).health())).code).toBe('WRONG_MASTER_KEY');
    expect(asked.length).toBe(7);
  });
});

describe('local store: damaged files', () => {
  let s: LocalStore;
  beforeEach(async () => {
    s = store();
    await s.init();
    await s.write('bots/a/s1', { secret: { apiKey: 'FAKE-k1' }, stage: 'CURRENT', expect: null });
    await s.write('bots/a/s2', { secret: { apiKey: 'FAKE-k2' }, stage: 'CURRENT', expect: null });
  });

  async function expectCorruptAndUntouched(fresh: LocalStore, path: string, file: string): Promise<void> {
    const before = await readFile(file);
    const err = await caught(fresh.read(path, { stage: 'CURRENT' }));
    expect(err.code).toBe('STORE_CORRUPT');
    expect(err.exitCode).toBe(4);
    expect(err.message).toContain(file);
    expect(err.message).toContain(path);
    expect(err.hint).toMatch(/backup/);
    // Writes to a record that cannot be opened are refused, and nothing replaces or removes the file.
    expect((await caught(fresh.write(path, { secret: { apiKey: 'FAKE-new' } }))).code).toBe('STORE_CORRUPT');
    expect((await caught(fresh.delete(path))).code).toBe('STORE_CORRUPT');
    expect((await caught(fresh.describe(path))).code).toBe('STORE_CORRUPT');
    expect(await readFile(file)).toEqual(before);
    // The other records are unaffected.
    expect((await fresh.read('bots/a/s2', { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-k2');
  }

  it('a truncated document is STORE_CORRUPT and stays as it is', async () => {
    const file = docPath('slot/bots/a/s1');
    const raw = await readFile(file);
    await writeFile(file, raw.subarray(0, Math.floor(raw.length / 2)));
    await expectCorruptAndUntouched(store(), 'bots/a/s1', file);
    expect((await caught(store().list('bots/'))).code).toBe('STORE_CORRUPT');
  });

  it('one modified ciphertext byte is STORE_CORRUPT', async () => {
    const file = docPath('slot/bots/a/s1');
    const envelope = JSON.parse(await readFile(file, 'utf8')) as Sealed;
    const ct = Buffer.from(envelope.ct, 'base64');
    ct[ct.length >> 1]! ^= 0x01;
    await writeFile(file, JSON.stringify({ ...envelope, ct: ct.toString('base64') }));
    await expectCorruptAndUntouched(store(), 'bots/a/s1', file);
  });

  it('a document copied over another record is STORE_CORRUPT', async () => {
    const file = docPath('slot/bots/a/s1');
    const other = JSON.parse(await readFile(docPath('slot/bots/a/s2'), 'utf8')) as Record<string, unknown>;
    await writeFile(file, JSON.stringify(other));
    await expectCorruptAndUntouched(store(), 'bots/a/s1', file);
    // Even with its header rewritten to the target's key, the ciphertext is bound to the record it was written for.
    await writeFile(file, JSON.stringify({ ...other, key: 'slot/bots/a/s1' }));
    await expectCorruptAndUntouched(store(), 'bots/a/s1', file);
  });

  it('a version ciphertext moved to another version or record does not open', async () => {
    const v2 = (await s.write('bots/a/s1', { secret: { apiKey: 'FAKE-k1-v2' }, expect: null })).version;
    const dataKey = await dataKeyOf();
    type V = { id: string; sealed: Sealed | null };
    // Swap the sealed secrets of versions 1 and 2 of s1, then re-seal the outer layer properly.
    const { inner } = await openDocFile('slot/bots/a/s1', dataKey);
    const versions = inner.versions as V[];
    [versions[0]!.sealed, versions[1]!.sealed] = [versions[1]!.sealed, versions[0]!.sealed];
    await writeDocFile('slot/bots/a/s1', dataKey, inner);
    const err = await caught(store().read('bots/a/s1', { version: v2 }));
    expect(err.code).toBe('STORE_CORRUPT');
    expect(err.message).toMatch(/version \d+/);

    // Move s2's version-1 secret into s1's version 1 (same version id, other record).
    const s2 = await openDocFile('slot/bots/a/s2', dataKey);
    (inner.versions as V[])[0]!.sealed = (s2.inner.versions as V[])[0]!.sealed;
    (inner.versions as V[])[1]!.sealed = null;
    await writeDocFile('slot/bots/a/s1', dataKey, inner);
    expect((await caught(store().read('bots/a/s1', { stage: 'CURRENT' }))).code).toBe('STORE_CORRUPT');
  });

  it('an edited stage pointer in the clear is impossible: there is none, and the sealed document is authenticated', async () => {
    const raw = await readFile(docPath('slot/bots/a/s1'), 'utf8');
    expect(raw).not.toContain('CURRENT');
    expect(Object.keys(JSON.parse(raw) as object).sort()).toEqual(['ct', 'format', 'gen', 'iv', 'key', 'tag']);
  });

  it('a damaged keyring is STORE_CORRUPT, and init refuses to replace it', async () => {
    const file = join(dir, KEYRING_FILE);
    await writeFile(file, (await readFile(file)).subarray(0, 40));
    const before = await snapshot();
    expect((await caught(store().health())).code).toBe('STORE_CORRUPT');
    expect((await caught(store().init())).code).toBe('STORE_CORRUPT');
    expect(await snapshot()).toEqual(before);
  });
});

describe('local store: nothing secret on disk', () => {
  it('secrets, wrapped values, the data key and the master key never appear in any file', async () => {
    const s = store();
    await s.init();
    const canaries = [
      'FAKE-CANARY-apikey-5b1d0c',
      'FAKE-CANARY-secret-9e27aa',
      'FAKE-CANARY-wrapped-31f0c2',
      'FAKE-CANARY-destroyed-77ab01',
    ];
    const [apiKey, secret, wrapped, destroyed] = canaries as [string, string, string, string];
    const v1 = (await s.write('bots/a/s1', { secret: { apiKey: destroyed, secret: destroyed }, stage: 'CURRENT', expect: null })).version;
    const v2 = (await s.write('bots/a/s1', { secret: { apiKey, secret }, stage: 'CURRENT', expect: v1 })).version;
    await s.moveStage('bots/a/s1', { stage: 'PREVIOUS', to: null, expect: v1 });
    await s.destroy('bots/a/s1', v1);
    await s.wrap(wrapped, 60_000);
    await new LocalCoordination({ path: dir, integrity: s }).acquire('rotate/bots/a/s1', 'host-a', 60_000);
    const dataKey = await dataKeyOf();
    const masterKey = Buffer.from(FAKE_MASTER_KEY, 'base64');
    const needles: Buffer[] = [];
    for (const c of canaries) {
      const b = Buffer.from(c);
      needles.push(b, Buffer.from(b.toString('base64')), Buffer.from(b.toString('base64url')), Buffer.from(b.toString('hex')));
      // Base64 of a string not at offset 0 of a larger encoded blob: the inner 3-byte-aligned chunk still shows.
      needles.push(Buffer.from(b.subarray(3, 21).toString('base64')));
    }
    for (const k of [dataKey, masterKey]) needles.push(k, Buffer.from(k.toString('base64')), Buffer.from(k.toString('hex')));
    const all = (await files(dir)).filter((f) => !f.endsWith('/docs'));
    expect(all.length).toBeGreaterThanOrEqual(4);
    for (const f of all) {
      if ((await stat(f)).isDirectory()) continue;
      const bytes = await readFile(f);
      for (const n of needles) expect(bytes.includes(n), `${relative(dir, f)} contains a secret`).toBe(false);
    }
    // The destroyed version's ciphertext is gone from the document, not merely flagged.
    const { inner } = await openDocFile('slot/bots/a/s1', dataKey);
    const versions = inner.versions as { id: string; sealed: unknown }[];
    expect(versions.find((v) => v.id === v1)?.sealed).toBeNull();
    expect(versions.find((v) => v.id === v2)?.sealed).not.toBeNull();
    expect((await store().read('bots/a/s1', { stage: 'CURRENT' })).secret).toEqual({ apiKey, secret });
  });
});

describe('local store: concurrency and crash leftovers', () => {
  it('two store instances on one directory: concurrent CAS writes, exactly one wins', async () => {
    const a = store();
    const b = store();
    await a.init();
    const base = (await a.write('bots/c/s1', { secret: { v: '0' }, stage: 'CURRENT', expect: null })).version;
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).write('bots/c/s1', { secret: { v: `w${i}` }, stage: 'CURRENT', expect: base })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as KeyctlError).code).toBe('CONFLICT');
    const info = await store().describe('bots/c/s1');
    expect(info?.versions).toHaveLength(2);
    expect(info?.stages.PREVIOUS).toBe(base);
  });

  it('two store instances: concurrent unconditional writes all land, none is lost', async () => {
    const a = store();
    const b = store();
    await a.init();
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).write('bots/c/s2', { secret: { v: `w${i}` } })));
    const info = await store().describe('bots/c/s2');
    expect(info?.versions.map((v) => v.id).sort((x, y) => Number(x) - Number(y))).toEqual(
      Array.from({ length: 20 }, (_, i) => String(i + 1)),
    );
  });

  it('leftover temp files are ignored and removed by the next writer', async () => {
    const s = store();
    await s.init();
    await s.write('bots/t/s1', { secret: { v: '1' } });
    await writeFile(join(dir, DOCS_DIR, '.tmp-deadbeef'), '{"partial');
    await writeFile(join(dir, '.tmp-cafebabe'), 'x');
    expect(await store().list('bots/')).toEqual(['bots/t/s1']);
    await store().write('bots/t/s2', { secret: { v: '1' } });
    expect((await readdir(join(dir, DOCS_DIR))).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect((await readdir(dir)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  });

  it('a lock file left by a dead process is taken over at once', async () => {
    const s = store();
    await s.init();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const { hostname } = await import('node:os');
    const { readlinkSync } = await import('node:fs');
    let ns = '';
    try {
      ns = readlinkSync('/proc/self/ns/pid');
    } catch {
      // not Linux
    }
    const holder = (pid: number) => JSON.stringify({ pid, host: hostname(), ns, nonce: `n${pid}`, since: new Date().toISOString() });
    // Options that rule waiting out: a fresh lock cannot go stale for a minute, and the writer may not wait at all
    // (timeout 0). A live holder (this process's parent) thus gives STORE_BUSY at once, and the dead one's lock can only
    // be taken by seeing at once that its holder is dead.
    const impatient = () => store({ KEYCTL_MASTER_KEY: FAKE_MASTER_KEY }, { lockStaleMs: 60_000, lockTimeoutMs: 0 });
    await writeFile(join(dir, LOCK_FILE), holder(process.ppid));
    expect((await caught(impatient().write('bots/l/s1', { secret: { v: '1' } }))).code).toBe('STORE_BUSY');
    await writeFile(join(dir, LOCK_FILE), holder(dead));
    await impatient().write('bots/l/s1', { secret: { v: '1' } });
    expect((await store().describe('bots/l/s1'))?.versions).toHaveLength(1);
    await expect(stat(join(dir, LOCK_FILE))).rejects.toThrow();
  });

  it('a lock whose heartbeat stopped is broken after staleMs; a live one makes writers wait, then STORE_BUSY', async () => {
    const s = store();
    await s.init();
    const lock = join(dir, LOCK_FILE);
    // A holder on another host: liveness unknown, only the heartbeat counts.
    await writeFile(lock, JSON.stringify({ pid: 1, host: 'FAKE-other-host', ns: '', nonce: 'n1', since: '' }));
    // staleMs far beyond anything a loaded machine adds between these lines: the fresh lock cannot go stale meanwhile.
    const options = { lockStaleMs: 60_000, lockTimeoutMs: 150 };
    const busy = await caught(store({ KEYCTL_MASTER_KEY: FAKE_MASTER_KEY }, options).write('bots/l/s2', { secret: { v: '1' } }));
    expect(busy.code).toBe('STORE_BUSY');
    expect(busy.retryable).toBe(true);
    const old = new Date(Date.now() - 10 * options.lockStaleMs);
    await utimes(lock, old, old);
    await store({ KEYCTL_MASTER_KEY: FAKE_MASTER_KEY }, options).write('bots/l/s2', { secret: { v: '1' } });
    expect((await store().describe('bots/l/s2'))?.versions).toHaveLength(1);
  });
});
