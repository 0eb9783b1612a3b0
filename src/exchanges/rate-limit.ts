/**
 * Client-side rate limits for exchange calls, so that work on many slots at once runs at the exchange's limit instead
 * of into it. Every call waits for its pool: a rolling window of `count` units per `windowMs`, as the exchanges count
 * (Bybit: "the rolling time window per second and UID", https://bybit-exchange.github.io/docs/v5/rate-limit).
 *
 * - The figures are each exchange's documented limits for the key endpoints keyctl calls ({@link DOCUMENTED_LIMITS},
 *   with their sources; docs/exchanges.md#rate-limits). The endpoints not listed there (orders and positions, which
 *   only the kill switch calls) are left to ccxt's own throttle and cost table (ccxt.ts), per account and key.
 * - Pools are per account, per key that signs the call and per endpoint (or per shared pool, KuCoin's management
 *   pool), because exchanges count per UID and endpoint; a master key's calls are the account's. A few pools are per
 *   address (Binance's IP weight, MEXC's per-endpoint IP limits), shared by every key.
 * - `accounts.<name>.rateLimit` replaces the documented figures (calls per second) for the whole account or one kind of
 *   endpoint.
 * - A rate-limit answer ({@link WindowLimiter.limited}) pauses the pool and halves what it lets through; each quiet
 *   window after that doubles it back. Many processes sharing one key so settle below the limit between them.
 *
 * Hand-rolled rather than p-queue or p-throttle: p-queue counts fixed intervals (twice the limit can pass across an
 * interval's edge, which a rolling window refuses), p-throttle has no weights and cannot change its limit while it
 * runs, and neither can be slowed down by an answer. This file is a sliding log with a FIFO queue.
 */

import { ENDPOINT_KINDS, type EndpointKind, type RateLimitSetting } from '../domain/rate-limit.js';

export { ENDPOINT_KINDS, type EndpointKind, type RateLimitSetting };

/** `count` units in any rolling `windowMs`. */
export interface WindowLimit {
  count: number;
  windowMs: number;
}

interface Pool extends WindowLimit {
  /** `key`: counted per key that signs (the exchange counts per UID); `address`: per address, whatever the key. */
  scope: 'key' | 'address';
}

interface EndpointRule {
  kind: EndpointKind;
  /** A pool of the exchange's `pools`. */
  pool: string;
  /** Units one call takes from the pool; default 1. */
  weight?: number;
}

export interface ExchangeLimits {
  /** Where the figures come from. */
  source: string;
  pools: Readonly<Record<string, Pool>>;
  /** By ccxt's `request()` arguments: `<api> <METHOD> <path>`, e.g. `private POST v5/user/create-sub-api`. */
  endpoints: Readonly<Record<string, EndpointRule>>;
}

const perSecondPool = (count: number): Pool => ({ count, windowMs: 1000, scope: 'key' });

/**
 * The documented limits of the endpoints keyctl calls (docs/exchanges.md#rate-limits gives each figure and source).
 * Where a vendor page was not at hand, the figure is the one ccxt 4.5.84 encodes for that endpoint, and says so.
 */
