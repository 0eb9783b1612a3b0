/**
 * Binance emulator: `sapi` key restrictions (inspection), the sub-account API-key endpoints a regular master account
 * has (create, delete, query, IP restriction query), and spot `GET /api/v3/account`. Signed the Binance way:
 * X-MBX-APIKEY header, `timestamp` (+ `recvWindow`) params, hex HMAC-SHA256 of the query string + body exactly as sent
 * (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security). Every error is a code Binance
 * documents (https://developers.binance.com/docs/binance-spot-api-docs/errors).
 */
import { isIP } from 'node:net';
import {
  commaList,
  header,
  hmac,
  json,
  safeEqual,
  type Authed,
  dispatch,
  type EmulatorContext,
  type ExchangeEmulator,
  type Reply,
  type SandboxRequest,
} from '../../sandbox/http.js';
import { effectiveIps, ipAllowed, isExpired, randomAlnum, type SandboxKey } from '../../sandbox/state.js';

type BinancePerms = Record<string, boolean>;

/** Every flag apiRestrictions reports, all off unless set. */
const FLAGS = [
  'enableReading',
  'enableWithdrawals',
  'enableInternalTransfer',
  'enableMargin',
  'enableFutures',
  'permitsUniversalTransfer',
  'enableVanillaOptions',
  'enableFixApiTrade',
  'enableFixReadOnly',
  'enableSpotAndMarginTrading',
  'enablePortfolioMarginTrading',
];

const MAX_RECV_WINDOW = 60_000;

/**
 * A key without an IP allowlist keeps "Enable Spot & Margin Trading" for 30 days from activation; Binance then unchecks
 * it, and the key still authenticates for everything else:
 * https://www.binance.com/en/support/announcement/cda0a4b53da04396b5d27881e93abf78 (the sandbox counts from createdAt).
 */
export const UNRESTRICTED_TRADING_MS = 30 * 86_400_000;

/** Query Sub-account API Key: `size` default 30, maximum 100; `page` default 1, minimum 1. */
const LIST_PAGE_DEFAULT = 30;
const LIST_PAGE_MAX = 100;

function fail(status: number, code: number, msg: string): Reply {
  return json(status, { code, msg });
}

/** -2015 REJECTED_MBX_KEY: Binance's one answer for an unknown key, a wrong address and a missing permission. */
const invalidKey = (): Reply => fail(401, -2015, 'Invalid API-key, IP, or permissions for action.');
/** -1102 MANDATORY_PARAM_EMPTY_OR_MALFORMED. */
const mandatory = (name: string): Reply => fail(400, -1102, `Mandatory parameter '${name}' was not sent, was empty/null, or malformed.`);
/** -1130 INVALID_PARAMETER: also what the sandbox answers for a sub-account or sub key that is not the caller's. */
const invalidParam = (name: string): Reply => fail(400, -1130, `Data sent for parameter '${name}' is not valid.`);

function perms(k: SandboxKey): BinancePerms {
  return k.permissions as BinancePerms;
}

/**
 * The request's parameters as Binance reads them: the query string, and a body only when it is
 * application/x-www-form-urlencoded; a parameter in both is taken from the query string
 * (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/general-api-information). Values are
 * percent-decoded, `+` as a space (form encoding).
 */
function params(req: SandboxRequest): URLSearchParams {
  const out = new URLSearchParams(req.rawQuery);
  if (header(req, 'content-type')?.includes('application/x-www-form-urlencoded')) {
    for (const [k, v] of new URLSearchParams(req.rawBody)) if (!out.has(k)) out.append(k, v);
  }
  return out;
}

function param(req: SandboxRequest, name: string): string | undefined {
  const v = params(req).get(name);
  return v === null || v === '' ? undefined : v;
}

/** Splits `signature=` parameters off a raw query or body, keeping every other byte as sent. */
function withoutSignature(raw: string): { payload: string; signatures: string[] } {
  if (raw === '') return { payload: '', signatures: [] };
  const keep: string[] = [];
  const signatures: string[] = [];
  for (const part of raw.split('&')) {
    if (part.startsWith('signature=')) signatures.push(part.slice('signature='.length));
    else keep.push(part);
  }
  return { payload: keep.join('&'), signatures };
}

/**
 * Binance unchecks "Enable Spot & Margin Trading" on a key without an IP allowlist once its 30 days are over; like
 * Binance, the sandbox keeps it unchecked (adding an allowlist later does not bring it back).
 */
