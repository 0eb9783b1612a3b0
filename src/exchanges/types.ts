/**
 * The exchange adapter contract. One adapter per exchange (`<id>/adapter.ts`, described by `<id>/descriptor.ts`), each
 * built on ccxt through ccxt.ts, obtained through registry.ts. Adapters translate between the exchange's native
 * permission model and keyctl's normalized scopes (src/domain/scopes.ts), both ways.
 *
 * Every method takes one request object and returns one response object, so fields can be added without breaking
 * callers. Errors are KeyctlErrors (clients/node/src/errors.ts, as @keyctl/client/errors), mapped from ccxt's error tree in one place (ccxt.ts):
 * `ExchangeError` with code KEY_REJECTED (the exchange does not accept the key: wrong key, wrong signature, expired;
 * Binance's -2015 also covers a wrong address and a missing permission), PERMISSION_DENIED (the key is valid but may not
 * do this, or the exchange banned this address), IP_NOT_ALLOWED (the call came from an address outside the key's IP
 * allowlist: the key may be alive, but cannot be used, verified or proven revoked from here),
 * EXCHANGE_UNAVAILABLE / EXCHANGE_TIMEOUT / RATE_LIMITED (retryable, already retried with backoff), CLOCK_SKEW,
 * EXCHANGE_REFUSED (any other refusal) and CAPABILITY_GAP (the exchange offers no API for this). Test refusals with
 * the helpers in ccxt.ts (`isKeyRefusal`, `isIpRefusal`, `mayBeIpRefusal`, `isKeyRejected`) rather than comparing codes.
 */
import type { Credentials } from '../domain/credentials.js';
import type { Account } from '../domain/inventory.js';
import type { KeyInspection } from '../domain/inspection.js';
import type { DeclarableScope, Scope } from '../domain/scopes.js';
import type { RateLimitSetting } from './rate-limit.js';

export type { Credentials } from '../domain/credentials.js';
export type { KeyInspection, KeyOwner } from '../domain/inspection.js';

/** The account an exchange call is made for: which exchange, and where its API lives. */
export interface ExchangeAccount {
  /** keyctl's name of the account (`accounts.<name>`), for messages. */
  name?: string;
  /** ccxt exchange id: bybit, okx, binance, kucoin, mexc, bitget, gate and the inspect-only ones. */
  exchange: string;
  /** Replaces the host (and keeps the path) of every URL ccxt would call: testnet, proxy, the keyctl sandbox. */
  baseUrl?: string;
  /** The main account's uid at the exchange, when the config declares it. */
  uid?: string;
  /** `accounts.<name>.rateLimit`: replaces the documented limits of the account's calls (rate-limit.ts). */
  rateLimit?: RateLimitSetting;
}

/** What an exchange call needs to know about an account the config declares. */
export function exchangeAccount(account: Account): ExchangeAccount {
  return {
    name: account.name,
    exchange: account.exchange,
    ...(account.baseUrl ? { baseUrl: account.baseUrl } : {}),
    ...(account.uid ? { uid: account.uid } : {}),
    ...(account.rateLimit ? { rateLimit: account.rateLimit } : {}),
  };
}

/** What an exchange offers by API, so callers never call what is missing. */
export interface ExchangeCapabilities {
  /** The key's own permissions can be read with the key itself. */
  inspect: boolean;
  /** A master key can create sub-account keys. */
  create: boolean;
  /** A master key can delete sub-account keys. */
  delete: boolean;
  /** A master key can list a sub-account's keys. */
  list: boolean;
  /** Keys carry a caller-chosen passphrase (OKX, KuCoin). */
  passphrase: boolean;
  /** `automatic` when keyctl can create and delete keys itself; `assisted` when a human creates them in the exchange's UI. */
  rotation: 'automatic' | 'assisted';
  /**
   * The scopes this exchange requires on a master key to manage sub-account keys (besides `read`). A master key may
   * hold these and nothing else.
   */
  masterScopes: Scope[];
  /**
   * Declarable scopes this exchange grants only as one permission: a key created for any of them holds them all (OKX's
   * single `trade` covers spot, margin, futures and options). Empty when every scope can be granted alone.
   */
  boundScopes: DeclarableScope[][];
  /**
   * Declarable scopes that bring others with them, one way: a key created for the scope also holds these (Bybit's
   * Options permission also trades USDC perpetuals, while futures alone can be granted without options).
   */
  impliedScopes?: Partial<Record<DeclarableScope, DeclarableScope[]>>;
}

/** Options every call accepts: network behaviour, injectable for tests. */
export interface CallOptions {
  /** Per-request timeout (ms). Default 10 000. */
  timeoutMs?: number;
  /** Attempts for retryable failures (network, timeout, rate limit), including the first. Default 3. */
  attempts?: number;
  /** First backoff delay (ms); doubles each attempt, with jitter. Default 250. */
  backoffMs?: number;
}

export interface InspectRequest extends CallOptions {
  account: ExchangeAccount;
  /** The key to inspect; the call is signed with it. */
  key: Credentials;
  /** Whether this is the account's master key or a bot's sub-account key. */
  role: 'master' | 'bot';
  /** The declared sub-account id (bot keys), used where the exchange needs it to describe the key. */
  subaccount?: string;
  /** The account's master key, for exchanges that only tell a sub key's IP allowlist or owner to the master (Binance). */
  master?: Credentials;
}