export const DOCUMENTED_LIMITS: Readonly<Record<string, ExchangeLimits>> = {
  // Per UID, per endpoint, rolling second; 10006 "Too many visits!" beyond it:
  // https://bybit-exchange.github.io/docs/v5/rate-limit. Create, update and delete of sub-account keys 5/s, query-api
  // 10/s, wallet balance 50/s (as ccxt 4.5.84's bybit cost table encodes them). The sub-account key listing is held to
  // 5/s, the figure of the other sub-account key endpoints (ccxt assumes 10/s; no Bybit figure was at hand).
  bybit: {
    source: 'https://bybit-exchange.github.io/docs/v5/rate-limit',
    pools: {
      'create-sub-api': perSecondPool(5),
      'update-sub-api': perSecondPool(5),
      'delete-sub-api': perSecondPool(5),
      'sub-apikeys': perSecondPool(5),
      'query-api': perSecondPool(10),
      'wallet-balance': perSecondPool(50),
    },
    endpoints: {
      'private POST v5/user/create-sub-api': { kind: 'create', pool: 'create-sub-api' },
      'private POST v5/user/update-sub-api': { kind: 'update', pool: 'update-sub-api' },
      'private POST v5/user/delete-sub-api': { kind: 'delete', pool: 'delete-sub-api' },
      'private GET v5/user/sub-apikeys': { kind: 'list', pool: 'sub-apikeys' },
      'private GET v5/user/query-api': { kind: 'inspect', pool: 'query-api' },
      'private GET v5/account/wallet-balance': { kind: 'ping', pool: 'wallet-balance' },
    },
  },
  // Per User ID and endpoint (https://www.okx.com/docs-v5/en/#overview-rate-limits): the sub-account API key
  // endpoints 1 request a second, account/config 5 and account/balance 10 per 2 s, as ccxt 4.5.84's okx cost table
  // encodes them (cost 10, 4 and 2 at 100 ms).
  okx: {
    source: 'https://www.okx.com/docs-v5/en/#overview-rate-limits (figures as ccxt 4.5.84 encodes them)',
    pools: {
      'subaccount-apikey-create': perSecondPool(1),
      'subaccount-apikey-modify': perSecondPool(1),
      'subaccount-apikey-delete': perSecondPool(1),
      'subaccount-apikey-query': perSecondPool(1),
      'account-config': { count: 5, windowMs: 2000, scope: 'key' },
      'account-balance': { count: 10, windowMs: 2000, scope: 'key' },
    },
    endpoints: {
      'private POST users/subaccount/apikey': { kind: 'create', pool: 'subaccount-apikey-create' },
      'private POST users/subaccount/modify-apikey': { kind: 'update', pool: 'subaccount-apikey-modify' },
      'private POST users/subaccount/delete-apikey': { kind: 'delete', pool: 'subaccount-apikey-delete' },
      'private GET users/subaccount/apikey': { kind: 'list', pool: 'subaccount-apikey-query' },
      'private GET account/config': { kind: 'inspect', pool: 'account-config' },
      'private GET account/balance': { kind: 'ping', pool: 'account-balance' },
    },
  },
  // sapi: each endpoint has its own weight budget, 180,000 a minute per UID or 12,000 a minute per IP
  // (https://dev.binance.vision/t/request-limit-on-the-api-endpoints/9275). Creating and deleting a sub-account key
  // weigh 3000 UID (https://developers.binance.com/legacy-docs/sub_account/api-management/Create-Sub-account-API-Key and
  // .../Delete-Sub-account-API-Key), as does reading a sub key's IP list (ccxt 4.5.84): 60 a minute. Listing is held
  // to the same (its weight was not at hand). /api/v3 endpoints share 6,000 weight a minute per IP; GET /api/v3/account
  // weighs 20 (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits).
  binance: {
    source: 'https://developers.binance.com/docs/binance-spot-api-docs/rest-api/limits',
    pools: {
      'subAccountApi-create': { count: 60, windowMs: 60_000, scope: 'key' },
      'subAccountApi-delete': { count: 60, windowMs: 60_000, scope: 'key' },
      'subAccountApi-query': { count: 60, windowMs: 60_000, scope: 'key' },
      'subAccountApi-ipRestriction': { count: 60, windowMs: 60_000, scope: 'key' },
      apiRestrictions: { count: 12_000, windowMs: 60_000, scope: 'address' },
      'api-v3': { count: 6000, windowMs: 60_000, scope: 'address' },
    },
    endpoints: {
      'sapi POST sub-account/subAccountApi': { kind: 'create', pool: 'subAccountApi-create' },
      'sapi DELETE sub-account/subAccountApi': { kind: 'delete', pool: 'subAccountApi-delete' },
      'sapi GET sub-account/subAccountApi': { kind: 'list', pool: 'subAccountApi-query' },
      'sapi GET sub-account/subAccountApi/ipRestriction': { kind: 'inspect', pool: 'subAccountApi-ipRestriction' },
      'sapi GET account/apiRestrictions': { kind: 'inspect', pool: 'apiRestrictions' },
      'private GET account': { kind: 'ping', pool: 'api-v3', weight: 20 },
    },
  },
  // Gate counts per user (UID) and endpoint group in 10 s windows
  // (https://www.gate.io/docs/developers/apiv4/en/#frequency-limit-rule): the sub-account endpoints 80 per 10 s, the
  // account endpoints (detail, main_keys) 150 per 10 s, spot reads 200 per 10 s, as ccxt 4.5.84's gate cost table
  // encodes them (cost 2.5, 20/15 and 1 at 50 ms: "8r/s cost = 20 / 8 = 2.5").
  gate: {
    source: 'https://www.gate.io/docs/developers/apiv4/en/#frequency-limit-rule (figures as ccxt 4.5.84 encodes them)',
    pools: {
      'sub-account-keys': { count: 80, windowMs: 10_000, scope: 'key' },
      account: { count: 150, windowMs: 10_000, scope: 'key' },
      'spot-accounts': { count: 200, windowMs: 10_000, scope: 'key' },
    },
    endpoints: {
      'private/subAccounts POST sub_accounts/{user_id}/keys': { kind: 'create', pool: 'sub-account-keys' },
      'private/subAccounts PUT sub_accounts/{user_id}/keys/{key}': { kind: 'update', pool: 'sub-account-keys' },
      'private/subAccounts DELETE sub_accounts/{user_id}/keys/{key}': { kind: 'delete', pool: 'sub-account-keys' },
      'private/subAccounts GET sub_accounts/{user_id}/keys': { kind: 'list', pool: 'sub-account-keys' },
      'private/subAccounts GET sub_accounts/{user_id}/keys/{key}': { kind: 'list', pool: 'sub-account-keys' },
      'private/account GET detail': { kind: 'inspect', pool: 'account' },
      'private/account GET main_keys': { kind: 'inspect', pool: 'account' },
      'private/spot GET accounts': { kind: 'ping', pool: 'spot-accounts' },
    },
  },
  // One management pool per UID, 2,000 weight per 30 s at VIP0 (https://www.kucoin.com/docs-new/rate-limit); adding a
  // sub-account key weighs 20, deleting one 30, listing them and reading a key's own info 20, the account list 5
  // (https://kucoin.com/docs/rest/account/sub-account-api/create-sub-account-api, .../delete-sub-account-api).
  kucoin: {
    source: 'https://www.kucoin.com/docs-new/rate-limit',
    pools: { management: { count: 2000, windowMs: 30_000, scope: 'key' } },
    endpoints: {
      'private POST sub/api-key': { kind: 'create', pool: 'management', weight: 20 },
      'private DELETE sub/api-key': { kind: 'delete', pool: 'management', weight: 30 },
      'private GET sub/api-key': { kind: 'list', pool: 'management', weight: 20 },
      'private GET user/api-key': { kind: 'inspect', pool: 'management', weight: 20 },
      'private GET accounts': { kind: 'ping', pool: 'management', weight: 5 },
    },
  },
  // "Each endpoint with IP limits has an independent 500 every 10 second limit" (and the same per UID), HTTP 429 beyond
  // it (https://www.mexc.com/api-docs/spot-v3/general-info). The sub-account key endpoints and the sub-account list weigh
  // 1 (IP) (https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints); Account Information weighs 10 (IP)
  // (https://www.mexc.com/api-docs/spot-v3/spot-account-trade). Counted per address, one pool per endpoint.
  mexc: {
    source: 'https://www.mexc.com/api-docs/spot-v3/general-info',
    pools: {
      'sub-account-apiKey-create': { count: 500, windowMs: 10_000, scope: 'address' },
      'sub-account-apiKey-delete': { count: 500, windowMs: 10_000, scope: 'address' },
      'sub-account-apiKey-query': { count: 500, windowMs: 10_000, scope: 'address' },
      'sub-account-list': { count: 500, windowMs: 10_000, scope: 'address' },
      account: { count: 500, windowMs: 10_000, scope: 'address' },
    },
    endpoints: {
      'spot/private POST sub-account/apiKey': { kind: 'create', pool: 'sub-account-apiKey-create' },
      'spot/private DELETE sub-account/apiKey': { kind: 'delete', pool: 'sub-account-apiKey-delete' },
      'spot/private GET sub-account/apiKey': { kind: 'list', pool: 'sub-account-apiKey-query' },
      'spot/private GET sub-account/list': { kind: 'inspect', pool: 'sub-account-list' },
      'spot/private GET account': { kind: 'ping', pool: 'account', weight: 10 },
    },
  },
  // Per UID and endpoint, per second, as each endpoint's page gives it: Create Virtual Subaccount Apikey 5/s
  // (https://www.bitget.com/api-doc/common/vsubaccount/Create-Virtual-Subaccount-ApiKey), Get Subaccount Apikey List
  // 5/s (.../Get-Virtual-Subaccount-ApiKey-List), Delete Sub-account API Key 10/s
  // (https://www.bitget.com/api-doc/uta/account/sub-account/SubAccount-API-Delete), Get Account Information 1/s
  // (https://www.bitget.com/api-doc/spot/account/Get-Account-Info); Get Account Assets 10/s, the figure ccxt 4.5.84
  // encodes (cost 2 at 50 ms). Beyond its limit Bitget answers 429.
  bitget: {
    source: 'https://www.bitget.com/api-doc/common/vsubaccount/Create-Virtual-Subaccount-ApiKey',
    pools: {
      'create-virtual-subaccount-apikey': perSecondPool(5),
      'virtual-subaccount-apikey-list': perSecondPool(5),
      'delete-sub-api': perSecondPool(10),
      'account-info': perSecondPool(1),
      'account-assets': perSecondPool(10),
    },
    endpoints: {
      'private/user POST v2/user/create-virtual-subaccount-apikey': { kind: 'create', pool: 'create-virtual-subaccount-apikey' },
      'private/user GET v2/user/virtual-subaccount-apikey-list': { kind: 'list', pool: 'virtual-subaccount-apikey-list' },
      'private/uta POST v3/user/delete-sub-api': { kind: 'delete', pool: 'delete-sub-api' },
      'private/spot GET v2/spot/account/info': { kind: 'inspect', pool: 'account-info' },
      'private/spot GET v2/spot/account/assets': { kind: 'ping', pool: 'account-assets' },
    },
  },
};

