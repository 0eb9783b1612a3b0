/**
 * The Vault API double (test/fakes/vault-server.ts) itself, by raw HTTP: each behaviour here mirrors a server source
 * file cited in the double (vault-plugin-secrets-kv, openbao).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeVault } from '../fakes/vault-server.js';

let vault: FakeVault;
const clock = { now: Date.parse('2026-01-01T00:00:00Z') };

/** Parsed JSON, loosely typed for assertions (`?.` on every step). */
interface Loose {
  [key: string]: Loose | undefined;
}

interface Answer {
  status: number;
  body: Loose;
}

/** One raw request to the double (token defaults to root). */
async function call(
  method: string,
  path: string,
  body?: unknown,
  opts: { token?: string | null; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  const token = opts.token === undefined ? vault.rootToken : opts.token;
  if (token !== null) headers['X-Vault-Token'] = token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${vault.url}/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Loose) : {} };
}

async function policyToken(hcl: string): Promise<string> {
  const name = `p${Math.random().toString(36).slice(2)}`;
  expect((await call('POST', `sys/policies/acl/${name}`, { policy: hcl })).status).toBe(204);
  return vault.createToken({ policies: [name] });
}

const put = (path: string, data: Record<string, unknown>, options?: Record<string, unknown>) =>
  call('POST', `secret/data/${path}`, { data, ...(options ? { options } : {}) });

beforeEach(async () => {
  clock.now = Date.parse('2026-01-01T00:00:00Z');
  vault = await FakeVault.start({ now: () => clock.now });
});
afterEach(async () => {
  await vault.close();
});

describe('KV v2 mount config (path_config.go)', () => {
  it('answers the defaults: max_versions 0, cas_required false, delete_version_after "0s"', async () => {
    const r = await call('GET', 'secret/config');
    expect(r.status).toBe(200);
    expect(r.body.data).toEqual({ max_versions: 0, cas_required: false, delete_version_after: '0s' });
  });

  it('sets only the fields given, and formats delete_version_after as a Go duration', async () => {
    expect((await call('POST', 'secret/config', { max_versions: 5, delete_version_after: '768h' })).status).toBe(204);
    expect((await call('GET', 'secret/config')).body.data).toEqual({
      max_versions: 5,
      cas_required: false,
      delete_version_after: '768h0m0s',
    });
    expect((await call('PUT', 'secret/config', { cas_required: true, delete_version_after: '90s' })).status).toBe(204);
    expect((await call('GET', 'secret/config')).body.data).toEqual({
      max_versions: 5,
      cas_required: true,
      delete_version_after: '1m30s',
    });
    await call('POST', 'secret/config', { delete_version_after: '0s' });
    expect((await call('GET', 'secret/config')).body.data?.delete_version_after).toBe('0s');
    await call('POST', 'secret/config', { delete_version_after: '-1s' });
    expect((await call('GET', 'secret/config')).body.data?.delete_version_after).toBe('-1s');
    expect((await call('POST', 'secret/config', { delete_version_after: 'soon' })).status).toBe(400);
  });

  it('the test helper sets the same state', async () => {
    vault.setKvConfig('secret', { maxVersions: 3, deleteVersionAfter: 3600 });
    expect((await call('GET', 'secret/config')).body.data).toEqual({
      max_versions: 3,
      cas_required: false,
      delete_version_after: '1h0m0s',
    });
    expect(vault.kvMountConfig('secret')).toEqual({ maxVersions: 3, casRequired: false, deleteVersionAfter: 3600 });
  });

  it('needs read / update on <mount>/config like any path', async () => {
    const none = await policyToken('path "secret/data/*" { capabilities = ["read"] }');
    expect((await call('GET', 'secret/config', undefined, { token: none })).status).toBe(403);
    expect((await call('POST', 'secret/config', { max_versions: 1 }, { token: none })).status).toBe(403);
    const reader = await policyToken('path "secret/config" { capabilities = ["read"] }');
    expect((await call('GET', 'secret/config', undefined, { token: reader })).status).toBe(200);
    expect((await call('POST', 'secret/config', { max_versions: 1 }, { token: reader })).status).toBe(403);
    const writer = await policyToken('path "secret/config" { capabilities = ["update"] }');
    expect((await call('POST', 'secret/config', { max_versions: 1 }, { token: writer })).status).toBe(204);
  });

  it('cas_required on the mount refuses a data write without options.cas (path_data.go validateCheckAndSetOption)', async () => {
    await call('POST', 'secret/config', { cas_required: true });
    const r = await put('a', { v: 1 });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual(['check-and-set parameter required for this call']);
    expect((await put('a', { v: 1 }, { cas: 0 })).status).toBe(200);
    expect((await put('a', { v: 2 }, { cas: 0 })).body.errors).toEqual(['check-and-set parameter did not match the current version']);
    expect((await put('a', { v: 2 }, { cas: 1 })).status).toBe(200);
  });

  it('cas_required on the key alone refuses too', async () => {
    await call('POST', 'secret/metadata/b', { cas_required: true });
    expect((await put('b', { v: 1 })).status).toBe(400);
    expect((await put('c', { v: 1 })).status).toBe(200);
  });
});

