/**
 * The local store's files under attack by a process of another user, or a hostile bot of the same user planting
 * names: loose or foreign directories are refused (or fixed when ours and empty), a symlink planted at any name keyctl
 * writes or reads never redirects a write and is never followed, and a parseable edit of keyring.json is refused as
 * corrupt. Every attack leaves the victim file (another file of the user's) byte-for-byte and time-for-time intact.
 */
import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import { chmod, chown, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DOCS_DIR, KEYRING_FILE, LOCK_FILE, LocalStore, docFileName, type LocalStoreOptions } from '../../providers/local/index.js';
import { COORDINATION_DIR, COORDINATION_LOCK_FILE, LocalCoordination } from '../../providers/local/coordination.js';
import { createFile, readNoFollow, removeStaleTemps, TEMP_PREFIX } from '@keyctl/client/local/files';
import { caught } from '../helpers/caught.js';

const FAKE_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const PASSPHRASE = 'FAKE-correct horse battery staple';
const MK_ENV = { KEYCTL_MASTER_KEY: FAKE_MASTER_KEY };
const PP_ENV = { KEYCTL_PASSPHRASE: PASSPHRASE };
const VICTIM_TEXT = 'FAKE victim: a file of the user that a planted symlink points at\n';

let root: string;
let dir: string;
let victim: string;
const opened: LocalStore[] = [];

function store(env: NodeJS.ProcessEnv = MK_ENV, extra: Partial<LocalStoreOptions> = {}): LocalStore {
  const s = new LocalStore({ path: dir, env, lockStaleMs: 200, lockTimeoutMs: 600, ...extra });
  opened.push(s);
  return s;
}
const coordination = () => new LocalCoordination({ path: dir, lockStaleMs: 200, lockTimeoutMs: 600, integrity: store() });

/** The victim's bytes and mtime: a write through a symlink, or a heartbeat's utimes through one, changes them. */
async function victimState(): Promise<{ text: string; mtimeMs: number }> {
  return { text: await readFile(victim, 'utf8'), mtimeMs: (await stat(victim)).mtimeMs };
}

const isRoot = process.getuid?.() === 0;
const modeOf = async (p: string) => (await stat(p)).mode & 0o777;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'keyctl-local-files-'));
  dir = join(root, 'store');
  victim = join(root, 'victim.txt');
  await writeFile(victim, VICTIM_TEXT);
  // An old mtime, so a touch through a link would show.
  const old = new Date(Date.now() - 3_600_000);
  await utimes(victim, old, old);
});

afterEach(async () => {
  for (const s of opened.splice(0)) await s.close();
  await rm(root, { recursive: true, force: true });
});

describe('local store: directories', () => {
  it('a group/other-writable store directory holding a store is refused, with chmod 700 as the hint, and left as it is', async () => {
    await store().init();
    await chmod(dir, 0o777);
    for (const call of [() => store().list(''), () => store().health(), () => store().init(), () => coordination().list('')]) {
      const err = await caught(call());
      expect({ code: err.code, exit: err.exitCode }).toEqual({ code: 'STORE_INSECURE', exit: 4 });
      expect(err.message).toContain('0777');
      expect(err.hint).toContain(`chmod 700 ${dir}`);
    }
    expect(await modeOf(dir)).toBe(0o777);
    await chmod(dir, 0o700);
    expect(await store().list('')).toEqual([]);
  });

  it('a loose docs/ or coordination/ directory is refused too', async () => {
    await store().init();
    // Not empty, so not fixable: a record and a lease are there.
    await store().write('bots/a/s1', { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null });
    await coordination().acquire('rotate', 'me', 60_000);
    await chmod(join(dir, DOCS_DIR), 0o775);
    expect((await caught(store().list(''))).code).toBe('STORE_INSECURE');
    await chmod(join(dir, DOCS_DIR), 0o700);
    await chmod(join(dir, COORDINATION_DIR), 0o757);
    expect((await caught(coordination().acquire('other', 'me', 60_000))).code).toBe('STORE_INSECURE');
    expect((await caught(coordination().read('journal/x'))).code).toBe('STORE_INSECURE');
  });

  it('an empty directory that is ours is fixed to 0700 and used', async () => {
    await mkdir(dir);
    await chmod(dir, 0o777);
    expect((await store().init()).created).toBe(true);
    expect(await modeOf(dir)).toBe(0o700);
    expect(await modeOf(join(dir, DOCS_DIR))).toBe(0o700);
    const coordDir = join(dir, COORDINATION_DIR);
    await mkdir(coordDir);
    await chmod(coordDir, 0o777);
    await coordination().acquire('rotate', 'me', 60_000);
    expect(await modeOf(coordDir)).toBe(0o700);
  });

  it.skipIf(!isRoot)('a store directory owned by another user is refused, naming the owner', async () => {
    await store().init();
    const nobody = 65534;
    await chown(dir, nobody, nobody);
    const err = await caught(store().list(''));
    expect({ code: err.code, exit: err.exitCode }).toEqual({ code: 'STORE_INSECURE', exit: 4 });
    expect(err.message).toContain(`uid ${nobody}`);
    expect(err.hint).toContain('chown');
    expect((await caught(coordination().list(''))).code).toBe('STORE_INSECURE');
    // Even when empty: a directory another user made could be swapped under us.
    await rm(dir, { recursive: true });
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, nobody, nobody);
    expect((await caught(store().init())).code).toBe('STORE_INSECURE');
  });

  it('a symlink in place of docs/ or coordination/ is refused, not followed', async () => {
    await store().init();
    const elsewhere = join(root, 'elsewhere');
    await mkdir(elsewhere, { mode: 0o700 });
    await rm(join(dir, DOCS_DIR), { recursive: true });
    await symlink(elsewhere, join(dir, DOCS_DIR));
    expect((await caught(store().write('bots/a/s1', { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null }))).code).toBe(
      'STORE_INSECURE',
    );
    await symlink(elsewhere, join(dir, COORDINATION_DIR));
    expect((await caught(coordination().acquire('rotate', 'me', 60_000))).code).toBe('STORE_INSECURE');
    expect(await readdir(elsewhere)).toEqual([]);
  });
});