/**
 * Headroom on each window for network jitter: the exchange counts a call when it arrives, which can be later or
 * earlier than when it left by up to the jitter. 10 % of the window, between 50 and 250 ms.
 */
export function safetyMarginMs(windowMs: number): number {
  return Math.min(250, Math.max(50, windowMs * 0.1));
}

/** `n` calls a second as a rolling window of whole calls: 2.5 -> 2 per 800 ms; 0.5 -> 1 per 2 s. */
export function windowOf(perSecond: number): WindowLimit {
  if (!(perSecond > 0) || !Number.isFinite(perSecond)) throw new RangeError(`perSecond must be a positive number, not ${perSecond}`);
  const count = Math.max(1, Math.floor(perSecond));
  return { count, windowMs: Math.round((1000 * count) / perSecond) };
}

/** How long a pool stops letting calls through after a rate-limit answer (then it runs at half its share). */
const PAUSE_MS = 1000;

/**
 * One pool: at most `count` units in any rolling window (plus {@link safetyMarginMs}), first come first served. A
 * rate-limit answer pauses it and halves its share of `count`; each window without one doubles the share back.
 */
export class WindowLimiter {
  readonly count: number;
  readonly windowMs: number;
  /** Rate-limit answers reported for this pool. */
  limitedAnswers = 0;
  /** Calls that had to wait, and for how long in all (ms). */
  waited = 0;
  waitedMs = 0;
  private readonly window: number;
  private readonly sent: Array<{ at: number; weight: number }> = [];
  private readonly queue: Array<{ weight: number; since: number; go: () => void }> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private arriving: { weight: number; since: number; go: () => void } | undefined;
  private pausedUntil = 0;
  private share = 1;
  /** When the share last changed (a rate-limit answer, or a window's recovery). */
  private shareSince = 0;

