/**
 * Bybit v5 emulator: key inspection, a wallet-balance call, and sub-account key create / modify / delete / list, signed
 * the v5 way (X-BAPI-* headers, hex HMAC-SHA256 over timestamp + apiKey + recvWindow + query|body).
 * Every answer is HTTP 200 with `retCode`, as Bybit does.
 *
 * Account mode: Bybit has no admin flag for it here, so an account tree (a main account and its sub-accounts) is a
 * unified trading account (UTA) when any of its keys holds `Derivatives: [DerivativesTrade]`, the permission Bybit adds
 * to every UTA key; otherwise it is classic. On a UTA every key reports that permission and `uta: 1`.
 */
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
import { effectiveIps, ipAllowed, isoSeconds, randomAlnum, type NativePermissions, type SandboxKey } from '../../sandbox/state.js';

type BybitPerms = Record<string, string[]>;

const CATEGORIES = [
  'ContractTrade',
  'Spot',
  'Wallet',
  'Options',
  'Derivatives',
  'CopyTrading',
  'BlockTrade',
  'Exchange',
  'NFT',
  'Affiliate',
  'Earn',
];

/** What a sub-account key may hold (create-sub-api doc). No `Withdraw`, ever. */
const SUB_ALLOWED: Record<string, string[]> = {
  ContractTrade: ['Order', 'Position'],
  Spot: ['SpotTrade'],
  Wallet: ['AccountTransfer', 'SubMemberTransferList'],
  Options: ['OptionsTrade'],
  Derivatives: ['DerivativesTrade'],
  Exchange: ['ExchangeHistory'],
  CopyTrading: ['CopyTrading'],
  Earn: ['Earn'],
};

/** A master key needs one of these to manage sub-account keys. */
const MASTER_WALLET = ['AccountTransfer', 'SubMemberTransfer', 'Withdraw'];

/**
 * A sub key needs one of these to modify itself: "sub API key: "Account Transfer", "Sub Member Transfer""
 * (https://bybit-exchange.github.io/docs/v5/user/modify-sub-apikey); SubMemberTransferList is that permission's name in
 * a sub key's Wallet group.
 */
const SUB_SELF_WALLET = ['AccountTransfer', 'SubMemberTransfer', 'SubMemberTransferList'];

const DAY = 86_400_000;

/**
 * "No ip bound api key will be invalid after 90 days" (https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey,
 * `ips`): every key without an IP binding, however it was made (create-sub-api or the admin API), counted from its
 * creation. An explicit `expiresAt` (admin seed or tamper: a password change, a rehearsal) wins.
 */
const UNBOUND_VALIDITY_MS = 90 * DAY;

/** The deprecated account-mode permission (see the header comment). */
const UTA_GROUP = 'Derivatives';
const UTA_PERMISSION = 'DerivativesTrade';

function reply(ctx: EmulatorContext, retCode: number, retMsg: string, result: unknown = {}): Reply {
  return json(200, { retCode, retMsg, result, retExtInfo: {}, time: ctx.now });
}

function ok(ctx: EmulatorContext, result: unknown): Reply {
  return reply(ctx, 0, 'OK', result);
}

function perms(k: SandboxKey): BybitPerms {
  return k.permissions as BybitPerms;
}

/** Every category present (`[]` when empty), as Bybit prints them; on a UTA, Derivatives is Bybit's automatic value. */
function fullPermissions(p: BybitPerms, uta: boolean): BybitPerms {
  const out: BybitPerms = {};
  for (const c of CATEGORIES) out[c] = [];
  for (const [c, v] of Object.entries(p)) out[c] = [...v];
  // "Unified account has this permission by default" (https://bybit-exchange.github.io/docs/v5/user/apikey-info).
  if (uta) out[UTA_GROUP] = [UTA_PERMISSION];
  return out;
}

function holdsUtaMarker(k: SandboxKey): boolean {
  return (perms(k)[UTA_GROUP] ?? []).includes(UTA_PERMISSION);
}

/** Whether the account tree of `mainUid` is a unified trading account (see the header comment). */
function isUta(ctx: EmulatorContext, mainUid: string): boolean {
  return ctx.state.keys({ exchange: 'bybit', mainUid }).some(holdsUtaMarker);
}

