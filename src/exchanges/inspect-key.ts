/**
 * Inspect one key at its exchange and judge it by the key policy, given everything already resolved (adapter,
 * account, what the key must be, the master key when the exchange needs it). The exchange-layer half of the key check;
 * the use case (which ref, which account, reading the master key) is src/app/check-key.ts.
 */
import { fingerprint } from '../domain/fingerprint.js';
import {
  acceptedGaps,
  badResponse,
  evaluateKey,
  keyRejected,
  type AcceptedGap,
  type KeyTarget,
  type PolicyOptions,
  type Violation,
} from '../domain/policy.js';
import { KeyctlError } from '@keyctl/client/errors';
import { isIpRefusal, isKeyRefusal, mayBeIpRefusal } from './ccxt.js';
import type { CallOptions, Credentials, ExchangeAccount, ExchangeAdapter, KeyInspection } from './types.js';

export interface InspectKeyInput {
  adapter: ExchangeAdapter;
  account: ExchangeAccount;
  /** The key to check. */
  credentials: Credentials;
  /** What the key must be: a bot key for its slot, or a master key. */
  target: KeyTarget;
  /** The account's master key, for exchanges that describe a bot key only to the master (Binance). */
  master?: Credentials;
  options?: CallOptions & PolicyOptions;
}

export interface KeyCheck {
  fingerprint: string;
  violations: Violation[];
  /** What the exchange said; absent when it refused the key. */
  inspection?: KeyInspection;
  /** Checks the exchange cannot answer that the account accepts (`accounts.<name>.accept`): shown, not violations. */
  accepted?: AcceptedGap[];
  /**
   * Set when the exchange refused the key (the source of the KEY_REJECTED violation), so callers can word what to do:
   * a violation carries no hint, and an IP refusal needs a different remedy (run keyctl from an allowed address) than a
   * dead key (replace it).
   */
  refusal?: {
    /** KEY_REJECTED, PERMISSION_DENIED or IP_NOT_ALLOWED. */
    code: string;
    /** The exchange error's hint: what to do next. */
    hint?: string;
    /**
     * True when the address keyctl runs from is, or may be, why (IP_NOT_ALLOWED; Binance -2015). The key may be alive
     * and fine: rotating it from this host would not help, because the new key is locked to the same addresses.
     */
    address: boolean;
  };
}

/**
 * Inspects the key and applies the key policy. A key the exchange refuses (KEY_REJECTED, PERMISSION_DENIED, or
 * IP_NOT_ALLOWED: refused from this address) gives a KEY_REJECTED violation, not an error: a key keyctl cannot inspect
 * from here is never reported as passing. An answer of an unknown shape gives an EXCHANGE_BAD_RESPONSE violation. Other failures (exchange unreachable, capability gap, master key refused) are
 * thrown as KeyctlErrors.
 */
export async function inspectKey(input: InspectKeyInput): Promise<KeyCheck> {
  const { adapter, account, credentials, target } = input;
  const options = input.options ?? {};
  const fp = fingerprint(credentials.apiKey);
  let inspection: KeyInspection;
  try {
    inspection = await adapter.inspect({
      ...options,
      account,
      key: credentials,
      role: target.kind,
      ...(target.kind === 'bot' ? { subaccount: target.subaccount } : {}),
      ...(input.master ? { master: input.master } : {}),
    });
  } catch (err) {
    // An answer in a shape keyctl does not know: unsafe, reported as what it is (exit 3), never as a clean key.
    if (err instanceof KeyctlError && err.code === 'EXCHANGE_BAD_RESPONSE') {
      return { fingerprint: fp, violations: [badResponse(err.message)] };
    }
    if (isKeyRefusal(err)) {
      // An IP refusal says nothing about the key's permissions: it cannot be verified from here, so it does not pass.
      // Where the address is (or may be) the cause, the detail carries the what-to-do too: a violation has no hint.
      const detail = isIpRefusal(err)
        ? `${err.message.replace(/\.$/, '')}, so keyctl cannot verify this key from here. ${err.hint ?? ''}`.trim()
        : mayBeIpRefusal(err)
          ? `${err.message} ${err.hint ?? ''}`.trim()
          : err.message;
      return {
        fingerprint: fp,
        violations: [keyRejected(detail)],
        refusal: { code: err.code, ...(err.hint ? { hint: err.hint } : {}), address: mayBeIpRefusal(err) },
      };
    }
    throw err;
  }
  const accepted = acceptedGaps(inspection, options);
  return {
    fingerprint: fp,
    violations: evaluateKey(inspection, target, options),
    inspection,
    ...(accepted.length > 0 ? { accepted } : {}),
  };
}
