/**
 * Bitget emulator: Get Account Information (key inspection), the spot assets (the harmless signed call), virtual
 * sub-account key create / list (v2) and the unified account's sub-account key delete (v3). Signed the Bitget way
 * (https://www.bitget.com/api-doc/common/signature): ACCESS-KEY, ACCESS-TIMESTAMP (ms), plain ACCESS-PASSPHRASE and
 * ACCESS-SIGN = base64 HMAC-SHA256(timestamp + METHOD + requestPath + ['?' + queryString] + body).
 *
 * Codes and messages follow Bitget's common error table (https://www.bitget.com/api-doc/common/error-code/restapi),
 * answered as `{code, msg, requestTime, data: null}`. Bitget documents the rules of the key endpoints (main account
 * only, an IP-bound calling key, unified accounts only for delete) but not the code each rule answers with: those codes
 * are marked approximate here and in docs/sandbox.md.
 */
import { randomBytes } from 'node:crypto';
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
import { effectiveIps, ipAllowed, isExpired, type SandboxAccount, type SandboxKey } from '../../sandbox/state.js';

/**
 * The timestamp window. Bitget's signature page asks for a millisecond timestamp and answers 40008 "Request timestamp
 * expired" beyond its window, but the pages at hand do not give the window's size: 30 s (as OKX, whose API Bitget's
 * mirrors) is the sandbox's choice, **unconfirmed** (docs/sandbox.md).
 */
const WINDOW_MS = 30_000;
/** Create Virtual Subaccount Apikey: `ipList` "Up to 30"; `label` "Length 20". */
const MAX_IPS = 30;
const MAX_LABEL = 20;
/** Bitget keys look like `bg_` and 32 hex digits (the documented examples); anything else is "Invalid ACCESS_KEY". */
const KEY_SHAPE = /^bg_[0-9a-f]{32}$/;

/**
 * The authorities Get Account Information lists (https://www.bitget.com/api-doc/spot/account/Get-Account-Info):
 * read-only `coor cpor stor smor ttor wtor taxr chor p2pr pllr`, read-write `coow cpow stow smow ttow wtow wwow chow
 * p2p pllw taxw`. The sandbox keeps a key's permissions as these codes, comma-separated.
 */
export const BITGET_WITHDRAW = 'wwow';
const WRITE_TO_PERM: Record<string, string> = {
  stow: 'spot_trade',
  smow: 'margin_trade',
  coow: 'contract_trade',
  cpow: 'contract_trade',
  ttow: 'copytrading_trade',
  wtow: 'wallet_transfer',
  wwow: 'wallet_withdraw',
};
/** What a created key's `permList` entry grants, as authorities (the read side comes with each). */
const PERM_TO_AUTHORITIES: Record<string, string[]> = {
  read: ['stor', 'coor', 'cpor'],
  spot_trade: ['stor', 'stow'],
  margin_trade: ['smor', 'smow'],
  contract_trade: ['coor', 'cpor', 'coow', 'cpow'],
};

function fail(status: number, code: string, msg: string, ctx: EmulatorContext): Reply {
  return json(status, { code, msg, requestTime: ctx.now, data: null });
}

function ok(data: unknown, ctx: EmulatorContext): Reply {
  return json(200, { code: '00000', msg: 'success', requestTime: ctx.now, data });
}

function authorities(k: SandboxKey): string[] {
  return commaList(k.permissions as string);
}

/** A key's authorities as a listing's `permList`: the trade permissions, or `read` for a key that only reads. */
function permListOf(k: SandboxKey): string[] {
  const write = authorities(k).filter((a) => !isReadOnly(a));
  if (write.length === 0) return ['read'];
  return [...new Set(write.map((a) => WRITE_TO_PERM[a] ?? a))];
}

/** Read-only authorities end in `r` (`stor`, `taxr`, `p2pr`); `p2p` is P2P read-write. */
function isReadOnly(authority: string): boolean {
  return authority.endsWith('r');
}

