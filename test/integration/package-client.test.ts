/**
 * The Node client package (@keyctl/client, clients/node) as a bot installs it (issue #20): `npm pack` of the
 * workspace, installed offline into an empty project (it has no dependencies, so no registry is needed), small, with
 * no ccxt, AWS SDK or node-vault; then a bot in that project, importing the installed package, started under the built
 * `keyctl exec` in env mode and in pipe mode, loads its key through it. A local-store token is redeemed by the
 * package alone; a Vault token without keyctl installed is the typed error that names the package to install.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatToken, encodePayload } from '@keyctl/client/token';
import { issueLocalToken } from '@keyctl/client/local/tokens';
import { createStore } from '../../providers/local/index.js';
import { ensureAuditKey } from '../../src/audit/key.js';
import { BIN, runProcess } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLIENT_DIR = join(ROOT, 'clients/node');
const run = promisify(execFile);
/** The installed package's size limit: the client is a few modules of node built-ins (measured near 90 kB unpacked). */
const MAX_INSTALLED_BYTES = 200 * 1024;
const masterKey = Buffer.alloc(32, 0x42).toString('base64');
const key = { apiKey: 'FAKE-client-pkg-apikey-0001', secret: 'FAKE-client-pkg-secret-0001' };
const fingerprint = 'clientpkgfp00001';

/** The key as the bot reports it: a digest (exec masks the key itself in the bot's output). */
const digest = (apiKey: string, secret: string) => createHash('sha256').update(`${apiKey}\n${secret}`).digest('hex');

/** The bot: imports the installed client by its name and reports what it got, and the delivery variables left. */
const BOT = `import { createHash } from 'node:crypto';
import { loadCredentials } from '@keyctl/client';
const DELIVERY = ['API_KEY', 'SECRET', 'PASSWORD', 'FINGERPRINT', 'ROTATES_AT', 'REF', 'FD', 'TOKEN'].map((n) => 'KEYCTL_' + n);
try {
  const c = await loadCredentials();
  const key = createHash('sha256').update(c.apiKey + '\\n' + c.secret).digest('hex');
  const left = DELIVERY.filter((k) => k in process.env);
  process.stdout.write(JSON.stringify({ resolved: import.meta.resolve('@keyctl/client'), source: c.source, ref: c.ref, fingerprint: c.fingerprint, key, left }));
  c.close();
} catch (err) {
  process.stdout.write(JSON.stringify({ error: err.code, name: err.name, hint: err.hint }));
  process.exitCode = 3;
}
`;

interface Manifest {
  version: string;
  engines?: unknown;
  dependencies?: Record<string, string>;
  bundleDependencies?: string[];
  workspaces?: string[];
  peerDependencies?: unknown;
  peerDependenciesMeta?: unknown;
}
const readManifest = (dir: string) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

function installedFiles(dir: string): Array<{ path: string; size: number }> {
  const out: Array<{ path: string; size: number }> = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...installedFiles(path));
    else out.push({ path, size: statSync(path).size });
  }
  return out;
}

