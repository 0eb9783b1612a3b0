import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeWorld, type World } from '../helpers/world.js';
import { assertBuilt, BIN, runProcess } from '../helpers/cli.js';
import { REPO } from '../helpers/dist.js';

let w: World;
let runtime: string;
let register: string;

beforeAll(async () => {
  w = await makeWorld();
  runtime = mkdtempSync(join(tmpdir(), 'keyctl-lean-'));
  // Logs every module keyctl's process loads (the hooks run beside it; the bot is not affected).
  const hooks = join(runtime, 'hooks.mjs');
  writeFileSync(
    hooks,
    'export async function load(url, context, next) {\n  process.stderr.write(`LOADED ${url}\\n`);\n  return next(url, context);\n}\n',
  );
  register = join(runtime, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
});
afterAll(async () => {
  await w?.close();
  rmSync(runtime, { recursive: true, force: true });
});

/** keyctl exec (of the build at `bin`) with the module logger; the bot prints its key's fingerprint. */
async function exec(bin = BIN) {
  assertBuilt();
  const r = await runProcess(
    process.execPath,
    [
      '--import',
      register,
      bin,
      '--config',
      join(w.dir, 'keyctl.yaml'),
      'exec',
      'alpha/arb1',
      '--',
      process.execPath,
      '-e',
      'process.stdout.write(process.env.KEYCTL_FINGERPRINT ?? "none")',
    ],
    { env: { ...w.env, HOME: process.env.HOME, KEYCTL_RUNTIME_DIR: runtime, KEYCTL_ACTOR: 'test-runner' }, cwd: w.dir },
  );
  const loaded = [...r.stderr.matchAll(/^LOADED (.+)$/gm)].map((m) => m[1]!);
  return { ...r, loaded };
}

describe('keyctl exec loads only what a bot waits for', () => {
  it('from its second start on: no argument parser, no config stack, no table renderer, no ccxt or SDK', async () => {
    const first = await exec();
    expect(first.code, first.stderr).toBe(0);
    const second = await exec();
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stdout).not.toBe('none');
    // The modules are logged at all (else this test could not fail), and exec's path came from its bundle
    // (deploy/build/exec-bundle.mjs): keyctl's own modules, the client package's included, load from nowhere else.
    const listing = JSON.parse(readFileSync(join(REPO, 'dist/src/cli/exec-bundle.json'), 'utf8')) as {
      start: Record<string, string[]>;
      lazy: Record<string, string[]>;
    };
    const cliUrl = `${pathToFileURL(join(REPO, 'dist/src/cli')).href}/`;
    const ownFiles = (r: { loaded: string[] }) =>
      r.loaded
        .filter((u) => u.startsWith(pathToFileURL(REPO).href) && !u.includes('/node_modules/'))
        .map((u) => (u.startsWith(cliUrl) ? u.slice(cliUrl.length) : u));
    expect(ownFiles(second).sort()).toEqual(['bin.js', 'exec-argv.js', ...Object.keys(listing.start)].sort());
    const modulesOf = (r: { loaded: string[] }) => ownFiles(r).flatMap((f) => listing.start[f] ?? listing.lazy[f] ?? []);
    expect(modulesOf(second)).toContain('dist/src/cli/exec-fast.js');
    const heavyModule = /^dist\/src\/(cli\/main|cli\/output|config\/load|config\/schema|exchanges\/.*)\.js$/;
    expect(modulesOf(second).filter((m) => heavyModule.test(m))).toEqual([]);
    const heavy = second.loaded.filter((u) =>
      /node_modules\/(commander|cli-table3|js-yaml|valibot|luxon|ccxt|@aws-sdk|node-vault|proper-lockfile|pino|prom-client|nodemailer)\//.test(
        u,
      ),
    );
    expect(heavy).toEqual([]);
    // The first start parsed the config (and cached what exec needs of it), from a chunk of the bundle.
    expect(modulesOf(first)).toContain('dist/src/config/load.js');
    // Even then, none of keyctl's modules loaded from outside the bundle and its chunks: one copy of each.
    const outside = ownFiles(first).filter((f) => !['bin.js', 'exec-argv.js'].includes(f) && !listing.start[f] && !listing.lazy[f]);
    expect(outside).toEqual([]);
  });

  it('runs the same path module by module when the bundle is older than the build (tsc ran after npm run build)', async () => {
    // A copy of the build, so the shared one is left alone; packages resolve through a link to node_modules.
    const copy = mkdtempSync(join(tmpdir(), 'keyctl-lean-build-'));
    try {
      cpSync(join(REPO, 'dist'), join(copy, 'dist'), { recursive: true });
      cpSync(join(REPO, 'package.json'), join(copy, 'package.json'));
      symlinkSync(join(REPO, 'node_modules'), join(copy, 'node_modules'));
      const later = new Date(Date.now() + 60_000);
      utimesSync(join(copy, 'dist/src/cli/exec-fast.js'), later, later);
      const r = await exec(join(copy, 'dist/src/cli/bin.js'));
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toBe('none');
      expect(r.loaded.some((u) => u.endsWith('/dist/src/cli/exec-fast.js'))).toBe(true);
      expect(r.loaded.filter((u) => u.endsWith('/dist/src/cli/exec-bundle.js'))).toEqual([]);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
