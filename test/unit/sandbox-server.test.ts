import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SandboxAdmin, SandboxAdminError } from '../../src/sandbox/admin-client.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { call, client } from './sandbox-helpers.js';

describe('sandbox server', () => {
  const running: RunningSandbox[] = [];
  const dirs: string[] = [];
  const start = async (opts: Parameters<typeof startSandbox>[0]) => {
    const sb = await startSandbox(opts);
    running.push(sb);
    return sb;
  };
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.close()));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('listens on 127.0.0.1 and keeps the admin endpoint off by default (404)', async () => {
    const sb = await start({});
    expect(sb.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${sb.url}/_admin/keys`);
    expect(res.status).toBe(404);
    await expect(new SandboxAdmin(sb.url).createAccount('bybit', '1')).rejects.toBeInstanceOf(SandboxAdminError);
    expect((await fetch(`${sb.url}/nope/v5/user/query-api`)).status).toBe(404);
  });

  it('validates admin input and never lists secrets', async () => {
    const sb = await start({ admin: true });
    await expect(sb.admin.createKey({ exchange: 'bybit', owner: '42', permissions: 'Spot' })).rejects.toThrow(
      /no main account or sub-account 42/,
    );
    // curl -d sends JSON labelled as a form: the admin API reads JSON regardless.
    const curlish = await fetch(`${sb.url}/_admin/accounts`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: '{"exchange":"bybit","uid":"42"}',
    });
    expect(await curlish.json()).toEqual({ exchange: 'bybit', uid: '42' });
    await expect(sb.admin.createKey({ exchange: 'bybit', owner: '42', master: true, permissions: 'Spot' })).rejects.toThrow(
      /object of arrays/,
    );
    await expect(sb.admin.createKey({ exchange: 'bybit', owner: '42', master: true, permissions: {}, ips: ['not-an-ip'] })).rejects.toThrow(
      /not an IP/,
    );
    await expect(sb.admin.addFault({ exchange: 'bybit', path: '/x', kind: 'explode' as never })).rejects.toThrow(/kind must be/);
    await expect(sb.admin.setClientIp('localhost')).rejects.toThrow(/ip must be/);
    const k = await sb.admin.createKey({ exchange: 'bybit', owner: '42', master: true, permissions: { Spot: ['SpotTrade'] } });
    const listed = await sb.admin.listKeys({ exchange: 'bybit' });
    expect(listed).toHaveLength(1);
    expect(JSON.stringify(listed)).not.toContain(k.secret);
    expect(listed[0]).toMatchObject({ apiKey: k.apiKey, owner: '42', master: true, ips: [], expiresAt: null });
  });

  it('saves state atomically with mode 0600 and loads it back; keys keep working across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyctl-sandbox-'));
    dirs.push(dir);
    const file = join(dir, 'state.json');
    const first = await start({ admin: true, stateFile: file, clientIp: '10.0.0.5' });
    await first.admin.createAccount('okx', '7001');
    await first.admin.createSubaccount('okx', '7001', 'fakebot');
    const k = await first.admin.createKey({
      exchange: 'okx',
      owner: 'fakebot',
      permissions: 'read_only,trade',
      ips: ['10.0.0.5'],
      label: 'FAKE-bot',
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ version: 1, clientIp: '10.0.0.5' });
    await first.close();

    const second = await start({ admin: true, stateFile: file });
    expect(second.state.clientIp).toBe('10.0.0.5');
    const res = await call(client('okx', second.url, k), 'privateGetAccountConfig');
    expect((res.data as Array<Record<string, unknown>>)[0]).toMatchObject({ label: 'FAKE-bot', perm: 'read_only,trade' });
  });

  it('treats requests as coming from the configured client address', async () => {
    const sb = await start({ admin: true, clientIp: '198.51.100.7' });
    await sb.admin.createAccount('bybit', '42');
    const k = await sb.admin.createKey({
      exchange: 'bybit',
      owner: '42',
      master: true,
      permissions: { Spot: ['SpotTrade'] },
      ips: ['198.51.100.7'],
    });
    expect((await call(client('bybit', sb.url, k), 'privateGetV5UserQueryApi')).retCode).toBe(0);
    await sb.admin.setClientIp('127.0.0.1');
    await expect(call(client('bybit', sb.url, k), 'privateGetV5UserQueryApi')).rejects.toThrow(/10010/);
  });

  it('adds latency, limits a fault to N hits, and clears faults', async () => {
    const sb = await start({ admin: true });
    await sb.admin.createAccount('bybit', '42');
    const k = await sb.admin.createKey({ exchange: 'bybit', owner: '42', master: true, permissions: { Spot: ['SpotTrade'] } });
    const ex = client('bybit', sb.url, k);
    await sb.admin.addFault({ exchange: 'bybit', path: '/v5/user/query-api', kind: 'latency', ms: 300, times: 1 });
    const t0 = Date.now();
    await call(ex, 'privateGetV5UserQueryApi');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    await sb.admin.addFault({ exchange: 'bybit', method: 'POST', path: '/v5/user/query-api', kind: 'ratelimit' });
    expect((await call(ex, 'privateGetV5UserQueryApi')).retCode).toBe(0); // method does not match
    await sb.admin.addFault({ exchange: 'bybit', path: '*', kind: 'ratelimit', times: 2 });
    await expect(call(ex, 'privateGetV5UserQueryApi')).rejects.toThrow(/10006/);
    await sb.admin.clearFaults();
    expect((await call(ex, 'privateGetV5UserQueryApi')).retCode).toBe(0);
  });

  /** A bybit master key, a sub-account and a ccxt client of the master, for the late-fault and propagation cases. */
  async function bybitMaster(sb: RunningSandbox) {
    await sb.admin.createAccount('bybit', '42');
    const sub = await sb.admin.createSubaccount('bybit', '42');
    const k = await sb.admin.createKey({
      exchange: 'bybit',
      owner: '42',
      master: true,
      permissions: { Wallet: ['AccountTransfer'] },
      ips: ['127.0.0.1'],
    });
    const ex = client('bybit', sb.url, k, { timeout: 1_000 });
    const create = () =>
      call(ex, 'privatePostV5UserCreateSubApi', {
        subuid: Number(sub.id),
        readOnly: 0,
        permissions: { Spot: ['SpotTrade'] },
        ips: '127.0.0.1',
        note: 'keyctl-late',
      });
    const subKeys = () => sb.state.keys({ exchange: 'bybit', owner: sub.id });
    return { ex, create, subKeys };
  }

  it('after-5xx and after-timeout faults let the endpoint do its work, then fail the answer', async () => {
    const sb = await start({ admin: true });
    const { create, subKeys } = await bybitMaster(sb);
    await sb.admin.addFault({ exchange: 'bybit', method: 'POST', path: '/v5/user/create-sub-api', kind: 'after-5xx', times: 1 });
    await expect(create()).rejects.toThrow(/502|Bad Gateway/);
    expect(subKeys(), 'the key was created although the answer failed').toHaveLength(1);
    await sb.admin.addFault({ exchange: 'bybit', method: 'POST', path: '/v5/user/create-sub-api', kind: 'after-timeout', times: 1 });
    await expect(create()).rejects.toThrow(/timed out|RequestTimeout/i);
    expect(subKeys(), 'the key was created although no answer came').toHaveLength(2);
    expect((await create()).retCode, 'the faults were used up').toBe(0);
    expect(subKeys()).toHaveLength(3);
  });

  it('propagation: a key created through the API authenticates only after the delay; seeded keys are not delayed', async () => {
    const sb = await start({ admin: true });
    const { create } = await bybitMaster(sb);
    await sb.admin.addFault({ exchange: 'bybit', path: '*', kind: 'propagation', ms: 600 });
    const made = (await create()).result as { apiKey: string; secret: string };
    const fresh = client('bybit', sb.url, made);
    await expect(call(fresh, 'privateGetV5UserQueryApi'), 'unknown while propagating').rejects.toThrow(/10003/);
    const seeded = await sb.admin.createKey({ exchange: 'bybit', owner: '42', master: true, permissions: { Spot: ['SpotTrade'] } });
    expect((await call(client('bybit', sb.url, seeded), 'privateGetV5UserQueryApi')).retCode, 'seeded: usable at once').toBe(0);
    await new Promise((r) => setTimeout(r, 650));
    expect((await call(fresh, 'privateGetV5UserQueryApi')).retCode).toBe(0);
  });

  it('propagation: an allowlist change is enforced only after the delay', async () => {
    const sb = await start({ admin: true });
    await sb.admin.createAccount('bybit', '42');
    const k = await sb.admin.createKey({
      exchange: 'bybit',
      owner: '42',
      master: true,
      permissions: { Spot: ['SpotTrade'] },
      ips: ['127.0.0.1'],
    });
    const ex = client('bybit', sb.url, k);
    await sb.admin.addFault({ exchange: 'bybit', path: '*', kind: 'propagation', ms: 600 });
    await sb.admin.tamper(k.apiKey, { ips: ['198.51.100.7'] });
    expect((await call(ex, 'privateGetV5UserQueryApi')).retCode, 'the old allowlist still applies').toBe(0);
    await new Promise((r) => setTimeout(r, 650));
    await expect(call(ex, 'privateGetV5UserQueryApi')).rejects.toThrow(/10010/);
  });

  it('refuses a propagation fault without a delay or limited to one path', async () => {
    const sb = await start({ admin: true });
    await expect(sb.admin.addFault({ exchange: 'bybit', path: '*', kind: 'propagation' })).rejects.toThrow(/needs ms/);
    await expect(sb.admin.addFault({ exchange: 'bybit', path: '/v5/user/query-api', kind: 'propagation', ms: 5 })).rejects.toThrow(
      /every key/,
    );
  });
});
