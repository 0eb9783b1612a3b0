/**
 * The checklist's checks of the host's files (src/app/checklist-host.ts): store permissions, where the master key
 * sits, and secret-looking text in the config. Verdicts name files and lines, never the value found.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { configSecrets, masterKeyPlacement, storePermissions } from '../../src/app/checklist-host.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'keyctl-host-'));
  dirs.push(d);
  return d;
}

/** A store directory as init leaves it: 0700 with 0600 files. */
function storeAt(root: string): string {
  const store = join(root, 'store');
  mkdirSync(join(store, 'records'), { recursive: true, mode: 0o700 });
  chmodSync(store, 0o700);
  writeFileSync(join(store, 'records', 'a.json'), '{}', { mode: 0o600 });
  return store;
}

const FAKE_MASTER = Buffer.alloc(32, 0x5a).toString('base64');

describe('storePermissions', () => {
  it('passes a store readable by its owner only; fails one open to others, or holding a symbolic link', async () => {
    const store = storeAt(tempDir());
    expect(await storePermissions(store, 'local')).toMatchObject({ status: 'pass' });
    chmodSync(join(store, 'records', 'a.json'), 0o644);
    const open = await storePermissions(store, 'local');
    expect(open).toMatchObject({
      status: 'fail',
      evidence: expect.stringContaining('records/a.json is 644'),
      fix: expect.stringContaining('chmod'),
    });
    chmodSync(join(store, 'records', 'a.json'), 0o600);
    symlinkSync('/etc/hostname', join(store, 'link'));
    expect((await storePermissions(store, 'local')).evidence).toContain('link is a symbolic link');
  });

  it('fails a store directory it cannot read (fail closed), and leaves a remote store to its access policy', async () => {
    expect(await storePermissions(join(tempDir(), 'missing'), 'local')).toMatchObject({
      status: 'fail',
      evidence: expect.stringContaining('ENOENT'),
    });
    expect(await storePermissions(undefined, 'vault')).toMatchObject({ status: 'pass', evidence: expect.stringContaining('vault') });
  });
});

describe('masterKeyPlacement', () => {
  it('fails when a file beside the store or the config holds the master key, naming the file and not the key', async () => {
    const root = tempDir();
    const store = storeAt(root);
    const input = { storeDir: store, configFile: join(root, 'keyctl.yaml'), secrets: [FAKE_MASTER] };
    expect(await masterKeyPlacement(input)).toMatchObject({ status: 'pass' });
    writeFileSync(join(root, 'master.key'), `${FAKE_MASTER}\n`, { mode: 0o600 });
    const found = await masterKeyPlacement(input);
    expect(found).toMatchObject({ status: 'fail', evidence: expect.stringContaining('master.key holds the master key') });
    expect(JSON.stringify(found)).not.toContain(FAKE_MASTER);
  });

  it('fails a key file named beside the store; a remote store has no master key here', async () => {
    const root = tempDir();
    const store = storeAt(root);
    const v = await masterKeyPlacement({
      storeDir: store,
      configFile: join(root, 'keyctl.yaml'),
      masterKeyFile: join(root, 'k'),
      secrets: [],
    });
    expect(v).toMatchObject({ status: 'fail', evidence: expect.stringContaining('KEYCTL_MASTER_KEY_FILE') });
    expect(await masterKeyPlacement({ storeDir: undefined, configFile: '/x/keyctl.yaml', secrets: [FAKE_MASTER] })).toMatchObject({
      status: 'pass',
    });
  });
});

describe('configSecrets', () => {
  const clean = [
    'store: { provider: local, path: ./store }',
    'accounts:',
    '  main: { exchange: bybit, baseUrl: "http://127.0.0.1:8080/bybit", custodians: [alice] }',
    'bots:',
    '  alpha:',
    '    subaccounts:',
    '      arb1: { account: main, uid: "100001", scopes: [read, spot:trade], ips: [203.0.113.7] }',
    'alerts:',
    '  slack: { type: slack, webhookUrl: store:alerts/slack-url }',
    '  tg: { type: telegram, botToken: env:TG_TOKEN, chatId: "-1001234" }',
    '  pd: { type: pagerduty, routingKey: "${PD_KEY}" }',
    'staff: [alice]',
  ].join('\n');

  it('passes a config whose secrets are all references, and prose or booleans under secret-like names', () => {
    expect(configSecrets('/x/keyctl.yaml', clean)).toMatchObject({ status: 'pass' });
    const prose =
      '# Nothing in it is secret: the store is Vault, reached with the token: of the pod\nautomountServiceAccountToken: false\n';
    expect(configSecrets('/x/keyctl.yaml', `${prose}${clean}`)).toMatchObject({ status: 'pass' });
  });

  it.each([
    [
      'a secret-named field with a literal value',
      '  tg: { type: telegram, botToken: FAKE-not-a-reference }',
      'botToken has a literal value',
    ],
    ['a secret pasted into a comment', '  # old secret: FAKEsecretFAKE', 'secret has a literal value'],
    ['a Slack webhook URL', '  # old: https://hooks.slack.com/services/T000/B000/FAKEFAKEFAKE', 'a Slack webhook URL'],
    ['a URL with a password', '  hook: { type: webhook, url: "https://user:FAKEpass@example.com/h" }', 'a URL with a password'],
    ['a PEM private key', '-----BEGIN RSA PRIVATE KEY-----', 'a PEM private key'],
    ['a long random-looking token', '# apikey FAKEaB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z', 'a long random-looking string'],
  ])('fails on %s, naming the line and never the value', (_what, line, evidence) => {
    const v = configSecrets('/x/keyctl.yaml', `${clean}\n${line}\n`);
    expect(v).toMatchObject({ status: 'fail', evidence: expect.stringContaining(`line 13: ${evidence}`) });
    expect(v.evidence).not.toContain('FAKE');
  });
});
