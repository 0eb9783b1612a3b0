/**
 * Single-use credential tokens (`keyctl issue`): the slot's credentials wrapped by the secret store
 * (`SecretStore.wrap`), behind a self-describing envelope `kct1.<provider>.<store token>` so the client knows which
 * provider unwraps it. Light on purpose: the client library imports this in every mode.
 */
import { ProviderError, UsageError } from './errors.js';
import type { BotCredentials } from './protocol.js';

const VERSION = 'kct1';
const PROVIDER = /^[a-z][a-z0-9-]{0,30}$/;

/** Default and longest TTL of an issued token. */
export const DEFAULT_TOKEN_TTL_MS = 60_000;
export const MAX_TOKEN_TTL_MS = 3_600_000;

export function formatToken(provider: string, storeToken: string): string {
  if (!PROVIDER.test(provider)) throw new UsageError('INVALID_PROVIDER_ID', `Provider id "${provider}" cannot go into a token.`);
  return `${VERSION}.${provider}.${storeToken}`;
}

/** Splits a token into its provider id and the store's own token. Never echoes the token in an error. */
export function parseToken(token: string): { provider: string; storeToken: string } {
  const t = token.trim();
  const first = t.indexOf('.');
  const second = first === -1 ? -1 : t.indexOf('.', first + 1);
  const provider = second === -1 ? '' : t.slice(first + 1, second);
  const storeToken = second === -1 ? '' : t.slice(second + 1);
  if (t.slice(0, first) !== VERSION || !PROVIDER.test(provider) || storeToken === '') {
    throw new ProviderError('TOKEN_MALFORMED', 'KEYCTL_TOKEN is not a keyctl token.', {
      hint: 'Pass exactly what `keyctl issue <bot/sub>` printed (it starts with "kct1.").',
    });
  }
  return { provider, storeToken };
}

/** What a token wraps: the credentials, with a format version. */
export function encodePayload(c: BotCredentials): string {
  return JSON.stringify({ v: 1, ...c });
}

export function decodePayload(text: string): BotCredentials {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch {
    raw = {};
  }
  const s = (k: string) => (typeof raw[k] === 'string' && raw[k] !== '' ? (raw[k] as string) : undefined);
  const ref = s('ref');
  const apiKey = s('apiKey');
  const secret = s('secret');
  const fingerprint = s('fingerprint');
  if (raw.v !== 1 || !ref || !apiKey || !secret || !fingerprint) {
    throw new ProviderError('TOKEN_PAYLOAD_INVALID', 'The token unwrapped to something that is not keyctl credentials.', {
      hint: 'Issue a new token with `keyctl issue <bot/sub>`; the token may come from another tool using the same store.',
    });
  }
  const password = s('password');
  const rotatesAt = s('rotatesAt');
  return { ref, apiKey, secret, fingerprint, ...(password ? { password } : {}), ...(rotatesAt ? { rotatesAt } : {}) };
}