/**
 * The string Bitget signs: the query string "in the request URL", its keys in ascending order (the client sends them
 * sorted; ccxt does). It is signed as the parameters read, not percent-encoded (ccxt 4.5.84
 * bitget.js `sign()`: "bitget signs the raw (non-percent-encoded) query string"), so each part of the query as sent is
 * decoded first; a query that does not decode cannot match any signature.
 */
function signedPayload(req: SandboxRequest, ts: string): string | undefined {
  let query = '';
  if (req.rawQuery !== '') {
    try {
      query = `?${req.rawQuery
        .split('&')
        .map((part) => part.split('=').map(decodeURIComponent).join('='))
        .join('&')}`;
    } catch {
      return undefined;
    }
  }
  return `${ts}${req.method}${req.path}${query}${req.rawBody}`;
}

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  // Bitget's codes and messages; the order of the checks is the sandbox's. HTTP statuses: 400 for a malformed
  // request, 401 for a key Bitget does not accept, 403 for the address (the error table gives codes, not statuses).
  const apiKey = header(req, 'access-key');
  if (!apiKey) return { reply: fail(400, '40001', 'ACCESS_KEY cannot be empty', ctx) };
  const sign = header(req, 'access-sign');
  if (!sign) return { reply: fail(400, '40003', 'Signature cannot be empty', ctx) };
  const ts = header(req, 'access-timestamp');
  if (!ts || !/^\d{13}$/.test(ts)) return { reply: fail(400, '40005', 'Invalid ACCESS_TIMESTAMP', ctx) };
  const passphrase = header(req, 'access-passphrase');
  if (!passphrase) return { reply: fail(400, '40011', 'ACCESS_PASSPHRASE cannot be empty', ctx) };
  if (!KEY_SHAPE.test(apiKey)) return { reply: fail(401, '40006', 'Invalid ACCESS_KEY', ctx) };
  const key = ctx.state.usableKey('bitget', apiKey, ctx.now);
  // A well-formed key Bitget does not know (never made, or deleted) is 40037 "Apikey does not exist".
  if (!key || isExpired(key, ctx.now)) return { reply: fail(401, '40037', 'Apikey does not exist', ctx) };
  if (Math.abs(ctx.now - Number(ts)) > WINDOW_MS) return { reply: fail(400, '40008', 'Request timestamp expired', ctx) };
  if (!safeEqual(passphrase, key.passphrase ?? '')) return { reply: fail(401, '40012', 'apikey/password is incorrect', ctx) };
  const payload = signedPayload(req, ts);
  if (payload === undefined || !safeEqual(hmac(key.secret, payload, 'base64'), sign)) {
    return { reply: fail(401, '40009', 'sign signature error', ctx) };
  }
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) return { reply: fail(403, '40018', 'Invalid IP', ctx) };
  return { key };
}

/**
 * Get Account Information's `data`, with the fields of Bitget's documented answer
 * (https://www.bitget.com/api-doc/spot/account/Get-Account-Info). `parentId` is the main account's uid; for a main
 * account's own key Bitget does not document it: the sandbox answers the account's own uid.
 */
function accountInfo(key: SandboxKey, ctx: EmulatorContext): Reply {
  return ok(
    {
      userId: key.ownerUid,
      inviterId: '0',
      ips: effectiveIps(key, ctx.now).join(','),
      authorities: authorities(key),
      parentId: Number(key.mainUid),
      traderType: 'not_trader',
      channelCode: '',
      channel: '',
      regisTime: String(Date.parse(key.createdAt)),
    },
    ctx,
  );
}

/** Get Account Assets (https://www.bitget.com/api-doc/spot/account/Get-Account-Assets): an empty account. */
function assets(ctx: EmulatorContext): Reply {
  return ok([], ctx);
}

