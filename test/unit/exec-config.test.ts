import { chmod, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execConfig } from '../../src/cli/exec-config.js';
import { ConfigError, UsageError } from '@keyctl/client/errors';

const MASTER = Buffer.alloc(32, 0x42).toString('base64');
const OTHER_MASTER = Buffer.alloc(32, 0x43).toString('base64');

const config = (storePath: string, extra = '') => `
store: { provider: local, path: ${storePath} }
accounts:
  main: { exchange: bybit }
bots:
  alpha:
    subaccounts:
      arb1: { account: main, uid: "100001", scopes: [read, spot:trade, read], ips: [203.0.113.7], rotate: { every: P30D, grace: PT1H } }
${extra}`;

let dir: string;
let runtime: string;
let file: string;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyctl-exec-config-'));
  runtime = await mkdtemp(join(tmpdir(), 'keyctl-runtime-'));
  file = join(dir, 'keyctl.yaml');
  await writeFile(file, config('./store'));
  env = { KEYCTL_MASTER_KEY: MASTER, KEYCTL_RUNTIME_DIR: runtime };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(runtime, { recursive: true, force: true });
});

const entries = async () => (await readdir(join(runtime, `keyctl-${process.geteuid!()}`))).filter((n) => n.startsWith('exec-'));
const entryPath = async () => join(runtime, `keyctl-${process.geteuid!()}`, (await entries())[0]!);

describe("exec's config cache", () => {
  it('parses on the first exec and reads the same answer from its cache afterwards', async () => {
    const first = await execConfig(file, 'alpha/arb1', env);
    expect(first.cached).toBe(false);
    const second = await execConfig(file, 'alpha/arb1', env);
    expect(second.cached).toBe(true);
    for (const c of [first, second]) {
      expect(c.store).toEqual({ provider: 'local', path: join(dir, 'store') });
      expect(c.auditPath).toBe(join(dir, 'store', 'audit.log'));
      expect(c.slot()).toMatchObject({ ref: 'alpha/arb1', path: 'bots/alpha/arb1', account: { name: 'main', exchange: 'bybit' } });
      expect(c.rotateEveryMs()).toBe(30 * 86_400_000);
      // The config's warnings are printed on every start, cached or not.
      expect(c.warnings).toEqual([{ path: 'bots.alpha.subaccounts.arb1.scopes', message: 'lists a scope twice' }]);
    }
    expect(second.slot()).toEqual(first.slot());
    // One 0600 entry of this user, which holds no secret and not the master key.
    expect(await entries()).toHaveLength(1);
    const text = await readFile(await entryPath(), 'utf8');
    expect(text).not.toContain(MASTER);
  });

  it('is not used once the config changes: the new bytes are parsed', async () => {
    await execConfig(file, 'alpha/arb1', env);
    await writeFile(file, config('./other-store'));
    const changed = await execConfig(file, 'alpha/arb1', env);
    expect(changed.cached).toBe(false);
    expect(changed.store).toEqual({ provider: 'local', path: join(dir, 'other-store') });
    expect((await execConfig(file, 'alpha/arb1', env)).cached).toBe(true);
  });

  it('ignores an entry that was tampered with, and exec reads the config instead', async () => {
    await execConfig(file, 'alpha/arb1', env);
    const path = await entryPath();
    const entry = JSON.parse(await readFile(path, 'utf8')) as { payload: string; mac: string };
    // Another store and audit log, with the MAC left as it was.
    const forged = entry.payload.replaceAll(join(dir, 'store'), '/tmp/attacker-store');
    expect(forged).not.toBe(entry.payload);
    await writeFile(path, JSON.stringify({ payload: forged, mac: entry.mac }), { mode: 0o600 });
    const read = await execConfig(file, 'alpha/arb1', env);
    expect(read.cached).toBe(false);
    expect(read.store).toEqual({ provider: 'local', path: join(dir, 'store') });
    expect(read.auditPath).toBe(join(dir, 'store', 'audit.log'));
  });

  it('ignores an entry made under another master key', async () => {
    await execConfig(file, 'alpha/arb1', { ...env, KEYCTL_MASTER_KEY: OTHER_MASTER });
    expect((await execConfig(file, 'alpha/arb1', env)).cached).toBe(false);
    expect((await execConfig(file, 'alpha/arb1', env)).cached).toBe(true);
  });

  it('ignores an entry other users could have written, or a symlink in its place', async () => {
    await execConfig(file, 'alpha/arb1', env);
    const path = await entryPath();
    await chmod(path, 0o644);
    expect((await execConfig(file, 'alpha/arb1', env)).cached).toBe(false);
    // Rewritten as it should be.
    expect((await execConfig(file, 'alpha/arb1', env)).cached).toBe(true);
    const real = join(dir, 'elsewhere.json');
    await writeFile(real, await readFile(path), { mode: 0o600 });
    await rm(path);
    await symlink(real, path);
    expect((await execConfig(file, 'alpha/arb1', env)).cached).toBe(false);
  });

  it('keeps no cache without a master key in the environment', async () => {
    const noKey = { KEYCTL_PASSPHRASE: 'FAKE-passphrase-0001', KEYCTL_RUNTIME_DIR: runtime };
    expect((await execConfig(file, 'alpha/arb1', noKey)).cached).toBe(false);
    expect((await execConfig(file, 'alpha/arb1', noKey)).cached).toBe(false);
    await expect(entries()).rejects.toThrow();
  });

  it('caches neither a config error nor an unknown ref: each exec reports them as the loader does', async () => {
    const unknown = await execConfig(file, 'alpha/nope', env);
    expect(() => unknown.slot()).toThrow(UsageError);
    expect(() => unknown.slot()).toThrow(/alpha\/nope/);
    expect((await execConfig(file, 'alpha/nope', env)).cached).toBe(false);
    await writeFile(file, config('./store', 'bogus: 1\n'));
    await expect(execConfig(file, 'alpha/arb1', env)).rejects.toBeInstanceOf(ConfigError);
    await rm(file);
    await expect(execConfig(file, 'alpha/arb1', env)).rejects.toThrow(/No config file/);
  });

  it('keeps one entry per config and ref', async () => {
    await execConfig(file, 'alpha/arb1', env);
    await execConfig(file, 'alpha/arb1', env);
    await execConfig(file, '@main', env);
    expect(await entries()).toHaveLength(1);
  });
});
