/**
 * The kill switch as an operator uses it, against the exchange sandbox: `keyctl kill alpha --flatten` cancels alpha's
 * spot and futures orders and closes its position with its own key, stops its exec'd bot at once (its watch period
 * here is a minute: what stops it within seconds is the kill reaching its supervisor) and confirms it, revokes its
 * keys, and leaves another account's orders alone; exec and rotate are then refused as paused until `keyctl resume`,
 * after which a rotation creates a fresh key. `--read-only` on Bybit keeps the keys, read-only. `status` shows the
 * last drill and kill.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startKeyctl, FIXTURES } from './delivery-helpers.js';
import { CLIENT_IP, makeWorld, type World } from '../helpers/world.js';

let w: World;

beforeAll(async () => {
  w = await makeWorld();
  // arb1 trades spot and futures: declare it, and give it a key that may.
  const file = join(w.dir, 'keyctl.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('scopes: [read, spot:trade]', 'scopes: [read, spot:trade, futures:trade]'));
  const key = await w.sandbox.admin.createKey({
    exchange: 'bybit',
    owner: w.subs.arb1!,
    permissions: { Spot: ['SpotTrade'], ContractTrade: ['Order', 'Position'] },
    ips: [CLIENT_IP],
  });
  const imported = await w.cli(['key', 'import', 'alpha/arb1'], { stdin: JSON.stringify(key) });
  expect(imported.code, imported.stderr).toBe(0);
}, 60_000);
afterAll(async () => w?.close());

describe('keyctl kill', () => {
  it('--dry-run lists from the live exchange and changes nothing; the kill then cancels, flattens, stops, revokes and pauses', async () => {
    const admin = w.sandbox.admin;
    const other = (await admin.createSubaccount('bybit', w.mainUid)).id;
    await admin.seedOrder({
      exchange: 'bybit',
      owner: w.subs.arb1!,
      symbol: 'BTCUSDT',
      side: 'buy',
      market: 'spot',
      qty: '0.01',
      price: '50000',
    });
    await admin.seedOrder({
      exchange: 'bybit',
      owner: w.subs.arb1!,
      symbol: 'BTCUSDT',
      side: 'sell',
      market: 'linear',
      qty: '0.02',
      price: '90000',
    });
    await admin.seedPosition({ exchange: 'bybit', owner: w.subs.arb1!, symbol: 'BTCUSDT', side: 'long', size: '0.5', market: 'linear' });
    await admin.seedOrder({ exchange: 'bybit', owner: other, symbol: 'BTCUSDT', side: 'buy', market: 'spot', qty: '1', price: '1000' });

    const drill = await w.cli(['kill', 'alpha', '--flatten', '--dry-run', '--reason', 'drill', '--json']);
    expect(drill.code, drill.stderr).toBe(0);
    const plan = drill.json<{ dryRun: boolean; trading: Record<string, { orders: unknown[]; positions: unknown[] }> }>();
    expect(plan.dryRun).toBe(true);
    expect(plan.trading['alpha/arb1']?.orders).toHaveLength(2);
    expect(plan.trading['alpha/arb1']?.positions).toHaveLength(1);
    expect(await admin.listOrders({ exchange: 'bybit', owner: w.subs.arb1! })).toHaveLength(2);
    // The world's first key and the imported one: both still alive, both in the store.
    expect(await w.keysAt(w.subs.arb1!)).toHaveLength(2);

    // A bot of alpha runs under exec; its own watch would see the pause only after a minute.
    const bot = startKeyctl(
      ['--config', join(w.dir, 'keyctl.yaml'), 'exec', 'alpha/arb2', '--', process.execPath, join(FIXTURES, 'bot.mjs')],
      {
        env: { ...w.env, KEYCTL_WATCH_MS: '60000', WAIT: '1' },
        cwd: w.dir,
      },
    );
    onTestFinished(async () => {
      if (bot.child.exitCode === null && bot.child.signalCode === null) bot.child.kill('SIGKILL');
      await bot.done;
    });
    await bot.waitFor('"event":"start"');
    const botPid = (
      JSON.parse(
        bot
          .stdout()
          .split('\n')
          .find((l) => l.includes('"start"'))!,
      ) as { pid: number }
    ).pid;

    const started = performance.now();
    const killed = await w.cli(['kill', 'alpha', '--flatten', '--reason', 'incident']);
    expect(killed.code, `${killed.stdout}\n${killed.stderr}`).toBe(0);
    expect(performance.now() - started).toBeLessThan(30_000);
    expect(killed.stdout).toContain('2 of 2 open order(s) cancelled');
    // Confirmed by its supervisor, with the bot's pid: not merely told.
    expect(killed.stdout).toMatch(new RegExp(`alpha/arb2: bots: supervisor pid \\d+ \\(bot pid ${botPid}\\) stopped, confirmed`));
    expect(killed.stdout).toContain('1 bot(s) confirmed stopped');
    expect(await admin.listOrders({ exchange: 'bybit', owner: w.subs.arb1! })).toEqual([]);
    expect(await admin.listPositions({ exchange: 'bybit', owner: w.subs.arb1! })).toEqual([]);
    expect(await admin.listOrders({ exchange: 'bybit', owner: other })).toHaveLength(1);
    expect(await w.keysAt(w.subs.arb1!)).toEqual([]);
    expect(await w.keysAt(w.subs.arb2!)).toEqual([]);
    expect((await bot.done).code).toBe(3);
    expect(() => process.kill(botPid, 0)).toThrow();

    // Paused until resume.
    const exec = await w.cli(['exec', 'alpha/arb1', '--json', '--', process.execPath, '-e', 'console.log("bot started")']);
    expect(exec.code).toBe(3);
    expect(exec.stdout).not.toContain('bot started');
    expect((await w.cli(['rotate', 'alpha/arb1', '--json'])).code).toBe(3);
    expect((await w.cli(['resume', 'alpha', '--reason', 'fixed'])).code).toBe(0);
    const rotated = await w.cli(['rotate', 'alpha/arb1']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(await w.keysAt(w.subs.arb1!)).toHaveLength(1);

    // status: the last drill and the last kill, each from the audit log.
    const status = await w.cli(['status', '--json']);
    const kills = status.json<{
      kills: Array<{
        bot: string;
        lastDrill: { reason: string } | null;
        lastKill: { reason: string; outcome: string } | null;
        hint?: string;
      }>;
    }>().kills;
    expect(kills).toEqual([
      expect.objectContaining({
        bot: 'alpha',
        lastDrill: expect.objectContaining({ reason: 'drill' }),
        lastKill: expect.objectContaining({ reason: 'incident', outcome: 'ok' }),
      }),
    ]);
    expect(kills[0]?.hint).toBeUndefined();
    expect((await w.cli(['status'])).stdout).toMatch(
      /kill {5}alpha: last drill \d{4}-\d\d-\d\d \d\d:\d\dZ; last kill .* by test-runner: incident/,
    );
  }, 90_000);

  it('--read-only switches the keys to read-only on Bybit and keeps them; a re-run continues; resume and rotate bring trading keys back', async () => {
    const killed = await w.cli(['kill', 'alpha', '--read-only', '--reason', 'desk keeps watching', '--json']);
    expect(killed.code, `${killed.stdout}\n${killed.stderr}`).toBe(0);
    const result = killed.json<{ kills: Array<{ ref: string; readOnly?: { readOnly: string[] } }>; failures: unknown[] }>();
    expect(result.failures).toEqual([]);
    const [arb1] = await w.keysAt(w.subs.arb1!);
    expect(arb1).toBeDefined();
    const view = (await w.sandbox.admin.listKeys({ exchange: 'bybit', owner: w.subs.arb1! }))[0]!;
    expect(view.readOnly).toBe(true);
    expect(result.kills.find((k) => k.ref === 'alpha/arb1')?.readOnly?.readOnly).toHaveLength(1);
    // Run again: nothing left to do, still exit 0, the key still stored and read-only.
    const again = await w.cli(['kill', 'alpha', '--read-only', '--reason', 'desk keeps watching']);
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toContain('read-only (confirmed at the exchange)');
    expect((await w.cli(['resume', 'alpha', '--reason', 'fixed'])).code).toBe(0);
    expect((await w.cli(['rotate', 'alpha/arb1', '--force', '--grace', '0s'])).code).toBe(0);
    const fresh = await w.sandbox.admin.listKeys({ exchange: 'bybit', owner: w.subs.arb1! });
    expect(fresh.map((k) => k.readOnly)).toEqual([false]);
  }, 90_000);
});
