/** One ccxt instance per account, key and timeout in a process (src/exchanges/ccxt.ts createClient). Keys are fake. */
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, forgetClients, keptClients } from '../../src/exchanges/ccxt.js';

const account = { name: 'main', exchange: 'bybit', baseUrl: 'http://127.0.0.1:9/bybit' };
const key = { apiKey: 'FAKE-key-0001', secret: 'FAKE-secret-0001' };

afterEach(() => forgetClients());

describe('createClient', () => {
  it('builds one ccxt instance per account, key and timeout, and reuses it', async () => {
    forgetClients();
    await createClient(account, key);
    await createClient(account, key);
    await Promise.all([createClient(account, key), createClient(account, key)]);
    expect(keptClients()).toBe(1);
    await createClient(account, { ...key, secret: 'FAKE-secret-0002' });
    await createClient(account, key, { timeoutMs: 1234 });
    await createClient({ ...account, name: 'other' }, key);
    await createClient({ ...account, baseUrl: 'http://127.0.0.1:10/bybit' }, key);
    expect(keptClients()).toBe(5);
    forgetClients();
    expect(keptClients()).toBe(0);
  });

  it('keeps nothing for an exchange ccxt does not know', async () => {
    forgetClients();
    await expect(createClient({ exchange: 'nosuchexchange' }, key)).rejects.toMatchObject({ code: 'UNKNOWN_EXCHANGE' });
    expect(keptClients()).toBe(0);
  });
});
