/**
 * KuCoin (passphrase; ccxt signs with KC-API-KEY-VERSION 2, the passphrase HMAC'd with the secret). Inspect:
 * GET /api/v1/user/api-key. Create / delete / list: /api/v1/sub/api-key (POST, DELETE with the sub key's own
 * passphrase, GET ?subName=). Harmless signed call: GET /api/v1/accounts.
 *
 * Native permissions are a comma string: General (read), Spot, Margin, Futures, InnerTransfer (moves between the
 * account's own and sub accounts), Transfer (KuCoin's name for the permission that includes withdrawal; some payloads
 * say Withdraw) and Unified (the unified trading account). A main-account key manages sub-account keys with General.
 */
import * as v from 'valibot';
import { capabilityGap, createClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import {
  assertCreatable,
  badAnswer,
  commaTokens,
  isAllowlistEntry,
  malformed,
  obj,
  parseAnswer,
  parseIps,
  repeats,
  scopesFromTokens,
  toIso,
} from '../normalize.js';
import { generatePassphrase } from '../passphrase.js';
import { ExchangeError, KeyctlError } from '@keyctl/client/errors';
import { fingerprint } from '../../domain/fingerprint.js';
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
import { kucoinTrading } from './trading.js';

export const KUCOIN_PERMISSIONS: Record<string, Scope[]> = {
  General: ['read'],
  Spot: ['spot:trade'],
  Margin: ['margin:trade'],
  Futures: ['futures:trade'],
  InnerTransfer: ['transfer'],
  Transfer: ['withdraw'],
  Withdraw: ['withdraw'],
  Withdrawal: ['withdraw'],
  // The unified trading account's one permission: it trades spot, margin and futures in that account (KuCoin's unified
  // account API, https://www.kucoin.com/docs-new/rest/ua/place-order, takes tradeType SPOT, MARGIN, CROSS, ISOLATED,
  // FUTURES). The permission list in the docs (https://www.kucoin.com/docs-new/doc-338144) does not say what else it
  // allows, transfers included, so it also stays unknown: a key holding it is UNKNOWN_PERMISSION (and EXCESS_SCOPE for
  // a slot that does not declare all three) until KuCoin documents it. The safe reading; see docs/exchanges.md.
  Unified: ['spot:trade', 'margin:trade', 'futures:trade', 'unknown:Unified'],
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

/**
 * The documented shapes keyctl reads: Get Apikey Info (https://www.kucoin.com/docs-new/api-3470130), Get sub-account
 * API List (https://www.kucoin.com/docs-new/api-3470136) and Add sub-account API
 * (https://www.kucoin.com/docs-new/api-3470138). Strict where a field decides the verdict: `permission` (a comma
 * string of names), `ipWhitelist` (a comma string of addresses, CIDR blocks or `*`), `uid`, `isMaster`, a sub key's
 * `subName`, and the expiry. Tolerant elsewhere: unknown fields are ignored; `ipWhitelist` (documented optional) may be
 * absent, which reads as "no allowlist" (NOT_IP_LOCKED, the safe reading); `subName` is absent on master keys.
 */
const uidSchema = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
// No expiry is read: neither Get Apikey Info nor the sub-key list documents one (only the unified account's
// /api/ua/v1/user/api-key does), so an `expiredAt` here would be a guess at an undocumented field's meaning. A key created
// with `expire` simply stops authenticating (400003) when it runs out; keyctl cannot warn before (no EXPIRING on KuCoin).
const keyFields = {
  permission: v.string(),
  ipWhitelist: v.optional(v.string()),
  uid: uidSchema,
  remark: v.optional(v.string()),
  apiKey: v.optional(v.string()),
  apiVersion: v.optional(v.number()),
  createdAt: v.optional(v.number()),
};
// A sub-account key must say which sub-account it is in: without `subName` the WRONG_ACCOUNT check has nothing to
// compare, so its absence is a bad answer, never "the right sub-account". The docs give no subName for master keys.
const apiKeyInfoSchema = v.variant('isMaster', [
  v.looseObject({ ...keyFields, isMaster: v.literal(true), subName: v.optional(v.string()) }),
  v.looseObject({ ...keyFields, isMaster: v.literal(false), subName: v.pipe(v.string(), v.minLength(1)) }),
]);
// Every documented field of a listed key is optional; apiKey, permission and remark are what the list is read for, so
// they are required (a key without them would drop out of the orphan sweep, which finds keyctl's keys by remark, or
// list with no permissions). An empty remark is well-formed (not one of keyctl's, which always set one); an absent one
// is not. `subName` and `isMaster`, when present, must say the key is a key of the sub-account asked about (listKeys).
const listedKeySchema = v.looseObject({
  apiKey: v.pipe(v.string(), v.minLength(1)),
  permission: v.string(),
  ipWhitelist: v.optional(v.string()),
  remark: v.string(),
  createdAt: v.optional(v.number()),
  subName: v.optional(v.string()),
  uid: v.optional(uidSchema),
  isMaster: v.optional(v.boolean()),
  apiVersion: v.optional(v.number()),
});
const listSchema = v.array(listedKeySchema);
// Only the key and its secret are read; the new key is judged by inspecting it, not by this answer.
const createdKeySchema = v.looseObject({
  apiKey: v.pipe(v.string(), v.minLength(1)),
  apiSecret: v.pipe(v.string(), v.minLength(1)),
});

/** A permission name as KuCoin spells them ("General", "InnerTransfer"). */
const PERMISSION_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

const entries = (n: number) => `${n} entr${n === 1 ? 'y is' : 'ies are'}`;

/**
 * The names of a `permission` comma string. An unknown name stays a name (`unknown:<name>`, UNKNOWN_PERMISSION); a
 * token that is no name at all (`["Spot"`, `General;Transfer`) means the string is in another shape.
 */
function permissionTokens(permission: string, endpoint: string): string[] {
  const tokens = commaTokens(permission);
  const bad = tokens.filter((t) => !PERMISSION_NAME.test(t)).length;
  if (bad > 0) badAnswer('kucoin', endpoint, `permission: ${entries(bad)} not a permission name`);
  return tokens;
}

/** The entries of an `ipWhitelist` comma string, each an address, a CIDR block or `*`; anything else is a bad answer. */
function checkedIps(ipWhitelist: string | undefined, endpoint: string): string[] {
  const ips = commaTokens(ipWhitelist);
  const bad = ips.filter((ip) => !isAllowlistEntry(ip)).length;
  if (bad > 0) badAnswer('kucoin', endpoint, `ipWhitelist: ${entries(bad)} not an address`);
  return ips;
}

/**
 * A KeyInspection from user/api-key's `data`, parsed against its documented shape: any other shape is an
 * EXCHANGE_BAD_RESPONSE (a violation for verify, import and rotation), never a key with fewer permissions. `apiKey`,
 * when given, is the key asked about: Get Apikey Info documents `apiKey` in its answer, and one about another key is a
 * bad answer (as Binance's ipRestriction answer about another key is).
 */
export function parseKucoinKey(data: unknown, apiKey?: string): KeyInspection {
  const d = parseAnswer(apiKeyInfoSchema, data, 'kucoin', 'user/api-key');
  if (apiKey !== undefined && d.apiKey !== undefined && d.apiKey !== apiKey) {
    badAnswer('kucoin', 'user/api-key', 'apiKey: not the key asked about');
  }
  const tokens = permissionTokens(d.permission, 'user/api-key');
  const ips = checkedIps(d.ipWhitelist, 'user/api-key');
  const createdAt = toIso(d.createdAt, { exchange: 'kucoin', endpoint: 'user/api-key', field: 'createdAt' });
  return {
    scopes: scopesFromTokens(tokens, KUCOIN_PERMISSIONS, { isMaster: d.isMaster, masterToken: 'General' }),
    native: { permission: d.permission, ipWhitelist: d.ipWhitelist, apiVersion: d.apiVersion },
    ips: parseIps(ips),
    readOnly: tokens.length > 0 && tokens.every((p) => p === 'General'),
    owner: { uid: String(d.uid), isMaster: d.isMaster, ...(!d.isMaster ? { subaccount: d.subName } : {}) },
    ...(createdAt ? { createdAt } : {}),
    ...(d.remark ? { label: d.remark } : {}),
  };
}

/**
 * Characters a DELETE query value cannot carry through ccxt 4.5.84, which puts KuCoin's GET/DELETE parameters in the
 * query unencoded (`rawencode`) and signs that string. KuCoin verifies the signature over the query percent-decoded
 * (https://www.kucoin.com/docs-new/authentication), so characters the HTTP stack escapes on the way (a quote, `<`, `>`)
 * still match; but `#` cuts the URL, `&` splits the parameter, `%` gets decoded into something else, and `+` may be read
 * as a space. Pre-encoding them would not help: ccxt would sign the encoded form, which KuCoin refuses (400005).
 */
const UNSENDABLE = /[#&%+]/;
/**
 * A sub key keyctl cannot delete through the API (no passphrase, or KuCoin refused the one given), named by its
 * fingerprint and label, never its secret or passphrase. Not retryable: the orphan sweep reports it and goes on.
 */
function cannotDelete(
  request: DeleteKeyRequest,
  code: 'PASSPHRASE_UNKNOWN' | 'PASSPHRASE_UNSENDABLE' | 'PASSPHRASE_REJECTED',
  cause?: KeyctlError,
): ExchangeError {
  // `label` is what the sweep knows the orphan by (`keyctl-<rotationId>`); DeleteKeyRequest may carry it.
  const label = (request as DeleteKeyRequest & { label?: unknown }).label;
  const fp = fingerprint(request.apiKey);
  const named = `the key ${fp}${typeof label === 'string' && label ? ` (label ${label})` : ''} of sub-account ${request.subaccount}`;
  const why = {
    PASSPHRASE_UNKNOWN:
      "keyctl does not hold its passphrase (it was never stored: keyctl stopped before saving the new key), and KuCoin deletes a sub-account key only with that key's own passphrase",
    PASSPHRASE_UNSENDABLE: 'its passphrase holds # & % or +, which cannot travel in the query string ccxt signs for KuCoin',
    PASSPHRASE_REJECTED: `KuCoin refused the passphrase keyctl holds for it${cause?.details?.exchangeCode ? ` (${String(cause.details.exchangeCode)})` : ''}, or the key is already gone`,
  }[code];
  return new ExchangeError(code, `kucoin: cannot delete ${named} through the API: ${why}.`, {
    hint: `Delete it in KuCoin's web UI (Sub-Account > API Management of ${request.subaccount}${typeof label === 'string' && label ? `, the key whose remark is ${label}` : ''}), then re-run keyctl. The fingerprint is keyctl's short hash of the API key.`,
    details: {
      exchange: 'kucoin',
      fingerprint: fp,
      subaccount: request.subaccount,
      ...(typeof label === 'string' ? { label } : {}),
      manual: true,
    },
    ...(cause ? { cause } : {}),
  });
}

export const adapter: ExchangeAdapter = {
  id: kucoin.id,
  capabilities,
  trading: kucoinTrading,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const response = await client.call('privateGetUserApiKey', {}, { action: 'inspecting the key' });
    return parseKucoinKey(obj(response).data, request.key.apiKey);
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
    // Not parseAnswer: the key may exist by now, and malformed's hint says so (the orphan sweep finds it by label).
    const created = v.safeParse(createdKeySchema, obj(response).data);
    if (!created.success) throw malformed('kucoin', 'sub/api-key');
    return { apiKey: created.output.apiKey, secret: created.output.apiSecret, passphrase };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    // Delete sub-account API (https://www.kucoin.com/docs-new/api-3470137) requires `passphrase`, "password of the API
    // key": the master key alone cannot delete a sub key. keyctl generates each passphrase at random (createKey) and
    // stores it with the key; an orphan the sweep finds was never stored, so its passphrase is gone. Nothing is sent
    // then (a guess would only be refused): the operator deletes the key in KuCoin's web UI.
    if (!request.passphrase) throw cannotDelete(request, 'PASSPHRASE_UNKNOWN');
    // An imported key may carry any passphrase KuCoin allows (7-32 characters, no spaces); keyctl's own never need this.
    if (UNSENDABLE.test(request.passphrase)) throw cannotDelete(request, 'PASSPHRASE_UNSENDABLE');
    const client = await createClient(request.account, request.master, request);
    try {
      // The answer (subName, apiKey) is not read: a refusal comes back as an error code, which the client throws, and
      // revocation then checks that the key no longer authenticates.
      await client.call(
        'privateDeleteSubApiKey',
        { apiKey: request.apiKey, passphrase: request.passphrase, subName: request.subaccount },
        { action: 'deleting a sub-account key' },
      );
    } catch (err) {
      // KuCoin documents no code for a wrong passphrase; it answers parameter errors with 400100 (the sandbox's
      // "Passphrase error"). Read as "KuCoin would not delete it with this passphrase": the web UI can.
      if (err instanceof KeyctlError && err.details?.exchangeCode === '400100') throw cannotDelete(request, 'PASSPHRASE_REJECTED', err);
      throw err;
    }
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const client = await createClient(request.account, request.master, request);
    const answer = await client.call('privateGetSubApiKey', { subName: request.subaccount }, { action: 'listing sub-account keys' });
    // A list keyctl cannot read would hide keys from the orphan sweep: an error, never an empty list.
    const endpoint = 'sub/api-key list';
    const keys = parseAnswer(listSchema, obj(answer).data, 'kucoin', endpoint);
    // A key of the main account, or of another sub-account, must never reach the sweep, which deletes by remark.
    if (keys.some((k) => k.isMaster === true)) badAnswer('kucoin', endpoint, 'isMaster: a main-account key in a sub-account listing');
    if (keys.some((k) => k.subName !== undefined && k.subName.toLowerCase() !== request.subaccount.toLowerCase())) {
      badAnswer('kucoin', endpoint, 'subName: an entry of another sub-account');
    }
    // The same key twice: a listing that contradicts itself may be hiding another key.
    if (repeats(keys.map((k) => k.apiKey)) > 0) badAnswer('kucoin', endpoint, 'apiKey: a key listed twice');
    return keys.map((k) => {
      const createdAt = toIso(k.createdAt, { exchange: 'kucoin', endpoint, field: 'createdAt' });
      return {
        apiKey: k.apiKey,
        ...(k.remark ? { label: k.remark } : {}),
        scopes: scopesFromTokens(permissionTokens(k.permission, endpoint), KUCOIN_PERMISSIONS, { masterToken: 'General' }),
        ips: parseIps(checkedIps(k.ipWhitelist, endpoint)),
        ...(createdAt ? { createdAt } : {}),
      };
    });
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateGetAccounts', {}, { action: 'checking the key with an accounts query' });
  },
};
