/**
 * Binance (spot `sapi`). Inspect: GET /sapi/v1/account/apiRestrictions, which gives permission flags and only an
 * `ipRestrict` boolean; a sub key's IP list (and proof that it lives in the declared sub-account) comes from the
 * master's GET /sapi/v1/sub-account/subAccountApi/ipRestriction. Create / delete / list: POST, DELETE and GET
 * /sapi/v1/sub-account/subAccountApi through ccxt's signed generic request (ccxt 4.5.84 has no named method for them);
 * the listing has no IP lists, so each listed key's comes from ipRestriction. Harmless signed call: GET /api/v3/account.
 */
import * as v from 'valibot';
import { asMasterError, createClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import {
  assertCreatable,
  badAnswer,
  isAllowlistEntry,
  malformed,
  obj,
  ownEntry,
  parseAnswer,
  parseIps,
  sortScopes,
  toIso,
  unknownScope,
} from '../normalize.js';
import { ExchangeError, KeyctlError } from '@keyctl/client/errors';
import type { DeclarableScope, Scope } from '../../domain/scopes.js';
import type {
  CreateKeyRequest,
  CreatedKey,
  DeleteKeyRequest,
  ExchangeAdapter,
  ExchangeCapabilities,
  InspectRequest,
  KeyInspection,
  ListedKey,
  ListKeysRequest,
  PingRequest,
} from '../types.js';
import { binance } from './descriptor.js';
import { binanceTrading } from './trading.js';

/** apiRestrictions flag (when true) -> normalized scopes. */
export const BINANCE_FLAGS: Record<string, Scope[]> = {
  enableReading: ['read'],
  enableFixReadOnly: ['read'],
  // "Enable Spot & Margin Trading": one permission for both (https://developers.binance.com/docs/wallet/account/api-key-permission).
  enableSpotAndMarginTrading: ['spot:trade', 'margin:trade'],
  // "Margin loan, repay & transfer": what makes margin trading possible beyond spot orders.
  enableMargin: ['margin:trade'],
  enableFutures: ['futures:trade'],
  enableVanillaOptions: ['options:trade'],
  enablePortfolioMarginTrading: ['margin:trade', 'futures:trade'],
  enableFixApiTrade: ['spot:trade'],
  enableWithdrawals: ['withdraw'],
  enableInternalTransfer: ['transfer'],
  permitsUniversalTransfer: ['transfer'],
};

/** apiRestrictions fields that are facts about the key, not permissions. */
const NOT_PERMISSIONS = new Set(['ipRestrict', 'createTime', 'tradingAuthorityExpirationTime']);

export const capabilities: ExchangeCapabilities = capabilitiesOf(binance);

/**
 * Normalized scopes of an apiRestrictions payload (the raw answer: valibot drops fields named `constructor`,
 * `__proto__` or `prototype`, which must count like any other); any other true boolean field is `unknown:<field>`,
 * also one named like a member of Object.prototype.
 */
export function binanceScopes(restrictions: unknown, options: { isMaster?: boolean } = {}): Scope[] {
  const scopes = new Set<Scope>();
  const flags = obj(restrictions);
  for (const [field, value] of Object.entries(flags)) {
    if (NOT_PERMISSIONS.has(field) || value !== true) continue;
    for (const s of ownEntry(BINANCE_FLAGS, field) ?? [unknownScope(field)]) scopes.add(s);
  }
  // A master key manages sub-account keys only with "Enable Spot & Margin Trading": Create and Delete Sub-account API
  // Key are TRADE endpoints (https://developers.binance.com/legacy-docs/sub_account/api-management/Create-Sub-account-API-Key),
  // and the IP-restriction endpoints say "You need to enable Enable Spot & Margin Trading option for the api key which
  // requests this endpoint" (https://developers.binance.com/docs/sub_account/api-management).
  if (options.isMaster && flags.enableSpotAndMarginTrading === true) scopes.add('keys:manage');
  return sortScopes(scopes);
}

/**
 * The create-sub-account-API-key flags for declared scopes. `canTrade` is "Spot & Margin trading permission", which is
 * all that spot:trade and margin:trade mean. `canMarginLoanRepay` ("Margin loan, repay & transfer") is never asked for:
 * it lends funds and moves them between wallets, beyond trading, and spot and margin come as one permission anyway.
 */
export function binanceFlagsFor(scopes: readonly DeclarableScope[]): Record<string, boolean> {
  const has = (s: DeclarableScope) => scopes.includes(s);
  return {
    canTrade: has('spot:trade') || has('margin:trade'),
    canMarginLoanRepay: false,
    canFuturesTrade: has('futures:trade'),
    canVanillaOptions: has('options:trade'),
    canUniversalTransfer: false,
  };
}

/**
 * ccxt 4.5.84 signs and sends `sub-account/*` parameters unencoded (`rawencode`), so an email holding `+` would reach
 * Binance as a space. keyctl percent-encodes these values itself: ccxt then signs exactly the encoded string it sends,
 * which is what Binance verifies ("percent-encode payloads before computing signatures",
 * https://developers.binance.com/docs/binance-spot-api-docs/rest-api/request-security).
 */
function encoded(values: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === 'string' ? encodeURIComponent(v) : v]));
}

