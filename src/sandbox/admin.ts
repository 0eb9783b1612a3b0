/**
 * The admin endpoint's routes (`/_admin/...`): seed accounts, sub-accounts, keys, open orders and positions; tamper
 * with a key; inject faults; enforce a rate limit; set the client address; reset. JSON in, JSON out. Seeding may create states the exchange itself would refuse
 * (withdraw on a master key, say): rehearsing those is the point.
 */
import { isIP } from 'node:net';
import { parseFaultSpec, type FaultTable } from './faults.js';
import { parseRateLimitSpec, type RateLimitTable } from './rate-limit.js';
import { requiresPassphrase } from '../exchanges/registry.js';
import { json, type ExchangeEmulator, type Reply } from './http.js';
import {
  isSandboxExchange,
  keyView,
  newPassphrase,
  ORDER_MARKETS,
  POSITION_MARKETS,
  SANDBOX_EXCHANGES,
  type OrderMarket,
  type PositionMarket,
  type SandboxAccount,
  type SandboxExchange,
  type SandboxState,
} from './state.js';
import { decNorm, isDecimal, isPositiveDecimal, newOrderId } from './trading/common.js';

export interface AdminDeps {
  state: SandboxState;
  faults: FaultTable;
  rateLimits: RateLimitTable;
  emulators: Record<SandboxExchange, ExchangeEmulator>;
}

const bad = (message: string): Reply => json(400, { error: message });
const unknownExchange = (): Reply => bad(`exchange must be one of ${SANDBOX_EXCHANGES.join(', ')}`);

