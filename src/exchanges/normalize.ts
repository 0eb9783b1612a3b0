/**
 * Small helpers shared by the adapters: IP lists, times, scope sets, and the checks every createKey makes before
 * talking to the exchange.
 */
import { isIP } from 'node:net';
import * as v from 'valibot';
import { ExchangeError, UsageError } from '../errors.js';
import { ALL_SCOPES, KNOWN_SCOPES, type Scope } from '../domain/scopes.js';
import type { CreateKeyRequest } from './types.js';

/**
 * Parses an exchange's IP allowlist (array, or comma/space-separated string). Empty, `*`, `0.0.0.0/0` and `::/0`
 * mean "no restriction".
 */
export function parseIps(value: unknown): string[] | 'unrestricted' {
  const raw = Array.isArray(value) ? value.map(String) : typeof value === 'string' ? value.split(/[,\s]+/) : [];
  const ips = raw.map((s) => s.trim()).filter(Boolean);
  if (ips.length === 0 || ips.some((ip) => ip === '*' || ip === '0.0.0.0/0' || ip === '::/0')) return 'unrestricted';
  return [...new Set(ips)].sort();
}

/** ISO-8601 from an exchange time: ms epoch (number or digits), or a date string. Undefined for empty/zero values. */
export function toIso(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '' || value === 0 || value === '0') return undefined;
  if (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value))) {
    const n = Number(value);
    // Seconds or milliseconds: exchanges use both.
    const d = new Date(n < 1e12 ? n * 1000 : n);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  if (typeof value === 'string') {
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  return undefined;
}

/** Deduplicated, in a stable order: known scopes in vocabulary order, then unknown ones sorted. */
/** The tokens of a comma-separated permission string ("read_only,trade", "General,Spot"). */
export function commaTokens(value: unknown): string[] {
  return (str(value) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * Normalized scopes of comma-string permissions, through a native-token table; unknown tokens become
 * `unknown:<name>`. `masterToken` marks the token that lets a master key manage sub-account keys (`keys:manage`).
 */
export function scopesFromTokens(
  tokens: readonly string[],
  table: Readonly<Record<string, readonly Scope[]>>,
  options: { isMaster?: boolean; masterToken: string },
): Scope[] {
  const scopes = new Set<Scope>();
  for (const t of tokens) for (const s of table[t] ?? [unknownScope(t)]) scopes.add(s);
  if (options.isMaster && tokens.includes(options.masterToken)) scopes.add('keys:manage');
  return sortScopes(scopes);
}

export function sortScopes(scopes: Iterable<Scope>): Scope[] {
  const set = new Set(scopes);
  const known = (KNOWN_SCOPES as readonly string[]).filter((s) => set.has(s as Scope)) as Scope[];
  const unknown = [...set].filter((s) => !(KNOWN_SCOPES as readonly string[]).includes(s)).sort();
  return [...known, ...unknown];
}

/** The unknown-permission scope for a native permission name. */
export function unknownScope(name: string): Scope {
  return `unknown:${name}`;
}

/** A plain object, or an empty one: exchange payloads are untrusted shapes. */
export function obj(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

export function str(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return undefined;
}

/**
 * Checks a create request before anything is sent: only declarable scopes, a non-empty valid allowlist, a label.
 * keyctl never creates a key that could withdraw, transfer or manage keys, nor one that works from anywhere.
 */
export function assertCreatable(exchange: string, request: CreateKeyRequest): void {
  const bad = request.scopes.filter((s) => !(ALL_SCOPES as readonly string[]).includes(s));
  if (bad.length > 0) {
    throw new UsageError('FORBIDDEN_SCOPE', `keyctl does not create keys with ${bad.join(', ')}.`, {
      hint: `A bot key may only hold: ${ALL_SCOPES.join(', ')}.`,
    });
  }
  if (request.scopes.length === 0) {
    throw new UsageError('NO_SCOPES', 'A key needs at least one scope.', { hint: "Declare the bot's scopes in the config." });
  }
  if (request.ips.length === 0 || request.ips.some((ip) => isIP(ip) === 0)) {
    throw new UsageError('IPS_REQUIRED', 'A new key must be locked to valid IP addresses.', {
      hint: "Declare the bot's addresses under ips in the config.",
    });
  }
  if (!request.label) {
    throw new UsageError('LABEL_REQUIRED', `A new ${exchange} key needs a label.`, { hint: 'Pass the rotation id as label.' });
  }
}

/**
 * Parses an exchange's answer against the schema of its documented shape. Anything else is an ExchangeError
 * EXCHANGE_BAD_RESPONSE naming the fields at fault (their paths and what was expected, never their values: an answer
 * may hold a secret), which verify, import and rotation treat as a violation, never as "no permission".
 */
export function parseAnswer<S extends v.GenericSchema>(schema: S, answer: unknown, exchange: string, endpoint: string): v.InferOutput<S> {
  const parsed = v.safeParse(schema, answer, { abortEarly: false });
  if (parsed.success) return parsed.output;
  const problems = parsed.issues.slice(0, 5).map((issue) => {
    const path = (issue.path ?? []).map((p) => String(p.key)).join('.') || '(the answer)';
    return `${path}: expected ${issue.expected ?? 'another value'}`;
  });
  return badAnswer(exchange, endpoint, problems.join('; '));
}

/** A field problem found after parsing (an IP list that holds something else than addresses, say). */
export function badAnswer(exchange: string, endpoint: string, problem: string): never {
  throw new ExchangeError('EXCHANGE_BAD_RESPONSE', `${exchange} answered ${endpoint} in a shape keyctl does not know (${problem}).`, {
    hint: "keyctl treats a key it cannot read as unsafe. If the exchange changed its API, keyctl needs an update; meanwhile check the key's permissions and IP list on the exchange's website.",
    details: { exchange, endpoint },
  });
}

/** An allowlist entry an exchange may report: an address, a CIDR block, or `*` (anywhere). */
export function isAllowlistEntry(entry: string): boolean {
  if (entry === '*') return true;
  const [address, bits, ...rest] = entry.split('/');
  if (rest.length > 0 || !address || isIP(address) === 0) return false;
  if (bits === undefined) return true;
  const max = isIP(address) === 4 ? 32 : 128;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= max;
}

/** The response of a create call did not hold a key: the exchange changed its shape, or a proxy answered. */
export function malformed(exchange: string, what: string): ExchangeError {
  return new ExchangeError('EXCHANGE_BAD_RESPONSE', `${exchange} answered ${what} without the expected fields.`, {
    hint: "The key may have been created: check the sub-account's keys at the exchange (keyctl's orphan sweep removes labelled leftovers).",
  });
}
