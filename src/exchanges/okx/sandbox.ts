/**
 * OKX v5 emulator: account config (key inspection), balance, and sub-account key create / delete / list.
 * Signed the v5 way: OK-ACCESS-KEY, plain OK-ACCESS-PASSPHRASE, ISO OK-ACCESS-TIMESTAMP and OK-ACCESS-SIGN =
 * base64 HMAC-SHA256(timestamp + METHOD + /api/v5/path[?query] + body).
 *
 * Codes, HTTP statuses and messages follow OKX's error table (https://www.okx.com/docs-v5/en/#error-code-rest-api-public
 * and #error-code-rest-api-account for 59xxx); the endpoint rules follow the sub-account pages
 * (https://www.okx.com/docs-v5/en/#sub-account-rest-api-create-an-api-key-for-a-sub-account, ...-query-the-api-key-of-a-sub-account,
 * ...-delete-the-api-key-of-sub-accounts). Where OKX documents a rule but not the code it answers with, the code is
 * marked approximate here and in docs/sandbox.md.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import {
  commaList,
  header,
  hmac,
  json,
  param,
  safeEqual,
  type Authed,
  dispatch,
  type EmulatorContext,
  type ExchangeEmulator,
  type Reply,
  type SandboxRequest,
} from '../../sandbox/http.js';
import { effectiveIps, ipAllowed, isExpired, type SandboxKey } from '../../sandbox/state.js';

/** OKX accepts a request whose timestamp is within 30 s of its clock. */
const WINDOW_MS = 30_000;
const MAX_KEYS_PER_ACCOUNT = 50;
const MAX_IPS = 20;
/** OKX API keys are UUIDs. A key of another shape is "Invalid OK-ACCESS-KEY" (50111), not an unknown key (50119). */
const KEY_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function fail(status: number, code: string, msg: string): Reply {
  return json(status, { code, msg, data: [] });
}

function ok(data: unknown[]): Reply {
  return json(200, { code: '0', msg: '', data });
}

function permTokens(k: SandboxKey): string[] {
  return commaList(k.permissions as string);
}

/**
 * The one string OKX signs (https://www.okx.com/docs-v5/en/#overview-rest-authentication): timestamp +
 * METHOD + requestPath + body, where "GET request parameters are counted as requestPath, not body": the path, then
 * `?` and the query string exactly as sent (percent-encoding included), then the body exactly as sent. There is no
 * second, decoded reading: a client that signs `a+b@c` while sending `a%2Bb%40c` gets 50113, as on OKX.
 * (ccxt 4.5.84 okx `sign()` signs `'?' + urlencode(query)` and sends that same string, so it matches.)
 */
