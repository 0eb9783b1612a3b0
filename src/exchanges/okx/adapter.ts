/**
 * OKX v5 (passphrase). Inspect: GET /api/v5/account/config (`perm`, `ip`, `uid`/`mainUid`). Create / delete / list:
 * /api/v5/users/subaccount/apikey, .../delete-apikey, GET .../apikey?subAcct=. Harmless signed call: account balance.
 *
 * OKX has three permissions: `read_only`, `trade` (every instrument type at once: spot, margin, futures, options) and
 * `withdraw`. A bot key with `trade` therefore holds all four trade scopes, and its slot must declare all four. A main
 * account's key manages sub-account keys when it holds `trade` (and is IP-bound, which the policy requires anyway).
 */
import { asMasterError, createClient } from '../ccxt.js';
import { capabilitiesOf } from '../descriptor.js';
import { assertCreatable, commaTokens, malformed, obj, parseIps, scopesFromTokens, str, toIso } from '../normalize.js';
import { generatePassphrase } from '../passphrase.js';
import { KeyctlError } from '../../errors.js';
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

export const OKX_PERMISSIONS: Record<string, Scope[]> = {
  read_only: ['read'],
  trade: [...TRADE_SCOPES],
  withdraw: ['withdraw'],
};

export const capabilities: ExchangeCapabilities = capabilitiesOf(okx);

/** Normalized scopes of an OKX `perm` string ("read_only,trade,withdraw"). */
export function okxScopes(perm: unknown, options: { isMaster?: boolean } = {}): Scope[] {
  return scopesFromTokens(commaTokens(perm), OKX_PERMISSIONS, { ...options, masterToken: 'trade' });
}

/** OKX's `perm` for declared scopes: any trade scope needs `trade`; reading is always granted. */
export function okxPermFor(scopes: readonly DeclarableScope[]): string {
  return scopes.some((s) => s !== 'read') ? 'read_only,trade' : 'read_only';
}

/** A KeyInspection from account/config's `data[0]`. */
export function parseOkxConfig(entry: unknown): KeyInspection {
  const e = obj(entry);
  const uid = str(e.uid);
  const mainUid = str(e.mainUid);
  const isMaster = uid !== undefined && uid === mainUid;
  const tokens = commaTokens(e.perm);
  return {
    scopes: okxScopes(e.perm, { isMaster }),
    native: { perm: e.perm, ip: e.ip, type: e.type },
    ips: parseIps(e.ip),
    readOnly: tokens.length > 0 && tokens.every((t) => t === 'read_only'),
    owner: { ...(uid ? { uid } : {}), isMaster },
    ...(str(e.label) ? { label: str(e.label) } : {}),
  };
}

function dataOf(response: unknown): unknown[] {
  const d = obj(response).data;
  return Array.isArray(d) ? d : [];
}

export const adapter: ExchangeAdapter = {
  id: okx.id,
  capabilities,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const data = dataOf(await client.call('privateGetAccountConfig', {}, { action: 'inspecting the key' }));
    const inspection = parseOkxConfig(data[0]);
    // account/config names the owner by uid only; the master's listing of the declared sub-account says whether the
    // key is really there (and when it was made).
    if (request.role === 'bot' && request.master && request.subaccount) {
      const master = await createClient(request.account, request.master, request);
      try {
        const listed = dataOf(
          await master.call(
            'privateGetUsersSubaccountApikey',
            { subAcct: request.subaccount, apiKey: request.key.apiKey },
            { action: 'looking the key up in its sub-account' },
          ),
        ).map(obj);
        const mine = listed.find((k) => k.apiKey === request.key.apiKey);
        inspection.owner.subaccount = mine ? request.subaccount : null;
        const createdAt = mine ? toIso(mine.ts) : undefined;
        if (createdAt) inspection.createdAt = createdAt;
      } catch (err) {
        // An unknown sub-account or a key outside it is a refusal; anything else (network, master key) propagates.
        if (!(err instanceof KeyctlError && err.code === 'EXCHANGE_REFUSED')) throw asMasterError(err, request.account);
        inspection.owner.subaccount = null;
      }
    }
    return inspection;
  },

  async createKey(request: CreateKeyRequest): Promise<CreatedKey> {
    assertCreatable('okx', request);
    const client = await createClient(request.account, request.master, request);
    const passphrase = generatePassphrase();
    const data = dataOf(
      await client.call(
        'privatePostUsersSubaccountApikey',
        { subAcct: request.subaccount, label: request.label, passphrase, perm: okxPermFor(request.scopes), ip: request.ips.join(',') },
        { action: 'creating a sub-account key', retry: 'refused-only' },
      ),
    );
    const r = obj(data[0]);
    const apiKey = str(r.apiKey);
    const secret = str(r.secretKey);
    if (!apiKey || !secret) throw malformed('okx', 'users/subaccount/apikey');
    return { apiKey, secret, passphrase };
  },

  async deleteKey(request: DeleteKeyRequest): Promise<void> {
    const client = await createClient(request.account, request.master, request);
    await client.call(
      'privatePostUsersSubaccountDeleteApikey',
      { subAcct: request.subaccount, apiKey: request.apiKey },
      { action: 'deleting a sub-account key' },
    );
  },

  async listKeys(request: ListKeysRequest): Promise<ListedKey[]> {
    const client = await createClient(request.account, request.master, request);
    const data = dataOf(
      await client.call('privateGetUsersSubaccountApikey', { subAcct: request.subaccount }, { action: 'listing sub-account keys' }),
    );
    return data.map(obj).flatMap((k) => {
      const apiKey = str(k.apiKey);
      if (!apiKey) return [];
      const createdAt = toIso(k.ts);
      return [
        {
          apiKey,
          ...(str(k.label) ? { label: str(k.label) } : {}),
          scopes: okxScopes(k.perm),
          ips: parseIps(k.ip),
          ...(createdAt ? { createdAt } : {}),
        },
      ];
    });
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privateGetAccountBalance', {}, { action: 'checking the key with a balance query' });
  },
};
