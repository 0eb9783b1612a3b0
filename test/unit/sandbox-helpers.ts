/**
 * Test-only glue: a real ccxt client pointed at the sandbox. Production code has its own factory in
 * src/exchanges/; this stays tiny so the sandbox tests do not depend on it.
 */
import ccxt, { type Exchange } from 'ccxt';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { SandboxExchange } from '../../src/sandbox/state.js';

/** The client address the emulator tests call from (allowlists name it). */
export const TEST_CLIENT_IP = '10.0.0.5';

/**
 * The sandbox of an emulator test file: started once, and reset before each test to a main account `main` with one
 * sub-account `sub` of `exchange`, called from TEST_CLIENT_IP. Call it inside the describe block: the file's own
 * beforeEach hooks, registered after it, run after the reset. `sb` is set once the sandbox has started.
 */
export function sandboxPerTest(exchange: SandboxExchange, main: string, sub: string): { readonly sb: RunningSandbox } {
  const holder = {} as { sb: RunningSandbox };
  beforeAll(async () => {
    holder.sb = await startSandbox({ admin: true });
  });
  afterAll(async () => {
    await holder.sb?.close();
  });
  beforeEach(async () => {
    await holder.sb.admin.reset();
    await holder.sb.admin.setClientIp(TEST_CLIENT_IP);
    await holder.sb.admin.createAccount(exchange, main);
    await holder.sb.admin.createSubaccount(exchange, main, sub);
  });
  return holder;
}

/** Rewrites every URL in `urls.api` (recursively) to `baseUrl` + the original path. */
function rewrite(node: unknown, baseUrl: string): unknown {
  // Some ccxt URLs hold `{hostname}` placeholders that `new URL` cannot parse, so strip scheme + host textually.
  if (typeof node === 'string') return node.replace(/^[a-z]+:\/\/[^/]+/i, baseUrl);
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node as Record<string, unknown>).map(([k, v]) => [k, rewrite(v, baseUrl)]));
  }
  return node;
}

export interface Creds {
  apiKey: string;
  secret: string;
  passphrase?: string;
}

export function client(exchange: SandboxExchange, url: string, creds: Creds, options: { timeout?: number } = {}): Exchange {
  const Ctor = (ccxt as unknown as Record<string, new (cfg: Record<string, unknown>) => Exchange>)[exchange]!;
  const ex = new Ctor({
    apiKey: creds.apiKey,
    secret: creds.secret,
    ...(creds.passphrase !== undefined ? { password: creds.passphrase } : {}),
    timeout: options.timeout ?? 5000,
    enableRateLimit: false,
  });
  ex.urls.api = rewrite(ex.urls.api, `${url}/${exchange}`) as typeof ex.urls.api;
  return ex;
}

/** Calls ccxt's implicit method by name (they are not in ccxt's static types for every exchange). */
export function call(ex: Exchange, method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const fn = (ex as unknown as Record<string, (p: Record<string, unknown>) => Promise<Record<string, unknown>>>)[method];
  if (typeof fn !== 'function') throw new Error(`ccxt ${ex.id} has no method ${method}`);
  return fn.call(ex, params);
}

/** The ccxt error class name a promise rejects with. */
export async function errorOf(p: Promise<unknown>): Promise<{ name: string; error: Error }> {
  try {
    await p;
  } catch (e) {
    return { name: (e as Error).constructor.name, error: e as Error };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
