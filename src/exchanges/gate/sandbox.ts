/**
 * Gate API v4 emulator: the calling key's account detail, the main account's key list, a balance query (the harmless
 * signed call) and the sub-account key endpoints (create, list, get one, update, delete under
 * /api/v4/sub_accounts/{user_id}/keys). Signed the v4 way (https://www.gate.io/docs/developers/apiv4/en/#authentication):
 * headers KEY, Timestamp (unix seconds) and SIGN = hex HMAC-SHA512(secret) of
 * `METHOD\n/api/v4<path>\n<query string, not URL-encoded>\n<hex SHA-512 of the body>\n<Timestamp>`.
 *
 * Errors are `{"label", "message"}` with Gate's labels (https://www.gate.io/docs/developers/apiv4/en/#label-list); the
 * messages paraphrase that table. Gate documents the labels but not, for each endpoint, which one it answers a rule with
 * (a sub-account that is not the caller's, a sub-account key asking for the main account's keys): those are marked
 * approximate here and in docs/sandbox.md.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import {
  header,
  json,
  safeEqual,
  type Authed,
  dispatch,
  type EmulatorContext,
  type ExchangeEmulator,
  type Reply,
  type SandboxRequest,
} from '../../sandbox/http.js';
import { effectiveIps, ipAllowed, isExpired, type NativePermissions, type SandboxKey } from '../../sandbox/state.js';

/** "the gap between Timestamp and the server time cannot exceed 60 seconds" (Gate's signing rules, see above). */
const WINDOW_MS = 60_000;
/**
 * The permission names of a Gate key (gateapi SubAccountKeyPerms, https://github.com/gateio/gateapi-python/blob/master/docs/SubAccountKeyPerms.md,
 * plus `margin`, `copy` and `custody` seen on the main-keys listing). The sandbox refuses others at create, as an
 * INVALID_PARAM_VALUE (approximate: Gate does not document the answer).
 */
const PERM_NAMES = ['wallet', 'spot', 'margin', 'futures', 'delivery', 'earn', 'custody', 'options', 'account', 'unified', 'loan', 'copy'];
/** Gate's limit on a key's IP whitelist is not documented; the sandbox allows 20 (approximate). */
const MAX_IPS = 20;

/** Gate's permissions in the sandbox: permission name -> `read_only` (Gate's `perms: [{name, read_only}]`). */
type GatePerms = Record<string, boolean>;

function fail(status: number, label: string, message: string): Reply {
  return json(status, { label, message });
}

function sha512Hex(s: string): string {
  return createHash('sha512').update(s, 'utf8').digest('hex');
}

/**
 * The query string as Gate signs it: "not URL-encoded". Gate decodes what was sent; so does the sandbox, component by
 * component, keeping the order as sent. (ccxt 4.5.84 gate `sign()` sends the URL-encoded query and signs the same
 * parameters unencoded, in the same sorted order.) A query that does not decode cannot have been signed.
 */
function signedQuery(rawQuery: string): string | undefined {
  if (rawQuery === '') return '';
  try {
    return rawQuery
      .split('&')
      .map((part) =>
        part
          .split('=')
          .map((s) => decodeURIComponent(s.replaceAll('+', ' ')))
          .join('='),
      )
      .join('&');
  } catch {
    return undefined;
  }
}

/** The one string Gate signs. Exported for the tests that sign by hand. */
export function gatePrehash(method: string, path: string, query: string, body: string, ts: string): string {
  return [method, path, query, sha512Hex(body), ts].join('\n');
}

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const apiKey = header(req, 'KEY');
  const sign = header(req, 'SIGN');
  const ts = header(req, 'Timestamp');
  if (!apiKey || !sign || !ts) return { reply: fail(401, 'MISSING_REQUIRED_HEADER', 'Missing required authentication header') };
  const key = ctx.state.usableKey('gate', apiKey, ctx.now);
  // Gate documents no key expiry by API; a key the sandbox was told expires stops authenticating like a deleted one.
  if (!key || isExpired(key, ctx.now)) return { reply: fail(401, 'INVALID_KEY', 'Invalid key provided') };
  // Unix seconds; Gate's own SDKs send fractions ("1541993715.5"), ccxt whole seconds.
  const at = /^\d{1,12}(\.\d{1,6})?$/.test(ts) ? Number(ts) * 1000 : Number.NaN;
  if (Number.isNaN(at) || Math.abs(ctx.now - at) > WINDOW_MS) {
    return { reply: fail(401, 'REQUEST_EXPIRED', 'Request Timestamp is far from the server time') };
  }
  const query = signedQuery(req.rawQuery);
  const expected =
    query === undefined
      ? ''
      : createHmac('sha512', key.secret)
          .update(gatePrehash(req.method, req.path, query, req.rawBody, ts))
          .digest('hex');
  if (query === undefined || !safeEqual(expected, sign)) return { reply: fail(401, 'INVALID_SIGNATURE', 'Signature mismatch') };
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) {
    return { reply: fail(401, 'IP_FORBIDDEN', `Request IP ${ctx.clientIp} not in whitelist`) };
  }
  return { key };
}

