/**
 * Settings read from the environment, in one place. The CLI reads them; use cases receive the parsed values (a daemon
 * may read them from elsewhere).
 */
import type { CallOptions } from '../exchanges/types.js';

/** Network behaviour from KEYCTL_EXCHANGE_TIMEOUT_MS, KEYCTL_EXCHANGE_ATTEMPTS and KEYCTL_EXCHANGE_BACKOFF_MS. */
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

/** KEYCTL_LEASE_MS: how long a killed rotation holds its slot before another run may take over (default 30 s). */
export function leaseMsFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const ms = Number(env.KEYCTL_LEASE_MS);
  return Number.isInteger(ms) && ms >= 300 ? ms : undefined;
}

/** KEYCTL_PROPAGATION_WAIT_MS: how long rotation keeps testing a new key the exchange still refuses (default 20 s). */
export function propagationWaitMsFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.KEYCTL_PROPAGATION_WAIT_MS;
  if (raw === undefined || raw === '') return undefined;
  const ms = Number(raw);
  return Number.isInteger(ms) && ms >= 0 ? ms : undefined;
}