function lapseTrading(key: SandboxKey, ctx: EmulatorContext): void {
  const at = tradingLapseAt(key);
  if (at !== undefined && ctx.now >= at) {
    key.permissions = { ...perms(key), enableSpotAndMarginTrading: false };
    ctx.state.changed();
  }
}

/** When an unrestricted key's spot & margin trading lapses; undefined when it does not. */
function tradingLapseAt(key: SandboxKey): number | undefined {
  if (key.ips.length > 0 || perms(key).enableSpotAndMarginTrading !== true) return undefined;
  return Date.parse(key.createdAt) + UNRESTRICTED_TRADING_MS;
}

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const apiKey = header(req, 'x-mbx-apikey');
  if (!apiKey) return { reply: fail(401, -2014, 'API-key format invalid.') };
  const key = ctx.state.usableKey('binance', apiKey, ctx.now);
  if (!key || isExpired(key, ctx.now)) return { reply: invalidKey() };
  // The signature payload is the query string concatenated without separator to the HTTP body, both exactly as sent
  // (already percent-encoded), without the signature itself. A client that signs the decoded form of what it sends is
  // refused with -1022: https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security and the
  // 2026-01-15 rule "percent-encode payloads before computing signatures" in
  // https://developers.binance.com/docs/binance-spot-api-docs/CHANGELOG.
  const query = withoutSignature(req.rawQuery);
  const body = withoutSignature(req.rawBody);
  const signatures = [...query.signatures, ...body.signatures];
  if (signatures.length === 0 || signatures[0] === '') return { reply: mandatory('signature') };
  if (signatures.length > 1) return { reply: fail(400, -1101, 'Duplicate values for a parameter detected.') };
  const tsRaw = param(req, 'timestamp');
  if (!tsRaw || !/^\d+$/.test(tsRaw)) return { reply: mandatory('timestamp') };
  const recvRaw = param(req, 'recvWindow') ?? '5000';
  // recvWindow: milliseconds with up to three decimals, at most 60000.
  const recv = /^\d+(\.\d{1,3})?$/.test(recvRaw) ? Number(recvRaw) : Number.NaN;
  if (!(recv > 0 && recv <= MAX_RECV_WINDOW)) return { reply: invalidParam('recvWindow') };
  const ts = Number(tsRaw);
  // Binance's rule: timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow.
  if (!(ts < ctx.now + 1000 && ctx.now - ts <= recv)) {
    return { reply: fail(400, -1021, 'Timestamp for this request is outside of the recvWindow.') };
  }
  // HMAC signatures are case-insensitive hex.
  if (!safeEqual(hmac(key.secret, query.payload + body.payload, 'hex'), signatures[0]!.toLowerCase())) {
    return { reply: fail(400, -1022, 'Signature for this request is not valid.') };
  }
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) return { reply: invalidKey() };
  lapseTrading(key, ctx);
  return { key };
}

function apiRestrictions(key: SandboxKey, ctx: EmulatorContext): Reply {
  const out: Record<string, unknown> = { ipRestrict: key.ips.length > 0, createTime: Date.parse(key.createdAt) };
  for (const f of FLAGS) out[f] = perms(key)[f] === true;
  for (const [f, v] of Object.entries(perms(key))) if (!(f in out)) out[f] = v;
  // "tradingAuthorityExpirationTime: Expiration time for spot and margin trading permission": an expiry set on the key,
  // or the end of an unrestricted key's 30 days (https://developers.binance.com/docs/wallet/account/api-key-permission).
  const ends = [key.expiresAt !== undefined ? Date.parse(key.expiresAt) : undefined, tradingLapseAt(key)].filter(
    (t): t is number => t !== undefined && t > ctx.now,
  );
  if (ends.length > 0) out.tradingAuthorityExpirationTime = Math.min(...ends);
  return json(200, out);
}

function account(key: SandboxKey, ctx: EmulatorContext): Reply {
  const p = perms(key);
  return json(200, {
    makerCommission: 10,
    takerCommission: 10,
    buyerCommission: 0,
    sellerCommission: 0,
    commissionRates: { maker: '0.00100000', taker: '0.00100000', buyer: '0.00000000', seller: '0.00000000' },
    canTrade: p.enableSpotAndMarginTrading === true,
    canWithdraw: p.enableWithdrawals === true,
    canDeposit: true,
    brokered: false,
    requireSelfTradePrevention: false,
    preventSor: false,
    updateTime: ctx.now,
    accountType: 'SPOT',
    balances: [],
    permissions: ['SPOT'],
    uid: Number(key.ownerUid),
  });
}

