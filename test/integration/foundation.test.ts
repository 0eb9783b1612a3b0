/**
 * The foundation end to end, through the real CLI binary: init, import, list, status, audit; and the proof that a
 * canary secret appears nowhere in plain text: not in any file under the store or beside it, not in any output.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { SeededKey } from '../../src/sandbox/admin-client.js';
import { filesContaining, filesUnder, mode, secretForms } from '../helpers/scan.js';

// The canaries are the secrets the exchange sandbox issued for the keys imported below.
let CANARY: string;
let CANARY_KEY: string;
let CANARY_MASTER: string;
const IP = '203.0.113.7';
const BOT = { Spot: ['SpotTrade'] };

const config = (url: string, sub1: string, sub2: string) => `
store: { provider: local, path: ./store }
accounts:
  bybit-main: { exchange: bybit, baseUrl: "${url}/bybit", custodians: [alice] }
bots:
  alpha:
    subaccounts:
      arb1:
        account: bybit-main
        uid: "${sub1}"
        scopes: [read, spot:trade]
        ips: [${IP}]
        custodians: [alice]
      arb2:
        account: bybit-main
        uid: "${sub2}"
        scopes: [read, spot:trade]
        ips: [${IP}]
staff: [alice, bob]
`;

describe('foundation through the CLI', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let sandbox: RunningSandbox;
  let master: SeededKey;
  let arb1: SeededKey;
  let arb2Old: SeededKey;
  let arb2New: SeededKey;
  let unsafe: SeededKey;
  const outputs: CliResult[] = [];
  const cli = async (args: string[], opts: { stdin?: string; env?: NodeJS.ProcessEnv } = {}) => {
    const r = await runCli(['--config', join(dir, 'keyctl.yaml'), ...args], {
      env: { ...env, ...opts.env },
      ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
    });
    outputs.push(r);
    return r;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyctl-foundation-'));
    sandbox = await startSandbox({ admin: true, clientIp: IP });
    const { uid } = await sandbox.admin.createAccount('bybit');
    const sub1 = (await sandbox.admin.createSubaccount('bybit', uid)).id;
    const sub2 = (await sandbox.admin.createSubaccount('bybit', uid)).id;
    master = await sandbox.admin.createKey({
      exchange: 'bybit',
      owner: uid,
      master: true,
      permissions: { Wallet: ['AccountTransfer', 'SubMemberTransfer'] },
      ips: [IP],
    });
    arb1 = await sandbox.admin.createKey({ exchange: 'bybit', owner: sub1, permissions: BOT, ips: [IP] });
    arb2Old = await sandbox.admin.createKey({ exchange: 'bybit', owner: sub2, permissions: BOT, ips: [IP] });
    arb2New = await sandbox.admin.createKey({ exchange: 'bybit', owner: sub2, permissions: BOT, ips: [IP] });
    unsafe = await sandbox.admin.createKey({
      exchange: 'bybit',
      owner: sub1,
      permissions: { Spot: ['SpotTrade'], Wallet: ['AccountTransfer'] },
    });
    CANARY = arb1.secret;
    CANARY_KEY = arb1.apiKey;
    CANARY_MASTER = master.secret;
    writeFileSync(join(dir, 'keyctl.yaml'), config(sandbox.url, sub1, sub2));
    env = {};
    const init = await cli(['init', '--json']);
    expect(init.code, init.stderr).toBe(0);
    const { masterKey, created } = init.json<{ masterKey: string; created: boolean }>();
    expect(created).toBe(true);
    expect(Buffer.from(masterKey, 'base64')).toHaveLength(32);
    expect(init.stderr).toContain('ONCE');
    env = { KEYCTL_MASTER_KEY: masterKey };
  });
  afterAll(async () => {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates an owner-only store', () => {
    expect(mode(join(dir, 'store'))).toBe(0o700);
    for (const f of filesUnder(join(dir, 'store'))) expect(mode(f), f).toBe(0o600);
  });

  it('a second init changes nothing, and without the master key refuses to invent a new one', async () => {
    const again = await cli(['init', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().created).toBe(false);
    const noKey = await cli(['init'], { env: { KEYCTL_MASTER_KEY: '' } });
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toContain('KEYCTL_MASTER_KEY');
  });

  it('refuses a key that violates the policy at its exchange, unless told to store it flagged', async () => {
    const refused = await cli(['key', 'import', 'alpha/arb1', '--json'], { stdin: JSON.stringify(unsafe) });
    expect(refused.code, refused.stderr).toBe(3);
    expect(refused.json()).toMatchObject({
      stored: false,
      violations: expect.arrayContaining([
        expect.objectContaining({ code: 'TRANSFER_ENABLED' }),
        expect.objectContaining({ code: 'NOT_IP_LOCKED' }),
      ]),
    });
    expect(
      (await cli(['key', 'list', '--json'])).json<{ keys: Array<{ versions: unknown[] }> }>().keys.every((k) => k.versions.length === 0),
    ).toBe(true);
  });

  it('imports keys from stdin only, idempotently, and lists fingerprints, never secrets', async () => {
    const imported0 = await cli(['key', 'import', '@bybit-main', '--json'], { stdin: JSON.stringify(master) });
    expect(imported0.code, imported0.stderr).toBe(0);
    const imported = await cli(['key', 'import', 'alpha/arb1', '--json'], {
      stdin: JSON.stringify({ apiKey: CANARY_KEY, secret: CANARY }),
    });
    expect(imported.code, imported.stderr).toBe(0);
    const fp = createHash('sha256').update(CANARY_KEY).digest('hex').slice(0, 16);
    expect(imported.json()).toMatchObject({ ref: 'alpha/arb1', fingerprint: fp, stage: 'CURRENT', changed: true });

    const again = await cli(['key', 'import', 'alpha/arb1', '--json'], { stdin: JSON.stringify({ apiKey: CANARY_KEY, secret: CANARY }) });
    expect(again.json()).toMatchObject({ fingerprint: fp, changed: false });

    const list = await cli(['key', 'list', '--json']);
    expect(list.code).toBe(0);
    const keys = list.json<{ keys: Array<{ ref: string; versions: Array<{ stages: string[]; fingerprint: string }> }> }>().keys;
    expect(keys.map((k) => k.ref)).toEqual(['@bybit-main', 'alpha/arb1', 'alpha/arb2']);
    expect(keys[1]?.versions).toEqual([expect.objectContaining({ stages: ['CURRENT'], fingerprint: fp })]);
    expect(keys[2]?.versions).toEqual([]);

    const human = await cli(['key', 'list']);
    expect(human.stdout).toContain(fp);
    expect(human.stdout).toMatch(/alpha\/arb2.*no key/);
  });

  it('importing a new key over a CURRENT one keeps the old as PREVIOUS and warns that it is still live', async () => {
    const r = await cli(['key', 'import', 'alpha/arb2', '--json'], { stdin: JSON.stringify(arb2Old) });
    expect(r.code, r.stderr).toBe(0);
    const r2 = await cli(['key', 'import', 'alpha/arb2', '--json'], { stdin: JSON.stringify(arb2New) });
    expect(r2.code).toBe(0);
    expect(r2.stderr).toContain('PREVIOUS');
    const keys = (await cli(['key', 'list', '--json'])).json<{ keys: Array<{ ref: string; versions: Array<{ stages: string[] }> }> }>()
      .keys;
    expect(keys.find((k) => k.ref === 'alpha/arb2')?.versions.map((v) => v.stages)).toEqual([['PREVIOUS'], ['CURRENT']]);
  });

  it('refuses bad input with clear errors and exit codes, storing nothing', async () => {
    const unknown = await cli(['key', 'import', 'beta/x'], { stdin: JSON.stringify({ apiKey: 'FAKE-a', secret: CANARY }) });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('alpha/arb1');
    const notJson = await cli(['key', 'import', 'alpha/arb1'], { stdin: `{"apiKey":"FAKE-a","secret":"${CANARY}"` });
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('not valid JSON');
    const extra = await cli(['key', 'import', 'alpha/arb1', '--json'], {
      stdin: JSON.stringify({ apiKey: 'FAKE-a', secret: CANARY, note: 'x' }),
    });
    expect(extra.code).toBe(2);
    expect(extra.json<{ error: { code: string } }>().error.code).toBe('INVALID_KEY_JSON');
  });

  it('a wrong master key is a clear exit-4 error and changes nothing on disk', async () => {
    const before = snapshot(join(dir, 'store'));
    const wrong = await cli(['key', 'list'], { env: { KEYCTL_MASTER_KEY: Buffer.alloc(32, 9).toString('base64') } });
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/master key/i);
    expect(wrong.stderr).toContain('hint:');
    const missing = await cli(['key', 'list'], { env: { KEYCTL_MASTER_KEY: '' } });
    expect(missing.code).toBe(4);
    expect(snapshot(join(dir, 'store'))).toEqual(before);
  });

  it('status summarizes the store, keys and audit chain', async () => {
    const s = await cli(['status', '--json']);
    expect(s.code, s.stdout + s.stderr).toBe(0);
    expect(s.json()).toMatchObject({
      store: { provider: 'local', ok: true },
      keys: { declared: 3, withCurrent: 3, missing: [] },
      audit: { ok: true },
    });
  });

  it('every action is in the audit trail, which verifies', async () => {
    const tail = await cli(['audit', 'tail', '-n', '50', '--json']);
    expect(tail.code, tail.stderr).toBe(0);
    const entries = tail.json<{ entries: Array<{ command: string; ref?: string; outcome: string; actor: string }> }>().entries;
    expect(entries.map((e) => e.command)).toEqual(expect.arrayContaining(['init', 'key import']));
    expect(entries.filter((e) => e.ref === 'alpha/arb1').map((e) => e.outcome)).toEqual(['refused', 'ok']);
    expect(entries.every((e) => e.actor === 'test-runner')).toBe(true);
    const verify = await cli(['audit', 'verify', '--json']);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.json()).toMatchObject({ ok: true, problems: [] });
  });

  it('config problems are all reported at once with exit 2', async () => {
    writeFileSync(
      join(dir, 'bad.yaml'),
      'store: { provider: local, paht: x }\nbots: { alpha: { subaccounts: { a: { account: nope, uid: "1", scopes: [withdraw], ips: [1.2.3.4] } } } }\n',
    );
    const r = await runCli(['--config', join(dir, 'bad.yaml'), 'key', 'list'], { env });
    outputs.push(r);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('store: unknown field "paht"');
    expect(r.stderr).toContain('bots.alpha.subaccounts.a.scopes.0');
  });

  // Runs last: everything above has written files and printed output.
  it('the canary secret appears nowhere: no file under the work dir, no output', () => {
    for (const secret of [CANARY, CANARY_MASTER]) {
      expect(filesContaining(dir, secret)).toEqual([]);
      for (const r of outputs) for (const form of secretForms(secret)) expect(r.stdout + r.stderr).not.toContain(form);
    }
    // The store is not empty: the canary is in there, encrypted.
    expect(filesUnder(join(dir, 'store')).length).toBeGreaterThan(1);
    expect(readFileSync(join(dir, 'store', 'audit.log'), 'utf8')).toContain('alpha/arb1');
  });
});

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of filesUnder(dir)) out[f] = createHash('sha256').update(readFileSync(f)).digest('hex');
  return out;
}