describe('KV v2 custom_metadata limits (path_metadata.go validateCustomMetadata)', () => {
  const meta = (custom_metadata: unknown) => call('POST', 'secret/metadata/m', { custom_metadata });

  it('takes 64 keys, refuses 65 with the count alone', async () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'x']));
    expect((await meta(many(64))).status).toBe(204);
    const r = await meta({ ...many(65), ['\u0001']: '' });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([
      '1 error occurred:\n\t* custom_metadata validation failed: payload must contain at most 64 keys, provided 66\n\n',
    ]);
  });

  it('counts key and value lengths in UTF-8 bytes', async () => {
    expect((await meta({ ['k'.repeat(128)]: 'v'.repeat(512) })).status).toBe(204);
    // 'é' is 2 bytes: 64 of them are 128 bytes (fine), 65 are 130; 256 'é' are 512 bytes, 257 are 514.
    expect((await meta({ ['é'.repeat(64)]: 'é'.repeat(256) })).status).toBe(204);
    const key = await meta({ ['é'.repeat(65)]: 'ok' });
    expect(key.status).toBe(400);
    expect(key.body.errors?.[0]).toContain(`length of key "${'é'.repeat(65)}" is 130 but must be 0 < len(key) <= 128`);
    const value = await meta({ k: 'é'.repeat(257) });
    expect(value.body.errors?.[0]).toContain('length of value for key "k" is 514 but must be 0 < len(value) <= 512');
  });

  it('refuses empty keys and values, and reports every problem', async () => {
    const r = await meta({ '': 'x', k: '' });
    expect(r.status).toBe(400);
    expect(r.body.errors).toEqual([
      '2 errors occurred:\n' +
        '\t* custom_metadata validation failed: length of key "" is 0 but must be 0 < len(key) <= 128\n' +
        '\t* custom_metadata validation failed: length of value for key "k" is 0 but must be 0 < len(value) <= 512\n\n',
    ]);
  });

  it('refuses unprintable characters (unicode.IsPrint): controls, non-ASCII spaces, format characters', async () => {
    const tab = await meta({ 'a\tb': 'x' });
    expect(tab.body.errors?.[0]).toContain('key "a\\tb" (a\tb) contains unprintable characters');
    expect((await meta({ k: 'no\u00a0break' })).body.errors?.[0]).toContain('value for key "k" contains unprintable characters');
    expect((await meta({ k: 'zero\u200bwidth' })).status).toBe(400);
    expect((await meta({ k: 'ok with spaces, ünïcödé, 日本, emoji 🙂' })).status).toBe(204);
  });

  it('weakly decodes numbers and booleans to strings, refuses nested values', async () => {
    expect((await meta({ n: 5, b: true })).status).toBe(204);
    expect(vault.kvEntry('secret', 'm')?.customMetadata).toEqual({ n: '5', b: '1' });
    expect((await meta({ o: { x: 1 } })).status).toBe(400);
  });

  it('a refused write changes nothing', async () => {
    await meta({ keep: 'me' });
    await call('POST', 'secret/metadata/m', { custom_metadata: { '': 'x' }, max_versions: 3 });
    expect(vault.kvEntry('secret', 'm')?.customMetadata).toEqual({ keep: 'me' });
    expect((await call('GET', 'secret/metadata/m')).body.data?.max_versions).toBe(0);
  });
});

