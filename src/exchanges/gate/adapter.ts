/**
 * Gate API v4. Inspect: GET /api/v4/account/detail with the key itself (its `user_id`, which for a sub-account key is
 * the sub-account's, and its `ip_whitelist`); its permissions come from the master: for a master key, the main
 * account's key list (GET /account/main_keys, keys masked), for a bot key the sub-account's key list (GET
 * /sub_accounts/{user_id}/keys). Create / delete / list: POST, DELETE and GET /sub_accounts/{user_id}/keys[/{key}].
 * Harmless signed call: GET /spot/accounts.
 *
 * A Gate key holds a list of permissions `[{name, read_only}]`; a name with `read_only: false` may write. The config's
 * sub-account id on Gate is the sub-account's user_id.
 */
import * as v from 'valibot';
import { asMasterError, createClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import {
  assertCreatable,
  badAnswer,
  isAllowlistEntry,
  malformed,
  ownEntry,
  parseAnswer,
  parseIps,
  repeats,
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
import { gate } from './descriptor.js';
import { gateTrading } from './trading.js';

/**
 * Gate's permission names (gateapi SubAccountKeyPerms: "wallet: wallet, spot: spot/margin, futures: perpetual
 * contract, delivery: delivery, earn: earn, options: options, account: Account, unified: unified, loan: Loan",
 * https://github.com/gateio/gateapi-python/blob/master/docs/SubAccountKeyPerms.md) -> scopes when the name may write.
 * Any name read-only is `read`.
 * - `wallet` covers transfers and withdrawals (Gate has no separate withdraw permission): reported as `withdraw`, the
 *   graver of the two. keyctl never asks for it.
 * - `account` read-write changes account settings; keyctl reads it as the permission that manages keys (keys:manage),
 *   which only a master may hold.
 * - `margin` appears on keys of older accounts (the main-keys listing); `unified` is the unified account's borrowing.
 * - `earn`, `loan`, `copy`, `custody` read-write move funds in ways keyctl has no scope for: `unknown:<name>`, flagged.
 */
export const GATE_PERMISSIONS: Record<string, Scope[]> = {
  spot: ['spot:trade', 'margin:trade'],
  margin: ['margin:trade'],
  unified: ['margin:trade'],
  futures: ['futures:trade'],
  delivery: ['futures:trade'],
  options: ['options:trade'],
  wallet: ['withdraw'],
  account: ['keys:manage'],
};

export const capabilities: ExchangeCapabilities = capabilitiesOf(gate);

const permSchema = v.looseObject({ name: v.pipe(v.string(), v.minLength(1)), read_only: v.boolean() });
const permsSchema = v.array(permSchema);
type GatePerm = v.InferOutput<typeof permSchema>;

/** Normalized scopes of a Gate `perms` list. A name keyctl does not know is `unknown:<name>`, read-only or not. */
export function gateScopes(perms: readonly GatePerm[]): Scope[] {
  const scopes = new Set<Scope>();
  for (const p of perms) {
    const known = ownEntry(GATE_PERMISSIONS, p.name) !== undefined || ['earn', 'loan', 'copy', 'custody'].includes(p.name);
    if (!known) {
      scopes.add(unknownScope(p.name));
      continue;
    }
    scopes.add('read');
    if (!p.read_only) for (const s of ownEntry(GATE_PERMISSIONS, p.name) ?? [unknownScope(p.name)]) scopes.add(s);
  }
  return sortScopes(scopes);
}

/**
 * Gate's `perms` for declared scopes: spot and margin are one permission (`spot`), futures the perpetual contracts
 * (`futures`; delivery contracts are not asked for), options `options`. A read-only slot gets spot read-only (Gate
 * removes every permission when none is passed, which would make a key that cannot even read).
 */
export function gatePermsFor(scopes: readonly DeclarableScope[]): GatePerm[] {
  const has = (s: DeclarableScope) => scopes.includes(s);
  const perms: GatePerm[] = [{ name: 'spot', read_only: !(has('spot:trade') || has('margin:trade')) }];
  if (has('futures:trade')) perms.push({ name: 'futures', read_only: false });
  if (has('options:trade')) perms.push({ name: 'options', read_only: false });
  return perms;
}

/**
 * The documented shapes keyctl reads (https://www.gate.io/docs/developers/apiv4/en/):
 * - GET /account/detail ("Get account detail"): `user_id` and `ip_whitelist` strict; `key.mode`, `tier`,
 *   `currency_pairs`, `copy_trading_role` not read.
 * - GET /account/main_keys ("Query all main account key information"): `key` masked ("c5dcfbf1f3a7*****"), `perms`,
 *   `ip_whitelist`, `user_id`, `created_at` (unix seconds).
 * - The sub-account key endpoints (gateapi SubAccountKey: `user_id`, `mode`, `name`, `perms`, `ip_whitelist`, `key`,
 *   `state`, `created_at`, `updated_at`, `last_access`; the create answer also `secret`). The listing's `key` is the
 *   whole key: it is what DELETE /sub_accounts/{user_id}/keys/{key} takes.
 * Strict where a field decides the verdict (permissions, allowlist, whose key); tolerant elsewhere. `user_id` is a
 * number in Gate's examples and a string in one SDK: both are read, as digits.
 */
const userId = v.union([v.pipe(v.number(), v.safeInteger(), v.minValue(0)), v.pipe(v.string(), v.regex(/^\d+$/))]);
const whitelist = v.array(v.string());
const time = v.optional(v.union([v.pipe(v.number(), v.safeInteger(), v.minValue(0)), v.pipe(v.string(), v.regex(/^\d+$/))]));
const detailSchema = v.looseObject({ user_id: userId, ip_whitelist: whitelist });
const mainKeySchema = v.looseObject({
  key: v.pipe(v.string(), v.minLength(1)),
  user_id: v.optional(userId),
  perms: permsSchema,
  ip_whitelist: whitelist,
  created_at: time,
});
const subKeySchema = v.looseObject({
  key: v.pipe(v.string(), v.minLength(1)),
  user_id: userId,
  // Strict: the orphan sweep finds keyctl's keys by name (the label), so a listing without it cannot be believed.
  name: v.string(),
  perms: permsSchema,
  ip_whitelist: whitelist,
  created_at: time,
});
const createdSchema = v.looseObject({ key: v.pipe(v.string(), v.minLength(1)), secret: v.pipe(v.string(), v.minLength(1)) });

const ENDPOINT_DETAIL = 'account/detail';
const ENDPOINT_MAIN_KEYS = 'account/main_keys';
const ENDPOINT_KEYS = 'sub_accounts/{user_id}/keys';

/** An allowlist as Gate wrote it, every entry an address (an empty list: no allowlist). */
function checkedIps(list: readonly string[], endpoint: string): string[] | 'unrestricted' {
  const bad = list.filter((ip) => !isAllowlistEntry(ip.trim()));
  if (bad.length > 0)
    badAnswer('gate', endpoint, `ip_whitelist: ${bad.length} entr${bad.length === 1 ? 'y is' : 'ies are'} not an address`);
  return parseIps(list);
}

function sameIps(a: string[] | 'unrestricted', b: string[] | 'unrestricted'): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The calling key's account detail: its user id and allowlist. Exported for the answer-shape tests. */
export function parseGateDetail(answer: unknown): { userId: string; ips: string[] | 'unrestricted' } {
  const d = parseAnswer(detailSchema, answer, 'gate', ENDPOINT_DETAIL);
  return { userId: String(d.user_id), ips: checkedIps(d.ip_whitelist, ENDPOINT_DETAIL) };
}

/**
 * The master key's entry in the main account's key list. The list masks each key to a prefix ("c5dcfbf1f3a7*****"):
 * exactly one entry's prefix (at least 8 characters) must be the calling key's start; none or several leave keyctl
 * unable to say which permissions are this key's, which is an answer it cannot judge.
 */
export function gateMainKeyEntry(answer: unknown, apiKey: string): v.InferOutput<typeof mainKeySchema> {
  const list = parseAnswer(v.array(mainKeySchema), answer, 'gate', ENDPOINT_MAIN_KEYS);
  const matches = list.filter((k) => {
    const prefix = k.key.replace(/\*+$/, '');
    return prefix.length >= 8 && !prefix.includes('*') && apiKey.startsWith(prefix);
  });
  if (matches.length !== 1) {
    badAnswer(
      'gate',
      ENDPOINT_MAIN_KEYS,
      matches.length === 0 ? 'key: no entry is the calling key' : 'key: several entries match the calling key',
    );
  }
  return matches[0]!;
}

/** A KeyInspection of a master key from its account detail and its main-keys entry. Exported for the answer-shape tests. */
export function parseGateMaster(detail: unknown, mainKeys: unknown, apiKey: string): KeyInspection {
  const d = parseGateDetail(detail);
  const entry = gateMainKeyEntry(mainKeys, apiKey);
  const ips = checkedIps(entry.ip_whitelist, ENDPOINT_MAIN_KEYS);
  // Two answers about one key that disagree cannot both be read.
  if (!sameIps(ips, d.ips)) badAnswer('gate', ENDPOINT_MAIN_KEYS, 'ip_whitelist: contradicts account/detail');
  if (entry.user_id !== undefined && String(entry.user_id) !== d.userId)
    badAnswer('gate', ENDPOINT_MAIN_KEYS, 'user_id: contradicts account/detail');
  const createdAt = toIso(entry.created_at, { exchange: 'gate', endpoint: ENDPOINT_MAIN_KEYS, field: 'created_at' });
  const scopes = gateScopes(entry.perms);
  return {
    scopes,
    native: { perms: entry.perms, ip_whitelist: entry.ip_whitelist },
    ips,
    readOnly: entry.perms.every((p) => p.read_only),
    owner: { uid: d.userId, isMaster: true },
    ...(createdAt ? { createdAt } : {}),
  };
}

/**
 * A sub-account's key list, every entry parsed. A listing keyctl cannot read throws: the orphan sweep and the owner
 * lookup must never see an empty or shortened list instead. Exported for the answer-shape tests.
 */
export function parseGateListing(answer: unknown, subaccount: string): Array<ListedKey & { perms: GatePerm[]; whitelist: string[] }> {
  const list = parseAnswer(v.array(subKeySchema), answer, 'gate', ENDPOINT_KEYS);
  if (repeats(list.map((k) => k.key)) > 0) badAnswer('gate', ENDPOINT_KEYS, 'key: a key listed twice');
  // An entry of another sub-account must never reach the sweep, which deletes by label.
  if (list.some((k) => String(k.user_id) !== subaccount)) badAnswer('gate', ENDPOINT_KEYS, 'user_id: an entry of another sub-account');
  return list.map((k) => {
    const createdAt = toIso(k.created_at, { exchange: 'gate', endpoint: ENDPOINT_KEYS, field: 'created_at' });
    return {
      apiKey: k.key,
      ...(k.name ? { label: k.name } : {}),
      scopes: gateScopes(k.perms),
      ips: checkedIps(k.ip_whitelist, ENDPOINT_KEYS),
      perms: k.perms,
      whitelist: k.ip_whitelist,
      ...(createdAt ? { createdAt } : {}),
    };
  });
}

/**
 * A KeyInspection of a sub-account key from its own account detail and the master's listing of the sub-account the
 * detail names. Exported for the answer-shape tests.
 */
export function parseGateBot(detail: unknown, listing: unknown, apiKey: string): KeyInspection {
  const own = parseGateDetail(detail);
  const mine = parseGateListing(listing, own.userId).find((k) => k.apiKey === apiKey);
  // The key names a sub-account of this master whose listing does not hold it: two answers that disagree.
  if (!mine) badAnswer('gate', ENDPOINT_KEYS, 'key: the key is not in the sub-account its account detail names');
  if (!sameIps(mine.ips, own.ips)) badAnswer('gate', ENDPOINT_KEYS, 'ip_whitelist: contradicts account/detail');
  return {
    scopes: mine.scopes,
    native: { perms: mine.perms, user_id: own.userId },
    ips: mine.ips,
    readOnly: mine.perms.every((p) => p.read_only),
    owner: { uid: own.userId, isMaster: false, subaccount: own.userId },
    ...(mine.label ? { label: mine.label } : {}),
    ...(mine.createdAt ? { createdAt: mine.createdAt } : {}),
  };
}

export const adapter: ExchangeAdapter = {
  id: gate.id,
  capabilities,
  trading: gateTrading,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const detail = await client.call('privateAccountGetDetail', {}, { action: 'inspecting the key' });
    if (request.role === 'master') {
      const mainKeys = await client.call('privateAccountGetMainKeys', {}, { action: "reading the key's permissions" });
      return parseGateMaster(detail, mainKeys, request.key.apiKey);
    }
    const own = parseGateDetail(detail);
    if (!request.master || !request.subaccount) {
      throw new ExchangeError('MASTER_KEY_REQUIRED', "Gate tells a sub-account key's permissions only to the account's master key.", {
        hint: "Import the account's master key first (keyctl key import @<account>), then re-run.",
      });
    }
    // The key says which sub-account it belongs to (account/detail's user_id); the master's listing of that
    // sub-account gives its permissions, and proves the key is one of this account's.
    const master = await createClient(request.account, request.master, request);
    let listing: unknown;
    try {
      listing = await master.call(
        'privateSubAccountsGetSubAccountsUserIdKeys',
        { user_id: own.userId },
        { action: "reading the key's permissions from its sub-account" },
      );
    } catch (err) {
      // A sub-account this master does not have (SUB_ACCOUNT_NOT_FOUND): the key is not this account's, and its
      // permissions cannot be read. Anything else (network, the master key refused) propagates.
      if (!(err instanceof KeyctlError && err.code === 'EXCHANGE_REFUSED')) throw asMasterError(err, request.account);
      return {
        scopes: [unknownScope('perms')],
        native: { user_id: own.userId },
        ips: own.ips,
        readOnly: false,
        owner: { uid: own.userId, isMaster: false, subaccount: null },
      };
    }
    return parseGateBot(detail, listing, request.key.apiKey);
  },

  async createKey(request: CreateKeyRequest): Promise<CreatedKey> {
    assertCreatable('gate', request);
    const client = await createClient(request.account, request.master, request);
    const answer = await client.call(
      'privateSubAccountsPostSubAccountsUserIdKeys',
      { user_id: request.subaccount, mode: 1, name: request.label, perms: gatePermsFor(request.scopes), ip_whitelist: request.ips },
      { action: 'creating a sub-account key', retry: 'refused-only' },
    );
    // Only the key and secret are read: the new key is inspected on its own before it is used. malformed() because
    // its hint says what matters here: the key may exist, and the orphan sweep finds it by name.
    const created = v.safeParse(createdSchema, answer);
    if (!created.success) throw malformed('gate', ENDPOINT_KEYS);
    return { apiKey: created.output.key, secret: created.output.secret };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    // 204 without a body: a Gate label makes ccxt throw, and nothing else is needed.
    await client.call(
      'privateSubAccountsDeleteSubAccountsUserIdKeysKey',
      { user_id: request.subaccount, key: request.apiKey },
      { action: 'deleting a sub-account key' },
    );
  },

  /**
   * `keyctl kill --read-only`: every permission of the key set read-only by the master
   * (`PUT /api/v4/sub_accounts/{user_id}/keys/{key}`, gateapi SubAccountApi `update_sub_account_keys`). Gate removes
   * the permissions and the whitelist a PUT leaves out ("all permissions will be removed if no value is passed", "list
   * will be removed if no value is passed"), so the key is read first and its names, permissions and whitelist are sent
   * back, only `read_only` changed; then read again: anything but the same key, read-only with the same whitelist, is
   * EXCHANGE_BAD_RESPONSE.
   */
  async makeReadOnly(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    const endpoint = 'sub_accounts/{user_id}/keys/{key}';
    const read = async (action: string) => {
      const answer = await client.call(
        'privateSubAccountsGetSubAccountsUserIdKeysKey',
        { user_id: request.subaccount, key: request.apiKey },
        { action },
      );
      const [entry] = parseGateListing([answer], request.subaccount);
      if (entry!.apiKey !== request.apiKey) badAnswer('gate', endpoint, 'key: not the key asked about');
      return entry!;
    };
    const before = await read('reading the key before making it read-only');
    await client.call(
      'privateSubAccountsPutSubAccountsUserIdKeysKey',
      {
        user_id: request.subaccount,
        key: request.apiKey,
        ...(before.label !== undefined ? { name: before.label } : {}),
        perms: before.perms.map((p) => ({ name: p.name, read_only: true })),
        ip_whitelist: before.whitelist,
      },
      { action: 'making the key read-only' },
    );
    const after = await read('confirming the key is read-only');
    if (!after.perms.every((p) => p.read_only) || after.perms.length !== before.perms.length) {
      badAnswer('gate', endpoint, 'perms: not read-only after the update');
    }
    if (!sameIps(after.ips, before.ips)) badAnswer('gate', endpoint, 'ip_whitelist: changed by the update');
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const client = await createClient(request.account, request.master, request);
    const answer = await client.call(
      'privateSubAccountsGetSubAccountsUserIdKeys',
      { user_id: request.subaccount },
      { action: 'listing sub-account keys' },
    );
    return parseGateListing(answer, request.subaccount).map(({ perms: _perms, whitelist: _whitelist, ...k }) => k);
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateSpotGetAccounts', {}, { action: 'checking the key with a balance query' });
  },
};
