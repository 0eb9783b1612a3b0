/**
 * node-vault logs request payloads (secrets included) under its `debug` namespace. keyctl hands it a no-op logger, so
 * even with DEBUG=* nothing of a secret reaches stdout or stderr. Runs the built provider (dist/, which `npm test`
 * builds first) in a child process against the Vault API double, as a user's process would.
 */
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeVault } from '../fakes/vault-server.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const built = `${root}dist/providers/vault/index.js`;
const CANARY = 'FAKE-SECRET-debug-canary-41c7e2';

let vault: FakeVault;
beforeAll(async () => {
  for (const src of ['providers/vault/index.ts', 'providers/vault/http.ts']) {
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(`${root}${src}`).mtimeMs) {
      throw new Error(`${built} is missing or older than ${src}: run \`npx tsc -p tsconfig.json\` first (npm test does).`);
    }
  }
  vault = await FakeVault.start();
});
afterAll(async () => {
  await vault?.close();
});

function runChild(script: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    env: { PATH: process.env.PATH, DEBUG: '*', VAULT_ADDR: vault.url, VAULT_TOKEN: vault.rootToken, CANARY },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

describe('DEBUG=* never prints a secret', () => {
  it('control: node-vault used directly does print the payload under DEBUG=* (so the check below can fail)', async () => {
    const { code, out } = await runChild(`
      import { createRequire } from 'node:module';
      const vault = createRequire(${JSON.stringify(`${root}package.json`)})('node-vault')({ endpoint: process.env.VAULT_ADDR });
      await vault.write('secret/data/control', { data: { secret: process.env.CANARY } });
      process.stdout.write('done\\n');
    `);
    expect(code).toBe(0);
    expect(out).toContain(CANARY);
  });

  it('the vault provider writes, reads, promotes, wraps and unwraps a canary without printing it', async () => {
    const { code, out } = await runChild(`
      const { createStore } = await import(${JSON.stringify(pathToFileURL(built).href)});
      const config = { provider: 'vault', address: process.env.VAULT_ADDR, mount: 'secret', prefix: 'keyctl', auth: { method: 'token' } };
      const store = await createStore(config, { env: process.env });
      const secret = { apiKey: 'FAKE-key', secret: process.env.CANARY };
      const v1 = (await store.write('bots/alpha/arb1', { secret, stage: 'CURRENT', expect: null })).version;
      const v2 = (await store.write('bots/alpha/arb1', { secret: { ...secret, passphrase: process.env.CANARY }, expect: null })).version;
      await store.moveStage('bots/alpha/arb1', { stage: 'CURRENT', to: v2, expect: v1 });
      if ((await store.read('bots/alpha/arb1', { stage: 'CURRENT' })).secret.secret !== process.env.CANARY) throw new Error('read back failed');
      await store.write('bots/alpha/arb1', { secret, expect: 'stale' }).catch(() => undefined);
      if ((await store.unwrap(await store.wrap(process.env.CANARY, 60000))) !== process.env.CANARY) throw new Error('unwrap failed');
      await store.close();
      process.stdout.write('provider-ok\\n');
    `);
    expect(out).toContain('provider-ok');
    expect(code).toBe(0);
    expect(out).not.toContain(CANARY);
  });
});