/** When the key stops working (ms), or undefined for a permanent key. */
function expiryMs(k: SandboxKey): number | undefined {
  if (k.expiresAt !== undefined) return Date.parse(k.expiresAt);
  if (k.ips.length === 0) return Date.parse(k.createdAt) + UNBOUND_VALIDITY_MS;
  return undefined;
}

function expired(k: SandboxKey, now: number): boolean {
  const ms = expiryMs(k);
  return ms !== undefined && ms <= now;
}

function deadline(k: SandboxKey, now: number): { deadlineDay: number; expiredAt: string } {
  const ms = expiryMs(k);
  if (ms === undefined) return { deadlineDay: -1, expiredAt: '' };
  return { deadlineDay: Math.max(0, Math.ceil((ms - now) / DAY)), expiredAt: isoSeconds(ms) };
}

function ipsOut(k: SandboxKey): string[] {
  return k.ips.length === 0 ? ['*'] : [...k.ips];
}

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const apiKey = header(req, 'x-bapi-api-key');
  if (!apiKey) return { reply: reply(ctx, 10003, 'API key is invalid.') };
  const key = ctx.state.usableKey('bybit', apiKey, ctx.now);
  if (!key) return { reply: reply(ctx, 10003, 'API key is invalid.') };
  const tsRaw = header(req, 'x-bapi-timestamp') ?? '';
  const recvRaw = header(req, 'x-bapi-recv-window') ?? '5000';
  const ts = Number(tsRaw);
  const recv = Number(recvRaw);
  // Bybit's rule: server_time - recv_window <= timestamp < server_time + 1000.
  if (!/^\d+$/.test(tsRaw) || !Number.isFinite(recv) || !(ctx.now - recv <= ts && ts < ctx.now + 1000)) {
    return {
      reply: reply(
        ctx,
        10002,
        `invalid request, please check your server timestamp or recv_window param. req_timestamp[${tsRaw}],server_timestamp[${ctx.now}],recv_window[${recvRaw}]`,
      ),
    };
  }
  const given = (header(req, 'x-bapi-sign') ?? '').toLowerCase();
  // One canonical string, as Bybit signs it: "GET: timestamp+api_key+recv_window+queryString; POST:
  // timestamp+api_key+recv_window+raw_request_body" (https://bybit-exchange.github.io/docs/v5/guide#create-a-request).
  // The query string exactly as sent: a client that signs a decoded form of what it sends is refused.
  const payload = req.method === 'POST' ? req.rawBody : req.rawQuery;
  if (!safeEqual(hmac(key.secret, `${tsRaw}${apiKey}${recvRaw}${payload}`, 'hex'), given)) {
    return { reply: reply(ctx, 10004, 'Signature for this request is not valid.') };
  }
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) {
    return { reply: reply(ctx, 10010, "Unmatched IP, please check your API key's bound IP addresses.") };
  }
  if (expired(key, ctx.now)) return { reply: reply(ctx, 33004, 'Your api key has expired.') };
  return { key };
}

const denied = (ctx: EmulatorContext): Reply => reply(ctx, 10005, 'Permission denied, please check your API key permissions.');

function canManageSubKeys(k: SandboxKey): boolean {
  const wallet = perms(k).Wallet ?? [];
  return k.master && !k.readOnly && wallet.some((p) => MASTER_WALLET.includes(p));
}

function queryApi(key: SandboxKey, ctx: EmulatorContext): Reply {
  const uta = isUta(ctx, key.mainUid);
  return ok(ctx, {
    id: key.keyId,
    note: key.label,
    apiKey: key.apiKey,
    readOnly: key.readOnly ? 1 : 0,
    secret: '',
    permissions: fullPermissions(perms(key), uta),
    ips: ipsOut(key),
    type: 1,
    ...deadline(key, ctx.now),
    createdAt: isoSeconds(Date.parse(key.createdAt)),
    // `unified` is a deprecated field; the sandbox mirrors `uta` in it, so that clients are tried with it set.
    unified: uta ? 1 : 0,
    uta: uta ? 1 : 0,
    userID: Number(key.ownerUid),
    inviterID: 0,
    vipLevel: 'No VIP',
    mktMakerLevel: '0',
    affiliateID: 0,
    rsaPublicKey: '',
    isMaster: key.master,
    parentUid: key.master ? '0' : key.mainUid,
    kycLevel: 'LEVEL_DEFAULT',
    kycRegion: '',
  });
}