describe('KV v2 max_versions (path_data.go KeyMetadata.AddVersion)', () => {
  const versions = async (path: string) =>
    Object.keys((await call('GET', `secret/metadata/${path}`)).body.data?.versions ?? {}).map(Number);
  const writeN = async (path: string, n: number) => {
    for (let i = 0; i < n; i++) expect((await put(path, { i })).status).toBe(200);
  };

  it('keeps 10 by default; oldest_version stays 0 until the first prune', async () => {
    await writeN('a', 10);
    let md = (await call('GET', 'secret/metadata/a')).body.data;
    expect(md?.oldest_version).toBe(1);
    await writeN('b', 9);
    expect((await call('GET', 'secret/metadata/b')).body.data?.oldest_version).toBe(0);
    await writeN('a', 2);
    md = (await call('GET', 'secret/metadata/a')).body.data;
    expect(md?.oldest_version).toBe(3);
    expect(await versions('a')).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect((await call('GET', 'secret/data/a?version=2')).status).toBe(404);
  });

  it('keeps the larger of the key and the mount setting', async () => {
    await call('POST', 'secret/config', { max_versions: 3 });
    await writeN('m', 5);
    expect(await versions('m')).toEqual([3, 4, 5]);
    // A key setting below the mount's does not lower it.
    await call('POST', 'secret/metadata/k', { max_versions: 2 });
    await writeN('k', 5);
    expect(await versions('k')).toEqual([3, 4, 5]);
    // Above it, it raises it.
    await call('POST', 'secret/metadata/r', { max_versions: 4 });
    await writeN('r', 6);
    expect(await versions('r')).toEqual([3, 4, 5, 6]);
  });

  it('lowering max_versions prunes nothing until the next data write, which drops all the excess at once', async () => {
    await writeN('p', 6);
    await call('POST', 'secret/metadata/p', { max_versions: 2 });
    expect(await versions('p')).toEqual([1, 2, 3, 4, 5, 6]);
    await writeN('p', 1);
    expect(await versions('p')).toEqual([6, 7]);
    expect((await call('GET', 'secret/metadata/p')).body.data?.oldest_version).toBe(6);
  });

  it('a metadata write with no fields writes nothing', async () => {
    expect((await call('POST', 'secret/metadata/none', {})).status).toBe(204);
    expect((await call('GET', 'secret/metadata/none')).status).toBe(404);
  });

  it('cas_required false on a key under a cas_required mount is taken with a warning', async () => {
    await call('POST', 'secret/config', { cas_required: true });
    const r = await call('POST', 'secret/metadata/w', { cas_required: false });
    expect(r.status).toBe(200);
    expect(r.body.warnings).toEqual(['"cas_required" set to false, but is mandated by backend config. This value will be ignored.']);
    expect((await put('w', { v: 1 })).status).toBe(400);
  });
});

