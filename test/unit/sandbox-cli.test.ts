import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { serveSandbox } from '../../src/cli/commands/sandbox.js';
import { CliContext } from '../../src/cli/context.js';
import { specs } from '../../src/cli/specs/sandbox.js';
import { UsageError } from '@keyctl/client/errors';

function ctxFor(json: boolean) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  const ctx = new CliContext({ stdin: new PassThrough(), stdout, stderr, env: {}, cwd: process.cwd() }, 'sandbox', { json });
  return { ctx, out: () => out };
}

describe('keyctl sandbox', () => {
  it('is declared without a config file', () => {
    expect(specs.map((s) => [s.name, s.noConfig])).toEqual([['sandbox', true]]);
  });

  it('prints the URL and per-exchange base URLs as JSON, serves, and stops cleanly', async () => {
    const { ctx, out } = ctxFor(true);
    let stop!: () => void;
    const until = new Promise<void>((r) => (stop = r));
    const running = serveSandbox(ctx, { port: '0', admin: true, clientIp: '10.9.8.7' }, until);
    await expect.poll(() => out(), { timeout: 5000 }).toContain('"exchanges"');
    const info = JSON.parse(out()) as { url: string; admin: boolean; clientIp: string; exchanges: Record<string, string> };
    expect(info).toMatchObject({ admin: true, clientIp: '10.9.8.7' });
    expect(info.exchanges).toEqual({
      bybit: `${info.url}/bybit`,
      okx: `${info.url}/okx`,
      binance: `${info.url}/binance`,
      kucoin: `${info.url}/kucoin`,
      mexc: `${info.url}/mexc`,
      bitget: `${info.url}/bitget`,
      coinbase: `${info.url}/coinbase`,
      kraken: `${info.url}/kraken`,
      bitfinex: `${info.url}/bitfinex`,
      gate: `${info.url}/gate`,
    });
    const res = await fetch(`${info.url}/_admin/client-ip`);
    expect(await res.json()).toEqual({ ip: '10.9.8.7' });
    stop();
    expect(await running).toBe(0);
    await expect(fetch(`${info.url}/_admin/client-ip`)).rejects.toThrow();
  });

  it('rejects a bad port or client address with a usage error', async () => {
    await expect(serveSandbox(ctxFor(false).ctx, { port: 'abc' }, Promise.resolve())).rejects.toBeInstanceOf(UsageError);
    await expect(serveSandbox(ctxFor(false).ctx, { port: '0', clientIp: 'nope' }, Promise.resolve())).rejects.toMatchObject({
      code: 'BAD_CLIENT_IP',
    });
  });
});