function permsOf(k: SandboxKey): Array<{ name: string; read_only: boolean }> {
  return Object.entries(k.permissions as GatePerms).map(([name, readOnly]) => ({ name, read_only: k.readOnly || readOnly }));
}

const seconds = (iso: string): number => Math.floor(Date.parse(iso) / 1000);

/**
 * GET /account/detail, "Get account detail" (https://www.gate.io/docs/developers/apiv4/en/#get-account-detail): the
 * caller's `user_id` (a sub-account key's is the sub-account's), its key's `ip_whitelist`, `currency_pairs`, `key.mode`
 * (1 classic), `tier`, `copy_trading_role`.
 */
function accountDetail(k: SandboxKey): Reply {
  return json(200, {
    user_id: Number(k.ownerUid),
    ip_whitelist: [...k.ips],
    currency_pairs: [],
    key: { mode: 1 },
    tier: 0,
    copy_trading_role: 0,
  });
}

/**
 * GET /account/main_keys, "Query all main account key information"
 * (https://www.gate.io/docs/developers/apiv4/en/#query-all-main-account-key-information): every key of the main account,
 * the key itself masked (the doc's example: "c5dcfbf1f3a7*****"). A sub-account key asking: 403 FORBIDDEN (approximate).
 */
function mainKeys(caller: SandboxKey, ctx: EmulatorContext): Reply {
  if (!caller.master) return forbidden();
  return json(
    200,
    ctx.state
      .keys({ exchange: 'gate', owner: caller.mainUid })
      .filter((k) => k.master)
      .map((k) => ({
        state: 1,
        mode: 1,
        name: k.label,
        user_id: Number(k.mainUid),
        perms: permsOf(k),
        ip_whitelist: [...k.ips],
        currency_pairs: [],
        key: `${k.apiKey.slice(0, 12)}*****`,
        created_at: seconds(k.createdAt),
        update_at: seconds(k.createdAt),
        last_access: seconds(k.createdAt),
      })),
  );
}

/** GET /spot/accounts, "List spot accounts" (https://www.gate.io/docs/developers/apiv4/en/#list-spot-accounts). */
function spotAccounts(): Reply {
  return json(200, [{ currency: 'USDT', available: '0', locked: '0', update_id: 1 }]);
}

const forbidden = (): Reply => fail(403, 'FORBIDDEN', 'Account has no permission to request operation');
const notFound = (): Reply => fail(404, 'SUB_ACCOUNT_NOT_FOUND', 'Sub account not found');
const badParam = (what: string): Reply => fail(400, 'INVALID_PARAM_VALUE', `Invalid parameter value: ${what}`);

/** A SubAccountKey as the sub-account key endpoints show it (gateapi SubAccountKey; the secret only on create). */
function subKeyView(k: SandboxKey): Record<string, unknown> {
  return {
    user_id: Number(k.ownerUid),
    mode: 1,
    name: k.label,
    perms: permsOf(k),
    ip_whitelist: [...k.ips],
    key: k.apiKey,
    state: 1,
    created_at: seconds(k.createdAt),
    updated_at: seconds(k.createdAt),
    last_access: seconds(k.createdAt),
  };
}

/**
 * The sub-account key endpoints apply to the main account's keys only, and to its own sub-accounts. Which permission
 * they need Gate does not say; the sandbox asks for `account` read-write, as keyctl's descriptor does.
 */
