/**
 * Bybit v5. Inspect: GET /v5/user/query-api (any key, about itself). Create / delete / list: master-key endpoints
 * /v5/user/create-sub-api, /v5/user/delete-sub-api, /v5/user/sub-apikeys. Harmless signed call: wallet balance.
 *
 * Native permissions are `{group: [names]}`, e.g. `{"Spot":["SpotTrade"],"Wallet":["AccountTransfer"]}`. Every key can
 * read. A master key can manage sub-account keys when it is read-write and holds a Wallet transfer (or withdraw)
 * permission, which is why a Bybit master key needs `transfer`.
 */
import { createClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import { assertCreatable, malformed, obj, parseIps, sortScopes, str, toIso, unknownScope } from '../normalize.js';
import type { DeclarableScope, Scope } from '../../domain/scopes.js';
import type {
  CreateKeyRequest,
  CreatedKey,
  DeleteKeyRequest,
  ExchangeAdapter,
  ExchangeCapabilities,
  InspectRequest,
  KeyInspection,
  ListKeysRequest,
  ListedKey,
  PingRequest,
} from '../types.js';
import { bybit } from './descriptor.js';

/** Native permission (group, name) -> normalized scopes. */
export const BYBIT_PERMISSIONS: Record<string, Record<string, Scope[]>> = {
  Spot: { SpotTrade: ['spot:trade'] },
  ContractTrade: { Order: ['futures:trade'], Position: ['futures:trade'] },
  // Deprecated unified-account group; Bybit now grants it automatically with ContractTrade.
  Derivatives: { DerivativesTrade: ['futures:trade'] },
  Options: { OptionsTrade: ['options:trade'] },
  Wallet: {
    AccountTransfer: ['transfer'],
    SubMemberTransfer: ['transfer'],
    SubMemberTransferList: ['transfer'],
    Withdraw: ['withdraw'],
  },
  Exchange: { ExchangeHistory: ['read'] },
};

const WRITE_SCOPES = new Set<Scope>(['spot:trade', 'margin:trade', 'futures:trade', 'options:trade', 'transfer', 'withdraw']);

export const capabilities: ExchangeCapabilities = capabilitiesOf(bybit);

/**
 * Normalized scopes of a Bybit permissions object. A read-only key's write permissions are inert, so they are not
 * reported; unknown (group, name) pairs become `unknown:Group.Name`.
 */
export function bybitScopes(permissions: unknown, options: { readOnly: boolean; isMaster?: boolean }): Scope[] {
  const scopes = new Set<Scope>(['read']);
  for (const [group, names] of Object.entries(obj(permissions))) {
    if (!Array.isArray(names)) continue;
    for (const name of names.map(String)) {
      const mapped = BYBIT_PERMISSIONS[group]?.[name] ?? [unknownScope(`${group}.${name}`)];
      for (const s of mapped) if (!(options.readOnly && WRITE_SCOPES.has(s))) scopes.add(s);
    }
  }
  if (options.isMaster && !options.readOnly && (scopes.has('transfer') || scopes.has('withdraw'))) scopes.add('keys:manage');
  return sortScopes(scopes);
}

/** Bybit's native permissions object for declared scopes (for create-sub-api). Reading needs no permission. */
export function bybitPermissionsFor(scopes: readonly DeclarableScope[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const has = (s: DeclarableScope) => scopes.includes(s);
  // Bybit has no separate margin permission: unified-account spot margin trades under SpotTrade.
  if (has('spot:trade') || has('margin:trade')) out.Spot = ['SpotTrade'];
  if (has('futures:trade')) out.ContractTrade = ['Order', 'Position'];
  if (has('options:trade')) out.Options = ['OptionsTrade'];
  return out;
}

function readOnlyFlag(v: unknown): boolean {
  return v === 1 || v === '1' || v === true;
}

/** A KeyInspection from query-api's `result`. */
export function parseBybitKey(result: unknown, now = Date.now()): KeyInspection {
  const r = obj(result);
  const readOnly = readOnlyFlag(r.readOnly);
  const isMaster = r.isMaster === true || r.isMaster === 'true';
  const uid = str(r.userID);
  let expiresAt = toIso(r.expiredAt);
  const deadlineDay = Number(r.deadlineDay);
  if (!expiresAt && Number.isFinite(deadlineDay) && deadlineDay > 0) expiresAt = new Date(now + deadlineDay * 86_400_000).toISOString();
  return {
    scopes: bybitScopes(r.permissions, { readOnly, isMaster }),
    native: { permissions: r.permissions, readOnly: r.readOnly },
    ips: parseIps(r.ips),
    readOnly,
    owner: { ...(uid ? { uid } : {}), isMaster, ...(!isMaster && uid ? { subaccount: uid } : {}) },
    ...(expiresAt ? { expiresAt } : {}),
    ...(toIso(r.createdAt) ? { createdAt: toIso(r.createdAt) } : {}),
    ...(str(r.note) ? { label: str(r.note) } : {}),
  };
}

function resultOf(response: unknown): Record<string, unknown> {
  return obj(obj(response).result);
}

export const adapter: ExchangeAdapter = {
  id: bybit.id,
  capabilities,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const response = await client.call('privateGetV5UserQueryApi', {}, { action: 'inspecting the key' });
    return parseBybitKey(resultOf(response));
  },

  async createKey(request: CreateKeyRequest): Promise<CreatedKey> {
    assertCreatable('bybit', request);
    const client = await createClient(request.account, request.master, request);
    const trades = request.scopes.some((s) => s !== 'read');
    const response = await client.call(
      'privatePostV5UserCreateSubApi',
      {
        subuid: Number(request.subaccount),
        note: request.label,
        readOnly: trades ? 0 : 1,
        ips: request.ips.join(','),
        permissions: bybitPermissionsFor(request.scopes),
      },
      { action: 'creating a sub-account key', retry: 'refused-only' },
    );
    const r = resultOf(response);
    const apiKey = str(r.apiKey);
    const secret = str(r.secret);
    if (!apiKey || !secret) throw malformed('bybit', 'create-sub-api');
    return { apiKey, secret };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    await client.call('privatePostV5UserDeleteSubApi', { apikey: request.apiKey }, { action: 'deleting a sub-account key' });
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const client = await createClient(request.account, request.master, request);
    const keys: ListedKey[] = [];
    let cursor: string | undefined;
    // Bybit pages by cursor, 20 keys a page; a sub-account has few keys, the bound is a guard against a looping cursor.
    for (let page = 0; page < 50; page++) {
      const params: Record<string, unknown> = { subMemberId: request.subaccount, limit: 20, ...(cursor ? { cursor } : {}) };
      const r = resultOf(await client.call('privateGetV5UserSubApikeys', params, { action: 'listing sub-account keys' }));
      const items = Array.isArray(r.result) ? r.result : Array.isArray(r.list) ? r.list : [];
      for (const item of items) {
        const k = obj(item);
        const apiKey = str(k.apiKey);
        if (!apiKey) continue;
        const createdAt = toIso(k.createdAt);
        keys.push({
          apiKey,
          ...(str(k.note) ? { label: str(k.note) } : {}),
          scopes: bybitScopes(k.permissions, { readOnly: readOnlyFlag(k.readOnly) }),
          ips: parseIps(k.ips),
          ...(createdAt ? { createdAt } : {}),
        });
      }
      cursor = str(r.nextPageCursor);
      if (!cursor || items.length === 0) break;
    }
    return keys;
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateGetV5AccountWalletBalance', { accountType: 'UNIFIED' }, { action: 'checking the key with a balance query' });
  },
};
