/**
 * The audit log's latest-entry cache (`<log>.latest`, src/audit/latest.ts) and the end-of-chain check `status` runs:
 * right answers without reading the whole log, and never a wrong one when the cache is stale, lost, forged or ahead
 * of the log.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../src/audit/log.js';
import type { AuditEntry, AuditLog } from '../../src/audit/types.js';

let dir: string;
let path: string;
let key: Buffer;
let log: AuditLog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyctl-latest-'));
  path = join(dir, 'audit.log');
  key = randomBytes(32);
  let t = Date.parse('2025-01-01T00:00:00Z');
  log = openAuditLog({ path, key, now: () => (t += 1000) });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const verify = (ref: string, outcome: AuditEntry['outcome'] = 'ok') =>
  log.append({
    command: 'verify',
    ref,
    fingerprint: `fp-${ref}`,
    outcome,
    actor: 'ops',
    detail: { violations: outcome === 'ok' ? '' : 'WITHDRAW_ENABLED' },
  });
const exec = (ref: string) => log.append({ command: 'exec', ref, outcome: 'ok', actor: 'bot' });
const summary = (entries: AuditEntry[]) => entries.map((e) => [e.ref, e.seq, e.outcome]);
const cacheText = () => readFile(`${path}.latest`, 'utf8');
const cache = async () => JSON.parse((await cacheText()).split('\n')[0]!) as { v: 1; through: number; latest: AuditEntry[] };
/** Another process's view: no answer remembered from an earlier call. */
const fresh = () => openAuditLog({ path, key });

