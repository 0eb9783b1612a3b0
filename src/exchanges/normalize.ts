/**
 * Small helpers shared by the adapters: IP lists, times, scope sets, and the checks every createKey makes before
 * talking to the exchange.
 */
import { isIP } from 'node:net';
import * as v from 'valibot';
import { ExchangeError, UsageError } from '@keyctl/client/errors';
import { parseAllowlistEntry } from '../domain/policy.js';
import { ALL_SCOPES, KNOWN_SCOPES, type Scope } from '../domain/scopes.js';
import type { CreateKeyRequest } from './types.js';

/**
 * Parses an exchange's IP allowlist (array, or comma/space-separated string), each entry in canonical form
 * (parseAllowlistEntry: `203.0.113.7/24` reads as `203.0.113.0/24`, `::ffff:1.2.3.4` as `1.2.3.4`). Empty, or any entry
 * for the whole internet in any spelling (`*`, `0.0.0.0/0`, `0.0.0.0/00`, `::0/0`, `1.2.3.4/0`, `::ffff:0.0.0.0/0`),
 * means "no restriction". An entry that is no address stays as written (the callers refuse such lists before), so the
 * policy reads it as no lock. How wide an entry may be is the policy's rule (NOT_IP_LOCKED), not this parser's.
 */
export function parseIps(value: unknown): string[] | 'unrestricted' {
  const raw = Array.isArray(value) ? value.map(String) : typeof value === 'string' ? value.split(/[,\s]+/) : [];
  const ips = raw.map((s) => s.trim()).filter(Boolean);
  if (ips.length === 0) return 'unrestricted';
  const out = new Set<string>();
  for (const ip of ips) {
    const entry = parseAllowlistEntry(ip);
    if (entry?.anywhere) return 'unrestricted';
    out.add(entry?.text ?? ip);
  }
  return [...out].sort();
}

/** Where a time was read, for the EXCHANGE_BAD_RESPONSE of one that is no time. */
export interface TimeField {
  exchange: string;
  endpoint: string;
  field: string;
}

/**
 * The times keyctl believes: from Bitcoin's first block to 2100. An exchange time outside (a seconds value read as
 * 1970, `9e15` ms, a date in year 275760) is an answer in another shape, never "no time".
 */
export const EARLIEST_TIME = Date.UTC(2009, 0, 3);
export const LATEST_TIME = Date.UTC(2100, 0, 1);

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * ISO-8601 from an exchange time: a ms or seconds epoch (an integer, or a string of digits), or an ISO-8601 date (a
 * date alone is UTC; a time needs `Z` or an offset). Undefined for the "no time" values exchanges document (absent,
 * `null`, `""`, `0`, `"0"`). Anything else, a date that does not exist (`2025-02-30`, `2025-13-45`), a padded one, or a
 * time outside EARLIEST_TIME..LATEST_TIME, throws EXCHANGE_BAD_RESPONSE naming `at.field`: an expiry keyctl cannot read
 * must never read as "no expiry".
 */
export function toIso(value: unknown, at: TimeField): string | undefined {
  if (value === undefined || value === null || value === '' || value === 0 || value === '0') return undefined;
  const ms = timeMs(value);
  if (ms === undefined) return badAnswer(at.exchange, at.endpoint, `${at.field}: expected a time`);
  if (ms < EARLIEST_TIME || ms > LATEST_TIME) {
    return badAnswer(at.exchange, at.endpoint, `${at.field}: a time outside the years 2009 to 2100`);
  }
  return new Date(ms).toISOString();
}

function timeMs(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : undefined;
  // Seconds or milliseconds: exchanges use both.
  if (n !== undefined) return Number.isSafeInteger(n) && n >= 0 ? (n < 1e12 ? n * 1000 : n) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = ISO_TIME.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', sec = '0', frac = '', zone] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, sec].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day));
  // Date.UTC rolls 2025-02-30 over into March: the date must come back as written.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  let offset = 0;
  if (zone && zone !== 'Z') {
    const [oh, om] = zone.slice(1).split(':').map(Number) as [number, number];
    if (oh > 23 || om > 59) return undefined;
    offset = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  return date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000 + Number(frac.slice(0, 3).padEnd(3, '0')) - offset;
}

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
  // Own entries only: a token named `constructor` or `__proto__` is an unknown permission, not Object.prototype's.
  for (const t of tokens) for (const s of ownEntry(table, t) ?? [unknownScope(t)]) scopes.add(s);
  if (options.isMaster && tokens.includes(options.masterToken)) scopes.add('keys:manage');
  return sortScopes(scopes);
}

/** `table[name]` when the table itself holds it; never a member of Object.prototype (`toString`, `__proto__`). */
export function ownEntry<T>(table: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(table, name) ? table[name] : undefined;
}

/**
 * The keys of a raw answer object that a parsed copy lacks. valibot's `record` and `looseObject` silently drop keys
 * named `__proto__`, `constructor` and `prototype`: a permission group or flag by such a name must be reported, never
 * lost on the way.
 */
export function droppedKeys(raw: unknown, parsed: object): string[] {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return [];
  return Object.keys(raw).filter((k) => !Object.hasOwn(parsed, k));
}

/** How many entries of a list repeat an earlier one. */
export function repeats(values: readonly string[]): number {
  return values.length - new Set(values).size;
}

/** Deduplicated, in a stable order: known scopes in vocabulary order, then unknown ones sorted. */
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

/**
 * An allowlist entry an exchange may report: an address, a CIDR block (mask in digits, at most the family's length), or
 * `*` (anywhere). See parseAllowlistEntry.
 */
export function isAllowlistEntry(entry: string): boolean {
  return parseAllowlistEntry(entry) !== undefined;
}

/** The response of a create call did not hold a key: the exchange changed its shape, or a proxy answered. */
export function malformed(exchange: string, what: string): ExchangeError {
  return new ExchangeError('EXCHANGE_BAD_RESPONSE', `${exchange} answered ${what} without the expected fields.`, {
    hint: "The key may have been created: check the sub-account's keys at the exchange (keyctl's orphan sweep removes labelled leftovers).",
  });
}
