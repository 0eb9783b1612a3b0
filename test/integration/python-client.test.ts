/**
 * The Python client (clients/python/keyctl_client.py) under the real, built keyctl, run by the machine's python3: a
 * Python bot loads its key in pipe mode (`exec --fd 3`), environment mode (plain `exec`) and from a local-store token,
 * deletes what it read from its environment, never shows the key in repr/str, and follows a rotation hand-over that
 * keyctl sees acknowledged. The bot is test/fixtures/delivery/bot.py (the twin of bot.mjs). Also: the example bot
 * docs/examples/bot.py against the sandbox, and Vault tokens against a stand-in Vault (urllib, no Vault server needed).
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makeWorld, type World } from '../helpers/world.js';
import { secretForms } from '../helpers/scan.js';
import { runProcess } from '../helpers/cli.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { events, FIXTURES, startKeyctl } from './delivery-helpers.js';
import { consumersOf, until } from '../helpers/consumers.js';

let w: World;
let cfg: string;
const BOT = ['python3', join(FIXTURES, 'bot.py')];
// No .pyc files written into the repository by the bots these tests start.
const PY = { PYTHONDONTWRITEBYTECODE: '1' };
const keyctl = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  startKeyctl(['--config', cfg, ...args], { env: { ...w.env, ...PY, ...env }, cwd: w.dir });
/** The Python bot alone, with only `env` (no master key, no config): how a token-mode bot runs. */
const runBot = (env: NodeJS.ProcessEnv) =>
  runProcess('python3', BOT.slice(1), { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...PY, ...env }, cwd: w.dir });
const consumers = () => consumersOf(w);
/**
 * `keyctl rotate` until it promotes a new key: a rotate run while the last rotation's old key is still in its grace
 * period only finishes that one (status revoked-previous).
 */
const rotate = async () => {
  for (let i = 0; i < 3; i++) {
    const rot = await w.cli(['rotate', 'alpha/arb1', '--json']);
    expect(rot.code, rot.stderr).toBe(0);
    if ((JSON.parse(rot.stdout) as { results: Array<{ status: string }> }).results[0]?.status !== 'revoked-previous') return;
  }
  throw new Error('keyctl rotate promoted no new key');
};
const expectNoSecret = (text: string, secret: string) => {
  for (const form of secretForms(secret)) expect(text).not.toContain(form);
};

beforeAll(async () => {
  w = await makeWorld();
  cfg = join(w.dir, 'keyctl.yaml');
});
afterAll(async () => w?.close());

