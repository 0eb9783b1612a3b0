/**
 * The key policy: what "safe" means for a key, as a pure function of what the exchange says about it (a
 * KeyInspection) and what the config declares. No I/O, no clock unless given.
 *
 * Bot keys: no withdraw, no transfer, no key management; every scope declared (`read` is implied by any key); locked
 * to IP addresses that are all declared; in the declared sub-account; able to trade when the slot trades; not about to
 * expire. Master keys: `keys:manage` plus exactly the scopes their exchange requires for it, never withdraw, IP-locked.
 */
import type { KeyInspection } from './inspection.js';
import { isTradeScope, type DeclarableScope, type Scope } from './scopes.js';

/** Stable violation codes (part of the `--json` output contract). */
export const VIOLATION_CODES = [
  'WITHDRAW_ENABLED',
  'TRANSFER_ENABLED',
  'NOT_IP_LOCKED',
  'IP_MISMATCH',
  'EXCESS_SCOPE',
  'MISSING_SCOPE',
  'WRONG_ACCOUNT',
  'EXPIRING',
  'KEY_REJECTED',
  'UNKNOWN_PERMISSION',
  'EXCHANGE_BAD_RESPONSE',
] as const;
export type ViolationCode = (typeof VIOLATION_CODES)[number];

export interface Violation {
  code: ViolationCode;
  /** One human sentence: what is wrong and with what. Never holds secret material. */
  detail: string;
  /** EXCESS_SCOPE: the scopes held beyond what is allowed. */
  scopes?: string[];
}

/** What a bot's slot declares. */
export interface BotKeyTarget {
  kind: 'bot';
  scopes: readonly DeclarableScope[];
  ips: readonly string[];
  /** The exchange's sub-account id the key must belong to. */
  subaccount: string;
}

/** What an account's master key must be. */
export interface MasterKeyTarget {
  kind: 'master';
  exchange: string;
  /** Scopes the exchange requires on a master key to manage sub-account keys (ExchangeCapabilities.masterScopes). */
  masterScopes: readonly Scope[];
  /** The main account's uid, when the config declares it. */
  uid?: string;
}

export type KeyTarget = BotKeyTarget | MasterKeyTarget;

export interface PolicyOptions {
  /** Epoch ms; defaults to Date.now(). */
  now?: number;
  /** A key expiring within this window (ms) is flagged EXPIRING. Default 7 days. */
  expiryWarningMs?: number;
}

export const DEFAULT_EXPIRY_WARNING_MS = 7 * 86_400_000;

const isUnknown = (s: Scope) => s.startsWith('unknown:');

/** Evaluates one inspected key against its target. An empty array means the key passes. */
export function evaluateKey(inspection: KeyInspection, target: KeyTarget, options: PolicyOptions = {}): Violation[] {
  const v: Violation[] = [];
  const scopes = new Set(inspection.scopes);
  const who = target.kind === 'bot' ? 'This bot key' : 'This master key';

  if (scopes.has('withdraw')) v.push({ code: 'WITHDRAW_ENABLED', detail: `${who} can withdraw funds; no key kept by keyctl may.` });

  const allowed = new Set<Scope>(['read', ...(target.kind === 'bot' ? target.scopes : target.masterScopes)]);
  if (scopes.has('transfer') && !allowed.has('transfer')) {
    v.push({ code: 'TRANSFER_ENABLED', detail: `${who} can move funds between accounts (internal, universal or sub-account transfer).` });
  }
  const excess = [...scopes].filter((s) => !isUnknown(s) && s !== 'withdraw' && s !== 'transfer' && !allowed.has(s));
  if (excess.length > 0) {
    const declared = target.kind === 'bot' ? 'the slot declares' : `${target.exchange} requires for managing sub-account keys`;
    v.push({ code: 'EXCESS_SCOPE', detail: `${who} holds ${excess.join(', ')}, beyond what ${declared}.`, scopes: excess });
  }
  const unknown = [...scopes].filter(isUnknown).map((s) => s.slice('unknown:'.length));
  if (unknown.length > 0) {
    v.push({ code: 'UNKNOWN_PERMISSION', detail: `${who} holds permissions keyctl cannot judge: ${unknown.join(', ')}.` });
  }

  if (target.kind === 'bot') {
    v.push(...botIps(inspection, target));
    v.push(...botOwner(inspection, target));
    const trades = target.scopes.filter(isTradeScope);
    const lacking = trades.filter((s) => !scopes.has(s));
    if (trades.length > 0 && inspection.readOnly) {
      v.push({ code: 'MISSING_SCOPE', detail: `The key is read-only, but the slot declares ${trades.join(', ')}.` });
    } else if (lacking.length > 0) {
      // A trading right the exchange withdrew (Binance unchecks trading on keys without an IP list after 30 days).
      v.push({ code: 'MISSING_SCOPE', detail: `The key lacks ${lacking.join(', ')}, which the slot declares.`, scopes: lacking });
    }
  } else {
    if (inspection.ips === 'unrestricted')
      v.push({ code: 'NOT_IP_LOCKED', detail: 'The master key works from any address; lock it to the addresses keyctl runs from.' });
    if (inspection.owner.isMaster === false)
      v.push({ code: 'WRONG_ACCOUNT', detail: 'This is a sub-account key, not a main-account (master) key.' });
    else if (target.uid && inspection.owner.uid && inspection.owner.uid !== target.uid) {
      v.push({ code: 'WRONG_ACCOUNT', detail: `The key belongs to account ${inspection.owner.uid}, not ${target.uid} as configured.` });
    }
    const missing = target.masterScopes.filter((s) => !scopes.has(s));
    if (missing.length > 0) {
      v.push({
        code: 'MISSING_SCOPE',
        detail: `The master key lacks ${missing.join(', ')}, which ${target.exchange} requires to manage sub-account keys.`,
      });
    }
  }

  const expiring = expiry(inspection, options);
  if (expiring) v.push(expiring);
  return v;
}

