/**
 * Bitget (passphrase). Inspect: GET /api/v2/spot/account/info (`authorities`, `ips`, `userId`, `parentId`). Create /
 * list: the v2 virtual sub-account key endpoints. Delete: the v3 unified account's POST /api/v3/user/delete-sub-api,
 * the only delete Bitget offers, and only for unified accounts: on a classic account keyctl cannot delete a key, and
 * says which key to delete in Bitget's web UI (CAPABILITY_GAP; the rotation engine and the kill then check that the key
 * no longer authenticates before they forget it). Harmless signed call: the spot assets.
 *
 * Bitget names a key's permissions two ways: Get Account Information's `authorities` (codes such as `stow`, spot
 * read-write) and the sub-account key endpoints' `permList` (`spot_trade`, `contract_trade`, ...). Both are mapped to
 * keyctl's scopes; an unknown name becomes `unknown:<name>`. Bitget has no options, and documents no key expiry and no
 * key creation time (`regisTime` is the account's registration).
 */
import * as v from 'valibot';
import { capabilityGap, createClient } from '../ccxt.js';
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
  unknownScope,
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
import { bitget } from './descriptor.js';
import { bitgetTrading } from './trading.js';

/**
 * Get Account Information's `authorities` (https://www.bitget.com/api-doc/spot/account/Get-Account-Info): read-only
 * `coor` futures orders, `cpor` futures holdings, `stor` spot, `smor` margin, `ttor` copy trading, `wtor` wallet
 * transfer, `taxr` tax, `chor` sub-accounts, `p2pr` P2P, `pllr` pledge loans; read-write `coow`, `cpow`, `stow`,
 * `smow`, `ttow`, `wtow`, `wwow` (withdrawal), `chow` (sub-account management), `p2p`, `pllw`, `taxw`. The page's own
 * example shows the older `readonly` (kept: it reads) and `trade` (left unknown: which markets it trades is not said).
 * Copy trading, P2P, pledge loans and tax writes are not keyctl scopes: unknown, so the policy flags them.
 */
export const BITGET_AUTHORITIES: Record<string, Scope[]> = {
  coor: ['read'],
  cpor: ['read'],
  stor: ['read'],
  smor: ['read'],
  ttor: ['read'],
  wtor: ['read'],
  taxr: ['read'],
  chor: ['read'],
  p2pr: ['read'],
  pllr: ['read'],
  readonly: ['read'],
  coow: ['futures:trade'],
  cpow: ['futures:trade'],
  stow: ['spot:trade'],
  smow: ['margin:trade'],
  wtow: ['transfer'],
  wwow: ['withdraw'],
  chow: ['keys:manage'],
};

/**
 * A sub-account key listing's `permList` (https://www.bitget.com/api-doc/common/vsubaccount/Get-Virtual-Subaccount-ApiKey-List
 * and the create page): `spot_trade`, `margin_trade`, `contract_trade` (older copies: `contract_order`,
 * `contract_position`), `read`, `wallet_transfer`, `wallet_withdraw`; `copytrading_trade` stays unknown.
 */
export const BITGET_PERMS: Record<string, Scope[]> = {
  read: ['read'],
  spot_trade: ['spot:trade'],
  margin_trade: ['margin:trade'],
  contract_trade: ['futures:trade'],
  contract_order: ['futures:trade'],
  contract_position: ['futures:trade'],
  wallet_transfer: ['transfer'],
  wallet_withdraw: ['withdraw'],
};

export const capabilities: ExchangeCapabilities = capabilitiesOf(bitget);

const ENDPOINT_INFO = 'spot/account/info';
const ENDPOINT_KEYS = 'user/virtual-subaccount-apikey-list';
const ENDPOINT_CREATE = 'user/create-virtual-subaccount-apikey';

const uid = v.union([v.pipe(v.string(), v.regex(/^\d+$/)), v.pipe(v.number(), v.safeInteger(), v.minValue(0))]);
const permName = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]+$/, 'a permission name'));

/**
 * Get Account Information's `data`, strict where a field decides the verdict: `userId` and `parentId` (a String on one
 * copy of the page, an Int on another: both read), `authorities` (names) and `ips` (a comma string, "" for none).
 * Other fields are ignored.
 */
