/**
 * Exchange credentials as they enter keyctl (stdin, a prompt) and as they are stored: apiKey, secret and, for
 * exchanges that need one, a passphrase.
 */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { UsageError } from '@keyctl/client/errors';
import { fingerprint } from './fingerprint.js';

export interface Credentials {
  apiKey: string;
  secret: string;
  passphrase?: string;
}

/** A string of `min`..`max` characters, with the length messages users have seen since the first release. */
const sized = (min: number, max: number) =>
  [
    v.minLength<string, number, string>(min, `Too small: expected string to have >=${min} characters`),
    v.maxLength<string, number, string>(max, `Too big: expected string to have <=${max} characters`),
  ] as const;

const credentialsEntries = {
  apiKey: v.pipe(v.string(), v.trim(), ...sized(1, 512)),
  secret: v.pipe(v.string(), ...sized(1, 8192)),
  passphrase: v.optional(v.pipe(v.string(), ...sized(1, 256))),
};
const credentialsSchema = v.strictObject(credentialsEntries);

/**
 * Parses `{"apiKey","secret","passphrase"?}`. Error messages name fields, never values: JSON.parse's own message
 * quotes the input, so it is not passed on, and valibot's default messages (which quote the received value) are
 * replaced.
 */
export function parseCredentials(text: string): Credentials {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UsageError('INVALID_KEY_JSON', 'stdin is not valid JSON.', {
      hint: 'Pipe a JSON object: {"apiKey":"...","secret":"..."} (add "passphrase" for OKX, KuCoin and Bitget).',
    });
  }
  // valibot's object schema takes an array for an object; a list is never a key.
  if (Array.isArray(raw)) throw notUsable([NOT_AN_OBJECT]);
  const parsed = v.safeParse(credentialsSchema, raw, { abortEarly: false });
  if (!parsed.success) throw notUsable(parsed.issues.map(problem));
  const { apiKey, secret, passphrase } = parsed.output;
  return passphrase === undefined ? { apiKey, secret } : { apiKey, secret, passphrase };
}

const NOT_AN_OBJECT = 'input: must be a JSON object';

function notUsable(problems: string[]): UsageError {
  return new UsageError('INVALID_KEY_JSON', `The key JSON on stdin is not usable: ${problems.join('; ')}.`, {
    hint: 'Expected {"apiKey":"...","secret":"..."} with an optional "passphrase"; nothing else.',
  });
}

/** One problem, naming the field and never its value. */
function problem(issue: v.BaseIssue<unknown>): string {
  const path = issue.path ?? [];
  const at = path.at(-1);
  if (issue.type === 'strict_object' && issue.expected === 'never' && at?.origin === 'key') {
    // valibot stops at the first unknown key; name them all (key names only).
    const unknown = Object.keys(at.input as object).filter((k) => !Object.prototype.hasOwnProperty.call(credentialsEntries, k));
    return `unknown field(s) ${unknown.join(', ')}`;
  }
  if (path.length === 0) return NOT_AN_OBJECT;
  const field = path.map((p) => String(p.key)).join('.');
  // A missing field or one of the wrong type; only the length checks keep their own (value-free) message.
  return `${field}: ${issue.kind === 'schema' ? 'must be a non-empty string' : issue.message}`;
}

/** Secret fields as stored in a SecretStore version. */
export function toSecretFields(c: Credentials): Record<string, string> {
  return c.passphrase === undefined
    ? { apiKey: c.apiKey, secret: c.secret }
    : { apiKey: c.apiKey, secret: c.secret, passphrase: c.passphrase };
}

export function fromSecretFields(fields: Record<string, string>): Credentials {
  const credentials = credentialsFrom(fields);
  if (!credentials) throw new UsageError('INVALID_STORED_KEY', 'A stored version lacks apiKey or secret.');
  return credentials;
}

/** Credentials from a stored version's secret fields, or undefined when they lack apiKey or secret. */
export function credentialsFrom(fields: Record<string, string>): Credentials | undefined {
  const { apiKey, secret, passphrase } = fields;
  if (!apiKey || !secret) return undefined;
  return passphrase ? { apiKey, secret, passphrase } : { apiKey, secret };
}

/** Deterministic idempotency key for storing these credentials: a retried import never makes a second version. */
export function importIdempotencyKey(c: Credentials): string {
  return `import-${createHash('sha256')
    .update(`${c.apiKey}\u0000${c.secret}\u0000${c.passphrase ?? ''}`)
    .digest('hex')
    .slice(0, 48)}`;
}

export { fingerprint };
