import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import ccxt from 'ccxt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExchangeError, ExitCode, InternalError, KeyctlError } from '@keyctl/client/errors';
import {
  asMasterError,
  createClient,
  exchangeFeedback,
  isIpRefusal,
  isKeyRefusal,
  isKeyRejected,
  mapExchangeError,
  mayBeIpRefusal,
  rewriteApiUrls,
  stripUrls,
} from '../../src/exchanges/ccxt.js';
import { inspectKey } from '../../src/exchanges/inspect-key.js';
import { generatePassphrase } from '../../src/exchanges/passphrase.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import { withRetry } from '../../src/exchanges/retry.js';

const EXCHANGES = ['bybit', 'okx', 'binance', 'kucoin', 'bitget', 'gate'] as const;
type Ctor = new (config?: Record<string, unknown>) => { urls: { api: unknown }; hostname?: string };
const ccxtClass = (id: string) => (ccxt as unknown as Record<string, Ctor>)[id]!;

function urlsOf(tree: unknown, out: string[] = []): string[] {
  if (typeof tree === 'string') out.push(tree);
  else if (tree && typeof tree === 'object') for (const v of Object.values(tree)) urlsOf(v, out);
  return out;
}

describe('baseUrl rewriting', () => {
  const base = 'http://127.0.0.1:8101/sandbox-prefix';

  it.each(EXCHANGES)('%s: every URL in urls.api goes to baseUrl and keeps its path', (id) => {
    const ex = new (ccxtClass(id))();
    const original = urlsOf(ex.urls.api);
    expect(original.length).toBeGreaterThan(0);
    const rewritten = urlsOf(rewriteApiUrls(ex.urls.api, `${base}/`, ex.hostname));
    expect(rewritten).toHaveLength(original.length);
    original.forEach((url, i) => {
      const path = new URL(url.replaceAll('{hostname}', ex.hostname ?? 'x')).pathname.replace(/\/+$/, '');
      expect(rewritten[i]).toBe(`${base}${path}`);
    });
  });

  it('maps the documented examples', () => {
    const api = { sapi: 'https://api.binance.com/sapi/v1', rest: 'https://{hostname}', nested: { a: ['https://api.kucoin.com'] } };
    expect(rewriteApiUrls(api, 'http://h:1/x', 'www.okx.com')).toEqual({
      sapi: 'http://h:1/x/sapi/v1',
      rest: 'http://h:1/x',
      nested: { a: ['http://h:1/x'] },
    });
  });
});

