/**
 * The audit chain's cryptography and entry shape: canonical JSON, the entry MAC, the head anchor's MAC, and a strict
 * parser that tells a well-formed entry from a malformed line. node:crypto only.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuditEntry, AuditOutcome } from './types.js';

/** `prev` of the first entry. */
export const GENESIS = 'genesis';

const OUTCOMES: ReadonlySet<string> = new Set<AuditOutcome>(['ok', 'failed', 'refused']);
const MAC_RE = /^[0-9a-f]{64}$/;

/**
 * JSON with object keys sorted at every level and undefined members dropped, so the same entry always yields the same
 * bytes whatever order its fields were written or parsed in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const members = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`);
  return `{${members.join(',')}}`;
}

export function hmacHex(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** HMAC-SHA256 over the canonical JSON of every field of `entry` except `mac` (unknown fields included). */
export function entryMac(key: Buffer, entry: Record<string, unknown>): string {
  const { mac: _mac, ...rest } = entry;
  return hmacHex(key, canonicalJson(rest));
}

/**
 * HMAC of the head anchor. The `anchor` member keeps the anchor's MAC domain apart from entries' (an entry always has
 * `command` and never `anchor`), so neither can be passed off as the other.
 */
export function headMac(key: Buffer, seq: number, mac: string): string {
  return hmacHex(key, canonicalJson({ anchor: 'keyctl-audit-head', seq, mac }));
}

/** Constant-time comparison of two hex MACs. */
export function macEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** A parsed line: the entry plus the raw object, which is what the MAC covers (it may hold unknown fields). */
export interface ParsedEntry {
  entry: AuditEntry;
  raw: Record<string, unknown>;
}

export type ParseResult = { ok: true; value: ParsedEntry } | { ok: false; reason: string; seq: number | null };

/** Parses one log line. Anything that is not a well-formed entry is `ok: false` with a reason (never the content). */
export function parseEntryLine(line: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not valid JSON', seq: null };
  }
  return entryFromObject(raw);
}

/** The checks of {@link parseEntryLine} on a value already parsed (an entry kept elsewhere, e.g. the latest cache). */
export function entryFromObject(raw: unknown): ParseResult {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'not a JSON object', seq: null };
  const o = raw as Record<string, unknown>;
  const seq = Number.isSafeInteger(o.seq) && (o.seq as number) >= 1 ? (o.seq as number) : null;
  const bad = (reason: string): ParseResult => ({ ok: false, reason, seq });
  if (seq === null) return bad('no valid "seq"');
  for (const f of ['time', 'actor', 'command', 'prev'] as const) {
    if (typeof o[f] !== 'string') return bad(`no valid "${f}"`);
  }
  if (typeof o.mac !== 'string' || !MAC_RE.test(o.mac)) return bad('no valid "mac"');
  if (typeof o.outcome !== 'string' || !OUTCOMES.has(o.outcome)) return bad('no valid "outcome"');
  for (const f of ['ref', 'fingerprint'] as const) {
    if (o[f] !== undefined && typeof o[f] !== 'string') return bad(`"${f}" is not a string`);
  }
  if (o.detail !== undefined) {
    if (o.detail === null || typeof o.detail !== 'object' || Array.isArray(o.detail)) return bad('"detail" is not an object');
    for (const v of Object.values(o.detail)) {
      if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) return bad('"detail" holds a nested value');
    }
  }
  return { ok: true, value: { entry: o as unknown as AuditEntry, raw: o } };
}
