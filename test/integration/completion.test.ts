/**
 * `keyctl completion`: scripts generated from the command table, checked by each shell's parser and, where the shell
 * is installed, by completing real command lines against a temp config through a `keyctl` shim running the built dist.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completionScript, SHELLS, type Shell } from '../../src/cli/completion/index.js';
import { main } from '../../src/cli/main.js';
import { specs } from '../../src/cli/specs/index.js';
import type { CommandSpec } from '../../src/cli/types.js';
import { assertBuilt, BIN } from '../helpers/cli.js';
import { captureIo } from '../helpers/io.js';

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const HAS_ZSH = has('zsh');
const HAS_FISH = has('fish');
const HAS_PYTHON = has('python3');
const LOAD_HOOK = fileURLToPath(new URL('../fixtures/delivery/record-loads.mjs', import.meta.url));

const CONFIG = `store: { provider: local, path: ./store }
accounts:
  bybit-main: { exchange: bybit }
  okx-main: { exchange: okx }
bots:
  alpha:
    subaccounts:
      arb1: { account: bybit-main, uid: "100001", scopes: [read, spot:trade], ips: [203.0.113.7], custodians: [alice] }
      grid: { account: bybit-main, uid: "100002", scopes: [read, spot:trade], ips: [203.0.113.7] }
  beta:
    subaccounts:
      mm: { account: okx-main, uid: "200001", scopes: [read, spot:trade], ips: [203.0.113.7] }
staff: [alice, bob]
`;

/** A command the real table does not have: the scripts must complete it without anyone editing them. */
const WIDGET: CommandSpec = {
  name: 'widget frob',
  summary: 'frob a widget',
  args: ['<bot>', '[refs...]'],
  options: [
    ['--sprocket <file>', 'a file'],
    ['--loud', 'be loud'],
    ['-w, --width <n>', 'how wide'],
  ],
  exits: { 0: 'frobbed' },
  load: () => Promise.reject(new Error('never run')),
};

let dir: string; // has keyctl.yaml: completions run here
let bare: string; // has no config
let env: NodeJS.ProcessEnv;
const scripts = {} as Record<Shell, string>;