describe('ccxt error mapping', () => {
  const bybitBody = (code: number, msg: string) => `bybit {"retCode":${code},"retMsg":"${msg}","result":{},"retExtInfo":{},"time":1}`;

  it('maps authentication errors to a fatal KEY_REJECTED with the exchange code', () => {
    const e = mapExchangeError(new ccxt.AuthenticationError(bybitBody(10003, 'API key is invalid.')), 'bybit', 'inspecting the key');
    expect(e).toBeInstanceOf(ExchangeError);
    expect(e.code).toBe('KEY_REJECTED');
    expect(e.exitCode).toBe(ExitCode.EXCHANGE);
    expect(e.retryable).toBe(false);
    expect(e.details).toMatchObject({ exchange: 'bybit', exchangeCode: '10003', exchangeMessage: 'API key is invalid.' });
    expect(e.message).toContain('10003');
  });

  it('decides by the exchange code when ccxt picks another class (binance -2015 on api.binance.com)', () => {
    const e = mapExchangeError(
      new ccxt.OperationRejected('binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'),
      'binance',
    );
    expect(e.code).toBe('KEY_REJECTED');
  });

  it('maps permission refusals to PERMISSION_DENIED without blaming the address', () => {
    const denied = mapExchangeError(
      new ccxt.PermissionDenied(bybitBody(10005, 'Permission denied, please check your API key permissions.')),
      'bybit',
      'creating a key',
    );
    expect(denied.code).toBe('PERMISSION_DENIED');
    expect(denied.message).toBe(
      'bybit refused creating a key: the key may not do this (10005 Permission denied, please check your API key permissions.).',
    );
    expect(denied.hint).not.toMatch(/allowlist|address/);
    expect(
      mapExchangeError(new ccxt.AuthenticationError('kucoin {"code":"400007","msg":"Access denied, requires more permission."}'), 'kucoin')
        .code,
    ).toBe('PERMISSION_DENIED');
    expect(mapExchangeError(new ccxt.PermissionDenied('kucoin something'), 'kucoin').code).toBe('PERMISSION_DENIED');
    expect(mapExchangeError(new ccxt.AccountSuspended('okx {"code":"59999","msg":"suspended"}'), 'okx').code).toBe('KEY_REJECTED');
  });

  it("says an address banned by bybit (10009) is a ban of the address, not the key's allowlist", () => {
    // ccxt raises 10009 as AuthenticationError; keyctl's code table decides.
    const e = mapExchangeError(new ccxt.AuthenticationError(bybitBody(10009, 'IP has been banned.')), 'bybit', 'inspecting the key');
    expect(e.code).toBe('PERMISSION_DENIED');
    expect(e.message).toBe('bybit refused inspecting the key: bybit has banned the address keyctl runs from (10009 IP has been banned.).');
    expect(e.hint).toContain('not on the key');
  });

  // The exchanges' own "address not in the key's allowlist" answers, in the ccxt class ccxt 4.5 raises them as.
  const IP_REFUSALS = [
    {
      exchange: 'bybit',
      error: new ccxt.PermissionDenied(bybitBody(10010, "Unmatched IP, please check your API key's bound IP addresses.")),
      said: "10010 Unmatched IP, please check your API key's bound IP addresses.",
      seen: undefined,
    },
    {
      exchange: 'okx',
      error: new ccxt.PermissionDenied(
        'okx {"msg":"Your IP 198.51.100.9 is not included in your API key\'s IP whitelist.","code":"50110"}',
      ),
      said: "50110 Your IP 198.51.100.9 is not included in your API key's IP whitelist.",
      seen: '198.51.100.9',
    },
    {
      exchange: 'kucoin',
      error: new ccxt.AuthenticationError('kucoin {"code":"400006","msg":"Invalid request IP, the current client IP is: 2001:db8::7."}'),
      said: '400006 Invalid request IP, the current client IP is: 2001:db8::7.',
      seen: '2001:db8::7',
    },
  ] as const;

  it.each(IP_REFUSALS)(
    "maps $exchange's IP refusal to IP_NOT_ALLOWED, saying the allowlist does not include this address and what to do",
    ({ exchange, error, said, seen }) => {
      const e = mapExchangeError(error, exchange, 'inspecting the key');
      expect(e).toBeInstanceOf(ExchangeError);
      expect([e.code, e.exitCode, e.retryable]).toEqual(['IP_NOT_ALLOWED', ExitCode.EXCHANGE, false]);
      expect(e.message).toBe(
        `${exchange} refused the key from this address while inspecting the key: the key's IP allowlist does not include the address keyctl runs from (${said}).`,
      );
      expect(e.hint).toBe(
        `Run keyctl from an address in the key's IP allowlist (for a bot key, the slot's ips in keyctl.yaml), or add this host's public address${seen ? ` (${exchange} saw ${seen})` : ''} to the key's allowlist at ${exchange}.`,
      );
      expect(e.details).toEqual({
        exchange,
        exchangeCode: said.split(' ')[0],
        exchangeMessage: said.slice(said.indexOf(' ') + 1),
        ...(seen ? { clientIp: seen } : {}),
      });
      expect(isIpRefusal(e)).toBe(true);
      expect(isKeyRefusal(e)).toBe(true);
    },
  );

  it("adds the sandbox's --client-ip to the hint only when the account's baseUrl is on this machine", () => {
    const [bybit] = IP_REFUSALS;
    const local = mapExchangeError(bybit.error, 'bybit', 'inspecting the key', { baseUrl: 'http://127.0.0.1:8101/bybit' });
    expect(local.hint).toContain(
      "If accounts.<name>.baseUrl is the keyctl sandbox, the address it sees is its --client-ip (POST /_admin/client-ip): it must be one of the key's ips.",
    );
    const real = mapExchangeError(bybit.error, 'bybit', 'inspecting the key', { baseUrl: 'https://api.bybit.com' });
    expect(real.hint).not.toContain('sandbox');
  });

  it('keeps binance -2015 a KEY_REJECTED that names the IP allowlist as a possible cause, in every class ccxt raises it as', () => {
    const body = 'binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}';
    const raised = [
      new ccxt.AuthenticationError(body), // sapi and other hosts
      new ccxt.OperationRejected(body), // api.binance.com
      new ccxt.DDoSProtection(body), // after the instance once authenticated
      new ccxt.AuthenticationError('binance Invalid API-key, IP, or permissions for action.'), // message only, no code
    ];
    for (const err of raised) {
      const e = mapExchangeError(err, 'binance', 'inspecting the key');
      expect([e.code, e.retryable, e.exitCode]).toEqual(['KEY_REJECTED', false, ExitCode.EXCHANGE]);
      expect(e.message).toMatch(
        /^binance refused the key while inspecting the key \((-2015 )?Invalid API-key, IP, or permissions for action\.\): /,
      );
      expect(e.message).toContain("a call from an address outside the key's IP allowlist");
      expect(e.hint).toContain(
        "Check that this host's public address is in the key's IP allowlist (for a bot key, the slot's ips in keyctl.yaml) at binance",
      );
      expect(e.details).toMatchObject({ possibleCauses: ['key', 'ip-allowlist', 'permission'] });
      expect(isIpRefusal(e)).toBe(false);
      expect(isKeyRefusal(e)).toBe(true);
    }
    // Binance's other key rejections say nothing about addresses.
    const sig = mapExchangeError(
      new ccxt.AuthenticationError('binance {"code":-1022,"msg":"Signature for this request is not valid."}'),
      'binance',
    );
    expect(sig.code).toBe('KEY_REJECTED');
    expect(`${sig.message} ${sig.hint}`).not.toMatch(/allowlist|address/);
  });

  it('tells refusals apart with isKeyRefusal / isIpRefusal', () => {
    const of = (code: string, retryable = false) => new ExchangeError(code, 'x', { retryable });
    expect(['KEY_REJECTED', 'PERMISSION_DENIED', 'IP_NOT_ALLOWED'].map((c) => isKeyRefusal(of(c)))).toEqual([true, true, true]);
    expect(['RATE_LIMITED', 'EXCHANGE_REFUSED', 'MASTER_KEY_REJECTED', 'CLOCK_SKEW'].map((c) => isKeyRefusal(of(c)))).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(isKeyRefusal(of('KEY_REJECTED', true))).toBe(false);
    expect(isKeyRefusal(new InternalError('KEY_REJECTED'))).toBe(false);
    expect(['IP_NOT_ALLOWED', 'KEY_REJECTED', 'PERMISSION_DENIED'].map((c) => isIpRefusal(of(c)))).toEqual([true, false, false]);
    expect(isIpRefusal(new Error('IP_NOT_ALLOWED'))).toBe(false);
    // Only KEY_REJECTED may mean "no longer authenticates" (revoked); an IP refusal or a permission refusal never does.
    expect(['KEY_REJECTED', 'IP_NOT_ALLOWED', 'PERMISSION_DENIED', 'MASTER_KEY_REJECTED'].map((c) => isKeyRejected(of(c)))).toEqual([
      true,
      false,
      false,
      false,
    ]);
    expect(isKeyRejected(of('KEY_REJECTED', true))).toBe(false);
    for (const { exchange, error } of IP_REFUSALS) expect(isKeyRejected(mapExchangeError(error, exchange))).toBe(false);
    // The address may be the cause: an IP refusal, or binance -2015; not a plain key rejection.
    const binance = mapExchangeError(
      new ccxt.AuthenticationError('binance {"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'),
      'binance',
    );
    const okx = mapExchangeError(new ccxt.AuthenticationError('okx {"code":"50111","msg":"Invalid OK-ACCESS-KEY"}'), 'okx');
    expect([mayBeIpRefusal(of('IP_NOT_ALLOWED')), mayBeIpRefusal(binance), mayBeIpRefusal(okx), mayBeIpRefusal(new Error('x'))]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it("reports a master key refused from this address as the master key's problem, keeping the IP wording", () => {
    const account = { name: 'okx-main', exchange: 'okx', baseUrl: 'https://www.okx.com' };
    const ip = mapExchangeError(IP_REFUSALS[1].error, 'okx', 'looking the key up in its sub-account');
    const e = asMasterError(ip, account) as ExchangeError;
    expect([e.code, e.exitCode, e.retryable]).toEqual(['MASTER_KEY_REJECTED', ExitCode.EXCHANGE, false]);
    expect(e.message).toBe(`The master key of @okx-main was refused: ${ip.message}`);
    expect(e.message).toContain("the key's IP allowlist does not include the address keyctl runs from");
    expect(e.hint).toBe(
      "The bot key is not at fault: the master key's IP allowlist does not include the address keyctl runs from. Run keyctl from an address in the master key's allowlist, or add this host's public address (okx saw 198.51.100.9) to it at okx. Then check it with `keyctl verify @okx-main`.",
    );
    expect(e.details).toMatchObject({ refusal: 'IP_NOT_ALLOWED', exchangeCode: '50110', clientIp: '198.51.100.9' });
    expect(isKeyRefusal(e)).toBe(false); // the bot key is not refused: checkKey must not turn this into a violation

    const rejected = asMasterError(
      mapExchangeError(new ccxt.AuthenticationError('okx {"code":"50111","msg":"Invalid OK-ACCESS-KEY"}'), 'okx'),
      account,
    ) as ExchangeError;
    expect(rejected).toMatchObject({
      code: 'MASTER_KEY_REJECTED',
      details: { refusal: 'KEY_REJECTED' },
      hint: 'Check it with `keyctl verify @okx-main` and fix it first.',
    });
    const down = new ExchangeError('EXCHANGE_UNAVAILABLE', 'down', { retryable: true });
    expect(asMasterError(down, account)).toBe(down);
  });

  it('maps rate limits, timeouts and network failures to retryable errors', () => {
    const rl = mapExchangeError(new ccxt.RateLimitExceeded('okx {"code":"50011","msg":"Request too frequent"}'), 'okx');
    expect([rl.code, rl.retryable]).toEqual(['RATE_LIMITED', true]);
    const ddos = mapExchangeError(
      new ccxt.DDoSProtection('binance 429 Too Many Requests {"code":-1003,"msg":"Too much request weight used"}'),
      'binance',
    );
    expect([ddos.code, ddos.retryable]).toEqual(['RATE_LIMITED', true]);
    const down = mapExchangeError(
      new ccxt.ExchangeNotAvailable('okx GET https://www.okx.com/api/v5/account/config 503 Service Unavailable <html>down</html>'),
      'okx',
    );
    expect([down.code, down.retryable, down.details?.httpStatus]).toEqual(['EXCHANGE_UNAVAILABLE', true, 503]);
    const net = mapExchangeError(new ccxt.NetworkError('kucoin GET http://127.0.0.1:1/api/v1/user/api-key fetch failed'), 'kucoin');
    expect([net.code, net.retryable]).toEqual(['EXCHANGE_UNAVAILABLE', true]);
    const to = mapExchangeError(
      new ccxt.RequestTimeout('bybit GET https://api.bybit.com/v5/user/query-api request timed out (10000 ms)'),
      'bybit',
    );
    expect([to.code, to.retryable]).toEqual(['EXCHANGE_TIMEOUT', true]);
  });

  it('maps a timestamp refusal to CLOCK_SKEW and NotSupported to a capability gap', () => {
    expect(
      mapExchangeError(new ccxt.InvalidNonce(bybitBody(10002, 'invalid request, please check your server timestamp')), 'bybit').code,
    ).toBe('CLOCK_SKEW');
    expect(mapExchangeError(new ccxt.BadRequest('binance {"code":-1021,"msg":"Timestamp outside recvWindow"}'), 'binance').code).toBe(
      'CLOCK_SKEW',
    );
    const gap = mapExchangeError(new ccxt.NotSupported('binance sapi not supported in sandbox'), 'binance');
    expect([gap.code, gap.retryable]).toEqual(['CAPABILITY_GAP', false]);
  });

  it('maps other refusals to EXCHANGE_REFUSED with only the code and message', () => {
    const e = mapExchangeError(new ccxt.BadRequest(bybitBody(10001, 'subuid can not be empty')), 'bybit', 'creating a key');
    expect(e.code).toBe('EXCHANGE_REFUSED');
    expect(e.message).toBe('bybit refused creating a key (10001 subuid can not be empty).');
  });

  it('never copies the query string (which holds the signature) from a ccxt message', () => {
    const url = 'https://api.binance.com/sapi/v1/account/apiRestrictions?timestamp=1&recvWindow=10000&signature=FAKE-SIGNATURE-abcdef';
    const errors = [
      new ccxt.RequestTimeout(`binance GET ${url} request timed out (10000 ms)`),
      new ccxt.ExchangeNotAvailable(`binance GET ${url} 502 Bad Gateway <html></html>`),
      new ccxt.NetworkError(`binance GET ${url} fetch failed`),
    ];
    for (const err of errors) {
      const e = mapExchangeError(err, 'binance');
      expect(JSON.stringify(e.toJSON())).not.toContain('FAKE-SIGNATURE');
      expect(e.message).not.toContain('signature=');
    }
    expect(stripUrls(`see ${url} now`)).toBe('see https://api.binance.com/sapi/v1/account/apiRestrictions now');
  });

  it('does not copy the message of a non-ccxt error', () => {
    const e = mapExchangeError(new TypeError('secret FAKE-SECRET-123 leaked'), 'okx', 'inspecting the key');
    expect(e).toBeInstanceOf(InternalError);
    expect(e.message).not.toContain('FAKE-SECRET');
  });

  it('passes KeyctlErrors through unchanged', () => {
    const original = new ExchangeError('CAPABILITY_GAP', 'x');
    expect(mapExchangeError(original, 'okx')).toBe(original);
  });

  it('extracts code and message from every exchange body shape', () => {
    expect(exchangeFeedback('okx {"code":"50113","msg":"Invalid Sign","data":[]}')).toEqual({ code: '50113', msg: 'Invalid Sign' });
    expect(exchangeFeedback('kucoin {"code":"400005","msg":"Invalid KC-API-SIGN"}')).toEqual({
      code: '400005',
      msg: 'Invalid KC-API-SIGN',
    });
    expect(exchangeFeedback('binance Invalid API-key, IP, or permissions for action.')).toEqual({
      msg: 'Invalid API-key, IP, or permissions for action.',
    });
  });
});

describe('retry', () => {
  const retryable = () => new ExchangeError('RATE_LIMITED', 'slow down', { retryable: true });

  it('retries retryable errors with exponential backoff and jitter, then gives up', async () => {
    const sleeps: number[] = [];
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw retryable();
        },
        { attempts: 4, baseDelayMs: 100, sleep: async (ms) => void sleeps.push(ms), random: () => 1 },
      ),
    ).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    expect(calls).toBe(4);
    expect(sleeps).toEqual([100, 200, 400]);
  });

  it('keeps half of each delay fixed', async () => {
    const sleeps: number[] = [];
    await withRetry(
      async (attempt) => {
        if (attempt < 3) throw retryable();
        return 'ok';
      },
      { attempts: 5, baseDelayMs: 100, sleep: async (ms) => void sleeps.push(ms), random: () => 0 },
    );
    expect(sleeps).toEqual([50, 100]);
  });

  it('does not retry fatal errors', async () => {
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new ExchangeError('KEY_REJECTED', 'no');
        },
        { attempts: 5, baseDelayMs: 1, sleep: async () => undefined },
      ),
    ).rejects.toBeInstanceOf(KeyctlError);
    expect(calls).toBe(1);
  });
});