describe('the Python client under keyctl exec', () => {
  it('environment mode: loads the key, removes every KEYCTL_ variable it read, and repr/str show no secret', async () => {
    const key = w.botKeys.arb1!;
    const r = await keyctl(['exec', 'alpha/arb1', '--no-mask', '--', ...BOT]).done;
    expect(r.code, r.stderr).toBe(0);
    const start = events(r.stdout)[0]!;
    expect(start).toMatchObject({
      event: 'start',
      source: 'env',
      fingerprint: fingerprint(key.apiKey),
      ref: 'alpha/arb1',
      leftover: [],
      masterKey: false,
      secretLength: key.secret.length,
      ccxtKeys: ['apiKey', 'secret'],
      ccxtHasSecret: true,
    });
    expect(start.repr).toContain(fingerprint(key.apiKey));
    expect(start.repr).toContain('[hidden]');
    // --no-mask: nothing filtered the bot's output, so this is what the bot itself printed.
    expectNoSecret(r.stdout, key.secret);
    expectNoSecret(r.stdout, key.apiKey);
  });

  it('pipe mode (--fd 3): loads the key from the socket; KEYCTL_FD and KEYCTL_REF are gone afterwards', async () => {
    const key = w.botKeys.arb1!;
    const r = await keyctl(['exec', 'alpha/arb1', '--fd', '3', '--no-mask', '--', ...BOT]).done;
    expect(r.code, r.stderr).toBe(0);
    expect(events(r.stdout)[0]).toMatchObject({
      event: 'start',
      source: 'fd',
      fingerprint: fingerprint(key.apiKey),
      ref: 'alpha/arb1',
      leftover: [],
      secretLength: key.secret.length,
    });
    expectNoSecret(r.stdout, key.secret);
  });

  it('a Python bot that prints its secret under exec has it masked', async () => {
    const key = w.botKeys.arb1!;
    const r = await keyctl(['exec', 'alpha/arb1', '--fd', '3', '--', ...BOT], { PRINT_SECRET: '1' }).done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('oops=[REDACTED]');
    expectNoSecret(r.stdout + r.stderr, key.secret);
  });

  it('a local-store token: redeemed once with the token alone; the receipt it leaves is settled as a valid redemption', async () => {
    const key = w.botKeys.arb1!;
    const issued = await keyctl(['issue', 'alpha/arb1']).done;
    expect(issued.code, issued.stderr).toBe(0);
    const token = issued.stdout.trim();
    const first = await runBot({ KEYCTL_TOKEN: token });
    expect(first.code, first.stderr).toBe(0);
    expect(events(first.stdout)[0]).toMatchObject({
      event: 'start',
      source: 'token',
      fingerprint: fingerprint(key.apiKey),
      ref: 'alpha/arb1',
      leftover: [],
      secretLength: key.secret.length,
    });
    expectNoSecret(first.stdout + first.stderr, key.secret);
    // Single use: the second redemption fails with the one message for used, expired and unknown tokens.
    const second = await runBot({ KEYCTL_TOKEN: token });
    expect(second.code).toBe(3);
    expect(events(second.stdout)[0]).toMatchObject({ event: 'error', code: 'WRAP_INVALID' });
    expect(second.stdout).not.toContain(token.split('.').at(-1)!);
    // The receipt's proof is an HMAC under a key derived from the token's: keyctl accepts it only if the Python client
    // built it byte for byte as the protocol says.
    expect((await keyctl(['audit', 'verify']).done).code).toBe(0);
    const tail = await keyctl(['audit', 'tail', '--json']).done;
    type Entry = { command: string; ref?: string; outcome: string; detail?: Record<string, unknown> };
    const redeemed = (JSON.parse(tail.stdout) as { entries: Entry[] }).entries.filter((e) => e.command === 'token.redeem');
    expect(redeemed.at(-1)).toMatchObject({ ref: 'alpha/arb1', outcome: 'ok', detail: { outcome: 'redeemed', proof: 'valid' } });
  });

  it('without the cryptography package a local token is refused before it is claimed, naming the package', async () => {
    const issued = await keyctl(['issue', 'alpha/arb1']).done;
    expect(issued.code, issued.stderr).toBe(0);
    const tokensDir = join(w.dir, 'store', 'tokens');
    const records = () => readdirSync(tokensDir).filter((n) => n.endsWith('.json'));
    const before = records();
    expect(before.length).toBeGreaterThan(0);
    // `cryptography` made unimportable for this one run (a None entry in sys.modules makes its import fail).
    const script = [
      'import sys, json',
      "sys.modules['cryptography'] = None",
      `sys.path.insert(0, ${JSON.stringify(join(FIXTURES, '..', '..', '..', 'clients', 'python'))})`,
      'import keyctl_client',
      'try:',
      '    keyctl_client.load_credentials()',
      'except keyctl_client.KeyctlError as e:',
      '    print(json.dumps({"code": e.code, "message": str(e)}))',
    ].join('\n');
    const r = await runProcess('python3', ['-c', script], {
      env: { PATH: process.env.PATH, ...PY, KEYCTL_TOKEN: issued.stdout.trim() },
      cwd: w.dir,
    });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { code: string; message: string };
    expect(out.code).toBe('MISSING_PACKAGE');
    expect(out.message).toContain('cryptography');
    // Not consumed: the record is still there, unclaimed.
    expect(records()).toEqual(before);
    for (const name of before) expect(existsSync(join(tokensDir, name.replace('.json', '.claimed')))).toBe(false);
  });
});