function signedPayload(req: SandboxRequest, ts: string): string {
  return `${ts}${req.method}${req.path}${req.rawQuery === '' ? '' : `?${req.rawQuery}`}${req.rawBody}`;
}

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  // OKX's codes and messages (REST "API Class", all HTTP 401 but 50119); the order of the checks is the sandbox's.
  const apiKey = header(req, 'ok-access-key');
  if (!apiKey) return { reply: fail(401, '50103', 'Request header "OK-ACCESS-KEY" cannot be empty.') };
  const passphrase = header(req, 'ok-access-passphrase');
  if (!passphrase) return { reply: fail(401, '50104', 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.') };
  const sign = header(req, 'ok-access-sign');
  if (!sign) return { reply: fail(401, '50106', 'Request header "OK-ACCESS-SIGN" cannot be empty.') };
  const ts = header(req, 'ok-access-timestamp');
  if (!ts) return { reply: fail(401, '50107', 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.') };
  if (!KEY_SHAPE.test(apiKey)) return { reply: fail(401, '50111', 'Invalid OK-ACCESS-KEY.') };
  const key = ctx.state.usableKey('okx', apiKey, ctx.now);
  if (!key || isExpired(key, ctx.now)) {
    // A well-formed key OKX does not know (never made, deleted, or deleted for expiry: OKX deletes expired keys) is
    // 50119 "API key doesn't exist", documented with HTTP 200. ccxt 4.5.84 has no class for 50119 (plain
    // ExchangeError): keyctl maps it by code (descriptor.ts).
    return { reply: fail(200, '50119', "API key doesn't exist") };
  }
  const at = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(ts) ? Date.parse(ts) : Number.NaN;
  if (Number.isNaN(at)) return { reply: fail(401, '50112', 'Invalid OK-ACCESS-TIMESTAMP.') };
  if (Math.abs(ctx.now - at) > WINDOW_MS) return { reply: fail(401, '50102', 'Timestamp request expired.') };
  if (!safeEqual(passphrase, key.passphrase ?? '')) {
    return { reply: fail(401, '50105', 'Request header "OK-ACCESS-PASSPHRASE" incorrect.') };
  }
  if (!safeEqual(hmac(key.secret, signedPayload(req, ts), 'base64'), sign)) {
    // OKX's table says "Invalid signature."; live answers have been observed as "Invalid Sign" (keyctl reads the code).
    return { reply: fail(401, '50113', 'Invalid Sign') };
  }
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) {
    return { reply: fail(401, '50110', `Your IP ${ctx.clientIp} is not included in your API key's IP whitelist.`) };
  }
  return { key };
}

/**
 * account/config's one entry, with every field of OKX's documented answer
 * (https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-account-configuration); `type` 0 is the main account,
 * 1 a standard sub-account.
 */
function accountConfig(key: SandboxKey): Reply {
  return ok([
    {
      uid: key.ownerUid,
      mainUid: key.mainUid,
      label: key.label,
      perm: permTokens(key).join(','),
      ip: key.ips.join(','),
      type: key.master ? '0' : '1',
      acctLv: '2',
      acctStpMode: 'cancel_maker',
      posMode: 'net_mode',
      feeType: '0',
      autoLoan: false,
      greeksType: 'PA',
      level: 'Lv1',
      levelTmp: '',
      ctIsoMode: 'automatic',
      mgnIsoMode: 'automatic',
      roleType: '0',
      traderInsts: [],
      spotRoleType: '0',
      spotTraderInsts: [],
      opAuth: '0',
      stgyType: '0',
      spotOffsetType: '',
      kycLv: '3',
      enableSpotBorrow: false,
      spotBorrowAutoRepay: false,
      liquidationGear: '-1',
      settleCcy: 'USDT',
      settleCcyList: ['USD', 'USDC', 'USDT'],
    },
  ]);
}

function balance(ctx: EmulatorContext): Reply {
  return ok([
    {
      adjEq: '',
      borrowFroz: '',
      details: [],
      imr: '',
      isoEq: '0',
      mgnRatio: '',
      mmr: '',
      notionalUsd: '',
      ordFroz: '',
      totalEq: '0',
      uTime: String(ctx.now),
      upl: '',
    },
  ]);
}

// 59500 and the other 595xx codes: https://www.okx.com/docs-v5/en/#error-code-rest-api-account (HTTP 200).
const notMain = (): Reply => fail(200, '59500', 'Only the API key of the main account has permission.');
// "Parameter {param0} can not be empty." / "Parameter {param0} error": both HTTP 400 in OKX's table.
const empty = (name: string): Reply => fail(400, '50014', `Parameter ${name} can not be empty.`);
const badParam = (name: string): Reply => fail(400, '51000', `Parameter ${name} error`);
// A sub-account the caller's main account does not have, whoever's it is.
const noSub = (): Reply => fail(200, '59510', 'Sub-account does not exist');

/**
 * Create and delete "apply to master accounts only and master accounts API Key must be linked to IP addresses",
 * with "Permission: Trade" (the sub-account pages). OKX documents 50035 (HTTP 403) "This endpoint requires that APIKey
 * must be bound to IP" and 50120 "This API key doesn't have permission to use this function", but not which endpoint
 * answers which: both codes are approximate here. Listing needs only Read (and the main account).
 */
function mayManage(caller: SandboxKey, ctx: EmulatorContext): Reply | undefined {
  if (!caller.master) return notMain();
  if (effectiveIps(caller, ctx.now).length === 0) return fail(403, '50035', 'This endpoint requires that APIKey must be bound to IP');
  if (!permTokens(caller).includes('trade')) return fail(200, '50120', "This API key doesn't have permission to use this function");
  return undefined;
}

/** OKX's passphrase rule for sub-account keys: 8-32 chars with a digit, an upper and a lower case letter, a special. */
function passphraseOk(p: string): boolean {
  return p.length >= 8 && p.length <= 32 && /\d/.test(p) && /[A-Z]/.test(p) && /[a-z]/.test(p) && /[^A-Za-z0-9]/.test(p);
}

function createApiKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  const refused = mayManage(caller, ctx);
  if (refused) return refused;
  const subAcct = param(req, 'subAcct');
  if (!subAcct) return empty('subAcct');
  const sub = ctx.state.subAccount('okx', subAcct, caller.mainUid);
  if (!sub) return noSub();
  const label = param(req, 'label');
  if (!label) return empty('label');
  const passphrase = param(req, 'passphrase');
  if (!passphrase) return empty('passphrase');
  if (!passphraseOk(passphrase)) return fail(200, '59505', 'The passphrase format is incorrect.');
  const perm = commaList(param(req, 'perm') ?? 'read_only');
  if (perm.includes('withdraw')) {
    return fail(200, '59504', "Sub-accounts don't support withdrawals. Please use your main account for withdrawals.");
  }
  if (perm.some((p) => p !== 'read_only' && p !== 'trade')) return badParam('perm');
  const ips = commaList(param(req, 'ip') ?? '');
  if (ips.some((ip) => isIP(ip) === 0)) return badParam('ip');
  if (ips.length > MAX_IPS) return fail(200, '59503', `Each API key can bind up to ${MAX_IPS} IP addresses`);
  const existing = ctx.state.keys({ exchange: 'okx', owner: sub.id });
  if (existing.length >= MAX_KEYS_PER_ACCOUNT) {
    return fail(200, '59501', `Each account can create up to ${MAX_KEYS_PER_ACCOUNT} API keys`);
  }
  if (existing.some((k) => k.label === label)) {
    return fail(200, '59502', 'This note name already exists. Enter a unique API key note name');
  }
  // OKX always includes read_only.
  const perms = ['read_only', ...perm.filter((p) => p !== 'read_only')].join(',');
  const key = ctx.state.issueKey({
    exchange: 'okx',
    credentials: newCredentials(),
    owner: sub,
    master: false,
    permissions: perms,
    ips,
    label,
    readOnly: !perms.includes('trade'),
    passphrase,
    now: ctx.now,
  });
  return ok([
    {
      subAcct: sub.id,
      label,
      apiKey: key.apiKey,
      secretKey: key.secret,
      passphrase,
      perm: perms,
      ip: ips.join(','),
      ts: String(Date.parse(key.createdAt)),
    },
  ]);
}

function deleteApiKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  const refused = mayManage(caller, ctx);
  if (refused) return refused;
  const subAcct = param(req, 'subAcct');
  if (!subAcct) return empty('subAcct');
  const apiKey = param(req, 'apiKey');
  if (!apiKey) return empty('apiKey');
  const sub = ctx.state.subAccount('okx', subAcct, caller.mainUid);
  if (!sub) return noSub();
  const target = ctx.state.key('okx', apiKey);
  if (!target || target.master || target.owner !== sub.id) return fail(200, '59506', "API key doesn't exist.");
  ctx.state.deleteKey(target);
  return ok([{ subAcct }]);
}