describe('the Node client package installed alone', () => {
  let dir: string;
  let project: string;
  let config: string;
  let botEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyctl-client-pkg-'));
    // clients/node/dist is built and fresh (the project's globalSetup checks); --ignore-scripts keeps npm pack from
    // rebuilding it under a running test.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: CLIENT_DIR });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string }>;
    project = join(dir, 'bot');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'a-bot', version: '1.0.0', private: true, type: 'module' }));
    writeFileSync(join(project, 'bot.mjs'), BOT);
    // Offline: the client has no dependencies, so the tarball alone installs it; a dependency would fail this install.
    await run('npm', ['install', join(dir, info!.filename), '--offline', '--no-audit', '--no-fund'], {
      cwd: project,
      env: {
        PATH: [dirname(process.execPath), process.env.PATH ?? ''].join(delimiter),
        HOME: dir,
        npm_config_cache: join(dir, 'npm-cache'),
      },
    });

    // A local store with the bot's key, and the config keyctl exec reads.
    config = join(dir, 'keyctl.yaml');
    writeFileSync(
      config,
      'store: { provider: local, path: ./store }\naccounts:\n  main: { exchange: bybit }\nbots:\n  alpha:\n    subaccounts:\n' +
        '      arb1: { account: main, uid: "100001", scopes: [read, spot:trade], ips: [203.0.113.7] }\n',
    );
    const store = await createStore({ provider: 'local', path: join(dir, 'store') }, { env: { KEYCTL_MASTER_KEY: masterKey } });
    await store.init();
    await ensureAuditKey(store);
    await store.write('bots/alpha/arb1', { secret: key, meta: { fingerprint }, stage: 'CURRENT', expect: null });
    await store.close();
    botEnv = { HOME: dir, KEYCTL_MASTER_KEY: masterKey, KEYCTL_ACTOR: 'package-client-test', KEYCTL_RUNTIME_DIR: join(dir, 'run') };
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is released with keyctl: one version, keyctl depends on it at that version and bundles it, and its only peer is keyctl (optional)', () => {
    const root = readManifest(ROOT);
    const client = readManifest(CLIENT_DIR);
    expect(client.version).toBe(root.version);
    expect(client.engines).toEqual(root.engines);
    expect(root.dependencies?.['@keyctl/client']).toBe(root.version);
    expect(root.bundleDependencies).toEqual(['@keyctl/client']);
    expect(root.workspaces).toEqual(['clients/node']);
    expect(client.dependencies).toBeUndefined();
    expect(client.peerDependencies).toEqual({ keyctl: root.version });
    expect(client.peerDependenciesMeta).toEqual({ keyctl: { optional: true } });
  });

  it('installs small, with nothing but itself: no ccxt, no AWS SDK, no node-vault', () => {
    const modules = join(project, 'node_modules');
    expect(readdirSync(modules).filter((n) => !n.startsWith('.'))).toEqual(['@keyctl']);
    expect(readdirSync(join(modules, '@keyctl'))).toEqual(['client']);
    const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
    expect(Object.keys(lock.packages).sort()).toEqual(['', 'node_modules/@keyctl/client']);
    const files = installedFiles(join(modules, '@keyctl/client'));
    const size = files.reduce((sum, f) => sum + f.size, 0);
    expect(size).toBeGreaterThan(0);
    expect(size, `installed size ${size} bytes`).toBeLessThan(MAX_INSTALLED_BYTES);
    expect(files.filter((f) => /ccxt|aws-sdk|node-vault|\.ts$(?<!\.d\.ts)|\.map$/.test(f.path))).toEqual([]);
  });

  for (const mode of [
    { name: 'env mode', args: [] as string[], source: 'env' },
    { name: 'pipe mode', args: ['--fd', '3'], source: 'fd' },
  ]) {
    it(`a bot under the built keyctl exec (${mode.name}) loads its key through the installed package`, async () => {
      const r = await runProcess(
        process.execPath,
        [BIN, '--config', config, 'exec', 'alpha/arb1', ...mode.args, '--', process.execPath, join(project, 'bot.mjs')],
        { env: botEnv, cwd: project },
      );
      expect(r.code, r.stderr).toBe(0);
      const got = JSON.parse(r.stdout) as Record<string, unknown>;
      expect(got).toEqual({
        resolved: expect.stringContaining(`${project}/node_modules/@keyctl/client/`) as unknown,
        source: mode.source,
        ref: 'alpha/arb1',
        fingerprint,
        key: digest(key.apiKey, key.secret),
        left: [],
      });
    });
  }

  it('redeems a local-store token by itself (no config, no master key, no keyctl installed)', async () => {
    const storeToken = await issueLocalToken({
      storeDir: join(dir, 'tokens-store'),
      dataKey: Buffer.alloc(32, 7),
      value: encodePayload({ ref: 'alpha/arb1', fingerprint, ...key }),
      ttlMs: 60_000,
      now: Date.now(),
      label: { ref: 'alpha/arb1', fingerprint },
    });
    const r = await runProcess(process.execPath, [join(project, 'bot.mjs')], {
      env: { HOME: dir, KEYCTL_TOKEN: formatToken('local', storeToken) },
      cwd: project,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ source: 'token', fingerprint, key: digest(key.apiKey, key.secret), left: [] });
  });

  it('a Vault token without keyctl installed: TOKEN_PROVIDER_NOT_INSTALLED, naming the package to install', async () => {
    const r = await runProcess(process.execPath, [join(project, 'bot.mjs')], {
      env: { HOME: dir, KEYCTL_TOKEN: formatToken('vault', 'hvs.FAKE-wrapping-token'), VAULT_ADDR: 'http://127.0.0.1:9' },
      cwd: project,
    });
    expect(r.code).toBe(3);
    const got = JSON.parse(r.stdout) as { error: string; name: string; hint: string };
    expect(got).toMatchObject({ error: 'TOKEN_PROVIDER_NOT_INSTALLED', name: 'ProviderError' });
    expect(got.hint).toContain('npm install keyctl');
  });
});
