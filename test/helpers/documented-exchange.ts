/**
 * The world of an "as documented" test file (test/contract/exchange-*-docs.test.ts) for an exchange that rotates keys
 * through a master key: the sandbox acting as `exchange` (admin API on, calls from DOCS_CLIENT_IP), keyctl's real
 * adapter over real ccxt pointed at it, a main account whose master key has `masterPermissions` and is IP-locked to
 * that address, and a fresh sub-account for each test. Call it inside the describe block: its fields are set once its
 * hooks have run (the file's own hooks, registered after it, run after them). ccxt's own call spacing is skipped.
 */
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { skipCcxtThrottle } from './ccxt-throttle.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { CallOptions, Credentials, ExchangeAccount, ExchangeAdapter } from '../../src/exchanges/types.js';
import type { SeedKeyInput } from '../../src/sandbox/admin-client.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { SandboxExchange } from '../../src/sandbox/state.js';

export const DOCS_CLIENT_IP = '203.0.113.10';
export const DOCS_CALL: CallOptions = { timeoutMs: 5_000, attempts: 2, backoffMs: 10 };

export interface DocumentedExchange {
  readonly sandbox: RunningSandbox;
  readonly adapter: ExchangeAdapter;
  readonly account: ExchangeAccount;
  readonly mainUid: string;
  readonly master: Credentials;
  /** This test's sub-account. */
  readonly sub: string;
  /** The call options of a master-key request on this test's sub-account. */
  masterCall(): CallOptions & { account: ExchangeAccount; master: Credentials; subaccount: string };
}

export function documentedExchange(exchange: SandboxExchange, masterPermissions: SeedKeyInput['permissions']): DocumentedExchange {
  skipCcxtThrottle();
  const w = {
    masterCall: () => ({ ...DOCS_CALL, account: w.account, master: w.master, subaccount: w.sub }),
  } as { -readonly [K in keyof DocumentedExchange]: DocumentedExchange[K] };
  beforeAll(async () => {
    w.sandbox = await startSandbox({ admin: true, clientIp: DOCS_CLIENT_IP });
    w.adapter = await getAdapter(exchange);
    w.account = { name: `${exchange}-main`, exchange, baseUrl: `${w.sandbox.url}/${exchange}` };
    w.mainUid = (await w.sandbox.admin.createAccount(exchange)).uid;
    w.master = (await w.sandbox.admin.createKey({
      exchange,
      owner: w.mainUid,
      master: true,
      permissions: masterPermissions,
      ips: [DOCS_CLIENT_IP],
      label: 'keyctl master',
    })) as Credentials;
  });
  afterAll(async () => {
    await w.sandbox?.close();
  });
  beforeEach(async () => {
    w.sub = (await w.sandbox.admin.createSubaccount(exchange, w.mainUid)).id;
  });
  return w;
}
