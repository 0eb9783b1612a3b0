/**
 * `keyctl vault policy|approle` and the policy they install: a bot's token really reads its own slots only, through
 * the Vault API double's ACL enforcement.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectVault, readStageWithDataAccess } from '../../providers/vault/index.js';
import { Kv } from '../../providers/vault/kv.js';
import { botPolicy, issueWrappedSecretId } from '../../providers/vault/policy.js';
import { ensureAuditKey } from '../../src/audit/key.js';
import { CliContext, type CliIo } from '../../src/cli/context.js';
import { run as runApprole } from '../../src/cli/commands/vault-approle.js';
import { run as runPolicy } from '../../src/cli/commands/vault-policy.js';
import { KeyctlError } from '@keyctl/client/errors';
import { vaultStoreSchema } from '../../src/config/schema.js';
import { VaultApiError } from '../../providers/vault/http.js';
import { capabilitiesFor, matches, parsePolicy } from '../fakes/vault-acl.js';
import { vaultBed, type VaultBed } from './vault-helpers.js';

let bed: VaultBed;
let dir: string;
let configPath: string;

const slot = (uid: string, ip: string) => `      s1: {account: main, uid: "${uid}", scopes: [read, spot:trade], ips: [${ip}]}\n`;

beforeEach(async () => {
  bed = await vaultBed();
  dir = await mkdtemp(join(tmpdir(), 'keyctl-vault-cli-'));
  configPath = join(dir, 'keyctl.yaml');
  await writeFile(
    configPath,
    `store:\n  provider: vault\n  address: ${bed.vault.url}\n  mount: secret\n  prefix: keyctl\naudit:\n  path: ${join(dir, 'audit.log')}\n` +
      `accounts:\n  main:\n    exchange: bybit\nbots:\n  alpha:\n    subaccounts:\n${slot('1001', '203.0.113.10')}  alphabet:\n    subaccounts:\n${slot('1003', '203.0.113.12')}  beta:\n    subaccounts:\n${slot('1002', '203.0.113.11')}`,
  );
});
afterEach(async () => {
  await bed.close();
  await rm(dir, { recursive: true, force: true });
});

function cli(command: string): { ctx: CliContext; stdout: () => string } {
  const out = new PassThrough();
  let o = '';
  out.on('data', (c: Buffer) => (o += c.toString()));
  const io: CliIo = {
    stdin: new PassThrough(),
    stdout: out,
    stderr: new PassThrough(),
    env: { VAULT_TOKEN: bed.vault.rootToken, KEYCTL_ACTOR: 'ops' },
    cwd: dir,
  };
  return { ctx: new CliContext(io, command, { json: true, config: configPath }), stdout: () => o };
}

async function failure(p: Promise<unknown>): Promise<KeyctlError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(KeyctlError);
    return err as KeyctlError;
  }
  throw new Error('expected a failure');
}

describe('keyctl vault policy', () => {
  it("prints a read-only policy on the bot's own data paths", async () => {
    const c = cli('vault policy');
    await runPolicy(c.ctx, ['alpha'], {});
    const out = JSON.parse(c.stdout()) as { name: string; policy: string };
    expect(out.name).toBe('keyctl-bot-alpha');
    const rules = parsePolicy(out.policy);
    expect(rules.map((r) => [r.pattern, [...r.capabilities]])).toEqual([
      ['secret/data/keyctl/bots/alpha/*', ['read']],
      ['secret/data/keyctl/_stages/bots/alpha/*', ['read']],
    ]);
  });

  it('an unknown bot is a usage error listing the known ones', async () => {
    const err = await failure(runPolicy(cli('vault policy').ctx, ['gamma'], {}));
    expect(err.code).toBe('UNKNOWN_BOT');
    expect(err.exitCode).toBe(2);
    expect(err.hint).toContain('alpha, alphabet, beta');
  });

  it('a config whose store is not Vault is a usage error', async () => {
    await writeFile(configPath, 'store:\n  provider: memory\nbots: {}\n');
    expect((await failure(runPolicy(cli('vault policy').ctx, ['alpha'], {}))).code).toBe('NOT_VAULT_STORE');
  });
});

describe('the generated policy in Vault (ACL enforced by the double)', () => {
  it("matches only that bot's slots, not a bot whose name merely starts the same", () => {
    const rules = [parsePolicy(botPolicy({ mount: 'secret', prefix: 'keyctl', bot: 'alpha' }))];
    expect([...capabilitiesFor(rules, 'secret/data/keyctl/bots/alpha/s1')]).toEqual(['read']);
    expect(capabilitiesFor(rules, 'secret/data/keyctl/bots/alphabet/s1').size).toBe(0);
    expect([...capabilitiesFor(rules, 'secret/data/keyctl/_stages/bots/alpha/s1')]).toEqual(['read']);
    expect(capabilitiesFor(rules, 'secret/data/keyctl/_stages/bots/alphabet/s1').size).toBe(0);
    expect(capabilitiesFor(rules, 'secret/metadata/keyctl/bots/alpha/s1').size).toBe(0);
    expect(capabilitiesFor(rules, 'secret/data/keyctl/keyctl/audit-key').size).toBe(0);
    expect(matches('secret/data/+/x', 'secret/data/a/x')).toBe(true);
    expect(matches('secret/data/+/x', 'secret/data/a/b/x')).toBe(false);
  });

  it("keyctl vault approle sets up the role; the bot logs in and reads its CURRENT slot but not another bot's", async () => {
    const admin = await bed.store();
    await ensureAuditKey(admin);
    await admin.write('bots/alpha/s1', { secret: { apiKey: 'FAKE-alpha-1', secret: 'FAKE-alpha-s1' }, stage: 'CURRENT', expect: null });
    const v2 = await admin.write('bots/alpha/s1', { secret: { apiKey: 'FAKE-alpha-2', secret: 'FAKE-alpha-s2' }, expect: null });
    await admin.write('bots/beta/s1', { secret: { apiKey: 'FAKE-beta', secret: 'FAKE-beta-s' }, stage: 'CURRENT', expect: null });
    await admin.write('bots/alphabet/s1', {
      secret: { apiKey: 'FAKE-alphabet', secret: 'FAKE-alphabet-s' },
      stage: 'CURRENT',
      expect: null,
    });

    const c = cli('vault approle');
    await runApprole(c.ctx, ['alpha'], { secretIdTtl: '5m', bindIps: false });
    await c.ctx.close();
    const out = JSON.parse(c.stdout()) as { roleId: string; role: string; policy: string; secretIdNumUses: number };
    expect(out).toMatchObject({ role: 'keyctl-alpha', policy: 'keyctl-bot-alpha', secretIdNumUses: 1 });
    expect(out.roleId).toMatch(/^[0-9a-f-]{36}$/);

    const { http: rootHttp } = await connectVault(vaultStoreSchema.parse({ provider: 'vault', address: bed.vault.url }), {
      env: { VAULT_TOKEN: bed.vault.rootToken },
    });
    const role = await rootHttp.call<Record<string, unknown>>({ method: 'GET', path: 'auth/approle/role/keyctl-alpha' });
    expect(role.data).toMatchObject({ secret_id_num_uses: 1, secret_id_ttl: '5m', token_policies: ['keyctl-bot-alpha'] });
    const issued = await issueWrappedSecretId(rootHttp, { approleMount: 'approle', bot: 'alpha', ttlSeconds: 300, wrapTtlSeconds: 60 });
    const unwrapped = await rootHttp.call<{ secret_id: string }>({
      method: 'POST',
      path: 'sys/wrapping/unwrap',
      token: issued.wrappingToken,
    });

    const config = vaultStoreSchema.parse({ provider: 'vault', address: bed.vault.url, auth: { method: 'approle' } });
    const { http } = await connectVault(config, { env: { VAULT_ROLE_ID: out.roleId, VAULT_SECRET_ID: unwrapped.data!.secret_id } });
    const kv = new Kv(http, 'secret');
    // CURRENT (not the newer PENDING version 2) through data reads alone.
    const current = await readStageWithDataAccess(kv, 'keyctl/bots/alpha/s1');
    expect(current.secret.apiKey).toBe('FAKE-alpha-1');
    expect(current.version).not.toBe(v2.version);
    // The same through the authoritative stage record, which the policy also lets it read.
    const viaRecord = await readStageWithDataAccess(kv, 'keyctl/bots/alpha/s1', 'CURRENT', 'keyctl/_stages/bots/alpha/s1');
    expect(viaRecord).toEqual(current);
    for (const other of ['keyctl/bots/beta/s1', 'keyctl/bots/alphabet/s1', 'keyctl/keyctl/audit-key']) {
      const err = await failure(readStageWithDataAccess(kv, other));
      expect(err.code).toBe('VAULT_DENIED');
    }
    const err = await failure(readStageWithDataAccess(kv, 'keyctl/bots/beta/s1', 'CURRENT', 'keyctl/_stages/bots/beta/s1'));
    expect(err.code).toBe('VAULT_DENIED');
    // No metadata or list access either: the bot cannot enumerate slots.
    await expect(http.call({ method: 'LIST', path: 'secret/metadata/keyctl/bots' })).rejects.toBeInstanceOf(VaultApiError);
    await expect(
      http.call({ method: 'POST', path: 'secret/data/keyctl/bots/alpha/s1', body: { data: { apiKey: 'FAKE-x' } } }),
    ).rejects.toMatchObject({ status: 403 });
  });

  it("--bind-ips binds secret ids and tokens to the bot's declared addresses", async () => {
    const admin = await bed.store();
    await ensureAuditKey(admin);
    const c = cli('vault approle');
    await runApprole(c.ctx, ['beta'], { bindIps: true });
    await c.ctx.close();
    expect(JSON.parse(c.stdout())).toMatchObject({ boundCidrs: ['203.0.113.11/32'], secretIdTtl: '10m', tokenTtl: '15m' });
  });

  it('rejects a malformed duration before touching Vault', async () => {
    const before = bed.vault.calls.length;
    expect((await failure(runApprole(cli('vault approle').ctx, ['alpha'], { secretIdTtl: '10 minutes' }))).code).toBe('INVALID_DURATION');
    expect(bed.vault.calls.length).toBe(before);
  });
});
