/**
 * The normalized scope vocabulary, shared by every exchange adapter and the key policy.
 * Adapters map native permissions to these both ways; a native permission they do not know becomes `unknown:<name>`.
 */
export const TRADE_SCOPES = ['spot:trade', 'margin:trade', 'futures:trade', 'options:trade'] as const;
/** Scopes no bot key may hold. `keys:manage` is allowed on account master keys only; `withdraw` on nothing. */
export const FORBIDDEN_BOT_SCOPES = ['withdraw', 'transfer', 'keys:manage'] as const;
export const ALL_SCOPES = ['read', ...TRADE_SCOPES] as const;
export const KNOWN_SCOPES = [...ALL_SCOPES, ...FORBIDDEN_BOT_SCOPES] as const;

/** A scope a bot may declare. */
export type DeclarableScope = (typeof ALL_SCOPES)[number];
export type KnownScope = (typeof KNOWN_SCOPES)[number];
/** What an adapter reports: a known scope, or a native permission it could not map. */
export type Scope = KnownScope | `unknown:${string}`;

export function isTradeScope(scope: string): boolean {
  return (TRADE_SCOPES as readonly string[]).includes(scope);
}