function subOf(
  caller: SandboxKey,
  userId: string,
  ctx: EmulatorContext,
  write: boolean,
): { sub: { id: string; uid: string } } | { reply: Reply } {
  if (!caller.master) return { reply: forbidden() };
  const perms = caller.permissions as GatePerms;
  if (!Object.hasOwn(perms, 'account') || (write && (caller.readOnly || perms.account))) {
    return { reply: write && Object.hasOwn(perms, 'account') ? fail(401, 'READ_ONLY', 'API key is read-only') : forbidden() };
  }
  const sub = ctx.state.subAccount('gate', userId, caller.mainUid);
  return sub ? { sub } : { reply: notFound() };
}

/** `perms` of a create or update body: `[{name, read_only}]`, each name Gate's. */
function parsePerms(value: unknown): GatePerms | string {
  if (value === undefined) return {};
  if (!Array.isArray(value)) return 'perms';
  const out: GatePerms = {};
  for (const p of value as unknown[]) {
    const e = p as { name?: unknown; read_only?: unknown } | null;
    if (!e || typeof e.name !== 'string' || !PERM_NAMES.includes(e.name)) return 'perms.name';
    if (e.read_only !== undefined && typeof e.read_only !== 'boolean') return 'perms.read_only';
    out[e.name] = e.read_only ?? false;
  }
  return out;
}

function parseWhitelist(value: unknown): string[] | string {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((ip) => typeof ip !== 'string' || isIP(ip) === 0)) return 'ip_whitelist';
  if (value.length > MAX_IPS) return 'ip_whitelist';
  return value as string[];
}

/** POST /sub_accounts/{user_id}/keys, "Create API Key of the sub-account": the SubAccountKey with its `secret`. */
function createKey(req: SandboxRequest, caller: SandboxKey, userId: string, ctx: EmulatorContext): Reply {
  const found = subOf(caller, userId, ctx, true);
  if ('reply' in found) return found.reply;
  const perms = parsePerms(req.params.perms);
  if (typeof perms === 'string') return badParam(perms);
  // There is no withdraw permission to ask for: wallet read-write is what moves funds out (see setWithdraw).
  const ips = parseWhitelist(req.params.ip_whitelist);
  if (typeof ips === 'string') return badParam(ips);
  const name = req.params.name;
  if (name !== undefined && typeof name !== 'string') return badParam('name');
  if (req.params.mode !== undefined && req.params.mode !== 1 && req.params.mode !== 2) return badParam('mode');
  const sub = ctx.state.subAccount('gate', found.sub.id, caller.mainUid)!;
  const key = ctx.state.issueKey({
    exchange: 'gate',
    credentials: newCredentials(),
    owner: sub,
    master: false,
    permissions: perms,
    ips,
    label: name ?? '',
    readOnly: Object.values(perms).every((ro) => ro),
    now: ctx.now,
  });
  return json(200, { ...subKeyView(key), secret: key.secret });
}

function subKeys(caller: SandboxKey, userId: string, ctx: EmulatorContext): SandboxKey[] | Reply {
  const found = subOf(caller, userId, ctx, false);
  if ('reply' in found) return found.reply;
  return ctx.state.keys({ exchange: 'gate', owner: found.sub.id });
}

function listKeys(caller: SandboxKey, userId: string, ctx: EmulatorContext): Reply {
  const keys = subKeys(caller, userId, ctx);
  return Array.isArray(keys) ? json(200, keys.map(subKeyView)) : keys;
}

/** A key the sub-account does not have: 404 NOT_FOUND (approximate: Gate documents no label for it). */
const noKey = (): Reply => fail(404, 'NOT_FOUND', 'API key not found');

function getKey(caller: SandboxKey, userId: string, apiKey: string, ctx: EmulatorContext): Reply {
  const keys = subKeys(caller, userId, ctx);
  if (!Array.isArray(keys)) return keys;
  const k = keys.find((x) => x.apiKey === apiKey);
  return k ? json(200, subKeyView(k)) : noKey();
}

/** DELETE /sub_accounts/{user_id}/keys/{key}: 204, no body. */
function deleteKey(caller: SandboxKey, userId: string, apiKey: string, ctx: EmulatorContext): Reply {
  const found = subOf(caller, userId, ctx, true);
  if ('reply' in found) return found.reply;
  const k = ctx.state.keys({ exchange: 'gate', owner: found.sub.id }).find((x) => x.apiKey === apiKey);
  if (!k) return noKey();
  ctx.state.deleteKey(k);
  return { status: 204, body: '' };
}