describe('the example bot (docs/examples/bot.py)', () => {
  const EXAMPLE = ['python3', join(FIXTURES, '..', '..', '..', 'docs', 'examples', 'bot.py')];

  it('makes one signed read against the sandbox (ccxt is not installed here: its standard-library signer) and prints the fingerprint, never the key', async () => {
    const key = w.botKeys.arb1!;
    const r = await keyctl(['exec', 'alpha/arb1', '--fd', '3', '--no-mask', '--', ...EXAMPLE], { BOT_BASE_URL: `${w.sandbox.url}/bybit` })
      .done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`bot: bybit accepted key ${fingerprint(key.apiKey)} (from fd)`);
    for (const f of [...secretForms(key.secret), key.apiKey]) expect(r.stdout + r.stderr).not.toContain(f);
  });

  it('a key the exchange refuses fails the bot (the signed read is real)', async () => {
    // Signed with a wrong secret: the sandbox checks the HMAC, so the read fails and the bot exits non-zero.
    const example = await runProcess(EXAMPLE[0]!, EXAMPLE.slice(1), {
      env: {
        ...PY,
        KEYCTL_API_KEY: w.botKeys.arb1!.apiKey,
        KEYCTL_SECRET: 'fake-wrong-secret-000000',
        BOT_BASE_URL: `${w.sandbox.url}/bybit`,
      },
      cwd: w.dir,
    });
    expect(example.code).not.toBe(0);
    expect(example.stderr).toContain('Signature for this request is not valid');
    expect(example.stderr).not.toContain('fake-wrong-secret-000000');
  });

  it('switches to a rotated key after checking it against the sandbox, and keyctl sees the ack', async () => {
    const piped = keyctl(['exec', 'alpha/arb1', '--fd', '3', '--no-mask', '--', ...EXAMPLE], {
      KEYCTL_WATCH_MS: '200',
      BOT_BASE_URL: `${w.sandbox.url}/bybit`,
      BOT_RUN_MS: '60000',
      BOT_TICK_MS: '200',
    });
    onTestFinished(async () => {
      if (piped.child.exitCode === null && piped.child.signalCode === null) piped.child.kill('SIGTERM');
      await piped.done;
    });
    await piped.waitFor('bot: bybit accepted key');
    await rotate();
    await piped.waitFor(/bot: switched to key \S+/);
    const newFp = /bot: switched to key (\S+)/.exec(piped.stdout())![1]!;
    await until(async () => Object.values(await consumers()).some((c) => c.fingerprint === newFp && c.ackedAt !== null));
    piped.child.kill('SIGTERM');
    const done = await piped.done;
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).not.toContain('check failed');
  });
});

describe('the Python client: rotation hand-over', () => {
  it('after keyctl rotate, the Python bot under exec --fd 3 gets the new key on its pipe and acks it; the registry shows the ack', async () => {
    const piped = keyctl(['exec', 'alpha/arb1', '--fd', '3', '--', ...BOT], { KEYCTL_WATCH_MS: '200', ROTATIONS: '1', LINGER_MS: '60000' });
    onTestFinished(async () => {
      if (piped.child.exitCode === null && piped.child.signalCode === null) piped.child.kill('SIGTERM');
      await piped.done;
    });
    await piped.waitFor('"event": "start"');
    // The slot's CURRENT key (the example bot's test above rotated it once already).
    const oldFp = events(piped.stdout())[0]!.fingerprint as string;
    expect(events(piped.stdout())[0]).toMatchObject({ source: 'fd', leftover: [] });
    // The first key is acked at once (ack="auto"): the registry records it.
    await until(async () => Object.values(await consumers()).some((c) => c.fingerprint === oldFp && c.ackedAt !== null));

    await rotate();
    await piped.waitFor('"event": "rotated"');
    const rotated = events(piped.stdout()).find((e) => e.event === 'rotated')!;
    const newFp = rotated.fingerprint as string;
    expect(newFp).not.toBe(oldFp);
    expect(rotated.secretLength).toBeGreaterThan(0);
    expect(rotated.repr).toContain(newFp);
    // keyctl saw the acknowledgement: the bot's entry now names the new key, confirmed.
    await until(async () => {
      const all = Object.values(await consumers());
      return all.length === 1 && all[0]!.fingerprint === newFp && all[0]!.ackedAt !== null;
    });
    expect(piped.stderr()).toContain(`handed the rotated key ${newFp} to the bot`);

    piped.child.kill('SIGTERM');
    const done = await piped.done;
    expect(done.code, done.stderr).toBe(0);
    expect(events(done.stdout).map((e) => e.event)).toEqual(['start', 'rotated']);
  });
});

