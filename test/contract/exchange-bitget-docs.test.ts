/**
 * Bitget, as documented, through the adapter, real ccxt and the sandbox: the kill switch's orders and positions (spot
 * unfilled orders cancelled per symbol, futures pending orders cancelled per product type, positions flash-closed),
 * and the delete that exists only for unified accounts (https://www.bitget.com/api-doc/uta/account/sub-account/SubAccount-API-Delete):
 * on a classic account keyctl answers CAPABILITY_GAP naming the key to delete by hand, and the key is still there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skipCcxtThrottle } from '../helpers/ccxt-throttle.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { CallOptions, Credentials, ExchangeAccount, ExchangeAdapter, TradingRequest } from '../../src/exchanges/types.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';

const CLIENT_IP = '203.0.113.10';
const CALL: CallOptions = { timeoutMs: 5_000, attempts: 2, backoffMs: 10 };

describe('bitget, as documented: through the adapter, real ccxt and the sandbox', () => {
  skipCcxtThrottle();
  let sandbox: RunningSandbox;
  let adapter: ExchangeAdapter;
  let account: ExchangeAccount;
  let mainUid: string;

  beforeAll(async () => {
    sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
    adapter = await getAdapter('bitget');
    account = { name: 'bitget-main', exchange: 'bitget', baseUrl: `${sandbox.url}/bitget` };
    mainUid = (await sandbox.admin.createAccount('bitget')).uid;
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  const botKey = async (permissions: string): Promise<{ sub: string; key: Credentials }> => {
    const sub = (await sandbox.admin.createSubaccount('bitget', mainUid)).id;
    const key = (await sandbox.admin.createKey({ exchange: 'bitget', owner: sub, permissions, ips: [CLIENT_IP] })) as Credentials;
    return { sub, key };
  };

  it("lists, cancels and closes a bot's spot and futures orders and positions with its own key, and leaves others alone", async () => {
    const { sub, key } = await botKey('stor,stow,coor,cpor,coow,cpow');
    const other = await botKey('stor,stow');
    const admin = sandbox.admin;
    await admin.seedOrder({ exchange: 'bitget', owner: sub, symbol: 'BTCUSDT', side: 'buy', market: 'spot', qty: '0.01', price: '50000' });
    await admin.seedOrder({ exchange: 'bitget', owner: sub, symbol: 'ETHUSDT', side: 'sell', market: 'spot', qty: '1.5', price: '4000' });
    await admin.seedOrder({
      exchange: 'bitget',
      owner: sub,
      symbol: 'BTCUSDT',
      side: 'sell',
      market: 'linear',
      qty: '0.02',
      price: '90000',
    });
    await admin.seedOrder({ exchange: 'bitget', owner: sub, symbol: 'BTCUSD', side: 'buy', market: 'inverse', qty: '3', price: '40000' });
    await admin.seedPosition({ exchange: 'bitget', owner: sub, symbol: 'BTCUSDT', side: 'long', size: '0.5', market: 'linear' });
    await admin.seedPosition({ exchange: 'bitget', owner: sub, symbol: 'ETHUSD', side: 'short', size: '7', market: 'inverse' });
    await admin.seedOrder({
      exchange: 'bitget',
      owner: other.sub,
      symbol: 'BTCUSDT',
      side: 'buy',
      market: 'spot',
      qty: '1',
      price: '1000',
    });

    const request: TradingRequest = { ...CALL, account, key, markets: ['spot', 'linear', 'inverse'] };
    const trading = adapter.trading!;
    const orders = await trading.listOrders(request);
    expect(orders.map((o) => [o.market, o.symbol, o.side, o.qty]).sort()).toEqual(
      [
        ['inverse', 'BTCUSD', 'buy', '3'],
        ['linear', 'BTCUSDT', 'sell', '0.02'],
        ['spot', 'BTCUSDT', 'buy', '0.01'],
        ['spot', 'ETHUSDT', 'sell', '1.5'],
      ].sort(),
    );
    const positions = await trading.listPositions(request);
    expect(positions.map((p) => [p.market, p.symbol, p.side, p.size]).sort()).toEqual(
      [
        ['inverse', 'ETHUSD', 'short', '7'],
        ['linear', 'BTCUSDT', 'long', '0.5'],
      ].sort(),
    );

    await trading.cancelOrders(request, orders);
    for (const p of positions) await trading.closePosition(request, p);
    expect(await trading.listOrders(request)).toEqual([]);
    expect(await trading.listPositions(request)).toEqual([]);
    expect(await admin.listOrders({ exchange: 'bitget', owner: sub })).toEqual([]);
    expect(await admin.listPositions({ exchange: 'bitget', owner: sub })).toEqual([]);
    expect(await admin.listOrders({ exchange: 'bitget', owner: other.sub })).toHaveLength(1);
  });

  it('a key that may not trade is refused (PERMISSION_DENIED); margin orders are a gap the kill reports, never "none"', async () => {
    const { sub, key } = await botKey('stor,coor,cpor');
    await sandbox.admin.seedOrder({ exchange: 'bitget', owner: sub, symbol: 'BTCUSDT', side: 'buy', market: 'spot', qty: '1', price: '1' });
    const request: TradingRequest = { ...CALL, account, key, markets: ['spot'] };
    const orders = await adapter.trading!.listOrders(request);
    expect(orders).toHaveLength(1);
    await expect(adapter.trading!.cancelOrders(request, orders)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    await expect(adapter.trading!.listOrders({ ...request, markets: ['spot', 'margin'] })).rejects.toMatchObject({
      code: 'CAPABILITY_GAP',
    });
  });

  it('deletes a key of a unified account; on a classic account answers CAPABILITY_GAP naming the key to delete by hand', async () => {
    const unifiedMaster = (await sandbox.admin.createKey({
      exchange: 'bitget',
      owner: mainUid,
      master: true,
      permissions: 'stor,chor,chow',
      ips: [CLIENT_IP],
    })) as Credentials;
    const unified = await botKey('stor,stow');
    await adapter.deleteKey({ ...CALL, account, master: unifiedMaster, subaccount: unified.sub, apiKey: unified.key.apiKey });
    await expect(adapter.ping({ ...CALL, account, key: unified.key })).rejects.toMatchObject({ code: 'KEY_REJECTED' });

    const classicUid = (await sandbox.admin.createAccount('bitget', undefined, { accountMode: 'classic' })).uid;
    const classicMaster = (await sandbox.admin.createKey({
      exchange: 'bitget',
      owner: classicUid,
      master: true,
      permissions: 'stor,chor,chow',
      ips: [CLIENT_IP],
    })) as Credentials;
    const sub = (await sandbox.admin.createSubaccount('bitget', classicUid)).id;
    const key = (await sandbox.admin.createKey({
      exchange: 'bitget',
      owner: sub,
      permissions: 'stor,stow',
      ips: [CLIENT_IP],
    })) as Credentials;
    const err = (await adapter
      .deleteKey({ ...CALL, account, master: classicMaster, subaccount: sub, apiKey: key.apiKey, label: 'keyctl-0123456789ab' })
      .catch((e: unknown) => e)) as { code?: string; message?: string; hint?: string; details?: Record<string, unknown> };
    expect(err).toMatchObject({
      code: 'CAPABILITY_GAP',
      details: { exchange: 'bitget', fingerprint: fingerprint(key.apiKey), subaccount: sub, exchangeCode: '40054' },
    });
    expect(err.message).toContain(`bitget refused to delete the key ${fingerprint(key.apiKey)} (label keyctl-0123456789ab)`);
    expect(err.hint).toContain(`Delete the key ${fingerprint(key.apiKey)} (label keyctl-0123456789ab) in Bitget's web UI`);
    // Nothing was deleted: the key still works.
    await expect(adapter.ping({ ...CALL, account, key })).resolves.toBeUndefined();
  });
});
