/**
 * Crash safety of the local store against a real process killed with SIGKILL at random moments while it writes.
 * After every kill a fresh store must open everything, each record must hold its old or its new state (never
 * neither, never a mix), leftover temp files must not matter, and the dead writer's lock must be taken over at once.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCoordination } from '../../providers/local/coordination.js';
import { DOCS_DIR, LOCK_FILE, LocalStore } from '../../providers/local/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const fixture = join(here, 'fixtures', 'local-writer.mjs');
const FAKE_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
const ITERATIONS = 20;
const PATHS = ['bots/k/s0', 'bots/k/s1', 'bots/k/s2'];

type Entry =
  | { op: 'begin'; kind: 'write'; path: string; pre: string | null; seq: number }
  | { op: 'begin'; kind: 'delete'; path: string; pre: string | null }
  | { op: 'ack'; path: string; current: string | null };

/** The child runs the built provider; a missing or outdated build would test old code, so say so plainly. */
function assertBuilt(): void {
  // The store's file and crypto primitives live in the client package (clients/node), which the local store imports.
  const pairs = [['providers/local/index.ts', 'dist/providers/local/index.js']].concat(
    ['lock', 'coordination'].map((m) => [`providers/local/${m}.ts`, `dist/providers/local/${m}.js`]),
    ['crypto', 'files'].map((m) => [`clients/node/src/local/${m}.ts`, `clients/node/dist/local/${m}.js`]),
  );
  for (const [src, out] of pairs as [string, string][]) {
    const built = join(repo, out);
    if (!existsSync(built)) throw new Error(`${out} is missing: run \`npm run build\` (npx tsc -p tsconfig.json) before this test.`);
    if (statSync(built).mtimeMs < statSync(join(repo, src)).mtimeMs) {
      throw new Error(`${out} is older than ${src}: run \`npm run build\` (npx tsc -p tsconfig.json) before this test.`);
    }
  }
}

/** Starts a writer, waits until it acknowledged `acks` operations, waits `extraMs` more, then SIGKILLs it. */
async function runAndKill(dir: string, journal: string, seqStart: number, acks: number, extraMs: number): Promise<void> {
  const child = spawn(process.execPath, [fixture, dir, journal, String(seqStart)], {
    env: { ...process.env, KEYCTL_MASTER_KEY: FAKE_MASTER_KEY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    let seen = 0;
    child.stdout.on('data', (d: Buffer) => {
      seen += d
        .toString()
        .split('\n')
        .filter((l) => l.startsWith('ack')).length;
      if (seen >= acks) resolve();
    });
    void exited.then((code) => reject(new Error(`writer exited (${code}) before it was killed: ${stderr}`)));
  });
  await new Promise((r) => setTimeout(r, extraMs));
  child.kill('SIGKILL');
  await exited;
}

async function journalOf(file: string): Promise<Entry[]> {
  const raw = await readFile(file, 'utf8').catch(() => '');
  // A kill can cut the last line short; a partial "begin" line means the operation never started.
  return raw
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Entry];
      } catch {
        return [];
      }
    });
}

describe('local store survives SIGKILL of a writer', () => {
  let root: string;
  beforeAll(async () => {
    assertBuilt();
    root = await mkdtemp(join(tmpdir(), 'keyctl-local-kill-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it(`${ITERATIONS} random kills: every record old or new, temp files harmless, dead lock taken over at once`, async () => {
    const dir = join(root, 'store');
    const env = { KEYCTL_MASTER_KEY: FAKE_MASTER_KEY };
    const init = new LocalStore({ path: dir, env });
    await init.init();
    await init.close();

    let killedHoldingLock = 0;
    let leftoverTemps = 0;
    let totalAcks = 0;
    let slowestTakeoverMs = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const journal = join(root, `journal-${i}.ndjson`);
      await runAndKill(dir, journal, i * 1_000_000, 1 + Math.floor(Math.random() * 12), Math.random() * 8);
      const entries = await journalOf(journal);
      totalAcks += entries.filter((e) => e.op === 'ack').length;
      if (existsSync(join(dir, LOCK_FILE))) killedHoldingLock += 1;
      leftoverTemps += (await readdir(join(dir, DOCS_DIR))).filter((n) => n.startsWith('.tmp-')).length;

      // Options that rule waiting out: a fresh lock cannot go stale for a minute, and this store may not wait at all
      // (timeout 0), so its write below succeeds only if it sees at once that the lock's holder is dead.
      const store = new LocalStore({ path: dir, env, lockStaleMs: 60_000, lockTimeoutMs: 0 });
      for (const path of PATHS) {
        const last = entries.filter((e) => e.path === path).at(-1);
        const info = await store.describe(path);
        const current = info?.stages.CURRENT ?? null;
        // Every version that still has material opens and matches the metadata written with it.
        for (const v of info?.versions ?? []) {
          if (v.destroyed) continue;
          const read = await store.read(path, { version: v.id });
          expect(read.secret).toEqual({ apiKey: `FAKE-key-${v.meta.seq}`, secret: `FAKE-secret-${v.meta.seq}` });
        }
        for (const id of Object.values(info?.stages ?? {})) expect(info?.versions.some((v) => v.id === id)).toBe(true);
        if (!last) continue;
        if (last.op === 'ack') {
          expect({ path, current }).toEqual({ path, current: last.current });
        } else if (last.kind === 'write') {
          // In flight when killed: the old CURRENT, or the new version it was writing.
          const isNew = current !== null && info?.versions.find((v) => v.id === current)?.meta.seq === String(last.seq);
          expect({ path, current, oldOrNew: current === last.pre || isNew }).toEqual({ path, current, oldOrNew: true });
        } else {
          expect({ path, current, oldOrGone: current === last.pre || info === null }).toEqual({ path, current, oldOrGone: true });
        }
      }
      // The next writer gets the lock the dead one held without waiting for it to go stale (see the store's options).
      const t0 = Date.now();
      await store.write('probe/p', { secret: { v: `FAKE-${i}` } });
      slowestTakeoverMs = Math.max(slowestTakeoverMs, Date.now() - t0);
      expect((await readdir(join(dir, DOCS_DIR))).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
      expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
      await store.close();
      // The coordination files (the writer's leases) open, and their lock is taken over at once too.
      const coordination = new LocalCoordination({ path: dir, lockStaleMs: 60_000, lockTimeoutMs: 0, integrity: store });
      await coordination.release(await coordination.acquire('probe', 'local-kill-test', 60_000));
      await coordination.close();
    }
    console.log(
      `local-kill: ${ITERATIONS} kills, ${totalAcks} acknowledged operations, ${killedHoldingLock} kills while holding the lock, ` +
        `${leftoverTemps} leftover temp files, slowest post-kill write ${slowestTakeoverMs} ms`,
    );
    // Without kills inside the critical section this test would prove nothing about takeover.
    expect(killedHoldingLock).toBeGreaterThan(0);
    expect(totalAcks).toBeGreaterThan(ITERATIONS);
  }, 60_000);
});
