/**
 * `keyctl attest <item> [bot] --by <staff>`: a staff member vouches for a checklist item only a person can check (2FA
 * on the exchange logins, the withdrawal whitelist, ...). One audit entry per bot, with the claimed name (`by`) and
 * the actor who ran the command; the checklist counts it for `checklist.attestationsValidFor` (default 30 days).
 */
import { defaultChecklist, type ChecklistConfig } from '../config/checklist-schema.js';
import { botSlots, staffMember } from '../domain/resolve.js';
import { UsageError } from '@keyctl/client/errors';
import { configDurationMs } from '../../schedules/duration.js';
import { checklistItems } from './checklist.js';
import type { AppDeps } from './deps.js';

const MAX_NOTE = 500;

export type AttestDeps = Pick<AppDeps, 'inventory' | 'events' | 'now'> & { checklist?: ChecklistConfig };

export interface AttestInput {
  item: string;
  /** One bot; undefined: every bot the item applies to. */
  bot?: string;
  /** The staff member who vouches (must be listed under staff). */
  by: string;
  note?: string;
}

export interface AttestResult {
  item: string;
  bots: string[];
  by: string;
  /** Until when the attestation counts (ISO). */
  validUntil: string;
}

export async function attest(deps: AttestDeps, input: AttestInput): Promise<AttestResult> {
  const { inventory } = deps;
  const config = deps.checklist ?? defaultChecklist();
  // Who vouches is checked first: a name not under staff is refused whatever else is wrong.
  const by = staffMember(inventory, input.by);
  const items = checklistItems(inventory, config);
  const item = items.find((i) => i.id === input.item);
  if (!item) {
    throw new UsageError('UNKNOWN_ITEM', `No checklist item "${input.item}".`, {
      hint: `Attested items: ${items
        .filter((i) => i.kind === 'attested')
        .map((i) => i.id)
        .join(', ')}.`,
    });
  }
  if (item.kind !== 'attested') {
    throw new UsageError('NOT_ATTESTED', `"${item.id}" is checked by keyctl itself, not attested.`, {
      hint: 'keyctl checklist shows the command that fixes it.',
    });
  }
  const note = input.note?.trim();
  if (input.note !== undefined && (!note || note.length > MAX_NOTE || /[\r\n]/.test(note))) {
    throw new UsageError('BAD_NOTE', `--note must be one line of 1 to ${MAX_NOTE} characters.`, {
      hint: 'Say what was checked, e.g. --note "YubiKey on both logins, checked in the exchange security page".',
    });
  }
  const declared = input.bot !== undefined ? [botSlots(inventory, input.bot)[0]!.bot] : [...new Set(inventory.slots.map((s) => s.bot))];
  const bots = declared.filter((b) => !item.bots || item.bots.includes(b));
  if (bots.length === 0) {
    throw new UsageError('ITEM_NOT_FOR_BOT', `"${item.id}" does not apply to ${input.bot ?? 'any declared bot'}.`, {
      hint: item.bots ? `It applies to: ${item.bots.join(', ')}.` : 'Declare bots under bots: first.',
    });
  }
  for (const bot of bots) {
    await deps.events.emit({ type: 'attestation', item: item.id, bot, by, ...(note ? { note } : {}) });
  }
  const validUntil = new Date(deps.now() + configDurationMs(config.attestationsValidFor)).toISOString();
  return { item: item.id, bots, by, validUntil };
}
