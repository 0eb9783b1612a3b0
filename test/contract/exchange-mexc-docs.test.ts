/**
 * MEXC as its documentation has it, through the real adapter, real ccxt 4.5.84 and the sandbox: at most 30 keys per
 * sub-account (730705, https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints), the sub-key permission list without
 * withdrawal, a master key that may not list sub-accounts, and a bot key that is only described through the master.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { skipCcxtThrottle } from '../helpers/ccxt-throttle.js';
import { evaluateKey } from '../../src/domain/policy.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { CallOptions, Credentials, ExchangeAccount, ExchangeAdapter } from '../../src/exchanges/types.js';
import { MAX_KEYS_PER_SUBACCOUNT } from '../../src/exchanges/mexc/sandbox.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { caught } from '../helpers/caught.js';

const CLIENT_IP = '203.0.113.10';
const CALL: CallOptions = { timeoutMs: 5_000, attempts: 2, backoffMs: 10 };

describe('mexc, as documented: through the adapter, real ccxt and the sandbox', () => {
  skipCcxtThrottle();
  let sandbox: RunningSandbox;
  let adapter: ExchangeAdapter;
  let account: ExchangeAccount;
  let mainUid: string;
  let master: Credentials;
  let sub: string;

  beforeAll(async () => {
    sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
    adapter = await getAdapter('mexc');
    account = { name: 'mexc-main', exchange: 'mexc', baseUrl: `${sandbox.url}/mexc` };
    mainUid = (await sandbox.admin.createAccount('mexc')).uid;
    master = (await sandbox.admin.createKey({
      exchange: 'mexc',
      owner: mainUid,
      master: true,
      permissions: 'SPOT_ACCOUNT_READ',
      ips: [CLIENT_IP],
      label: 'keyctl master',
    })) as Credentials;
  });
  afterAll(async () => {
    await sandbox?.close();
  });
  beforeEach(async () => {
    sub = (await sandbox.admin.createSubaccount('mexc', mainUid)).id;
  });

  const create = (label: string) =>
    adapter.createKey({ ...CALL, account, master, subaccount: sub, scopes: ['spot:trade'], ips: [CLIENT_IP], label });

  it(`refuses the ${MAX_KEYS_PER_SUBACCOUNT + 1}st key of a sub-account with MEXC's 730705, and creates nothing`, async () => {
    for (let i = 0; i < MAX_KEYS_PER_SUBACCOUNT; i += 1) await create(`keyctl-rot-${i}`);
    const err = await caught(create('keyctl-rot-full'));
    expect(err).toMatchObject({ code: 'EXCHANGE_REFUSED', details: { exchangeCode: '730705' } });
    const listed = await adapter.listKeys({ ...CALL, account, master, subaccount: sub });
    expect(listed).toHaveLength(MAX_KEYS_PER_SUBACCOUNT);
    expect(listed.map((k) => k.label)).not.toContain('keyctl-rot-full');
  });

  it('creates a key with exactly the permissions the slot declares, never withdrawal', async () => {
    const created = await adapter.createKey({
      ...CALL,
      account,
      master,
      subaccount: sub,
      scopes: ['read', 'spot:trade', 'futures:trade'],
      ips: [CLIENT_IP],
      label: 'keyctl-rot-perm',
    });
    const seen = (await sandbox.admin.listKeys({ exchange: 'mexc', owner: sub })).find((k) => k.apiKey === created.apiKey);
    expect(seen?.permissions).toBe(
      'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE,CONTRACT_ACCOUNT_READ,CONTRACT_DEAL_READ,CONTRACT_DEAL_WRITE',
    );
    const inspection = await adapter.inspect({ ...CALL, account, key: created, role: 'bot', subaccount: sub, master });
    expect(inspection.scopes).toEqual(['read', 'spot:trade', 'futures:trade']);
    expect(inspection.label).toBe('keyctl-rot-perm');
  });

  it('a master key that may not list sub-accounts lacks keys:manage (MISSING_SCOPE)', async () => {
    const weak = (await sandbox.admin.createKey({
      exchange: 'mexc',
      owner: mainUid,
      master: true,
      permissions: 'SPOT_DEAL_READ',
      ips: [CLIENT_IP],
    })) as Credentials;
    // Without SPOT_ACCOUNT_READ even the account call is refused: PERMISSION_DENIED (700007), never a pass.
    expect(await caught(adapter.inspect({ ...CALL, account, key: weak, role: 'master' }))).toMatchObject({
      code: 'PERMISSION_DENIED',
      details: { exchangeCode: '700007' },
    });
    // A sub-account key in the master's place reads the account, but may not list sub-accounts.
    const subKey = (await sandbox.admin.createKey({
      exchange: 'mexc',
      owner: sub,
      permissions: 'SPOT_ACCOUNT_READ',
      ips: [CLIENT_IP],
    })) as Credentials;
    const inspection = await adapter.inspect({ ...CALL, account, key: subKey, role: 'master' });
    expect(
      evaluateKey(inspection, { kind: 'master', exchange: 'mexc', masterScopes: adapter.capabilities.masterScopes }).map((v) => v.code),
    ).toEqual(['UNVERIFIABLE', 'MISSING_SCOPE']);
  });

  it('describes a bot key only through the master key (MASTER_KEY_REQUIRED without it)', async () => {
    const created = await create('keyctl-rot-nomaster');
    expect(await caught(adapter.inspect({ ...CALL, account, key: created, role: 'bot', subaccount: sub }))).toMatchObject({
      code: 'MASTER_KEY_REQUIRED',
    });
  });
});
