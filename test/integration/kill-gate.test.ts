/**
 * The kill switch on Gate, as an operator uses it, against the exchange sandbox: `keyctl kill alpha --flatten` cancels
 * alpha's spot, margin and perpetual-futures orders and closes its futures position with its own key, revokes its keys
 * and leaves another sub-account's order alone; after `resume` and a rotation, `--read-only` keeps the new key,
 * read-only (Gate's PUT on the sub-account key, confirmed by inspecting it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_IP, makeWorld, type World } from '../helpers/world.js';

let w: World;

beforeAll(async () => {
  w = await makeWorld({ exchange: 'gate' });
  // arb1 trades spot, margin and perpetual futures: declare it, and give it a key that may.
  const file = join(w.dir, 'keyctl.yaml');
  writeFileSync(
    file,
    readFileSync(file, 'utf8').replace(
      'scopes: [read, spot:trade, margin:trade]',
      'scopes: [read, spot:trade, margin:trade, futures:trade]',
    ),
  );
  const key = await w.sandbox.admin.createKey({
    exchange: 'gate',
    owner: w.subs.arb1!,
    permissions: { spot: false, futures: false },
    ips: [CLIENT_IP],
  });
  const imported = await w.cli(['key', 'import', 'alpha/arb1'], { stdin: JSON.stringify(key) });
  expect(imported.code, imported.stderr).toBe(0);
}, 60_000);
afterAll(async () => w?.close());

describe('keyctl kill on Gate', () => {
  it('--flatten cancels spot, margin and futures orders, closes the position, revokes the keys; --read-only later keeps a key, read-only', async () => {
    const admin = w.sandbox.admin;
    const arb1 = w.subs.arb1!;
    const other = (await admin.createSubaccount('gate', w.mainUid)).id;
    const seed = (owner: string, symbol: string, market: 'spot' | 'margin' | 'linear', qty: string) =>
      admin.seedOrder({ exchange: 'gate', owner, symbol, side: 'buy', market, qty, price: '1000' });
    await seed(arb1, 'BTC_USDT', 'spot', '0.01');
    await seed(arb1, 'ETH_USDT', 'margin', '0.5');
    await seed(arb1, 'BTC_USDT', 'linear', '3');
    await admin.seedPosition({ exchange: 'gate', owner: arb1, symbol: 'BTC_USDT', side: 'short', size: '7', market: 'linear' });
    await seed(other, 'BTC_USDT', 'spot', '1');

    const killed = await w.cli(['kill', 'alpha', '--flatten', '--reason', 'incident']);
    expect(killed.code, `${killed.stdout}\n${killed.stderr}`).toBe(0);
    expect(killed.stdout).toContain('3 of 3 open order(s) cancelled');
    expect(await admin.listOrders({ exchange: 'gate', owner: arb1 })).toEqual([]);
    expect(await admin.listPositions({ exchange: 'gate', owner: arb1 })).toEqual([]);
    expect(await admin.listOrders({ exchange: 'gate', owner: other })).toHaveLength(1);
    expect(await w.keysAt(arb1)).toEqual([]);
    expect(await w.keysAt(w.subs.arb2!)).toEqual([]);

    expect((await w.cli(['resume', 'alpha', '--reason', 'fixed'])).code).toBe(0);
    const rotated = await w.cli(['rotate', 'alpha/arb1', '--grace', '0s']);
    expect(rotated.code, `${rotated.stdout}\n${rotated.stderr}`).toBe(0);
    const [fresh] = await admin.listKeys({ exchange: 'gate', owner: arb1 });
    expect(fresh).toMatchObject({ readOnly: false, permissions: { spot: false, futures: false }, ips: [CLIENT_IP] });

    const readOnly = await w.cli(['kill', 'alpha', '--read-only', '--reason', 'desk keeps watching']);
    expect(readOnly.code, `${readOnly.stdout}\n${readOnly.stderr}`).toBe(0);
    expect(readOnly.stdout).toContain('read-only (confirmed at the exchange)');
    expect(await admin.listKeys({ exchange: 'gate', owner: arb1 })).toEqual([
      expect.objectContaining({ apiKey: fresh!.apiKey, readOnly: true, permissions: { spot: true, futures: true }, ips: [CLIENT_IP] }),
    ]);
  }, 120_000);
});
