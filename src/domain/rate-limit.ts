/**
 * An account's own rate limits (`accounts.<name>.rateLimit`), as the config declares them and the inventory carries
 * them. How they are applied is src/exchanges/rate-limit.ts.
 */

/** What each endpoint keyctl calls does, for limits set by kind (`accounts.<name>.rateLimit.endpoints`). */
export const ENDPOINT_KINDS = ['create', 'delete', 'update', 'list', 'inspect', 'ping', 'trading'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];

/** Calls per second instead of the documented figures. */
export interface RateLimitSetting {
  /** Every endpoint of the account, per key and endpoint. */
  perSecond?: number;
  /** One kind of endpoint; wins over `perSecond`. */
  endpoints?: Partial<Record<EndpointKind, number>>;
}