/**
 * The documented shapes keyctl reads: GET /sapi/v1/account/apiRestrictions
 * (https://developers.binance.com/docs/wallet/account/api-key-permission), the master's GET
 * /sapi/v1/sub-account/subAccountApi/ipRestriction (https://developers.binance.com/docs/sub_account/api-management) and
 * POST /sapi/v1/sub-account/subAccountApi (https://developers.binance.com/legacy-docs/sub_account/api-management/Create-Sub-account-API-Key).
 * Strict where a field decides the verdict: every documented permission flag is a boolean and present (a missing flag
 * must never read as "off"), ipRestrict, the IP list and the key it describes. Tolerant elsewhere: unknown fields are
 * ignored, and tradingAuthorityExpirationTime (only on keys whose trading permission expires) may be absent.
 */
const timestamp = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const apiRestrictionsSchema = v.looseObject({
  ipRestrict: v.boolean(),
  createTime: v.optional(timestamp),
  tradingAuthorityExpirationTime: v.optional(timestamp),
  enableReading: v.boolean(),
  enableWithdrawals: v.boolean(),
  enableInternalTransfer: v.boolean(),
  enableMargin: v.boolean(),
  enableFutures: v.boolean(),
  permitsUniversalTransfer: v.boolean(),
  enableVanillaOptions: v.boolean(),
  enableFixApiTrade: v.boolean(),
  enableFixReadOnly: v.boolean(),
  enableSpotAndMarginTrading: v.boolean(),
  enablePortfolioMarginTrading: v.boolean(),
});
const ipRestrictionSchema = v.looseObject({
  // Documented as the string "true"/"false"; apiRestrictions' boolean form is read the same way.
  ipRestrict: v.union([v.picklist(['true', 'false']), v.boolean()]),
  // The docs give it only when the key has an allowlist (the Add IP Restriction page).
  ipList: v.optional(v.array(v.string())),
  apiKey: v.pipe(v.string(), v.minLength(1)),
});
const createdKeySchema = v.looseObject({
  apiKey: v.pipe(v.string(), v.minLength(1)),
  secretKey: v.pipe(v.string(), v.minLength(1)),
});
/**
 * GET /sapi/v1/sub-account/subAccountApi, "Query Sub-account API Key (For Master Account) (USER_DATA)"
 * (https://developers.binance.com/en/docs/catalog/vip-and-institutional-sub-account/api/rest-api/api-management; shape
 * from Binance's generated connector, binance-connector-js clients/sub-account 14.0.0). The sweep deletes by `apiName`,
 * so every field that says which key and which sub-account is strict; `timestamp` may be absent.
 */
