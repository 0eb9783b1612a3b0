/**
 * Bitfinex (API v2), inspect-only. Inspect: POST /v2/auth/r/permissions, one `[SCOPE, READ, WRITE]` array per scope.
 * Harmless signed call: POST /v2/auth/r/wallets. Keys are created, listed and deleted only in the web UI: those calls
 * are capability gaps (assisted rotation).
 *
 * What keyctl cannot learn from that answer: the key's IP access restriction and the account it belongs to. Every
 * inspection carries `ips: 'unreported'` and `unverifiable: ['owner']`: the policy reports both as UNVERIFIABLE until
 * the account accepts them (`accept: [ip-lock-unverifiable, owner-unverifiable]`).
 */
import * as v from 'valibot';
import { assistedAdapter } from '../assisted.js';
import { createClient } from '../ccxt.js';
import { badAnswer, ownEntry, parseAnswer, repeats, sortScopes, unknownScope } from '../normalize.js';
import type { Scope } from '../../domain/scopes.js';
import type { ExchangeAdapter, InspectRequest, KeyInspection, PingRequest } from '../types.js';
import { bitfinex } from './descriptor.js';

/**
 * What WRITE on each documented scope grants (https://docs.bitfinex.com/reference/key-permissions; READ on any of them
 * only reads). Orders are exchange (spot), margin and derivatives orders alike, so they are all three trade scopes;
 * positions are margin and derivatives positions; wallets moves funds between wallets (transfer); withdraw and
 * ui_withdraw withdraw. WRITE on account, settings, funding (margin funding offers) and bfxpay has no keyctl scope: it
 * becomes `unknown:<scope>.write`, which the policy flags rather than ignores.
 */
export const BITFINEX_WRITE: Record<string, Scope[]> = {
  orders: ['spot:trade', 'margin:trade', 'futures:trade'],
  positions: ['margin:trade', 'futures:trade'],
  wallets: ['transfer'],
  withdraw: ['withdraw'],
  ui_withdraw: ['withdraw'],
  history: [],
};

/** The scopes the docs list; any other scope is a permission keyctl does not know. */
export const BITFINEX_SCOPES = [
  'account',
  'history',
  'orders',
  'positions',
  'funding',
  'settings',
  'wallets',
  'withdraw',
  'ui_withdraw',
  'bfxpay',
];

const ENDPOINT = 'auth/r/permissions';
const flag = v.picklist([0, 1]);
const answerSchema = v.pipe(v.array(v.strictTuple([v.pipe(v.string(), v.regex(/^[a-z_]+$/)), flag, flag])), v.minLength(1));

/** Normalized scopes of permission arrays. */
export function bitfinexScopes(perms: ReadonlyArray<readonly [string, 0 | 1, 0 | 1]>): Scope[] {
  const scopes: Scope[] = [];
  for (const [scope, read, write] of perms) {
    if (!BITFINEX_SCOPES.includes(scope)) {
      if (read || write) scopes.push(unknownScope(scope));
      continue;
    }
    if (read) scopes.push('read');
    if (write) scopes.push(...(ownEntry(BITFINEX_WRITE, scope) ?? [unknownScope(`${scope}.write`)]));
  }
  return sortScopes(scopes);
}

/** The permission arrays a person ticks in the web UI for keyctl scopes (read on what a bot reads, write on orders). */
export function bitfinexPermissionsFor(scopes: readonly Scope[]): Array<[string, 0 | 1, 0 | 1]> {
  const trades = scopes.some((s) => s === 'spot:trade' || s === 'margin:trade' || s === 'futures:trade');
  return BITFINEX_SCOPES.map((s): [string, 0 | 1, 0 | 1] => {
    const read = ['account', 'history', 'orders', 'positions', 'wallets'].includes(s) ? 1 : 0;
    return [s, read, trades && (s === 'orders' || s === 'positions') ? 1 : 0];
  });
}

/** A KeyInspection from auth/r/permissions' answer, parsed against its documented shape. */
export function parseBitfinexPermissions(answer: unknown): KeyInspection {
  const perms = parseAnswer(answerSchema, answer, 'bitfinex', ENDPOINT);
  // A scope listed twice could say two things: keyctl cannot tell which one Bitfinex enforces.
  if (repeats(perms.map(([s]) => s)) > 0) badAnswer('bitfinex', ENDPOINT, 'a scope is listed twice');
  const scopes = bitfinexScopes(perms);
  return {
    scopes,
    native: perms,
    ips: 'unreported',
    readOnly: scopes.every((s) => s === 'read'),
    owner: {},
    unverifiable: ['owner'],
  };
}

const assisted = assistedAdapter(bitfinex);

export const adapter: ExchangeAdapter = {
  ...assisted,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const answer = await client.call('privatePostAuthRPermissions', {}, { action: 'inspecting the key' });
    return parseBitfinexPermissions(answer);
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('privatePostAuthRWallets', {}, { action: 'checking the key with a wallets query' });
  },
};
