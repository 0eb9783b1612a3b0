/**
 * `keyctl exec --preset` / `--env NAME=field` end to end (the built CLI): the bot gets the key under its framework's
 * names and not under KEYCTL_API_KEY/KEYCTL_SECRET, a stale value inherited under a mapped name is dropped, the
 * mapped values are masked in the bot's output, and a bad mapping starts no bot (exit 2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { makeWorld, type World } from '../helpers/world.js';
import { secretForms } from '../helpers/scan.js';
import { startKeyctl } from './delivery-helpers.js';

let w: World;
let cfg: string;
const keyctl = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  startKeyctl(['--config', cfg, ...args], { env: { ...w.env, ...env }, cwd: w.dir });
// A stand-in framework: reports which variables it got and whether they hold the key, then prints the secret it read
// (a careless bot: exec must mask it).
const BOT = [
  process.execPath,
  '-e',
  `const e = process.env;
   const names = Object.keys(e).filter((k) => /^(FREQTRADE__|KEYCTL_(API_KEY|SECRET|PASSWORD|FINGERPRINT|ROTATES_AT|REF|FD)$|BYBIT_|BOT_)/.test(k)).sort();
   const key = e[e.KEY_VAR], secret = e[e.SECRET_VAR];
   console.log(JSON.stringify({ names, keyOk: key === e.EXPECT_KEY, secretOk: secret === e.EXPECT_SECRET, ref: e.REF_VAR ? e[e.REF_VAR] : null }));
   console.log('secret=' + secret);`,
];

beforeAll(async () => {
  w = await makeWorld();
  cfg = join(w.dir, 'keyctl.yaml');
});
afterAll(async () => w?.close());

const run = async (flags: string[], vars: { KEY_VAR: string; SECRET_VAR: string; REF_VAR?: string }, env: NodeJS.ProcessEnv = {}) => {
  const key = w.botKeys.arb1!;
  const r = await keyctl(['exec', 'alpha/arb1', ...flags, '--', ...BOT], {
    ...vars,
    EXPECT_KEY: key.apiKey,
    EXPECT_SECRET: key.secret,
    ...env,
  }).done;
  const report = JSON.parse(r.stdout.split('\n')[0]!) as { names: string[]; keyOk: boolean; secretOk: boolean; ref: string | null };
  return { ...r, report, secret: key.secret };
};

describe('keyctl exec --preset / --env', () => {
  it("--preset freqtrade: Freqtrade's variables hold the key; no KEYCTL_API_KEY/SECRET; a stale outer value is dropped; output masked", async () => {
    const r = await run(
      ['--preset', 'freqtrade'],
      { KEY_VAR: 'FREQTRADE__EXCHANGE__KEY', SECRET_VAR: 'FREQTRADE__EXCHANGE__SECRET' },
      // As if keyctl itself ran under an outer exec for a key with a passphrase: this key has none.
      { FREQTRADE__EXCHANGE__PASSWORD: 'stale-outer-passphrase' },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({ keyOk: true, secretOk: true });
    expect(r.report.names).toEqual([
      'FREQTRADE__EXCHANGE__KEY',
      'FREQTRADE__EXCHANGE__SECRET',
      'KEYCTL_FINGERPRINT',
      'KEYCTL_REF',
      'KEYCTL_ROTATES_AT',
    ]);
    expect(r.stdout).toContain('secret=[REDACTED]\n');
    for (const form of secretForms(r.secret)) expect(r.stdout + r.stderr).not.toContain(form);
  });

  it("--preset ccxt: ccxt's <EXCHANGE>_APIKEY / _SECRET for the slot's exchange (bybit)", async () => {
    const r = await run(['--preset', 'ccxt'], { KEY_VAR: 'BYBIT_APIKEY', SECRET_VAR: 'BYBIT_SECRET' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({ keyOk: true, secretOk: true });
    expect(r.report.names).toEqual(['BYBIT_APIKEY', 'BYBIT_SECRET', 'KEYCTL_FINGERPRINT', 'KEYCTL_REF', 'KEYCTL_ROTATES_AT']);
    expect(r.stdout).toContain('secret=[REDACTED]\n');
  });

  it('--env, repeated, with --env-prefix: each NAME gets its field; the audit entry names the variables, never a value', async () => {
    const r = await run(['--env', 'BOT_K=apiKey', '--env=BOT_S=secret', '--env', 'BOT_WHO=ref', '--env-prefix', 'BOT_'], {
      KEY_VAR: 'BOT_K',
      SECRET_VAR: 'BOT_S',
      REF_VAR: 'BOT_WHO',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.report).toMatchObject({ keyOk: true, secretOk: true, ref: 'alpha/arb1' });
    expect(r.report.names).toEqual(['BOT_FINGERPRINT', 'BOT_K', 'BOT_REF', 'BOT_ROTATES_AT', 'BOT_S', 'BOT_WHO']);
    expect(r.stdout).toContain('secret=[REDACTED]\n');
    const tail = await keyctl(['audit', 'tail', '--json']).done;
    const entries = (JSON.parse(tail.stdout) as { entries: Array<{ command: string; detail?: Record<string, unknown> }> }).entries;
    expect(entries.filter((e) => e.command === 'exec').at(-1)?.detail).toMatchObject({ envNames: 'BOT_K,BOT_S,BOT_WHO' });
    expect(tail.stdout).not.toContain(r.secret);
  });

  it('a bad mapping, an unknown preset, or --env with --fd: exit 2, and the bot never starts', async () => {
    const cases: Array<[string[], string]> = [
      [['--env', 'BOT_K=apikey'], 'INVALID_ENV_MAPPING'],
      [['--env', 'KEYCTL_MASTER_KEY=secret'], 'INVALID_ENV_MAPPING'],
      [['--preset', 'jesse'], 'INVALID_PRESET'],
      [['--preset', 'hummingbot'], 'INVALID_PRESET'],
      [['--preset', 'freqtrade', '--fd', '3'], 'CONFLICTING_OPTIONS'],
    ];
    for (const [flags, code] of cases) {
      const r = await keyctl(['--json', 'exec', 'alpha/arb1', ...flags, '--', process.execPath, '-e', 'console.log("STARTED")']).done;
      expect(r.code, `${flags.join(' ')}: ${r.stderr}`).toBe(2);
      expect(r.stdout).not.toContain('STARTED');
      expect(`${r.stdout}${r.stderr}`).toContain(code);
    }
  });
});

describe('keyctl exec --preset with a key that has a passphrase (OKX)', () => {
  let okx: World;
  beforeAll(async () => {
    okx = await makeWorld({ exchange: 'okx' });
  });
  afterAll(async () => okx?.close());

  const runOkx = async (flags: string[], vars: Record<string, string>) => {
    const key = okx.botKeys.arb1!;
    expect(key.passphrase).toBeTruthy();
    const script = `const e = process.env;
      const names = Object.keys(e).filter((k) => /^(FREQTRADE__|OKX_|KEYCTL_(API_KEY|SECRET|PASSWORD)$)/.test(k)).sort();
      console.log(JSON.stringify({ names, ok: e[e.KEY_VAR] === e.EXPECT_KEY && e[e.SECRET_VAR] === e.EXPECT_SECRET && e[e.PASS_VAR] === e.EXPECT_PASS }));
      console.log('pass=' + e[e.PASS_VAR]);`;
    const r = await startKeyctl(
      ['--config', join(okx.dir, 'keyctl.yaml'), 'exec', 'alpha/arb1', ...flags, '--', process.execPath, '-e', script],
      {
        env: { ...okx.env, ...vars, EXPECT_KEY: key.apiKey, EXPECT_SECRET: key.secret, EXPECT_PASS: key.passphrase },
        cwd: okx.dir,
      },
    ).done;
    expect(r.code, r.stderr).toBe(0);
    for (const form of secretForms(key.passphrase!)) expect(r.stdout + r.stderr).not.toContain(form);
    expect(r.stdout).toContain('pass=[REDACTED]\n');
    return JSON.parse(r.stdout.split('\n')[0]!) as { names: string[]; ok: boolean };
  };

  it("--preset freqtrade gives Freqtrade's three variables, the passphrase masked", async () => {
    const out = await runOkx(['--preset', 'freqtrade'], {
      KEY_VAR: 'FREQTRADE__EXCHANGE__KEY',
      SECRET_VAR: 'FREQTRADE__EXCHANGE__SECRET',
      PASS_VAR: 'FREQTRADE__EXCHANGE__PASSWORD',
    });
    expect(out).toEqual({ names: ['FREQTRADE__EXCHANGE__KEY', 'FREQTRADE__EXCHANGE__PASSWORD', 'FREQTRADE__EXCHANGE__SECRET'], ok: true });
  });

  it('--preset ccxt gives OKX_APIKEY, OKX_SECRET and OKX_PASSWORD', async () => {
    const out = await runOkx(['--preset', 'ccxt'], { KEY_VAR: 'OKX_APIKEY', SECRET_VAR: 'OKX_SECRET', PASS_VAR: 'OKX_PASSWORD' });
    expect(out).toEqual({ names: ['OKX_APIKEY', 'OKX_PASSWORD', 'OKX_SECRET'], ok: true });
  });
});
