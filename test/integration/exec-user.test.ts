/**
 * Issue 12 item 2: `keyctl exec --user` runs the bot under another Unix user, the real boundary against a hostile bot.
 * On the real binary (these tests run as root, and `nobody` exists), a hostile bot under `--user nobody` gets its key,
 * then tries what a same-user bot could do: read its ancestors' /proc/<pid>/environ, list the store directory, read the
 * keyring and the master key file. Every attempt fails with EACCES. Unknown users, root, and a keyctl without
 * CAP_SETUID/CAP_SETGID are refused with exit 2 before the bot starts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeWorld, type World } from '../helpers/world.js';
import { BIN, runProcess } from '../helpers/cli.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { canSwitchUser, resolveRunAs } from '../../src/delivery/user.js';
import { events, startKeyctl } from './delivery-helpers.js';

const rootOnLinux = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('id', ['-u', 'nobody']).status === 0;
const NOBODY = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim() || -1);
const CLIENT = pathToFileURL(join(process.cwd(), 'dist/src/index.js')).href;

/**
 * The hostile bot: loads its key with the client library, then reports who it runs as and what it could read. Only
 * a hash of the API key leaves it (the output is masked anyway).
 */
const HOSTILE = `
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { loadCredentials } from ${JSON.stringify(CLIENT)};
const creds = await loadCredentials();
const attempt = (f) => { try { f(); return 'READ'; } catch (e) { return e.code; } };
const ancestors = [];
for (let pid = process.ppid; pid > 1 && pid !== Number(process.env.STOP_PID); ) {
  ancestors.push({ pid, environ: attempt(() => readFileSync('/proc/' + pid + '/environ')), mem: attempt(() => readFileSync('/proc/' + pid + '/mem')) });
  const stat = readFileSync('/proc/' + pid + '/stat', 'latin1');
  pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}
const status = readFileSync('/proc/self/status', 'latin1');
const ids = (name) => (new RegExp('^' + name + ':[ \\t]*(.*)$', 'm').exec(status)?.[1] ?? '').trim().split(/\\s+/).filter(Boolean).map(Number);
console.log(JSON.stringify({
  event: 'start',
  source: creds.source,
  fingerprint: creds.fingerprint,
  apiKeyHash: createHash('sha256').update(creds.apiKey).digest('hex'),
  uid: ids('Uid'), gid: ids('Gid'), groups: ids('Groups'),
  home: process.env.HOME, user: process.env.USER, logname: process.env.LOGNAME,
  masterKeyInEnv: Object.keys(process.env).filter((k) => k.startsWith('KEYCTL_MASTER_KEY')),
  ancestors,
  storeDir: attempt(() => readdirSync(process.env.STORE_DIR)),
  keyring: attempt(() => readFileSync(process.env.STORE_DIR + '/keyring.json')),
  keyFile: attempt(() => readFileSync(process.env.KEY_FILE)),
}));
`;

let w: World;
let botDir: string;
let bot: string;
let keyFile: string;

const keyctl = (args: string[], env: NodeJS.ProcessEnv) =>
  startKeyctl(['--config', join(w.dir, 'keyctl.yaml'), 'exec', 'alpha/arb1', ...args], {
    env: { STOP_PID: String(process.pid), STORE_DIR: join(w.dir, 'store'), KEY_FILE: keyFile, ...env },
    cwd: w.dir,
  });

beforeAll(async () => {
  w = await makeWorld();
  // The world's directory lets others pass through but not list: what stops nobody below is the store's own mode
  // and the key file's, not a closed parent.
  chmodSync(w.dir, 0o711);
  keyFile = join(w.dir, 'master.key');
  writeFileSync(keyFile, `${w.env.KEYCTL_MASTER_KEY}\n`, { mode: 0o600 });
  // The bot's script must be readable by nobody; the store stays closed to it.
  botDir = mkdtempSync(join(tmpdir(), 'keyctl-exec-user-'));
  chmodSync(botDir, 0o755);
  bot = join(botDir, 'hostile.mjs');
  writeFileSync(bot, HOSTILE, { mode: 0o644 });
}, 60_000);
afterAll(async () => {
  if (botDir) rmSync(botDir, { recursive: true, force: true });
  await w?.close();
});

