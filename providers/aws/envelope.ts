/**
 * What keyctl keeps in a SecretString.
 *
 * A slot version is the credential fields as a flat JSON object, so anything that reads the secret with AWS's own
 * tools (`JSON.parse(SecretString).apiKey`) gets what it expects, plus one `_keyctl` member holding the version's
 * non-secret metadata. AWS has no per-version tags, so this is the only place per-version metadata can live.
 * keyctl's internal secrets (genesis placeholder, wraps, leases) hold only a `_keyctl` member.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '@keyctl/client/errors';
import type { SecretFields, VersionMeta } from '../types.js';

export const ENVELOPE_KEY = '_keyctl';

export type Envelope =
  | { kind: 'version'; at: number; meta: VersionMeta; secret: SecretFields }
  | { kind: 'genesis' }
  | { kind: 'wrap'; value: string }
  | { kind: 'wrap-claimed' };

/** The genesis body is a constant so that CreateSecret with the genesis ClientRequestToken is idempotent. */
export const GENESIS_BODY = encode({ kind: 'genesis' });

export function encode(env: Envelope): string {
  if (env.kind === 'version') {
    const { secret, ...rest } = env;
    return JSON.stringify({ ...secret, [ENVELOPE_KEY]: { v: 1, ...rest } });
  }
  return JSON.stringify({ [ENVELOPE_KEY]: { v: 1, ...env } });
}

/**
 * Parses a SecretString written by keyctl. Returns null for anything else (a value set by hand in the console, a
 * binary secret): the caller reports it without ever echoing the content.
 */
export function decode(text: string | undefined): Envelope | null {
  if (typeof text !== 'string') return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(raw) || !isRecord(raw[ENVELOPE_KEY])) return null;
  const { [ENVELOPE_KEY]: head, ...rest } = raw;
  const h = head as Record<string, unknown>;
  if (h.v !== 1) return null;
  switch (h.kind) {
    case 'version': {
      const secret: SecretFields = {};
      for (const [k, v] of Object.entries(rest)) if (typeof v === 'string') secret[k] = v;
      return { kind: 'version', at: typeof h.at === 'number' ? h.at : 0, meta: stringRecord(h.meta), secret };
    }
    case 'genesis':
    case 'wrap-claimed':
      return { kind: h.kind };
    case 'wrap':
      return typeof h.value === 'string' ? { kind: 'wrap', value: h.value } : null;
    default:
      return null;
  }
}

/** Rejects secret field names that would collide with the envelope. */
export function assertStorableSecret(secret: SecretFields): void {
  if (Object.hasOwn(secret, ENVELOPE_KEY)) {
    throw new UsageError('INVALID_SECRET_FIELD', `The field name "${ENVELOPE_KEY}" is reserved by the AWS provider.`, {
      hint: 'Rename the field; keyctl keeps its own metadata under that name in the SecretString.',
    });
  }
}

/** Order-independent digest of a version's secret fields, to tell a repeated idempotent write from a different one. */
export function digestSecret(secret: SecretFields): string {
  const canonical = JSON.stringify(
    Object.keys(secret)
      .sort()
      .map((k) => [k, secret[k]]),
  );
  return createHash('sha256').update(canonical).digest('hex');
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function stringRecord(x: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isRecord(x)) for (const [k, v] of Object.entries(x)) if (typeof v === 'string') out[k] = v;
  return out;
}
