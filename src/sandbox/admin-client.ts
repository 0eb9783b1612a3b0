/**
 * A typed client for the sandbox's admin endpoint (`/_admin`), for tests and drills. The endpoint is off unless the
 * sandbox was started with `admin: true` / `--admin`.
 */
import { ExitCode, KeyctlError } from '@keyctl/client/errors';
import type { FaultKind } from './faults.js';
import type { RateLimitSpec, RateLimitStats } from './rate-limit.js';
import type {
  NativePermissions,
  OrderMarket,
  PositionMarket,
  SandboxExchange,
  SandboxKeyView,
  SandboxOrder,
  SandboxPosition,
} from './state.js';

/** The admin endpoint refused a call or is switched off. */
export class SandboxAdminError extends KeyctlError {
  constructor(message: string, status: number) {
    super('SANDBOX_ADMIN', message, ExitCode.USAGE, {
      hint:
        status === 404
          ? 'Is the admin endpoint on? Start the sandbox with --admin (or startSandbox({ admin: true })).'
          : 'Fix the request; the message says which field is wrong.',
      details: { status },
    });
  }
}

export interface SeedKeyInput {
  exchange: SandboxExchange;
  /** Main uid for a master key, or the sub-account id (bybit uid, okx name, binance email, kucoin subName, mexc subAccount name, gate user_id). */
  owner: string;
  master?: boolean;
  /** The exchange's native form (see SANDBOX-CONTRACT.md). */
  permissions: NativePermissions;
  ips?: string[];
  passphrase?: string;
  label?: string;
  readOnly?: boolean;
  expiresAt?: string;
}

export interface SeededKey {
  apiKey: string;
  secret: string;
  passphrase?: string;
}

export interface TamperInput {
  withdraw?: boolean;
  /** `null` drops the allowlist. */
  ips?: string[] | null;
  /** Replaces the native permissions. */
  permissions?: NativePermissions;
  /** `null` removes the expiry. */
  expiresAt?: string | null;
  readOnly?: boolean;
}

export interface FaultInput {
  exchange: SandboxExchange;
  method?: string;
  /** The path the exchange sees, e.g. `/v5/user/query-api`; `*` for every path. */
  path: string;
  kind: FaultKind;
  ms?: number;
  /** latency only: a random wait between `ms` and `maxMs`. */
  maxMs?: number;
  times?: number;
}

function filterQuery(filter: { exchange?: SandboxExchange; owner?: string }): string {
  const q = new URLSearchParams();
  if (filter.exchange) q.set('exchange', filter.exchange);
  if (filter.owner) q.set('owner', filter.owner);
  const qs = q.toString();
  return qs ? `?${qs}` : '';
}

export interface SubaccountInfo {
  exchange: SandboxExchange;
  parentUid: string;
  id: string;
  uid: string;
}

/** An open order to seed. */
export interface SeedOrderInput {
  exchange: SandboxExchange;
  /** Main uid or sub-account id, as for keys. */
  owner: string;
  /** The exchange's own instrument id: bybit `BTCUSDT`, okx `BTC-USDT-SWAP`, binance `BTCUSDT`, kucoin `XBTUSDTM`. */
  symbol: string;
  side: 'buy' | 'sell';
  market: OrderMarket;
  /** In the exchange's unit (contracts where it counts contracts). */
  qty: string | number;
  /** Absent: a market order (`type` defaults to limit when a price is given). */
  price?: string | number;
  type?: 'limit' | 'market';
  clientId?: string;
  reduceOnly?: boolean;
}

/** A position to seed; it replaces the account's position in that symbol (one-way mode). */
export interface SeedPositionInput {
  exchange: SandboxExchange;
  owner: string;
  symbol: string;
  side: 'long' | 'short';
  size: string | number;
  market: PositionMarket;
  /** Shown as the entry (and mark) price; the sandbox has no prices otherwise. */
  entryPrice?: string | number;
}

