/**
 * Refs name what a user acts on: `bot/sub` is a bot's slot, `@account` an exchange account's master key.
 * Each maps to one path in the secret store.
 */
import { UsageError } from '@keyctl/client/errors';

export type Ref = { kind: 'slot'; bot: string; sub: string } | { kind: 'account'; account: string };

const PART = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function parseRef(text: string): Ref {
  if (text.startsWith('@')) {
    const account = text.slice(1);
    if (PART.test(account)) return { kind: 'account', account };
  } else {
    const [bot, sub, ...rest] = text.split('/');
    if (bot && sub && rest.length === 0 && PART.test(bot) && PART.test(sub)) return { kind: 'slot', bot, sub };
  }
  throw new UsageError('INVALID_REF', `"${text}" is not a key reference.`, {
    hint: 'Use bot/subaccount for a bot key (e.g. alpha/arb1) or @account for an account master key (e.g. @bybit-main).',
  });
}

export function formatRef(ref: Ref): string {
  return ref.kind === 'slot' ? `${ref.bot}/${ref.sub}` : `@${ref.account}`;
}

/** The secret-store path of a ref. */
export function storePath(ref: Ref): string {
  return ref.kind === 'slot' ? `bots/${ref.bot}/${ref.sub}` : `accounts/${ref.account}`;
}

/** The ref stored at a path, or null for paths keyctl does not own. */
export function refFromPath(path: string): Ref | null {
  const parts = path.split('/');
  if (parts[0] === 'bots' && parts.length === 3) return { kind: 'slot', bot: parts[1]!, sub: parts[2]! };
  if (parts[0] === 'accounts' && parts.length === 2) return { kind: 'account', account: parts[1]! };
  return null;
}