function str(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function ipList(v: unknown): string[] | string {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return 'ips must be an array of strings';
  const bad = (v as string[]).find((x) => isIP(x.split('/')[0] ?? '') === 0);
  return bad === undefined ? [...(v as string[])] : `not an IP address or CIDR range: ${bad}`;
}

function isoOrError(v: unknown): string | undefined {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString() : undefined;
}

/** A decimal given as a string or a plain number. */
function decimal(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return typeof v === 'string' ? v : undefined;
}

/** The account an order or position belongs to: a sub-account by its id, or a main account by its uid. */
function ownerOf(state: SandboxState, exchange: SandboxExchange, body: Record<string, unknown>): SandboxAccount | string {
  const ownerId = str(body.owner);
  if (!ownerId) return 'owner is required (main uid or sub-account id)';
  return (
    state.subAccount(exchange, ownerId) ??
    state.mainAccount(exchange, ownerId) ??
    `no main account or sub-account ${ownerId} on ${exchange}; create it first`
  );
}

const ownerKey = (a: SandboxAccount): string => (a.parentUid === undefined ? a.uid : a.id);

function mainAccount(state: SandboxState, exchange: SandboxExchange, uid: string): SandboxAccount {
  return state.mainAccount(exchange, uid) ?? state.addAccount({ exchange, uid, id: uid });
}

/** Handles one admin request; `path` is relative to `/_admin`. */
export function handleAdmin(deps: AdminDeps, method: string, path: string, query: URLSearchParams, body: Record<string, unknown>): Reply {
  const { state, faults, rateLimits, emulators } = deps;
  const route = `${method} ${path}`;

  if (route === 'POST /accounts') {
    if (!isSandboxExchange(body.exchange)) return unknownExchange();
    const uid = str(body.uid) ?? state.nextNumber();
    if (!/^\d+$/.test(uid)) return bad('uid must be numeric');
    if (body.accountMode !== undefined && body.accountMode !== 'classic' && body.accountMode !== 'unified') {
      return bad('accountMode must be classic or unified');
    }
    const a = mainAccount(state, body.exchange, uid);
    if (body.accountMode !== undefined) {
      a.accountMode = body.accountMode;
      state.changed();
    }
    return json(200, { exchange: a.exchange, uid: a.uid, ...(a.accountMode ? { accountMode: a.accountMode } : {}) });
  }

  if (route === 'POST /subaccounts') {
    const exchange = body.exchange;
    if (!isSandboxExchange(exchange)) return unknownExchange();
    const parentUid = str(body.parentUid);
    if (!parentUid) return bad('parentUid is required');
    const parent = mainAccount(state, exchange, parentUid);
    let id = str(body.id);
    if (id && state.subAccount(exchange, id)) {
      const existing = state.subAccount(exchange, id)!;
      if (existing.parentUid !== parent.uid) return bad(`sub-account ${id} already belongs to another main account`);
      return json(200, { exchange, parentUid: existing.parentUid, id: existing.id, uid: existing.uid });
    }
    const emulator = emulators[exchange];
    if (emulator.subaccountIdIsUid && id !== undefined && !/^\d+$/.test(id)) return bad(`a ${exchange} sub-account id is its numeric uid`);
    const uid = emulator.subaccountIdIsUid && id !== undefined ? id : state.nextNumber();
    id ??= emulator.defaultSubaccountId(uid);
    const sub = state.addAccount({ exchange, uid, id, parentUid: parent.uid });
    return json(200, { exchange, parentUid: sub.parentUid, id: sub.id, uid: sub.uid });
  }

  if (route === 'POST /keys') {
    const exchange = body.exchange;
    if (!isSandboxExchange(exchange)) return unknownExchange();
    const ownerId = str(body.owner);
    if (!ownerId) return bad('owner is required (main uid or sub-account id)');
    let owner: SandboxAccount | undefined;
    if (body.master === true) owner = mainAccount(state, exchange, ownerId);
    else owner = state.subAccount(exchange, ownerId) ?? state.mainAccount(exchange, ownerId);
    if (!owner) return bad(`no main account or sub-account ${ownerId} on ${exchange}; create it first`);
    const emulator = emulators[exchange];
    const parsed = emulator.parsePermissions(body.permissions);
    if ('error' in parsed) return bad(parsed.error);
    const permissions = parsed.permissions;
    const ips = body.ips === undefined ? [] : ipList(body.ips);
    if (typeof ips === 'string') return bad(ips);
    const expiresAt = body.expiresAt === undefined ? undefined : isoOrError(body.expiresAt);
    if (body.expiresAt !== undefined && expiresAt === undefined) return bad('expiresAt must be an ISO time');
    const passphrase = requiresPassphrase(exchange) ? (str(body.passphrase) ?? newPassphrase()) : undefined;
    const key = state.issueKey({
      exchange,
      credentials: emulator.newCredentials(),
      owner,
      master: owner.parentUid === undefined,
      permissions,
      ips,
      label: typeof body.label === 'string' ? body.label : '',
      readOnly: body.readOnly === true,
      ...(passphrase !== undefined ? { passphrase } : {}),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
    });
    return json(200, { apiKey: key.apiKey, secret: key.secret, ...(passphrase !== undefined ? { passphrase } : {}) });
  }

  const tamper = /^POST \/keys\/([^/]+)\/tamper$/.exec(route);
  if (tamper) {
    const key = state.keyAnywhere(decodeURIComponent(tamper[1]!));
    if (!key) return json(404, { error: 'no such key' });
    const emulator = emulators[key.exchange];
    if (body.permissions !== undefined) {
      const p = emulator.parsePermissions(body.permissions);
      if ('error' in p) return bad(p.error);
      key.permissions = p.permissions;
    }
    if (typeof body.withdraw === 'boolean') key.permissions = emulator.setWithdraw(key.permissions, body.withdraw);
    if (body.ips !== undefined) {
      const ips = body.ips === null ? [] : ipList(body.ips);
      if (typeof ips === 'string') return bad(ips);
      // Under the propagation fault mode the exchange keeps enforcing the old allowlist for a while.
      const delay = faults.propagationMs(key.exchange);
      if (delay > 0) key.ipsChange = { previous: [...key.ips], at: Date.now() + delay };
      else delete key.ipsChange;
      key.ips = ips;
    }
    if (body.expiresAt === null) delete key.expiresAt;
    else if (body.expiresAt !== undefined) {
      const at = isoOrError(body.expiresAt);
      if (!at) return bad('expiresAt must be an ISO time or null');
      key.expiresAt = at;
    }
    if (typeof body.readOnly === 'boolean') key.readOnly = body.readOnly;
    state.changed();
    return json(200, keyView(key));
  }

  if (route === 'GET /keys') {
    const exchange = query.get('exchange') || undefined;
    if (exchange !== undefined && !isSandboxExchange(exchange)) return bad('unknown exchange');
    const owner = query.get('owner') || undefined;
    return json(200, { keys: state.keys({ exchange, owner }).map(keyView) });
  }

  if (route === 'POST /orders') {
    const exchange = body.exchange;
    if (!isSandboxExchange(exchange)) return unknownExchange();
    const owner = ownerOf(state, exchange, body);
    if (typeof owner === 'string') return bad(owner);
    if (typeof body.symbol !== 'string' || body.symbol === '') return bad("symbol is required (the exchange's own id)");
    if (body.side !== 'buy' && body.side !== 'sell') return bad('side must be buy or sell');
    if (!(ORDER_MARKETS as readonly unknown[]).includes(body.market)) return bad(`market must be one of ${ORDER_MARKETS.join(', ')}`);
    const qty = decimal(body.qty);
    if (!isPositiveDecimal(qty)) return bad('qty must be a positive decimal');
    let price: string | undefined;
    if (body.price !== undefined && body.price !== null) {
      price = decimal(body.price);
      if (!isDecimal(price)) return bad('price must be a decimal');
    }
    const type = body.type ?? (price === undefined ? 'market' : 'limit');
    if (type !== 'limit' && type !== 'market') return bad('type must be limit or market');
    if (type === 'limit' && price === undefined) return bad('a limit order needs a price');
    const order = state.addOrder({
      exchange,
      owner: ownerKey(owner),
      id: newOrderId(exchange, state),
      ...(typeof body.clientId === 'string' && body.clientId !== '' ? { clientId: body.clientId } : {}),
      symbol: body.symbol,
      side: body.side,
      type,
      price: price === undefined ? null : decNorm(price),
      qty: decNorm(qty),
      market: body.market as OrderMarket,
      ...(body.reduceOnly === true ? { reduceOnly: true } : {}),
      createdAt: new Date().toISOString(),
    });
    return json(200, order);
  }

  if (route === 'POST /positions') {
    const exchange = body.exchange;
    if (!isSandboxExchange(exchange)) return unknownExchange();
    const owner = ownerOf(state, exchange, body);
    if (typeof owner === 'string') return bad(owner);
    if (typeof body.symbol !== 'string' || body.symbol === '') return bad("symbol is required (the exchange's own id)");
    if (body.side !== 'long' && body.side !== 'short') return bad('side must be long or short');
    if (!(POSITION_MARKETS as readonly unknown[]).includes(body.market)) return bad(`market must be one of ${POSITION_MARKETS.join(', ')}`);
    const size = decimal(body.size);
    if (!isPositiveDecimal(size)) return bad('size must be a positive decimal');
    const entryPrice = body.entryPrice === undefined ? undefined : decimal(body.entryPrice);
    if (body.entryPrice !== undefined && !isDecimal(entryPrice)) return bad('entryPrice must be a decimal');
    const position = state.setPosition({
      exchange,
      owner: ownerKey(owner),
      symbol: body.symbol,
      side: body.side,
      size: decNorm(size),
      market: body.market as PositionMarket,
      ...(entryPrice !== undefined ? { entryPrice: decNorm(entryPrice) } : {}),
      createdAt: new Date().toISOString(),
    });
    return json(200, position);
  }

  if (route === 'GET /orders' || route === 'GET /positions') {
    const exchange = query.get('exchange') || undefined;
    if (exchange !== undefined && !isSandboxExchange(exchange)) return bad('unknown exchange');
    const owner = query.get('owner') || undefined;
    return route === 'GET /orders'
      ? json(200, { orders: state.orders({ exchange, owner }) })
      : json(200, { positions: state.positions({ exchange, owner }) });
  }

  if (route === 'POST /faults') {
    const spec = parseFaultSpec(body);
    if (typeof spec === 'string') return bad(spec);
    return json(200, { id: faults.add(spec) });
  }

  if (route === 'DELETE /faults') {
    faults.clear();
    return json(200, { ok: true });
  }

  if (route === 'POST /rate-limit') {
    if (!isSandboxExchange(body.exchange)) return unknownExchange();
    const spec = parseRateLimitSpec(body);
    if (typeof spec === 'string') return bad(spec);
    rateLimits.set(body.exchange, spec);
    return json(200, { ok: true });
  }

  if (route === 'GET /rate-limit') return json(200, rateLimits.stats());

  if (route === 'DELETE /rate-limit') {
    rateLimits.clear();
    return json(200, { ok: true });
  }

  if (route === 'POST /client-ip') {
    if (typeof body.ip !== 'string' || isIP(body.ip) === 0) return bad('ip must be an IPv4 or IPv6 address');
    state.clientIp = body.ip;
    return json(200, { ip: state.clientIp });
  }

  if (route === 'GET /client-ip') return json(200, { ip: state.clientIp });

  if (route === 'POST /reset') {
    state.reset();
    faults.clear();
    rateLimits.clear();
    return json(200, { ok: true });
  }

  return json(404, { error: `no admin route ${route}` });
}