const infoSchema = v.looseObject({
  userId: uid,
  parentId: uid,
  authorities: v.array(permName),
  ips: v.string(),
});
const infoAnswer = v.looseObject({ data: v.unknown() });
const listedKeySchema = v.looseObject({
  subAccountUid: uid,
  subAccountApiKey: v.pipe(v.string(), v.minLength(1)),
  label: v.string(),
  permList: v.array(permName),
  ipList: v.array(v.string()),
});
const listSchema = v.looseObject({ data: v.array(listedKeySchema) });
// keyctl reads only the credentials; the new key is inspected on its own before it is used.
const createSchema = v.looseObject({
  data: v.looseObject({ subAccountApiKey: v.pipe(v.string(), v.minLength(1)), secretKey: v.pipe(v.string(), v.minLength(1)) }),
});

function scopesOf(names: readonly string[], table: Readonly<Record<string, Scope[]>>): Scope[] {
  return sortScopes(names.flatMap((n) => ownEntry(table, n) ?? [unknownScope(n)]));
}

/** Normalized scopes of Get Account Information's `authorities`. */
export function bitgetScopes(authorities: readonly string[]): Scope[] {
  return scopesOf(authorities, BITGET_AUTHORITIES);
}

/** Normalized scopes of a listing's `permList`. */
export function bitgetPermScopes(permList: readonly string[]): Scope[] {
  return scopesOf(permList, BITGET_PERMS);
}

/**
 * The `permList` a new key is created with: each trade scope's permission (Bitget documents no options permission:
 * CAPABILITY_GAP), or `read` alone for a key that only reads.
 */
export function bitgetPermListFor(scopes: readonly DeclarableScope[]): string[] {
  if (scopes.includes('options:trade')) capabilityGap('bitget', 'grant options trading (Bitget has no options)');
  const perms: string[] = [];
  if (scopes.includes('spot:trade')) perms.push('spot_trade');
  if (scopes.includes('margin:trade')) perms.push('margin_trade');
  if (scopes.includes('futures:trade')) perms.push('contract_trade');
  return perms.length > 0 ? perms : ['read'];
}

function checkedIps(ips: readonly string[], endpoint: string, field: string): string[] {
  const entries = ips.map((ip) => ip.trim()).filter((ip) => ip !== '');
  if (entries.some((ip) => !isAllowlistEntry(ip))) badAnswer('bitget', endpoint, `${field}: an entry that is not an address`);
  return entries;
}

/**
 * A KeyInspection from Get Account Information's `data`, parsed against its documented shape: any other shape is an
 * EXCHANGE_BAD_RESPONSE (a violation for verify, import and rotation), never a key with fewer permissions. A key is
 * the main account's when `parentId` (the main account's uid) is its own `userId`; Bitget does not document what a
 * main account's key reads there, so anything else reads as a sub-account key (which fails the master rules).
 */
export function parseBitgetInfo(data: unknown): KeyInspection {
  const d = parseAnswer(infoSchema, data, 'bitget', ENDPOINT_INFO);
  if (d.authorities.length === 0) badAnswer('bitget', ENDPOINT_INFO, 'authorities: expected at least one permission');
  if (repeats(d.authorities) > 0) badAnswer('bitget', ENDPOINT_INFO, 'authorities: a permission listed twice');
  const userId = String(d.userId);
  const isMaster = String(d.parentId) === userId;
  return {
    scopes: bitgetScopes(d.authorities),
    native: { authorities: d.authorities, ips: d.ips },
    ips: parseIps(checkedIps(d.ips.split(','), ENDPOINT_INFO, 'ips')),
    readOnly: d.authorities.every((a) => ownEntry(BITGET_AUTHORITIES, a)?.every((s) => s === 'read') === true),
    // A virtual sub-account is named by its uid: the key's own `userId` is its sub-account.
    owner: { uid: userId, isMaster, ...(!isMaster ? { subaccount: userId } : {}) },
  };
}

