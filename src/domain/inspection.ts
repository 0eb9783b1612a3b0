/**
 * What an exchange says about one key, in keyctl's terms: the input of the key policy (policy.ts). Exchange adapters
 * (src/exchanges) produce it; nothing here knows an exchange.
 */
import type { Scope } from './scopes.js';

/** Who a key belongs to, as far as the exchange says. Fields the exchange does not report are absent. */
export interface KeyOwner {
  /** The exchange's user id of the key's owner (a sub-account's own uid for sub keys). */
  uid?: string;
  /**
   * The sub-account the key belongs to, in the form the config uses (bybit uid, okx name, binance email, kucoin
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
   * the exchange does not tell which addresses (Binance, for a master key's own allowlist).
   */
  ips: string[] | 'unrestricted' | 'restricted';
  /** True when the key can only read. */
  readOnly: boolean;
  owner: KeyOwner;
  /** ISO-8601 time after which the key (or its trading permission) stops working. */
  expiresAt?: string;
  /** ISO-8601 creation time. */
  createdAt?: string;
  /** The key's label / note / remark at the exchange. */
  label?: string;
}
