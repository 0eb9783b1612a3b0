/**
 * The local store's file hardening on the real binary: a hostile process that loosens the store directory, takes it
 * over, plants a symlink at the keyring or edits the keyring's header gets `keyctl` to refuse (exit 4, a code saying
 * what happened and a hint saying what to do), never to use the store as it is.
 */
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';

const FAKE_MASTER_KEY = Buffer.alloc(32, 0x2a).toString('base64');
const env = { KEYCTL_MASTER_KEY: FAKE_MASTER_KEY };
const dirs: string[] = [];

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh, initialized store; returns the config file and the store directory. */
async function initialized(): Promise<{ config: string; store: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'keyctl-hardening-'));
  dirs.push(dir);
  const config = join(dir, 'keyctl.yaml');
  writeFileSync(config, 'store: { provider: local, path: ./store }\n');
  const r = await runCli(['--config', config, 'init', '--json'], { env });
  expect(r.code, r.stderr).toBe(0);
  return { config, store: join(dir, 'store') };
}

const list = (config: string) => runCli(['--config', config, 'key', 'list', '--json'], { env });
const errorOf = (r: CliResult) => r.json<{ error: { code: string; message: string; hint?: string } }>().error;

describe('local store hardening (real binary)', () => {
  it('`keyctl key list` refuses a 0777 store directory (exit 4, STORE_INSECURE, chmod 700 hint) and works again after chmod', async () => {
    const { config, store } = await initialized();
    expect((await list(config)).code).toBe(0);
    chmodSync(store, 0o777);
    const r = await list(config);
    expect(r.code, r.stderr).toBe(4);
    expect(errorOf(r)).toMatchObject({ code: 'STORE_INSECURE' });
    expect(errorOf(r).hint).toContain(`chmod 700 ${store}`);
    expect(statSync(store).mode & 0o777).toBe(0o777);
    chmodSync(store, 0o700);
    expect((await list(config)).code).toBe(0);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a store directory owned by another user (nobody)', async () => {
    const { config, store } = await initialized();
    chownSync(store, 65534, 65534);
    const r = await list(config);
    expect(r.code, r.stderr).toBe(4);
    expect(errorOf(r)).toMatchObject({ code: 'STORE_INSECURE' });
    expect(errorOf(r).message).toContain('uid 65534');
  });

  it('refuses a keyring swapped for a symlink, and one whose header was edited, as STORE_CORRUPT', async () => {
    const { config, store } = await initialized();
    const keyring = join(store, 'keyring.json');
    const moved = join(store, '..', 'keyring-elsewhere.json');
    renameSync(keyring, moved);
    symlinkSync(moved, keyring);
    let r = await list(config);
    expect(r.code, r.stderr).toBe(4);
    expect(errorOf(r)).toMatchObject({ code: 'STORE_CORRUPT' });

    rmSync(keyring);
    const k = JSON.parse(readFileSync(moved, 'utf8')) as Record<string, unknown>;
    writeFileSync(keyring, JSON.stringify({ ...k, createdAt: '2001-01-01T00:00:00.000Z' }), { mode: 0o600 });
    r = await list(config);
    expect(r.code, r.stderr).toBe(4);
    expect(errorOf(r)).toMatchObject({ code: 'STORE_CORRUPT' });
  });
});
