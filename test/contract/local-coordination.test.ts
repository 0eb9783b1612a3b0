/** The coordination contract suite on the local store's backing: two instances on one directory, a shared clock. */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COORDINATION_DIR, LocalCoordination } from '../../providers/local/coordination.js';
import { LocalStore } from '../../providers/local/index.js';
import { coordinationContract } from './coordination-suite.js';
import { caught } from '../helpers/caught.js';

// Obviously fake: base64 of 32 bytes spelling FAKE.
const FAKE_MASTER_KEY = Buffer.alloc(32, 'FAKE').toString('base64');
const MK_ENV = { KEYCTL_MASTER_KEY: FAKE_MASTER_KEY };

/** Coordination files are authenticated with a key from the store's data key, so every instance opens the store. */
async function initStore(path: string): Promise<LocalStore> {
  const store = new LocalStore({ path, env: MK_ENV });
  await store.init();
  return store;
}
const localCoordination = (path: string, extra: { now?: () => number; lockStaleMs?: number } = {}) =>
  new LocalCoordination({ path, integrity: new LocalStore({ path, env: MK_ENV }), ...extra });

let clock = 0;
coordinationContract('local', async () => {
  clock = Date.parse('2026-01-01T00:00:00Z');
  const dir = await mkdtemp(join(tmpdir(), 'keyctl-local-coord-'));
  const path = join(dir, 'store');
  await initStore(path);
  const open = () => localCoordination(path, { now: () => clock });
  return {
    coordination: open(),
    other: async () => open(),
    advance: (ms) => {
      clock += ms;
    },
    storeClock: () => clock,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

// ---- faults: real processes racing, tampered files -----------------------------------------------------------------

/**
 * The child processes run the current sources, not dist/: the local backing and what it imports are transpiled (types
 * stripped, nothing bundled) into a temp directory that mirrors the repository layout.
 */
async function compileForChild(out: string): Promise<string> {
  const ts = (await import('typescript')).default;
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const seen = new Set<string>();
  const visit = async (rel: string): Promise<void> => {
    if (seen.has(rel)) return;
    seen.add(rel);
    const source = await readFile(join(repo, rel), 'utf8');
    const js = ts
      .transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
      })
      // The client package's modules (the error types, the store's file and crypto primitives) by relative path to
      // their sources, transpiled beside the rest: the temp directory has no node_modules to resolve the package in.
      .outputText.replace(/(from |import\()'@keyctl\/client(?:\/([^']+))?'/g, (_m, lead: string, sub: string | undefined) => {
        const target = relative(dirname(rel), `clients/node/src/${sub ?? 'index'}.js`);
        return `${lead}'${target.startsWith('.') ? target : `./${target}`}'`;
      });
    await mkdir(dirname(join(out, rel)), { recursive: true });
    await writeFile(join(out, rel.replace(/\.ts$/, '.js')), js);
    for (const m of js.matchAll(/from '(\.[^']+)\.js'/g)) await visit(join(dirname(rel), `${m[1]}.ts`));
  };
  await visit('providers/local/coordination.ts');
  await visit('providers/local/index.ts');
  await writeFile(join(out, 'package.json'), '{"type":"module"}');
  return join(out, 'providers/local/coordination.js');
}

/** One racer: waits for the start time, tries the lease once, then adds 1 to a shared counter `increments` times. */
function racerSource(moduleUrl: string): string {
  return `
const { LocalCoordination } = await import(${JSON.stringify(moduleUrl)});
const { LocalStore } = await import(${JSON.stringify(moduleUrl.replace(/coordination\.js$/, 'index.js'))});
const [path, owner, startAt, increments] = process.argv.slice(2);
const integrity = new LocalStore({ path, env: { KEYCTL_MASTER_KEY: ${JSON.stringify(FAKE_MASTER_KEY)} } });
const c = new LocalCoordination({ path, lockStaleMs: 2000, integrity });
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1));
const out = { owner, lease: null, leaseError: null, added: 0, conflicts: 0 };
try {
  out.lease = await c.acquire('race', owner, 60000);
} catch (err) {
  out.leaseError = err.code;
}
for (let i = 0; i < Number(increments); ) {
  const cur = await c.read('counter');
  try {
    await c.write('counter', { n: (cur?.value.n ?? 0) + 1, by: owner }, { expect: cur?.revision ?? null });
    i++;
    out.added++;
  } catch (err) {
    if (err.code !== 'CONFLICT') throw err;
    out.conflicts++;
  }
}
process.stdout.write(JSON.stringify(out));
`;
}

function run(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`racer exited ${code}: ${stderr}`))));
  });
}

