/**
 * The sandbox's whole world: main accounts, sub-accounts and API keys of the emulated exchanges, and each account's
 * open orders and positions (src/sandbox/trading). Kept in memory and, when a file is given, saved after every change
 * (atomically, mode 0600: it holds the fake secrets the sandbox issued).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { SANDBOX_IDS, type SandboxExchange } from '../exchanges/registry.js';

export type { SandboxExchange };

/** The exchanges the sandbox speaks, by ccxt id (also the URL prefix): every automatic exchange in the registry. */
export const SANDBOX_EXCHANGES: readonly SandboxExchange[] = SANDBOX_IDS;

export function isSandboxExchange(v: unknown): v is SandboxExchange {
  return typeof v === 'string' && (SANDBOX_EXCHANGES as readonly string[]).includes(v);
}

/**
 * Permissions in the exchange's own form: bybit `{"Spot":["SpotTrade"]}`, okx `"read_only,trade"`,
 * binance `{"enableReading":true,...}`, kucoin `"General,Spot"`, gate `{"spot":false}` (name -> read_only).
 */
export type NativePermissions = string | Record<string, string[]> | Record<string, boolean>;

/** A main account (`parentUid` absent, `id === uid`) or a sub-account of one. */
export interface SandboxAccount {
  exchange: SandboxExchange;
  /** Numeric user id as a string. */
  uid: string;
  /** The exchange's handle for a sub-account: bybit uid, okx subAcct name, binance email, kucoin subName, gate user_id. */
  id: string;
  parentUid?: string;
  /** Bitget: a main account in classic mode (its sub-account keys cannot be deleted by API); absent is unified. */
  accountMode?: 'classic' | 'unified';
}

export interface SandboxKey {
  exchange: SandboxExchange;
  apiKey: string;
  secret: string;
  /** okx / kucoin only; kept in clear because the sandbox must compare it. */
  passphrase?: string;
  /** The exchange's numeric key id (bybit `id`). */
  keyId: string;
  /** Main uid for a main-account key, the sub-account id otherwise. */
  owner: string;
  ownerUid: string;
  mainUid: string;
  /** A key of the main account (can manage sub-account keys). */
  master: boolean;
  permissions: NativePermissions;
  /** Allowlist; empty = not IP-bound. Entries are addresses or CIDR ranges. */
  ips: string[];
  label: string;
  readOnly: boolean;
  createdAt: string;
  expiresAt?: string;
  /**
   * Propagation delay (fault mode `propagation`): the exchange does not know the key for authentication before this
   * time (ms), although the create call answered with it.
   */
  activeAt?: number;
  /** Propagation delay of an allowlist change: `ips` is enforced from `at` (ms); `ips` before that is `previous`. */
  ipsChange?: { previous: string[]; at: number };
}

/** The key as the admin API shows it: no secret, no passphrase. */
export interface SandboxKeyView {
  exchange: SandboxExchange;
  apiKey: string;
  owner: string;
  master: boolean;
  permissions: NativePermissions;
  ips: string[];
  label: string;
  readOnly: boolean;
  createdAt: string;
  expiresAt: string | null;
}

/** Where an order rests: spot, margin (spot on borrowed funds), linear or inverse contracts, options. */
export const ORDER_MARKETS = ['spot', 'margin', 'linear', 'inverse', 'option'] as const;
export type OrderMarket = (typeof ORDER_MARKETS)[number];
/** Positions exist on contracts only. */
export const POSITION_MARKETS = ['linear', 'inverse'] as const;
export type PositionMarket = (typeof POSITION_MARKETS)[number];

/**
 * An open (resting) order of one account: a main account (`owner` = its uid) or a sub-account (`owner` = its id), as
 * for keys. `symbol` is the exchange's own instrument id (bybit `BTCUSDT`, okx `BTC-USDT-SWAP`, binance `BTCUSDT`,
 * kucoin `BTC-USDT` / `XBTUSDTM`); `qty` and `price` are decimal strings in the exchange's unit (contracts where the
 * exchange counts contracts). The sandbox never fills a resting order.
 */
export interface SandboxOrder {
  exchange: SandboxExchange;
  owner: string;
  /** The exchange's order id, in its format (bybit UUID, okx / binance digits, kucoin 24 hex digits). */
  id: string;
  clientId?: string;
  symbol: string;
  side: 'buy' | 'sell';
  type: 'limit' | 'market';
  /** null for a market order. */
  price: string | null;
  qty: string;
  market: OrderMarket;
  reduceOnly?: boolean;
  /** ISO time. */
  createdAt: string;
}

/**
 * A contract position (one-way / net mode: at most one per account and symbol). `size` is positive; `side` says which
 * way. `entryPrice` is informative only (the sandbox has no prices).
 */
export interface SandboxPosition {
  exchange: SandboxExchange;
  owner: string;
  symbol: string;
  side: 'long' | 'short';
  size: string;
  market: PositionMarket;
  entryPrice?: string;
  /** ISO time. */
  createdAt: string;
}

