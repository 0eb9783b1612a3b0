/**
 * Coinbase Advanced Trade emulator: Get API Key Permissions and List Accounts, authenticated the CDP way
 * (https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/api-key-authentication): `Authorization:
 * Bearer <JWT>`, the JWT signed ES256 (ECDSA P-256, SHA-256, the JWS r||s form) with the key's EC private key; its
 * header names the key (`kid`) and carries a `nonce`; its claims name the key again (`sub`), the issuer, `nbf`, `exp`
 * (the JWT "expires after 2 minutes") and the request it is for (`uri`: `METHOD host/path`, no query). Only node:crypto.
 *
 * The signature is checked with the key's public key, derived from the private key the sandbox issued. The `uri` is
 * checked against the host the request reached: a real client signs `GET api.coinbase.com/api/v3/...`; ccxt strips
 * only `https://` from the URL, so against the plain-http sandbox it signs `GET http://127.0.0.1:<port>/coinbase/...`,
 * and that one spelling is accepted as well (anything else, another path or method, is refused).
 *
 * Coinbase answers 401 with the plain body `Unauthorized` for every authentication failure, and its docs name no
 * separate answer for a call from outside the key's IP allowlist: the sandbox answers that the same way.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, verify } from 'node:crypto';
import {
  dispatch,
  header,
  json,
  type Authed,
  type EmulatorContext,
  type ExchangeEmulator,
  type Reply,
  type SandboxRequest,
} from '../../sandbox/http.js';
import { effectiveIps, ipAllowed, isExpired, type SandboxKey } from '../../sandbox/state.js';

/** "The JWT expires after 2 minutes" (the CDP authentication page). */
const MAX_LIFETIME_S = 120;
/** Clock slack for `nbf`: none documented; a few seconds so a client's clock a little ahead still works. */
const SKEW_S = 5;
/** The flags Get API Key Permissions reports (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/data-api/get-api-key-permissions). */
const FLAGS = ['can_view', 'can_trade', 'can_transfer'] as const;

const unauthorized = (): Reply => ({ status: 401, body: 'Unauthorized\n', headers: { 'content-type': 'text/plain' } });

function b64urlJson(part: string | undefined): Record<string, unknown> | undefined {
  if (part === undefined || !/^[A-Za-z0-9_-]+$/.test(part)) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const auth = header(req, 'authorization');
  const token = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
  const parts = token?.split('.') ?? [];
  if (parts.length !== 3) return { reply: unauthorized() };
  const [h, p, s] = parts as [string, string, string];
  const head = b64urlJson(h);
  const claims = b64urlJson(p);
  if (!head || !claims || head.alg !== 'ES256' || typeof head.kid !== 'string' || typeof head.nonce !== 'string') {
    return { reply: unauthorized() };
  }
  const key = ctx.state.usableKey('coinbase', head.kid, ctx.now);
  if (!key || isExpired(key, ctx.now)) return { reply: unauthorized() };
  let good = false;
  try {
    const publicKey = createPublicKey(createPrivateKey(key.secret));
    good =
      /^[A-Za-z0-9_-]+$/.test(s) &&
      verify('sha256', Buffer.from(`${h}.${p}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
  } catch {
    good = false;
  }
  if (!good) return { reply: unauthorized() };
  // The claims, as the CDP docs list them: `sub` the key name, `iss` "cdp" (ccxt, following the earlier docs, sends
  // "coinbase-cloud"; both are accepted), `nbf` / `exp` in seconds, at most 2 minutes apart, and `uri`.
  const now = Math.floor(ctx.now / 1000);
  const { sub, iss, nbf, exp, uri } = claims;
  if (sub !== key.apiKey || (iss !== 'cdp' && iss !== 'coinbase-cloud')) return { reply: unauthorized() };
  if (typeof nbf !== 'number' || typeof exp !== 'number' || exp - nbf > MAX_LIFETIME_S || nbf > now + SKEW_S || exp <= now) {
    return { reply: unauthorized() };
  }
  const host = header(req, 'host') ?? '';
  const target = `${host}/coinbase${req.path}`;
  if (uri !== `${req.method} ${target}` && uri !== `${req.method} http://${target}`) return { reply: unauthorized() };
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) return { reply: unauthorized() };
  return { key };
}

function flags(k: SandboxKey): Record<string, boolean> {
  return k.permissions as Record<string, boolean>;
}

/**
 * Get API Key Permissions' answer: the three flags, the key's portfolio (the sandbox's sub-account id; a main-account
 * key is on the DEFAULT portfolio, named by the main uid) and its type.
 */
function keyPermissions(k: SandboxKey): Reply {
  const f = flags(k);
  return json(200, {
    ...f,
    can_view: f.can_view === true,
    can_trade: f.can_trade === true && !k.readOnly,
    can_transfer: f.can_transfer === true && !k.readOnly,
    portfolio_uuid: k.owner,
    portfolio_type: k.master ? 'DEFAULT' : 'CONSUMER',
  });
}

/** List Accounts (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/accounts/list-accounts): empty. */
function accounts(): Reply {
  return json(200, { accounts: [], has_next: false, cursor: '', size: 0 });
}

/** CDP key names (`organizations/{org_id}/apiKeys/{key_id}`) and an EC P-256 private key in PEM, as the portal gives them. */
function newCredentials(): { apiKey: string; secret: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const secret = privateKey.export({ format: 'pem', type: 'sec1' }).toString();
  return { apiKey: `organizations/${randomUUID()}/apiKeys/${randomUUID()}`, secret };
}

export const emulator: ExchangeEmulator = {
  id: 'coinbase',
  newCredentials,

  // A CDP key is scoped to one portfolio, named by its uuid: the config's sub-account id of a Coinbase slot.
  defaultSubaccountId() {
    return randomUUID();
  },

  handle(req, ctx) {
    return dispatch(
      req,
      {
        'GET /api/v3/brokerage/key_permissions': (k) => keyPermissions(k),
        'GET /api/v3/brokerage/accounts': () => accounts(),
      },
      () => authenticate(req, ctx),
      () => json(404, { error: 'NOT_FOUND', error_details: 'Route not found', message: 'Route not found' }),
    );
  },

  rateLimited() {
    // ccxt 4.5.84 coinbase.js `exceptions`: `rate_limit_exceeded` (429).
    return json(429, { error: 'rate_limit_exceeded', error_details: 'Too many requests', message: 'Too many requests' });
  },

  parsePermissions(input) {
    if (!input || typeof input !== 'object' || Array.isArray(input)) {
      return { error: 'coinbase permissions are an object of can_* flags, e.g. {"can_view":true,"can_trade":true}' };
    }
    const entries = Object.entries(input as Record<string, unknown>);
    if (entries.some(([k, v]) => !k.startsWith('can_') || typeof v !== 'boolean')) {
      return { error: 'coinbase permissions: every field is a can_* flag with a boolean value' };
    }
    const out: Record<string, boolean> = Object.fromEntries(FLAGS.map((f) => [f, false]));
    for (const [k, v] of entries) out[k] = v as boolean;
    return { permissions: out };
  },

  setWithdraw(p, on) {
    // Transfer is Coinbase's one permission that moves funds off the platform.
    return { ...(p as Record<string, boolean>), can_transfer: on };
  },
};
