/**
 * The key policy: what "safe" means for a key, as a pure function of what the exchange says about it (a
 * KeyInspection) and what the config declares. No I/O, no clock unless given.
 *
 * Bot keys: no withdraw, no transfer, no key management; every scope declared (`read` is implied by any key); locked
 * to IP addresses that are all declared; in the declared sub-account; able to trade when the slot trades; not about to
 * expire. Master keys: `keys:manage` plus exactly the scopes their exchange requires for it, never withdraw, IP-locked.
 *
 * "IP-locked" means an allowlist of at least one entry, none wider than /24 (IPv4) or /48 (IPv6): a range that wide is
 * a network, not the bot's addresses (an entry for "anywhere" in any spelling, `0.0.0.0/00`, `::0/0`, `1.2.3.4/0`,
 * `::ffff:0.0.0.0/0`, reads as unrestricted). Entries are compared in canonical form (parseAllowlistEntry).
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { UNVERIFIABLE_CHECKS, type AcceptedGap, type KeyInspection, type UnverifiableCheck } from './inspection.js';
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
  'UNVERIFIABLE',
] as const;
export type ViolationCode = (typeof VIOLATION_CODES)[number];

export interface Violation {
  code: ViolationCode;
  /** One human sentence: what is wrong and with what. Never holds secret material. */
  detail: string;
  /** EXCESS_SCOPE: the scopes held beyond what is allowed. */
  scopes?: string[];
  /** UNVERIFIABLE: the policy check the exchange cannot answer. */
  check?: UnverifiableCheck;
}

export { ACCEPTABLE_GAPS, type AcceptedGap } from './inspection.js';

const GAP_DETAIL: Record<UnverifiableCheck, string> = {
  'ip-lock': "The exchange does not report the key's IP allowlist, so keyctl cannot verify that the key is IP-locked.",
  owner: 'The exchange does not report which account or sub-account the key belongs to, so keyctl cannot verify it.',
};

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
  /** The account's accepted gaps (`accounts.<name>.accept`): these unverifiable checks are no violation. */
  accept?: readonly AcceptedGap[];
}

/** The checks the exchange could not answer for this key (`ips: 'unreported'` implies `ip-lock`), in a stable order. */
export function unverifiableChecks(inspection: KeyInspection): UnverifiableCheck[] {
  const gaps = new Set(inspection.unverifiable ?? []);
  if (inspection.ips === 'unreported') gaps.add('ip-lock');
  return UNVERIFIABLE_CHECKS.filter((c) => gaps.has(c));
}

/** The gaps of this key that the account accepts (shown by verify instead of a violation). */
export function acceptedGaps(inspection: KeyInspection, options: Pick<PolicyOptions, 'accept'> = {}): AcceptedGap[] {
  const accepted = new Set<string>(options.accept ?? []);
  return unverifiableChecks(inspection)
    .map((c) => `${c}-unverifiable` as const)
    .filter((g) => accepted.has(g));
}

export const DEFAULT_EXPIRY_WARNING_MS = 7 * 86_400_000;

const isUnknown = (s: Scope) => s.startsWith('unknown:');

/** Evaluates one inspected key against its target. An empty array means the key passes. */
export function evaluateKey(inspection: KeyInspection, target: KeyTarget, options: PolicyOptions = {}): Violation[] {
  const v: Violation[] = [];
  const scopes = new Set(inspection.scopes);
  const gaps = unverifiableChecks(inspection);
  const accepted = new Set<string>(acceptedGaps(inspection, options));
  // Never a silent pass: a check the exchange cannot answer is a violation until the account accepts the gap.
  for (const check of gaps) {
    if (accepted.has(`${check}-unverifiable`)) continue;
    v.push({
      code: 'UNVERIFIABLE',
      check,
      detail: `${GAP_DETAIL[check]} Accept the gap with \`accept: [${check}-unverifiable]\` on the account, or use another exchange.`,
    });
  }
  const ipUnknown = gaps.includes('ip-lock');
  const ownerUnknown = gaps.includes('owner');
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
    if (!ipUnknown) v.push(...botIps(inspection, target));
    if (!ownerUnknown) v.push(...botOwner(inspection, target));
    const trades = target.scopes.filter(isTradeScope);
    const lacking = trades.filter((s) => !scopes.has(s));
    if (trades.length > 0 && inspection.readOnly) {
      v.push({ code: 'MISSING_SCOPE', detail: `The key is read-only, but the slot declares ${trades.join(', ')}.` });
    } else if (lacking.length > 0) {
      // A trading right the exchange withdrew (Binance unchecks trading on keys without an IP list after 30 days).
      v.push({ code: 'MISSING_SCOPE', detail: `The key lacks ${lacking.join(', ')}, which the slot declares.`, scopes: lacking });
    }
  } else {
    if (ipUnknown) {
      // Reported above as UNVERIFIABLE (or accepted): nothing to compare.
    } else if (inspection.ips === 'unrestricted')
      v.push({ code: 'NOT_IP_LOCKED', detail: 'The master key works from any address; lock it to the addresses keyctl runs from.' });
    else if (Array.isArray(inspection.ips)) {
      const lock = lockProblem(inspection.ips, who);
      if (lock) v.push(lock);
    }
    if (ownerUnknown) {
      // Reported above as UNVERIFIABLE (or accepted).
    } else if (inspection.owner.isMaster === false)
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
  // Unreported: evaluateKey reports it as UNVERIFIABLE (unless accepted) and does not call this for it.
  if (inspection.ips === 'unreported') return [];
  if (inspection.ips === 'restricted' && inspection.owner.subaccount === null) return [];
  if (inspection.ips === 'restricted') {
    return [
      { code: 'IP_MISMATCH', detail: 'The key is IP-locked, but the exchange did not say to which addresses, so they cannot be compared.' },
    ];
  }
  const lock = lockProblem(inspection.ips, 'This bot key');
  if (lock) return [lock];
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
  if (inspection.expiresAt === undefined) return undefined;
  const at = Date.parse(inspection.expiresAt);
  // An expiry keyctl cannot read could be tomorrow: never read as "no expiry".
  if (Number.isNaN(at))
    return badResponse("The key's expiry time is not a date keyctl can read, so it cannot tell when the key stops working.");
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
  return parseAllowlistEntry(ip.trim())?.text ?? ip.trim().toLowerCase();
}

