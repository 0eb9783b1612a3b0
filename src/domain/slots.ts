/**
 * What keyctl manages, as the config declares it: every account master key and every bot slot, each with its ref
 * and store path.
 */
import type { Config } from '../config/load.js';
import { UsageError } from '../errors.js';
import { formatRef, parseRef, storePath, type Ref } from './refs.js';

export interface ManagedKey {
  ref: string;
  kind: Ref['kind'];
  path: string;
  /** Exchange account name (the account itself for master keys). */
  account: string;
}

export function managedKeys(config: Config): ManagedKey[] {
  const accounts = Object.keys(config.accounts)
    .sort()
    .map((name): ManagedKey => ({ ref: `@${name}`, kind: 'account', path: storePath({ kind: 'account', account: name }), account: name }));
  const slots = config.slots.map((s): ManagedKey => ({
    ref: s.ref,
    kind: 'slot',
    path: storePath({ kind: 'slot', bot: s.bot, sub: s.sub }),
    account: s.account,
  }));
  return [...accounts, ...slots];
}

/** Resolves a ref the user typed to a key the config declares, or fails saying which refs exist. */
export function resolveManagedKey(config: Config, text: string): ManagedKey {
  const ref = formatRef(parseRef(text));
  const found = managedKeys(config).find((k) => k.ref === ref);
  if (!found) {
    const known = managedKeys(config).map((k) => k.ref);
    throw new UsageError('UNKNOWN_REF', `${config.file} declares no key "${ref}".`, {
      hint: known.length
        ? `Declared keys: ${known.join(', ')}. Add it under bots.<bot>.subaccounts or accounts first.`
        : 'The config declares no accounts or bots yet; add them first (see docs/config.md).',
    });
  }
  return found;
}