/** A sub-account's key listing, every entry parsed; a listing keyctl cannot read throws (never a shortened list). */
export function parseBitgetListing(response: unknown, subaccount: string): ListedKey[] {
  const data = parseAnswer(listSchema, response, 'bitget', ENDPOINT_KEYS).data;
  if (repeats(data.map((k) => k.subAccountApiKey)) > 0) badAnswer('bitget', ENDPOINT_KEYS, 'subAccountApiKey: a key listed twice');
  return data.map((k) => {
    // A listing of another sub-account's keys cannot say what this one holds.
    if (String(k.subAccountUid) !== subaccount) badAnswer('bitget', ENDPOINT_KEYS, 'subAccountUid: a key of another sub-account');
    return {
      apiKey: k.subAccountApiKey,
      ...(k.label ? { label: k.label } : {}),
      scopes: bitgetPermScopes(k.permList),
      ips: parseIps(checkedIps(k.ipList, ENDPOINT_KEYS, 'ipList')),
    };
  });
}

/**
 * Bitget deletes sub-account keys by API only on unified accounts. Its refusal on a classic account has no documented
 * code, so any refusal of the delete itself (EXCHANGE_REFUSED: not the master key's signature, address or permission,
 * which keep their own codes) is a capability gap naming the key to delete by hand. Fail closed: keyctl never reads a
 * refused delete as done; the rotation engine and the kill check that the key stopped authenticating.
 */
function deleteGap(err: KeyctlError, request: DeleteKeyRequest): ExchangeError {
  const fp = fingerprint(request.apiKey);
  const label = request.label ? ` (label ${request.label})` : '';
  return new ExchangeError(
    'CAPABILITY_GAP',
    `bitget refused to delete the key ${fp}${label} of sub-account ${request.subaccount} by API (${err.message}). Bitget deletes sub-account keys by API only for unified accounts.`,
    {
      hint: `Delete the key ${fp}${label} in Bitget's web UI (API Management of virtual sub-account ${request.subaccount}), then re-run keyctl. If the account is unified, the exchange's error code above says why the delete was refused.`,
      cause: err,
      details: { ...err.details, exchange: 'bitget', endpoint: 'v3/user/delete-sub-api', fingerprint: fp, subaccount: request.subaccount },
    },
  );
}

export const adapter: ExchangeAdapter = {
  id: bitget.id,
  capabilities,
  trading: bitgetTrading,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const response = await client.call('privateSpotGetV2SpotAccountInfo', {}, { action: 'inspecting the key' });
    return parseBitgetInfo(parseAnswer(infoAnswer, response, 'bitget', ENDPOINT_INFO).data);
  },

  async createKey(request: CreateKeyRequest): Promise<CreatedKey> {
    assertCreatable('bitget', request);
    const permList = bitgetPermListFor(request.scopes);
    const client = await createClient(request.account, request.master, request);
    const passphrase = generatePassphrase(24, { special: false });
    const response = await client.call(
      'privateUserPostV2UserCreateVirtualSubaccountApikey',
      { subAccountUid: request.subaccount, passphrase, label: request.label, ipList: request.ips, permList },
      { action: 'creating a sub-account key', retry: 'refused-only' },
    );
    let created: v.InferOutput<typeof createSchema>;
    try {
      created = parseAnswer(createSchema, response, 'bitget', ENDPOINT_CREATE);
    } catch (err) {
      // The key may exist though its answer is unreadable: keep the field paths, give create's what-to-do.
      const message = err instanceof Error ? err.message : String(err);
      throw new ExchangeError('EXCHANGE_BAD_RESPONSE', message, { hint: malformed('bitget', ENDPOINT_CREATE).hint, cause: err });
    }
    return { apiKey: created.data.subAccountApiKey, secret: created.data.secretKey, passphrase };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    try {
      // The answer (`data: {}`) is not read: a Bitget error code makes ccxt throw, and nothing else is needed.
      await client.call('privateUtaPostV3UserDeleteSubApi', { apiKey: request.apiKey }, { action: 'deleting a sub-account key' });
    } catch (err) {
      if (err instanceof KeyctlError && err.code === 'EXCHANGE_REFUSED') throw deleteGap(err, request);
      throw err;
    }
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const client = await createClient(request.account, request.master, request);
    const response = await client.call(
      'privateUserGetV2UserVirtualSubaccountApikeyList',
      { subAccountUid: request.subaccount },
      { action: 'listing sub-account keys' },
    );
    return parseBitgetListing(response, request.subaccount);
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateSpotGetV2SpotAccountAssets', {}, { action: 'checking the key with a balance query' });
  },
};