function botIps(inspection: KeyInspection, target: BotKeyTarget): Violation[] {
  if (inspection.ips === 'unrestricted')
    return [{ code: 'NOT_IP_LOCKED', detail: "The key works from any address; it must be locked to the bot's addresses." }];
  // A key outside the declared sub-account is WRONG_ACCOUNT; its unreadable allowlist is no separate finding.
  if (inspection.ips === 'restricted' && inspection.owner.subaccount === null) return [];
  if (inspection.ips === 'restricted') {
    return [
      { code: 'IP_MISMATCH', detail: 'The key is IP-locked, but the exchange did not say to which addresses, so they cannot be compared.' },
    ];
  }
  const declared = new Set(target.ips.map(normIp));
  const extra = inspection.ips.filter((ip) => !declared.has(normIp(ip)));
  if (extra.length > 0) {
    return [
      {
        code: 'IP_MISMATCH',
        detail: `The key's allowlist includes ${extra.join(', ')}, which the slot does not declare (declared: ${target.ips.join(', ')}).`,
      },
    ];
  }
  return [];
}

function botOwner(inspection: KeyInspection, target: BotKeyTarget): Violation[] {
  const { owner } = inspection;
  if (owner.isMaster === true)
    return [{ code: 'WRONG_ACCOUNT', detail: 'This is a main-account (master) key; a bot must use a sub-account key.' }];
  if (owner.subaccount === null) return [{ code: 'WRONG_ACCOUNT', detail: `The key is not in sub-account ${target.subaccount}.` }];
  if (owner.subaccount !== undefined && owner.subaccount.toLowerCase() !== target.subaccount.toLowerCase()) {
    return [{ code: 'WRONG_ACCOUNT', detail: `The key belongs to sub-account ${owner.subaccount}, not ${target.subaccount}.` }];
  }
  return [];
}

function expiry(inspection: KeyInspection, options: PolicyOptions): Violation | undefined {
  if (!inspection.expiresAt) return undefined;
  const at = Date.parse(inspection.expiresAt);
  if (Number.isNaN(at)) return undefined;
  const now = options.now ?? Date.now();
  const window = options.expiryWarningMs ?? DEFAULT_EXPIRY_WARNING_MS;
  if (at <= now) return { code: 'EXPIRING', detail: `The key (or its trading permission) expired at ${inspection.expiresAt}.` };
  if (at - now <= window) {
    const days = Math.max(1, Math.ceil((at - now) / 86_400_000));
    return {
      code: 'EXPIRING',
      detail: `The key (or its trading permission) expires at ${inspection.expiresAt}, within ${days} day${days === 1 ? '' : 's'}.`,
    };
  }
  return undefined;
}

function normIp(ip: string): string {
  return ip.trim().toLowerCase();
}

/**
 * The violation for a key whose inspection the exchange answered in a shape keyctl does not know (a field missing, of
 * another type, or a value the documentation does not list): unsafe until proven otherwise, never "no scope".
 */
export function badResponse(detail: string): Violation {
  return { code: 'EXCHANGE_BAD_RESPONSE', detail };
}

/** The violation for a key the exchange does not accept (wrong secret, deleted, expired, refused from here). */
export function keyRejected(detail: string): Violation {
  return { code: 'KEY_REJECTED', detail };
}