const listedKeySchema = v.looseObject({
  email: v.string(),
  apiName: v.string(),
  apikey: v.pipe(v.string(), v.minLength(1)),
  canTrade: v.boolean(),
  canMarginLoanRepay: v.boolean(),
  canFuturesTrade: v.boolean(),
  canUniversalTransfer: v.boolean(),
  canVanillaOptions: v.boolean(),
  timestamp: v.optional(timestamp),
});
const keyListSchema = v.looseObject({
  total: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  list: v.array(listedKeySchema),
});

/** The listing's flags (the Create Sub-account API Key names) -> scopes; every listed key reads. */
function listedScopes(k: v.InferOutput<typeof listedKeySchema>): Scope[] {
  const scopes = new Set<Scope>(['read']);
  if (k.canTrade) for (const s of BINANCE_FLAGS.enableSpotAndMarginTrading!) scopes.add(s);
  if (k.canMarginLoanRepay) scopes.add('margin:trade');
  if (k.canFuturesTrade) scopes.add('futures:trade');
  if (k.canVanillaOptions) scopes.add('options:trade');
  if (k.canUniversalTransfer) scopes.add('transfer');
  return sortScopes(scopes);
}

/** Query Sub-account API Key: `size` at most 100. More pages than this is not a listing keyctl believes. */
const LIST_PAGE_SIZE = 100;
const LIST_MAX_PAGES = 50;

/**
 * Binance names its permission flags enable* / permits* (and the listing can*). An unknown field whose name reads like
 * a permission (any case: withdraw, transfer, trade, enable, permit, can, allow) and is not a boolean is a permission
 * keyctl cannot read, never "off". The docs are silent on fields they do not list; this is the safe reading.
 */
const PERMISSION_NAME = /withdraw|transfer|trade|enable|permit|can|allow/i;
/** The apiRestrictions fields the docs list: anything else is unknown. */
const DOCUMENTED_FIELDS = new Set([...Object.keys(BINANCE_FLAGS), ...NOT_PERMISSIONS]);

/**
 * A KeyInspection from apiRestrictions, before the master's IP list is known. An answer of another shape is an
 * EXCHANGE_BAD_RESPONSE (a violation for verify, import and rotation), never a key with fewer permissions.
 */
export function parseBinanceRestrictions(restrictions: unknown, role: 'master' | 'bot'): KeyInspection {
  const r = parseAnswer(apiRestrictionsSchema, restrictions, 'binance', 'apiRestrictions');
  // The raw answer, not `r`: valibot's looseObject drops fields named `constructor`, `__proto__`, `prototype`.
  const raw = obj(restrictions);
  const unreadable = Object.keys(raw).filter(
    (field) => !DOCUMENTED_FIELDS.has(field) && PERMISSION_NAME.test(field) && typeof raw[field] !== 'boolean',
  );
  // Field names only when they are short words: an answer's field name is no secret, but need not be printable.
  if (unreadable.length > 0) badAnswer('binance', 'apiRestrictions', `${unreadable.map(fieldName).join(', ')}: expected boolean`);
  const scopes = binanceScopes(raw, { isMaster: role === 'master' });
  const expiresAt = toIso(r.tradingAuthorityExpirationTime, {
    exchange: 'binance',
    endpoint: 'apiRestrictions',
    field: 'tradingAuthorityExpirationTime',
  });
  const createdAt = toIso(r.createTime, { exchange: 'binance', endpoint: 'apiRestrictions', field: 'createTime' });
  return {
    scopes,
    native: r,
    ips: r.ipRestrict ? 'restricted' : 'unrestricted',
    readOnly: !scopes.some((s) => s !== 'read' && s !== 'keys:manage'),
    owner: { isMaster: role === 'master' },
    ...(expiresAt ? { expiresAt } : {}),
    ...(createdAt ? { createdAt } : {}),
  };
}

function fieldName(field: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(field) ? field : 'a field';
}

/**
 * GET /api/v3/account, "Account Information (USER_DATA)": the answer documents `uid`, the account's user id
 * (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/account-endpoints#account-information-user_data).
 * Read for a master key whose account declares its uid, so the policy can confirm the owner (WRONG_ACCOUNT).
 */
