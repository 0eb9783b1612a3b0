/**
 * Exchange credentials as they enter keyctl (stdin, a prompt) and as they are stored: apiKey, secret and, for
 * exchanges that need one, a passphrase.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UsageError } from '../errors.js';
import { fingerprint } from './fingerprint.js';

export interface Credentials {
  apiKey: string;
  secret: string;
  passphrase?: string;
}

const credentialsSchema = z.strictObject({
  apiKey: z.string().trim().min(1).max(512),
  secret: z.string().min(1).max(8192),
  passphrase: z.string().min(1).max(256).optional(),
});

/**
 * Parses `{"apiKey","secret","passphrase"?}`. Error messages name fields, never values: JSON.parse's own message
 * quotes the input, so it is not passed on.
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
  const parsed = credentialsSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : `${i.path.join('.') || 'input'}: ${i.code === 'invalid_type' ? 'must be a non-empty string' : i.message}`,
    );
    throw new UsageError('INVALID_KEY_JSON', `The key JSON on stdin is not usable: ${problems.join('; ')}.`, {
      hint: 'Expected {"apiKey":"...","secret":"..."} with an optional "passphrase"; nothing else.',
    });
  }
  const { apiKey, secret, passphrase } = parsed.data;
  return passphrase === undefined ? { apiKey, secret } : { apiKey, secret, passphrase };
}

/** Secret fields as stored in a SecretStore version. */
export function toSecretFields(c: Credentials): Record<string, string> {
  return c.passphrase === undefined ? { apiKey: c.apiKey, secret: c.secret } : { apiKey: c.apiKey, secret: c.secret, passphrase: c.passphrase };
}

export function fromSecretFields(fields: Record<string, string>): Credentials {
  const { apiKey, secret, passphrase } = fields;
  if (!apiKey || !secret) throw new UsageError('INVALID_STORED_KEY', 'A stored version lacks apiKey or secret.');
  return passphrase === undefined ? { apiKey, secret } : { apiKey, secret, passphrase };
}

/** Deterministic idempotency key for storing these credentials: a retried import never makes a second version. */
export function importIdempotencyKey(c: Credentials): string {
  return `import-${createHash('sha256').update(`${c.apiKey}\u0000${c.secret}\u0000${c.passphrase ?? ''}`).digest('hex').slice(0, 48)}`;
}

export { fingerprint };
