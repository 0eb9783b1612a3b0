import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalJson, entryMac, GENESIS } from '../../src/audit/chain.js';
import { openAuditLog } from '../../src/audit/log.js';
import { processRedactor } from '../../src/audit/redact.js';
import type { AuditEntry, AuditLog, AuditProblem } from '../../src/audit/types.js';
import { assertDistFresh } from '../helpers/dist.js';

let dir: string;
let path: string;
let key: Buffer;
let log: AuditLog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyctl-audit-'));
  path = join(dir, 'logs', 'audit.log');
  key = randomBytes(32);
  let t = Date.parse('2025-01-01T00:00:00Z');
  log = openAuditLog({ path, key, now: () => (t += 1000) });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function appendN(n: number, l: AuditLog = log): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for (let i = 1; i <= n; i++) {
    out.push(
      await l.append({ command: 'key import', ref: `alpha/arb${i}`, fingerprint: `fp${i}`, outcome: 'ok', actor: 'ops', detail: { i } }),
    );
  }
  return out;
}

async function lines(): Promise<string[]> {
  return (await readFile(path, 'utf8')).split('\n').slice(0, -1);
}

async function writeLines(ls: string[]): Promise<void> {
  await writeFile(path, ls.map((l) => `${l}\n`).join(''));
}

/** The problems as [kind, seq, line], for compact assertions. */
function summary(problems: AuditProblem[]): Array<[string, number | null, number]> {
  return problems.map((p) => [p.kind, p.seq, p.line]);
}