// Approximate codes: Bitget documents the rules, not what each answers (see the header comment). 40014 is the table's
// "Incorrect permissions"; 40017 "Parameter verification failed"; 40019 "Parameter {0} cannot be empty".
const denied = (ctx: EmulatorContext): Reply => fail(400, '40014', 'Incorrect permissions', ctx);
const badParam = (name: string, ctx: EmulatorContext): Reply => fail(400, '40017', `Parameter ${name} verification failed`, ctx);
const empty = (name: string, ctx: EmulatorContext): Reply => fail(400, '40019', `Parameter ${name} cannot be empty`, ctx);
/**
 * Delete Sub-account API Key "only supports deleting API Keys of sub-accounts under a unified account, and does not
 * support deleting API Keys of sub-accounts under a classic account"
 * (https://www.bitget.com/api-doc/uta/account/sub-account/SubAccount-API-Delete). The code of that refusal is not
 * documented: 40054 here is the sandbox's (approximate), and keyctl does not rely on it (adapter.ts).
 */
const classicAccount = (ctx: EmulatorContext): Reply =>
  fail(400, '40054', 'The current account mode does not support this operation, please upgrade to the unified account', ctx);

/**
 * The key endpoints are for "API Key calls from the main account, and the API Key needs to be bound to an IP address"
 * (https://www.bitget.com/api-doc/common/vsubaccount/Get-Virtual-Subaccount-ApiKey-List); managing sub-accounts is the
 * `chow` ("subaccount manage") authority.
 */
function mayManage(caller: SandboxKey, ctx: EmulatorContext): Reply | undefined {
  if (!caller.master) return denied(ctx);
  if (effectiveIps(caller, ctx.now).length === 0) return fail(400, '40014', 'Please bind ip whitelist address', ctx);
  if (!authorities(caller).includes('chow')) return denied(ctx);
  return undefined;
}

/** A virtual sub-account of the caller's main account, by its uid. */
function subOf(caller: SandboxKey, uid: string | undefined, ctx: EmulatorContext): SandboxAccount | undefined {
  return uid === undefined ? undefined : ctx.state.subAccount('bitget', uid, caller.mainUid);
}