describe('local coordination: faults', () => {
  let dir: string;
  let path: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyctl-local-coord-fault-'));
    path = join(dir, 'store');
    await initStore(path);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('processes racing: exactly one takes the lease, and no compare-and-set increment is lost', async () => {
    const module = await compileForChild(join(dir, 'build'));
    const script = join(dir, 'build', 'racer.mjs');
    await writeFile(script, racerSource(pathToFileURL(module).href));
    const racers = 5;
    const increments = 10;
    const startAt = String(Date.now() + 700);
    const outs = (
      await Promise.all(Array.from({ length: racers }, (_, i) => run(script, [path, `proc-${i}`, startAt, String(increments)])))
    ).map((o) => JSON.parse(o) as { owner: string; lease: { owner: string } | null; leaseError: string | null; added: number });
    const winners = outs.filter((o) => o.lease);
    expect(winners).toHaveLength(1);
    expect(outs.filter((o) => o.leaseError === 'LOCKED')).toHaveLength(racers - 1);
    const c = localCoordination(path);
    expect((await c.read<{ n: number }>('counter'))?.value.n).toBe(racers * increments);
    // The winner's lease is on disk for everyone else.
    expect((await caught(c.acquire('race', 'late', 1000))).code).toBe('LOCKED');
  });

  it('files are 0600 in a 0700 directory', async () => {
    const c = localCoordination(path);
    await c.acquire('rotate/bots/a/s1', 'host-a', 60_000);
    await c.write('journal/bots/a/s1', { step: 1 }, { expect: null });
    const coordDir = join(path, COORDINATION_DIR);
    expect((await stat(coordDir)).mode & 0o777).toBe(0o700);
    const files = (await readdir(coordDir)).filter((n) => n.endsWith('.json'));
    expect(files).toHaveLength(2);
    for (const f of files) expect((await stat(join(coordDir, f))).mode & 0o777).toBe(0o600);
  });

  it('a tampered, truncated or swapped file is COORDINATION_CORRUPT, never an empty state', async () => {
    const c = localCoordination(path);
    const lease = await c.acquire('rotate/x', 'host-a', 60_000);
    await c.write('journal/x', { step: 1 }, { expect: null });
    await c.write('journal/y', { step: 2 }, { expect: null });
    const coordDir = join(path, COORDINATION_DIR);
    const names = (await readdir(coordDir)).filter((n) => n.endsWith('.json'));
    const leaseFile = names.find((n) => n.startsWith('lease-'))!;
    const [recX, recY] = await Promise.all(
      ['journal/x', 'journal/y'].map(async (key) => {
        for (const n of names.filter((m) => m.startsWith('record-'))) {
          const file = JSON.parse(await readFile(join(coordDir, n), 'utf8')) as { body: string };
          if ((JSON.parse(file.body) as { key: string }).key === key) return n;
        }
        throw new Error(`no file for ${key}`);
      }),
    );

    // A lease file cut short: taking the lease must not treat it as free.
    const leaseRaw = await readFile(join(coordDir, leaseFile), 'utf8');
    await writeFile(join(coordDir, leaseFile), leaseRaw.slice(0, 20));
    expect((await caught(c.acquire('rotate/x', 'host-b', 1000))).code).toBe('COORDINATION_CORRUPT');
    expect((await caught(c.write('journal/x', { step: 9 }, { expect: null, fence: lease }))).code).toBe('COORDINATION_CORRUPT');
    // A lease file edited to look free (fence reset), its generation and MAC left as they were: fails authentication.
    const edited = leaseRaw.replace(/\\"fence\\":\d+/, '\\"fence\\":7');
    expect(edited).not.toBe(leaseRaw);
    await writeFile(join(coordDir, leaseFile), edited);
    expect((await caught(c.acquire('rotate/x', 'host-b', 1000))).code).toBe('COORDINATION_CORRUPT');
    await writeFile(join(coordDir, leaseFile), leaseRaw);

    // A record file swapped with another one: its name no longer matches its key.
    const xRaw = await readFile(join(coordDir, recX!), 'utf8');
    const yRaw = await readFile(join(coordDir, recY!), 'utf8');
    await writeFile(join(coordDir, recX!), yRaw);
    expect((await caught(c.read('journal/x'))).code).toBe('COORDINATION_CORRUPT');
    expect((await caught(c.list('journal/'))).code).toBe('COORDINATION_CORRUPT');
    // Not JSON at all.
    await writeFile(join(coordDir, recX!), '{"format":"keyctl-coordination/1",');
    expect((await caught(c.read('journal/x'))).code).toBe('COORDINATION_CORRUPT');
    expect((await caught(c.write('journal/x', 1, { expect: null }))).code).toBe('COORDINATION_CORRUPT');
    await writeFile(join(coordDir, recX!), xRaw);
    expect((await c.read('journal/x'))?.value).toEqual({ step: 1 });
  });

  it('a missing store directory is STORE_NOT_INITIALIZED, not an empty state', async () => {
    const c = localCoordination(join(dir, 'nowhere'));
    expect((await caught(c.read('journal/x'))).code).toBe('STORE_NOT_INITIALIZED');
    expect((await caught(c.list(''))).code).toBe('STORE_NOT_INITIALIZED');
    expect((await caught(c.acquire('x', 'a', 1000))).code).toBe('STORE_NOT_INITIALIZED');
  });

  it('temp files of a writer that died are removed, and do not count as entries', async () => {
    const c = localCoordination(path);
    await c.write('a', 1, { expect: null });
    const coordDir = join(path, COORDINATION_DIR);
    await writeFile(join(coordDir, '.tmp-deadbeef'), 'half a write');
    const fresh = localCoordination(path);
    expect(await fresh.list('')).toEqual(['a']);
    await fresh.write('b', 2, { expect: null });
    expect((await readdir(coordDir)).some((n) => n.startsWith('.tmp-'))).toBe(false);
  });
});
