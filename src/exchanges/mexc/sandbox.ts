/**
 * MEXC emulator (spot v3): the master account's sub-account key endpoints (create, query, delete), the master-only
 * sub-account list, and `GET /api/v3/account`, the harmless signed call. Signed the MEXC way
 * (https://www.mexc.com/api-docs/spot-v3/general-info): header X-MEXC-APIKEY, `timestamp` (+ `recvWindow`) parameters,
 * `signature` = lowercase hex HMAC-SHA256 of totalParams, "the query string concatenated with the request body", both
 * exactly as sent. Errors are `{code, msg}` with MEXC's codes (https://www.mexc.com/api-docs/spot-v3/error-code; the
 * sub-account codes as ccxt 4.5.84 mexc.js quotes MEXC's messages).
 *
 * Native permissions are MEXC's comma string of permission names ("SPOT_ACCOUNT_READ,SPOT_DEAL_WRITE"), as the
 * sub-account key endpoints write them.
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import {
  commaList,
  dispatch,
  header,
  hmac,
  json,
  safeEqual,
  type Authed,
  type EmulatorContext,
  type ExchangeEmulator,
  type Reply,
  type SandboxRequest,
} from '../../sandbox/http.js';
import { effectiveIps, ipAllowed, isExpired, type SandboxKey } from '../../sandbox/state.js';

/**
 * The permissions a master may give a sub-account key: "SPOT_ACCOUNT_READ, SPOT_ACCOUNT_WRITE, SPOT_DEAL_READ,
 * SPOT_DEAL_WRITE, CONTRACT_ACCOUNT_READ, CONTRACT_ACCOUNT_WRITE, CONTRACT_DEAL_READ, CONTRACT_DEAL_WRITE,
 * SPOT_TRANSFER_READ, SPOT_TRANSFER_WRITE" (Create an APIKey for a sub-account,
 * https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints). No withdrawal permission is among them.
 */
export const MEXC_SUB_KEY_PERMISSIONS = [
  'SPOT_ACCOUNT_READ',
  'SPOT_ACCOUNT_WRITE',
  'SPOT_DEAL_READ',
  'SPOT_DEAL_WRITE',
  'CONTRACT_ACCOUNT_READ',
  'CONTRACT_ACCOUNT_WRITE',
  'CONTRACT_DEAL_READ',
  'CONTRACT_DEAL_WRITE',
  'SPOT_TRANSFER_READ',
  'SPOT_TRANSFER_WRITE',
] as const;

/** The withdraw endpoint's permission (https://www.mexc.com/api-docs/spot-v3/wallet-endpoints, "Withdraw(new)"). */
export const MEXC_WITHDRAW = 'SPOT_WITHDRAW_WRITE';

/** "recvWindow must less than 60000" (700005). */
const MAX_RECV_WINDOW = 60_000;
/** "At most 30 groups of Api Keys are allowed to be created only" (730705). */
export const MAX_KEYS_PER_SUBACCOUNT = 30;
/** Create an APIKey for a sub-account: `ip` "Support up to 20 addresses". */
const MAX_IPS = 20;

function fail(status: number, code: number, msg: string): Reply {
  return json(status, { code, msg });
}

const invalidSignature = (): Reply => fail(400, 700002, 'Signature for this request is not valid.');
const noPermission = (): Reply => fail(403, 700007, 'No permission to access the endpoint.');
const badParam = (): Reply => fail(400, 730002, 'Your input param is invalid');
const noSub = (): Reply => fail(400, 140001, 'sub account does not exist');

function perms(k: SandboxKey): string[] {
  return commaList(k.permissions as string);
}

const has = (k: SandboxKey, name: string): boolean => perms(k).includes(name);

/**
 * The request's parameters as MEXC reads them: the query string, then a form or JSON body; "If a parameter sent in
 * both the query string and request body, the query string parameter will be used" (general info).
 */
function params(req: SandboxRequest): Map<string, string> {
  const out = new Map<string, string>();
  const type = header(req, 'content-type') ?? '';
  if (type.includes('application/x-www-form-urlencoded')) for (const [k, v] of new URLSearchParams(req.rawBody)) out.set(k, v);
  else if (type.includes('application/json') && req.rawBody.trim() !== '') {
    try {
      const body: unknown = JSON.parse(req.rawBody);
      if (body && typeof body === 'object' && !Array.isArray(body)) {
        for (const [k, v] of Object.entries(body)) if (typeof v === 'string' || typeof v === 'number') out.set(k, String(v));
      }
    } catch {
      // not JSON: no body parameters (the signature still covers the bytes)
    }
  }
  for (const [k, v] of new URLSearchParams(req.rawQuery)) out.set(k, v);
  return out;
}

function param(req: SandboxRequest, name: string): string | undefined {
  const v = params(req).get(name);
  return v === undefined || v === '' ? undefined : v;
}