/** PUT /sub_accounts/{user_id}/keys/{key}: replaces perms and ip_whitelist ("list will be removed if no value is passed"); 204. */
function updateKey(req: SandboxRequest, caller: SandboxKey, userId: string, apiKey: string, ctx: EmulatorContext): Reply {
  const found = subOf(caller, userId, ctx, true);
  if ('reply' in found) return found.reply;
  const k = ctx.state.keys({ exchange: 'gate', owner: found.sub.id }).find((x) => x.apiKey === apiKey);
  if (!k) return noKey();
  const perms = parsePerms(req.params.perms);
  if (typeof perms === 'string') return badParam(perms);
  const ips = parseWhitelist(req.params.ip_whitelist);
  if (typeof ips === 'string') return badParam(ips);
  k.permissions = perms;
  k.ips = ips;
  k.readOnly = Object.values(perms).every((ro) => ro);
  if (typeof req.params.name === 'string') k.label = req.params.name;
  ctx.state.changed();
  return { status: 204, body: '' };
}

/** Gate APIv4 keys: 32 lower-case hex digits; secrets: 64. */
function newCredentials(): { apiKey: string; secret: string } {
  return { apiKey: randomBytes(16).toString('hex'), secret: randomBytes(32).toString('hex') };
}

const SUB_KEYS = /^\/api\/v4\/sub_accounts\/([^/]+)\/keys(?:\/([^/]+))?$/;

export const emulator: ExchangeEmulator = {
  id: 'gate',
  newCredentials,

  // Gate names a sub-account by its user_id.
  subaccountIdIsUid: true,

  defaultSubaccountId(uid) {
    return uid;
  },

  handle(req, ctx) {
    const routes: Record<string, (k: SandboxKey) => Reply> = {
      'GET /api/v4/account/detail': (k) => accountDetail(k),
      'GET /api/v4/account/main_keys': (k) => mainKeys(k, ctx),
      'GET /api/v4/spot/accounts': () => spotAccounts(),
    };
    // The key endpoints carry the sub-account (and the key) in the path.
    const m = SUB_KEYS.exec(req.path);
    if (m) {
      const userId = decodeURIComponent(m[1]!);
      const apiKey = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
      if (apiKey === undefined) {
        routes[`POST ${req.path}`] = (k) => createKey(req, k, userId, ctx);
        routes[`GET ${req.path}`] = (k) => listKeys(k, userId, ctx);
      } else {
        routes[`GET ${req.path}`] = (k) => getKey(k, userId, apiKey, ctx);
        routes[`PUT ${req.path}`] = (k) => updateKey(req, k, userId, apiKey, ctx);
        routes[`DELETE ${req.path}`] = (k) => deleteKey(k, userId, apiKey, ctx);
      }
    }
    return dispatch(
      req,
      routes,
      () => authenticate(req, ctx),
      () => fail(404, 'NOT_FOUND', 'Not found'),
    );
  },

  rateLimited() {
    // HTTP 429 TOO_MANY_REQUESTS "Request rate limit exceeded" (label list).
    return fail(429, 'TOO_MANY_REQUESTS', 'Request rate limit exceeded');
  },

  parsePermissions(input) {
    const error = 'gate permissions are an object of permission name -> read_only, e.g. {"spot": false, "futures": true}';
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return { error };
    const out: GatePerms = {};
    for (const [name, ro] of Object.entries(input as Record<string, unknown>)) {
      if (typeof ro !== 'boolean') return { error };
      out[name] = ro;
    }
    return { permissions: out };
  },

  /**
   * Gate has no withdraw permission of its own (SubAccountKeyPerms lists none): the sandbox, like keyctl's adapter, takes
   * wallet read-write as what moves funds out, so "withdraw on" is wallet read-write (unconfirmed: the reference marks
   * it so; the docs do not say which permission POST /withdrawals needs).
   */
  setWithdraw(p: NativePermissions, on: boolean): NativePermissions {
    const out = { ...(p as GatePerms) };
    if (on) out.wallet = false;
    else if (Object.hasOwn(out, 'wallet')) out.wallet = true;
    return out;
  },
};