describe('KV v2 delete_version_after (delete_version_after.go deletionTime)', () => {
  const hour = 3600_000;

  it('schedules deletion_time at created + the minimum non-zero of mount and key; after it a read is a deleted version', async () => {
    await call('POST', 'secret/config', { delete_version_after: '2h' });
    const w = await put('a', { v: 1 });
    expect(w.body.data?.deletion_time).toBe('2026-01-01T02:00:00.000Z');
    await call('POST', 'secret/metadata/b', { delete_version_after: '1h' });
    expect((await put('b', { v: 1 })).body.data?.deletion_time).toBe('2026-01-01T01:00:00.000Z');
    await call('POST', 'secret/metadata/c', { delete_version_after: '3h' });
    expect((await put('c', { v: 1 })).body.data?.deletion_time).toBe('2026-01-01T02:00:00.000Z');

    clock.now += hour - 1;
    expect((await call('GET', 'secret/data/b')).status).toBe(200);
    clock.now += 1;
    const r = await call('GET', 'secret/data/b');
    expect(r.status).toBe(404);
    expect(r.body.data?.data).toBeNull();
    expect(r.body.data?.metadata?.deletion_time).toBe('2026-01-01T01:00:00.000Z');
    expect((await call('GET', 'secret/data/a')).status).toBe(200);
    clock.now += hour;
    expect((await call('GET', 'secret/data/a')).status).toBe(404);
  });

  it('the key setting alone applies when the mount has none; "0s" on the mount clears it, -1s disables it', async () => {
    await call('POST', 'secret/metadata/k', { delete_version_after: '30m' });
    expect((await put('k', { v: 1 })).body.data?.deletion_time).toBe('2026-01-01T00:30:00.000Z');
    expect((await call('GET', 'secret/metadata/k')).body.data?.delete_version_after).toBe('30m0s');
    await call('POST', 'secret/config', { delete_version_after: '-1s' });
    expect((await put('k', { v: 2 })).body.data?.deletion_time).toBe('');
    await call('POST', 'secret/config', { delete_version_after: '0s' });
    expect((await put('k', { v: 3 })).body.data?.deletion_time).toBe('2026-01-01T00:30:00.000Z');
    expect((await call('POST', 'secret/metadata/k', { delete_version_after: '-1s' })).status).toBe(400);
  });

  it('soft delete keeps an already passed deletion_time; undelete schedules a new one from now', async () => {
    vault.setKvConfig('secret', { deleteVersionAfter: 3600 });
    await put('u', { v: 1 });
    clock.now += 2 * hour;
    await call('POST', 'secret/delete/u', { versions: [1] });
    expect((await call('GET', 'secret/metadata/u')).body.data?.versions?.['1']?.deletion_time).toBe('2026-01-01T01:00:00.000Z');
    await call('POST', 'secret/undelete/u', { versions: [1] });
    const r = await call('GET', 'secret/data/u');
    expect(r.status).toBe(200);
    expect(r.body.data?.metadata?.deletion_time).toBe('2026-01-01T03:00:00.000Z');
    expect((await call('POST', 'secret/undelete/u', { versions: [] })).body.errors).toEqual(['No version number provided']);
  });
});

describe('paths with no mount (openbao request_handling.go CheckToken, routing/router.go)', () => {
  it('a token whose policy does not grant the path is refused first: 403 permission denied', async () => {
    const t = await policyToken('path "secret/data/*" { capabilities = ["read", "create", "update"] }');
    for (const [method, path] of [
      ['GET', 'nomount/data/x'],
      ['POST', 'nomount/data/x'],
      ['LIST', 'nomount/metadata'],
    ] as const) {
      const r = await call(
        method === 'LIST' ? 'GET' : method,
        method === 'LIST' ? `${path}?list=true` : path,
        method === 'POST' ? { data: {} } : undefined,
        {
          token: t,
        },
      );
      expect(r.status).toBe(403);
      expect(r.body.errors).toEqual(['1 error occurred:\n\t* permission denied\n\n']);
    }
  });

  it('root (or a token allowed the path) gets the router answer: 404 no handler for route', async () => {
    const r = await call('GET', 'nomount/data/x');
    expect(r.status).toBe(404);
    expect(r.body.errors).toEqual(['no handler for route "nomount/data/x". route entry not found.']);
    const t = await policyToken('path "nomount/*" { capabilities = ["update"] }');
    expect((await call('POST', 'nomount/data/x', { data: {} }, { token: t })).status).toBe(404);
  });

  it('the mount preflight answers 403 for no mount and (with preflightChecksAccess) for a mount the token cannot use', async () => {
    const msg = (p: string) => [`preflight capability check returned 403, please ensure client's policies grant access to path "${p}"`];
    const none = await call('GET', 'sys/internal/ui/mounts/nomount');
    expect(none.status).toBe(403);
    expect(none.body.errors).toEqual(msg('nomount/'));
    expect((await call('GET', 'sys/internal/ui/mounts/secret')).body.data).toMatchObject({
      type: 'kv',
      path: 'secret/',
      options: { version: '2' },
    });
    await vault.close();
    vault = await FakeVault.start({ now: () => clock.now, preflightChecksAccess: true });
    const other = await policyToken('path "kv/data/*" { capabilities = ["read"] }');
    const denied = await call('GET', 'sys/internal/ui/mounts/secret', undefined, { token: other });
    expect(denied.status).toBe(403);
    expect(denied.body.errors).toEqual(msg('secret/'));
    const deep = await policyToken('path "secret/data/keyctl/bots/alpha/*" { capabilities = ["read"] }');
    expect((await call('GET', 'sys/internal/ui/mounts/secret', undefined, { token: deep })).status).toBe(200);
  });

  it('by default any valid token may ask about an existing mount (what older tests rely on)', async () => {
    const other = await policyToken('path "kv/data/*" { capabilities = ["read"] }');
    expect((await call('GET', 'sys/internal/ui/mounts/secret', undefined, { token: other })).status).toBe(200);
  });
});