  constructor(
    limit: WindowLimit,
    private readonly now: () => number = Date.now,
  ) {
    if (!(limit.count > 0) || !(limit.windowMs > 0)) throw new RangeError('a rate limit needs a positive count and window');
    this.count = limit.count;
    this.windowMs = limit.windowMs;
    this.window = limit.windowMs + safetyMarginMs(limit.windowMs);
  }

  /** Resolves when a call of `weight` units may go; the call is counted from then. */
  acquire(weight = 1): Promise<void> {
    return new Promise((go) => {
      const entry = { weight, since: this.now(), go };
      this.queue.push(entry);
      // A call let through by the pump of its own arrival did not wait, even if the clock ticked in between.
      this.arriving = entry;
      this.pump();
      this.arriving = undefined;
    });
  }

  /** The exchange answered a call of this pool with its rate limit. */
  limited(): void {
    const now = this.now();
    this.limitedAnswers += 1;
    this.pausedUntil = Math.max(this.pausedUntil, now + Math.min(PAUSE_MS, this.window));
    this.share = Math.max(1 / this.count, this.share / 2);
    this.shareSince = now;
    this.reschedule();
  }

  /** A call of this pool was answered; after a quiet window, the share doubles back towards the whole limit. */
  succeeded(): void {
    if (this.share >= 1) return;
    const now = this.now();
    if (now - this.shareSince < this.window) return;
    this.share = Math.min(1, this.share * 2);
    this.shareSince = now;
    this.reschedule();
  }