function walletBalance(req: SandboxRequest, ctx: EmulatorContext): Reply {
  const accountType = param(req, 'accountType');
  if (!accountType) return reply(ctx, 10001, 'accountType can not be empty');
  return ok(ctx, {
    list: [
      {
        accountType,
        accountIMRate: '0',
        accountMMRate: '0',
        totalEquity: '0',
        totalWalletBalance: '0',
        totalMarginBalance: '0',
        totalAvailableBalance: '0',
        totalPerpUPL: '0',
        totalInitialMargin: '0',
        totalMaintenanceMargin: '0',
        accountLTV: '0',
        coin: [],
      },
    ],
  });
}

/**
 * Validates sub-key permissions; returns an error message or the normalized permissions. `permissions` is required and
 * "one of below types must be passed, otherwise the error is thrown"
 * (https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey): a missing, `{}` or all-empty object is refused,
 * read-only key or not. `Derivatives` is accepted but its value ignored: "This param is deprecated because system will
 * automatically add this permission according to your account is UTA or Classic" (same page).
 */
function subPermissions(input: unknown, uta: boolean): BybitPerms | string {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return 'permissions is required';
  const out: BybitPerms = {};
  let ticked = false;
  for (const [cat, vals] of Object.entries(input as Record<string, unknown>)) {
    if (!Array.isArray(vals) || vals.some((v) => typeof v !== 'string')) return `permissions.${cat} must be an array`;
    if (cat === 'Wallet' && vals.includes('Withdraw')) return 'Sub-account API keys cannot hold the Withdraw permission';
    const allowed = SUB_ALLOWED[cat];
    if (!allowed) return `Invalid permission type: ${cat}`;
    const bad = (vals as string[]).find((v) => !allowed.includes(v));
    if (bad !== undefined) return `Invalid permission: ${cat}.${bad}`;
    if (vals.length > 0) ticked = true;
    if (cat !== UTA_GROUP) out[cat] = [...new Set(vals as string[])];
  }
  if (!ticked) return 'permissions must hold at least one permission';
  if (uta) out[UTA_GROUP] = [UTA_PERMISSION];
  return out;
}

function ipsParam(v: unknown): string[] {
  const list = Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : commaList(v);
  return list.filter((ip) => ip !== '*');
}

function createSubApi(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!canManageSubKeys(caller)) return denied(ctx);
  const subuid = param(req, 'subuid');
  if (!subuid) return reply(ctx, 10001, 'subuid can not be empty');
  const sub = ctx.state.subAccount('bybit', subuid, caller.mainUid);
  if (!sub) return reply(ctx, 10001, 'The sub-account does not exist under this master account.');
  const readOnlyRaw = param(req, 'readOnly');
  if (readOnlyRaw !== '0' && readOnlyRaw !== '1') return reply(ctx, 10001, 'readOnly must be 0 or 1');
  const uta = isUta(ctx, caller.mainUid);
  const p = subPermissions(req.params.permissions, uta);
  if (typeof p === 'string') return reply(ctx, 10001, p);
  const ips = ipsParam(req.params.ips);
  const note = param(req, 'note') ?? '';
  // An IP-unbound key expires 90 days after its creation (expiryMs): nothing to store.
  const key = ctx.state.issueKey({
    exchange: 'bybit',
    credentials: newCredentials(),
    owner: sub,
    master: false,
    permissions: p,
    ips,
    label: note,
    readOnly: readOnlyRaw === '1',
    now: ctx.now,
  });
  return ok(ctx, {
    id: key.keyId,
    note: key.label,
    apiKey: key.apiKey,
    readOnly: key.readOnly ? 1 : 0,
    secret: key.secret,
    permissions: fullPermissions(p, uta),
  });
}

