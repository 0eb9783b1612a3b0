/**
 * KuCoin (passphrase; ccxt signs with KC-API-KEY-VERSION 2, the passphrase HMAC'd with the secret). Inspect:
 * GET /api/v1/user/api-key. Create / delete / list: /api/v1/sub/api-key (POST, DELETE with the sub key's own
 * passphrase, GET ?subName=). Harmless signed call: GET /api/v1/accounts.
 *
 * Native permissions are a comma string: General (read), Spot, Margin, Futures, InnerTransfer (moves between the
 * account's own and sub accounts), and Transfer (KuCoin's name for the permission that includes withdrawal; some
 * payloads say Withdraw). A main-account key manages sub-account keys with General.
 */
import { capabilityGap, createClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import { assertCreatable, commaTokens, malformed, obj, parseIps, scopesFromTokens, str, toIso } from '../normalize.js';
import { generatePassphrase } from '../passphrase.js';
import { UsageError } from '../../errors.js';
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
import { kucoin } from './descriptor.js';

export const KUCOIN_PERMISSIONS: Record<string, Scope[]> = {
  General: ['read'],
  Spot: ['spot:trade'],
  Margin: ['margin:trade'],
  Futures: ['futures:trade'],
  InnerTransfer: ['transfer'],
  Transfer: ['withdraw'],
  Withdraw: ['withdraw'],
  Withdrawal: ['withdraw'],
};

export const capabilities: ExchangeCapabilities = capabilitiesOf(kucoin);

/** Normalized scopes of a KuCoin `permission` string ("General,Spot"). */
export function kucoinScopes(permission: unknown, options: { isMaster?: boolean } = {}): Scope[] {
  return scopesFromTokens(commaTokens(permission), KUCOIN_PERMISSIONS, { ...options, masterToken: 'General' });
}

/** KuCoin's `permission` for declared scopes. KuCoin has no options trading. */
export function kucoinPermissionFor(scopes: readonly DeclarableScope[]): string {
  if (scopes.includes('options:trade')) capabilityGap('kucoin', 'grant options trading (KuCoin has no such permission)');
  const out = ['General'];
  if (scopes.includes('spot:trade')) out.push('Spot');
  if (scopes.includes('margin:trade')) out.push('Margin');
  if (scopes.includes('futures:trade')) out.push('Futures');
  return out.join(',');
}

/** A KeyInspection from user/api-key's `data`. */
export function parseKucoinKey(data: unknown): KeyInspection {
  const d = obj(data);
  const isMaster = d.isMaster === true || d.isMaster === 'true';
  const uid = str(d.uid);
  const subName = str(d.subName);
  const t = commaTokens(d.permission);
  const expiresAt = toIso(d.expiredAt ?? d.expireAt);
  const createdAt = toIso(d.createdAt);
  return {
    scopes: kucoinScopes(d.permission, { isMaster }),
    native: { permission: d.permission, ipWhitelist: d.ipWhitelist, apiVersion: d.apiVersion },
    ips: parseIps(d.ipWhitelist),
    readOnly: t.length > 0 && t.every((p) => p === 'General'),
    owner: { ...(uid ? { uid } : {}), isMaster, ...(!isMaster && subName ? { subaccount: subName } : {}) },
    ...(expiresAt ? { expiresAt } : {}),
    ...(createdAt ? { createdAt } : {}),
    ...(str(d.remark) ? { label: str(d.remark) } : {}),
  };
}

export const adapter: ExchangeAdapter = {
  id: kucoin.id,
  capabilities,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const response = await client.call('privateGetUserApiKey', {}, { action: 'inspecting the key' });
    return parseKucoinKey(obj(response).data);
  },

  async createKey(request: CreateKeyRequest): Promise<CreatedKey> {
    assertCreatable('kucoin', request);
    const permission = kucoinPermissionFor(request.scopes);
    const client = await createClient(request.account, request.master, request);
    const passphrase = generatePassphrase();
    const response = await client.call(
      'privatePostSubApiKey',
      { subName: request.subaccount, passphrase, remark: request.label, permission, ipWhitelist: request.ips.join(',') },
      { action: 'creating a sub-account key', retry: 'refused-only' },
    );
    const d = obj(obj(response).data);
    const apiKey = str(d.apiKey);
    const secret = str(d.apiSecret);
    if (!apiKey || !secret) throw malformed('kucoin', 'sub/api-key');
    return { apiKey, secret, passphrase };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    if (!request.passphrase) {
      throw new UsageError('PASSPHRASE_MISSING', "KuCoin deletes a sub-account key only with that key's own passphrase.", {
        hint: "Delete the key in KuCoin's web UI, or pass the passphrase stored with it.",
      });
    }
    const client = await createClient(request.account, request.master, request);
    await client.call(
      'privateDeleteSubApiKey',
      { apiKey: request.apiKey, passphrase: request.passphrase, subName: request.subaccount },
      { action: 'deleting a sub-account key' },
    );
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const client = await createClient(request.account, request.master, request);
    const data = obj(
      await client.call('privateGetSubApiKey', { subName: request.subaccount }, { action: 'listing sub-account keys' }),
    ).data;
    return (Array.isArray(data) ? data : []).map(obj).flatMap((k) => {
      const apiKey = str(k.apiKey);
      if (!apiKey) return [];
      const createdAt = toIso(k.createdAt);
      return [
        {
          apiKey,
          ...(str(k.remark) ? { label: str(k.remark) } : {}),
          scopes: kucoinScopes(k.permission),
          ips: parseIps(k.ipWhitelist),
          ...(createdAt ? { createdAt } : {}),
        },
      ];
    });
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateGetAccounts', {}, { action: 'checking the key with an accounts query' });
  },
};