describe.runIf(rootOnLinux)('keyctl exec --user nobody: a hostile bot gets its key and nothing else', () => {
  const modes: Array<[string, string[], boolean]> = [
    ['env mode, master key in the environment', [], false],
    ['--fd 3, master key in a file', ['--fd', '3'], true],
    ['--restart-on-rotate, master key in a file', ['--restart-on-rotate'], true],
  ];
  for (const [mode, flags, fromFile] of modes) {
    it(mode, async () => {
      expect(statSync(join(w.dir, 'store')).mode & 0o077).toBe(0);
      const { KEYCTL_MASTER_KEY, ...rest } = w.env;
      const env = fromFile ? { ...rest, KEYCTL_MASTER_KEY_FILE: keyFile } : { ...rest, KEYCTL_MASTER_KEY };
      const running = keyctl(['--user', 'nobody', ...flags, '--', process.execPath, bot], env);
      const r = await running.done;
      expect(r.code, r.stderr).toBe(0);
      const report = events(r.stdout).find((e) => e.event === 'start') as Record<string, unknown> & {
        ancestors: Array<{ pid: number; environ: string; mem: string }>;
      };
      expect(report, r.stdout + r.stderr).toBeDefined();
      // It got its key...
      expect(report.source).toBe(flags.includes('--fd') ? 'fd' : 'env');
      expect(report.fingerprint).toBe(fingerprint(w.botKeys.arb1!.apiKey));
      expect(report.apiKeyHash).toBe(createHash('sha256').update(w.botKeys.arb1!.apiKey).digest('hex'));
      // ...as nobody, in nobody's group only (no root supplementary group), with nobody's HOME, USER, LOGNAME.
      expect(report.uid).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
      expect((report.gid as number[]).every((g) => g !== 0)).toBe(true);
      expect(report.groups).toEqual([]);
      expect([report.user, report.logname]).toEqual(['nobody', 'nobody']);
      expect(report.home).toBe('/nonexistent');
      expect(report.masterKeyInEnv).toEqual([]);
      // keyctl is among the ancestors, and no ancestor's environ or memory was readable.
      expect(report.ancestors.map((a) => a.pid)).toContain(running.child.pid);
      for (const a of report.ancestors) expect(a, `ancestor ${a.pid}`).toMatchObject({ environ: 'EACCES', mem: 'EACCES' });
      // The store directory, its keyring and the master key file are closed to it.
      expect([report.storeDir, report.keyring, report.keyFile]).toEqual(['EACCES', 'EACCES', 'EACCES']);
    });
  }

  it('control: the same bot without --user (same uid as keyctl) reads all of it, so the probes above do detect access', async () => {
    const { KEYCTL_MASTER_KEY: _key, ...rest } = w.env;
    const r = await keyctl(['--', process.execPath, bot], { ...rest, KEYCTL_MASTER_KEY_FILE: keyFile }).done;
    expect(r.code, r.stderr).toBe(0);
    const report = events(r.stdout).find((e) => e.event === 'start') as Record<string, unknown> & {
      ancestors: Array<{ environ: string }>;
    };
    expect(report.uid).toEqual([0, 0, 0, 0]);
    expect(report.ancestors.map((a) => a.environ)).toContain('READ');
    expect([report.storeDir, report.keyring, report.keyFile]).toEqual(['READ', 'READ', 'READ']);
  });

  it('an unknown user, root by name, uid 0, or a group of root: exit 2 with a code and a hint, and the bot never starts', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--user', 'no-such-user-keyctl'], /UNKNOWN_USER|no such user/],
      [['--user', 'root'], /root \(uid 0\)/],
      [['--user', '0'], /root \(uid 0\)/],
      [['--user', 'nobody', '--group', 'root'], /root's group \(gid 0\)/],
      [['--user', 'nobody', '--group', 'no-such-group-keyctl'], /no such group/],
    ];
    for (const [flags, message] of cases) {
      const r = await keyctl([...flags, '--', process.execPath, bot], w.env).done;
      expect(r.code, flags.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/hint: /);
      expect(events(r.stdout)).toEqual([]);
    }
  });

  it.runIf(spawnSync('setpriv', ['--version']).status === 0)(
    'a keyctl without CAP_SETUID/CAP_SETGID (root with them dropped) is refused with exit 2 and the fix',
    async () => {
      const {
        code,
        stdout: out,
        stderr: err,
      } = await runProcess(
        'setpriv',
        [
          '--bounding-set=-setuid,-setgid',
          '--inh-caps=-setuid,-setgid',
          process.execPath,
          BIN,
          '--config',
          join(w.dir, 'keyctl.yaml'),
          'exec',
          'alpha/arb1',
          '--user',
          'nobody',
          '--',
          process.execPath,
          bot,
        ],
        {
          cwd: w.dir,
          env: { HOME: process.env.HOME, KEYCTL_ACTOR: 'test-runner', ...w.env },
        },
      );
      expect(code, err).toBe(2);
      expect(err).toMatch(/cannot start a process as nobody/);
      expect(err).toMatch(/CAP_SETUID and CAP_SETGID \(systemd: AmbientCapabilities=/);
      expect(events(out)).toEqual([]);
    },
  );
});

describe('resolving --user and the privilege to switch', () => {
  it('reads passwd and group files; refuses a user whose primary group is root unless --group says another', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyctl-passwd-'));
    try {
      writeFileSync(join(dir, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nbot:x:1500:0:bot:/srv/bot:/bin/false\n');
      writeFileSync(join(dir, 'group'), 'root:x:0:\nbots:x:1600:\n');
      const files = { passwd: join(dir, 'passwd'), group: join(dir, 'group') };
      expect(() => resolveRunAs('bot', undefined, files)).toThrow(expect.objectContaining({ code: 'GROUP_IS_ROOT', exitCode: 2 }));
      expect(resolveRunAs('1500', 'bots', files)).toEqual({ name: 'bot', uid: 1500, gid: 1600, home: '/srv/bot' });
      expect(() => resolveRunAs('0', undefined, files)).toThrow(expect.objectContaining({ code: 'USER_IS_ROOT' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs both CAP_SETUID and CAP_SETGID in the effective set', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyctl-caps-'));
    try {
      const status = (eff: string) => {
        writeFileSync(join(dir, 'status'), `Name:\tnode\nCapEff:\t${eff}\n`);
        return canSwitchUser(join(dir, 'status'));
      };
      expect(status('00000000000000c0')).toBe(true);
      expect(status('0000000000000080')).toBe(false); // CAP_SETUID only
      expect(status('0000000000000000')).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