beforeAll(() => {
  assertBuilt();
  dir = mkdtempSync(join(tmpdir(), 'keyctl-completion-'));
  bare = join(dir, 'bare');
  mkdirSync(bare);
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'keyctl.yaml'), CONFIG);
  // The installed command is `keyctl`; the scripts call it by that name.
  writeFileSync(join(dir, 'bin', 'keyctl'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} "$@"\n`);
  chmodSync(join(dir, 'bin', 'keyctl'), 0o755);
  env = { PATH: `${join(dir, 'bin')}:${process.env.PATH}`, HOME: dir, TERM: 'dumb' };
  const probe = spawnSync('keyctl', ['completion', '--refs', 'bot'], { cwd: dir, env, encoding: 'utf8' });
  if (probe.stdout !== 'alpha\nbeta\n')
    throw new Error(`dist has no working \`keyctl completion\` (${probe.stderr.trim()}): run npm run build.`);
  for (const shell of SHELLS) {
    scripts[shell] = completionScript(shell, specs);
    writeFileSync(join(dir, `keyctl.${shell}`), scripts[shell]);
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function keyctl(args: string[], cwd = dir, extraEnv: NodeJS.ProcessEnv = {}) {
  const t = captureIo({ cwd, env: extraEnv });
  const code = await main(args, t.io);
  return { code, stdout: t.stdout(), stderr: t.stderr() };
}

/** COMP_WORDS as bash builds them: split at whitespace and around COMP_WORDBREAKS characters (@ = : ...). */
function compWords(line: string): string[] {
  const words = line
    .split(/\s+/)
    .flatMap((w) => w.split(/([@><=;|&(:]+)/))
    .filter((w) => w !== '');
  if (line === '' || /\s$/.test(line)) words.push('');
  return words;
}

const BASH_HARNESS = `source "$1"; COMP_LINE=$2; COMP_POINT=\${#COMP_LINE}; shift 2
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
_keyctl
(( \${#COMPREPLY[@]} )) && printf '%s\\n' "\${COMPREPLY[@]}"
exit 0`;

/** What bash's completion function puts in COMPREPLY for `line` (cursor at its end). */
function bashComplete(line: string, opts: { script?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {}): string[] {
  const file = opts.script ?? join(dir, 'keyctl.bash');
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', BASH_HARNESS, 'bash', file, line, ...compWords(line)], {
    cwd: opts.cwd ?? dir,
    env: { ...env, ...opts.env },
    encoding: 'utf8',
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

/** What fish offers for `line` (its real completion engine, via complete -C). */
function fishComplete(line: string, opts: { script?: string; cwd?: string } = {}): string[] {
  const r = spawnSync(
    'fish',
    ['--no-config', '-c', 'source $argv[1]; complete -C $argv[2]', opts.script ?? join(dir, 'keyctl.fish'), line],
    {
      cwd: opts.cwd ?? dir,
      env,
      encoding: 'utf8',
    },
  );
  expect(r.stderr).toBe('');
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('\t')[0]!);
}

/**
 * Types `typed` (with its Tabs) into an interactive shell on a pseudo-terminal, then runs `echo` on the resulting
 * line: the real line editor (readline, zle) applies the completion, word breaks and all.
 */
const PTY = String.raw`
import json, os, pty, re, select, signal, sys, time
cfg = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.chdir(cfg['cwd'])
    os.execvpe(cfg['argv'][0], cfg['argv'], cfg['env'])
buf = b''
def read_until(pattern, timeout):
    global buf
    end = time.time() + timeout
    while time.time() < end:
        if re.search(pattern, buf):
            break
        if select.select([fd], [], [], 0.1)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return re.search(pattern, buf)
line = None
try:
    for setup in cfg['setup']:
        os.write(fd, setup.encode() + b'\n')
    os.write(fd, b'echo READY$((1+1))\n')
    if read_until(rb'READY2', 20):
        buf = b''
        # Ctrl-A, then echo the line: the marker's arithmetic tells the command's output from the echoed input.
        os.write(fd, cfg['typed'].encode() + b'\x01echo @@$((6*7))@@ \n')
        m = read_until(rb'@@42@@ ([^\r\n]*)\r?\n', 30)
        line = m.group(1).decode() if m else None
finally:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
print(json.dumps({'line': line, 'output': buf.decode(errors='replace')[-1500:]}))
`;

function ptyLine(shell: 'bash' | 'zsh', typed: string): string {
  const setup =
    shell === 'bash'
      ? [`source ${join(dir, 'keyctl.bash')}`]
      : [
          `bindkey -e`,
          `mkdir -p ${join(dir, 'zfunc')} && cp ${join(dir, 'keyctl.zsh')} ${join(dir, 'zfunc', '_keyctl')}`,
          `fpath=(${join(dir, 'zfunc')} $fpath)`,
          `autoload -U compinit && compinit -u -d ${join(dir, 'zcompdump')}`,
        ];
  const argv = shell === 'bash' ? ['bash', '--norc', '--noprofile', '-i'] : ['zsh', '-f', '-i'];
  const cfg = { cwd: dir, argv, env: { ...env, PS1: '$ ' }, setup, typed };
  const r = spawnSync('python3', ['-c', PTY, JSON.stringify(cfg)], { encoding: 'utf8', timeout: 60_000 });
  const result = JSON.parse(r.stdout) as { line: string | null; output: string };
  if (result.line === null) throw new Error(`${shell} never echoed the line; its output:\n${result.output}`);
  return result.line;
}

describe('keyctl completion: the command', () => {
  it('is in the command table and needs no config', () => {
    const spec = specs.find((s) => s.name === 'completion');
    expect(spec).toMatchObject({ noConfig: true, args: ['[shell]'] });
  });

  it.each(SHELLS)('prints the %s script (exit 0) and, with --json, {shell, script}', async (shell) => {
    const human = await keyctl(['completion', shell], join(dir, 'bare'));
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(human.stdout).toBe(scripts[shell]);
    const json = await keyctl(['completion', shell, '--json'], join(dir, 'bare'));
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ shell, script: scripts[shell] });
  });

  it('refuses an unknown shell with exit 2 and a hint naming bash, zsh and fish', async () => {
    const r = await keyctl(['completion', 'tcsh']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/No completion script for "tcsh"/);
    expect(r.stderr).toMatch(/hint: Use bash, zsh or fish/);
    const json = await keyctl(['completion', 'powershell', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: { code: 'UNKNOWN_SHELL', exitCode: 2, hint: expect.stringContaining('bash, zsh or fish') },
    });
  });

  it('asks for a shell when none is given, and refuses a shell together with --refs (exit 2)', async () => {
    const none = await keyctl(['completion']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/Name the shell[\s\S]*hint: Use bash, zsh or fish/);
    const both = await keyctl(['completion', 'bash', '--refs', 'slot']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/not both/);
  });

  it("its help says how to install each shell's script", async () => {
    const r = await keyctl(['completion', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('keyctl completion bash > ~/.local/share/bash-completion/completions/keyctl');
    expect(r.stdout).toContain('keyctl completion zsh > "${fpath[1]}/_keyctl"');
    expect(r.stdout).toContain('keyctl completion fish > ~/.config/fish/completions/keyctl.fish');
  });
});

describe('keyctl completion --refs', () => {
  it.each([
    ['slot', ['alpha/arb1', 'alpha/grid', 'beta/mm']],
    ['account', ['@bybit-main', '@okx-main']],
    ['ref', ['alpha/arb1', 'alpha/grid', 'beta/mm', '@bybit-main', '@okx-main']],
    ['bot', ['alpha', 'beta']],
    ['staff', ['alice', 'bob']],
  ])("prints the config's %s candidates, one per line", async (kind, expected) => {
    const r = await keyctl(['completion', '--refs', kind]);
    expect(r).toEqual({ code: 0, stdout: `${expected.join('\n')}\n`, stderr: '' });
    const json = await keyctl(['completion', '--refs', kind, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ kind, candidates: expected });
  });

  it('reads the config named by --config, else KEYCTL_CONFIG', async () => {
    const file = join(dir, 'keyctl.yaml');
    expect((await keyctl(['completion', '--refs', 'bot', '--config', file], bare)).stdout).toBe('alpha\nbeta\n');
    expect((await keyctl(['completion', '--refs', 'bot'], bare, { KEYCTL_CONFIG: file })).stdout).toBe('alpha\nbeta\n');
  });

  it('prints nothing and exits 0 when there is no config or it is invalid', async () => {
    expect(await keyctl(['completion', '--refs', 'slot'], bare)).toEqual({ code: 0, stdout: '', stderr: '' });
    writeFileSync(join(bare, 'broken.yaml'), 'bots: [\n');
    expect(await keyctl(['completion', '--refs', 'slot', '--config', 'broken.yaml'], bare)).toEqual({ code: 0, stdout: '', stderr: '' });
    writeFileSync(join(bare, 'invalid.yaml'), 'bots: { alpha: { subaccounts: { arb1: { account: nowhere } } } }\n');
    expect(await keyctl(['completion', '--refs', 'slot', '--config', 'invalid.yaml'], bare)).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('refuses an unknown kind with exit 2, listing the kinds', async () => {
    const r = await keyctl(['completion', '--refs', 'widgets']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hint: Use one of: slot, account, ref, bot, staff.');
  });

  it('loads only the config: no store provider, no ccxt, no AWS SDK, no Vault client', () => {
    const out = join(dir, 'loads.txt');
    writeFileSync(out, '');
    const r = spawnSync(process.execPath, ['--import', LOAD_HOOK, BIN, 'completion', '--refs', 'slot'], {
      cwd: dir,
      env: { ...env, LOADS_OUT: out },
      encoding: 'utf8',
    });
    expect(r.stdout).toBe('alpha/arb1\nalpha/grid\nbeta/mm\n');
    const loaded = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    expect(loaded.some((u) => u.includes('/config/load.js'))).toBe(true); // the recorder works
    expect(loaded.filter((u) => /node_modules\/(ccxt|@aws-sdk|node-vault)\/|\/providers\/|\/rotation\//.test(u))).toEqual([]);
  });
});

describe('keyctl completion: generated from the command table', () => {
  /** How each shell's script spells a flag. */
  const spelled = (shell: Shell, flag: string) =>
    shell !== 'fish' ? flag : flag.startsWith('--') ? `-l ${flag.slice(2)}` : `-s ${flag.slice(1)}`;
  const flagsOf = (spec: CommandSpec) => [
    ...(spec.options ?? []).flatMap(([f]) => f.split(/[\s,]+/).filter((w) => w.startsWith('-'))),
    '--json',
    '--config',
    '--help',
  ];

  it.each(SHELLS)('the %s script names every command, sub-command and option flag of the table', (shell) => {
    const script = scripts[shell];
    expect(specs.length).toBeGreaterThan(15);
    for (const spec of specs) {
      // Each command has its own entry (a case label) holding its flags.
      expect(script, spec.name).toContain(`'${spec.name}'`);
      for (const flag of flagsOf(spec)) expect(script, `${spec.name} ${flag}`).toContain(spelled(shell, flag));
    }
  });

  it.each(SHELLS)('a command added to the table appears in the %s script with its flags', (shell) => {
    const script = completionScript(shell, [...specs, WIDGET]);
    expect(scripts[shell]).not.toContain('sprocket');
    expect(script).toContain(`'widget frob'`);
    for (const flag of ['--sprocket', '--loud', '-w', '--width']) expect(script).toContain(spelled(shell, flag));
  });

  it('bash completes a command added to the table: its group, sub-command, flags and arguments', () => {
    const file = join(dir, 'widget.bash');
    writeFileSync(file, completionScript('bash', [...specs, WIDGET]));
    expect(bashComplete('keyctl wid', { script: file })).toEqual(['widget']);
    expect(bashComplete('keyctl widget ', { script: file })).toEqual(['frob']);
    expect(bashComplete('keyctl widget frob --', { script: file })).toEqual([
      '--sprocket',
      '--loud',
      '--width',
      '--json',
      '--config',
      '--help',
    ]);
    expect(bashComplete('keyctl widget frob ', { script: file })).toEqual(['alpha', 'beta']); // <bot>
    expect(bashComplete('keyctl widget frob alpha -w 3 ', { script: file })).toEqual(['alpha/arb1', 'alpha/grid', 'beta/mm']); // [refs...]
    expect(bashComplete('keyctl widget frob alpha beta/mm ', { script: file })).toEqual(['alpha/arb1', 'alpha/grid', 'beta/mm']);
  });

  it.skipIf(!HAS_FISH)('fish completes a command added to the table (skipped when fish is not installed)', () => {
    const file = join(dir, 'widget.fish');
    writeFileSync(file, completionScript('fish', [...specs, WIDGET]));
    expect(fishComplete('keyctl widget ', { script: file })).toEqual(['frob']);
    expect(fishComplete('keyctl widget frob --', { script: file }).sort()).toEqual([
      '--config',
      '--help',
      '--json',
      '--loud',
      '--sprocket',
      '--width',
    ]);
    expect(fishComplete('keyctl widget frob ', { script: file })).toEqual(['alpha', 'beta']);
  });
});

describe('keyctl completion: the scripts parse', () => {
  it('bash -n accepts the bash script', () => {
    const r = spawnSync('bash', ['-n', join(dir, 'keyctl.bash')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.skipIf(!HAS_ZSH)('zsh -n accepts the zsh script (skipped when zsh is not installed)', () => {
    const r = spawnSync('zsh', ['-n', join(dir, 'keyctl.zsh')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it.skipIf(!HAS_FISH)('fish --no-execute accepts the fish script (skipped when fish is not installed)', () => {
    const r = spawnSync('fish', ['--no-execute', join(dir, 'keyctl.fish')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the parsers would notice a broken script (the checks above can fail)', () => {
    const broken = join(dir, 'broken.sh');
    writeFileSync(broken, scripts.bash.replace('esac', ''));
    expect(spawnSync('bash', ['-n', broken]).status).not.toBe(0);
  });
});

describe('keyctl completion: bash completes', () => {
  it('commands, sub-commands and flags', () => {
    expect(bashComplete('keyctl ')).toEqual([...new Set(specs.map((s) => s.name.split(' ')[0]))]);
    expect(bashComplete('keyctl key i')).toEqual(['import']);
    expect(bashComplete('keyctl audit ')).toEqual(['verify', 'ack', 'tail']);
    expect(bashComplete('keyctl vault a')).toEqual(['approle']);
    expect(bashComplete('keyctl rotate --')).toEqual(['--due', '--force', '--grace', '--json', '--config', '--help']);
    expect(bashComplete('keyctl audit tail -')).toEqual(['-n', '--lines', '--json', '--config', '-h', '--help']);
  });

  it('slot refs from the config: keyctl rotate al<Tab> offers alpha/arb1 and alpha/grid', () => {
    expect(bashComplete('keyctl rotate al')).toEqual(['alpha/arb1', 'alpha/grid']);
    expect(bashComplete('keyctl rotate alpha/arb1 b')).toEqual(['beta/mm']); // [refs...] repeats
    expect(bashComplete('keyctl exec ')).toEqual(['alpha/arb1', 'alpha/grid', 'beta/mm']);
    expect(bashComplete('keyctl --json key import alpha/g')).toEqual(['alpha/grid']);
  });

  it('account refs once the word starts with @ (bash splits at @; readline replaces from it)', () => {
    expect(bashComplete('keyctl verify @')).toEqual(['@bybit-main', '@okx-main']);
    expect(bashComplete('keyctl verify @b')).toEqual(['@bybit-main']);
    expect(bashComplete('keyctl verify alpha/arb1 @o')).toEqual(['@okx-main']);
  });

  it('bot names for kill, aws policy, vault policy and approle; staff for offboard; shells for completion', () => {
    for (const line of ['keyctl kill ', 'keyctl aws policy ', 'keyctl vault policy ', 'keyctl vault approle --bind-ips ']) {
      expect(bashComplete(line), line).toEqual(['alpha', 'beta']);
    }
    expect(bashComplete('keyctl offboard ')).toEqual(['alice', 'bob']);
    expect(bashComplete('keyctl completion ')).toEqual(['bash', 'zsh', 'fish']);
  });

  it('nothing for a flag value, an argument past the last, or an unknown command', () => {
    expect(bashComplete('keyctl rotate --grace ')).toEqual([]);
    expect(bashComplete('keyctl revoke --reason ')).toEqual([]);
    expect(bashComplete('keyctl revoke alpha/arb1 ')).toEqual(['--reason', '--json', '--config', '-h', '--help']);
    expect(bashComplete('keyctl frobnicate ')).toEqual([]);
  });

  it('reads the config typed with --config (either spelling) or set in KEYCTL_CONFIG; nothing without one', () => {
    const file = join(dir, 'keyctl.yaml');
    expect(bashComplete('keyctl kill ', { cwd: bare })).toEqual([]);
    expect(bashComplete(`keyctl --config ${file} kill `, { cwd: bare })).toEqual(['alpha', 'beta']);
    expect(bashComplete(`keyctl kill --config=${file} `, { cwd: bare })).toEqual(['alpha', 'beta']);
    expect(bashComplete('keyctl kill --config ../keyctl.yaml ', { cwd: bare })).toEqual(['alpha', 'beta']);
    expect(bashComplete('keyctl kill --config ~/keyctl.yaml ', { cwd: bare })).toEqual(['alpha', 'beta']); // HOME is dir
    expect(bashComplete('keyctl kill ', { cwd: bare, env: { KEYCTL_CONFIG: file } })).toEqual(['alpha', 'beta']);
  });

  it.skipIf(!HAS_PYTHON)(
    'in an interactive bash, Tab rewrites the line (skipped when python3, which drives the terminal, is not installed)',
    () => {
      expect(ptyLine('bash', 'keyctl rotate alpha/a\t')).toBe('keyctl rotate alpha/arb1');
      expect(ptyLine('bash', 'keyctl verify @b\t')).toBe('keyctl verify @bybit-main');
      expect(ptyLine('bash', 'keyctl --config=keyctl.yaml offb\tb\t')).toBe('keyctl --config=keyctl.yaml offboard bob');
    },
  );
});

describe('keyctl completion: fish completes', () => {
  it.skipIf(!HAS_FISH)('commands, flags, refs, bots and staff (skipped when fish is not installed)', () => {
    expect(fishComplete('keyctl key ')).toEqual(['import', 'list']);
    expect(fishComplete('keyctl rotate --g')).toEqual(['--grace']);
    expect(fishComplete('keyctl rotate al')).toEqual(['alpha/arb1', 'alpha/grid']);
    expect(fishComplete('keyctl verify @')).toEqual(['@bybit-main', '@okx-main']);
    expect(fishComplete('keyctl kill ')).toEqual(['alpha', 'beta']);
    expect(fishComplete('keyctl offboard ')).toEqual(['alice', 'bob']);
    expect(fishComplete('keyctl rotate --grace ')).toEqual([]);
    expect(fishComplete(`keyctl --config ${join(dir, 'keyctl.yaml')} kill `, { cwd: bare })).toEqual(['alpha', 'beta']);
    expect(fishComplete('keyctl kill ', { cwd: bare })).toEqual([]);
  });
});

describe('keyctl completion: zsh completes', () => {
  it.skipIf(!HAS_ZSH || !HAS_PYTHON)(
    'installed in $fpath, with compinit, Tab rewrites the line (skipped when zsh or python3 is not installed)',
    () => {
      expect(ptyLine('zsh', 'keyctl rotate alpha/a\t')).toBe('keyctl rotate alpha/arb1');
      expect(ptyLine('zsh', 'keyctl verify @b\t')).toBe('keyctl verify @bybit-main');
      expect(ptyLine('zsh', 'keyctl vault ap\t')).toBe('keyctl vault approle');
      expect(ptyLine('zsh', 'keyctl offboard --reason x b\t')).toBe('keyctl offboard --reason x bob');
      expect(ptyLine('zsh', `keyctl --config=${join(dir, 'keyctl.yaml')} kil\tb\t`)).toBe(
        `keyctl --config=${join(dir, 'keyctl.yaml')} kill beta`,
      );
    },
  );
});
