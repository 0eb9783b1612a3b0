/**
 * Kraken (spot), inspect-only. Inspect: POST /0/private/GetApiKeyInfo (`permissions`, `ipAllowlist`, `validUntil`,
 * `iban`, `createdTime`, `apiKeyName`). Harmless signed call: POST /0/private/Balance. Keys are created, listed and
 * deleted only in the web UI: those calls are capability gaps (assisted rotation).
 *
 * A Kraken key belongs to one account, named by its IIBAN (Kraken's internal IBAN, `AA88 N84G WOAK NMOI`): the config's
 * sub-account id of a Kraken slot is that IIBAN, so a key of another account is WRONG_ACCOUNT.
 */
import * as v from 'valibot';
import { assistedAdapter } from '../assisted.js';
import { createClient } from '../ccxt.js';
import { badAnswer, isAllowlistEntry, ownEntry, parseAnswer, parseIps, sortScopes, toIso, unknownScope } from '../normalize.js';
import type { Scope } from '../../domain/scopes.js';
import type { ExchangeAdapter, InspectRequest, KeyInspection, PingRequest } from '../types.js';
import { kraken } from './descriptor.js';

/**
 * Kraken's permission values (https://docs.kraken.com/api-reference/account-data/get-api-key-info, `permissions`).
 * Create & modify orders can open margin positions too (AddOrder's `leverage`), so it is spot and margin trading; so is
 * Cancel & close orders (closing a position is a trade). Earn moves funds between the spot and earn wallets: transfer.
 * Withdrawal and withdrawal-address management are withdraw. Deposit (`add-funds`) and the query, export and WebSocket
 * token permissions only read.
 */
export const KRAKEN_PERMISSIONS: Record<string, Scope[]> = {
  'query-funds': ['read'],
  'add-funds': ['read'],
  'withdraw-funds': ['withdraw'],
  'earn-funds': ['transfer'],
  'query-open-trades': ['read'],
  'query-closed-trades': ['read'],
  'modify-trades': ['spot:trade', 'margin:trade'],
  'close-trades': ['spot:trade', 'margin:trade'],
  'query-ledger': ['read'],
  'export-data': ['read'],
  'create-ws-token': ['read'],
  'add-withdraw-address': ['withdraw'],
  'update-withdraw-address': ['withdraw'],
};

const ENDPOINT = 'GetApiKeyInfo';
const unixSeconds = v.pipe(v.string(), v.regex(/^\d+$/));

/**
 * GetApiKeyInfo's documented `result`: strict where a field decides the verdict (the key, its permissions, its
 * allowlist, its account, its expiry), tolerant elsewhere (nonce, query window, usage times are not read).
 */
const infoSchema = v.looseObject({
  error: v.pipe(v.array(v.unknown()), v.length(0)),
  result: v.looseObject({
    apiKeyName: v.string(),
    apiKey: v.pipe(v.string(), v.minLength(1)),
    permissions: v.array(v.pipe(v.string(), v.regex(/^[a-z0-9-]+$/))),
    iban: v.pipe(v.string(), v.minLength(1)),
    validUntil: unixSeconds,
    createdTime: v.optional(unixSeconds),
    ipAllowlist: v.array(v.string()),
  }),
});

/** Normalized scopes of Kraken permission values; an unknown value is `unknown:<name>`. */
export function krakenScopes(permissions: readonly string[]): Scope[] {
  return sortScopes(permissions.flatMap((p) => ownEntry(KRAKEN_PERMISSIONS, p) ?? [unknownScope(p)]));
}

/** Kraken's permission values for keyctl scopes (the settings a person ticks in the web UI). */
export function krakenPermissionsFor(scopes: readonly Scope[]): string[] {
  const out = ['query-funds', 'query-open-trades', 'query-closed-trades'];
  if (scopes.some((s) => s === 'spot:trade' || s === 'margin:trade')) out.push('modify-trades', 'close-trades');
  return out;
}

/** A KeyInspection from GetApiKeyInfo's answer, parsed against its documented shape; `apiKey` must be the key asked. */
export function parseKrakenKeyInfo(answer: unknown, apiKey?: string): KeyInspection {
  const { result: r } = parseAnswer(infoSchema, answer, 'kraken', ENDPOINT);
  if (apiKey !== undefined && r.apiKey !== apiKey) badAnswer('kraken', ENDPOINT, 'apiKey: not the key that signed the request');
  if (r.ipAllowlist.some((ip) => !isAllowlistEntry(ip.trim()))) badAnswer('kraken', ENDPOINT, 'ipAllowlist: an entry is not an address');
  const scopes = krakenScopes(r.permissions);
  // Unix seconds; "0" is "not set" (the docs), which toIso reads as no time.
  const expiresAt = toIso(r.validUntil, { exchange: 'kraken', endpoint: ENDPOINT, field: 'validUntil' });
  const createdAt = toIso(r.createdTime, { exchange: 'kraken', endpoint: ENDPOINT, field: 'createdTime' });
  return {
    scopes,
    native: { permissions: r.permissions, ipAllowlist: r.ipAllowlist, validUntil: r.validUntil },
    // "empty if not restricted" (the docs).
    ips: parseIps(r.ipAllowlist),
    readOnly: scopes.every((s) => s === 'read'),
    owner: { subaccount: r.iban },
    ...(expiresAt ? { expiresAt } : {}),
    ...(createdAt ? { createdAt } : {}),
    ...(r.apiKeyName ? { label: r.apiKeyName } : {}),
  };
}

const assisted = assistedAdapter(kraken);

export const adapter: ExchangeAdapter = {
  ...assisted,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const answer = await client.call('privatePostGetApiKeyInfo', {}, { action: 'inspecting the key' });
    return parseKrakenKeyInfo(answer, request.key.apiKey);
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privatePostBalance', {}, { action: 'checking the key with a balance query' });
  },
};