describe('the Python client: Vault tokens (urllib, against a stand-in Vault)', () => {
  // What keyctl issue wraps (clients/node/src/token.ts encodePayload), with obviously fake values.
  const payload = JSON.stringify({
    v: 1,
    ref: 'alpha/arb1',
    apiKey: 'fake-vault-api-key-0001',
    secret: 'fake-vault-secret-0001',
    fingerprint: 'fpvault0001',
  });
  const GOOD = 'hvs.fakewrappingtoken0001';
  const SUBSTITUTED = 'hvs.fakenotawrappingtoken02';
  const calls: Array<{ path: string; headers: IncomingHttpHeaders; body: string }> = [];
  let used = false;
  let addr = '';
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      calls.push({ path: req.url ?? '', headers: req.headers, body });
      const send = (status: number, json: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      if (req.method !== 'POST') return send(405, { errors: ['method'] });
      if (req.url === '/v1/sys/wrapping/lookup') {
        const token = (JSON.parse(body || '{}') as { token?: string }).token;
        if (token === GOOD && !used) return send(200, { data: { creation_path: 'sys/wrapping/wrap' } });
        if (token === SUBSTITUTED) return send(200, { data: { creation_path: 'secret/data/bots/alpha/arb1' } });
        return send(400, { errors: ['wrapping token is not valid or does not exist'] });
      }
      if (req.url === '/v1/sys/wrapping/unwrap') {
        if (req.headers['x-vault-token'] === GOOD && !used) {
          used = true;
          return send(200, { data: { value: payload } });
        }
        return send(400, { errors: ['wrapping token is not valid or does not exist'] });
      }
      return send(404, { errors: [] });
    });
  });
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    addr = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => new Promise<void>((r) => server.close(() => r())));

  const load = (env: NodeJS.ProcessEnv) =>
    runProcess(
      'python3',
      [
        '-c',
        [
          'import json, os, sys',
          `sys.path.insert(0, ${JSON.stringify(join(FIXTURES, '..', '..', '..', 'clients', 'python'))})`,
          'import keyctl_client',
          'try:',
          '    c = keyctl_client.load_credentials()',
          '    print(json.dumps({"source": c.source, "fingerprint": c.fingerprint, "ref": c.ref, "ok": c.secret == "fake-vault-secret-0001", "left": "KEYCTL_TOKEN" in os.environ}))',
          'except keyctl_client.KeyctlError as e:',
          '    print(json.dumps({"code": e.code, "message": str(e), "left": "KEYCTL_TOKEN" in os.environ}))',
        ].join('\n'),
      ],
      { env: { ...PY, ...env } },
    );

  it('unwraps once after checking the token came from sys/wrapping/wrap; a second use and a substituted token are refused', async () => {
    const first = await load({ KEYCTL_TOKEN: `kct1.vault.${GOOD}`, VAULT_ADDR: addr, VAULT_NAMESPACE: 'team-a' });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ source: 'token', fingerprint: 'fpvault0001', ref: 'alpha/arb1', ok: true, left: false });
    const [lookup, unwrap] = calls.splice(0);
    // The lookup carries the token in its body only, never as the request's own authorization; the unwrap the reverse.
    expect(lookup!.path).toBe('/v1/sys/wrapping/lookup');
    expect(JSON.parse(lookup!.body)).toEqual({ token: GOOD });
    expect(lookup!.headers['x-vault-token']).toBeUndefined();
    expect(lookup!.headers['x-vault-namespace']).toBe('team-a');
    expect(unwrap).toMatchObject({ path: '/v1/sys/wrapping/unwrap', body: '' });
    expect(unwrap!.headers['x-vault-token']).toBe(GOOD);

    const again = await load({ KEYCTL_TOKEN: `kct1.vault.${GOOD}`, VAULT_ADDR: addr });
    expect(JSON.parse(again.stdout)).toMatchObject({ code: 'WRAP_INVALID' });
    expect(again.stdout).not.toContain(GOOD);

    calls.length = 0;
    const substituted = await load({ KEYCTL_TOKEN: `kct1.vault.${SUBSTITUTED}`, VAULT_ADDR: addr });
    expect(JSON.parse(substituted.stdout)).toMatchObject({ code: 'WRAP_ORIGIN_MISMATCH' });
    // Refused unused: nothing but the lookup reached Vault.
    expect(calls.map((c) => c.path)).toEqual(['/v1/sys/wrapping/lookup']);
  });

  it('without VAULT_ADDR: VAULT_ADDR_MISSING, and the token is still removed from the environment', async () => {
    const r = await load({ KEYCTL_TOKEN: `kct1.vault.${GOOD}` });
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 'VAULT_ADDR_MISSING', left: false });
    expect(r.stdout).not.toContain(GOOD);
  });
});
