/**
 * Bitfinex emulator: Key Permissions and Wallets, authenticated the API v2 way (https://docs.bitfinex.com/docs/rest-auth,
 * and as ccxt 4.5.84 bitfinex.js `sign` does it): `bfx-apikey`, `bfx-nonce` and `bfx-signature` = hex HMAC-SHA384 of
 * `/api/v2/<path>` + nonce + the body exactly as sent, keyed with the secret. The nonce must be higher than the last one
 * the key used ("nonce: small", 10114).
 *
 * Errors are HTTP 500 with `["error", <code>, "<text>"]`: 10100 for an unknown key or a bad signature, 10114 for a
 * stale nonce, 11010 for the rate limit (the codes ccxt 4.5.84 maps). keyctl found no Bitfinex code for a call from
 * outside the key's IP restriction, so the sandbox answers it as 10100 (fail closed: a refused key).
 */
import { createHmac, randomBytes } from 'node:crypto';
import {
  dispatch,
  header,
  json,
  safeEqual,
  type Authed,
  type EmulatorContext,
  type ExchangeEmulator,
  type Reply,
  type SandboxRequest,
} from '../../sandbox/http.js';
import { effectiveIps, ipAllowed, isExpired, type SandboxKey } from '../../sandbox/state.js';

/** The scopes Key Permissions lists, in its order (https://docs.bitfinex.com/reference/key-permissions). */
const SCOPES = ['account', 'history', 'orders', 'positions', 'funding', 'settings', 'wallets', 'withdraw', 'ui_withdraw', 'bfxpay'];
/** Scopes whose write a read-only key (admin API) loses. */
const TRADING = ['orders', 'positions'];

const lastNonce = new Map<string, bigint>();

const fail = (code: number, text: string): Reply => json(500, ['error', code, text]);

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const apiKey = header(req, 'bfx-apikey');
  const nonce = header(req, 'bfx-nonce');
  const sign = header(req, 'bfx-signature');
  const key = apiKey ? ctx.state.usableKey('bitfinex', apiKey, ctx.now) : undefined;
  if (!key || !nonce || !sign || isExpired(key, ctx.now)) return { reply: fail(10100, 'apikey: invalid') };
  if (!/^\d{1,20}$/.test(nonce)) return { reply: fail(10114, 'nonce: small') };
  const expected = createHmac('sha384', key.secret).update(`/api${req.path}${nonce}${req.rawBody}`, 'utf8').digest('hex');
  if (!safeEqual(expected, sign)) return { reply: fail(10100, 'apikey: digest invalid') };
  // After the signature: a forged request cannot burn the key's nonce.
  const n = BigInt(nonce);
  const last = lastNonce.get(key.apiKey);
  if (last !== undefined && n <= last) return { reply: fail(10114, 'nonce: small') };
  lastNonce.set(key.apiKey, n);
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) return { reply: fail(10100, 'apikey: invalid') };
  return { key };
}

/** Native permissions: scope -> the rights held (`{"orders":["read","write"]}`). */
function rights(k: SandboxKey): Record<string, string[]> {
  return k.permissions as Record<string, string[]>;
}

/** Key Permissions' answer: one `[SCOPE, READ, WRITE]` per documented scope, then any other scope the key was seeded with. */
function permissions(k: SandboxKey): Reply {
  const r = rights(k);
  const names = [...SCOPES, ...Object.keys(r).filter((s) => !SCOPES.includes(s))];
  return json(
    200,
    names.map((s) => {
      const held = r[s] ?? [];
      const write = held.includes('write') && !(k.readOnly && TRADING.includes(s));
      return [s, held.includes('read') ? 1 : 0, write ? 1 : 0];
    }),
  );
}

/** Bitfinex keys and secrets: 43 characters each. */
function newCredentials(): { apiKey: string; secret: string } {
  return { apiKey: randomBytes(32).toString('base64url'), secret: randomBytes(32).toString('base64url') };
}

export const emulator: ExchangeEmulator = {
  id: 'bitfinex',
  newCredentials,

  // Bitfinex reports no owner on a key: the id only names the sandbox's account.
  defaultSubaccountId(uid) {
    return `sub${uid.slice(-6)}`;
  },

  handle(req, ctx) {
    return dispatch(
      req,
      {
        'POST /v2/auth/r/permissions': (k) => permissions(k),
        // Wallets (https://docs.bitfinex.com/reference/rest-auth-wallets): one exchange wallet, empty.
        'POST /v2/auth/r/wallets': () => json(200, [['exchange', 'USD', 0, 0, 0, null, null]]),
      },
      () => authenticate(req, ctx),
      () => fail(10020, 'request: invalid'),
    );
  },

  rateLimited() {
    return fail(11010, 'ratelimit: error');
  },

  parsePermissions(input) {
    if (!input || typeof input !== 'object' || Array.isArray(input)) {
      return { error: 'bitfinex permissions are an object of scope -> rights, e.g. {"orders":["read","write"]}' };
    }
    const entries = Object.entries(input as Record<string, unknown>);
    if (entries.some(([s, r]) => !/^[a-z_]+$/.test(s) || !Array.isArray(r) || r.some((x) => x !== 'read' && x !== 'write'))) {
      return { error: 'bitfinex permissions: each scope maps to a list of "read" and "write"' };
    }
    return { permissions: Object.fromEntries(entries) as Record<string, string[]> };
  },

  setWithdraw(p, on) {
    const r = { ...(p as Record<string, string[]>) };
    if (on) r.withdraw = ['read', 'write'];
    else delete r.withdraw;
    return r;
  },
};
