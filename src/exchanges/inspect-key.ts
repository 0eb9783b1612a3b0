/**
 * Inspect one key at its exchange and judge it by the key policy: the step shared by `keyctl verify`,
 * `keyctl key import` and the rotation engine's test step.
 */
import type { AccountConfig, Config, SlotConfig } from '../config/load.js';
import { fingerprint } from '../domain/fingerprint.js';
import { evaluateKey, keyRejected, type KeyTarget, type PolicyOptions, type Violation } from '../domain/policy.js';
import { formatRef, parseRef, storePath, type Ref } from '../domain/refs.js';
import { NotFoundError, UsageError } from '../errors.js';
import type { SecretStore } from '../../providers/types.js';
import { isIpRefusal, isKeyRefusal, mayBeIpRefusal } from './ccxt.js';
import { getAdapter } from './registry.js';
import type { CallOptions, Credentials, KeyInspection } from './types.js';

export interface CheckKeyInput {
  config: Config;
  /** `bot/sub` or `@account`, parsed or not. */
  ref: Ref | string;
  /** The key to check (from stdin at import, from the store at verify). */
  credentials: Credentials;
  /** Where the account's master key is read from when the exchange needs it to describe a bot key. */
  store?: SecretStore;
  /** The master key, when the caller already holds it (saves a store read). */
  master?: Credentials;
  options?: CallOptions & PolicyOptions;
}

export interface CheckKeyResult {
  ref: string;
  fingerprint: string;
  violations: Violation[];
  /** What the exchange said; absent when it rejected the key. */
  inspection?: KeyInspection;
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

/** The config entries a ref names: its account, and its slot for bot refs. Throws UsageError for an unknown ref. */
export function resolveTarget(config: Config, ref: Ref): { account: AccountConfig; slot?: SlotConfig } {
  if (ref.kind === 'account') {
    const account = config.accounts[ref.account];
    if (!account) {
      throw new UsageError('UNKNOWN_ACCOUNT', `No account "${ref.account}" in ${config.file}.`, {
        hint: `Configured accounts: ${Object.keys(config.accounts).join(', ') || '(none)'}.`,
      });
    }
    return { account };
  }
  const text = formatRef(ref);
  const slot = config.slots.find((s) => s.ref === text);
  if (!slot) {
    throw new UsageError('UNKNOWN_SLOT', `No slot "${text}" in ${config.file}.`, {
      hint: 'Declare it under bots.<bot>.subaccounts.<sub> in the config, or check the spelling.',
    });
  }
  const account = config.accounts[slot.account];
  if (!account) {
    throw new UsageError('UNKNOWN_ACCOUNT', `Slot ${text} names account "${slot.account}", which is not configured.`, {
      hint: 'Add it under accounts in the config.',
    });
  }
  return { account, slot };
}

/** Credentials from a stored version's secret fields. */
export function credentialsFrom(secret: Record<string, string>): Credentials | undefined {
  if (!secret.apiKey || !secret.secret) return undefined;
  return { apiKey: secret.apiKey, secret: secret.secret, ...(secret.passphrase ? { passphrase: secret.passphrase } : {}) };
}

/** The account's CURRENT master key from the store, or undefined when none is stored. */
export async function readMasterKey(store: SecretStore, account: string): Promise<Credentials | undefined> {
  try {
    const v = await store.read(storePath({ kind: 'account', account }), { stage: 'CURRENT' });
    return credentialsFrom(v.secret);
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

/** Network behaviour from the environment: KEYCTL_EXCHANGE_TIMEOUT_MS, KEYCTL_EXCHANGE_ATTEMPTS. */
export function callOptionsFromEnv(env: NodeJS.ProcessEnv): CallOptions {
  const out: CallOptions = {};
  const timeout = Number(env.KEYCTL_EXCHANGE_TIMEOUT_MS);
  if (Number.isFinite(timeout) && timeout > 0) out.timeoutMs = timeout;
  const attempts = Number(env.KEYCTL_EXCHANGE_ATTEMPTS);
  if (Number.isInteger(attempts) && attempts > 0) out.attempts = attempts;
  const backoff = Number(env.KEYCTL_EXCHANGE_BACKOFF_MS);
  if (Number.isFinite(backoff) && backoff >= 0) out.backoffMs = backoff;
  return out;
}

/**
 * Inspects `credentials` at the exchange of `ref`'s account and applies the key policy. A key the exchange refuses
 * (KEY_REJECTED, PERMISSION_DENIED, or IP_NOT_ALLOWED: refused from this address) gives a KEY_REJECTED violation, not
 * an error: a key keyctl cannot inspect from here is never reported as passing, and `verify` / `key import` refuse it
 * (exit 3). Other failures (exchange unreachable, capability gap, master key refused) are thrown as KeyctlErrors.
 */
export async function checkKey(input: CheckKeyInput): Promise<CheckKeyResult> {
  const ref = typeof input.ref === 'string' ? parseRef(input.ref) : input.ref;
  const { account, slot } = resolveTarget(input.config, ref);
  const adapter = await getAdapter(account.exchange);
  const fp = fingerprint(input.credentials.apiKey);
  const refText = formatRef(ref);
  const options = input.options ?? {};

  const master = slot ? (input.master ?? (input.store ? await readMasterKey(input.store, account.name) : undefined)) : undefined;
  let inspection: KeyInspection;
  try {
    inspection = await adapter.inspect({
      ...options,
      account,
      key: input.credentials,
      role: slot ? 'bot' : 'master',
      ...(slot ? { subaccount: slot.uid } : {}),
      ...(master ? { master } : {}),
    });
  } catch (err) {
    if (isKeyRefusal(err)) {
      // An IP refusal says nothing about the key's permissions: it cannot be verified from here, so it does not pass.
      // Where the address is (or may be) the cause, the detail carries the what-to-do too: a violation has no hint.
      const detail = isIpRefusal(err)
        ? `${err.message.replace(/\.$/, '')}, so keyctl cannot verify this key from here. ${err.hint ?? ''}`.trim()
        : mayBeIpRefusal(err)
          ? `${err.message} ${err.hint ?? ''}`.trim()
          : err.message;
      return {
        ref: refText,
        fingerprint: fp,
        violations: [keyRejected(detail)],
        refusal: { code: err.code, ...(err.hint ? { hint: err.hint } : {}), address: mayBeIpRefusal(err) },
      };
    }
    throw err;
  }
  const target: KeyTarget = slot
    ? { kind: 'bot', scopes: slot.scopes, ips: slot.ips, subaccount: slot.uid }
    : {
        kind: 'master',
        exchange: account.exchange,
        masterScopes: adapter.capabilities.masterScopes,
        ...(account.uid ? { uid: account.uid } : {}),
      };
  return { ref: refText, fingerprint: fp, violations: evaluateKey(inspection, target, options), inspection };
}
