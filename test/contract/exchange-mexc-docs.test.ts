/**
 * MEXC as its documentation has it, through the real adapter, real ccxt 4.5.84 and the sandbox: at most 30 keys per
 * sub-account (730705, https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints), the sub-key permission list without
 * withdrawal, a master key that may not list sub-accounts, and a bot key that is only described through the master.
 */
import { describe, expect, it } from 'vitest';
import { documentedExchange, DOCS_CALL as CALL, DOCS_CLIENT_IP as CLIENT_IP } from '../helpers/documented-exchange.js';
import { evaluateKey } from '../../src/domain/policy.js';
import type { Credentials } from '../../src/exchanges/types.js';
import { MAX_KEYS_PER_SUBACCOUNT } from '../../src/exchanges/mexc/sandbox.js';
import { caught } from '../helpers/caught.js';

describe('mexc, as documented: through the adapter, real ccxt and the sandbox', () => {
  const ex = documentedExchange('mexc', 'SPOT_ACCOUNT_READ');

  const create = (label: string) => ex.adapter.createKey({ ...ex.masterCall(), scopes: ['spot:trade'], ips: [CLIENT_IP], label });

  it(`refuses the ${MAX_KEYS_PER_SUBACCOUNT + 1}st key of a sub-account with MEXC's 730705, and creates nothing`, async () => {
    for (let i = 0; i < MAX_KEYS_PER_SUBACCOUNT; i += 1) await create(`keyctl-rot-${i}`);
    const err = await caught(create('keyctl-rot-full'));
    expect(err).toMatchObject({ code: 'EXCHANGE_REFUSED', details: { exchangeCode: '730705' } });
    const listed = await ex.adapter.listKeys(ex.masterCall());
    expect(listed).toHaveLength(MAX_KEYS_PER_SUBACCOUNT);
    expect(listed.map((k) => k.label)).not.toContain('keyctl-rot-full');
  });

  it('creates a key with exactly the permissions the slot declares, never withdrawal', async () => {
    const created = await ex.adapter.createKey({
      ...ex.masterCall(),
      scopes: ['read', 'spot:trade', 'futures:trade'],
      ips: [CLIENT_IP],
      label: 'keyctl-rot-perm',
    });
    const seen = (await ex.sandbox.admin.listKeys({ exchange: 'mexc', owner: ex.sub })).find((k) => k.apiKey === created.apiKey);
    expect(seen?.permissions).toBe(
      'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE,CONTRACT_ACCOUNT_READ,CONTRACT_DEAL_READ,CONTRACT_DEAL_WRITE',
    );
    const inspection = await ex.adapter.inspect({
      ...CALL,
      account: ex.account,
      key: created,
      role: 'bot',
      subaccount: ex.sub,
      master: ex.master,
    });
    expect(inspection.scopes).toEqual(['read', 'spot:trade', 'futures:trade']);
    expect(inspection.label).toBe('keyctl-rot-perm');
  });

  it('a master key that may not list sub-accounts lacks keys:manage (MISSING_SCOPE)', async () => {
    const weak = (await ex.sandbox.admin.createKey({
      exchange: 'mexc',
      owner: ex.mainUid,
      master: true,
      permissions: 'SPOT_DEAL_READ',
      ips: [CLIENT_IP],
    })) as Credentials;
    // Without SPOT_ACCOUNT_READ even the account call is refused: PERMISSION_DENIED (700007), never a pass.
    expect(await caught(ex.adapter.inspect({ ...CALL, account: ex.account, key: weak, role: 'master' }))).toMatchObject({
      code: 'PERMISSION_DENIED',
      details: { exchangeCode: '700007' },
    });
    // A sub-account key in the master's place reads the account, but may not list sub-accounts.
    const subKey = (await ex.sandbox.admin.createKey({
      exchange: 'mexc',
      owner: ex.sub,
      permissions: 'SPOT_ACCOUNT_READ',
      ips: [CLIENT_IP],
    })) as Credentials;
    const inspection = await ex.adapter.inspect({ ...CALL, account: ex.account, key: subKey, role: 'master' });
    expect(
      evaluateKey(inspection, { kind: 'master', exchange: 'mexc', masterScopes: ex.adapter.capabilities.masterScopes }).map((v) => v.code),
    ).toEqual(['UNVERIFIABLE', 'MISSING_SCOPE']);
  });

  it('describes a bot key only through the master key (MASTER_KEY_REQUIRED without it)', async () => {
    const created = await create('keyctl-rot-nomaster');
    expect(await caught(ex.adapter.inspect({ ...CALL, account: ex.account, key: created, role: 'bot', subaccount: ex.sub }))).toMatchObject(
      {
        code: 'MASTER_KEY_REQUIRED',
      },
    );
  });
});
