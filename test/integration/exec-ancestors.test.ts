/**
 * Finding 1 of issue 12: a bot started by `keyctl exec` read the store's master key from its parent's
 * /proc/<ppid>/environ. Here a hostile bot, in each delivery mode, walks up its ancestors to the test process and
 * reads every one's environ and cmdline, on the real binary: no store credential may be there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeWorld, type World } from '../helpers/world.js';
import { assertBuilt, BIN, runNode } from '../helpers/cli.js';
import { createStore } from '../../providers/local/index.js';
import { ensureAuditKey } from '../../src/audit/key.js';
import { fingerprint, toSecretFields } from '../../src/domain/credentials.js';

const linux = process.platform === 'linux';
const PASSPHRASE = 'FAKE-test-passphrase-not-a-real-one-0001';

/** What the hostile bot prints: every ancestor's pid, environ and cmdline (base64), up to the test process. */
const SNOOP = `
import { readFileSync } from 'node:fs';
const stop = Number(process.env.SNOOP_STOP_PID);
const seen = [];
let pid = process.ppid;
while (pid > 1 && pid !== stop) {
  const read = (f) => { try { return readFileSync('/proc/' + pid + '/' + f).toString('base64'); } catch (e) { return 'ERR:' + e.code; } };
  seen.push({ pid, environ: read('environ'), cmdline: read('cmdline') });
  const stat = readFileSync('/proc/' + pid + '/stat', 'latin1');
  pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}
console.log(JSON.stringify({ snoop: seen, reached: pid }));
`;

interface Ancestor {
  pid: number;
  environ: string;
  cmdline: string;
}

let w: World;
let snoop: string;

/** Runs keyctl exec with `args` and the snooping bot; returns what it saw, and keyctl's own pid. */
async function snoopFrom(
  args: string[],
  env: NodeJS.ProcessEnv,
  bin = BIN,
): Promise<{ ancestors: Ancestor[]; reached: number; keyctlPid: number; stderr: string; code: number | null }> {
  const r = await runNode([bin, ...args, '--', process.execPath, snoop], {
    cwd: w.dir,
    env: { HOME: process.env.HOME, KEYCTL_ACTOR: 'test-runner', SNOOP_STOP_PID: String(process.pid), ...env },
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"snoop"'));
  const report = line ? (JSON.parse(line) as { snoop: Ancestor[]; reached: number }) : { snoop: [], reached: -1 };
  return { ancestors: report.snoop, reached: report.reached, keyctlPid: r.pid, stderr: r.stderr, code: r.code };
}

/** Every place a value could show: the raw bytes, and as a `NAME=value` entry. */
function leaks(ancestors: Ancestor[], secrets: Record<string, string>): string[] {
  const found: string[] = [];
  for (const a of ancestors) {
    for (const file of ['environ', 'cmdline'] as const) {
      const text = Buffer.from(a[file], 'base64').toString('latin1');
      for (const [name, value] of Object.entries(secrets)) {
        if (text.includes(value)) found.push(`${name} value in /proc/${a.pid}/${file}`);
        if (text.split('\0').some((e) => e.startsWith(`${name}=`))) found.push(`${name}= entry in /proc/${a.pid}/${file}`);
      }
    }
  }
  return found;
}

beforeAll(async () => {
  assertBuilt();
  w = await makeWorld();
  snoop = join(w.dir, 'snoop.mjs');
  writeFileSync(snoop, SNOOP);
  // A second store protected by a passphrase, holding the same bot key.
  const ppStore = await createStore({ provider: 'local', path: join(w.dir, 'store-pp') }, { env: { KEYCTL_PASSPHRASE: PASSPHRASE } });
  await ppStore.init();
  await ensureAuditKey(ppStore);
  const key = w.botKeys.arb1!;
  await ppStore.write('bots/alpha/arb1', {
    secret: toSecretFields(key),
    meta: { fingerprint: fingerprint(key.apiKey), source: 'import' },
    stage: 'CURRENT',
    expect: null,
  });
  await ppStore.close();
  writeFileSync(
    join(w.dir, 'keyctl-pp.yaml'),
    readFileSync(join(w.dir, 'keyctl.yaml'), 'utf8').replace('path: ./store', 'path: ./store-pp'),
  );
}, 60_000);
afterAll(async () => w?.close());

describe.runIf(linux)("a bot started by keyctl exec finds no store credential in any ancestor's environ or cmdline", () => {
  const modes: Array<[string, string[]]> = [
    ['env mode', []],
    ['--fd 3', ['--fd', '3']],
    ['--restart-on-rotate', ['--restart-on-rotate']],
  ];
  for (const [mode, flags] of modes) {
    it(`${mode}, master key in the environment`, async () => {
      const masterKey = w.env.KEYCTL_MASTER_KEY!;
      const r = await snoopFrom(['--config', join(w.dir, 'keyctl.yaml'), 'exec', 'alpha/arb1', ...flags], { ...w.env });
      expect(r.code, r.stderr).toBe(0);
      // The walk covered keyctl itself and ended at the test process.
      expect(r.ancestors.map((a) => a.pid)).toContain(r.keyctlPid);
      expect(r.reached).toBe(process.pid);
      expect(r.ancestors.every((a) => !a.environ.startsWith('ERR') && !a.cmdline.startsWith('ERR'))).toBe(true);
      expect(leaks(r.ancestors, { KEYCTL_MASTER_KEY: masterKey })).toEqual([]);
    });

    it(`${mode}, passphrase store`, async () => {
      const r = await snoopFrom(['--config', join(w.dir, 'keyctl-pp.yaml'), 'exec', 'alpha/arb1', ...flags], {
        KEYCTL_EXCHANGE_BACKOFF_MS: '20',
        KEYCTL_PASSPHRASE: PASSPHRASE,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.ancestors.map((a) => a.pid)).toContain(r.keyctlPid);
      expect(leaks(r.ancestors, { KEYCTL_PASSPHRASE: PASSPHRASE })).toEqual([]);
    });
  }

  it('the master key from KEYCTL_MASTER_KEY_FILE opens the store; neither the key nor the path shows in an ancestor', async () => {
    const file = join(w.dir, 'master.key');
    writeFileSync(file, `${w.env.KEYCTL_MASTER_KEY}\n`, { mode: 0o600 });
    const r = await snoopFrom(['--config', join(w.dir, 'keyctl.yaml'), 'exec', 'alpha/arb1'], {
      KEYCTL_EXCHANGE_BACKOFF_MS: '20',
      KEYCTL_MASTER_KEY_FILE: file,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.ancestors.map((a) => a.pid)).toContain(r.keyctlPid);
    expect(leaks(r.ancestors, { KEYCTL_MASTER_KEY: w.env.KEYCTL_MASTER_KEY!, KEYCTL_MASTER_KEY_FILE: file })).toEqual([]);
  });

  it('a group-readable key file is refused with exit 2 and the fix, and the bot never starts', async () => {
    const file = join(w.dir, 'loose.key');
    writeFileSync(file, `${w.env.KEYCTL_MASTER_KEY}\n`);
    chmodSync(file, 0o640);
    const r = await snoopFrom(['--config', join(w.dir, 'keyctl.yaml'), 'exec', 'alpha/arb1'], { KEYCTL_MASTER_KEY_FILE: file });
    expect(r.code).toBe(2);
    expect(r.ancestors).toEqual([]);
    expect(r.stderr).toMatch(/master key file .*loose\.key .*is open to its group \(mode 640\)/);
    expect(r.stderr).toMatch(/hint: Run chmod 600 /);
  });
});
