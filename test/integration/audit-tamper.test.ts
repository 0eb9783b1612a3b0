/**
 * Finding 4 and the audit side of finding 5 of the security review, reproduced on the real keyctl binary: a hostile
 * process of the same user tampers with the audit files, then keyctl runs. Before the fix, the next append replaced a
 * garbage, deleted or forged head anchor and `audit verify` passed; a link planted at the head's predictable temp name
 * or at the log made keyctl write into another file. Each attack must now stay visible or be refused.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAuditKey } from '../../src/audit/key.js';
import { openAuditLog } from '../../src/audit/log.js';
import type { AuditProblem } from '../../src/audit/types.js';
import { createStore } from '../../providers/local/index.js';
import { BIN, assertBuilt, type CliResult } from '../helpers/cli.js';
import { makeWorld, type World } from '../helpers/world.js';

const worlds: World[] = [];
afterAll(async () => {
  await Promise.all(worlds.map((w) => w.close()));
});

async function world(): Promise<World> {
  const w = await makeWorld();
  worlds.push(w);
  return w;
}

const logOf = (w: World) => join(w.dir, 'store', 'audit.log');

/** Appends `n` genuine entries with the store's own audit key, as earlier keyctl runs would have. */
async function seed(w: World, n: number): Promise<void> {
  const store = await createStore({ provider: 'local', path: join(w.dir, 'store') }, { env: w.env });
  const log = openAuditLog({ path: logOf(w), key: await loadAuditKey(store) });
  await store.close();
  for (let i = 1; i <= n; i++) await log.append({ command: 'verify', ref: '@main', outcome: 'ok', actor: 'ops' });
}

function problems(r: CliResult): AuditProblem[] {
  return r.json<{ problems: AuditProblem[] }>().problems;
}

/** A victim file of the user's that a planted link points at. */
function victim(w: World): string {
  const file = join(w.dir, 'victim.txt');
  writeFileSync(file, 'precious, not keyctl\n');
  return file;
}

describe('the head anchor is never silently replaced (real binary)', () => {
  it('the reported attack: cut 14 entries, garbage head, keyctl issue: audit verify exits 3 until acknowledged', async () => {
    const w = await world();
    await seed(w, 20);
    const lines = readFileSync(logOf(w), 'utf8').split('\n');
    writeFileSync(logOf(w), `${lines.slice(0, 6).join('\n')}\n`);
    writeFileSync(`${logOf(w)}.head`, 'garbage');

    expect((await w.cli(['issue', 'alpha/arb1'])).code).toBe(0);
    const verify = await w.cli(['audit', 'verify', '--json']);
    expect(verify.code, verify.stderr).toBe(3);
    expect(problems(verify)).toEqual([expect.objectContaining({ kind: 'anchor-lost', seq: 7 })]);

    const tail = await w.cli(['audit', 'tail', '-n', '2', '--json']);
    expect(tail.json<{ entries: unknown[] }>().entries).toEqual([
      expect.objectContaining({ seq: 7, command: 'audit.anchor-lost', detail: { anchor: 'unreadable', anchorSeq: null, lastSeq: 6 } }),
      expect.objectContaining({ seq: 8, command: 'issue', ref: 'alpha/arb1' }),
    ]);

    // Still failing on every later run, until an operator acknowledges it with a reason.
    expect((await w.cli(['issue', 'alpha/arb1'])).code).toBe(0);
    expect((await w.cli(['audit', 'verify'])).code).toBe(3);
    // status reads only the end of the log and its latest-entry cache, and still sees the loss waiting.
    const status = await w.cli(['status']);
    expect(status.code, status.stderr).toBe(3);
    expect(status.stdout).toContain('BROKEN: an anchor loss (entry 7) is not acknowledged');
    expect((await w.cli(['audit', 'ack', '--json'])).code).toBe(2);
    const ack = await w.cli(['audit', 'ack', '--reason', 'compared with the shipped copy: entries 7-20 cut (INC-9)', '--json']);
    expect(ack.code, ack.stderr).toBe(0);
    expect(ack.json()).toEqual({ acknowledged: [7], seq: 10 });
    expect((await w.cli(['audit', 'verify'])).code).toBe(0);
    expect((await w.cli(['status'])).code).toBe(0);
    const last = (await w.cli(['audit', 'tail', '-n', '1', '--json'])).json<{ entries: unknown[] }>().entries;
    expect(last).toEqual([
      expect.objectContaining({
        command: 'audit.ack',
        actor: 'test-runner',
        detail: { through: 7, count: 1, reason: 'compared with the shipped copy: entries 7-20 cut (INC-9)' },
      }),
    ]);
  });

  it('entries cut from the end, no keyctl run since: status sees it from the head anchor alone (exit 3)', async () => {
    const w = await world();
    await seed(w, 5);
    const lines = readFileSync(logOf(w), 'utf8').split('\n');
    writeFileSync(logOf(w), `${lines.slice(0, 3).join('\n')}\n`);
    const status = await w.cli(['status', '--json']);
    expect(status.code, status.stderr).toBe(3);
    expect(status.json<{ audit: unknown }>().audit).toMatchObject({
      ok: false,
      entries: 3,
      problem: 'entries after 3 were cut from its end',
    });
  });

  it('a deleted head: the next run records the loss and verify exits 3', async () => {
    const w = await world();
    await seed(w, 3);
    rmSync(`${logOf(w)}.head`);
    expect((await w.cli(['issue', 'alpha/arb1'])).code).toBe(0);
    const verify = await w.cli(['audit', 'verify', '--json']);
    expect(verify.code).toBe(3);
    expect(problems(verify)).toEqual([expect.objectContaining({ kind: 'anchor-lost', seq: 4 })]);
  });

  it('a forged head (seq changed, MAC kept): the next run records the loss and verify exits 3', async () => {
    const w = await world();
    await seed(w, 3);
    const head = JSON.parse(readFileSync(`${logOf(w)}.head`, 'utf8')) as { seq: number };
    writeFileSync(`${logOf(w)}.head`, JSON.stringify({ ...head, seq: 2 }));
    expect((await w.cli(['issue', 'alpha/arb1'])).code).toBe(0);
    const verify = await w.cli(['audit', 'verify', '--json']);
    expect(verify.code).toBe(3);
    expect(problems(verify)).toEqual([expect.objectContaining({ kind: 'anchor-lost', seq: 4 })]);
    const tail = (await w.cli(['audit', 'tail', '-n', '2', '--json'])).json<{ entries: Array<{ detail?: unknown }> }>();
    expect(tail.entries[0]!.detail).toEqual({ anchor: 'forged', anchorSeq: 2, lastSeq: 3 });
  });
});

