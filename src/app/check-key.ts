/**
 * Checking one key at its exchange against the key policy: the step `verify` and `key import` share. Which account
 * and what the key must be come from the inventory; the account's master key (some exchanges describe a bot key only
 * to it) from the store. The exchange half is src/exchanges/inspect-key.ts.
 */
import type { Credentials } from '../domain/credentials.js';
import type { KeyTarget, PolicyOptions } from '../domain/policy.js';
import { readMasterKey, resolveKey, type ManagedKey } from '../domain/resolve.js';
import { inspectKey, type KeyCheck } from '../exchanges/inspect-key.js';
import { exchangeAccount } from '../exchanges/types.js';
import type { AppDeps } from './deps.js';

export type CheckKeyDeps = Pick<AppDeps, 'inventory' | 'store' | 'adapter' | 'call'>;

export interface CheckKeyInput {
  /** The key's ref, resolved or as typed. */
  key: ManagedKey | string;
  /** The key to check (from stdin at import, from the store at verify). */
  credentials: Credentials;
  /** The master key, when the caller holds it already (saves a store read). */
  master?: Credentials;
  policy?: PolicyOptions;
}

export interface CheckKeyResult extends KeyCheck {
  ref: string;
}

/**
 * A key the exchange refuses is a KEY_REJECTED violation, never a pass; an exchange that cannot be asked (down,
 * no inspection API, master key refused) is a thrown KeyctlError.
 */
export async function checkKey(deps: CheckKeyDeps, input: CheckKeyInput): Promise<CheckKeyResult> {
  const key = typeof input.key === 'string' ? resolveKey(deps.inventory, input.key) : input.key;
  const adapter = await deps.adapter(key.account.exchange);
  const master = key.kind === 'slot' ? (input.master ?? (await readMasterKey(deps.store, key.account.name))) : null;
  const target: KeyTarget =
    key.kind === 'slot'
      ? { kind: 'bot', scopes: key.slot.scopes, ips: key.slot.ips, subaccount: key.slot.uid }
      : {
          kind: 'master',
          exchange: key.account.exchange,
          masterScopes: adapter.capabilities.masterScopes,
          ...(key.account.uid ? { uid: key.account.uid } : {}),
        };
  const check = await inspectKey({
    adapter,
    account: exchangeAccount(key.account),
    credentials: input.credentials,
    target,
    ...(master ? { master } : {}),
    options: { ...deps.call, ...input.policy, ...(key.account.accept ? { accept: key.account.accept } : {}) },
  });
  return { ref: key.ref, ...check };
}