function listApiKeys(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!caller.master) return notMain();
  const subAcct = param(req, 'subAcct');
  if (!subAcct) return empty('subAcct');
  const sub = ctx.state.subAccount('okx', subAcct, caller.mainUid);
  if (!sub) return noSub();
  const apiKey = param(req, 'apiKey');
  return ok(
    ctx.state
      .keys({ exchange: 'okx', owner: sub.id })
      .filter((k) => apiKey === undefined || k.apiKey === apiKey)
      .map((k) => ({
        label: k.label,
        apiKey: k.apiKey,
        perm: permTokens(k).join(','),
        ip: k.ips.join(','),
        ts: String(Date.parse(k.createdAt)),
      })),
  );
}

/** OKX keys: a UUID; secrets: 32 upper-case hex digits. */
function newCredentials(): { apiKey: string; secret: string } {
  return { apiKey: randomUUID(), secret: randomBytes(16).toString('hex').toUpperCase() };
}

export const emulator: ExchangeEmulator = {
  id: 'okx',
  newCredentials,

  // OKX names a sub-account by its name (`subAcct`).
  defaultSubaccountId(uid) {
    return `sub${uid.slice(-6)}`;
  },

  handle(req, ctx) {
    return dispatch(
      req,
      {
        'GET /api/v5/account/config': (k) => accountConfig(k),
        'GET /api/v5/account/balance': () => balance(ctx),
        'POST /api/v5/users/subaccount/apikey': (k) => createApiKey(req, k, ctx),
        'POST /api/v5/users/subaccount/delete-apikey': (k) => deleteApiKey(req, k, ctx),
        'GET /api/v5/users/subaccount/apikey': (k) => listApiKeys(req, k, ctx),
      },
      () => authenticate(req, ctx),
      (route) => fail(404, '50000', `Route not found: ${route}`),
    );
  },

  rateLimited() {
    return fail(429, '50011', 'Too Many Requests');
  },

  parsePermissions(input) {
    if (typeof input !== 'string' || commaList(input).length === 0) {
      return { error: 'okx permissions are a comma string, e.g. "read_only,trade"' };
    }
    return { permissions: commaList(input).join(',') };
  },

  setWithdraw(p, on) {
    const tokens = commaList(p as string).filter((t) => t !== 'withdraw');
    return (on ? [...tokens, 'withdraw'] : tokens).join(',');
  },
};