export interface SandboxStateData {
  version: 1;
  clientIp: string;
  nextId: number;
  accounts: SandboxAccount[];
  keys: SandboxKey[];
  /** Absent in state files written before orders existed: read as empty. */
  orders: SandboxOrder[];
  positions: SandboxPosition[];
}

export function emptyState(clientIp = '127.0.0.1'): SandboxStateData {
  return { version: 1, clientIp, nextId: 1, accounts: [], keys: [], orders: [], positions: [] };
}

export function keyView(k: SandboxKey): SandboxKeyView {
  return {
    exchange: k.exchange,
    apiKey: k.apiKey,
    owner: k.owner,
    master: k.master,
    permissions: structuredClone(k.permissions),
    ips: [...k.ips],
    label: k.label,
    readOnly: k.readOnly,
    createdAt: k.createdAt,
    expiresAt: k.expiresAt ?? null,
  };
}

/** True when `ip` is allowed by the key's allowlist (an empty list allows every address). */
export function ipAllowed(ips: readonly string[], ip: string): boolean {
  if (ips.length === 0) return true;
  const family = isIP(ip);
  if (family === 0) return false;
  const list = new BlockList();
  for (const entry of ips) {
    const [addr, bits] = entry.split('/');
    const fam = isIP(addr ?? '');
    if (fam === 0) continue;
    const type = fam === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr!, type);
    else list.addSubnet(addr!, Number(bits), type);
  }
  return list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The allowlist the exchange enforces right now: while an allowlist change is still propagating, the previous one.
 * Emulators check addresses against this, never against `key.ips` directly.
 */
export function effectiveIps(k: SandboxKey, now: number): readonly string[] {
  return k.ipsChange !== undefined && now < k.ipsChange.at ? k.ipsChange.previous : k.ips;
}

export function isExpired(k: SandboxKey, now: number): boolean {
  return k.expiresAt !== undefined && Date.parse(k.expiresAt) <= now;
}

/** ISO time without milliseconds, as bybit prints it. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `n` random letters and digits: the shape of most exchanges' fake keys and secrets. */
export function randomAlnum(n: number): string {
  // Rejection-free enough for fake credentials: 256 % 62 bias is irrelevant here, but keep it uniform anyway.
  let out = '';
  while (out.length < n) {
    for (const b of randomBytes(n * 2)) {
      if (b < 248 && out.length < n) out += ALNUM[b % 62];
    }
  }
  return out;
}

/** A passphrase that satisfies both okx's and kucoin's rules. */
export function newPassphrase(): string {
  return `Fake-${randomAlnum(10)}-9a!`;
}

/** In-memory state with optional file persistence. */
export class SandboxState {
  private data: SandboxStateData;

  constructor(
    data: SandboxStateData,
    private readonly file?: string,
  ) {
    this.data = data;
  }

  /** Loads `file` when it exists, else starts empty. `clientIp` overrides the saved address when given. */
  static open(file: string | undefined, clientIp?: string): SandboxState {
    let data = emptyState(clientIp);
    if (file && existsSync(file)) {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<SandboxStateData>;
      if (parsed.version !== 1 || !Array.isArray(parsed.accounts) || !Array.isArray(parsed.keys)) {
        throw new Error(`Sandbox state file ${file} is not a version 1 sandbox state.`);
      }
      data = {
        version: 1,
        clientIp: clientIp ?? parsed.clientIp ?? '127.0.0.1',
        nextId: typeof parsed.nextId === 'number' ? parsed.nextId : 1,
        accounts: parsed.accounts,
        keys: parsed.keys,
        orders: Array.isArray(parsed.orders) ? parsed.orders : [],
        positions: Array.isArray(parsed.positions) ? parsed.positions : [],
      };
    }
    return new SandboxState(data, file);
  }

  get clientIp(): string {
    return this.data.clientIp;
  }

  set clientIp(ip: string) {
    this.data.clientIp = ip;
    this.save();
  }

  /** A new numeric id, unique across the sandbox. */
  nextNumber(): string {
    const n = this.data.nextId++;
    return String(100_000_000 + n);
  }

  reset(): void {
    this.data = emptyState(this.data.clientIp);
    this.save();
  }

  // Accounts ---------------------------------------------------------------------------------------------------

  mainAccount(exchange: SandboxExchange, uid: string): SandboxAccount | undefined {
    return this.data.accounts.find((a) => a.exchange === exchange && a.parentUid === undefined && a.uid === uid);
  }

  /** A sub-account by its exchange handle (uid/name/email), optionally only under `parentUid`. */
  subAccount(exchange: SandboxExchange, id: string, parentUid?: string): SandboxAccount | undefined {
    return this.data.accounts.find(
      (a) => a.exchange === exchange && a.parentUid !== undefined && a.id === id && (parentUid === undefined || a.parentUid === parentUid),
    );
  }

  accounts(): readonly SandboxAccount[] {
    return this.data.accounts;
  }

  addAccount(a: SandboxAccount): SandboxAccount {
    this.data.accounts.push(a);
    this.save();
    return a;
  }

  // Keys -------------------------------------------------------------------------------------------------------

