/**
 * OKX v5 emulator: account config (key inspection), balance, and sub-account key create / delete / list.
 * Signed the v5 way: OK-ACCESS-KEY, plain OK-ACCESS-PASSPHRASE, ISO OK-ACCESS-TIMESTAMP and OK-ACCESS-SIGN =
 * base64 HMAC-SHA256(timestamp + METHOD + /api/v5/path[?query] + body).
 */
import { randomBytes, randomUUID } from 'node:crypto';
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
import { effectiveIps, ipAllowed, isExpired, type SandboxKey } from '../../sandbox/state.js';

/** OKX accepts a request whose timestamp is within 30 s of its clock. */
const WINDOW_MS = 30_000;
const MAX_KEYS_PER_ACCOUNT = 50;
const MAX_IPS = 20;

function fail(status: number, code: string, msg: string): Reply {
  return json(status, { code, msg, data: [] });
}

function ok(data: unknown[]): Reply {
  return json(200, { code: '0', msg: '', data });
}

function permTokens(k: SandboxKey): string[] {
  return commaList(k.permissions as string);
}

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const apiKey = header(req, 'ok-access-key');
  if (!apiKey) return { reply: fail(401, '50103', 'Request header OK-ACCESS-KEY cannot be empty.') };
  const passphrase = header(req, 'ok-access-passphrase');
  if (!passphrase) return { reply: fail(401, '50104', 'Request header OK-ACCESS-PASSPHRASE cannot be empty.') };
  const sign = header(req, 'ok-access-sign');
  if (!sign) return { reply: fail(401, '50106', 'Request header OK-ACCESS-SIGN cannot be empty.') };
  const ts = header(req, 'ok-access-timestamp');
  if (!ts) return { reply: fail(401, '50107', 'Request header OK-ACCESS-TIMESTAMP cannot be empty.') };
  const key = ctx.state.usableKey('okx', apiKey, ctx.now);
  if (!key || isExpired(key, ctx.now)) {
    // OKX deletes keys that expire, so an expired key looks exactly like an unknown one.
    return { reply: fail(401, '50111', 'Invalid OK-ACCESS-KEY.') };
  }
  const at = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?Z$/.test(ts) ? Date.parse(ts) : Number.NaN;
  if (Number.isNaN(at)) return { reply: fail(401, '50112', 'Invalid OK-ACCESS-TIMESTAMP.') };
  if (Math.abs(ctx.now - at) > WINDOW_MS) return { reply: fail(401, '50102', 'Timestamp request expired.') };
  if (!safeEqual(passphrase, key.passphrase ?? '')) {
    return { reply: fail(401, '50105', 'Request header OK-ACCESS-PASSPHRASE incorrect.') };
  }
  const prefix = `${ts}${req.method}${req.path}`;
  const candidates =
    req.method === 'GET' || req.method === 'DELETE'
      ? req.rawQuery === ''
        ? [prefix]
        : queryVariants(req.rawQuery).map((q) => `${prefix}?${q}`)
      : [`${prefix}${req.rawBody}`];
  if (!candidates.some((payload) => safeEqual(hmac(key.secret, payload, 'base64'), sign))) {
    return { reply: fail(401, '50113', 'Invalid Sign') };
  }
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) {
    return { reply: fail(401, '50110', `Your IP ${ctx.clientIp} is not included in your API key's IP whitelist.`) };
  }
  return { key };
}

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
      posMode: 'net_mode',
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

const notMain = (): Reply => fail(200, '59500', 'Only the APIKey of the main account has permission for this operation.');

/** OKX's passphrase rule for sub-account keys: 8-32 chars with a digit, an upper and a lower case letter, a special. */
function passphraseOk(p: string): boolean {
  return p.length >= 8 && p.length <= 32 && /\d/.test(p) && /[A-Z]/.test(p) && /[a-z]/.test(p) && /[^A-Za-z0-9]/.test(p);
}

function createApiKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!caller.master) return notMain();
  // The main-account key that manages sub-account keys must itself be IP-bound and able to trade.
  if (caller.ips.length === 0 || !permTokens(caller).includes('trade')) {
    return fail(200, '50120', "API key doesn't have permission: use an IP-bound main-account key with the Trade permission.");
  }
  const subAcct = param(req, 'subAcct');
  if (!subAcct) return fail(200, '50014', 'Parameter subAcct can not be empty');
  const sub = ctx.state.subAccount('okx', subAcct, caller.mainUid);
  if (!sub) return fail(200, '51000', 'Parameter subAcct error');
  const label = param(req, 'label');
  if (!label) return fail(200, '50014', 'Parameter label can not be empty');
  const passphrase = param(req, 'passphrase');
  if (!passphrase) return fail(200, '50014', 'Parameter passphrase can not be empty');
  if (!passphraseOk(passphrase)) return fail(200, '59505', 'The passphrase format is incorrect.');
  const perm = commaList(param(req, 'perm') ?? 'read_only');
  if (perm.includes('withdraw')) return fail(200, '59504', 'The sub account does not support the withdrawal function.');
  if (perm.some((p) => p !== 'read_only' && p !== 'trade')) return fail(200, '51000', 'Parameter perm error');
  const ips = commaList(param(req, 'ip') ?? '');
  if (ips.some((ip) => isIP(ip) === 0)) return fail(200, '51000', 'Parameter ip error');
  if (ips.length > MAX_IPS) return fail(200, '59503', `Each APIKey can bind up to ${MAX_IPS} IP addresses.`);
  const existing = ctx.state.keys({ exchange: 'okx', owner: sub.id });
  if (existing.length >= MAX_KEYS_PER_ACCOUNT) {
    return fail(200, '59501', `Only ${MAX_KEYS_PER_ACCOUNT} APIKeys can be created per account.`);
  }
  if (existing.some((k) => k.label === label)) {
    return fail(200, '59502', 'Note name cannot be duplicate with the currently created APIKey note name.');
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
  if (!caller.master) return notMain();
  const subAcct = param(req, 'subAcct');
  if (!subAcct) return fail(200, '50014', 'Parameter subAcct can not be empty');
  const apiKey = param(req, 'apiKey');
  if (!apiKey) return fail(200, '50014', 'Parameter apiKey can not be empty');
  const target = ctx.state.key('okx', apiKey);
  if (!target || target.master || target.owner !== subAcct || target.mainUid !== caller.mainUid) {
    return fail(200, '59506', 'APIKey does not exist.');
  }
  ctx.state.deleteKey(target);
  return ok([{ subAcct }]);
}

function listApiKeys(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!caller.master) return notMain();
  const subAcct = param(req, 'subAcct');
  if (!subAcct) return fail(200, '50014', 'Parameter subAcct can not be empty');
  const sub = ctx.state.subAccount('okx', subAcct, caller.mainUid);
  if (!sub) return fail(200, '51000', 'Parameter subAcct error');
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
