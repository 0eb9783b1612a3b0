/**
 * OKX v5 (passphrase). Inspect: GET /api/v5/account/config (`perm`, `ip`, `uid`/`mainUid`). Create / delete / list:
 * /api/v5/users/subaccount/apikey, .../delete-apikey, GET .../apikey?subAcct=. Harmless signed call: account balance.
 *
 * OKX has three permissions: `read_only`, `trade` (every instrument type at once: spot, margin, futures, options) and
 * `withdraw`. A bot key with `trade` therefore holds all four trade scopes, and its slot must declare all four. A main
 * account's key manages sub-account keys when it holds `trade` (and is IP-bound, which the policy requires anyway).
 */
import * as v from 'valibot';
import { asMasterError, createClient } from '../ccxt.js';
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
  scopesFromTokens,
  toIso,
} from '../normalize.js';
import { generatePassphrase } from '../passphrase.js';
import { ExchangeError, KeyctlError } from '@keyctl/client/errors';
import { TRADE_SCOPES, type DeclarableScope, type Scope } from '../../domain/scopes.js';
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
import { okx } from './descriptor.js';
import { okxTrading } from './trading.js';

export const OKX_PERMISSIONS: Record<string, Scope[]> = {
  read_only: ['read'],
  trade: [...TRADE_SCOPES],
  withdraw: ['withdraw'],
};

export const capabilities: ExchangeCapabilities = capabilitiesOf(okx);

/**
 * The documented shapes keyctl reads:
 * - account/config: https://www.okx.com/docs-v5/en/#trading-account-rest-api-get-account-configuration
 * - create: https://www.okx.com/docs-v5/en/#sub-account-rest-api-create-an-api-key-for-a-sub-account
 * - list: https://www.okx.com/docs-v5/en/#sub-account-rest-api-query-the-api-key-of-a-sub-account
 * Strict where a field decides the verdict: `perm` (a comma string of permission names), `ip` (a comma string of
 * addresses, "" when none is bound), `uid` and `mainUid` (master when equal), `type` when sent (it must agree), and, in
 * a listing, `apiKey` and `label` (the orphan sweep finds keyctl's keys by label). Tolerant elsewhere: unknown fields are
 * ignored, and `type` (a newer field), account/config's `label` and the listing's `ts` may be absent.
 */
const uidSchema = v.pipe(v.string(), v.regex(/^\d+$/));
const configEntrySchema = v.looseObject({
  uid: uidSchema,
  mainUid: uidSchema,
  perm: v.string(),
  ip: v.string(),
  type: v.optional(v.pipe(v.string(), v.regex(/^\d+$/))),
  label: v.optional(v.string()),
});
// One key asks about itself: one entry. More would leave keyctl guessing which one is this key.
const configSchema = v.looseObject({ data: v.pipe(v.array(v.unknown()), v.length(1)) });
const listedKeySchema = v.looseObject({
  apiKey: v.pipe(v.string(), v.minLength(1)),
  label: v.string(),
  perm: v.string(),
  ip: v.string(),
  ts: v.optional(v.string()),
});
const listSchema = v.looseObject({ data: v.array(listedKeySchema) });
// keyctl reads only the credentials from this answer; the new key is inspected on its own before it is used. One
// request creates one key: `data` holds exactly one entry (the doc's example), and two would leave keyctl guessing which
// credentials are the new key's.
const createSchema = v.looseObject({
  data: v.pipe(
    v.array(v.looseObject({ apiKey: v.pipe(v.string(), v.minLength(1)), secretKey: v.pipe(v.string(), v.minLength(1)) })),
    v.length(1),
  ),
});

const ENDPOINT_CONFIG = 'account/config';
const ENDPOINT_KEYS = 'users/subaccount/apikey';

/** Local helper (normalize.ts has none for it): `n entr{y is|ies are}` for problem sentences. */
function entries(n: number): string {
  return `${n} entr${n === 1 ? 'y is' : 'ies are'}`;
}

/**
 * The permission names of a parsed `perm`. Each must be a word (an unknown word becomes `unknown:<name>`, which the
 * policy flags); an empty `perm` or one that is not a comma list of words is an answer keyctl cannot judge.
 */
function checkedPerm(perm: string, endpoint: string): string[] {
  // Every OKX key can at least read, so "no permission at all" is not a shape OKX documents.
  if (perm.trim() === '') badAnswer('okx', endpoint, 'perm: expected at least one permission name');
  const tokens = perm.split(',').map((t) => t.trim());
  const bad = tokens.filter((t) => !/^[A-Za-z0-9_.-]+$/.test(t));
  if (bad.length > 0) badAnswer('okx', endpoint, `perm: ${entries(bad.length)} not a permission name`);
  return tokens;
}

/** A parsed `ip`: "" (no allowlist) or a comma list whose every entry is an address, a CIDR block or `*`. */
function checkedIp(ip: string, endpoint: string): string {
  if (ip.trim() === '') return '';
  const bad = ip.split(',').filter((entry) => !isAllowlistEntry(entry.trim()));
  if (bad.length > 0) badAnswer('okx', endpoint, `ip: ${entries(bad.length)} not an address`);
  return ip;
}

/** Normalized scopes of an OKX `perm` string ("read_only,trade,withdraw"). */
export function okxScopes(perm: unknown, options: { isMaster?: boolean } = {}): Scope[] {
  return scopesFromTokens(commaTokens(perm), OKX_PERMISSIONS, { ...options, masterToken: 'trade' });
}

/** OKX's `perm` for declared scopes: any trade scope needs `trade`; reading is always granted. */
export function okxPermFor(scopes: readonly DeclarableScope[]): string {
  return scopes.some((s) => s !== 'read') ? 'read_only,trade' : 'read_only';
}