describe('AppRole (openbao builtin/credential/approle)', () => {
  const role = (name: string, settings: Record<string, unknown> = {}) =>
    call('POST', `auth/approle/role/${name}`, { token_policies: ['bot'], ...settings });
  const roleId = async (name: string) => String((await call('GET', `auth/approle/role/${name}/role-id`)).body.data?.role_id);
  const secretId = async (name: string, body: Record<string, unknown> = {}) => {
    const r = await call('POST', `auth/approle/role/${name}/secret-id`, body);
    expect(r.status).toBe(200);
    return String(r.body.data?.secret_id);
  };
  const login = async (name: string, secret: string) =>
    call('POST', 'auth/approle/login', { role_id: await roleId(name), secret_id: secret }, { token: null });

  it('a secret id for a missing role is a 404 "role does not exist"; its role-id a 404 with no errors', async () => {
    const r = await call('POST', 'auth/approle/role/ghost/secret-id', {});
    expect(r.status).toBe(404);
    expect(r.body.errors).toEqual(['role "ghost" does not exist']);
    const id = await call('GET', 'auth/approle/role/ghost/role-id');
    expect(id.status).toBe(404);
    expect(id.body.errors).toEqual([]);
  });

  it("the role's secret_id_bound_cidrs refuse a login from outside them (400) and let one from inside in", async () => {
    await role('far', { secret_id_bound_cidrs: ['10.0.0.0/8'] });
    const out = await login('far', await secretId('far'));
    expect(out.status).toBe(400);
    expect(out.body.errors).toEqual(['source address "127.0.0.1" unauthorized by CIDR restrictions on the role: %!w(<nil>)']);
    await role('near', { secret_id_bound_cidrs: '127.0.0.1/32, 10.0.0.0/8' });
    expect((await login('near', await secretId('near'))).status).toBe(200);
    // The deprecated name is the same setting.
    await role('old', { bound_cidr_list: ['192.168.0.0/16'] });
    expect((await login('old', await secretId('old'))).status).toBe(400);
    expect((await role('broken', { secret_id_bound_cidrs: ['127.0.0.1'] })).status).toBe(500);
  });

  it("a secret id's cidr_list refuses a login from outside it, and a refused login uses nothing up", async () => {
    await role('r');
    const unlimited = await secretId('r', { cidr_list: ['10.0.0.0/8'] });
    const out = await login('r', unlimited);
    expect(out.status).toBe(400);
    expect(out.body.errors).toEqual(['source address "127.0.0.1" unauthorized through CIDR restrictions on the secret ID']);
    const once = await secretId('r', { cidr_list: ['10.0.0.0/8'], num_uses: 1 });
    expect((await login('r', once)).body.errors).toEqual([
      'source address "127.0.0.1" unauthorized by CIDR restrictions on the secret ID: %!w(<nil>)',
    ]);
    const here = await secretId('r', { cidr_list: '127.0.0.0/8', num_uses: 1 });
    expect((await login('r', here)).status).toBe(200);
    expect((await login('r', here)).status).toBe(400);
  });

  it("a secret id's CIDRs must lie within the role's (500, validation.go verifyCIDRRoleSecretIDSubset)", async () => {
    await role('sub', { secret_id_bound_cidrs: ['10.0.0.0/8'] });
    const r = await call('POST', 'auth/approle/role/sub/secret-id', { cidr_list: ['192.168.1.0/24'] });
    expect(r.status).toBe(500);
    expect(r.body.errors?.[0]).toContain('failed to verify subset relationship between CIDR blocks on the role ["10.0.0.0/8"]');
    expect((await call('POST', 'auth/approle/role/sub/secret-id', { cidr_list: ['10.1.0.0/16'] })).status).toBe(200);
  });

  it('a token bound to other addresses is refused (403 permission denied); one bound here works', async () => {
    await role('tb', { token_bound_cidrs: ['10.0.0.0/8'] });
    const far = await login('tb', await secretId('tb'));
    expect(far.status).toBe(200);
    const farToken = String(far.body.auth?.client_token);
    const refused = await call('GET', 'auth/token/lookup-self', undefined, { token: farToken });
    expect(refused.status).toBe(403);
    expect(refused.body.errors).toEqual(['1 error occurred:\n\t* permission denied\n\n']);
    // The secret id's token_bound_cidrs win over the role's.
    await role('tb2', { token_bound_cidrs: ['127.0.0.1', '10.0.0.0/8'] });
    const near = await login('tb2', await secretId('tb2', { token_bound_cidrs: ['127.0.0.1/32'] }));
    const nearToken = String(near.body.auth?.client_token);
    const ok = await call('GET', 'auth/token/lookup-self', undefined, { token: nearToken });
    expect(ok.status).toBe(200);
    expect(ok.body.data?.bound_cidrs).toEqual(['127.0.0.1/32']);
    // The test helper binds tokens too.
    const bound = vault.createToken({ policies: [], boundCidrs: ['10.0.0.0/8'] });
    expect((await call('GET', 'auth/token/lookup-self', undefined, { token: bound })).status).toBe(403);
  });

  it("a child token inherits its parent's bound CIDRs; an orphan does not", async () => {
    await call('POST', 'sys/policies/acl/mint', {
      policy: 'path "auth/token/create" { capabilities = ["update"] }\npath "auth/token/create-orphan" { capabilities = ["update"] }',
    });
    const minter = vault.createToken({ policies: ['mint'], boundCidrs: ['127.0.0.1/32'] });
    const child = await call('POST', 'auth/token/create', { policies: ['mint'] }, { token: minter });
    const childLookup = await call('GET', 'auth/token/lookup-self', undefined, { token: String(child.body.auth?.client_token) });
    expect(childLookup.body.data?.bound_cidrs).toEqual(['127.0.0.1/32']);
    const orphan = await call('POST', 'auth/token/create-orphan', { policies: ['mint'] }, { token: minter });
    const orphanLookup = await call('GET', 'auth/token/lookup-self', undefined, { token: String(orphan.body.auth?.client_token) });
    expect(orphanLookup.body.data?.bound_cidrs).toBeUndefined();
  });
});