describe('AuditLog.latest', () => {
  it('gives the newest verify entry per ref, and keeps a cache through the end of the log', async () => {
    await verify('alpha/arb1', 'refused');
    await exec('alpha/arb1');
    await verify('alpha/arb2');
    await verify('alpha/arb1');
    await exec('alpha/arb2');
    expect(summary(await log.latest(['verify']))).toEqual([
      ['alpha/arb2', 3, 'ok'],
      ['alpha/arb1', 4, 'ok'],
    ]);
    expect(await log.latest(['kill'])).toEqual([]);
    expect((await cache()).through).toBe(5);
  });

  it('reads only what was appended after the cache: an old line it no longer needs can be unreadable', async () => {
    await verify('alpha/arb1', 'refused');
    for (let i = 0; i < 50; i++) await exec('alpha/arb1');
    await log.latest(['verify']);
    // Garble the first entry (the verify itself): a whole-log read would no longer find it.
    const text = await readFile(path, 'utf8');
    const first = text.indexOf('\n');
    await writeFile(path, `${'x'.repeat(first)}${text.slice(first)}`);
    for (let i = 0; i < 5; i++) await exec('alpha/arb1');
    expect(summary(await fresh().latest(['verify']))).toEqual([['alpha/arb1', 1, 'refused']]);
  });

  it('an exec entry does not touch the cache; an indexed append updates it in place', async () => {
    await verify('alpha/arb1');
    await log.latest(['verify']);
    const before = await stat(`${path}.latest`);
    await exec('alpha/arb1');
    expect((await stat(`${path}.latest`)).mtimeMs).toBe(before.mtimeMs);
    await verify('alpha/arb2', 'refused');
    // The exec at 2 was never noted, so `through` stays at 1 and the next reader scans from there.
    expect((await cache()).through).toBe(1);
    expect(summary((await cache()).latest)).toEqual([
      ['alpha/arb1', 1, 'ok'],
      ['alpha/arb2', 3, 'refused'],
    ]);
    await log.latest(['verify']);
    expect((await cache()).through).toBe(3);
    await verify('alpha/arb1', 'refused');
    expect((await cache()).through).toBe(4); // gapless: moves on
  });

  it('an append whose cache update was lost (crash, a racing reader) is found by the next reader', async () => {
    await verify('alpha/arb1');
    await log.latest(['verify']);
    const stale = await readFile(`${path}.latest`, 'utf8');
    await verify('alpha/arb1', 'refused');
    await writeFile(`${path}.latest`, stale); // as if the update after that append never happened
    expect(summary(await fresh().latest(['verify']))).toEqual([['alpha/arb1', 2, 'refused']]);
  });

  it('a forged cache entry (refused edited to ok) is not believed: rebuilt from the log', async () => {
    await verify('alpha/arb1', 'refused');
    await log.latest(['verify']);
    const c = await cache();
    c.latest[0]!.outcome = 'ok';
    const mac = (await cacheText()).split('\n')[1];
    await writeFile(`${path}.latest`, `${JSON.stringify(c)}\n${mac}\n`);
    expect(summary(await fresh().latest(['verify']))).toEqual([['alpha/arb1', 1, 'refused']]);
    // Rebuilt: the file holds the truth again.
    expect(summary((await cache()).latest)).toEqual([['alpha/arb1', 1, 'refused']]);
  });

  it('a cache ahead of the log (log cut or replaced) is rebuilt from the log', async () => {
    await verify('alpha/arb1', 'refused');
    await verify('alpha/arb2', 'refused');
    await log.latest(['verify']);
    const text = await readFile(path, 'utf8');
    await writeFile(path, text.slice(0, text.indexOf('\n') + 1)); // only the first entry left
    expect(summary(await fresh().latest(['verify']))).toEqual([['alpha/arb1', 1, 'refused']]);
  });

  it('a malformed cache, or one made under another key, is rebuilt from the log', async () => {
    await verify('alpha/arb1');
    await writeFile(`${path}.latest`, '{"v":1,"through":');
    expect(summary(await fresh().latest(['verify']))).toEqual([['alpha/arb1', 1, 'ok']]);
    // A cache made under another audit key (another store's) is not this log's.
    const other = openAuditLog({ path: join(dir, 'other.log'), key: randomBytes(32) });
    await other.append({ command: 'verify', ref: 'alpha/arb1', outcome: 'refused', actor: 'ops' });
    await other.latest(['verify']);
    await writeFile(`${path}.latest`, await readFile(join(dir, 'other.log.latest')));
    expect(summary(await fresh().latest(['verify']))).toEqual([['alpha/arb1', 1, 'ok']]);
  });

  it('a forged line appended to the log around keyctl counts for nothing', async () => {
    await verify('alpha/arb1', 'refused');
    const forged = {
      seq: 2,
      time: new Date().toISOString(),
      actor: 'ops',
      command: 'verify',
      ref: 'alpha/arb1',
      outcome: 'ok',
      prev: 'x',
      mac: 'a'.repeat(64),
    };
    await writeFile(path, `${await readFile(path, 'utf8')}${JSON.stringify(forged)}\n`);
    expect(summary(await fresh().latest(['verify']))).toEqual([['alpha/arb1', 1, 'refused']]);
  });
});

describe('AuditLog.checkEnd', () => {
  it('passes an intact log and reports its length', async () => {
    expect(await log.checkEnd()).toEqual({ ok: true, entries: 0 });
    await verify('alpha/arb1');
    await exec('alpha/arb1');
    expect(await log.checkEnd()).toEqual({ ok: true, entries: 2 });
  });

  it('fails a last line that is not a genuine entry, and entries cut from the end', async () => {
    await verify('alpha/arb1');
    await exec('alpha/arb1');
    const text = await readFile(path, 'utf8');
    await writeFile(path, `${text}{"seq":3}\n`);
    expect(await log.checkEnd()).toMatchObject({ ok: false, problem: 'its last line is not a genuine entry' });
    await writeFile(path, text.slice(0, text.indexOf('\n') + 1));
    expect(await log.checkEnd()).toMatchObject({ ok: false, entries: 1, problem: 'entries after 1 were cut from its end' });
  });

  it('fails while an anchor loss waits for its acknowledgement, and passes after it', async () => {
    await verify('alpha/arb1');
    await rm(`${path}.head`);
    await exec('alpha/arb1'); // records the loss first
    expect(await log.checkEnd()).toMatchObject({ ok: false, problem: 'an anchor loss (entry 2) is not acknowledged' });
    await log.acknowledge({ reason: 'restored from backup', actor: 'ops' });
    expect(await log.checkEnd()).toEqual({ ok: true, entries: 4 });
  });
});