function deleteSubApi(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  const apikey = param(req, 'apikey');
  if (!caller.master) {
    // A sub key deletes itself and must not name a key.
    if (apikey !== undefined) return reply(ctx, 10001, 'apikey must be omitted when a sub-account key deletes itself');
    ctx.state.deleteKey(caller);
    return ok(ctx, {});
  }
  if (!canManageSubKeys(caller)) return denied(ctx);
  if (!apikey) return reply(ctx, 10001, 'apikey can not be empty');
  const target = ctx.state.key('bybit', apikey);
  if (!target || target.master || target.mainUid !== caller.mainUid) return reply(ctx, 10001, 'API key does not exist.');
  ctx.state.deleteKey(target);
  return ok(ctx, {});
}

/**
 * Modify Sub API Key, `POST /v5/user/update-sub-api` (https://bybit-exchange.github.io/docs/v5/user/modify-sub-apikey).
 * A master key that may manage sub keys names the key (`apikey`: "You must pass this param when you use master account
 * manage sub account api key settings"), and only a key of its own sub-accounts; a sub key with a transfer permission
 * modifies itself and must not name a key ("apikey param cannot be passed, otherwise throwing an error"). A read-only
 * key modifies nothing. Each field is optional: `readOnly` 0 or 1 (absent: 0, "0 (default)"), `permissions` replaced
 * when sent ("Don't send this param if you don't want to change the permission"), and `ips` always set: "don't pass ips
 * or pass with "*" means no bind", so a call without them unbinds the key. Answers the key as it now is.
 */
function updateSubApi(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  const apikey = param(req, 'apikey');
  let target: SandboxKey;
  if (caller.master) {
    if (!canManageSubKeys(caller)) return denied(ctx);
    if (!apikey) return reply(ctx, 10001, 'apikey can not be empty');
    const named = ctx.state.key('bybit', apikey);
    if (!named || named.master || named.mainUid !== caller.mainUid) return reply(ctx, 10001, 'API key does not exist.');
    target = named;
  } else {
    if (caller.readOnly || !(perms(caller).Wallet ?? []).some((p) => SUB_SELF_WALLET.includes(p))) return denied(ctx);
    if (apikey !== undefined) return reply(ctx, 10001, 'apikey must be omitted when a sub-account key modifies itself');
    target = caller;
  }
  const readOnlyRaw = param(req, 'readOnly') ?? '0';
  if (readOnlyRaw !== '0' && readOnlyRaw !== '1') return reply(ctx, 10001, 'readOnly must be 0 or 1');
  const uta = isUta(ctx, target.mainUid);
  let permissions: BybitPerms | undefined;
  if (req.params.permissions !== undefined) {
    const p = subPermissions(req.params.permissions, uta);
    if (typeof p === 'string') return reply(ctx, 10001, p);
    permissions = p;
  }
  target.readOnly = readOnlyRaw === '1';
  target.ips = ipsParam(req.params.ips);
  delete target.ipsChange;
  if (permissions) target.permissions = permissions;
  ctx.state.changed();
  return ok(ctx, {
    id: target.keyId,
    note: target.label,
    apiKey: target.apiKey,
    readOnly: target.readOnly ? 1 : 0,
    secret: '',
    permissions: fullPermissions(perms(target), uta),
    ips: ipsOut(target),
  });
}

/**
 * The sub-apikeys page cursor. Bybit's tokens are opaque and come percent-encoded, to be sent back as they are (clients
 * put them in the query unencoded). The sandbox's token holds characters that only survive an exact round trip: raw
 * `=` and `/`, and `%2B` / `%25`, which the query decodes to `+` / `%`. A client that decodes the token before sending
 * it (`+` then reads as a space) or encodes it again sends a cursor that is not the token, and gets 10001.
 */
function cursorToken(offset: number, limit: number): string {
  return `offset=${offset}/limit%2B${limit}%25`;
}
/** The token's value after the query is decoded, as the server reads it. */
const CURSOR_VALUE = /^offset=(\d+)\/limit\+(\d+)%$/;

