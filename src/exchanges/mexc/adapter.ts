/**
 * MEXC (spot v3). MEXC documents no endpoint that tells a key its own permissions, so:
 * - a bot key is checked with its own signed call (GET /api/v3/account: it authenticates from here), then read through
 *   the master's listing of its sub-account's keys (GET /api/v3/sub-account/apiKey), which gives its permissions, IP
 *   list, note and creation time. A key missing from that listing is looked for in the master's other sub-accounts.
 * - a master key proves it is a master that may manage sub-account keys by listing sub-accounts (GET
 *   /api/v3/sub-account/list, "For Master Account", permission SPOT_ACCOUNT_READ); GET /api/v3/account's `canTrade` /
 *   `canWithdraw` are the only documented word on what else it may do, and read fail-closed (true = holds it).
 * Create / delete: POST and DELETE /api/v3/sub-account/apiKey. Harmless signed call: GET /api/v3/account.
 * Endpoints: https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints, https://www.mexc.com/api-docs/spot-v3/spot-account-trade.
 */
import * as v from 'valibot';
import { asMasterError, capabilityGap, createClient, type ExchangeClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import {
  assertCreatable,
  badAnswer,
  commaTokens,
  isAllowlistEntry,
  malformed,
  parseAnswer,
  parseIps,
  repeats,
  sortScopes,
  toIso,
  unknownScope,
  ownEntry,
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
import { mexc } from './descriptor.js';
import { mexcTrading } from './trading.js';

/**
 * MEXC permission names -> scopes. The sub-key names are those Create an APIKey for a sub-account lists
 * (https://www.mexc.com/api-docs/spot-v3/subaccount-endpoints); the withdraw names are the wallet endpoints' permissions
 * (https://www.mexc.com/api-docs/spot-v3/wallet-endpoints: Withdraw needs SPOT_WITHDRAW_WRITE, the withdraw history
 * SPOT_WITHDRAW_READ). SPOT_ACCOUNT_WRITE lets a key rewrite an API key's IP whitelist (POST /api/v3/apiKeyInfo,
 * "Permission: SPOT_ACCOUNT_WRITE"): key management, which no bot key may hold.
 */
export const MEXC_PERMISSIONS: Record<string, Scope[]> = {
  SPOT_ACCOUNT_READ: ['read'],
  SPOT_ACCOUNT_WRITE: ['keys:manage'],
  SPOT_DEAL_READ: ['read'],
  SPOT_DEAL_WRITE: ['spot:trade'],
  CONTRACT_ACCOUNT_READ: ['read'],
  // Futures account settings (leverage, margin mode) only matter for futures trading.
  CONTRACT_ACCOUNT_WRITE: ['futures:trade'],
  CONTRACT_DEAL_READ: ['read'],
  CONTRACT_DEAL_WRITE: ['futures:trade'],
  SPOT_TRANSFER_READ: ['read'],
  SPOT_TRANSFER_WRITE: ['transfer'],
  SPOT_WITHDRAW_READ: ['read'],
  SPOT_WITHDRAW_WRITE: ['withdraw'],
};

export const capabilities: ExchangeCapabilities = capabilitiesOf(mexc);

/** A permission name as MEXC spells them (upper case words joined by `_`). */
const PERMISSION_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

const entries = (n: number) => `${n} entr${n === 1 ? 'y is' : 'ies are'}`;

/** The names of a `permissions` comma string; a token that is no name means the string is in another shape. */
function permissionTokens(permissions: string, endpoint: string): string[] {
  const tokens = commaTokens(permissions);
  const bad = tokens.filter((t) => !PERMISSION_NAME.test(t)).length;
  if (bad > 0) badAnswer('mexc', endpoint, `permissions: ${entries(bad)} not a permission name`);
  return tokens;
}

/** Normalized scopes of MEXC permission names; an unknown name is `unknown:<name>`. */
export function mexcScopes(permissions: unknown): Scope[] {
  const scopes = new Set<Scope>();
  for (const t of commaTokens(permissions)) for (const s of ownEntry(MEXC_PERMISSIONS, t) ?? [unknownScope(t)]) scopes.add(s);
  return sortScopes(scopes);
}

/**
 * MEXC's `permissions` for declared scopes. SPOT_ACCOUNT_READ always (the harmless call, GET /api/v3/account, needs it).
 * MEXC's sub-key permissions have no margin or options trading.
 */
export function mexcPermissionsFor(scopes: readonly DeclarableScope[]): string {
  if (scopes.includes('margin:trade'))
    capabilityGap('mexc', 'grant margin trading to a sub-account key (MEXC has no such sub-key permission)');
  if (scopes.includes('options:trade')) capabilityGap('mexc', 'grant options trading (MEXC has no such permission)');
  const out = ['SPOT_ACCOUNT_READ'];
  if (scopes.includes('spot:trade')) out.push('SPOT_DEAL_READ', 'SPOT_DEAL_WRITE');
  if (scopes.includes('futures:trade')) out.push('CONTRACT_ACCOUNT_READ', 'CONTRACT_DEAL_READ', 'CONTRACT_DEAL_WRITE');
  return out.join(',');
}

/**
 * The documented shapes keyctl reads. Query the APIKey of a sub-account: `{subAccount: [{note, apiKey, permissions,
 * ip, createTime}]}`; strict on every field (the sweep deletes by note, the verdict rests on permissions and ip), an
 * empty `ip` meaning no allowlist (NOT_IP_LOCKED, the safe reading). Create: only apiKey and secretKey are read (the
 * new key is judged by inspecting it). Account Information: `canTrade`, `canWithdraw` (booleans). Sub-account list:
 * `subAccounts` entries with `subAccount`.
 */
const listedKeySchema = v.looseObject({
  note: v.string(),
  apiKey: v.pipe(v.string(), v.minLength(1)),
  permissions: v.string(),
  ip: v.string(),
  createTime: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
});
const keyListSchema = v.looseObject({ subAccount: v.array(listedKeySchema) });
const createdKeySchema = v.looseObject({
  apiKey: v.pipe(v.string(), v.minLength(1)),
  secretKey: v.pipe(v.string(), v.minLength(1)),
});
const deletedSchema = v.looseObject({ subAccount: v.string() });
const accountSchema = v.looseObject({ canTrade: v.boolean(), canWithdraw: v.boolean() });
const subAccountListSchema = v.looseObject({
  subAccounts: v.array(v.looseObject({ subAccount: v.pipe(v.string(), v.minLength(1)) })),
});

type ListedEntry = v.InferOutput<typeof listedKeySchema>;

const LIST_ENDPOINT = 'sub-account/apiKey';
/** Query Sub-account List: `limit` at most 200. More pages than this is not a listing keyctl believes. */
const SUB_PAGE_SIZE = 200;
const SUB_MAX_PAGES = 50;

/** The entries of an `ip` comma string, each an address or CIDR block; anything else is a bad answer. */
function checkedIps(ip: string, endpoint: string): string[] {
  const ips = commaTokens(ip);
  const bad = ips.filter((entry) => !isAllowlistEntry(entry)).length;
  if (bad > 0) badAnswer('mexc', endpoint, `ip: ${entries(bad)} not an address`);
  return ips;
}

/** A sub-account's keys, parsed; a listing that repeats a key may be hiding another and is a bad answer. */
async function listEntries(client: ExchangeClient, subaccount: string): Promise<ListedEntry[]> {
  const answer = await client.call(
    'spotPrivateGetSubAccountApiKey',
    { subAccount: subaccount },
    { action: "listing a sub-account's keys" },
  );
  const keys = parseAnswer(keyListSchema, answer, 'mexc', LIST_ENDPOINT).subAccount;
  if (repeats(keys.map((k) => k.apiKey)) > 0) badAnswer('mexc', LIST_ENDPOINT, 'apiKey: a key listed twice');
  return keys;
}

/** A KeyInspection of a bot key from its entry in the master's listing of `subaccount`. */
export function parseMexcListedKey(entry: unknown, subaccount: string): KeyInspection {
  const k = parseAnswer(listedKeySchema, entry, 'mexc', LIST_ENDPOINT);
  const tokens = permissionTokens(k.permissions, LIST_ENDPOINT);
  const scopes = mexcScopes(tokens.join(','));
  const createdAt = toIso(k.createTime, { exchange: 'mexc', endpoint: LIST_ENDPOINT, field: 'createTime' });
  return {
    scopes,
    native: { permissions: k.permissions, ip: k.ip },
    ips: parseIps(checkedIps(k.ip, LIST_ENDPOINT)),
    readOnly: scopes.every((s) => s === 'read'),
    owner: { isMaster: false, subaccount },
    ...(createdAt ? { createdAt } : {}),
    ...(k.note ? { label: k.note } : {}),
  };
}

/**
 * A master key's KeyInspection from its Account Information answer and whether it may list sub-accounts (`manages`).
 * MEXC tells a key nothing else about itself: the account's `canTrade` / `canWithdraw` read fail-closed (true = the key
 * holds it). MEXC documents no way to read a key's own IP whitelist: it is `unreported`, so the policy reports the IP
 * lock UNVERIFIABLE until the account accepts it (`accept: [ip-lock-unverifiable]`): working from here proves nothing
 * about other addresses (docs/exchanges.md, MEXC).
 */
export function parseMexcMaster(accountAnswer: unknown, manages: boolean): KeyInspection {
  const account = parseAnswer(accountSchema, accountAnswer, 'mexc', 'account');
  const scopes = new Set<Scope>(['read']);
  if (manages) scopes.add('keys:manage');
  if (account.canTrade) scopes.add('spot:trade');
  if (account.canWithdraw) scopes.add('withdraw');
  const sorted = sortScopes(scopes);
  return {
    scopes: sorted,
    native: { canTrade: account.canTrade, canWithdraw: account.canWithdraw, subAccountList: manages },
    ips: 'unreported',
    readOnly: !sorted.some((s) => s !== 'read' && s !== 'keys:manage'),
    // Only a main account's key may list sub-accounts; without that answer the key's owner is unknown.
    owner: manages ? { isMaster: true } : {},
  };
}

/** The master's sub-account names, every page (Query Sub-account List). */
async function subAccountNames(client: ExchangeClient): Promise<string[]> {
  const names: string[] = [];
  for (let page = 1; ; page += 1) {
    if (page > SUB_MAX_PAGES) badAnswer('mexc', 'sub-account/list', `more than ${SUB_MAX_PAGES} pages`);
    const answer = await client.call('spotPrivateGetSubAccountList', { page, limit: SUB_PAGE_SIZE }, { action: 'listing sub-accounts' });
    const subs = parseAnswer(subAccountListSchema, answer, 'mexc', 'sub-account/list').subAccounts;
    names.push(...subs.map((s) => s.subAccount));
    if (subs.length < SUB_PAGE_SIZE) return names;
  }
}

export const adapter: ExchangeAdapter = {
  id: mexc.id,
  capabilities,
  trading: mexcTrading,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    // The key's own signed call first: a wrong secret, a deleted key or a refused address is the key's own answer.
    const account = await client.call('spotPrivateGetAccount', {}, { action: 'inspecting the key' });
    if (request.role === 'master') {
      let manages = true;
      try {
        parseAnswer(
          subAccountListSchema,
          await client.call(
            'spotPrivateGetSubAccountList',
            { page: 1, limit: 1 },
            { action: 'checking that the key may manage sub-accounts' },
          ),
          'mexc',
          'sub-account/list',
        );
      } catch (err) {
        // 700007 "No permission to access the endpoint": a sub-account key, or a master key without SPOT_ACCOUNT_READ.
        if (!(err instanceof KeyctlError && err.code === 'PERMISSION_DENIED')) throw err;
        manages = false;
      }
      return parseMexcMaster(account, manages);
    }
    parseAnswer(accountSchema, account, 'mexc', 'account');
    if (!request.master || !request.subaccount) {
      throw new ExchangeError(
        'MASTER_KEY_REQUIRED',
        "MEXC tells a sub-account key's permissions and IP allowlist only to the account's master key.",
        {
          hint: "Import the account's master key first (keyctl key import @<account>), then re-run.",
        },
      );
    }
    const master = await createClient(request.account, request.master, request);
    try {
      const own = (await listEntries(master, request.subaccount)).find((k) => k.apiKey === request.key.apiKey);
      if (own) return parseMexcListedKey(own, request.subaccount);
      // Not in the declared sub-account: find where it is, so the verdict names it and reads its real permissions.
      for (const name of await subAccountNames(master)) {
        if (name.toLowerCase() === request.subaccount.toLowerCase()) continue;
        const found = (await listEntries(master, name)).find((k) => k.apiKey === request.key.apiKey);
        if (found) return parseMexcListedKey(found, name);
      }
    } catch (err) {
      throw asMasterError(err, request.account);
    }
    // In no sub-account of this master: another account's key, or the master's own. Its permissions cannot be read.
    return {
      scopes: ['unknown:unreadable'],
      native: null,
      ips: 'restricted',
      readOnly: false,
      owner: { subaccount: null },
    };
  },

  async createKey(request: CreateKeyRequest): Promise<CreatedKey> {
    assertCreatable('mexc', request);
    const permissions = mexcPermissionsFor(request.scopes);
    const client = await createClient(request.account, request.master, request);
    const answer = await client.call(
      'spotPrivatePostSubAccountApiKey',
      { subAccount: request.subaccount, note: request.label, permissions, ip: request.ips.join(',') },
      { action: 'creating a sub-account key', retry: 'refused-only' },
    );
    // Not parseAnswer: the key may exist by now, and malformed's hint says so (the orphan sweep finds it by note).
    const created = v.safeParse(createdKeySchema, answer);
    if (!created.success) throw malformed('mexc', LIST_ENDPOINT);
    return { apiKey: created.output.apiKey, secret: created.output.secretKey };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    const answer = await client.call(
      'spotPrivateDeleteSubAccountApiKey',
      { subAccount: request.subaccount, apiKey: request.apiKey },
      { action: 'deleting a sub-account key' },
    );
    // Revocation checks afterwards that the key no longer authenticates; an answer about another sub-account is wrong.
    const a = parseAnswer(deletedSchema, answer, 'mexc', LIST_ENDPOINT);
    if (a.subAccount.toLowerCase() !== request.subaccount.toLowerCase())
      badAnswer('mexc', LIST_ENDPOINT, 'subAccount: not the sub-account asked about');
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const client = await createClient(request.account, request.master, request);
    const keys = await listEntries(client, request.subaccount);
    return keys.map((k) => {
      const createdAt = toIso(k.createTime, { exchange: 'mexc', endpoint: LIST_ENDPOINT, field: 'createTime' });
      return {
        apiKey: k.apiKey,
        ...(k.note ? { label: k.note } : {}),
        scopes: mexcScopes(permissionTokens(k.permissions, LIST_ENDPOINT).join(',')),
        ips: parseIps(checkedIps(k.ip, LIST_ENDPOINT)),
        ...(createdAt ? { createdAt } : {}),
      };
    });
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('spotPrivateGetAccount', {}, { action: 'checking the key with an account query' });
  },
};
