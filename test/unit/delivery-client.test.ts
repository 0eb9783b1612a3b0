import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Socket } from 'node:net';
import { loadCredentials } from '../../src/index.js';
import { encodeMessage } from '@keyctl/client/protocol';
import { encodePayload, formatToken } from '@keyctl/client/token';
import { issueLocalToken } from '@keyctl/client/local/tokens';
import { assertBuilt } from '../helpers/cli.js';
import { KeyctlError } from '@keyctl/client/errors';

const INDEX = pathToFileURL(fileURLToPath(new URL('../../dist/src/index.js', import.meta.url))).href;
const HOOK = fileURLToPath(new URL('../fixtures/delivery/record-loads.mjs', import.meta.url));
const creds = { ref: 'alpha/arb1', apiKey: 'FAKE-KEY-client-1', secret: 'FAKE-SECRET-client-1', fingerprint: '0011223344556677' };
const HEAVY = /\/node_modules\/(ccxt|@aws-sdk|node-vault)\//;
/** What a bot in local-token mode must not load: the config loader, its parsers, the provider registry, the store. */
const LOCAL_TOKEN_NEVER =
  /\/dist\/src\/config\/|\/node_modules\/(js-yaml|valibot)\/|\/dist\/providers\/(registry|document-store)\.js$|\/dist\/providers\/local\/(index|lock|coordination)\.js$/;