describe('audit log: append', () => {
  it('chains entries: consecutive seqs, prev = previous mac, mac over canonical JSON of the other fields', async () => {
    const entries = await appendN(3);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(entries[0]!.prev).toBe(GENESIS);
    expect(entries[1]!.prev).toBe(entries[0]!.mac);
    expect(entries[2]!.prev).toBe(entries[1]!.mac);
    const onDisk = (await lines()).map((l) => JSON.parse(l) as AuditEntry);
    expect(onDisk).toEqual(entries);
    for (const e of onDisk) expect(e.mac).toBe(entryMac(key, e as unknown as Record<string, unknown>));
    expect(onDisk[0]).toMatchObject({
      time: '2025-01-01T00:00:01.000Z',
      actor: 'ops',
      command: 'key import',
      ref: 'alpha/arb1',
      fingerprint: 'fp1',
      outcome: 'ok',
      detail: { i: 1 },
    });
  });

  it('canonical JSON does not depend on key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe(
      canonicalJson({ a: { c: null, d: [1, { y: 2, z: 1 }] }, b: 1 }),
    );
    expect(canonicalJson({ a: undefined, b: 'x' })).toBe('{"b":"x"}');
  });

  it('creates the log 0600 in a 0700 directory, and the head anchor 0600', async () => {
    await appendN(1);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'logs'))).mode & 0o777).toBe(0o700);
    expect((await stat(`${path}.head`)).mode & 0o777).toBe(0o600);
  });

  it('tightens a log file that was left group- or world-readable', async () => {
    await appendN(1);
    const { chmod } = await import('node:fs/promises');
    await chmod(path, 0o644);
    await appendN(1);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('never writes a registered secret (nor its encodings) to the file', async () => {
    const canary = `FAKE-CANARY-${randomBytes(8).toString('hex')}`;
    processRedactor.add(canary);
    const b64 = Buffer.from(canary).toString('base64');
    await log.append({
      command: `key import ${canary}`,
      ref: canary,
      fingerprint: canary,
      actor: canary,
      outcome: 'failed',
      detail: { error: `boom ${canary}`, encoded: b64, [canary]: 1 },
    });
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain(canary);
    expect(text).not.toContain(b64.replace(/=+$/, ''));
    expect(text).toContain('[REDACTED]');
    expect(await log.verify()).toMatchObject({ ok: true, entries: 1 });
  });

  it('keeps a valid chain under many concurrent appends in one process', async () => {
    await Promise.all(Array.from({ length: 30 }, (_, i) => log.append({ command: 'c', outcome: 'ok', actor: `a${i}` })));
    const report = await log.verify();
    expect(report).toEqual({ ok: true, entries: 30, problems: [] });
    expect((await lines()).map((l) => (JSON.parse(l) as AuditEntry).seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  const dist = resolve(import.meta.dirname, '../../dist/src/audit/log.js');
  it('keeps a valid chain under appends from 3 processes (runs the built dist/: npm run build first)', async () => {
    assertDistFresh();
    const script = `
      const { openAuditLog } = await import(${JSON.stringify(dist)});
      const log = openAuditLog({ path: process.argv[1], key: Buffer.from(process.argv[2], 'hex') });
      for (let i = 0; i < 20; i++) await log.append({ command: 'proc', outcome: 'ok', actor: 'p' + process.pid, detail: { i } });
    `;
    const run = () =>
      new Promise<number>((ok, fail) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, path, key.toString('hex')], {
          stdio: ['ignore', 'ignore', 'inherit'],
        });
        child.on('error', fail);
        child.on('exit', (code) => ok(code ?? -1));
      });
    expect(await Promise.all([run(), run(), run()])).toEqual([0, 0, 0]);
    const report = await log.verify();
    expect(report).toEqual({ ok: true, entries: 60, problems: [] });
    const entries = (await lines()).map((l) => JSON.parse(l) as AuditEntry);
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(new Set(entries.map((e) => e.actor)).size).toBe(3);
  });

  it('refuses to append or verify without a key, but tails', async () => {
    await appendN(2);
    const keyless = openAuditLog({ path });
    await expect(keyless.append({ command: 'c', outcome: 'ok', actor: 'x' })).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(keyless.verify()).rejects.toMatchObject({ code: 'INTERNAL' });
    expect((await keyless.tail(5)).map((e) => e.seq)).toEqual([1, 2]);
  });

  it('starts a fresh line after a partial last line, so only that line reads as malformed', async () => {
    await appendN(2);
    await writeFile(path, `${await readFile(path, 'utf8')}{"seq":3,"ti`);
    const e = await log.append({ command: 'after-crash', outcome: 'ok', actor: 'ops' });
    expect(e.seq).toBe(3);
    const report = await log.verify();
    expect(summary(report.problems)).toEqual([['malformed', null, 3]]);
  });
});

describe('audit log: verify', () => {
  it('an empty or missing log verifies with 0 entries', async () => {
    expect(await log.verify()).toEqual({ ok: true, entries: 0, problems: [] });
  });

  it('a chain written by keyctl verifies', async () => {
    await appendN(5);
    expect(await log.verify()).toEqual({ ok: true, entries: 5, problems: [] });
  });

  it('an edited field (not re-MACed) is reported as edited at that seq and line, the rest of the chain intact', async () => {
    await appendN(5);
    const ls = await lines();
    ls[2] = ls[2]!.replace('"outcome":"ok"', '"outcome":"failed"');
    await writeLines(ls);
    const report = await log.verify();
    expect(report.ok).toBe(false);
    expect(summary(report.problems)).toEqual([['edited', 3, 3]]);
  });

  it('an edited last entry is reported as edited', async () => {
    await appendN(3);
    const ls = await lines();
    ls[2] = ls[2]!.replace('"actor":"ops"', '"actor":"nobody"');
    await writeLines(ls);
    expect(summary((await log.verify()).problems)).toEqual([['edited', 3, 3]]);
  });

  it('an added field is an edit too (the MAC covers every field)', async () => {
    await appendN(3);
    const ls = await lines();
    ls[1] = ls[1]!.replace('{', '{"approved":true,');
    await writeLines(ls);
    expect(summary((await log.verify()).problems)).toEqual([['edited', 2, 2]]);
  });

  it('several edits are each reported', async () => {
    await appendN(6);
    const ls = await lines();
    ls[1] = ls[1]!.replace('"ops"', '"eve"');
    ls[4] = ls[4]!.replace('"ops"', '"eve"');
    await writeLines(ls);
    expect(summary((await log.verify()).problems)).toEqual([
      ['edited', 2, 2],
      ['edited', 5, 5],
    ]);
  });

  it('a deleted middle line is reported as removed with its seq', async () => {
    await appendN(5);
    const ls = await lines();
    ls.splice(2, 1);
    await writeLines(ls);
    const report = await log.verify();
    expect(report.entries).toBe(4);
    expect(summary(report.problems)).toEqual([['removed', 3, 3]]);
  });

  it('a deleted first line is reported as removed', async () => {
    await appendN(3);
    await writeLines((await lines()).slice(1));
    expect(summary((await log.verify()).problems)).toEqual([['removed', 1, 1]]);
  });

  it('a deleted run of lines is one removed problem naming the range', async () => {
    await appendN(8);
    const ls = await lines();
    ls.splice(2, 3);
    await writeLines(ls);
    const problems = (await log.verify()).problems;
    expect(summary(problems)).toEqual([['removed', 3, 3]]);
    expect(problems[0]!.message).toContain('3-5');
  });

  it('two swapped lines are reported as reordered, both of them', async () => {
    await appendN(5);
    const ls = await lines();
    [ls[2], ls[3]] = [ls[3]!, ls[2]!];
    await writeLines(ls);
    expect(summary((await log.verify()).problems)).toEqual([
      ['reordered', 4, 3],
      ['reordered', 3, 4],
    ]);
  });

  it('a forged line inserted mid-log is reported as inserted', async () => {
    const entries = await appendN(4);
    const ls = await lines();
    const forged = { ...entries[2]!, command: 'key export', prev: entries[1]!.mac, mac: randomBytes(32).toString('hex') };
    ls.splice(2, 0, JSON.stringify(forged));
    await writeLines(ls);
    expect(summary((await log.verify()).problems)).toEqual([['inserted', 3, 3]]);
  });

  it('a forged line with a fresh seq appended at the end is reported as inserted', async () => {
    const entries = await appendN(2);
    const forged = { ...entries[1]!, seq: 3, prev: entries[1]!.mac, mac: randomBytes(32).toString('hex') };
    await writeLines([...(await lines()), JSON.stringify(forged)]);
    expect(summary((await log.verify()).problems)).toEqual([['inserted', 3, 3]]);
  });

  it('a replayed copy of a genuine entry is reported as inserted', async () => {
    await appendN(3);
    const ls = await lines();
    ls.splice(3, 0, ls[1]!);
    await writeLines(ls);
    expect(summary((await log.verify()).problems)).toEqual([['inserted', 2, 4]]);
  });

  it('cutting entries off the end is reported as truncated (via the head anchor)', async () => {
    await appendN(5);
    await writeLines((await lines()).slice(0, 3));
    const report = await log.verify();
    expect(summary(report.problems)).toEqual([['truncated', 4, 4]]);
    expect(report.problems[0]!.message).toContain('4-5');
  });

  it('emptying the log is reported as truncated', async () => {
    await appendN(2);
    await writeFile(path, '');
    expect(summary((await log.verify()).problems)).toEqual([['truncated', 1, 1]]);
  });

  it('after a truncation, the next append chains past the gap so the loss stays visible', async () => {
    await appendN(5);
    await writeLines((await lines()).slice(0, 3));
    const e = await log.append({ command: 'next', outcome: 'ok', actor: 'ops' });
    expect(e.seq).toBe(6);
    expect(summary((await log.verify()).problems)).toEqual([['removed', 4, 4]]);
  });

  it('a missing or forged head anchor is reported', async () => {
    await appendN(2);
    const head = await readFile(`${path}.head`, 'utf8');
    await rm(`${path}.head`);
    expect(summary((await log.verify()).problems)).toEqual([['truncated', null, 3]]);
    const forged = { ...(JSON.parse(head) as object), seq: 9 };
    await writeFile(`${path}.head`, JSON.stringify(forged));
    expect(summary((await log.verify()).problems)).toEqual([['edited', 9, 3]]);
    await writeFile(`${path}.head`, 'not json');
    expect(summary((await log.verify()).problems)).toEqual([['malformed', null, 3]]);
  });

  it('a malformed line is reported as malformed, and the chain around it still checks', async () => {
    await appendN(4);
    const ls = await lines();
    ls[1] = 'this is not json';
    ls.splice(3, 0, '{"seq":"x"}');
    await writeLines(ls);
    const report = await log.verify();
    // Line 2 replaced entry 2, so entry 2 is also gone from the chain.
    expect(summary(report.problems)).toEqual([
      ['malformed', null, 2],
      ['removed', 2, 3],
      ['malformed', null, 4],
    ]);
    expect(report.entries).toBe(3);
  });

  it('problem messages never quote line content', async () => {
    const canary = 'FAKE-LINE-CONTENT-4242';
    await appendN(2);
    await writeLines([...(await lines()), `${canary} {`]);
    const report = await log.verify();
    expect(report.problems).toHaveLength(1);
    expect(JSON.stringify(report)).not.toContain(canary);
  });

  it('a log chained under another key does not verify: every entry and the head anchor are reported', async () => {
    const other = openAuditLog({ path, key: randomBytes(32) });
    await appendN(2, other);
    expect(summary((await log.verify()).problems)).toEqual([
      ['edited', 1, 1],
      ['edited', 2, 2],
      ['edited', 2, 3], // the head anchor's HMAC fails under this key
    ]);
  });
});

describe('audit log: tail', () => {
  it('returns the last n entries, oldest first', async () => {
    await appendN(7);
    expect((await log.tail(3)).map((e) => e.seq)).toEqual([5, 6, 7]);
    expect((await log.tail(100)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(await log.tail(0)).toEqual([]);
  });

  it('returns nothing for a missing log', async () => {
    expect(await openAuditLog({ path: join(dir, 'nope.log') }).tail(5)).toEqual([]);
  });

  it('reads across chunk boundaries and skips malformed lines', async () => {
    const big = 'x'.repeat(30_000);
    for (let i = 0; i < 6; i++) await log.append({ command: 'c', outcome: 'ok', actor: 'ops', detail: { big, i } });
    await writeFile(path, `${await readFile(path, 'utf8')}garbage\n`);
    const tail = await openAuditLog({ path }).tail(4);
    expect(tail.map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect(tail.every((e) => e.detail?.big === big)).toBe(true);
  });
});