/** Splits `signature=` off a raw query or form body, keeping every other byte as sent. */
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

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const apiKey = header(req, 'x-mexc-apikey');
  // "400 api key required" (error code table).
  if (!apiKey) return { reply: fail(400, 400, 'api key required') };
  const key = ctx.state.usableKey('mexc', apiKey, ctx.now);
  // 10072 "Api key info invalid": an unknown or deleted key.
  if (!key) return { reply: fail(400, 10072, 'Api key info invalid') };
  // An expired key: ccxt notes MEXC gives it the bad-signature answer ("same message for expired API keys").
  if (isExpired(key, ctx.now)) return { reply: invalidSignature() };
  const form = header(req, 'content-type')?.includes('application/x-www-form-urlencoded') ?? false;
  const query = withoutSignature(req.rawQuery);
  // A JSON body is signed as sent; only a query or form body can carry `signature`.
  const body = form ? withoutSignature(req.rawBody) : { payload: req.rawBody, signatures: [] };
  const signatures = [...query.signatures, ...body.signatures];
  if (signatures.length !== 1 || signatures[0] === '') return { reply: invalidSignature() };
  const tsRaw = param(req, 'timestamp');
  const recvRaw = param(req, 'recvWindow') ?? '5000';
  if (!/^\d+$/.test(recvRaw) || Number(recvRaw) <= 0 || Number(recvRaw) > MAX_RECV_WINDOW) {
    return { reply: fail(400, 700005, 'recvWindow must less than 60000') };
  }
  // Timing security: `timestamp < serverTime + 1000 && serverTime - timestamp <= recvWindow` (general info). A missing
  // timestamp is outside every window.
  const ts = tsRaw !== undefined && /^\d+$/.test(tsRaw) ? Number(tsRaw) : Number.NaN;
  if (!(ts < ctx.now + 1000 && ctx.now - ts <= Number(recvRaw))) {
    return { reply: fail(400, 700003, 'Timestamp for this request is outside of the recvWindow.') };
  }
  // "The signature is support lowercase only": an uppercase hex signature does not match.
  if (!safeEqual(hmac(key.secret, query.payload + body.payload, 'hex'), signatures[0]!)) return { reply: invalidSignature() };
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) {
    return { reply: fail(400, 700006, `IP [${ctx.clientIp}] not in the ip white list`) };
  }
  return { key };
}

/**
 * Account Information, GET /api/v3/account (permission SPOT_ACCOUNT_READ):
 * https://www.mexc.com/api-docs/spot-v3/spot-account-trade (response example). `canTrade` and `canWithdraw` follow
 * the key's spot deal and withdraw permissions here.
 */
function account(key: SandboxKey): Reply {
  if (!has(key, 'SPOT_ACCOUNT_READ')) return noPermission();
  return json(200, {
    makerCommission: null,
    takerCommission: null,
    buyerCommission: null,
    sellerCommission: null,
    canTrade: has(key, 'SPOT_DEAL_WRITE'),
    canWithdraw: has(key, MEXC_WITHDRAW),
    canDeposit: true,
    updateTime: null,
    accountType: 'SPOT',
    balances: [],
    permissions: ['SPOT'],
  });
}

/** The sub-account endpoints: "For Master Account", permission SPOT_ACCOUNT_READ. */
function mayManage(caller: SandboxKey): boolean {
  return caller.master && has(caller, 'SPOT_ACCOUNT_READ');
}

/** Query Sub-account List (For Master Account), GET /api/v3/sub-account/list: `{subAccounts: [...]}`. */
function subAccountList(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!mayManage(caller)) return noPermission();
  const page = param(req, 'page') ?? '1';
  const limit = param(req, 'limit') ?? '10';
  // "limit: Default value: 10, Max value: 200".
  if (!/^\d+$/.test(page) || Number(page) < 1 || !/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 200) return badParam();
  const only = param(req, 'subAccount');
  const subs = ctx.state
    .accounts()
    .filter((a) => a.exchange === 'mexc' && a.parentUid === caller.mainUid && (only === undefined || a.id === only));
  const from = (Number(page) - 1) * Number(limit);
  return json(200, {
    subAccounts: subs
      .slice(from, from + Number(limit))
      .map((a) => ({ subAccount: a.id, isFreeze: false, createTime: 1_700_000_000_000, uid: a.uid })),
  });
}

function ownSub(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext) {
  const name = param(req, 'subAccount');
  // 730600 "Sub-account Name cannot be null".
  if (!name) return fail(400, 730600, 'Sub-account Name cannot be null');
  return ctx.state.subAccount('mexc', name, caller.mainUid) ?? noSub();
}

function view(k: SandboxKey) {
  return { note: k.label, apiKey: k.apiKey, permissions: perms(k).join(','), ip: k.ips.join(','), createTime: Date.parse(k.createdAt) };
}

/**
 * Create an APIKey for a sub-account (For Master Account), POST /api/v3/sub-account/apiKey: `subAccount`, `note`,
 * `permissions` (the documented list), `ip` (up to 20) -> `{subAccount, note, apiKey, secretKey, permissions, ip,
 * createTime}`; at most 30 keys per sub-account (730705).
 */
function createSubKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!mayManage(caller)) return noPermission();
  const sub = ownSub(req, caller, ctx);
  if ('status' in sub) return sub;
  const note = param(req, 'note');
  if (!note) return fail(400, 730700, 'API KEY remarks cannot be null');
  const wanted = commaList(param(req, 'permissions'));
  if (wanted.length === 0) return fail(400, 730701, 'API KEY permission cannot be null');
  if (wanted.some((p) => !(MEXC_SUB_KEY_PERMISSIONS as readonly string[]).includes(p))) {
    return fail(400, 730702, 'API KEY permission does not exist');
  }
  const ips = commaList(param(req, 'ip'));
  if (ips.length > MAX_IPS) {
    return fail(400, 730703, 'The IP information is incorrect, and a maximum of 20 IPs are allowed to be bound only');
  }
  if (ips.some((ip) => isIP(ip) === 0)) return fail(400, 730704, 'The bound IP format is incorrect, please refill');
  if (ctx.state.keys({ exchange: 'mexc', owner: sub.id }).length >= MAX_KEYS_PER_SUBACCOUNT) {
    return fail(400, 730705, 'At most 30 groups of Api Keys are allowed to be created only');
  }
  const key = ctx.state.issueKey({
    exchange: 'mexc',
    credentials: newCredentials(),
    owner: sub,
    master: false,
    permissions: [...new Set(wanted)].join(','),
    ips,
    label: note,
    now: ctx.now,
  });
  return json(200, { subAccount: sub.id, ...view(key), secretKey: key.secret });
}

/** Query the APIKey of a sub-account (For Master Account), GET /api/v3/sub-account/apiKey: `{subAccount: [...]}`. */
function listSubKeys(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!mayManage(caller)) return noPermission();
  const sub = ownSub(req, caller, ctx);
  if ('status' in sub) return sub;
  return json(200, { subAccount: ctx.state.keys({ exchange: 'mexc', owner: sub.id }).map(view) });
}

/** Delete the APIKey of a sub-account (For Master Account), DELETE /api/v3/sub-account/apiKey -> `{subAccount}`. */
function deleteSubKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!mayManage(caller)) return noPermission();
  const sub = ownSub(req, caller, ctx);
  if ('status' in sub) return sub;
  const apiKey = param(req, 'apiKey');
  if (!apiKey) return fail(400, 730707, 'accessKey cannot be null');
  const target = ctx.state.key('mexc', apiKey);
  if (!target || target.master || target.owner !== sub.id) return fail(400, 730706, 'API KEY information does not exist');
  ctx.state.deleteKey(target);
  return json(200, { subAccount: sub.id });
}

/**
 * MEXC keys look like the docs' examples: "mx0" and 15 more letters and digits ("apikey": "mx0npKfh57kEEVmyLa",
 * https://www.mexc.com/api-docs/spot-v3/spot-account-trade, APIKey info); secrets here are 32 hex digits.
 */
function newCredentials(): { apiKey: string; secret: string } {
  return {
    apiKey: `mx0${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x').slice(0, 15)}`,
    secret: randomBytes(16).toString('hex'),
  };
}

export const emulator: ExchangeEmulator = {
  id: 'mexc',
  newCredentials,

  // MEXC names a sub-account by its name: "a combination of 8-32 letters and numbers" (730601).
  defaultSubaccountId(uid) {
    return `keyctlsub${uid.slice(-8)}`;
  },

  handle(req, ctx) {
    return dispatch(
      req,
      {
        'GET /api/v3/account': (k) => account(k),
        'GET /api/v3/sub-account/list': (k) => subAccountList(req, k, ctx),
        'POST /api/v3/sub-account/apiKey': (k) => createSubKey(req, k, ctx),
        'GET /api/v3/sub-account/apiKey': (k) => listSubKeys(req, k, ctx),
        'DELETE /api/v3/sub-account/apiKey': (k) => deleteSubKey(req, k, ctx),
      },
      () => authenticate(req, ctx),
      // MEXC documents no code of its own for an unknown path; 404 with the HTTP reason.
      () => fail(404, 404, 'Not Found'),
    );
  },

  rateLimited(ctx) {
    // "429 Too Many Requests" (error code table; HTTP 429 "when breaking a request rate limit", general info).
    return { ...fail(429, 429, 'Too Many Requests'), headers: { 'Retry-After': '1', Date: new Date(ctx.now).toUTCString() } };
  },

  parsePermissions(input) {
    if (typeof input !== 'string' || commaList(input).length === 0) {
      return { error: 'mexc permissions are a comma string, e.g. "SPOT_ACCOUNT_READ,SPOT_DEAL_WRITE"' };
    }
    return { permissions: commaList(input).join(',') };
  },

  setWithdraw(p, on) {
    const t = commaList(p as string).filter((x) => x !== MEXC_WITHDRAW);
    return (on ? [...t, MEXC_WITHDRAW] : t).join(',');
  },
};
