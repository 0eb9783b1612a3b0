/**
 * Issue 12, items 7 and 8 on the real binary: a bot's output carrying the base64 of a secret that starts mid-string
 * (an HTTP Basic header of key:secret) is masked by exec; a config whose account talks plain http to another host is
 * refused unless that account opts in.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { makeWorld, type World } from '../helpers/world.js';
import { startKeyctl } from './delivery-helpers.js';

let w: World;
let cfg: string;
beforeAll(async () => {
  w = await makeWorld();
  cfg = join(w.dir, 'keyctl.yaml');
});
afterAll(async () => w?.close());

describe('masking and plain http on the real binary', () => {
  it('exec masks a bot printing an HTTP Basic header of key:secret (the secret starts mid-string)', async () => {
    const { apiKey, secret } = w.botKeys.arb1!;
    const bot = `const b = Buffer.from(process.env.KEYCTL_API_KEY + ':' + process.env.KEYCTL_SECRET).toString('base64'); console.log('Authorization: Basic ' + b)`;
    const r = await startKeyctl(['--config', cfg, 'exec', 'alpha/arb1', '--', process.execPath, '-e', bot], { env: w.env, cwd: w.dir })
      .done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Authorization: Basic ');
    expect(r.stdout).toContain('[REDACTED]');
    // The characters of the header that encode only the secret's bits: no 8 of them in a row may reach the output.
    const header = Buffer.from(`${apiKey}:${secret}`).toString('base64');
    const secretPart = header.slice(Math.ceil(((apiKey.length + 1) * 8) / 6), Math.floor(((apiKey.length + 1 + secret.length) * 8) / 6));
    for (let i = 0; i + 8 <= secretPart.length; i++) expect(r.stdout).not.toContain(secretPart.slice(i, i + 8));
  });

  it('refuses a config whose account talks plain http to another host, exit 2, unless allowInsecureHttp', () => {
    const text = readFileSync(cfg, 'utf8');
    const bad = join(w.dir, 'insecure.yaml');
    const run = () =>
      spawnSync(process.execPath, [BIN, '--config', bad, 'status'], { env: { ...process.env, ...w.env }, cwd: w.dir, encoding: 'utf8' });
    writeFileSync(bad, text.replace(/baseUrl: "[^"]+"/, 'baseUrl: "http://203.0.113.9:8080/bybit"'));
    const refused = run();
    expect(refused.status, refused.stderr).toBe(2);
    expect(refused.stderr).toContain('accounts.main.baseUrl: plain http to 203.0.113.9');
    writeFileSync(bad, text.replace(/baseUrl: "[^"]+"/, 'baseUrl: "http://203.0.113.9:8080/bybit", allowInsecureHttp: true'));
    const allowed = run();
    expect(allowed.status).not.toBe(2);
    expect(allowed.stderr).toContain('allowInsecureHttp');
  });
});
