/**
 * The head anchor is never silently replaced (an append that finds it missing, unreadable, forged or not matching the
 * log records an `audit.anchor-lost` entry, reported by verify until acknowledged), and the audit files are never
 * opened through a planted link nor kept in a directory others can write.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acknowledgeAnchorLoss } from '../../src/app/audit-ack.js';
import { ACK_COMMAND, ANCHOR_LOST_COMMAND, anchorLoss, openAuditLog } from '../../src/audit/log.js';
import { GENESIS, headMac } from '../../src/audit/chain.js';
import type { AuditEntry, AuditLog } from '../../src/audit/types.js';
import { caught } from '../helpers/caught.js';

let dir: string;
let path: string;
let head: string;
let key: Buffer;
let log: AuditLog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyctl-audit-anchor-'));
  path = join(dir, 'logs', 'audit.log');
  head = `${path}.head`;
  key = randomBytes(32);
  log = openAuditLog({ path, key });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function appendN(n: number): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for (let i = 1; i <= n; i++) out.push(await log.append({ command: 'verify', ref: `alpha/arb${i}`, outcome: 'ok', actor: 'ops' }));
  return out;
}

async function entries(): Promise<AuditEntry[]> {
  return (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEntry);
}

async function kinds(): Promise<string[]> {
  return (await log.verify()).problems.map((p) => p.kind);
}

describe('audit head anchor: never silently replaced', () => {
  it('the reported attack: cut 14 entries, garbage head, one more append: verify still fails, naming the anchor loss', async () => {
    await appendN(20);
    const kept = (await readFile(path, 'utf8')).split('\n').slice(0, 6).join('\n') + '\n';
    await writeFile(path, kept);
    await writeFile(head, 'garbage');
    const next = await log.append({ command: 'issue', ref: 'alpha/arb1', outcome: 'ok', actor: 'bot' });

    const all = await entries();
    expect(all.map((e) => [e.seq, e.command])).toEqual([
      [1, 'verify'], [2, 'verify'], [3, 'verify'], [4, 'verify'], [5, 'verify'], [6, 'verify'],
      [7, ANCHOR_LOST_COMMAND], [8, 'issue'],
    ]); // prettier-ignore
    expect(all[6]).toMatchObject({ outcome: 'failed', actor: 'bot', detail: { anchor: 'unreadable', anchorSeq: null, lastSeq: 6 } });
    expect(next.seq).toBe(8);
    const report = await log.verify();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'anchor-lost', seq: 7, line: 7, message: expect.stringMatching(/audit ack --reason/) }),
    ]);
  });

  it.each([
    ['deleted', async () => rm(head), 'missing', null],
    ['malformed JSON', async () => writeFile(head, '{"seq":'), 'unreadable', null],
    ['missing fields', async () => writeFile(head, '{"seq":3}'), 'unreadable', null],
    [
      'forged (seq changed, MAC not)',
      async () => writeFile(head, JSON.stringify({ ...(JSON.parse(await readFile(head, 'utf8')) as object), seq: 40 })),
      'forged',
      40,
    ],
  ])('a %s head is recorded as lost, not replaced', async (_name, tamper, anchor, anchorSeq) => {
    await appendN(3);
    await tamper();
    await log.append({ command: 'verify', outcome: 'ok', actor: 'ops' });
    const all = await entries();
    expect(all.map((e) => e.command)).toEqual(['verify', 'verify', 'verify', ANCHOR_LOST_COMMAND, 'verify']);
    expect(all[3]!.detail).toEqual({ anchor, anchorSeq, lastSeq: 3 });
    expect(all[3]!.prev).toBe(all[2]!.mac);
    expect(await kinds()).toEqual(['anchor-lost']);
  });

  it('a genuine but older head (rolled back) is recorded as not matching the log', async () => {
    await appendN(2);
    const old = await readFile(head, 'utf8');
    await appendN(3);
    await writeFile(head, old);
    await log.append({ command: 'verify', outcome: 'ok', actor: 'ops' });
    const lost = (await entries()).find((e) => e.command === ANCHOR_LOST_COMMAND);
    expect(lost?.detail).toEqual({ anchor: 'not matching the log', anchorSeq: 2, lastSeq: 5 });
  });

  it('a head one entry behind (a crash before the anchor update) is normal: no loss recorded', async () => {
    await appendN(2);
    const behind = await readFile(head, 'utf8');
    await appendN(1);
    await writeFile(head, behind);
    await appendN(1);
    expect((await entries()).map((e) => e.command)).not.toContain(ANCHOR_LOST_COMMAND);
    expect(await log.verify()).toMatchObject({ ok: true, entries: 4 });
  });

  it('a new log anchors the genesis before the first entry, so a crash before the first anchor update is normal too', async () => {
    await appendN(1);
    // What a crash between the first line and its anchor update leaves: the genesis anchor written before the line.
    await writeFile(head, JSON.stringify({ seq: 0, mac: GENESIS, hmac: headMac(key, 0, GENESIS) }));
    expect(await log.verify()).toMatchObject({ ok: true, entries: 1 });
    await appendN(1);
    expect((await entries()).map((e) => e.command)).toEqual(['verify', 'verify']);
    expect(JSON.parse(await readFile(head, 'utf8'))).toMatchObject({ seq: 2 });
  });

  it('an empty log without a head is a fresh start (nothing recorded); a non-empty one without a head is not', async () => {
    await log.append({ command: 'init', outcome: 'ok', actor: 'ops' });
    expect((await entries()).map((e) => e.command)).toEqual(['init']);
    await rm(head);
    await writeFile(path, 'not an entry\n');
    await log.append({ command: 'init', outcome: 'ok', actor: 'ops' });
    const [, ...rest] = (await readFile(path, 'utf8')).split('\n').filter(Boolean);
    expect(rest.map((l) => (JSON.parse(l) as AuditEntry).command)).toEqual([ANCHOR_LOST_COMMAND, 'init']);
  });

  it('the anchor-loss rules', () => {
    const last = { seq: 5, mac: 'm5', prev: 'm4' };
    expect(anchorLoss({ state: 'ok', seq: 5, mac: 'm5' }, last)).toBeUndefined();
    expect(anchorLoss({ state: 'ok', seq: 4, mac: 'm4' }, last)).toBeUndefined(); // crash before the anchor update
    expect(anchorLoss({ state: 'ok', seq: 9, mac: 'm9' }, last)).toBeUndefined(); // cut: chained past, verify says truncated
    expect(anchorLoss({ state: 'ok', seq: 5, mac: 'other' }, last)).toEqual({ anchor: 'not matching the log', anchorSeq: 5 });
    expect(anchorLoss({ state: 'ok', seq: 4, mac: 'other' }, last)).toEqual({ anchor: 'not matching the log', anchorSeq: 4 });
    expect(anchorLoss({ state: 'ok', seq: 3, mac: 'm3' }, last)).toEqual({ anchor: 'not matching the log', anchorSeq: 3 });
    expect(anchorLoss({ state: 'missing' }, last)).toEqual({ anchor: 'missing', anchorSeq: null });
    expect(anchorLoss({ state: 'malformed', reason: 'x' }, last)).toEqual({ anchor: 'unreadable', anchorSeq: null });
    expect(anchorLoss({ state: 'forged', seq: 7 }, last)).toEqual({ anchor: 'forged', anchorSeq: 7 });
  });
});

describe('audit ack', () => {
  it('acknowledges every recorded loss with the reason and actor, in an entry of its own; verify then passes', async () => {
    await appendN(2);
    await rm(head);
    await appendN(1);
    await writeFile(head, 'garbage');
    await appendN(1);
    expect(await kinds()).toEqual(['anchor-lost', 'anchor-lost']);

    const result = await acknowledgeAnchorLoss({ audit: log, actor: 'ops-anna' }, '  compared with the shipped copy (INC-7)  ');
    expect(result).toEqual({ acknowledged: [3, 5], seq: 7 });
    const ack = (await entries()).at(-1)!;
    expect(ack).toMatchObject({
      seq: 7,
      command: ACK_COMMAND,
      actor: 'ops-anna',
      outcome: 'ok',
      detail: { through: 5, count: 2, reason: 'compared with the shipped copy (INC-7)' },
    });
    expect(await log.verify()).toMatchObject({ ok: true, problems: [] });

    // A later loss is reported again: an acknowledgement covers only what it names.
    await rm(head);
    await appendN(1);
    expect((await log.verify()).problems).toEqual([expect.objectContaining({ kind: 'anchor-lost', seq: 8 })]);
  });

  it('with the head broken right now, records that loss and acknowledges it in the same step', async () => {
    await appendN(2);
    await writeFile(head, 'garbage');
    const result = await log.acknowledge({ reason: 'restored from backup', actor: 'ops' });
    expect(result.acknowledged).toEqual([3]);
    expect((await entries()).map((e) => e.command)).toEqual(['verify', 'verify', ANCHOR_LOST_COMMAND, ACK_COMMAND]);
    expect(await log.verify()).toMatchObject({ ok: true });
  });

  it('with nothing to acknowledge, writes nothing', async () => {
    await appendN(2);
    const before = await readFile(path, 'utf8');
    expect(await log.acknowledge({ reason: 'r', actor: 'ops' })).toEqual({ acknowledged: [], entry: null });
    expect(await readFile(path, 'utf8')).toBe(before);
  });

  it('a forged acknowledgement (without the key) does not count', async () => {
    await appendN(1);
    await rm(head);
    await appendN(1);
    const forged = {
      seq: 4,
      time: new Date().toISOString(),
      actor: 'x',
      command: ACK_COMMAND,
      outcome: 'ok',
      detail: { through: 99 },
      prev: 'x',
      mac: 'a'.repeat(64),
    };
    await writeFile(path, `${await readFile(path, 'utf8')}${JSON.stringify(forged)}\n`);
    expect(await kinds()).toEqual(expect.arrayContaining(['anchor-lost', 'inserted']));
  });

  it.each([[''], ['   '], ['two\nlines'], ['x'.repeat(501)]])('refuses the reason %j', async (reason) => {
    await appendN(1);
    const err = await caught(acknowledgeAnchorLoss({ audit: log, actor: 'ops' }, reason));
    expect(err).toMatchObject({ code: 'BAD_REASON', exitCode: 2 });
  });
});

describe('audit files: no links followed, no loose directory', () => {
  it('refuses a symlink planted at the log, and leaves its target untouched', async () => {
    const victim = join(dir, 'victim.txt');
    await writeFile(victim, 'precious\n');
    await mkdir(join(dir, 'logs'), { mode: 0o700 });
    await symlink(victim, path);
    const err = await caught(log.append({ command: 'verify', outcome: 'ok', actor: 'ops' }));
    expect(err).toMatchObject({ code: 'AUDIT_SYMLINK', exitCode: 4, message: expect.stringContaining(path) });
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    await expect(log.verify()).rejects.toMatchObject({ code: 'AUDIT_SYMLINK' });
    await expect(log.tail(5)).rejects.toMatchObject({ code: 'AUDIT_SYMLINK' });
  });

  it('a symlink planted at the head is a lost anchor: replaced as a link, its target untouched', async () => {
    await appendN(2);
    const victim = join(dir, 'victim.txt');
    await writeFile(victim, 'precious\n');
    await rm(head);
    await symlink(victim, head);
    await appendN(1);
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect((await lstat(head)).isSymbolicLink()).toBe(false);
    expect((await entries())[2]!.detail).toMatchObject({ anchor: 'unreadable' });
  });

  it('writes the head through a random temp name, so a link planted at the old predictable name is never followed', async () => {
    await appendN(1);
    const victim = join(dir, 'victim.txt');
    await writeFile(victim, 'precious\n');
    await symlink(victim, `${head}.${process.pid}.tmp`);
    await appendN(2);
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect(JSON.parse(await readFile(head, 'utf8'))).toMatchObject({ seq: 3 });
    // No temp file is left behind.
    expect((await readdir(join(dir, 'logs'))).filter((f) => f.endsWith('.tmp'))).toEqual([`audit.log.head.${process.pid}.tmp`]);
  });

  it('a FIFO planted at the head or the log cannot hang keyctl: a lost anchor, or a refused log', async () => {
    await appendN(1);
    await rm(head);
    execFileSync('mkfifo', [head]);
    await appendN(1);
    expect((await entries())[1]!.detail).toMatchObject({ anchor: 'unreadable' });
    await rm(path);
    execFileSync('mkfifo', [path]);
    await expect(log.append({ command: 'verify', outcome: 'ok', actor: 'ops' })).rejects.toMatchObject({ code: 'AUDIT_NOT_A_FILE' });
    await expect(log.verify()).rejects.toMatchObject({ code: 'AUDIT_NOT_A_FILE' });
    await expect(log.tail(1)).rejects.toMatchObject({ code: 'AUDIT_NOT_A_FILE' });
  });

  it('refuses a group- or world-writable directory holding files, saying how to fix it', async () => {
    await appendN(1);
    await chmod(join(dir, 'logs'), 0o777);
    const before = await readFile(path, 'utf8');
    const err = await caught(log.append({ command: 'verify', outcome: 'ok', actor: 'ops' }));
    expect(err).toMatchObject({ code: 'AUDIT_DIR_UNSAFE', exitCode: 4, message: expect.stringContaining('0777') });
    expect((err as { hint: string }).hint).toContain('chmod 700');
    expect(await readFile(path, 'utf8')).toBe(before);
    await chmod(join(dir, 'logs'), 0o720);
    await expect(log.append({ command: 'verify', outcome: 'ok', actor: 'ops' })).rejects.toMatchObject({ code: 'AUDIT_DIR_UNSAFE' });
  });

  it('tightens a loose directory of ours that is still empty to 0700', async () => {
    await mkdir(join(dir, 'logs'));
    await chmod(join(dir, 'logs'), 0o777);
    await appendN(1);
    expect((await stat(join(dir, 'logs'))).mode & 0o777).toBe(0o700);
  });

  it.runIf(process.getuid?.() === 0)('refuses a directory owned by another user', async () => {
    await mkdir(join(dir, 'logs'), { mode: 0o700 });
    await chown(join(dir, 'logs'), 65534, 65534);
    const err = await caught(log.append({ command: 'verify', outcome: 'ok', actor: 'ops' }));
    expect(err).toMatchObject({ code: 'AUDIT_DIR_UNSAFE', message: expect.stringContaining('belongs to user 65534') });
  });

  it('a directory that is ours and 0755 is fine (only writability by others is refused)', async () => {
    await mkdir(join(dir, 'logs'));
    await chmod(join(dir, 'logs'), 0o755);
    await appendN(1);
    await appendN(1);
    expect(await log.verify()).toMatchObject({ ok: true, entries: 2 });
  });
});