describe('local store: planted symlinks', () => {
  it("a symlink at a record's name is corrupt, never read through, and a write to the record leaves its target alone", async () => {
    const s = store();
    await s.init();
    const record = join(dir, DOCS_DIR, docFileName('slot/bots/a/s1'));
    await symlink(victim, record);
    const before = await victimState();
    const read = await caught(s.describe('bots/a/s1'));
    expect({ code: read.code, exit: read.exitCode }).toEqual({ code: 'STORE_CORRUPT', exit: 4 });
    expect(read.message).toContain('symbolic link');
    const write = await caught(s.write('bots/a/s1', { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null }));
    expect(write.code).toBe('STORE_CORRUPT');
    expect((await caught(s.list('bots/'))).code).toBe('STORE_CORRUPT');
    expect(await victimState()).toEqual(before);
    expect(await readlink(record)).toBe(victim);
  });

  it('a symlink swapped in for an existing record (pointing at a valid record elsewhere) is not followed', async () => {
    const s = store();
    await s.init();
    await s.write('bots/a/s1', { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null });
    const record = join(dir, DOCS_DIR, docFileName('slot/bots/a/s1'));
    const copy = join(root, 'copy.json');
    await writeFile(copy, await readFile(record));
    await rm(record);
    await symlink(copy, record);
    expect((await caught(store().read('bots/a/s1', { stage: 'CURRENT' }))).code).toBe('STORE_CORRUPT');
  });

  it('new files are created O_EXCL|O_NOFOLLOW: a symlink at the name, dangling or not, fails the create and keeps its target', async () => {
    const before = await victimState();
    await mkdir(dir, { mode: 0o700 });
    const name = join(dir, `${TEMP_PREFIX}planted`);
    await symlink(victim, name);
    await expect(createFile(name, 'FAKE-data')).rejects.toMatchObject({ code: 'EEXIST' });
    const dangling = join(dir, `${TEMP_PREFIX}dangling`);
    const target = join(root, 'would-be-created.txt');
    await symlink(target, dangling);
    await expect(createFile(dangling, 'FAKE-data')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    // Cleaning up temps removes the planted links themselves, never what they point at.
    expect(await removeStaleTemps(dir)).toBe(2);
    expect(await victimState()).toEqual(before);
    // And a read through the same primitive refuses the link.
    await symlink(victim, join(dir, 'link'));
    await expect(readNoFollow(join(dir, 'link'))).rejects.toMatchObject({ code: 'ELOOP' });
  });

  it('temp names are random: two writes never use the same one', async () => {
    const s = store();
    await s.init();
    const seen = new Set<string>();
    const w = watch(join(dir, DOCS_DIR), (_e, f) => f && f.startsWith(TEMP_PREFIX) && seen.add(f));
    for (let i = 0; i < 5; i++) await s.write(`bots/a/s${i}`, { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null });
    w.close();
    expect(seen.size).toBeGreaterThanOrEqual(5);
    for (const f of seen) expect(f).toMatch(/^\.tmp-[0-9a-f]{32}$/);
  });

  it('a symlink at the lock file is refused: no write, and the target is neither read as a lock nor touched', async () => {
    const s = store();
    await s.init();
    const before = await victimState();
    await symlink(victim, join(dir, LOCK_FILE));
    const err = await caught(s.write('bots/a/s1', { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null }));
    expect({ code: err.code, exit: err.exitCode }).toEqual({ code: 'STORE_INSECURE', exit: 4 });
    expect(err.hint).toContain(join(dir, LOCK_FILE));
    expect((await lstat(join(dir, LOCK_FILE))).isSymbolicLink()).toBe(true);
    expect(await victimState()).toEqual(before);
    expect(await s.list('')).toEqual([]);
  });

  it('a file planted at the lock breaker name is refused instead of making writers spin', async () => {
    const s = store();
    await s.init();
    const before = await victimState();
    // A lock whose holder is dead (no such pid here), so the writer goes on to break it.
    await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 1, host: 'x', ns: '', nonce: 'n', since: '' }));
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, LOCK_FILE), old, old);
    await symlink(victim, join(dir, `${LOCK_FILE}.break`));
    const err = await caught(s.write('bots/a/s1', { secret: { apiKey: 'FAKE-k' }, stage: 'CURRENT', expect: null }));
    expect(err.code).toBe('STORE_INSECURE');
    expect(await victimState()).toEqual(before);
  });

  it('a symlink at keyring.json is corrupt (even to a valid keyring), and init does not write through it', async () => {
    await store().init();
    const keyring = join(dir, KEYRING_FILE);
    const copy = join(root, 'keyring-copy.json');
    await writeFile(copy, await readFile(keyring));
    await rm(keyring);
    await symlink(copy, keyring);
    const err = await caught(store().list(''));
    expect({ code: err.code, exit: err.exitCode }).toEqual({ code: 'STORE_CORRUPT', exit: 4 });
    expect(err.message).toContain('symbolic link');
    expect((await caught(store().init())).code).toBe('STORE_CORRUPT');
    // A fresh store whose keyring name is a dangling link: init refuses, and creates nothing at the link's target.
    await rm(keyring);
    const target = join(root, 'planted-target.json');
    await symlink(target, keyring);
    expect((await caught(store().init())).code).toBe('STORE_CORRUPT');
    await expect(stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('symlinks in coordination/ (at a lease, a record, the lock) are refused, and their targets untouched', async () => {
    await store().init();
    const c = coordination();
    await c.acquire('warmup', 'me', 60_000);
    const coordDir = join(dir, COORDINATION_DIR);
    const hash = (s: string) => createHash('sha256').update(s).digest('hex');
    const before = await victimState();

    await symlink(victim, join(coordDir, `lease-${hash('rotate')}.json`));
    expect((await caught(c.acquire('rotate', 'me', 60_000))).code).toBe('COORDINATION_CORRUPT');

    await symlink(victim, join(coordDir, `record-${hash('journal/a')}.json`));
    expect((await caught(c.read('journal/a'))).code).toBe('COORDINATION_CORRUPT');
    expect((await caught(c.write('journal/a', { step: 1 }, { expect: null }))).code).toBe('COORDINATION_CORRUPT');
    expect((await caught(c.list(''))).code).toBe('COORDINATION_CORRUPT');

    await rm(join(coordDir, `record-${hash('journal/a')}.json`));
    await symlink(victim, join(coordDir, COORDINATION_LOCK_FILE));
    expect((await caught(coordination().write('journal/b', { step: 1 }, { expect: null }))).code).toBe('STORE_INSECURE');

    expect(await victimState()).toEqual(before);
  });
});

describe('local store: the keyring header is bound to the sealed data key', () => {
  type Keyring = Record<string, unknown> & { kdf?: Record<string, unknown> };
  const keyringPath = () => join(dir, KEYRING_FILE);
  const readKeyring = async () => JSON.parse(await readFile(keyringPath(), 'utf8')) as Keyring;
  const writeKeyring = (k: Keyring) => writeFile(keyringPath(), `${JSON.stringify(k, null, 2)}\n`);

  /** Applies `edit` to a fresh store's keyring and returns the error that opening it with the right secret gives. */
  async function openEdited(env: NodeJS.ProcessEnv, edit: (k: Keyring) => void) {
    await rm(dir, { recursive: true, force: true });
    await store(env).init();
    const k = await readKeyring();
    edit(k);
    await writeKeyring(k);
    return caught(store(env).list(''));
  }

  const later = (k: Keyring) => void (k.createdAt = '2001-01-01T00:00:00.000Z');

  it('a master-key store: an edited header field, or a relabelled protection mode, is STORE_CORRUPT', async () => {
    const salt = Buffer.alloc(16, 3).toString('base64');
    const edits: Record<string, (k: Keyring) => void> = {
      'createdAt changed': later,
      'relabelled passphrase': (k) => Object.assign(k, { protection: 'passphrase', kdf: { name: 'scrypt', salt, N: 2 ** 15, r: 8, p: 1 } }),
      'relabelled passphrase, both secrets set': (k) =>
        Object.assign(k, { protection: 'passphrase', kdf: { name: 'scrypt', salt, N: 2 ** 15, r: 8, p: 1 } }),
      'a kdf added': (k) => Object.assign(k, { kdf: { name: 'scrypt', salt, N: 2 ** 15, r: 8, p: 1 } }),
      'an unknown field': (k) => Object.assign(k, { comment: 'FAKE' }),
    };
    for (const [what, edit] of Object.entries(edits)) {
      const env = what.includes('both') ? { ...MK_ENV, ...PP_ENV } : MK_ENV;
      const err = await openEdited(env, edit);
      expect({ what, code: err.code, exit: err.exitCode }).toEqual({ what, code: 'STORE_CORRUPT', exit: 4 });
      expect(err.message).toContain(KEYRING_FILE);
    }
  });

  it('a passphrase store: a lower or other scrypt cost, an edited header field, an extra kdf field is STORE_CORRUPT', async () => {
    const edits: Record<string, (k: Keyring) => void> = {
      'createdAt changed': later,
      'lower N': (k) => void (k.kdf!.N = 2 ** 14),
      'higher N': (k) => void (k.kdf!.N = 2 ** 16),
      'lower r': (k) => void (k.kdf!.r = 1),
      'other p': (k) => void (k.kdf!.p = 2),
      'other KDF name': (k) => void (k.kdf!.name = 'pbkdf2'),
      'a short salt': (k) => void (k.kdf!.salt = Buffer.alloc(8, 1).toString('base64')),
      'an extra kdf field': (k) => void (k.kdf!.maxmem = 1),
      'an edited check value': (k) => void (k.check = Buffer.alloc(32, 1).toString('base64')),
      'downgraded to format 1': (k) => {
        k.format = 'keyctl-keyring/1';
        delete k.check;
      },
    };
    for (const [what, edit] of Object.entries(edits)) {
      const err = await openEdited(PP_ENV, edit);
      // The check value and the format-1 downgrade alter what the right passphrase is checked against, so those two
      // can only be told apart from a wrong passphrase by the hint; every other edit is named corrupt.
      const want = what === 'an edited check value' || what === 'downgraded to format 1' ? 'WRONG_MASTER_KEY' : 'STORE_CORRUPT';
      expect({ what, code: err.code, exit: err.exitCode }).toEqual({ what, code: want, exit: 4 });
    }
  });

  it('a passphrase store: a changed salt, or a relabel to master-key, still fails closed (it cannot be told from a wrong secret)', async () => {
    const salt = await openEdited(PP_ENV, (k) => void (k.kdf!.salt = Buffer.alloc(16, 5).toString('base64')));
    expect({ code: salt.code, exit: salt.exitCode }).toEqual({ code: 'WRONG_MASTER_KEY', exit: 4 });
    expect(salt.hint).toContain(KEYRING_FILE);
    const relabel = await openEdited(PP_ENV, (k) => {
      k.protection = 'master-key';
      delete k.kdf;
    });
    expect({ code: relabel.code, exit: relabel.exitCode }).toEqual({ code: 'MASTER_KEY_MISSING', exit: 4 });
  });

  it('an untouched keyring still opens in both modes, and a wrong secret is WRONG_MASTER_KEY, not corrupt', async () => {
    for (const env of [MK_ENV, PP_ENV]) {
      await rm(dir, { recursive: true, force: true });
      await store(env).init();
      expect(await store(env).list('')).toEqual([]);
    }
    const wrong = await caught(store({ KEYCTL_PASSPHRASE: 'FAKE-wrong passphrase' }).list(''));
    expect(wrong.code).toBe('WRONG_MASTER_KEY');
  });
});
