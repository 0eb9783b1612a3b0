import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openAuditLog } from '../../src/audit/log.js';
import type { AuditEntry, AuditLog, AuditVerifyReport } from '../../src/audit/types.js';
import { CliContext } from '../../src/cli/context.js';
import { captureIo, type CapturedIo } from '../helpers/io.js';
import { run as runVerify } from '../../src/cli/commands/audit-verify.js';
import { main } from '../../src/cli/main.js';

let dir: string;
let logPath: string;
let configPath: string;
let key: Buffer;
let log: AuditLog;

function io(): CapturedIo {
  return captureIo({ cwd: dir });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keyctl-audit-cmd-'));
  logPath = join(dir, 'audit.log');
  configPath = join(dir, 'keyctl.yaml');
  // The memory store has no audit key, which is fine: `audit tail` must not need one.
  await writeFile(configPath, `store:\n  provider: memory\naudit:\n  path: ${logPath}\n`);
  key = randomBytes(32);
  log = openAuditLog({ path: logPath, key });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function seed(n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    await log.append({ command: 'key import', ref: `alpha/arb${i}`, fingerprint: `fp${i}`, outcome: 'ok', actor: 'ops' });
  }
}

describe('keyctl audit tail', () => {
  it('prints the last N entries as JSON without opening the store', async () => {
    await seed(5);
    const t = io();
    expect(await main(['audit', 'tail', '-n', '2', '--json', '--config', configPath], t.io)).toBe(0);
    const { entries } = JSON.parse(t.stdout()) as { entries: AuditEntry[] };
    expect(entries.map((e) => e.seq)).toEqual([4, 5]);
    expect(entries[1]).toMatchObject({ ref: 'alpha/arb5', fingerprint: 'fp5', outcome: 'ok', actor: 'ops' });
  });

  it('prints a table for humans', async () => {
    await seed(3);
    const t = io();
    expect(await main(['audit', 'tail', '--config', configPath], t.io)).toBe(0);
    const text = t.stdout();
    for (const col of ['time', 'actor', 'command', 'ref', 'fingerprint', 'outcome', 'alpha/arb1', 'alpha/arb3', 'fp2'])
      expect(text).toContain(col);
  });

  it('says so when there are no entries', async () => {
    const t = io();
    expect(await main(['audit', 'tail', '--config', configPath], t.io)).toBe(0);
    expect(t.stdout()).toContain('No audit entries yet');
  });

  it.each(['0', '-3', 'abc', '1.5', '9999999'])('rejects -n %s with a usage error (exit 2)', async (n) => {
    const t = io();
    expect(await main(['audit', 'tail', '--lines', n, '--json', '--config', configPath], t.io)).toBe(2);
    expect(JSON.parse(t.stdout())).toMatchObject({ error: { code: 'BAD_LINES', exitCode: 2 } });
  });
});

describe('keyctl audit verify', () => {
  /** A real CliContext whose audit log is opened with the test's key (the store's key path is tested elsewhere). */
  function context(t: ReturnType<typeof io>, json: boolean): CliContext {
    const ctx = new CliContext(t.io, 'audit verify', { json, config: configPath });
    ctx.audit = async () => log;
    return ctx;
  }

  it('exits 0 and reports the entry count when the chain verifies', async () => {
    await seed(3);
    const t = io();
    expect(await runVerify(context(t, true), [], {})).toBe(0);
    expect(JSON.parse(t.stdout())).toEqual({ ok: true, entries: 3, problems: [] });
    const h = io();
    expect(await runVerify(context(h, false), [], {})).toBe(0);
    expect(h.stdout()).toContain('3 entries, chain verified');
  });

  it('exits 3 and lists every problem with seq, line and kind when the log was tampered with', async () => {
    await seed(5);
    const lines = (await readFile(logPath, 'utf8')).split('\n');
    lines[1] = lines[1]!.replace('"outcome":"ok"', '"outcome":"failed"');
    lines.splice(3, 1);
    await writeFile(logPath, lines.join('\n'));
    const t = io();
    expect(await runVerify(context(t, true), [], {})).toBe(3);
    const report = JSON.parse(t.stdout()) as AuditVerifyReport & { hint: string };
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.kind, p.seq, p.line])).toEqual([
      ['edited', 2, 2],
      ['removed', 4, 4],
    ]);
    expect(report.hint).toMatch(/incident/);
    const h = io();
    expect(await runVerify(context(h, false), [], {})).toBe(3);
    expect(h.stdout()).toMatch(/2 problems found/);
    expect(h.stdout()).toContain('edited');
    expect(h.stdout()).toContain('removed');
  });

  it('reports an empty log as verified with 0 entries', async () => {
    const t = io();
    expect(await runVerify(context(t, true), [], {})).toBe(0);
    expect(JSON.parse(t.stdout())).toEqual({ ok: true, entries: 0, problems: [] });
  });

  it('without an audit key in the store, fails through main with the store error, not a crash', async () => {
    const t = io();
    const code = await main(['audit', 'verify', '--json', '--config', configPath], t.io);
    expect(code).toBe(4);
    expect(JSON.parse(t.stdout())).toMatchObject({ error: { code: 'STORE_NOT_INITIALIZED' } });
  });
});
