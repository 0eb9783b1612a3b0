import { createHash } from 'node:crypto';

/**
 * The only identifier of a key that may appear in output, logs and the audit trail: a short SHA-256 of the API key.
 * Short enough to read, long enough (64 bits) that two keys of one desk never collide.
 */
export function fingerprint(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex').slice(0, 16);
}
