/**
 * Kraken emulator: GetApiKeyInfo and Balance, authenticated the Kraken way
 * (https://docs.kraken.com/api/docs/guides/spot-rest-auth): `API-Key`, and `API-Sign` = base64 HMAC-SHA512 of the URI
 * path followed by SHA256(nonce + POST data), keyed with the base64-decoded secret. The POST data is the body exactly
 * as sent (form-encoded, as ccxt sends it, or JSON) and must carry the `nonce`, which must be higher than the last one
 * the key used (Kraken's default nonce window of 0).
 *
 * Answers are HTTP 200 with Kraken's `{"error":[...],"result":...}` envelope. A bad signature is "EAPI:Invalid key",
 * as Kraken documents (https://support.kraken.com/hc/nl/articles/common-causes-of-invalid-key-error); its docs name no
 * separate error for a call from outside the key's IP allowlist, so the sandbox answers that with "EAPI:Invalid key"
 * too (the fail-closed reading: a refused key, never a pass).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import {
  commaList,
  dispatch,
  header,
  json,
  param,
  safeEqual,
  type Authed,
  type EmulatorContext,
  type ExchangeEmulator,
  type Reply,
  type SandboxRequest,
} from '../../sandbox/http.js';
import { effectiveIps, ipAllowed, isExpired, type SandboxKey } from '../../sandbox/state.js';

/** Kraken's withdraw permission value (GetApiKeyInfo `permissions`). */
export const KRAKEN_WITHDRAW = 'withdraw-funds';
/** Values that let a key trade, dropped from a key the admin API makes read-only. */
const TRADING = ['modify-trades', 'close-trades'];

/** The last nonce each key used (Kraken keeps it per key; a lower or equal one is refused). */
const lastNonce = new Map<string, bigint>();

const fail = (error: string): Reply => json(200, { error: [error] });
const ok = (result: unknown): Reply => json(200, { error: [], result });

function authenticate(req: SandboxRequest, ctx: EmulatorContext): Authed {
  const apiKey = header(req, 'api-key');
  const sign = header(req, 'api-sign');
  const key = apiKey ? ctx.state.usableKey('kraken', apiKey, ctx.now) : undefined;
  if (!key || !sign || isExpired(key, ctx.now)) return { reply: fail('EAPI:Invalid key') };
  const nonce = param(req, 'nonce');
  if (nonce === undefined || !/^\d{1,20}$/.test(nonce)) return { reply: fail('EAPI:Invalid nonce') };
  const hash = createHash('sha256').update(`${nonce}${req.rawBody}`, 'utf8').digest();
  const expected = createHmac('sha512', Buffer.from(key.secret, 'base64'))
    .update(Buffer.concat([Buffer.from(req.path, 'utf8'), hash]))
    .digest('base64');
  if (!safeEqual(expected, sign)) return { reply: fail('EAPI:Invalid key') };
  // Checked after the signature, so a forged request cannot burn the key's nonce.
  const n = BigInt(nonce);
  const last = lastNonce.get(key.apiKey);
  if (last !== undefined && n <= last) return { reply: fail('EAPI:Invalid nonce') };
  lastNonce.set(key.apiKey, n);
  if (!ipAllowed(effectiveIps(key, ctx.now), ctx.clientIp)) return { reply: fail('EAPI:Invalid key') };
  return { key };
}

function permissions(k: SandboxKey): string[] {
  const all = commaList(k.permissions as string);
  return k.readOnly ? all.filter((p) => !TRADING.includes(p)) : all;
}

const seconds = (iso: string | undefined) => (iso === undefined ? '0' : String(Math.floor(Date.parse(iso) / 1000)));

/** GetApiKeyInfo's `result`, with every field the docs list (https://docs.kraken.com/api-reference/account-data/get-api-key-info). */
function keyInfo(k: SandboxKey, ctx: EmulatorContext): Reply {
  return ok({
    apiKeyName: k.label,
    apiKey: k.apiKey,
    nonce: String(lastNonce.get(k.apiKey) ?? 0n),
    nonceWindow: 0,
    permissions: permissions(k),
    // The account's IIBAN: the sandbox's sub-account id (the main uid for a main-account key).
    iban: k.owner,
    validUntil: seconds(k.expiresAt),
    queryFrom: '0',
    queryTo: '0',
    createdTime: seconds(k.createdAt),
    modifiedTime: seconds(k.createdAt),
    ipAllowlist: [...k.ips],
    lastUsed: String(Math.floor(ctx.now / 1000)),
  });
}

/** Kraken keys: 56 base64 characters; secrets: 64 random bytes in base64. */
function newCredentials(): { apiKey: string; secret: string } {
  return { apiKey: randomBytes(42).toString('base64'), secret: randomBytes(64).toString('base64') };
}

/** An IIBAN-shaped id (`AA88 N84G WOAK NMOI`). */
function iiban(): string {
  const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const group = () => Array.from(randomBytes(4), (b) => alnum[b % alnum.length]).join('');
  return `AA${String((randomBytes(1)[0]! % 90) + 10)} ${group()} ${group()} ${group()}`;
}

export const emulator: ExchangeEmulator = {
  id: 'kraken',
  newCredentials,

  // A Kraken key belongs to one account, named by its IIBAN: the config's sub-account id of a Kraken slot.
  defaultSubaccountId() {
    return iiban();
  },

  handle(req, ctx) {
    return dispatch(
      req,
      {
        'POST /0/private/GetApiKeyInfo': (k) => keyInfo(k, ctx),
        'POST /0/private/Balance': () => ok({ ZUSD: '0.0000' }),
      },
      () => authenticate(req, ctx),
      () => fail('EGeneral:Unknown method'),
    );
  },

  rateLimited() {
    return fail('EAPI:Rate limit exceeded');
  },

  parsePermissions(input) {
    const list = Array.isArray(input) ? input : typeof input === 'string' ? commaList(input) : undefined;
    if (!list || list.length === 0 || list.some((p) => typeof p !== 'string' || !/^[a-z0-9-]+$/.test(p))) {
      return { error: 'kraken permissions are a list of permission values, e.g. ["query-funds","modify-trades"]' };
    }
    return { permissions: (list as string[]).join(',') };
  },

  setWithdraw(p, on) {
    const t = commaList(p as string).filter((x) => x !== KRAKEN_WITHDRAW);
    return (on ? [...t, KRAKEN_WITHDRAW] : t).join(',');
  },
};
