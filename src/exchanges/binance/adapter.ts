/**
 * Binance (spot `sapi`). Inspect: GET /sapi/v1/account/apiRestrictions, which gives permission flags and only an
 * `ipRestrict` boolean; a sub key's IP list (and proof that it lives in the declared sub-account) comes from the
 * master's GET /sapi/v1/sub-account/subAccountApi/ipRestriction. Create / delete: POST and DELETE
 * /sapi/v1/sub-account/subAccountApi through ccxt's signed generic request (ccxt has no named method). Binance offers
 * no documented listing of a sub-account's keys, so `list` is a capability gap. Harmless signed call: GET /api/v3/account.
 */
import { asMasterError, capabilityGap, createClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import { assertCreatable, malformed, obj, parseIps, sortScopes, str, toIso, unknownScope } from '../normalize.js';
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

/** A KeyInspection from apiRestrictions, before the master's IP list is known. */
export function parseBinanceRestrictions(restrictions: unknown, role: 'master' | 'bot'): KeyInspection {
  const r = obj(restrictions);
  const scopes = binanceScopes(r, { isMaster: role === 'master' });
  const expiresAt = toIso(r.tradingAuthorityExpirationTime);
  const createdAt = toIso(r.createTime);
  return {
    scopes,
    native: r,
    ips: r.ipRestrict === true ? 'restricted' : 'unrestricted',
    readOnly: !scopes.some((s) => s !== 'read' && s !== 'keys:manage'),
    owner: { isMaster: role === 'master' },
    ...(expiresAt ? { expiresAt } : {}),
    ...(createdAt ? { createdAt } : {}),
  };
}

/** Applies the master's ipRestriction answer (`ipRestrict` is a string there) to an inspection. */
export function applyBinanceIpRestriction(inspection: KeyInspection, answer: unknown, subaccount: string): KeyInspection {
  const a = obj(answer);
  const restricted = a.ipRestrict === true || a.ipRestrict === 'true';
  const ips = restricted ? parseIps(a.ipList) : 'unrestricted';
  return { ...inspection, ips, owner: { ...inspection.owner, subaccount } };
}

export const adapter: ExchangeAdapter = {
  id: binance.id,
  capabilities,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const restrictions = await client.call('sapiGetAccountApiRestrictions', {}, { action: 'inspecting the key' });
    let inspection = parseBinanceRestrictions(restrictions, request.role);
    if (request.role === 'master') return inspection;
    if (!request.master || !request.subaccount) {
      if (inspection.ips === 'unrestricted') return inspection;
      throw new ExchangeError('MASTER_KEY_REQUIRED', "Binance tells a sub-account key's IP allowlist only to the account's master key.", {
        hint: "Import the account's master key first (keyctl key import @<account>), then re-run.",
      });
    }
    const master = await createClient(request.account, request.master, request);
    try {
      const answer = await master.call(
        'sapiGetSubAccountSubAccountApiIpRestriction',
        { email: request.subaccount, subAccountApiKey: request.key.apiKey },
        { action: "reading the key's IP allowlist" },
      );
      inspection = applyBinanceIpRestriction(inspection, answer, request.subaccount);
    } catch (err) {
      // Binance refuses the lookup when the key is not in that sub-account; network and master-key errors propagate.
      if (!(err instanceof KeyctlError && err.code === 'EXCHANGE_REFUSED')) throw asMasterError(err, request.account);
      inspection = { ...inspection, owner: { ...inspection.owner, subaccount: null } };
    }
    return inspection;
  },

  async createKey(request: CreateKeyRequest): Promise<CreatedKey> {
    assertCreatable('binance', request);
    const client = await createClient(request.account, request.master, request);
    const r = obj(
      await client.request(
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
      ),
    );
    const apiKey = str(r.apiKey);
    const secret = str(r.secretKey);
    if (!apiKey || !secret) throw malformed('binance', 'sub-account/subAccountApi');
    return { apiKey, secret };
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