function bool(v: string | undefined): boolean {
  return v === 'true' || v === 'TRUE' || v === 'True';
}

/**
 * Create and Delete Sub-account API Key are TRADE endpoints for a master account: the calling key needs "Enable Spot &
 * Margin Trading" (https://developers.binance.com/legacy-docs/sub_account/api-management/Create-Sub-account-API-Key,
 * .../Delete-Sub-account-API-Key; Binance's connector marks the IP-restriction endpoints "You need to enable Enable Spot &
 * Margin Trading option for the api key which requests this endpoint"). A missing permission is -2015.
 */
function mayManageKeys(caller: SandboxKey): boolean {
  return caller.master && !caller.readOnly && perms(caller).enableSpotAndMarginTrading === true;
}

/** The sub-account named by `email` if it belongs to the caller's main account, or the documented refusal. */
function ownSub(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext) {
  const email = param(req, 'email');
  if (!email) return mandatory('email');
  return ctx.state.subAccount('binance', email, caller.mainUid) ?? invalidParam('email');
}

function createSubApi(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!mayManageKeys(caller)) return invalidKey();
  const sub = ownSub(req, caller, ctx);
  if ('status' in sub) return sub;
  const apiName = param(req, 'apiName');
  if (!apiName) return mandatory('apiName');
  const status = param(req, 'status');
  if (status !== '1' && status !== '2' && status !== '3') return mandatory('status');
  if (status === '3' && !param(req, 'thirdPartyName')) return mandatory('thirdPartyName');
  let ips: string[] = [];
  if (status === '2') {
    const raw = param(req, 'ipAddress') ?? '';
    ips = commaList(raw);
    if (ips.length === 0 || raw.length > 500 || ips.some((ip) => isIP(ip) === 0)) return mandatory('ipAddress');
  }
  const p: BinancePerms = {
    enableReading: true,
    enableSpotAndMarginTrading: bool(param(req, 'canTrade')),
    enableMargin: bool(param(req, 'canMarginLoanRepay')),
    enableFutures: bool(param(req, 'canFuturesTrade')),
    permitsUniversalTransfer: bool(param(req, 'canUniversalTransfer')),
    enableVanillaOptions: bool(param(req, 'canVanillaOptions')),
    // There is no withdraw parameter: sub-account keys created here can never withdraw.
    enableWithdrawals: false,
    enableInternalTransfer: false,
  };
  const key = ctx.state.issueKey({
    exchange: 'binance',
    credentials: newCredentials(),
    owner: sub,
    master: false,
    permissions: p,
    ips,
    label: apiName,
    now: ctx.now,
  });
  return json(200, {
    apiName,
    apiKey: key.apiKey,
    secretKey: key.secret,
    canTrade: p.enableSpotAndMarginTrading,
    canMarginLoanRepay: p.enableMargin,
    canFuturesTrade: p.enableFutures,
    canUniversalTransfer: p.permitsUniversalTransfer,
    canVanillaOptions: p.enableVanillaOptions,
    status: Number(status),
    ipList: ips,
  });
}

/** The sub key named by `email` + `subAccountApiKey`, if the caller's main account owns it. */
function ownSubKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): SandboxKey | Reply {
  const sub = ownSub(req, caller, ctx);
  if ('status' in sub) return sub;
  const apiKey = param(req, 'subAccountApiKey');
  if (!apiKey) return mandatory('subAccountApiKey');
  const target = ctx.state.key('binance', apiKey);
  if (!target || target.master || target.owner !== sub.id) return invalidParam('subAccountApiKey');
  return target;
}

function deleteSubApi(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!mayManageKeys(caller)) return invalidKey();
  const target = ownSubKey(req, caller, ctx);
  if ('status' in target) return target;
  ctx.state.deleteKey(target);
  return json(200, {});
}

function ipRestriction(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!caller.master) return invalidKey();
  const target = ownSubKey(req, caller, ctx);
  if ('status' in target) return target;
  return json(200, {
    ipRestrict: target.ips.length > 0 ? 'true' : 'false',
    ipList: [...target.ips],
    updateTime: Date.parse(target.createdAt),
    apiKey: target.apiKey,
  });
}