describe('passphrase generation', () => {
  it('meets OKX and KuCoin rules and is random', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassphrase();
      expect(p).toHaveLength(24);
      expect(p).toMatch(/[a-z]/);
      expect(p).toMatch(/[A-Z]/);
      expect(p).toMatch(/\d/);
      expect(p).toMatch(/[^A-Za-z0-9]/);
      expect(p).not.toMatch(/[\s#%&+=]/);
      seen.add(p);
    }
    expect(seen.size).toBe(200);
  });

  it("without specials meets Bitget's rule (8-32 letters and digits) and is random", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = generatePassphrase(24, { special: false });
      expect(p).toMatch(/^[A-Za-z0-9]{24}$/);
      expect(p).toMatch(/[a-z]/);
      expect(p).toMatch(/[A-Z]/);
      expect(p).toMatch(/\d/);
      seen.add(p);
    }
    expect(seen.size).toBe(200);
  });
});

/** A scripted stand-in for an exchange: answers each request with the next scripted reply and records what came. */
class ScriptedServer {
  private server!: Server;
  url = '';
  readonly seen: Array<{ method: string; url: string }> = [];
  script: Array<{ status: number; body: unknown } | 'hang'> = [];

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      this.seen.push({ method: req.method ?? '', url: req.url ?? '' });
      req.resume();
      const next = this.script.shift() ?? { status: 200, body: { retCode: 0, retMsg: 'OK', result: {} } };
      if (next === 'hang') return;
      res.writeHead(next.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(next.body));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('ccxt client against a scripted server', () => {
  const srv = new ScriptedServer();
  beforeAll(() => srv.start());
  afterAll(() => srv.stop());
  const key = { apiKey: 'FAKE-KEY-0001', secret: 'FAKE-SECRET-0001' };
  const account = () => ({ exchange: 'bybit', baseUrl: `${srv.url}/bybit` });

  it('sends every call to the account baseUrl and nothing else (no markets, no time)', async () => {
    srv.seen.length = 0;
    srv.script = [
      {
        status: 200,
        // The documented query-api fields keyctl requires (https://bybit-exchange.github.io/docs/v5/user/apikey-info).
        body: {
          retCode: 0,
          retMsg: 'OK',
          result: { apiKey: 'FAKE-KEY-0001', readOnly: 0, permissions: {}, ips: ['*'], isMaster: true, userID: 1001 },
        },
      },
    ];
    const adapter = await getAdapter('bybit');
    const inspection = await adapter.inspect({ account: account(), key, role: 'master' });
    expect(inspection.ips).toBe('unrestricted');
    expect(srv.seen.map((s) => `${s.method} ${s.url.split('?')[0]}`)).toEqual(['GET /bybit/v5/user/query-api']);
  });

  it('retries a rate limit, then succeeds', async () => {
    srv.seen.length = 0;
    srv.script = [
      { status: 200, body: { retCode: 10006, retMsg: 'Too many visits!', result: {} } },
      { status: 200, body: { retCode: 0, retMsg: 'OK', result: { list: [] } } },
    ];
    const client = await createClient(account(), key, { backoffMs: 1 });
    await client.call('privateGetV5AccountWalletBalance', { accountType: 'UNIFIED' }, { action: 'checking the key' });
    expect(srv.seen).toHaveLength(2);
  });

  it('gives up after the configured attempts with a retryable exit-5 error', async () => {
    srv.seen.length = 0;
    srv.script = [503, 503, 503].map((status) => ({ status, body: 'down' }));
    const client = await createClient(account(), key, { backoffMs: 1, attempts: 3 });
    const err = await client.call('privateGetV5UserQueryApi', {}, { action: 'inspecting the key' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EXCHANGE_UNAVAILABLE', retryable: true, exitCode: ExitCode.EXCHANGE });
    expect(srv.seen).toHaveLength(3);
  });

  it('does not repeat a create that timed out (the key may exist)', async () => {
    srv.seen.length = 0;
    srv.script = ['hang', 'hang'];
    const client = await createClient(account(), key, { backoffMs: 1, attempts: 3, timeoutMs: 300 });
    const err = await client
      .call('privatePostV5UserCreateSubApi', { subuid: 1 }, { action: 'creating a key', retry: 'refused-only' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EXCHANGE_TIMEOUT', retryable: false, details: { outcomeUnknown: true } });
    expect(srv.seen).toHaveLength(1);
  });

  it('inspectKey turns a key refused from this address into a KEY_REJECTED violation that says why and what to do', async () => {
    srv.script = [
      { status: 200, body: { retCode: 10010, retMsg: "Unmatched IP, please check your API key's bound IP addresses.", result: {} } },
    ];
    const result = await inspectArb1(srv.url, key);
    expect(result.inspection).toBeUndefined();
    expect(result.violations).toHaveLength(1);
    const [v] = result.violations;
    expect(v?.code).toBe('KEY_REJECTED');
    expect(v?.detail).toContain(
      "bybit refused the key from this address while inspecting the key: the key's IP allowlist does not include the address keyctl runs from (10010 ",
    );
    expect(v?.detail).toContain(
      "so keyctl cannot verify this key from here. Run keyctl from an address in the key's IP allowlist (for a bot key, the slot's ips in keyctl.yaml)",
    );
    expect(v?.detail).toContain('--client-ip'); // the scripted exchange is on 127.0.0.1
    // Callers word the remedy from the refusal: the address, not the key, is at fault.
    expect(result.refusal).toMatchObject({ code: 'IP_NOT_ALLOWED', address: true });
    expect(result.refusal?.hint).toMatch(/^Run keyctl from an address in the key's IP allowlist/);
  });

  it('inspectKey turns a key the exchange rejects into a KEY_REJECTED violation', async () => {
    srv.script = [{ status: 200, body: { retCode: 10003, retMsg: 'API key is invalid.', result: {} } }];
    const result = await inspectArb1(srv.url, key);
    expect(result.violations.map((v) => v.code)).toEqual(['KEY_REJECTED']);
    expect(result.refusal).toMatchObject({ code: 'KEY_REJECTED', address: false });
    expect(result.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(JSON.stringify(result)).not.toContain(key.secret);
  });

  it('refuses an unknown exchange and offers assisted adapters for UI-only exchanges', async () => {
    await expect(getAdapter('nosuchexchange')).rejects.toMatchObject({ code: 'UNSUPPORTED_EXCHANGE' });
    // HTX: assisted with no adapter (Coinbase, Kraken and Bitfinex are inspect-only: they inspect by API).
    const htx = await getAdapter('htx');
    expect(htx.capabilities).toMatchObject({ inspect: false, create: false, rotation: 'assisted' });
    await expect(htx.inspect({ account: { exchange: 'htx' }, key, role: 'bot' })).rejects.toMatchObject({
      code: 'CAPABILITY_GAP',
    });
  });
});

/** inspectKey on bybit slot alpha/arb1 (sub-account 24600001, spot:trade, one address) of an account whose API is `url`. */
async function inspectArb1(url: string, key: { apiKey: string; secret: string }) {
  return inspectKey({
    adapter: await getAdapter('bybit'),
    account: { name: 'main', exchange: 'bybit', baseUrl: `${url}/bybit` },
    credentials: key,
    target: { kind: 'bot', scopes: ['spot:trade'], ips: ['203.0.113.10'], subaccount: '24600001' },
    options: { attempts: 1 },
  });
}
