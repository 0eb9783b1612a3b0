/**
 * `keyctl issue` on the Vault provider uses Vault's native response wrapping, and a bot holding only the printed token
 * (no Vault token of its own) gets its credentials exactly once: issue 7's delivery half, end to end.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../providers/vault/index.js';
import { ensureAuditKey } from '../../src/audit/key.js';
import { FakeVault, parseDuration } from '../fakes/vault-server.js';
import { runCli } from '../helpers/cli.js';

const CLIENT = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));
const SECRET = 'FAKE-vault-issued-secret-4d2c9b';

/** A bot process: loadCredentials() with only KEYCTL_TOKEN and the config (for Vault's address) in its environment. */
function bot(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const code = `const { loadCredentials } = await import(${JSON.stringify(CLIENT)});
    try { const c = await loadCredentials(); console.log(JSON.stringify({ fp: c.fingerprint, ok: c.secret === ${JSON.stringify(SECRET)}, left: Object.keys(process.env).filter((k) => k.startsWith('KEYCTL_TOKEN')) })); }
    catch (e) { console.log(JSON.stringify({ error: e.code })); }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { env: { PATH: process.env.PATH, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (c) => resolve({ code: c, stdout, stderr })));
}

describe('keyctl issue with the Vault provider', () => {
  let vault: FakeVault;
  let dir: string;
  let config: string;

  beforeAll(async () => {
    vault = await FakeVault.start();
    dir = mkdtempSync(join(tmpdir(), 'keyctl-vault-issue-'));
    config = join(dir, 'keyctl.yaml');
    writeFileSync(
      config,
      `store: { provider: vault, address: "${vault.url}", mount: secret, prefix: keyctl }\naudit: { path: ./audit.log }\n` +
        'accounts:\n  main: { exchange: bybit }\nbots:\n  alpha:\n    subaccounts:\n' +
        '      arb1: { account: main, uid: "100001", scopes: [read, spot:trade], ips: [203.0.113.7] }\n',
    );
    const store = await createStore(
      { provider: 'vault', address: vault.url, mount: 'secret', prefix: 'keyctl', auth: { method: 'token' } },
      { env: { VAULT_TOKEN: vault.rootToken } },
    );
    await ensureAuditKey(store);
    await store.write('bots/alpha/arb1', {
      secret: { apiKey: 'FAKE-vault-apikey', secret: SECRET },
      meta: { fingerprint: 'fpvault' },
      stage: 'CURRENT',
      expect: null,
    });
    await store.close();
  });
  afterAll(async () => {
    await vault?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints a token the bot unwraps once, natively, without a Vault token of its own', async () => {
    const before = vault.calls.length;
    // Not the default TTL (60 s), so the header can only have come from --ttl.
    const issued = await runCli(['--config', config, 'issue', 'alpha/arb1', '--ttl', '90s', '--json'], {
      env: { VAULT_TOKEN: vault.rootToken },
    });
    expect(issued.code, issued.stderr).toBe(0);
    const { token } = issued.json<{ token: string }>();
    expect(token).toMatch(/^kct1\.vault\./);
    expect(issued.stdout + issued.stderr).not.toContain(SECRET);
    // Vault's own wrapping endpoint was used, once, asking Vault to wrap for --ttl: no keyctl-side emulation.
    const wraps = vault.calls.slice(before).filter((c) => c.path === 'sys/wrapping/wrap' || c.wrapTtl !== undefined);
    expect(wraps).toEqual([{ method: 'POST', path: 'sys/wrapping/wrap', status: 200, wrapTtl: expect.any(String) }]);
    expect(parseDuration(wraps[0]!.wrapTtl)).toBe(90);

    const first = await bot({ KEYCTL_TOKEN: token, KEYCTL_CONFIG: config });
    expect(JSON.parse(first.stdout)).toEqual({ fp: 'fpvault', ok: true, left: [] });
    const second = await bot({ KEYCTL_TOKEN: token, KEYCTL_CONFIG: config });
    // Used up: the same code as an unknown or expired token, on purpose (providers/types.ts, unwrap).
    expect(JSON.parse(second.stdout)).toEqual({ error: 'WRAP_INVALID' });
  });
});
