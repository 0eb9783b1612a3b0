/**
 * Binance emulator: `sapi` key restrictions (inspection), the sub-account API-key endpoints a regular master account
 * has (create, delete, IP restriction query), and spot `GET /api/v3/account`. Signed the Binance way: X-MBX-APIKEY
 * header, `timestamp` (+ `recvWindow`) params, hex HMAC-SHA256 of the query string or form body as `signature`.
 */
import { isIP } from 'node:net';
import {
  commaList,
  header,
  hmac,
  json,
  param,
  queryVariants,
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

function fail(status: number, code: number, msg: string): Reply {
  return json(status, { code, msg });
}

const invalidKey = (): Reply => fail(401, -2015, 'Invalid API-key, IP, or permissions for action.');

function perms(k: SandboxKey): BinancePerms {
  return k.permissions as BinancePerms;
}

/** Removes the `signature` parameter from a raw query/body, keeping every other byte as sent. */
function withoutSignature(raw: string): { payload: string; signature: string | undefined } {
  const parts = raw.split('&');
  const idx = parts.findIndex((p) => p.startsWith('signature='));
  if (idx === -1) return { payload: raw, signature: undefined };
  const signature = parts[idx]!.slice('signature='.length);
  parts.splice(idx, 1);
  return { payload: parts.join('&'), signature };
}

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const apiKey = header(req, 'x-mbx-apikey');
  if (!apiKey) return { reply: fail(401, -2014, 'API-key format invalid.') };
  const key = ctx.state.usableKey('binance', apiKey, ctx.now);
  if (!key || isExpired(key, ctx.now)) return { reply: invalidKey() };
  // Binance signs queryString + body as sent (ccxt puts everything in one of the two).
  const raw = req.rawQuery && req.rawBody ? `${req.rawQuery}${req.rawBody}` : req.rawQuery || req.rawBody;
  const { payload, signature } = withoutSignature(raw);
  if (!signature) return { reply: fail(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.") };
  const tsRaw = param(req, 'timestamp');
  if (!tsRaw || !/^\d+$/.test(tsRaw)) {
    return { reply: fail(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.") };
  }
  const recvRaw = param(req, 'recvWindow') ?? '5000';
  const recv = Number(recvRaw);
  if (!Number.isFinite(recv) || recv <= 0 || recv > MAX_RECV_WINDOW) {
    return { reply: fail(400, -1131, `recvWindow must be less than ${MAX_RECV_WINDOW}.`) };
  }
  const ts = Number(tsRaw);
  // Binance's rule: timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow.
  if (!(ts < ctx.now + 1000 && ctx.now - ts <= recv)) {
    return { reply: fail(400, -1021, 'Timestamp for this request is outside of the recvWindow.') };
  }
  const valid = queryVariants(payload).some((p) => safeEqual(hmac(key.secret, p, 'hex'), signature.toLowerCase()));
  if (!valid) return { reply: fail(400, -1022, 'Signature for this request is not valid.') };
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) return { reply: invalidKey() };
  return { key };
}

function apiRestrictions(key: SandboxKey, ctx: EmulatorContext): Reply {
  const out: Record<string, unknown> = { ipRestrict: key.ips.length > 0, createTime: Date.parse(key.createdAt) };
  for (const f of FLAGS) out[f] = perms(key)[f] === true;
  for (const [f, v] of Object.entries(perms(key))) if (!(f in out)) out[f] = v;
  if (key.expiresAt !== undefined && Date.parse(key.expiresAt) > ctx.now) {
    out.tradingAuthorityExpirationTime = Date.parse(key.expiresAt);
  }
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

/** The sub-account named by `email`, if it belongs to the caller's main account. */
function ownSub(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext) {
  const email = param(req, 'email');
  return email ? ctx.state.subAccount('binance', email, caller.mainUid) : undefined;
}

function createSubApi(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!caller.master || caller.readOnly) return invalidKey();
  const email = param(req, 'email');
  if (!email) return fail(400, -1102, "Mandatory parameter 'email' was not sent, was empty/null, or malformed.");
  const sub = ownSub(req, caller, ctx);
  if (!sub) return fail(400, -12022, 'The sub-account does not exist under this master account.');
  const apiName = param(req, 'apiName');
  if (!apiName) return fail(400, -1102, "Mandatory parameter 'apiName' was not sent, was empty/null, or malformed.");
  const status = param(req, 'status');
  if (status !== '1' && status !== '2' && status !== '3') {
    return fail(400, -1102, "Mandatory parameter 'status' was not sent, was empty/null, or malformed.");
  }
  let ips: string[] = [];
  if (status === '2') {
    const raw = param(req, 'ipAddress') ?? '';
    ips = commaList(raw);
    if (ips.length === 0 || raw.length > 500 || ips.some((ip) => isIP(ip) === 0)) {
      return fail(400, -1102, "Mandatory parameter 'ipAddress' was not sent, was empty/null, or malformed.");
    }
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
  const email = param(req, 'email');
  const apiKey = param(req, 'subAccountApiKey');
  if (!email || !apiKey) {
    return fail(400, -1102, `Mandatory parameter '${email ? 'subAccountApiKey' : 'email'}' was not sent, was empty/null, or malformed.`);
  }
  const target = ctx.state.key('binance', apiKey);
  if (!target || target.master || target.owner !== email || target.mainUid !== caller.mainUid) {
    return fail(400, -12023, 'The sub-account API key does not exist.');
  }
  return target;
}

function deleteSubApi(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!caller.master || caller.readOnly) return invalidKey();
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
        'GET /sapi/v1/sub-account/subAccountApi/ipRestriction': (k) => ipRestriction(req, k, ctx),
      },
      () => authenticate(req, ctx),
      (route) => fail(404, -1000, `Route not found: ${route}`),
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