  /** Units it lets through per window now (the whole count unless rate-limit answers slowed it down). */
  get capacity(): number {
    return Math.max(1, Math.floor(this.count * this.share));
  }

  /** Nothing waiting, nothing counted in the window, not slowed down: the pool can be dropped. */
  idle(): boolean {
    this.prune(this.now());
    return this.queue.length === 0 && this.sent.length === 0 && this.share >= 1 && this.pausedUntil <= this.now();
  }

  private prune(now: number): void {
    let i = 0;
    while (i < this.sent.length && this.sent[i]!.at <= now - this.window) i++;
    if (i > 0) this.sent.splice(0, i);
  }

  /** 0 when a call of `weight` may go at `now`, else how long until it may. */
  private delay(weight: number, now: number): number {
    if (now < this.pausedUntil) return this.pausedUntil - now;
    this.prune(now);
    // A call heavier than the whole (slowed) capacity still goes alone in an empty window.
    const capacity = Math.max(weight, this.capacity);
    let used = 0;
    for (const s of this.sent) used += s.weight;
    if (used + weight <= capacity) return 0;
    for (const s of this.sent) {
      used -= s.weight;
      if (used + weight <= capacity) return s.at + this.window - now + 1;
    }
    return this.window;
  }

  private pump(): void {
    if (this.timer) return;
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      const now = this.now();
      const wait = this.delay(head.weight, now);
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, wait);
        return;
      }
      this.queue.shift();
      this.sent.push({ at: now, weight: head.weight });
      if (head !== this.arriving && now > head.since) {
        this.waited += 1;
        this.waitedMs += now - head.since;
      }
      head.go();
    }
  }

  private reschedule(): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pump();
  }
}

