/**
 * Bybit v5. Inspect: GET /v5/user/query-api (any key, about itself). Create / delete / list / make read-only:
 * master-key endpoints /v5/user/create-sub-api, /v5/user/delete-sub-api, /v5/user/sub-apikeys,
 * /v5/user/update-sub-api. Harmless signed call: wallet balance.
 *
 * Native permissions are `{group: [names]}`, e.g. `{"Spot":["SpotTrade"],"Wallet":["AccountTransfer"]}`. Every key can
 * read. A master key can manage sub-account keys when it is read-write and holds a Wallet transfer (or withdraw)
 * permission, which is why a Bybit master key needs `transfer`.
 */
import * as v from 'valibot';
import { createClient, type ExchangeClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import {
  assertCreatable,
  badAnswer,
  droppedKeys,
  isAllowlistEntry,
  LATEST_TIME,
  malformed,
  obj,
  ownEntry,
  parseAnswer,
  parseIps,
  repeats,
  sortScopes,
  toIso,
  unknownScope,
} from '../normalize.js';
import { ExchangeError } from '@keyctl/client/errors';
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
import { bybit } from './descriptor.js';
import { bybitTrading } from './trading.js';

/** Native permission (group, name) -> normalized scopes. */
export const BYBIT_PERMISSIONS: Record<string, Record<string, Scope[]>> = {
  Spot: { SpotTrade: ['spot:trade'] },
  ContractTrade: { Order: ['futures:trade'], Position: ['futures:trade'] },
  // On a classic account the docs say this group is always []: holding it there is unexplained, so it reads as what its
  // name says. On a unified trading account it is an account marker, not a permission (see UTA_MARKER).
  Derivatives: { DerivativesTrade: ['futures:trade'] },
  // The docs: "Permission of USDC Contract. It supports trade option and USDC perpetual." Both, so a key holding it
  // is judged as able to trade perpetuals (descriptor.ts: impliedScopes).
  Options: { OptionsTrade: ['options:trade', 'futures:trade'] },
  Wallet: {
    AccountTransfer: ['transfer'],
    SubMemberTransfer: ['transfer'],
    SubMemberTransferList: ['transfer'],
    Withdraw: ['withdraw'],
  },
  Exchange: { ExchangeHistory: ['read'] },
};

/**
 * Bybit adds `Derivatives: [DerivativesTrade]` to every key of a unified trading account (UTA), whatever the key may
 * trade: "Unified account has this permission by default" / "Unified account api key have this permission by default"
 * (https://bybit-exchange.github.io/docs/v5/user/apikey-info, .../v5/user/list-sub-apikeys), and create-sub-api ignores
 * it in requests: "system will automatically add this permission according to your account is UTA or Classic"
 * (https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey). Contract trading on a UTA is ContractTrade
 * Order/Position. So when query-api says `uta: 1`, exactly this (group, name) is not a scope; otherwise (classic, or the
 * account type unknown) it stays `futures:trade`: the safe reading. The deprecated `unified` field is never read.
 */
const UTA_MARKER = { group: 'Derivatives', name: 'DerivativesTrade' } as const;

/**
 * What a read-only key's permission groups do not grant. create-sub-api takes `permissions` for every key, read-only ones
 * included ("readOnly: 0: Read and Write. 1: Read only", and `permissions` "Tick the types of permission", required;
 * https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey): on a read-only key the trade groups say what it
 * may read. The docs say nothing of a read-only key holding a Wallet permission that moves funds (transfer, withdraw),
 * so those are never hidden: the safe reading, the policy judges them as held (TRANSFER_ENABLED, WITHDRAW_ENABLED).
 */
const INERT_WHEN_READ_ONLY = new Set<Scope>(['spot:trade', 'margin:trade', 'futures:trade', 'options:trade']);

export const capabilities: ExchangeCapabilities = capabilitiesOf(bybit);

/**
 * The documented shapes keyctl reads (https://bybit-exchange.github.io/docs/v5/user/apikey-info and
 * .../v5/user/list-sub-apikeys). Strict where a field decides the verdict: permissions (an object of string arrays),
 * readOnly (0 or 1), the IP list (strings, each an address, a CIDR block or `*`), isMaster and userID. Tolerant
 * elsewhere: unknown fields are ignored, and the fields the docs give only for some keys (deadlineDay, expiredAt: keys
 * without an IP allowlist) may be absent or a sentinel (-1, "").
 */
// valibot's record accepts an array (an object to it) as an empty record: `permissions: []` must not read as "none".
const permissionsSchema = v.pipe(
  v.custom<Record<string, unknown>>((x) => typeof x === 'object' && x !== null && !Array.isArray(x), 'an object'),
  v.record(v.string(), v.array(v.string())),
);
const queryApiSchema = v.looseObject({
  readOnly: v.picklist([0, 1]),
  permissions: permissionsSchema,
  // Absent reads as "no allowlist", which fails NOT_IP_LOCKED: the safe reading of a field the docs always send.
  ips: v.optional(v.array(v.string())),
  isMaster: v.boolean(),
  userID: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  // Decides whether DerivativesTrade is a permission (UTA_MARKER): 0 or 1 when present; absent reads as "not a UTA".
  uta: v.optional(v.picklist([0, 1])),
  deadlineDay: v.optional(v.pipe(v.number(), v.safeInteger())),
  expiredAt: v.optional(v.string()),
  createdAt: v.optional(v.string()),
  note: v.optional(v.string()),
  // The key the answer is about: when present, it must be the key asked about.
  apiKey: v.optional(v.string()),
});
const listedKeySchema = v.looseObject({
  apiKey: v.pipe(v.string(), v.minLength(1)),
  permissions: permissionsSchema,
  // A boolean here, and inverted against its name: "`true`：可讀可寫 (read and write). `false`：只讀 (read only)"
  // (https://bybit-exchange.github.io/docs/zh-TW/v5/user/list-sub-apikeys; the English page gives no meaning).
  // Anything else (0/1, a string) is an answer keyctl cannot read.
  readOnly: v.boolean(),
  ips: v.optional(v.array(v.string())),
  // The orphan sweep finds keyctl's keys by this remark: an entry without it would be swept as unlabelled, never
  // found. The docs give `note` as a string on every entry; it is "" for a key made without one (create-sub-api's
  // `note` is optional), so empty is well-formed, absent is not.
  note: v.string(),
  createdAt: v.optional(v.string()),
});
// `nextPageCursor` is documented on every page ("" on the last): without it keyctl could not tell the last page from
// a truncated listing.
const listSchema = v.looseObject({ result: v.array(listedKeySchema), nextPageCursor: v.string() });
// create-sub-api's answer: `apiKey` and `secret` strings (https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey).
// A number is not a key keyctl could store as Bybit gave it.
const createdSchema = v.looseObject({ apiKey: v.pipe(v.string(), v.minLength(1)), secret: v.pipe(v.string(), v.minLength(1)) });

/**
 * update-sub-api's answer (https://bybit-exchange.github.io/docs/v5/user/modify-sub-apikey): `retCode` 0 and a
 * `result` with `apiKey`, `readOnly` 0 or 1, `permissions` and `ips` (the allowlist as it now is). These say whether the
 * switch happened and left the allowlist alone, so each is required; the rest (`id`, `note`, `secret` "") is not read.
 * (ccxt already throws on a retCode other than 0; the schema says it again, so nothing else reads as done.)
 */
const updatedSchema = v.looseObject({
  retCode: v.literal(0),
  result: v.looseObject({
    apiKey: v.pipe(v.string(), v.minLength(1)),
    readOnly: v.picklist([0, 1]),
    permissions: permissionsSchema,
    ips: v.array(v.string()),
  }),
});

/** Every entry of an IP list is an address, a CIDR block or `*`; anything else is an answer keyctl cannot judge. */
function checkedIps(ips: string[] | undefined, endpoint: string): string[] | undefined {
  const bad = (ips ?? []).filter((ip) => !isAllowlistEntry(ip.trim()));
  if (bad.length > 0) badAnswer('bybit', endpoint, `ips: ${bad.length} entr${bad.length === 1 ? 'y is' : 'ies are'} not an address`);
  return ips;
}

/**
 * The permissions object as parsed, refusing one whose group valibot dropped by its name (`__proto__`, `constructor`,
 * `prototype`): such a group would otherwise vanish, taking its permissions with it.
 */
function checkedPermissions(raw: unknown, parsed: Record<string, string[]>, endpoint: string): Record<string, string[]> {
  const dropped = droppedKeys(raw, parsed);
  if (dropped.length > 0) badAnswer('bybit', endpoint, `permissions: ${dropped.length} group(s) with a reserved name`);
  return parsed;
}

/**
 * Normalized scopes of a Bybit permissions object (already parsed: an object of string arrays). A read-only key's
 * trade permissions are inert (INERT_WHEN_READ_ONLY), so they are not reported; its Wallet ones are. Unknown (group,
 * name) pairs become `unknown:Group.Name`, also for names of Object.prototype's members.
 */
export function bybitScopes(
  permissions: Record<string, string[]>,
  options: { readOnly: boolean; isMaster?: boolean; uta?: boolean },
): Scope[] {
  const scopes = new Set<Scope>(['read']);
  for (const [group, names] of Object.entries(permissions)) {
    for (const name of names) {
      if (options.uta && group === UTA_MARKER.group && name === UTA_MARKER.name) continue;
      const table = ownEntry(BYBIT_PERMISSIONS, group);
      const mapped = (table && ownEntry(table, name)) ?? [unknownScope(`${group}.${name}`)];
      for (const s of mapped) if (!(options.readOnly && INERT_WHEN_READ_ONLY.has(s))) scopes.add(s);
    }
  }
  if (options.isMaster && !options.readOnly && (scopes.has('transfer') || scopes.has('withdraw'))) scopes.add('keys:manage');
  return sortScopes(scopes);
}

/**
 * A read-only key's permissions. create-sub-api requires `permissions`: "one of below types must be passed, otherwise
 * the error is thrown" (https://bybit-exchange.github.io/docs/v5/user/create-subuid-apikey), and the docs do not say
 * what a read-only key should tick. The safe reading: the one group keyctl maps to `read` alone, so the key could not
 * trade even if its `readOnly: 1` were ever lost. Exchange ExchangeHistory is the convert history.
 */
export const BYBIT_READ_ONLY_PERMISSIONS: Readonly<Record<string, readonly string[]>> = { Exchange: ['ExchangeHistory'] };

/** Bybit's native permissions object for declared scopes (for create-sub-api); never empty (see above). */
export function bybitPermissionsFor(scopes: readonly DeclarableScope[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const has = (s: DeclarableScope) => scopes.includes(s);
  // Bybit has no separate margin permission: unified-account spot margin trades under SpotTrade.
  if (has('spot:trade') || has('margin:trade')) out.Spot = ['SpotTrade'];
  if (has('futures:trade')) out.ContractTrade = ['Order', 'Position'];
  if (has('options:trade')) out.Options = ['OptionsTrade'];
  if (Object.keys(out).length === 0) {
    for (const [group, names] of Object.entries(BYBIT_READ_ONLY_PERMISSIONS)) out[group] = [...names];
  }
  return out;
}

/** The longest remaining life keyctl believes a `deadlineDay` (days): up to LATEST_TIME. */
const DAY = 86_400_000;

/**
 * When the key stops working, from `expiredAt` and `deadlineDay`. query-api documents both only for keys without an
 * IP binding or after a password change, with the sentinels `""` and -1 otherwise
 * (https://bybit-exchange.github.io/docs/v5/user/apikey-info; test/contract/exchange-bybit-docs.test.ts). An
 * `expiredAt` that is no time (or outside 2009-2100) and a `deadlineDay` that is neither -1 nor a count of days are
 * answers keyctl cannot read: EXCHANGE_BAD_RESPONSE, never "no expiry". `deadlineDay: 0` is the key's last day (the docs
 * are silent on 0; read as expiring now, the safe reading). With both, the earlier wins.
 */
function bybitExpiry(r: { expiredAt?: string; deadlineDay?: number }, now: number): string | undefined {
  const at = toIso(r.expiredAt, { exchange: 'bybit', endpoint: 'query-api', field: 'expiredAt' });
  const days = r.deadlineDay ?? -1;
  if (days !== -1 && (days < 0 || now + days * DAY > LATEST_TIME)) {
    badAnswer('bybit', 'query-api', 'deadlineDay: expected -1 or a number of days');
  }
  const times = [...(at ? [Date.parse(at)] : []), ...(days >= 0 ? [now + days * DAY] : [])];
  return times.length > 0 ? new Date(Math.min(...times)).toISOString() : undefined;
}

/**
 * A KeyInspection from query-api's `result`, parsed against its documented shape: any other shape is an
 * EXCHANGE_BAD_RESPONSE (a violation for verify, import and rotation), never a key with fewer permissions. `apiKey`,
 * when given, is the key asked about: an answer about another key is a bad answer too.
 */
export function parseBybitKey(result: unknown, now = Date.now(), apiKey?: string): KeyInspection {
  const r = parseAnswer(queryApiSchema, result, 'bybit', 'query-api');
  if (apiKey !== undefined && r.apiKey !== undefined && r.apiKey !== apiKey)
    badAnswer('bybit', 'query-api', 'apiKey: not the key asked about');
  const permissions = checkedPermissions(obj(result).permissions, r.permissions, 'query-api');
  const readOnly = r.readOnly === 1;
  const uid = String(r.userID);
  const ips = checkedIps(r.ips, 'query-api');
  const expiresAt = bybitExpiry(r, now);
  const createdAt = toIso(r.createdAt, { exchange: 'bybit', endpoint: 'query-api', field: 'createdAt' });
  return {
    scopes: bybitScopes(permissions, { readOnly, isMaster: r.isMaster, uta: r.uta === 1 }),
    native: { permissions, readOnly: r.readOnly, ...(r.uta !== undefined ? { uta: r.uta } : {}) },
    ips: parseIps(ips),
    readOnly,
    owner: { uid, isMaster: r.isMaster, ...(!r.isMaster ? { subaccount: uid } : {}) },
    ...(expiresAt ? { expiresAt } : {}),
    ...(createdAt ? { createdAt } : {}),
    ...(r.note ? { label: r.note } : {}),
  };
}

function resultOf(response: unknown): Record<string, unknown> {
  return obj(obj(response).result);
}

/** One key of a sub-account listing, with its IP list as Bybit wrote it (update-sub-api is sent that list back). */
interface ListedSubKey {
  key: ListedKey;
  rawIps: string[] | undefined;
}

/** Every key of a sub-account, read page by page with the master key (GET /v5/user/sub-apikeys). */
async function listSubKeys(client: ExchangeClient, subaccount: string): Promise<ListedSubKey[]> {
  const keys: ListedSubKey[] = [];
  let cursor: string | undefined;
  const seen = new Set<string>();
  // Bybit pages by cursor, 20 keys a page. The cursor is an opaque token, sent back exactly as received ("Use the
  // nextPageCursor token from the response", https://bybit-exchange.github.io/docs/v5/user/list-sub-apikeys): ccxt
  // puts it in the query unencoded and signs that same string, so a token with `=`, `/` or `%2B` arrives unchanged.
  for (let page = 0; ; page++) {
    // A listing that does not end would hide keys from the orphan sweep: an error, never a truncated list.
    if (page === 50) badAnswer('bybit', 'sub-apikeys', 'nextPageCursor: the listing did not end after 50 pages');
    const params: Record<string, unknown> = { subMemberId: subaccount, limit: 20, ...(cursor ? { cursor } : {}) };
    const answer = resultOf(await client.call('privateGetV5UserSubApikeys', params, { action: 'listing sub-account keys' }));
    // A list keyctl cannot read would hide keys from the orphan sweep: an error, never an empty list.
    const r = parseAnswer(listSchema, answer, 'bybit', 'sub-apikeys');
    const items = r.result;
    const rawItems = Array.isArray(answer.result) ? (answer.result as unknown[]) : [];
    items.forEach((k, i) => {
      const createdAt = toIso(k.createdAt, { exchange: 'bybit', endpoint: 'sub-apikeys', field: 'createdAt' });
      const permissions = checkedPermissions(obj(rawItems[i]).permissions, k.permissions, 'sub-apikeys');
      keys.push({
        rawIps: k.ips,
        key: {
          apiKey: k.apiKey,
          ...(k.note ? { label: k.note } : {}),
          // `readOnly: false` is the read-only key (see listedKeySchema). The listing has no `uta`, so a UTA key's
          // DerivativesTrade marker reads as futures:trade here: more scopes, never fewer (no verdict reads a listing).
          scopes: bybitScopes(permissions, { readOnly: k.readOnly === false }),
          ips: parseIps(checkedIps(k.ips, 'sub-apikeys')),
          ...(createdAt ? { createdAt } : {}),
        },
      });
    });
    // The same key twice (on one page or across pages): a listing that contradicts itself may be hiding another.
    if (repeats(keys.map((k) => k.key.apiKey)) > 0) badAnswer('bybit', 'sub-apikeys', 'apiKey: a key listed twice');
    cursor = r.nextPageCursor;
    if (!cursor) break;
    // An empty page that still points at a next one: the listing did not end, and what follows would be unread.
    if (items.length === 0) badAnswer('bybit', 'sub-apikeys', 'nextPageCursor: an empty page that is not the last');
    if (seen.has(cursor)) badAnswer('bybit', 'sub-apikeys', 'nextPageCursor: a cursor came back twice');
    seen.add(cursor);
  }
  return keys;
}

/** The key is not in the declared sub-account's listing: gone, or another sub-account's. Nothing was changed. */
function notListed(request: DeleteKeyRequest): ExchangeError {
  const fp = fingerprint(request.apiKey);
  return new ExchangeError(
    'EXCHANGE_REFUSED',
    `bybit lists no key ${fp}${request.label ? ` (label ${request.label})` : ''} in sub-account ${request.subaccount}: it was not switched to read-only.`,
    {
      hint: `The key is already deleted, or belongs to another sub-account than the one declared. Check API Management of sub-account ${request.subaccount} in Bybit's web UI; delete the key there if it is alive.`,
      details: { exchange: 'bybit', endpoint: 'sub-apikeys', fingerprint: fp, subaccount: request.subaccount },
    },
  );
}

/**
 * update-sub-api answered, but not that the key is now read-only with its allowlist unchanged: the kill must not count
 * it as done. EXCHANGE_BAD_RESPONSE, as any answer keyctl cannot take at its word.
 */
function notReadOnly(request: DeleteKeyRequest, problem: string): never {
  const fp = fingerprint(request.apiKey);
  throw new ExchangeError('EXCHANGE_BAD_RESPONSE', `bybit answered update-sub-api for key ${fp}, but ${problem}.`, {
    hint: `Check the key in API Management of sub-account ${request.subaccount} in Bybit's web UI: set it to read-only with its IP allowlist, or delete it.`,
    details: { exchange: 'bybit', endpoint: 'update-sub-api', fingerprint: fp, subaccount: request.subaccount },
  });
}

export const adapter: ExchangeAdapter = {
  id: bybit.id,
  capabilities,
  trading: bybitTrading,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const response = await client.call('privateGetV5UserQueryApi', {}, { action: 'inspecting the key' });
    return parseBybitKey(resultOf(response), Date.now(), request.key.apiKey);
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
    const created = v.safeParse(createdSchema, resultOf(response));
    if (!created.success) throw malformed('bybit', 'create-sub-api');
    return { apiKey: created.output.apiKey, secret: created.output.secret };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    await client.call('privatePostV5UserDeleteSubApi', { apikey: request.apiKey }, { action: 'deleting a sub-account key' });
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const client = await createClient(request.account, request.master, request);
    return (await listSubKeys(client, request.subaccount)).map((k) => k.key);
  },

  async makeReadOnly(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    // "don't pass ips or pass with "*" means no bind" (https://bybit-exchange.github.io/docs/v5/user/modify-sub-apikey):
    // a call without `ips` would unbind the key, so its allowlist is read first and sent back as Bybit listed it. The
    // listing is of the declared sub-account, so a key of another one is refused here, before anything changes.
    const listed = (await listSubKeys(client, request.subaccount)).find((k) => k.key.apiKey === request.apiKey);
    if (!listed) throw notListed(request);
    if (listed.rawIps === undefined) badAnswer('bybit', 'sub-apikeys', 'ips: absent, so keyctl cannot keep the allowlist of the key');
    const ips = listed.key.ips === 'unrestricted' ? '*' : listed.rawIps.map((ip) => ip.trim()).join(',');
    // `permissions` is not sent ("Don't send this param if you don't want to change the permission"): on a read-only
    // key the trade groups say what it may still read (INERT_WHEN_READ_ONLY), which is what a read-only kill keeps.
    const response = await client.call(
      'privatePostV5UserUpdateSubApi',
      { apikey: request.apiKey, readOnly: 1, ips },
      { action: 'switching a sub-account key to read-only' },
    );
    const r = parseAnswer(updatedSchema, response, 'bybit', 'update-sub-api').result;
    if (r.apiKey !== request.apiKey) notReadOnly(request, 'the answer is about another key');
    if (r.readOnly !== 1) notReadOnly(request, 'the answer says readOnly 0: the key can still trade');
    const before = listed.key.ips;
    const after = parseIps(checkedIps(r.ips, 'update-sub-api'));
    if (JSON.stringify(after) !== JSON.stringify(before)) notReadOnly(request, "the key's IP allowlist is not what it was");
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateGetV5AccountWalletBalance', { accountType: 'UNIFIED' }, { action: 'checking the key with a balance query' });
  },
};