export class SandboxAdmin {
  /** @param url the sandbox's root URL, no trailing slash. */
  constructor(readonly url: string) {}

  /** `accountMode` (Bitget): `classic` for a main account whose sub-account keys cannot be deleted by API. */
  createAccount(
    exchange: SandboxExchange,
    uid?: string,
    options: { accountMode?: 'classic' | 'unified' } = {},
  ): Promise<{ exchange: SandboxExchange; uid: string }> {
    return this.call('POST', '/accounts', { exchange, ...(uid !== undefined ? { uid } : {}), ...options });
  }

  /** `id` is the exchange's handle (bybit numeric uid, okx name, binance email, kucoin subName, mexc subAccount name, gate user_id); generated if absent. */
  createSubaccount(exchange: SandboxExchange, parentUid: string, id?: string): Promise<SubaccountInfo> {
    return this.call('POST', '/subaccounts', { exchange, parentUid, ...(id !== undefined ? { id } : {}) });
  }

  createKey(input: SeedKeyInput): Promise<SeededKey> {
    return this.call('POST', '/keys', input);
  }

  tamper(apiKey: string, patch: TamperInput): Promise<SandboxKeyView> {
    return this.call('POST', `/keys/${encodeURIComponent(apiKey)}/tamper`, patch);
  }

  async listKeys(filter: { exchange?: SandboxExchange; owner?: string } = {}): Promise<SandboxKeyView[]> {
    const res = await this.call<{ keys: SandboxKeyView[] }>('GET', `/keys${filterQuery(filter)}`);
    return res.keys;
  }

  /** Seeds an open order (it rests until cancelled; the sandbox fills nothing). Returns it with its exchange id. */
  seedOrder(input: SeedOrderInput): Promise<SandboxOrder> {
    return this.call('POST', '/orders', input);
  }

  seedPosition(input: SeedPositionInput): Promise<SandboxPosition> {
    return this.call('POST', '/positions', input);
  }

  async listOrders(filter: { exchange?: SandboxExchange; owner?: string } = {}): Promise<SandboxOrder[]> {
    return (await this.call<{ orders: SandboxOrder[] }>('GET', `/orders${filterQuery(filter)}`)).orders;
  }

  async listPositions(filter: { exchange?: SandboxExchange; owner?: string } = {}): Promise<SandboxPosition[]> {
    return (await this.call<{ positions: SandboxPosition[] }>('GET', `/positions${filterQuery(filter)}`)).positions;
  }

  async addFault(fault: FaultInput): Promise<string> {
    return (await this.call<{ id: string }>('POST', '/faults', fault)).id;
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', '/faults');
  }

  /**
   * Enforces the exchange's rate limit from now on: at most `perSecond` requests per key and endpoint in any rolling
   * `windowMs` (default 1000), the rest answered with the exchange's rate-limit error. Replaces the exchange's counts.
   */
  async setRateLimit(exchange: SandboxExchange, spec: RateLimitSpec): Promise<void> {
    await this.call('POST', '/rate-limit', { exchange, ...spec });
  }

  /** Requests counted and refused per exchange with a rate limit set. */
  rateLimitStats(): Promise<Partial<Record<SandboxExchange, RateLimitStats>>> {
    return this.call('GET', '/rate-limit');
  }

  /** Removes every rate limit. */
  async clearRateLimits(): Promise<void> {
    await this.call('DELETE', '/rate-limit');
  }

  async setClientIp(ip: string): Promise<void> {
    await this.call('POST', '/client-ip', { ip });
  }

  async reset(): Promise<void> {
    await this.call('POST', '/reset', {});
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}/_admin${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const msg = (parsed as { error?: unknown } | undefined)?.error;
      throw new SandboxAdminError(
        `Sandbox admin ${method} ${path.split('?')[0]} failed (HTTP ${res.status}): ${typeof msg === 'string' ? msg : 'no details'}.`,
        res.status,
      );
    }
    return parsed as T;
  }
}
