/**
 * Coinbase Advanced Trade, inspect-only. Inspect: GET /api/v3/brokerage/key_permissions (`can_view`, `can_trade`,
 * `can_transfer`, `portfolio_uuid`, `portfolio_type`). Harmless signed call: GET /api/v3/brokerage/accounts. Keys are
 * created, listed and deleted only in the CDP portal: those calls are capability gaps (assisted rotation).
 *
 * What keyctl cannot learn: the key's IP allowlist (the CDP portal has one, the API does not report it), so every
 * inspection carries `ips: 'unreported'` and the policy reports UNVERIFIABLE `ip-lock` unless the account accepts it.
 * A CDP key is scoped to one portfolio, so the config's sub-account id of a Coinbase slot is the portfolio's uuid
 * (https://docs.cdp.coinbase.com/coinbase-app/advanced-trade-apis/guides/portfolios: "Each API key is scoped to
 * specific portfolio").
 */
import * as v from 'valibot';
import { assistedAdapter } from '../assisted.js';
import { createClient } from '../ccxt.js';
import { parseAnswer, sortScopes } from '../normalize.js';
import type { Scope } from '../../domain/scopes.js';
import type { ExchangeAdapter, InspectRequest, KeyInspection, PingRequest } from '../types.js';
import { coinbase } from './descriptor.js';

/**
 * The permissions a CDP key can hold (https://docs.cdp.coinbase.com/coinbase-app/authentication-authorization/authorization):
 * View reads; Trade places orders, on spot and on US derivatives (futures) alike, so it is both trade scopes; Transfer
 * "send[s] and receive[s] funds, on and off platform": moving funds between portfolios and withdrawing, so it is both
 * `transfer` and `withdraw` (fail closed: the policy refuses either on a bot key).
 */
export const COINBASE_PERMISSIONS: Record<'can_view' | 'can_trade' | 'can_transfer', Scope[]> = {
  can_view: ['read'],
  can_trade: ['spot:trade', 'futures:trade'],
  can_transfer: ['transfer', 'withdraw'],
};

const ENDPOINT = 'brokerage/key_permissions';

/**
 * Get API Key Permissions' documented shape
 * (https://docs.cdp.coinbase.com/api-reference/advanced-trade-api/rest-api/data-api/get-api-key-permissions): every
 * field decides the verdict, so every field is required; `portfolio_type` is one of the documented values. Unknown
 * fields are ignored (a new boolean permission would appear as a field keyctl does not read: see `unknownFlags`).
 */
const permissionsSchema = v.looseObject({
  can_view: v.boolean(),
  can_trade: v.boolean(),
  can_transfer: v.boolean(),
  portfolio_uuid: v.pipe(v.string(), v.minLength(1)),
  portfolio_type: v.picklist(['UNDEFINED', 'DEFAULT', 'CONSUMER', 'INTX']),
});

/** Any other `can_*` field set to true: a permission keyctl cannot judge (`unknown:<name>`), never ignored. */
function unknownFlags(answer: Record<string, unknown>): Scope[] {
  return Object.entries(answer)
    .filter(([k, value]) => k.startsWith('can_') && !Object.hasOwn(COINBASE_PERMISSIONS, k) && value !== false)
    .map(([k]) => `unknown:${k}` as Scope);
}

/** The native `can_*` flags for keyctl scopes (the sandbox's admin API and the docs' settings use them). */
export function coinbaseFlagsFor(scopes: readonly Scope[]): Record<keyof typeof COINBASE_PERMISSIONS, boolean> {
  const has = (s: Scope) => scopes.includes(s);
  return { can_view: true, can_trade: has('spot:trade') || has('futures:trade'), can_transfer: has('transfer') || has('withdraw') };
}

/** A KeyInspection from key_permissions' answer, parsed against its documented shape. */
export function parseCoinbasePermissions(answer: unknown): KeyInspection {
  const a = parseAnswer(permissionsSchema, answer, 'coinbase', ENDPOINT);
  const scopes: Scope[] = [];
  for (const [flag, mapped] of Object.entries(COINBASE_PERMISSIONS))
    if (a[flag as keyof typeof COINBASE_PERMISSIONS]) scopes.push(...mapped);
  scopes.push(...unknownFlags(a));
  return {
    scopes: sortScopes(scopes),
    native: { can_view: a.can_view, can_trade: a.can_trade, can_transfer: a.can_transfer, portfolio_type: a.portfolio_type },
    // Not reported by the API (see the header): never read as "unrestricted" nor as a pass.
    ips: 'unreported',
    readOnly: !a.can_trade && !a.can_transfer,
    owner: { subaccount: a.portfolio_uuid },
  };
}

const assisted = assistedAdapter(coinbase);

export const adapter: ExchangeAdapter = {
  ...assisted,

  async inspect(request: InspectRequest): Promise<KeyInspection> {
    const client = await createClient(request.account, request.key, request);
    const answer = await client.call('v3PrivateGetBrokerageKeyPermissions', {}, { action: 'inspecting the key' });
    return parseCoinbasePermissions(answer);
  },

  async ping(request: PingRequest): Promise<void> {
    const client = await createClient(request.account, request.key, request);
    await client.call('v3PrivateGetBrokerageAccounts', { limit: 1 }, { action: 'checking the key with an accounts query' });
  },
};