/**
 * NOT_IP_LOCKED for an allowlist (already not 'unrestricted') that is no lock: empty, or holding an entry that is not an
 * address, or a range wider than MAX_LOCK_PREFIX allows.
 */
function lockProblem(ips: readonly string[], who: string): Violation | undefined {
  if (ips.length === 0) {
    return { code: 'NOT_IP_LOCKED', detail: `${who} has an empty IP allowlist: it is not locked to any address.` };
  }
  const entries = ips.map((ip) => ({ ip, entry: parseAllowlistEntry(ip.trim()) }));
  if (entries.some(({ entry }) => entry?.anywhere)) {
    return { code: 'NOT_IP_LOCKED', detail: `${who} works from any address (its allowlist holds an entry for the whole internet).` };
  }
  const wide = entries.filter(({ entry }) => !entry || entry.prefix < MAX_LOCK_PREFIX[entry.family]).map(({ ip }) => ip);
  if (wide.length === 0) return undefined;
  return {
    code: 'NOT_IP_LOCKED',
    detail: `${who}'s allowlist holds ${wide.join(', ')}: a range too wide to be an IP lock (wider than /24 for IPv4 or /48 for IPv6, or not an address).`,
  };
}

/** The widest block an allowlist entry may be and still count as an IP lock, by address family. */
export const MAX_LOCK_PREFIX = { 4: 24, 6: 48 } as const;

/** One allowlist entry in canonical form. */
export interface AllowlistEntry {
  family: 4 | 6;
  /** The prefix length: 32 (IPv4) or 128 (IPv6) for a single address. */
  prefix: number;
  /** The canonical text: the network address (host bits cleared), then `/prefix` unless it is a single address. */
  text: string;
  /** The entry lets every address in: `*`, any /0, or an IPv6 block that holds every IPv4-mapped address. */
  anywhere: boolean;
}

/** ::ffff:0:0, the first address of the /96 that IPv4-mapped addresses live in. */
const IPV4_MAPPED = ipaddr.IPv6.parse('::ffff:0:0');

/**
 * Parses an allowlist entry an exchange reports: `*`, an address, or a CIDR block, in any spelling node:net accepts
 * (`0::`, `0:0:0:0:0:0:0:0`, `::ffff:1.2.3.4`) and with a mask given numerically (`/00` is /0). An IPv4-mapped IPv6
 * entry reads as the IPv4 block it is. Host bits below the mask are cleared (`203.0.113.7/24` is `203.0.113.0/24`): the
 * block is what the exchange enforces, whatever address it was written with. Undefined for anything else (a zone id,
 * a mask above the family's length, a second `/`).
 */
export function parseAllowlistEntry(entry: string): AllowlistEntry | undefined {
  if (entry === '*') return { family: 4, prefix: 0, text: '*', anywhere: true };
  const parts = entry.split('/');
  const [address, bits] = parts;
  if (parts.length > 2 || !address || address.includes('%')) return undefined;
  // node:net decides what is an address: ipaddr.js alone also takes `0x7f.0.0.1`, `010.0.0.1` and `127.1`.
  const version = isIP(address);
  if (version !== 4 && version !== 6) return undefined;
  if (bits !== undefined && !/^\d{1,5}$/.test(bits)) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return undefined;
  if (version === 4) return canonical(ipaddr.IPv4.networkAddressFromCIDR(`${address}/${prefix}`), prefix);
  // ipaddr.js reads the deprecated IPv4-compatible `::a.b.c.d` as `::ffff:a.b.c.d`; `0::a.b.c.d` is the address
  // node:net accepted (::a.b:c.d), not an IPv4-mapped one.
  const v6 = /^::[\d.]+$/.test(address) ? `0${address}` : address;
  const ip = ipaddr.IPv6.parse(v6);
  if (prefix >= 96 && ip.isIPv4MappedAddress()) {
    // ::ffff:a.b.c.d/p is the IPv4 block a.b.c.d/(p-96).
    return canonical(ipaddr.IPv4.networkAddressFromCIDR(`${ip.toIPv4Address().toString()}/${prefix - 96}`), prefix - 96);
  }
  const net = ipaddr.IPv6.networkAddressFromCIDR(`${v6}/${prefix}`);
  if (prefix < 96 && ip.match(IPV4_MAPPED, prefix)) {
    // A block that holds ::ffff:0:0/96 lets in every IPv4 client an exchange maps into IPv6.
    return { family: 6, prefix, text: `${net.toRFC5952String()}/${prefix}`, anywhere: true };
  }
  return canonical(net, prefix);
}

/** The entry for a network address: dotted IPv4 or RFC 5952 IPv6, `/prefix` unless it is a single address. */
function canonical(net: ipaddr.IPv4 | ipaddr.IPv6, prefix: number): AllowlistEntry {
  const [family, max, address] =
    net instanceof ipaddr.IPv6 ? ([6, 128, net.toRFC5952String()] as const) : ([4, 32, net.toString()] as const);
  return { family, prefix, text: prefix === max ? address : `${address}/${prefix}`, anywhere: prefix === 0 };
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