const accountSchema = v.looseObject({ uid: v.pipe(v.number(), v.safeInteger(), v.minValue(0)) });

/**
 * Applies the master's ipRestriction answer to an inspection. `apiKey`, when given, is the key asked about: an answer
 * about another key, an allowlist flag that contradicts apiRestrictions, or a restricted key without a readable list is
 * an EXCHANGE_BAD_RESPONSE.
 */
export function applyBinanceIpRestriction(inspection: KeyInspection, answer: unknown, subaccount: string, apiKey?: string): KeyInspection {
  const endpoint = 'subAccountApi/ipRestriction';
  const a = parseAnswer(ipRestrictionSchema, answer, 'binance', endpoint);
  if (apiKey !== undefined && a.apiKey !== apiKey) badAnswer('binance', endpoint, 'apiKey: not the key asked about');
  const restricted = a.ipRestrict === true || a.ipRestrict === 'true';
  // apiRestrictions (the key's own answer) said whether it is restricted; two answers that disagree cannot both be read.
  if (restricted !== (inspection.ips !== 'unrestricted')) badAnswer('binance', endpoint, 'ipRestrict: contradicts apiRestrictions');
  const bad = (a.ipList ?? []).filter((ip) => !isAllowlistEntry(ip.trim()));
  if (bad.length > 0) badAnswer('binance', endpoint, `ipList: ${bad.length} entr${bad.length === 1 ? 'y is' : 'ies are'} not an address`);
  if (restricted && (a.ipList ?? []).length === 0) badAnswer('binance', endpoint, 'ipList: missing while ipRestrict is true');
  const ips = restricted ? parseIps(a.ipList) : 'unrestricted';
  return { ...inspection, ips, owner: { ...inspection.owner, subaccount } };
}