function subApiKeys(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!caller.master) return denied(ctx);
  const subMemberId = param(req, 'subMemberId');
  if (!subMemberId) return reply(ctx, 10001, 'subMemberId can not be empty');
  const sub = ctx.state.subAccount('bybit', subMemberId, caller.mainUid);
  if (!sub) return reply(ctx, 10001, 'The sub-account does not exist under this master account.');
  const limit = Math.min(Math.max(Number(param(req, 'limit') ?? 20) || 20, 1), 20);
  const cursor = param(req, 'cursor') ?? '';
  const match = CURSOR_VALUE.exec(cursor);
  // Approximate code: Bybit documents no error for a cursor it did not issue.
  if (cursor !== '' && !match) return reply(ctx, 10001, 'Invalid cursor.');
  const start = match ? Number(match[1]) : 0;
  const all = ctx.state.keys({ exchange: 'bybit', owner: sub.id });
  const uta = isUta(ctx, caller.mainUid);
  const page = all.slice(start, start + limit);
  return ok(ctx, {
    result: page.map((k) => {
      const d = deadline(k, ctx.now);
      const status = expiryMs(k) === undefined ? 1 : expired(k, ctx.now) ? 2 : d.deadlineDay <= 7 ? 4 : 3;
      return {
        id: k.keyId,
        ips: ipsOut(k),
        apiKey: k.apiKey,
        note: k.label,
        status,
        expiredAt: d.expiredAt,
        createdAt: isoSeconds(Date.parse(k.createdAt)),
        type: 1,
        permissions: fullPermissions(perms(k), uta),
        secret: '******',
        // A boolean here, inverted against its name: "`true`：可讀可寫 (read and write). `false`：只讀 (read only)"
        // (https://bybit-exchange.github.io/docs/zh-TW/v5/user/list-sub-apikeys).
        readOnly: !k.readOnly,
        deadlineDay: d.deadlineDay,
        flag: 'hmac',
      };
    }),
    nextPageCursor: start + limit < all.length ? cursorToken(start + limit, limit) : '',
  });
}

/** Bybit keys: 18 letters and digits; secrets: 36. */
function newCredentials(): { apiKey: string; secret: string } {
  return { apiKey: randomAlnum(18), secret: randomAlnum(36) };
}

export const emulator: ExchangeEmulator = {
  id: 'bybit',
  newCredentials,

  // Bybit names a sub-account by its uid.
  subaccountIdIsUid: true,

  defaultSubaccountId(uid) {
    return uid;
  },

  handle(req, ctx) {
    return dispatch(
      req,
      {
        'GET /v5/user/query-api': (k) => queryApi(k, ctx),
        'GET /v5/account/wallet-balance': () => walletBalance(req, ctx),
        'POST /v5/user/create-sub-api': (k) => createSubApi(req, k, ctx),
        'POST /v5/user/update-sub-api': (k) => updateSubApi(req, k, ctx),
        'POST /v5/user/delete-sub-api': (k) => deleteSubApi(req, k, ctx),
        'GET /v5/user/sub-apikeys': (k) => subApiKeys(req, k, ctx),
      },
      () => authenticate(req, ctx),
      (route) => json(404, { retCode: 10001, retMsg: `Route not found: ${route}`, result: {}, retExtInfo: {}, time: ctx.now }),
    );
  },

  rateLimited(ctx) {
    const reset = String(ctx.now + 1000);
    return {
      ...reply(ctx, 10006, 'Too many visits!'),
      headers: { 'X-Bapi-Limit': '10', 'X-Bapi-Limit-Status': '0', 'X-Bapi-Limit-Reset-Timestamp': reset },
    };
  },

  parsePermissions(input) {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      return { error: 'bybit permissions are an object of arrays, e.g. {"Spot":["SpotTrade"]}' };
    }
    const out: BybitPerms = {};
    for (const [cat, vals] of Object.entries(input as Record<string, unknown>)) {
      if (!Array.isArray(vals) || vals.some((v) => typeof v !== 'string'))
        return { error: `permissions.${cat} must be an array of strings` };
      out[cat] = [...(vals as string[])];
    }
    return { permissions: out };
  },

  setWithdraw(p: NativePermissions, on: boolean): NativePermissions {
    const out = structuredClone(p as BybitPerms);
    const wallet = (out.Wallet ?? []).filter((x) => x !== 'Withdraw');
    out.Wallet = on ? [...wallet, 'Withdraw'] : wallet;
    return out;
  },
};