export interface CreateKeyRequest extends CallOptions {
  account: ExchangeAccount;
  master: Credentials;
  /** The exchange's sub-account id (bybit uid, okx name, binance email, kucoin name, mexc name, gate user_id). */
  subaccount: string;
  /** What the bot declared. Forbidden scopes cannot be requested at all. */
  scopes: DeclarableScope[];
  /** The IP allowlist; must not be empty (keyctl never creates an unlocked key). */
  ips: string[];
  /** Label / note; carries the rotation id so an orphan can be found after a crash. */
  label: string;
}

/** A freshly created key. The secret is returned once by the exchange; store it at once. */
export interface CreatedKey {
  apiKey: string;
  secret: string;
  /** Set for passphrase exchanges: generated by keyctl with node:crypto. */
  passphrase?: string;
}

export interface DeleteKeyRequest extends CallOptions {
  account: ExchangeAccount;
  master: Credentials;
  subaccount: string;
  apiKey: string;
  /** KuCoin needs the sub key's own passphrase to delete it. */
  passphrase?: string;
  /** The key's label at the exchange, to name it in errors (orphan sweep). */
  label?: string;
}

export interface ListKeysRequest extends CallOptions {
  account: ExchangeAccount;
  master: Credentials;
  subaccount: string;
}

/** One key as a sub-account listing shows it (never with its secret). */
export interface ListedKey {
  apiKey: string;
  label?: string;
  scopes: Scope[];
  ips: string[] | 'unrestricted';
  createdAt?: string;
}

export interface PingRequest extends CallOptions {
  account: ExchangeAccount;
  key: Credentials;
}

/**
 * One exchange. Methods whose capability is false throw an ExchangeError `CAPABILITY_GAP`.
 */
export interface ExchangeAdapter {
  /** ccxt exchange id. */
  readonly id: string;
  readonly capabilities: ExchangeCapabilities;

  /**
   * The key's real state at the exchange, read with the key's own credentials (plus the master key where the exchange
   * tells some facts only to the master). Read-only at the exchange; safe to repeat.
   */
  inspect(request: InspectRequest): Promise<KeyInspection>;

  /**
   * Creates a sub-account key with exactly the declared scopes and IP allowlist. Not retried after a timeout (the key
   * may exist): the label lets the orphan sweep find it.
   */
  createKey(request: CreateKeyRequest): Promise<CreatedKey>;

  /** Deletes a sub-account key; it stops authenticating at once. */
  deleteKey(request: DeleteKeyRequest): Promise<void>;

  /**
   * Switches a sub-account key to read-only (`keyctl kill --read-only`): it keeps authenticating, so a desk can still
   * watch the account, but can no longer trade. Present only where the exchange allows it by API (Bybit). The kill
   * confirms it by inspecting the key again; an exchange answer that does not say so is a failure.
   */
  makeReadOnly?(request: DeleteKeyRequest): Promise<void>;

  /** The sub-account's keys, without secrets. */
  listKeys(request: ListKeysRequest): Promise<ListedKey[]>;

  /** One harmless signed read (a balance query) that proves the key works from here. */
  ping(request: PingRequest): Promise<void>;

  /**
   * What a kill needs at the exchange, done with the bot's own key: its open orders and positions, cancelled and
   * closed. Absent on an exchange keyctl cannot trade on (the kill then says what to check by hand).
   */
  trading?: TradingApi;
}

/** The market types a bot's scopes allow it to trade in, as the kill asks about them. */
export type TradingMarket = 'spot' | 'margin' | 'linear' | 'inverse' | 'option';

export interface TradingRequest extends CallOptions {
  account: ExchangeAccount;
  /** The bot's own key: a kill cancels with it, so it can only touch the bot's own sub-account. */
  key: Credentials;
  /** The markets to look in (from the slot's scopes). */
  markets: readonly TradingMarket[];
}

export interface OpenOrder {
  /** The exchange's order id. */
  id: string;
  /** The exchange's own symbol (BTCUSDT, BTC-USDT-SWAP). */
  symbol: string;
  market: TradingMarket;
  side: 'buy' | 'sell';
  /** Quantity left, as the exchange wrote it (a decimal string). */
  qty: string;
}

export interface OpenPosition {
  symbol: string;
  market: 'linear' | 'inverse' | 'option';
  side: 'long' | 'short';
  /** Size, as the exchange wrote it (a decimal string, positive). */
  size: string;
}

export interface TradingApi {
  /**
   * The markets keyctl can act in on this exchange; absent: every market. A kill of a slot that also trades elsewhere
   * acts in these and reports the others as a CAPABILITY_GAP (to check by hand); requests name only these.
   */
  readonly markets?: readonly TradingMarket[];
  /** Every open order of the key's account in `markets`. Answers are parsed against their documented shape. */
  listOrders(request: TradingRequest): Promise<OpenOrder[]>;
  /** Cancels every order given (by market and symbol as the exchange needs); resolves when the exchange accepted. */
  cancelOrders(request: TradingRequest, orders: readonly OpenOrder[]): Promise<void>;
  /** Every open derivative position of the key's account in `markets`. */
  listPositions(request: TradingRequest): Promise<OpenPosition[]>;
  /** Closes one position with a reduce-only market order of its size. */
  closePosition(request: TradingRequest, position: OpenPosition): Promise<void>;
}