/**
 * A KeyInspection from account/config's `data[0]`, parsed against its documented shape: any other shape is an
 * EXCHANGE_BAD_RESPONSE (a violation for verify, import and rotation), never a key with fewer permissions.
 */
export function parseOkxConfig(entry: unknown): KeyInspection {
  const e = parseAnswer(configEntrySchema, entry, 'okx', ENDPOINT_CONFIG);
  const tokens = checkedPerm(e.perm, ENDPOINT_CONFIG);
  const ip = checkedIp(e.ip, ENDPOINT_CONFIG);
  const isMaster = e.uid === e.mainUid;
  // `type` 0 is the main account: an answer whose type and uids disagree cannot say whose key this is.
  if (e.type !== undefined && (e.type === '0') !== isMaster) badAnswer('okx', ENDPOINT_CONFIG, 'type: disagrees with uid and mainUid');
  return {
    scopes: okxScopes(e.perm, { isMaster }),
    native: { perm: e.perm, ip: e.ip, type: e.type },
    ips: parseIps(ip),
    readOnly: tokens.every((t) => t === 'read_only'),
    owner: { uid: e.uid, isMaster },
    ...(e.label ? { label: e.label } : {}),
  };
}

/**
 * A sub-account's key listing, every entry parsed. A listing keyctl cannot read throws: the orphan sweep and the owner
 * lookup must never see an empty or shortened list instead.
 */
function parseListing(response: unknown): ListedKey[] {
  const data = parseAnswer(listSchema, response, 'okx', ENDPOINT_KEYS).data;
  // The same key twice: a listing that contradicts itself may be hiding another key.
  if (repeats(data.map((k) => k.apiKey)) > 0) badAnswer('okx', ENDPOINT_KEYS, 'apiKey: a key listed twice');
  return data.map((k) => {
    checkedPerm(k.perm, ENDPOINT_KEYS);
    const createdAt = toIso(k.ts, { exchange: 'okx', endpoint: ENDPOINT_KEYS, field: 'ts' });
    return {
      apiKey: k.apiKey,
      ...(k.label ? { label: k.label } : {}),
      scopes: okxScopes(k.perm),
      ips: parseIps(checkedIp(k.ip, ENDPOINT_KEYS)),
      ...(createdAt ? { createdAt } : {}),
    };
  });
}

export const adapter: ExchangeAdapter = {
  id: okx.id,
  capabilities,
  trading: okxTrading,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const response = await client.call('privateGetAccountConfig', {}, { action: 'inspecting the key' });
    const inspection = parseOkxConfig(parseAnswer(configSchema, response, 'okx', ENDPOINT_CONFIG).data[0]);
    // account/config names the owner by uid only; the master's listing of the declared sub-account says whether the
    // key is really there (and when it was made).
    if (request.role === 'bot' && request.master && request.subaccount) {
      const master = await createClient(request.account, request.master, request);
      let answer: unknown;
      try {
        answer = await master.call(
          'privateGetUsersSubaccountApikey',
          { subAcct: request.subaccount, apiKey: request.key.apiKey },
          { action: 'looking the key up in its sub-account' },
        );
      } catch (err) {
        // An unknown sub-account or a key outside it is a refusal; anything else (network, master key) propagates.
        if (!(err instanceof KeyctlError && err.code === 'EXCHANGE_REFUSED')) throw asMasterError(err, request.account);
        inspection.owner.subaccount = null;
        return inspection;
      }
      // Parsed outside the try: an unreadable listing is a bad answer, not "the key is elsewhere".
      const mine = parseListing(answer).find((k) => k.apiKey === request.key.apiKey);
      inspection.owner.subaccount = mine ? request.subaccount : null;
      if (mine?.createdAt) inspection.createdAt = mine.createdAt;
    }
    return inspection;
  },

  async createKey(request: CreateKeyRequest): Promise<CreatedKey> {
    assertCreatable('okx', request);
    const client = await createClient(request.account, request.master, request);
    const passphrase = generatePassphrase();
    const response = await client.call(
      'privatePostUsersSubaccountApikey',
      { subAcct: request.subaccount, label: request.label, passphrase, perm: okxPermFor(request.scopes), ip: request.ips.join(',') },
      { action: 'creating a sub-account key', retry: 'refused-only' },
    );
    let created: v.InferOutput<typeof createSchema>;
    try {
      created = parseAnswer(createSchema, response, 'okx', ENDPOINT_KEYS);
    } catch (err) {
      // The key may exist though its answer is unreadable: keep the field paths, give create's what-to-do.
      const message = err instanceof Error ? err.message : String(err);
      throw new ExchangeError('EXCHANGE_BAD_RESPONSE', message, { hint: malformed('okx', ENDPOINT_KEYS).hint, cause: err });
    }
    const [first] = created.data;
    return { apiKey: first!.apiKey, secret: first!.secretKey, passphrase };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    // The answer (`data: [{subAcct}]`) is not read: an OKX error code makes ccxt throw, and nothing else is needed.
    await client.call(
      'privatePostUsersSubaccountDeleteApikey',
      { subAcct: request.subaccount, apiKey: request.apiKey },
      { action: 'deleting a sub-account key' },
    );
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const client = await createClient(request.account, request.master, request);
    const response = await client.call(
      'privateGetUsersSubaccountApikey',
      { subAcct: request.subaccount },
      { action: 'listing sub-account keys' },
    );
    return parseListing(response);
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateGetAccountBalance', {}, { action: 'checking the key with a balance query' });
  },
};