/**
 * Query Sub-account API Key (For Master Account) (USER_DATA), GET /sapi/v1/sub-account/subAccountApi: `email`,
 * optional `subAccountApiKey` (exact match), `page`, `size` -> `{total, list: [{email, apiName, apikey, canTrade,
 * canMarginLoanRepay, canFuturesTrade, canUniversalTransfer, canVanillaOptions, timestamp}]}`, no IP list. Shape from
 * https://developers.binance.com/en/docs/catalog/vip-and-institutional-sub-account/api/rest-api/api-management and
 * Binance's generated connector (binance-connector-js clients/sub-account 14.0.0, querySubAccountApiKey).
 */
function listSubApi(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!caller.master) return invalidKey();
  const sub = ownSub(req, caller, ctx);
  if ('status' in sub) return sub;
  const page = param(req, 'page') ?? '1';
  const size = param(req, 'size') ?? String(LIST_PAGE_DEFAULT);
  if (!/^\d+$/.test(page) || Number(page) < 1) return invalidParam('page');
  if (!/^\d+$/.test(size) || Number(size) < 1 || Number(size) > LIST_PAGE_MAX) return invalidParam('size');
  const only = param(req, 'subAccountApiKey');
  const keys = ctx.state
    .keys({ exchange: 'binance', owner: sub.id, mainUid: caller.mainUid })
    .filter((k) => !k.master && (only === undefined || k.apiKey === only));
  for (const k of keys) lapseTrading(k, ctx);
  const from = (Number(page) - 1) * Number(size);
  return json(200, {
    total: keys.length,
    list: keys.slice(from, from + Number(size)).map((k) => ({
      email: sub.id,
      apiName: k.label,
      apikey: k.apiKey,
      canTrade: perms(k).enableSpotAndMarginTrading === true,
      canMarginLoanRepay: perms(k).enableMargin === true,
      canFuturesTrade: perms(k).enableFutures === true,
      canUniversalTransfer: perms(k).permitsUniversalTransfer === true,
      canVanillaOptions: perms(k).enableVanillaOptions === true,
      timestamp: Date.parse(k.createdAt),
    })),
  });
}

/** Binance keys and secrets: 64 letters and digits. */
function newCredentials(): { apiKey: string; secret: string } {
  return { apiKey: randomAlnum(64), secret: randomAlnum(64) };
}

export const emulator: ExchangeEmulator = {
  id: 'binance',
  newCredentials,

  // Binance names a sub-account by its email (a virtual one for API-created sub-accounts).
  defaultSubaccountId(uid) {
    return `sub${uid.slice(-6)}_virtual@sandbox.invalid`;
  },

  handle(req, ctx) {
    return dispatch(
      req,
      {
        'GET /sapi/v1/account/apiRestrictions': (k) => apiRestrictions(k, ctx),
        'GET /api/v3/account': (k) => account(k, ctx),
        'POST /sapi/v1/sub-account/subAccountApi': (k) => createSubApi(req, k, ctx),
        'POST /sapi/v2/sub-account/subAccountApi': (k) => createSubApi(req, k, ctx),
        'DELETE /sapi/v1/sub-account/subAccountApi': (k) => deleteSubApi(req, k, ctx),
        'GET /sapi/v1/sub-account/subAccountApi': (k) => listSubApi(req, k, ctx),
        'GET /sapi/v1/sub-account/subAccountApi/ipRestriction': (k) => ipRestriction(req, k, ctx),
      },
      () => authenticate(req, ctx),
      // -1000 UNKNOWN, HTTP 404: Binance documents no code of its own for an unknown path.
      (route) => fail(404, -1000, `An unknown error occurred while processing the request (${route}).`),
    );
  },

  rateLimited(ctx) {
    return {
      ...fail(
        429,
        -1003,
        'Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.',
      ),
      headers: { 'Retry-After': '1', 'X-MBX-USED-WEIGHT-1M': '6001', Date: new Date(ctx.now).toUTCString() },
    };
  },

  parsePermissions(input) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return { error: 'binance permissions are an object of booleans, e.g. {"enableReading":true}' };
    }
    const out: BinancePerms = {};
    for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
      if (typeof v !== 'boolean') return { error: `permissions.${k} must be a boolean` };
      out[k] = v;
    }
    return { permissions: out };
  },

  setWithdraw(p, on) {
    return { ...(p as BinancePerms), enableWithdrawals: on };
  },
};
