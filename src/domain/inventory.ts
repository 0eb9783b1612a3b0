/**
 * What keyctl manages, as plain data: exchange accounts (each with a master key), bot slots, and the staff who can see
 * them. The config loader produces it (src/config/load.ts); the domain, the rotation engine and the application layer
 * read this, never the config file, so a daemon or an embedding program can hand them an inventory of its own.
 */
import type { AcceptedGap } from './inspection.js';
import type { RateLimitSetting } from './rate-limit.js';
import type { DeclarableScope } from './scopes.js';

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** When scheduled rotation may run: days of the week and a time range (24-hour `HH:mm`) in an IANA zone. */
export interface RotationWindow {
  days: Weekday[];
  from: string;
  /** Earlier than `from`: the window crosses midnight. */
  to: string;
  zone: string;
}

/** An exchange main account and its master key (`@name`). */
export interface Account {
  name: string;
  /** ccxt exchange id. */
  exchange: string;
  baseUrl?: string;
  /** The main account's own id at the exchange, when declared. */
  uid?: string;
  /** Staff who can see the master key. */
  custodians: string[];
  /** How often the daemon re-verifies the master key (ISO-8601). */
  verify: { every: string };
  /** `accounts.<name>.rateLimit`: calls per second instead of the exchange's documented limits. */
  rateLimit?: RateLimitSetting;
  /** `accounts.<name>.accept`: unverifiable checks accepted as known gaps (policy.ts). */
  accept?: AcceptedGap[];
}

/** One credential a bot uses: `bot/sub`. */
export interface Slot {
  /** `bot/sub` */
  ref: string;
  bot: string;
  sub: string;
  /** Name of the account (see {@link Inventory.accounts}) the sub-account belongs to. */
  account: string;
  /** The exchange's sub-account id. */
  uid: string;
  scopes: DeclarableScope[];
  ips: string[];
  custodians: string[];
  /** ISO-8601 durations. */
  rotate: { every: string; grace: string; window?: RotationWindow };
  /** `onViolation`: what a dangerous violation found by a verification makes keyctl do (config schema ON_VIOLATION). */
  verify: { every: string; onViolation: 'rotate' | 'alert' | 'kill' };
}

export interface Inventory {
  /** Where the inventory was declared (the config file), for messages. */
  file: string;
  accounts: Record<string, Account>;
  /** Sorted by ref. */
  slots: Slot[];
  staff: string[];
}
