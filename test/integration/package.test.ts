/**
 * keyctl as users install it: `npm pack`, `npm install -g <tgz> --prefix <tmp>`, and the installed `keyctl` command
 * (package.json `bin`) run through its shebang, never `node dist/...`. The README's quick start then runs verbatim
 * through that command against the sandbox the package ships, so a broken bin, a file missing from `files` or a
 * quick start that drifted from the code fails here.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
  scripts: Record<string, string>;
};
const run = promisify(execFile);
/** The sandbox port the README's quick start uses. */
const QUICKSTART_PORT = 8101;

/** Where the developer's npm reads its global npmrc (when vitest runs outside `npm test`, which would pass it on). */
const NPM_GLOBALCONFIG = (() => {
  try {
    return execFileSync('npm', ['config', 'get', 'globalconfig'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
})();

/** The environment every installed-command run gets: this test's Node first on PATH, nothing from the developer's shell. */
function envWith(binDir: string, home: string): NodeJS.ProcessEnv {
  return {
    PATH: [binDir, dirname(process.execPath), process.env.PATH ?? ''].join(delimiter),
    HOME: home,
    KEYCTL_ACTOR: 'package-test',
    // npm's cache, registry and trust stay as the developer or CI configured them (and nothing else of npm's run-script
    // env). The global npmrc is named explicitly: `npm install --prefix` would look for it under the temp prefix and
    // lose its settings (a cafile behind a TLS-inspecting proxy: every fetch then fails SELF_SIGNED_CERT_IN_CHAIN).
    ...Object.fromEntries(
      Object.entries(process.env).filter(([k]) => /^(npm_config_(cache|registry|cafile|ca|globalconfig)|NODE_EXTRA_CA_CERTS)$/i.test(k)),
    ),
    ...(process.env.npm_config_globalconfig === undefined && NPM_GLOBALCONFIG ? { npm_config_globalconfig: NPM_GLOBALCONFIG } : {}),
  };
}

/** The first ```sh block of a README section. */
function shellBlock(readme: string, heading: string): string {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no "## ${heading}" section`);
  const section = readme.slice(start + 1).split(/\n## /)[0]!;
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error(`README's "${heading}" section has no sh block`);
  return block;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

describe('the installed package', () => {
  let dir: string;
  let prefix: string;
  let binDir: string;
  let files: string[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyctl-package-'));
    prefix = join(dir, 'prefix');
    binDir = process.platform === 'win32' ? prefix : join(prefix, 'bin');
    // dist/ is already built by `npm run test:package` (its globalSetup checks); --ignore-scripts keeps `npm pack` from
    // rebuilding it under a running test.
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 << 20 });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = info!.files.map((f) => f.path);
    await run(
      'npm',
      [
        'install',
        '--global',
        join(dir, info!.filename),
        '--prefix',
        prefix,
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        // Without a lockfile in the tarball npm resolves the newest matching versions, so this install fetches from the
        // registry. npm's default fetch timeout is 5 minutes: one stalled connection outlasted this hook in CI (stop 23).
        // A 30 s timeout with retries turns a stall into a retry.
        '--fetch-timeout=30000',
        '--fetch-retries=4',
        '--fetch-retry-maxtimeout=10000',
      ],
      {
        cwd: dir,
        env: envWith(binDir, process.env.HOME ?? dir),
        maxBuffer: 16 << 20,
      },
    );
  }, 240_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships the command, the library, the sandbox and the docs, and no tests, sources, maps or stores', () => {
    for (const needed of [
      'package.json',
      'README.md',
      pkg.bin.keyctl!,
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/sandbox/server.js',
      'docs/examples/bot.mjs',
      'docs/examples/keyctl.yaml',
      // The Python client, beside the Python example bot that imports it from there.
      'clients/python/keyctl_client.py',
      'docs/examples/bot.py',
      // The Node client package, bundled (bundleDependencies): installing keyctl never fetches it from a registry.
      'node_modules/@keyctl/client/package.json',
      'node_modules/@keyctl/client/dist/index.js',
      'node_modules/@keyctl/client/dist/index.d.ts',
    ]) {
      expect(files, needed).toContain(needed);
    }
    const unwanted = files.filter((f) =>
      /^(test|bench|\.ci|src|providers|schedules)\/|\.map$|(^|\/)\.keyctl\/|\.tgz$|(^|\/)tsconfig|(?<!\.d)\.ts$/.test(f),
    );
    expect(unwanted).toEqual([]);
    // Every compiled module comes from a source that exists today: a stale dist/ would ship deleted code. The exec
    // bundle and its chunks are made from compiled modules (deploy/build/exec-bundle.mjs), and they ship.
    expect(files).toContain('dist/src/cli/exec-bundle.js');
    expect(files).toContain('dist/src/cli/exec-core.js');
    expect(files.some((f) => f.startsWith('dist/src/cli/exec-chunks/'))).toBe(true);
    const stale = files.filter(
      (f) =>
        /^dist\/.*\.js$/.test(f) &&
        !/^dist\/src\/cli\/(exec-bundle\.js|exec-core\.js|exec-chunks\/)/.test(f) &&
        !existsSync(join(ROOT, f.replace(/^dist\//, '').replace(/\.js$/, '.ts'))),
    );
    expect(stale, 'run `npm run clean && npm run build`').toEqual([]);
  });

  it('builds itself where it is not built yet: prepare builds (npm ci, npx from a clone, npm pack), prepack starts from a clean dist', () => {
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(pkg.scripts.prepack).toBe('npm run clean');
  });

  it('installs a keyctl command that answers --version and --help', async () => {
    const keyctl = join(binDir, 'keyctl');
    const env = envWith(binDir, dir);
    const version = await run(keyctl, ['--version'], { env });
    expect(version.stdout.trim()).toBe(pkg.version);
    const help = await run(keyctl, ['--help'], { env });
    expect(help.stdout).toMatch(/^Usage: keyctl /);
    for (const command of ['init', 'key', 'verify', 'rotate', 'exec', 'kill', 'sandbox']) expect(help.stdout).toContain(`\n  ${command} `);
  });

  // npm 10's npx (Node 22) spends about 22 s of CPU reading the clone's dependency tree before it runs the bin
  // (measured on the 2-core CI machine, idle; npm 11: 2 s), so a loaded machine needs well over a minute.
  it('runs `npx keyctl --help` from the clone', { timeout: 180_000 }, async () => {
    const { stdout } = await run('npx', ['--no-install', 'keyctl', '--help'], {
      cwd: ROOT,
      env: envWith(join(ROOT, 'node_modules', '.bin'), process.env.HOME ?? dir),
    });
    expect(stdout).toMatch(/^Usage: keyctl /);
  });

  it('runs the README quick start verbatim through the installed command, against the sandbox it ships', async () => {
    // The quick start names the sandbox's default port; a sandbox left running by hand would answer instead of ours.
    expect(
      await portIsFree(QUICKSTART_PORT),
      `port ${QUICKSTART_PORT} is in use: stop the keyctl sandbox (or whatever listens there) and re-run`,
    ).toBe(true);
    const script = shellBlock(readFileSync(join(ROOT, 'README.md'), 'utf8'), 'Quick start');
    const work = join(dir, 'quickstart');
    mkdirSync(work);
    // What a clone has beside the config: docs/examples (the config to copy, the example bot).
    symlinkSync(join(ROOT, 'docs'), join(work, 'docs'));
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], {
      cwd: work,
      env: envWith(binDir, dir),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    // The script stops its sandbox with `kill %1`; after a failure, stop the whole group so nothing outlives the test.
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/@bybit-main: stored key \w+ as CURRENT .*verified at the exchange/);
    expect(stdout).toMatch(/alpha\/arb1: stored key \w+ as CURRENT .*verified at the exchange/);
    expect(stdout).toMatch(/bot: bybit accepted key \w+ \(from env\)/);
    expect(stdout).toMatch(/bot: bybit accepted key \w+ \(from token\)/);
    expect(stdout).toMatch(/chain verified/);
  }, 180_000);
});
