/**
 * Binance (spot `sapi`). Inspect: GET /sapi/v1/account/apiRestrictions, which gives permission flags and only an
 * `ipRestrict` boolean; a sub key's IP list (and proof that it lives in the declared sub-account) comes from the
 * master's GET /sapi/v1/sub-account/subAccountApi/ipRestriction. Create / delete: POST and DELETE
 * /sapi/v1/sub-account/subAccountApi through ccxt's signed generic request (ccxt has no named method). Binance offers
 * no documented listing of a sub-account's keys, so `list` is a capability gap. Harmless signed call: GET /api/v3/account.
 */
import * as v from 'valibot';
import { asMasterError, capabilityGap, createClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import {
  assertCreatable,
  badAnswer,
  isAllowlistEntry,
  malformed,
  obj,
  parseAnswer,
  parseIps,
  sortScopes,
  toIso,
  unknownScope,
} from '../normalize.js';
import { ExchangeError, KeyctlError } from '../../errors.js';
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
  PingRequest,
} from '../types.js';
import { binance } from './descriptor.js';

/** apiRestrictions flag (when true) -> normalized scopes. */
export const BINANCE_FLAGS: Record<string, Scope[]> = {
  enableReading: ['read'],
  enableFixReadOnly: ['read'],
  enableSpotAndMarginTrading: ['spot:trade'],
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

/** Normalized scopes of an apiRestrictions payload; any other true boolean field is `unknown:<field>`. */
export function binanceScopes(restrictions: unknown, options: { isMaster?: boolean } = {}): Scope[] {
  const scopes = new Set<Scope>();
  for (const [field, value] of Object.entries(obj(restrictions))) {
    if (NOT_PERMISSIONS.has(field) || value !== true) continue;
    for (const s of BINANCE_FLAGS[field] ?? [unknownScope(field)]) scopes.add(s);
  }
  // Binance has no permission flag for sub-account key management: any master key may do it.
  if (options.isMaster) scopes.add('keys:manage');
  return sortScopes(scopes);
}

/** The create-sub-account-API-key flags for declared scopes. */
export function binanceFlagsFor(scopes: readonly DeclarableScope[]): Record<string, boolean> {
  const has = (s: DeclarableScope) => scopes.includes(s);
  return {
    canTrade: has('spot:trade') || has('margin:trade'),
    canMarginLoanRepay: has('margin:trade'),
    canFuturesTrade: has('futures:trade'),
    canVanillaOptions: has('options:trade'),
    canUniversalTransfer: false,
  };
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

/** Binance names its permission flags enable* / permits*: an unknown one that is not a boolean is unreadable. */
const PERMISSION_NAME = /^(enable|permits)/;

/**
 * A KeyInspection from apiRestrictions, before the master's IP list is known. An answer of another shape is an
 * EXCHANGE_BAD_RESPONSE (a violation for verify, import and rotation), never a key with fewer permissions.
 */
export function parseBinanceRestrictions(restrictions: unknown, role: 'master' | 'bot'): KeyInspection {
  const r = parseAnswer(apiRestrictionsSchema, restrictions, 'binance', 'apiRestrictions');
  const unreadable = Object.keys(r).filter((field) => PERMISSION_NAME.test(field) && typeof r[field] !== 'boolean');
  if (unreadable.length > 0) badAnswer('binance', 'apiRestrictions', `${unreadable.join(', ')}: expected boolean`);
  const scopes = binanceScopes(r, { isMaster: role === 'master' });
  const expiresAt = toIso(r.tradingAuthorityExpirationTime);
  const createdAt = toIso(r.createTime);
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

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const restrictions = await client.call('sapiGetAccountApiRestrictions', {}, { action: 'inspecting the key' });
    const inspection = parseBinanceRestrictions(restrictions, request.role);
    if (request.role === 'master') return inspection;
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
        { email: request.subaccount, subAccountApiKey: request.key.apiKey },
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
      {
        email: request.subaccount,
        apiName: request.label,
        status: 2,
        ipAddress: request.ips.join(','),
        ...binanceFlagsFor(request.scopes),
      },
      { action: 'creating a sub-account key', retry: 'refused-only' },
    );
    // Only the key and secret are read: the new key's permissions are verified by inspecting it. malformed() (not
    // parseAnswer) because its hint says what matters here: the key may exist, and keyctl cannot list Binance keys.
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
      { email: request.subaccount, subAccountApiKey: request.apiKey },
      { action: 'deleting a sub-account key' },
    );
  },

  async listKeys(): Promise<ListedKey[]> {
    return capabilityGap('binance', "list a sub-account's keys");
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateGetAccount', {}, { action: 'checking the key with an account query' });
  },
};