  key(exchange: SandboxExchange, apiKey: string): SandboxKey | undefined {
    return this.data.keys.find((k) => k.exchange === exchange && k.apiKey === apiKey);
  }

  /**
   * The key a request authenticates with: like `key()`, but a key still propagating (created under the `propagation`
   * fault mode less than its delay ago) is unknown, as it is to the exchange's authentication layer.
   */
  usableKey(exchange: SandboxExchange, apiKey: string, now: number): SandboxKey | undefined {
    const k = this.key(exchange, apiKey);
    return k !== undefined && (k.activeAt === undefined || now >= k.activeAt) ? k : undefined;
  }

  /** Looks a key up by apiKey on any exchange (the admin API's tamper route has no exchange in it). */
  keyAnywhere(apiKey: string): SandboxKey | undefined {
    return this.data.keys.find((k) => k.apiKey === apiKey);
  }

  keys(filter: { exchange?: SandboxExchange; owner?: string; mainUid?: string } = {}): SandboxKey[] {
    return this.data.keys.filter(
      (k) =>
        (filter.exchange === undefined || k.exchange === filter.exchange) &&
        (filter.owner === undefined || k.owner === filter.owner) &&
        (filter.mainUid === undefined || k.mainUid === filter.mainUid),
    );
  }

  /**
   * Issues a new key with the fresh credentials the exchange's emulator made (`newCredentials`); they are returned once
   * to the caller, list endpoints never show them.
   */
  issueKey(input: {
    exchange: SandboxExchange;
    credentials: { apiKey: string; secret: string };
    owner: SandboxAccount;
    master: boolean;
    permissions: NativePermissions;
    ips?: string[];
    label?: string;
    readOnly?: boolean;
    passphrase?: string;
    expiresAt?: string;
    now?: number;
  }): SandboxKey {
    const creds = input.credentials;
    const mainUid = input.owner.parentUid ?? input.owner.uid;
    const k: SandboxKey = {
      exchange: input.exchange,
      apiKey: creds.apiKey,
      secret: creds.secret,
      ...(input.passphrase !== undefined ? { passphrase: input.passphrase } : {}),
      keyId: this.nextNumber(),
      owner: input.owner.parentUid === undefined ? input.owner.uid : input.owner.id,
      ownerUid: input.owner.uid,
      mainUid,
      master: input.master,
      permissions: input.permissions,
      ips: input.ips ?? [],
      label: input.label ?? '',
      readOnly: input.readOnly ?? false,
      createdAt: new Date(input.now ?? Date.now()).toISOString(),
      ...(input.expiresAt !== undefined ? { expiresAt: input.expiresAt } : {}),
    };
    return this.addKey(k);
  }

  addKey(k: SandboxKey): SandboxKey {
    this.data.keys.push(k);
    this.save();
    return k;
  }

  deleteKey(k: SandboxKey): void {
    this.data.keys = this.data.keys.filter((x) => x !== k);
    this.save();
  }

  // Orders and positions ---------------------------------------------------------------------------------------

  orders(filter: { exchange?: SandboxExchange; owner?: string } = {}): SandboxOrder[] {
    return this.data.orders.filter(
      (o) => (filter.exchange === undefined || o.exchange === filter.exchange) && (filter.owner === undefined || o.owner === filter.owner),
    );
  }

  addOrder(o: SandboxOrder): SandboxOrder {
    this.data.orders.push(o);
    this.save();
    return o;
  }

  /** Removes these orders (cancelled); returns them. */
  removeOrders(gone: readonly SandboxOrder[]): SandboxOrder[] {
    if (gone.length === 0) return [];
    const set = new Set(gone);
    this.data.orders = this.data.orders.filter((o) => !set.has(o));
    this.save();
    return [...gone];
  }

  positions(filter: { exchange?: SandboxExchange; owner?: string } = {}): SandboxPosition[] {
    return this.data.positions.filter(
      (p) => (filter.exchange === undefined || p.exchange === filter.exchange) && (filter.owner === undefined || p.owner === filter.owner),
    );
  }

  position(exchange: SandboxExchange, owner: string, symbol: string): SandboxPosition | undefined {
    return this.data.positions.find((p) => p.exchange === exchange && p.owner === owner && p.symbol === symbol);
  }

  /** Sets the account's position in `symbol` (one-way mode: replaces any other). */
  setPosition(p: SandboxPosition): SandboxPosition {
    this.data.positions = this.data.positions.filter((x) => !(x.exchange === p.exchange && x.owner === p.owner && x.symbol === p.symbol));
    this.data.positions.push(p);
    this.save();
    return p;
  }

  removePosition(p: SandboxPosition): void {
    this.data.positions = this.data.positions.filter((x) => x !== p);
    this.save();
  }

  /** Call after mutating a key in place. */
  changed(): void {
    this.save();
  }

  toJSON(): SandboxStateData {
    return structuredClone(this.data);
  }

  /** Writes the state file atomically (temp file + rename) with mode 0600. No-op without a file. */
  save(): void {
    if (!this.file) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      fchmodSync(fd, 0o600); // in case a stale temp file with wider permissions was reused
      writeSync(fd, `${JSON.stringify(this.data, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }
}
