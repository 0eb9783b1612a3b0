/**
 * What an exchange says about one key, in keyctl's terms: the input of the key policy (policy.ts). Exchange adapters
 * (src/exchanges) produce it; nothing here knows an exchange.
 */
import type { Scope } from './scopes.js';

/**
 * Policy checks an exchange may be unable to answer: `ip-lock` (it does not report the key's IP allowlist, Coinbase)
 * and `owner` (it does not say which account or sub-account the key belongs to). The policy reports each as an
 * UNVERIFIABLE violation unless the account accepts the gap in its config (`accounts.<name>.accept`).
 */
export const UNVERIFIABLE_CHECKS = ['ip-lock', 'owner'] as const;
export type UnverifiableCheck = (typeof UNVERIFIABLE_CHECKS)[number];

/**
 * What an account may accept in `accounts.<name>.accept`: one name per unverifiable check. An accepted gap is no
 * violation; verify shows it as accepted instead.
 */
export const ACCEPTABLE_GAPS = [
  'ip-lock-unverifiable',
  'owner-unverifiable',
] as const satisfies readonly `${UnverifiableCheck}-unverifiable`[];
export type AcceptedGap = (typeof ACCEPTABLE_GAPS)[number];

/** Who a key belongs to, as far as the exchange says. Fields the exchange does not report are absent. */
export interface KeyOwner {
  /** The exchange's user id of the key's owner (a sub-account's own uid for sub keys). */
  uid?: string;
  /**
   * The sub-account the key belongs to, in the form the config uses (bybit uid, okx name, binance email, gate user_id, kucoin
   * name, mexc name). `null` means the adapter asked the exchange (through the master key) and the key is NOT in the declared
   * sub-account.
   */
  subaccount?: string | null;
  /** True for a main-account key, false for a sub-account key. */
  isMaster?: boolean;
}

/** The real state of one key at its exchange. */
export interface KeyInspection {
  /** Normalized scopes the key holds; native permissions the adapter does not know are `unknown:<name>`. */
  scopes: Scope[];
  /** The exchange's own permission payload, as returned (no secrets: exchanges never return the secret here). */
  native: unknown;
  /**
   * The IP allowlist; `'unrestricted'` when the key works from anywhere; `'restricted'` when the key is IP-locked but
   * the exchange does not tell which addresses (Binance, for a master key's own allowlist); `'unreported'` when the
   * exchange does not report an allowlist at all (the `ip-lock` check is then unverifiable).
   */
  ips: string[] | 'unrestricted' | 'restricted' | 'unreported';
  /** True when the key can only read. */
  readOnly: boolean;
  owner: KeyOwner;
  /** ISO-8601 time after which the key (or its trading permission) stops working. */
  expiresAt?: string;
  /** ISO-8601 creation time. */
  createdAt?: string;
  /** The key's label / note / remark at the exchange. */
  label?: string;
  /**
   * The policy checks this exchange cannot answer for this key. `ip-lock` is implied by `ips: 'unreported'`. Never a
   * pass by itself: each is an UNVERIFIABLE violation unless the account accepts it.
   */
  unverifiable?: UnverifiableCheck[];
}