export const adapter: ExchangeAdapter = {
  id: binance.id,
  capabilities,
  trading: binanceTrading,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const restrictions = await client.call('sapiGetAccountApiRestrictions', {}, { action: 'inspecting the key' });
    const inspection = parseBinanceRestrictions(restrictions, request.role);
    if (request.role === 'master') {
      // apiRestrictions names no owner: the account endpoint does, read only when there is a declared uid to compare.
      if (!request.account.uid) return inspection;
      const account = await client.call('privateGetAccount', {}, { action: "reading the key's account uid" });
      const uid = String(parseAnswer(accountSchema, account, 'binance', 'account').uid);
      return { ...inspection, owner: { ...inspection.owner, uid } };
    }
    if (!request.master || !request.subaccount) {
      if (inspection.ips === 'unrestricted') return inspection;
      throw new ExchangeError('MASTER_KEY_REQUIRED', "Binance tells a sub-account key's IP allowlist only to the account's master key.", {
        hint: "Import the account's master key first (keyctl key import @<account>), then re-run.",
      });
    }
    const master = await createClient(request.account, request.master, request);
    let answer: unknown;
    try {
      answer = await master.call(
        'sapiGetSubAccountSubAccountApiIpRestriction',
        encoded({ email: request.subaccount, subAccountApiKey: request.key.apiKey }),
        { action: "reading the key's IP allowlist" },
      );
    } catch (err) {
      // Binance refuses the lookup when the key is not in that sub-account; network and master-key errors propagate.
      if (!(err instanceof KeyctlError && err.code === 'EXCHANGE_REFUSED')) throw asMasterError(err, request.account);
      return { ...inspection, owner: { ...inspection.owner, subaccount: null } };
    }
    return applyBinanceIpRestriction(inspection, answer, request.subaccount, request.key.apiKey);
  },

  async createKey(request: CreateKeyRequest): Promise<CreatedKey> {
    assertCreatable('binance', request);
    const client = await createClient(request.account, request.master, request);
    const answer = await client.request(
      'sub-account/subAccountApi',
      'sapi',
      'POST',
      encoded({
        email: request.subaccount,
        apiName: request.label,
        status: 2,
        ipAddress: request.ips.join(','),
        ...binanceFlagsFor(request.scopes),
      }),
      { action: 'creating a sub-account key', retry: 'refused-only' },
    );
    // Only the key and secret are read: the new key's permissions are verified by inspecting it. malformed() (not
    // parseAnswer) because its hint says what matters here: the key may exist, and the orphan sweep finds it by label.
    const created = v.safeParse(createdKeySchema, answer);
    if (!created.success) throw malformed('binance', 'sub-account/subAccountApi');
    return { apiKey: created.output.apiKey, secret: created.output.secretKey };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    await client.request(
      'sub-account/subAccountApi',
      'sapi',
      'DELETE',
      encoded({ email: request.subaccount, subAccountApiKey: request.apiKey }),
      { action: 'deleting a sub-account key' },
    );
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const endpoint = 'sub-account/subAccountApi';
    const client = await createClient(request.account, request.master, request);
    const rows: Array<v.InferOutput<typeof listedKeySchema>> = [];
    const seen = new Set<string>();
    let total: number | undefined;
    for (let page = 1; ; page += 1) {
      if (page > LIST_MAX_PAGES) badAnswer('binance', endpoint, `total: more than ${LIST_MAX_PAGES} pages`);
      const answer = await client.request(endpoint, 'sapi', 'GET', encoded({ email: request.subaccount, page, size: LIST_PAGE_SIZE }), {
        action: "listing a sub-account's keys",
      });
      const a = parseAnswer(keyListSchema, answer, 'binance', endpoint);
      // A listing that contradicts itself (its count changing between pages, a key listed twice) may be hiding a key:
      // the sweep must never read it as complete.
      if (total !== undefined && a.total !== total) badAnswer('binance', endpoint, 'total: changed between pages');
      total = a.total;
      for (const k of a.list) {
        if (seen.has(k.apikey)) badAnswer('binance', endpoint, 'apikey: a key listed twice');
        seen.add(k.apikey);
        rows.push(k);
      }
      if (rows.length >= total) break;
      // A short page before `total` is reached: the listing contradicts itself, and a key may be missing from it.
      if (a.list.length < LIST_PAGE_SIZE) badAnswer('binance', endpoint, 'total: more keys than the pages hold');
    }
    if (rows.length !== total) badAnswer('binance', endpoint, 'total: fewer keys than the pages hold');
    // An entry about another sub-account must never reach the sweep, which deletes by label.
    if (rows.some((k) => k.email.toLowerCase() !== request.subaccount.toLowerCase())) {
      badAnswer('binance', endpoint, 'email: an entry of another sub-account');
    }
    // The listing has no IP lists: each key's comes from the master's ipRestriction lookup (weight 3000 UID each).
    const listed: ListedKey[] = [];
    for (const k of rows) {
      const answer = await client.call(
        'sapiGetSubAccountSubAccountApiIpRestriction',
        encoded({ email: request.subaccount, subAccountApiKey: k.apikey }),
        { action: "reading a listed key's IP allowlist" },
      );
      const ip = parseAnswer(ipRestrictionSchema, answer, 'binance', 'subAccountApi/ipRestriction');
      if (ip.apiKey !== k.apikey) badAnswer('binance', 'subAccountApi/ipRestriction', 'apiKey: not the key asked about');
      const restricted = ip.ipRestrict === true || ip.ipRestrict === 'true';
      const bad = (ip.ipList ?? []).filter((entry) => !isAllowlistEntry(entry.trim()));
      if (bad.length > 0 || (restricted && (ip.ipList ?? []).length === 0)) {
        badAnswer('binance', 'subAccountApi/ipRestriction', 'ipList: not a list of addresses');
      }
      const createdAt = toIso(k.timestamp, { exchange: 'binance', endpoint, field: 'timestamp' });
      listed.push({
        apiKey: k.apikey,
        label: k.apiName,
        scopes: listedScopes(k),
        ips: restricted ? parseIps(ip.ipList) : 'unrestricted',
        ...(createdAt ? { createdAt } : {}),
      });
    }
    return listed;
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateGetAccount', {}, { action: 'checking the key with an account query' });
  },
};
