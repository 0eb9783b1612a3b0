/**
 * Whether a stored key is known to be unsafe, from what keyctl already knows without asking the exchange: the flag a
 * key was stored with (`key import --accept-violations`) and the key's last verification in the audit log. `status`
 * and `key list` show it, so an unsafe key is visible between verifications, not only while `verify` runs.
 */

/**
 * A key's last verification as the audit log records it (an audit entry of command `verify` fits), described here so
 * the domain does not depend on the audit log's types.
 */
export interface VerificationRecord {
  time: string;
  fingerprint?: string;
  outcome: 'ok' | 'failed' | 'refused';
  detail?: Record<string, string | number | boolean | null>;
}

const FLAG_PREFIX = 'violations:';

/** The `flags` metadata of a key stored despite violations. */
export function violationFlags(codes: readonly string[]): string {
  return `${FLAG_PREFIX}${codes.join(',')}`;
}

export interface KeyState {
  ref: string;
  /** The CURRENT key's fingerprint; null when the store holds none. */
  fingerprint: string | null;
  /** Violation codes the CURRENT key was stored with (`--accept-violations`); empty when it was stored clean. */
  flagged: string[];
  /** The last `keyctl verify` of the CURRENT key (an earlier key's verification says nothing about this one). */
  lastVerification: { time: string; outcome: VerificationRecord['outcome']; violations: string[]; error: string | null } | null;
  /** Why the key must not be trusted, in one sentence; null when nothing known says so. */
  unsafe: string | null;
}

/**
 * A key is unsafe when its last verification found a violation, or when it was stored flagged and no verification
 * has passed since (a flag is not cleared by hope: a key fixed at the exchange passes `keyctl verify`, which clears it).
 */
export function keyState(
  ref: string,
  current: { fingerprint?: string; flags?: string } | null,
  last: VerificationRecord | undefined,
): KeyState {
  const fingerprint = current ? (current.fingerprint ?? null) : null;
  const flags = current?.flags?.startsWith(FLAG_PREFIX) ? current.flags.slice(FLAG_PREFIX.length).split(',').filter(Boolean) : [];
  const sameKey = last !== undefined && fingerprint !== null && last.fingerprint === fingerprint;
  const lastVerification = sameKey
    ? {
        time: last.time,
        outcome: last.outcome,
        violations: String(last.detail?.violations ?? '')
          .split(',')
          .filter(Boolean),
        error: typeof last.detail?.error === 'string' ? last.detail.error : null,
      }
    : null;
  let unsafe: string | null = null;
  if (lastVerification?.outcome === 'refused') {
    unsafe = `its last verification (${lastVerification.time}) found ${lastVerification.violations.join(', ') || 'a violation'}`;
  } else if (flags.length > 0 && lastVerification?.outcome !== 'ok') {
    unsafe = `it was stored despite ${flags.join(', ')} (--accept-violations) and has not passed a verification since`;
  }
  return { ref, fingerprint, flagged: flags, lastVerification, unsafe };
}
