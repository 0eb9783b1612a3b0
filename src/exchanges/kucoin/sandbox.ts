/**
 * KuCoin emulator: key inspection, accounts, and sub-account key create / delete / list. Signed the KuCoin way
 * (https://www.kucoin.com/docs-new/authentication): KC-API-KEY, KC-API-TIMESTAMP (ms), KC-API-SIGN = base64
 * HMAC-SHA256(timestamp + METHOD + /api/v1/path[?query] + body), the query not URL-encoded, the body as sent, and, with
 * KC-API-KEY-VERSION 2 (what ccxt sends), KC-API-PASSPHRASE = base64 HMAC-SHA256(passphrase, secret). Partner headers
 * (KC-API-PARTNER*) are ignored. Answers carry exactly the fields KuCoin documents for each endpoint.
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

/** KuCoin rejects timestamps more than 5 s off its clock. */
const WINDOW_MS = 5000;
const MAX_IPS = 20;
/**
 * The only permissions a sub-account key can get: Add sub-account API (https://www.kucoin.com/docs-new/api-3470138)
 * sets "Only General, Spot, Futures, Margin, InnerTransfer (Flex Transfer)". Withdraw (which the sandbox calls Transfer)
 * and Unified (the unified trading account's permission) cannot be requested; seed them through the admin API.
 */
const SUB_ALLOWED = ['General', 'Spot', 'Futures', 'Margin', 'InnerTransfer'];
/** KuCoin's withdraw permission token. */
export const KUCOIN_WITHDRAW = 'Transfer';
const EXPIRE_DAYS = ['-1', '30', '90', '180', '360'];
const DAY = 86_400_000;

function fail(status: number, code: string, msg: string): Reply {
  return json(status, { code, msg });
}

function ok(data: unknown): Reply {
  return json(200, { code: '200000', data });
}

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const apiKey = header(req, 'kc-api-key');
  const sign = header(req, 'kc-api-sign');
  const tsRaw = header(req, 'kc-api-timestamp');
  const passphrase = header(req, 'kc-api-passphrase');
  if (!apiKey || !sign || !tsRaw || !passphrase) {
    return {
      reply: fail(
        401,
        '400001',
        'Please check the header of your request for KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE',
      ),
    };
  }
  const version = header(req, 'kc-api-key-version') ?? '1';
  if (version !== '2' && version !== '3') {
    return { reply: fail(401, '400008', 'V1 & V2 API keys are no longer supported by this API. Please create a V3 API key') };
  }
  const key = ctx.state.usableKey('kucoin', apiKey, ctx.now);
  if (!key || isExpired(key, ctx.now)) return { reply: fail(401, '400003', 'KC-API-KEY not exists') };
  const ts = Number(tsRaw);
  if (!/^\d+$/.test(tsRaw) || Math.abs(ctx.now - ts) > WINDOW_MS) {
    return { reply: fail(401, '400002', 'KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 seconds') };
  }
  // One canonical string, as KuCoin documents it (https://www.kucoin.com/docs-new/authentication): "the URL must use the
  // content that has not been URL-encoded to participate in the signature" (sent `passphrase=abc%21%40%2311`, signed
  // `passphrase=abc!@#11`). So the query is percent-decoded once (a `+` stays a `+`) and only that form is accepted:
  // a client that signs the encoded form, or sends escapes that do not decode, gets 400005.
  let query: string;
  try {
    query = decodeURIComponent(req.rawQuery);
  } catch {
    return { reply: fail(401, '400005', 'Invalid KC-API-SIGN') };
  }
  const payload = `${tsRaw}${req.method}${req.path}${query !== '' ? `?${query}` : ''}${req.rawBody}`;
  if (!safeEqual(hmac(key.secret, payload, 'base64'), sign)) {
    return { reply: fail(401, '400005', 'Invalid KC-API-SIGN') };
  }
  // Checked after the signature so a request signed with another secret reads as a bad signature. v2/v3 keys send
  // the passphrase encrypted with the secret.
  if (!safeEqual(hmac(key.secret, key.passphrase ?? '', 'base64'), passphrase)) {
    return { reply: fail(401, '400004', 'Invalid KC-API-PASSPHRASE') };
  }
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) {
    // KuCoin's gateway error table (https://www.kucoin.com/docs-new/error-code): 400006 "Invalid request IP, the current
    // client IP is: %s." The table gives no HTTP status; 403 is the sandbox's choice.
    return { reply: fail(403, '400006', `Invalid request IP, the current client IP is: ${ctx.clientIp}.`) };
  }
  return { key };
}

function tokens(k: SandboxKey): string[] {
  return commaList(k.permissions as string);
}

/**
 * A key as Get Apikey Info (https://www.kucoin.com/docs-new/api-3470130) and Get sub-account API List
 * (https://www.kucoin.com/docs-new/api-3470136) give it: remark, apiKey, apiVersion, permission, ipWhitelist, createdAt,
 * uid, isMaster, and subName for sub keys ("There is no such param for the master account"). Neither endpoint documents
 * an expiry, so none is sent even for a key created with `expire` (it still stops working when it expires).
 */
function view(k: SandboxKey): Record<string, unknown> {
  return {
    ...(k.master ? {} : { subName: k.owner }),
    remark: k.label,
    apiKey: k.apiKey,
    apiVersion: 3,
    permission: tokens(k).join(','),
    ipWhitelist: k.ips.join(','),
    createdAt: Date.parse(k.createdAt),
    uid: Number(k.ownerUid),
    isMaster: k.master,
  };
}

const denied = (): Reply => fail(400, '400007', 'Access denied, require more permission.');

function canManage(k: SandboxKey): boolean {
  return k.master && tokens(k).includes('General');
}

function createSubKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!canManage(caller)) return denied();
  const subName = param(req, 'subName');
  if (!subName) return fail(400, '400100', 'subName is required');
  const sub = ctx.state.subAccount('kucoin', subName, caller.mainUid);
  if (!sub) return fail(400, '400100', 'Sub-account does not exist');
  const passphrase = param(req, 'passphrase');
  if (!passphrase || passphrase.length < 7 || passphrase.length > 32 || /\s/.test(passphrase)) {
    return fail(400, '400100', 'passphrase must be 7-32 characters without spaces');
  }
  const remark = param(req, 'remark');
  if (!remark || remark.length > 24) return fail(400, '400100', 'remark must be 1-24 characters');
  const perm = commaList(param(req, 'permission') ?? 'General');
  const notAllowed = perm.find((p) => !SUB_ALLOWED.includes(p));
  if (notAllowed !== undefined) return fail(400, '400100', `permission ${notAllowed} is not allowed for a sub-account API key`);
  const permission = ['General', ...perm.filter((p) => p !== 'General')].join(',');
  const ips = commaList(param(req, 'ipWhitelist') ?? '');
  if (ips.some((ip) => isIP(ip.split('/')[0] ?? '') === 0)) return fail(400, '400100', 'ipWhitelist is invalid');
  if (ips.length > MAX_IPS) return fail(400, '400100', `ipWhitelist can hold up to ${MAX_IPS} IP addresses`);
  const expire = param(req, 'expire') ?? '-1';
  if (!EXPIRE_DAYS.includes(expire)) return fail(400, '400100', 'expire must be one of -1, 30, 90, 180, 360');
  const key = ctx.state.issueKey({
    exchange: 'kucoin',
    credentials: newCredentials(),
    owner: sub,
    master: false,
    permissions: permission,
    ips,
    label: remark,
    passphrase,
    now: ctx.now,
    ...(expire === '-1' ? {} : { expiresAt: new Date(ctx.now + Number(expire) * DAY).toISOString() }),
  });
  return ok({
    subName: sub.id,
    remark,
    apiKey: key.apiKey,
    apiSecret: key.secret,
    apiVersion: 3,
    passphrase,
    permission,
    ipWhitelist: ips.join(','),
    createdAt: Date.parse(key.createdAt),
  });
}

function deleteSubKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!canManage(caller)) return denied();
  const subName = param(req, 'subName');
  const apiKey = param(req, 'apiKey');
  const passphrase = param(req, 'passphrase');
  if (!subName || !apiKey || !passphrase) return fail(400, '400100', 'subName, apiKey and passphrase are required');
  const target = ctx.state.key('kucoin', apiKey);
  if (!target || target.master || target.owner !== subName || target.mainUid !== caller.mainUid) {
    return fail(400, '400100', 'API key does not exist');
  }
  // Delete sub-account API (https://www.kucoin.com/docs-new/api-3470137): `passphrase`, "password of the API key", is
  // required, so even the master cannot delete a sub key without it. KuCoin documents no code for a wrong one; 400100
  // (its parameter error) is the sandbox's approximation. The query is decoded as a form: `+` reads as a space.
  if (!safeEqual(passphrase, target.passphrase ?? '')) return fail(400, '400100', 'Passphrase error');
  ctx.state.deleteKey(target);
  return ok({ subName, apiKey });
}

function listSubKeys(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!canManage(caller)) return denied();
  const subName = param(req, 'subName');
  if (!subName) return fail(400, '400100', 'subName is required');
  const sub = ctx.state.subAccount('kucoin', subName, caller.mainUid);
  if (!sub) return fail(400, '400100', 'Sub-account does not exist');
  const apiKey = param(req, 'apiKey');
  return ok(
    ctx.state
      .keys({ exchange: 'kucoin', owner: sub.id })
      .filter((k) => apiKey === undefined || k.apiKey === apiKey)
      .map(view),
  );
}

function accounts(ctx: EmulatorContext, key: SandboxKey): Reply {
  return ok([
    { id: `${key.ownerUid}${String(ctx.now).slice(-6)}`, currency: 'USDT', type: 'trade', balance: '0', available: '0', holds: '0' },
  ]);
}

/** KuCoin keys: 24 hex digits; secrets: a UUID. */
function newCredentials(): { apiKey: string; secret: string } {
  return { apiKey: randomBytes(12).toString('hex'), secret: randomUUID() };
}

export const emulator: ExchangeEmulator = {
  id: 'kucoin',
  newCredentials,

  // KuCoin names a sub-account by its name (`subName`).
  defaultSubaccountId(uid) {
    return `sub${uid.slice(-6)}`;
  },

  handle(req, ctx) {
    return dispatch(
      req,
      {
        'GET /api/v1/user/api-key': (k) => ok(view(k)),
        'GET /api/v1/accounts': (k) => accounts(ctx, k),
        'POST /api/v1/sub/api-key': (k) => createSubKey(req, k, ctx),
        'DELETE /api/v1/sub/api-key': (k) => deleteSubKey(req, k, ctx),
        'GET /api/v1/sub/api-key': (k) => listSubKeys(req, k, ctx),
      },
      () => authenticate(req, ctx),
      (route) => fail(404, '404', `Route not found: ${route}`),
    );
  },

  rateLimited() {
    return fail(429, '429000', 'Too Many Requests');
  },

  parsePermissions(input) {
    if (typeof input !== 'string' || commaList(input).length === 0) {
      return { error: 'kucoin permissions are a comma string, e.g. "General,Spot"' };
    }
    return { permissions: commaList(input).join(',') };
  },

  setWithdraw(p, on) {
    const t = commaList(p as string).filter((x) => x !== KUCOIN_WITHDRAW);
    return (on ? [...t, KUCOIN_WITHDRAW] : t).join(',');
  },
};