describe('audit files: planted links and loose directories (real binary)', () => {
  it("a link planted at the head's temp name (the old <head>.<pid>.tmp) is never written through", async () => {
    const w = await world();
    await seed(w, 1);
    const target = victim(w);
    assertBuilt();
    const child = spawn(process.execPath, [BIN, '--config', join(w.dir, 'keyctl.yaml'), 'issue', 'alpha/arb1'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, KEYCTL_ACTOR: 'test-runner', ...w.env },
      stdio: 'ignore',
    });
    // The attacker sees the new process and plants the link before it gets to the audit log (node takes far longer
    // to start than this takes).
    symlinkSync(target, `${logOf(w)}.head.${child.pid}.tmp`);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(readFileSync(target, 'utf8')).toBe('precious, not keyctl\n');
    expect(lstatSync(`${logOf(w)}.head`).isSymbolicLink()).toBe(false);
    expect((await w.cli(['audit', 'verify'])).code).toBe(0);
  });

  it('a link planted at the log itself is refused (exit 4, AUDIT_SYMLINK) and its target left alone', async () => {
    const w = await world();
    const target = victim(w);
    symlinkSync(target, logOf(w));
    const r = await w.cli(['issue', 'alpha/arb1', '--json']);
    expect(r.code).toBe(4);
    expect(r.json<{ error: { code: string; message: string } }>().error).toMatchObject({
      code: 'AUDIT_SYMLINK',
      message: expect.stringContaining('symbolic link'),
    });
    expect(readFileSync(target, 'utf8')).toBe('precious, not keyctl\n');
    const verify = await w.cli(['audit', 'verify', '--json']);
    expect(verify.code).toBe(4);
    expect(verify.json<{ error: { code: string } }>().error.code).toBe('AUDIT_SYMLINK');
  });

  it('a 0777 audit directory holding the log is refused with how to fix it; an empty one of ours is tightened to 0700', async () => {
    const w = await world();
    appendFileSync(join(w.dir, 'keyctl.yaml'), 'audit:\n  path: ./audit/audit.log\n');
    const auditDir = join(w.dir, 'audit');
    mkdirSync(auditDir);
    chmodSync(auditDir, 0o777);
    expect((await w.cli(['issue', 'alpha/arb1'])).code).toBe(0);
    expect(statSync(auditDir).mode & 0o777).toBe(0o700);

    chmodSync(auditDir, 0o777);
    const before = readFileSync(join(auditDir, 'audit.log'), 'utf8');
    const r = await w.cli(['issue', 'alpha/arb1', '--json']);
    expect(r.code).toBe(4);
    const error = r.json<{ error: { code: string; message: string; hint: string } }>().error;
    expect(error).toMatchObject({ code: 'AUDIT_DIR_UNSAFE', message: expect.stringContaining('0777') });
    expect(error.hint).toContain(`chmod 700 ${auditDir}`);
    expect(readFileSync(join(auditDir, 'audit.log'), 'utf8')).toBe(before);
  });
});