function stringParam(req: SandboxRequest, name: string): string | undefined {
  const v = req.params[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A JSON array of strings, or undefined when absent; a string marks a parameter in another shape. */
function stringList(req: SandboxRequest, name: string): string[] | undefined | 'bad' {
  const v = req.params[name];
  if (v === undefined || v === null) return undefined;
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : 'bad';
}

/**
 * Create Virtual Subaccount Apikey (https://www.bitget.com/api-doc/common/vsubaccount/Create-Virtual-Subaccount-ApiKey):
 * `subAccountUid`, `passphrase` ("English letters of 8-32 characters + numbers"), `label` (length 20), `ipList` (up
 * to 30; empty when absent), `permList` (`spot_trade`, `contract_trade`, `read`; `margin_trade` on other copies of the
 * page). The answer echoes everything but the passphrase.
 */
function createApiKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  const refused = mayManage(caller, ctx);
  if (refused) return refused;
  const uid = stringParam(req, 'subAccountUid');
  if (!uid) return empty('subAccountUid', ctx);
  const sub = subOf(caller, uid, ctx);
  if (!sub) return badParam('subAccountUid', ctx);
  const passphrase = stringParam(req, 'passphrase');
  if (!passphrase) return empty('passphrase', ctx);
  if (!/^[A-Za-z0-9]{8,32}$/.test(passphrase)) return badParam('passphrase', ctx);
  const label = stringParam(req, 'label');
  if (!label) return empty('label', ctx);
  if (label.length > MAX_LABEL) return badParam('label', ctx);
  const ips = stringList(req, 'ipList') ?? [];
  if (ips === 'bad' || ips.some((ip) => isIP(ip) !== 4) || ips.length > MAX_IPS) return badParam('ipList', ctx);
  const perms = stringList(req, 'permList') ?? ['read'];
  if (perms === 'bad' || perms.length === 0 || perms.some((p) => !Object.hasOwn(PERM_TO_AUTHORITIES, p))) {
    return badParam('permList', ctx);
  }
  const granted = [...new Set(perms.flatMap((p) => PERM_TO_AUTHORITIES[p]!))];
  const key = ctx.state.issueKey({
    exchange: 'bitget',
    credentials: newCredentials(),
    owner: sub,
    master: false,
    permissions: granted.join(','),
    ips,
    label,
    readOnly: granted.every(isReadOnly),
    passphrase,
    now: ctx.now,
  });
  return ok({ subAccountUid: sub.uid, label, subAccountApiKey: key.apiKey, secretKey: key.secret, permList: perms, ipList: ips }, ctx);
}

/**
 * Get Virtual Subaccount ApiKey List (https://www.bitget.com/api-doc/common/vsubaccount/Get-Virtual-Subaccount-ApiKey-List):
 * `subAccountUid` -> `[{subAccountUid, label, subAccountApiKey, permList, ipList}]`. No creation time is documented.
 */
function listApiKeys(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  const refused = mayManage(caller, ctx);
  if (refused) return refused;
  const uid = stringParam(req, 'subAccountUid');
  if (!uid) return empty('subAccountUid', ctx);
  const sub = subOf(caller, uid, ctx);
  if (!sub) return badParam('subAccountUid', ctx);
  return ok(
    ctx.state.keys({ exchange: 'bitget', owner: sub.id }).map((k) => ({
      subAccountUid: sub.uid,
      label: k.label,
      subAccountApiKey: k.apiKey,
      permList: permListOf(k),
      ipList: effectiveIps(k, ctx.now),
    })),
    ctx,
  );
}

/** Delete Sub-account API Key (v3): `apiKey` -> `data: {}`; main account only, unified accounts only. */
function deleteApiKey(req: SandboxRequest, caller: SandboxKey, ctx: EmulatorContext): Reply {
  const refused = mayManage(caller, ctx);
  if (refused) return refused;
  const main = ctx.state.mainAccount('bitget', caller.mainUid);
  if (main?.accountMode === 'classic') return classicAccount(ctx);
  const apiKey = stringParam(req, 'apiKey');
  if (!apiKey) return empty('apiKey', ctx);
  const target = ctx.state.key('bitget', apiKey);
  const sub = target && !target.master ? ctx.state.subAccount('bitget', target.owner, caller.mainUid) : undefined;
  if (!target || !sub) return fail(400, '40037', 'Apikey does not exist', ctx);
  ctx.state.deleteKey(target);
  return ok({}, ctx);
}

/** Bitget keys: `bg_` and 32 hex digits; secrets: 64 hex digits (the documented examples' shapes). */
function newCredentials(): { apiKey: string; secret: string } {
  return { apiKey: `bg_${randomBytes(16).toString('hex')}`, secret: randomBytes(32).toString('hex') };
}

export const emulator: ExchangeEmulator = {
  id: 'bitget',
  newCredentials,

  // Bitget names a virtual sub-account by its numeric uid (`subAccountUid`).
  subaccountIdIsUid: true,
  defaultSubaccountId(uid) {
    return uid;
  },

  handle(req, ctx) {
    return dispatch(
      req,
      {
        'GET /api/v2/spot/account/info': (k) => accountInfo(k, ctx),
        'GET /api/v2/spot/account/assets': () => assets(ctx),
        'POST /api/v2/user/create-virtual-subaccount-apikey': (k) => createApiKey(req, k, ctx),
        'GET /api/v2/user/virtual-subaccount-apikey-list': (k) => listApiKeys(req, k, ctx),
        'POST /api/v3/user/delete-sub-api': (k) => deleteApiKey(req, k, ctx),
      },
      () => authenticate(req, ctx),
      // Bitget's answer to an unknown path (HTTP 404, its gateway's shape).
      (route) => fail(404, '40404', `Request URL NOT FOUND: ${route}`, ctx),
    );
  },

  rateLimited(ctx) {
    return fail(429, '429', 'Too Many Requests', ctx);
  },

  parsePermissions(input) {
    const codes = typeof input === 'string' ? commaList(input) : [];
    if (codes.length === 0 || codes.some((c) => !/^[a-z0-9]+$/.test(c))) {
      return { error: 'bitget permissions are a comma string of authority codes, e.g. "stor,stow,coor,coow"' };
    }
    return { permissions: codes.join(',') };
  },

  setWithdraw(p, on) {
    const codes = commaList(p as string).filter((c) => c !== BITGET_WITHDRAW);
    return (on ? [...codes, BITGET_WITHDRAW] : codes).join(',');
  },
};