/** One call, as the limiter needs to place it. No secret: `keyId` is the signing key's fingerprint. */
export interface LimitedCall {
  exchange: string;
  /** keyctl's account name, when there is one. */
  account?: string;
  baseUrl?: string;
  keyId: string;
  /** `<api> <METHOD> <path>` as ccxt's `request()` sees it. */
  endpoint: string;
  setting?: RateLimitSetting;
}

export interface Gate {
  limiter: WindowLimiter;
  weight: number;
  kind: EndpointKind;
}

/** Where the pools of one process live. */
export class RateLimiters {
  private readonly pools = new Map<string, { limiter: WindowLimiter; account: string; kind: EndpointKind }>();

  constructor(private readonly options: { now?: () => number; table?: Readonly<Record<string, ExchangeLimits>>; maxIdle?: number } = {}) {}

  /**
   * The pool a call waits for, and the units it takes; undefined for an endpoint the table does not list and the
   * account sets no limit for (ccxt's throttle paces it).
   */
  gate(call: LimitedCall): Gate | undefined {
    const table = (this.options.table ?? DOCUMENTED_LIMITS)[call.exchange];
    const rule = table && Object.hasOwn(table.endpoints, call.endpoint) ? table.endpoints[call.endpoint] : undefined;
    const kind: EndpointKind = rule?.kind ?? 'trading';
    const override = call.setting?.endpoints?.[kind] ?? call.setting?.perSecond;
    let poolName: string;
    let limit: WindowLimit;
    let scope: Pool['scope'] = 'key';
    let weight = 1;
    if (override !== undefined) {
      poolName = `${kind}:${call.endpoint}`;
      limit = windowOf(override);
    } else if (rule && table) {
      const pool = table.pools[rule.pool]!;
      poolName = rule.pool;
      limit = pool;
      scope = pool.scope;
      weight = rule.weight ?? 1;
    } else {
      return undefined;
    }
    const account = call.account ?? call.exchange;
    const where = `${call.exchange}\u0000${call.baseUrl ?? ''}`;
    const id =
      scope === 'address'
        ? `${where}\u0000${poolName}`
        : `${where}\u0000${account}\u0000${call.keyId}\u0000${poolName}\u0000${limit.count}/${limit.windowMs}`;
    let entry = this.pools.get(id);
    if (!entry) {
      this.evictIdle();
      entry = { limiter: new WindowLimiter(limit, this.options.now), account, kind };
      this.pools.set(id, entry);
    }
    return { limiter: entry.limiter, weight, kind };
  }

  /** Rate-limit answers and waits so far, per account and kind of endpoint. */
  stats(): Array<{ account: string; kind: EndpointKind; limitedAnswers: number; waited: number; waitedMs: number }> {
    const byKey = new Map<string, { account: string; kind: EndpointKind; limitedAnswers: number; waited: number; waitedMs: number }>();
    for (const { limiter, account, kind } of this.pools.values()) {
      const k = `${account}\u0000${kind}`;
      const s = byKey.get(k) ?? { account, kind, limitedAnswers: 0, waited: 0, waitedMs: 0 };
      s.limitedAnswers += limiter.limitedAnswers;
      s.waited += limiter.waited;
      s.waitedMs += limiter.waitedMs;
      byKey.set(k, s);
    }
    return [...byKey.values()];
  }

  /** Forgets every pool (tests). */
  clear(): void {
    this.pools.clear();
  }

  get size(): number {
    return this.pools.size;
  }

  /** A long-running process meets many keys: pools with nothing in their window are dropped. */
  private evictIdle(): void {
    if (this.pools.size < (this.options.maxIdle ?? 1024)) return;
    for (const [id, { limiter }] of this.pools) if (limiter.idle()) this.pools.delete(id);
  }
}

/** This process's pools: every ccxt client (ccxt.ts) goes through them. */
export const rateLimiters = new RateLimiters();