describe('namespaces (X-Vault-Namespace; openbao namespace_store.go, policy/acl.go)', () => {
  const inNs = (ns: string, token?: string | null) => ({ headers: { 'X-Vault-Namespace': ns }, ...(token !== undefined ? { token } : {}) });

  beforeEach(() => {
    vault.createNamespace('team-a');
    vault.createNamespace('team-b');
  });

  it('each namespace has its own KV data and mount config; the root token reaches every namespace', async () => {
    expect((await call('POST', 'secret/data/k', { data: { who: 'a' } }, inNs('team-a'))).status).toBe(200);
    expect((await call('POST', 'secret/data/k', { data: { who: 'b' } }, inNs('team-b/'))).status).toBe(200);
    expect((await call('GET', 'secret/data/k', undefined, inNs('team-a'))).body.data?.data?.who).toBe('a');
    expect((await call('GET', 'secret/data/k', undefined, inNs('/team-b'))).body.data?.data?.who).toBe('b');
    expect((await call('GET', 'secret/data/k')).status).toBe(404);
    // The namespace may also lead the path.
    expect((await call('GET', 'team-a/secret/data/k')).body.data?.data?.who).toBe('a');
    await call('POST', 'secret/config', { max_versions: 2 }, inNs('team-a'));
    expect(vault.kvMountConfig('secret', 'team-a')?.maxVersions).toBe(2);
    expect(vault.kvMountConfig('secret')?.maxVersions).toBe(0);
    expect(vault.kvEntry('secret', 'k', 'team-b')?.current).toBe(1);
    // "root" is the root namespace; an unknown one is a 404.
    expect((await call('GET', 'secret/config', undefined, inNs('root'))).status).toBe(200);
    const none = await call('GET', 'secret/data/k', undefined, inNs('nope'));
    expect(none.status).toBe(404);
    expect(none.body.errors).toEqual(['namespace not found']);
  });

  it('a token from one namespace is refused (403) in another and in the root, and its policies are its own', async () => {
    const policy = 'path "secret/data/*" { capabilities = ["read", "create", "update"] }';
    expect((await call('POST', 'sys/policies/acl/bot', { policy }, inNs('team-a'))).status).toBe(204);
    const a = vault.createToken({ policies: ['bot'], namespace: 'team-a' });
    expect((await call('POST', 'secret/data/x', { data: { v: 1 } }, inNs('team-a', a))).status).toBe(200);
    const lookup = await call('GET', 'auth/token/lookup-self', undefined, inNs('team-a', a));
    expect(lookup.status).toBe(200);
    expect(lookup.body.data?.namespace_path).toBe('team-a/');
    for (const where of [inNs('team-b', a), { token: a }]) {
      const r = await call('GET', 'secret/data/x', undefined, where);
      expect(r.status).toBe(403);
      expect(r.body.errors).toEqual(['1 error occurred:\n\t* permission denied\n\n']);
      expect((await call('GET', 'auth/token/lookup-self', undefined, where)).status).toBe(403);
    }
    // A policy of that name in the root namespace grants a root token nothing in team-a.
    await call('POST', 'sys/policies/acl/bot', { policy });
    const rootBot = vault.createToken({ policies: ['bot'] });
    expect((await call('GET', 'secret/data/x', undefined, inNs('team-a', rootBot))).status).toBe(403);
    // A root-namespace policy on the namespace's paths does.
    await call('POST', 'sys/policies/acl/parent', { policy: 'path "team-a/secret/data/*" { capabilities = ["read"] }' });
    const parent = vault.createToken({ policies: ['parent'] });
    expect((await call('GET', 'secret/data/x', undefined, inNs('team-a', parent))).status).toBe(200);
  });

  it('AppRole roles and their logins are per namespace; the token belongs to the namespace it logged in to', async () => {
    await call('POST', 'auth/approle/role/bot', { token_policies: ['bot'] }, inNs('team-a'));
    expect((await call('GET', 'auth/approle/role/bot/role-id')).status).toBe(404);
    const roleId = String((await call('GET', 'auth/approle/role/bot/role-id', undefined, inNs('team-a'))).body.data?.role_id);
    const secretId = String((await call('POST', 'auth/approle/role/bot/secret-id', {}, inNs('team-a'))).body.data?.secret_id);
    const elsewhere = await call('POST', 'auth/approle/login', { role_id: roleId, secret_id: secretId }, inNs('team-b', null));
    expect(elsewhere.status).toBe(400);
    const login = await call('POST', 'auth/approle/login', { role_id: roleId, secret_id: secretId }, inNs('team-a', null));
    expect(login.status).toBe(200);
    const token = String(login.body.auth?.client_token);
    expect((await call('POST', 'auth/token/renew-self', {}, inNs('team-a', token))).status).toBe(200);
    expect((await call('POST', 'auth/token/renew-self', {}, { token })).status).toBe(403);
  });

  it('response wrapping works inside a namespace, and the header is echoed back', async () => {
    const wrapped = await call(
      'POST',
      'sys/wrapping/wrap',
      { secret: 's' },
      { headers: { 'X-Vault-Namespace': 'team-a', 'X-Vault-Wrap-TTL': '60' } },
    );
    expect(wrapped.status).toBe(200);
    const unwrapped = await call('POST', 'sys/wrapping/unwrap', {}, inNs('team-a', String(wrapped.body.wrap_info?.token)));
    expect(unwrapped.body.data).toEqual({ secret: 's' });
    const res = await fetch(`${vault.url}/v1/sys/wrapping/lookup`, {
      method: 'POST',
      headers: { 'X-Vault-Namespace': 'team-a', 'Content-Type': 'application/json' },
      body: JSON.stringify({ token: 'nope' }),
    });
    expect(res.headers.get('x-vault-namespace')).toBe('team-a');
    expect(vault.calls.at(-1)).toMatchObject({ path: 'sys/wrapping/lookup', namespace: 'team-a' });
  });
});
