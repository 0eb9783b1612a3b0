/**
 * The one resolver: what a ref, a bot name, an account name or a staff name the user typed means in the inventory,
 * and where an account's master key is read. Every command, the rotation engine and delivery go through it, so an
 * unknown name fails the same way (same code, same hint) wherever it is typed. Codes (docs/cli.md):
 *
 * - `INVALID_REF`: the text is not a ref at all (bot/sub or @account).
 * - `UNKNOWN_REF`: a well-formed slot or account ref the inventory does not declare.
 * - `UNKNOWN_BOT`: a bot name the inventory does not declare.
 * - `NOT_A_BOT_SLOT`: an account master key where only a bot slot will do (exec, issue, rotate, revoke).
 * - `UNKNOWN_ACCOUNT`: a slot names an account the inventory lacks (the config loader refuses such a config, so only
 *   an inventory built elsewhere can get here).
 * - `UNKNOWN_STAFF`: a person not listed under staff.
 *
 * All are usage errors (exit 2).
 */
import { NotFoundError, UsageError } from '@keyctl/client/errors';
import { fromSecretFields, type Credentials } from './credentials.js';
import type { Account, Inventory, Slot } from './inventory.js';
import { formatRef, parseRef, storePath } from './refs.js';

/** A bot slot's key. */
export interface SlotKey {
  kind: 'slot';
  ref: string;
  /** Secret-store path. */
  path: string;
  account: Account;
  slot: Slot;
}

/** An account's master key. */
export interface MasterKey {
  kind: 'account';
  ref: string;
  path: string;
  account: Account;
}

/** A key keyctl manages: a slot's or an account's. */
export type ManagedKey = SlotKey | MasterKey;

/** Every declared key: master keys (by account name), then slots (by ref). */
export function managedKeys(inv: Inventory): ManagedKey[] {
  const masters = Object.keys(inv.accounts)
    .sort()
    .map((name) => masterKeyOf(inv.accounts[name]!));
  return [...masters, ...inv.slots.map((s) => slotKeyOf(inv, s))];
}

/** A slot's key, with its account. */
export function slotKeyOf(inv: Inventory, slot: Slot): SlotKey {
  return {
    kind: 'slot',
    ref: slot.ref,
    path: storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub }),
    account: accountOf(inv, slot),
    slot,
  };
}

function masterKeyOf(account: Account): MasterKey {
  return { kind: 'account', ref: `@${account.name}`, path: storePath({ kind: 'account', account: account.name }), account };
}

/** The key a ref (`bot/sub` or `@account`) names. */
export function resolveKey(inv: Inventory, text: string): ManagedKey {
  const ref = parseRef(text);
  if (ref.kind === 'account') {
    const account = Object.hasOwn(inv.accounts, ref.account) ? inv.accounts[ref.account] : undefined;
    if (!account) throw unknownRef(inv, formatRef(ref));
    return masterKeyOf(account);
  }
  const slot = inv.slots.find((s) => s.bot === ref.bot && s.sub === ref.sub);
  if (!slot) throw unknownRef(inv, formatRef(ref));
  return slotKeyOf(inv, slot);
}

/**
 * The bot slot a ref names; a master-key ref is refused (NOT_A_BOT_SLOT) with `masterHint` saying what to do
 * instead (it depends on the command: master keys are never handed to bots, and rotated by hand).
 */
export function resolveSlot(inv: Inventory, text: string, masterHint = MASTER_KEYS_STAY): SlotKey {
  const key = resolveKey(inv, text);
  if (key.kind === 'slot') return key;
  throw new UsageError('NOT_A_BOT_SLOT', `${key.ref} is an account master key; this takes a bot slot (bot/subaccount).`, {
    hint: masterHint,
  });
}

const MASTER_KEYS_STAY = 'Name a bot slot, bot/subaccount (e.g. alpha/arb1). Master keys stay with keyctl.';
const MASTER_KEYS_BY_HAND =
  'keyctl rotates bot keys; master keys are replaced by hand: see docs/runbooks/staff-departure.md, then keyctl key import.';