describe('loadCredentials (in process)', () => {
  it('reads the environment, returns the key, and deletes every variable it read', async () => {
    const env: NodeJS.ProcessEnv = {
      PATH: '/bin',
      KEYCTL_API_KEY: 'FAKE-KEY',
      KEYCTL_SECRET: 'FAKE-SECRET',
      KEYCTL_PASSWORD: 'FAKE-PASS',
      KEYCTL_FINGERPRINT: 'fp',
      KEYCTL_ROTATES_AT: '2030-01-01T00:00:00Z',
      KEYCTL_REF: 'alpha/arb1',
    };
    const c = await loadCredentials({ env });
    expect(c).toMatchObject({
      apiKey: 'FAKE-KEY',
      secret: 'FAKE-SECRET',
      password: 'FAKE-PASS',
      fingerprint: 'fp',
      rotatesAt: '2030-01-01T00:00:00Z',
      ref: 'alpha/arb1',
      source: 'env',
    });
    expect(env).toEqual({ PATH: '/bin' });
  });

  it('honours a prefix', async () => {
    const env: NodeJS.ProcessEnv = { BOT_API_KEY: 'FAKE-KEY', BOT_SECRET: 'FAKE-SECRET', KEYCTL_API_KEY: 'other' };
    expect((await loadCredentials({ env, prefix: 'BOT_' })).apiKey).toBe('FAKE-KEY');
    expect(env).toEqual({ KEYCTL_API_KEY: 'other' });
  });

  it('never shows the key when printed or serialized', async () => {
    const c = await loadCredentials({
      env: { KEYCTL_API_KEY: 'FAKE-KEY-printed', KEYCTL_SECRET: 'FAKE-SECRET-printed', KEYCTL_FINGERPRINT: 'fp' },
    });
    const { inspect } = await import('node:util');
    for (const text of [JSON.stringify(c), inspect(c), String(JSON.stringify({ c }))]) {
      expect(text).not.toContain('FAKE-KEY-printed');
      expect(text).not.toContain('FAKE-SECRET-printed');
      expect(text).toContain('fp');
    }
  });

  it('names the three sources it tried when it finds nothing', async () => {
    const err = await loadCredentials({ env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyctlError);
    expect((err as KeyctlError).code).toBe('NO_CREDENTIALS');
    expect((err as KeyctlError).message).toMatch(/KEYCTL_FD.*KEYCTL_API_KEY.*KEYCTL_TOKEN/);
    expect((err as KeyctlError).hint).toMatch(/keyctl exec/);
  });

  it('refuses half a key, and a malformed token without echoing it', async () => {
    await expect(loadCredentials({ env: { KEYCTL_API_KEY: 'FAKE-KEY' } })).rejects.toMatchObject({ code: 'INCOMPLETE_CREDENTIALS' });
    const env: NodeJS.ProcessEnv = { KEYCTL_TOKEN: 'FAKE-not-a-token' };
    const err = (await loadCredentials({ env }).catch((e: unknown) => e)) as KeyctlError;
    expect(err.code).toBe('TOKEN_MALFORMED');
    expect(err.message).not.toContain('FAKE-not-a-token');
    expect(env.KEYCTL_TOKEN).toBeUndefined();
  });

  it('a token of another store goes to the unwrapToken option (keyctl passes its providers there); a local one never does', async () => {
    const asked: string[] = [];
    const unwrapToken = async (provider: string, storeToken: string) => {
      asked.push(`${provider}:${storeToken}`);
      return encodePayload(creds);
    };
    const env: NodeJS.ProcessEnv = { KEYCTL_TOKEN: formatToken('vault', 'hvs.FAKE-wrap') };
    const c = await loadCredentials({ env, unwrapToken });
    expect(c).toMatchObject({ ...creds, source: 'token' });
    expect(asked).toEqual(['vault:hvs.FAKE-wrap']);
    expect(env).toEqual({});
    // What the unwrapper returns is still checked: anything but keyctl's payload is refused.
    const bad = loadCredentials({ env: { KEYCTL_TOKEN: formatToken('aws', 'FAKE') }, unwrapToken: async () => '{"v":1}' });
    await expect(bad).rejects.toMatchObject({ code: 'TOKEN_PAYLOAD_INVALID' });
    // A local-store token is the client's own: redeemed (here: refused, no such store) without asking the option.
    const local = loadCredentials({ env: { KEYCTL_TOKEN: formatToken('local', 'FAKE-not-a-local-token') }, unwrapToken });
    await expect(local).rejects.toBeInstanceOf(KeyctlError);
    expect(asked).toEqual(['vault:hvs.FAKE-wrap']);
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  loaded: string[];
  acks: string[];
}

/** Runs a tiny bot in a child process with the load recorder; optionally feeds fd 3 like `keyctl exec --fd 3`. */
async function runBot(dir: string, env: NodeJS.ProcessEnv, fd?: string[]): Promise<Run> {
  const out = join(dir, `loads-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(out, '');
  const script = `import { loadCredentials } from ${JSON.stringify(INDEX)};
const c = await loadCredentials();
process.stdout.write(JSON.stringify({ source: c.source, fingerprint: c.fingerprint, ok: c.secret.length > 0, left: Object.keys(process.env).filter((k) => k.startsWith('KEYCTL_')) }));`;
  const child = spawn(process.execPath, ['--import', HOOK, '--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH, LOADS_OUT: out, ...env },
    stdio: fd ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const acks: string[] = [];
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  if (fd) {
    const sock = child.stdio[3] as Socket;
    sock.on('data', (d: Buffer) => acks.push(...d.toString().split('\n').filter(Boolean)));
    for (const line of fd) sock.write(line);
  }
  const code = await new Promise<number | null>((r) => child.on('close', r));
  return { code, stdout, stderr, loaded: readFileSync(out, 'utf8').split('\n').filter(Boolean), acks };
}

describe('loadCredentials in a bot process (built dist)', () => {
  let dir: string;
  let tokenEnv: NodeJS.ProcessEnv;
  beforeAll(async () => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), 'keyctl-client-'));
    // Issued as the local store's wrap does (any data key: the bot never sees it). The bot then gets the token alone:
    // no config, no master key, no passphrase.
    const storeToken = await issueLocalToken({
      storeDir: join(dir, 'store'),
      dataKey: randomBytes(32),
      value: encodePayload(creds),
      ttlMs: 60_000,
      now: Date.now(),
      label: { ref: creds.ref, fingerprint: creds.fingerprint },
    });
    tokenEnv = { KEYCTL_TOKEN: formatToken('local', storeToken) };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const noHeavy = (r: Run) => {
    expect(r.code, r.stderr).toBe(0);
    expect(r.loaded.some((u) => u === INDEX)).toBe(true); // the recorder works
    expect(r.loaded.filter((u) => HEAVY.test(u))).toEqual([]);
  };

  it('env mode: scrubs the variables and loads no exchange library or cloud SDK', async () => {
    const r = await runBot(dir, {
      KEYCTL_API_KEY: creds.apiKey,
      KEYCTL_SECRET: creds.secret,
      KEYCTL_FINGERPRINT: creds.fingerprint,
      KEYCTL_REF: creds.ref,
    });
    noHeavy(r);
    expect(JSON.parse(r.stdout)).toEqual({ source: 'env', fingerprint: creds.fingerprint, ok: true, left: [] });
  });

  it('fd mode: reads the first message from the socket and acks it; no secret in the environment', async () => {
    const r = await runBot(dir, { KEYCTL_FD: '3', KEYCTL_REF: creds.ref }, [encodeMessage({ type: 'credentials', ...creds })]);
    noHeavy(r);
    expect(JSON.parse(r.stdout)).toEqual({ source: 'fd', fingerprint: creds.fingerprint, ok: true, left: [] });
    expect(r.acks.map((a) => JSON.parse(a))).toEqual([{ type: 'ack', fingerprint: creds.fingerprint }]);
  });

  it('fd mode: a message split across writes still arrives whole', async () => {
    const line = encodeMessage({ type: 'credentials', ...creds });
    const r = await runBot(dir, { KEYCTL_FD: '3' }, [line.slice(0, 20), line.slice(20)]);
    expect(JSON.parse(r.stdout).fingerprint).toBe(creds.fingerprint);
  });

  it('local token mode: redeemed with the token alone (no config, no master key), loading neither the config nor the store, once', async () => {
    expect(Object.keys(tokenEnv)).toEqual(['KEYCTL_TOKEN']);
    const r = await runBot(dir, tokenEnv);
    noHeavy(r);
    expect(JSON.parse(r.stdout)).toMatchObject({ source: 'token', fingerprint: creds.fingerprint, ok: true });
    expect(JSON.parse(r.stdout).left).not.toContain('KEYCTL_TOKEN');
    // The light token module did the work; the config loader (and its YAML and schema libraries), the provider
    // registry and the full local store were never loaded.
    expect(r.loaded.filter((u) => u.endsWith('/clients/node/dist/local/tokens.js'))).toHaveLength(1);
    expect(r.loaded.filter((u) => LOCAL_TOKEN_NEVER.test(u))).toEqual([]);
    const again = await runBot(dir, tokenEnv);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/WRAP_INVALID|unknown, already used or expired/);
  });
});