/** Every slot of a declared bot (in ref order). */
export function botSlots(inv: Inventory, bot: string): Slot[] {
  const slots = inv.slots.filter((s) => s.bot === bot);
  if (slots.length > 0) return slots;
  const known = bots(inv);
  throw new UsageError('UNKNOWN_BOT', `${inv.file} declares no bot "${bot}".`, {
    hint: known.length
      ? `Declared bots: ${known.join(', ')}; a single slot is bot/subaccount, e.g. alpha/arb1.`
      : 'The config declares no bots yet; add them under bots: first (see docs/config.md).',
    details: { known },
  });
}

/** Declared bot names, sorted. */
function bots(inv: Inventory): string[] {
  return [...new Set(inv.slots.map((s) => s.bot))].sort();
}

/**
 * Slots by ref: `bot/sub` is one slot, a bare `bot` every slot of that bot; no ref, every slot. Every ref is checked
 * before any is used, duplicates are dropped, and the order is the order given. `masterHint` as for resolveSlot.
 */
export function selectSlots(inv: Inventory, refs: readonly string[], masterHint = MASTER_KEYS_BY_HAND): Slot[] {
  if (refs.length === 0) return inv.slots;
  const selected = new Map<string, Slot>();
  for (const text of refs) {
    const named = !text.includes('/') && !text.startsWith('@') ? botSlots(inv, text) : [resolveSlot(inv, text, masterHint).slot];
    for (const s of named) selected.set(s.ref, s);
  }
  return [...selected.values()];
}

/** The account a slot (or an account name) belongs to. */
export function accountOf(inv: Inventory, slotOrName: Slot | string): Account {
  const name = typeof slotOrName === 'string' ? slotOrName : slotOrName.account;
  const account = Object.hasOwn(inv.accounts, name) ? inv.accounts[name] : undefined;
  if (account) return account;
  const who = typeof slotOrName === 'string' ? '' : `${slotOrName.ref} names account "${name}", which `;
  throw new UsageError('UNKNOWN_ACCOUNT', `${who || `Account "${name}" `}is not declared in ${inv.file}.`, {
    hint: `Declare it under accounts (declared: ${Object.keys(inv.accounts).sort().join(', ') || 'none'}).`,
  });
}

/** A person listed under staff. */
export function staffMember(inv: Inventory, person: string | undefined): string {
  if (person && inv.staff.includes(person)) return person;
  throw new UsageError('UNKNOWN_STAFF', `"${person ?? ''}" is not listed under staff in ${inv.file}.`, {
    hint: `Staff: ${inv.staff.join(', ') || '(none)'}.`,
  });
}

/** The one place an account's master key is read: its CURRENT version, or null when none is stored. */
export async function readMasterKey(store: StageReader, account: string): Promise<Credentials | null> {
  try {
    return fromSecretFields((await store.read(storePath({ kind: 'account', account }), { stage: 'CURRENT' })).secret);
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
}

/** The part of a secret store readMasterKey uses (the domain knows no provider). */
export interface StageReader {
  read(path: string, at: { stage: 'CURRENT' }): Promise<{ secret: Record<string, string> }>;
}

function unknownRef(inv: Inventory, ref: string): UsageError {
  const slot = !ref.startsWith('@');
  const known = slot
    ? inv.slots.map((s) => s.ref)
    : Object.keys(inv.accounts)
        .sort()
        .map((a) => `@${a}`);
  return new UsageError('UNKNOWN_REF', `${inv.file} declares no ${slot ? 'slot' : 'account'} "${ref}".`, {
    hint: known.length
      ? `Declared ${slot ? 'slots' : 'accounts'}: ${known.join(', ')}. Add it under ${slot ? 'bots.<bot>.subaccounts' : 'accounts'} first.`
      : `The config declares no ${slot ? 'bots' : 'accounts'} yet; add them first (see docs/config.md).`,
  });
}
