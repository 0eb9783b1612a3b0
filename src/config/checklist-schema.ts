/**
 * The `checklist:` section of keyctl.yaml (docs/go-live.md): which go-live items each bot must pass, the items an
 * operator adds (attested by staff), and how long an attestation stays valid.
 *
 *   checklist:
 *     attestationsValidFor: P30D          # then the item is `due` again
 *     optional: [alerts-tested]           # shown, but not required, for every bot
 *     bots:
 *       beta: { optional: [host-hardened], require: [alerts-tested] }
 *     items:
 *       vps-provider-2fa: { title: "2FA on the VPS provider's console", bots: [alpha] }
 *
 * Kept apart from schema.ts so it can be reviewed on its own; schema.ts adds it as `checklist:`. Its duration check
 * is schedules/duration.ts's, as schema.ts's is (imported from there, not from schema.ts, to keep the import one-way).
 */
import * as v from 'valibot';
import { isoDurationMs, MAX_DURATION_MS } from '../../schedules/duration.js';
import { mapping, named, strict } from './schema-kit.js';

/** Checklist item ids: kebab-case, as `keyctl attest <item>` takes them. */
export const CHECKLIST_ITEM_ID = /^[a-z0-9]+(-[a-z0-9]+)*$/;

const itemId = v.pipe(
  v.string(),
  v.regex(CHECKLIST_ITEM_ID, 'checklist item ids are kebab-case: lowercase letters and digits joined by "-"'),
  v.maxLength(63, 'checklist item ids are at most 63 characters'),
);

const validity = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => isoDurationMs(s) !== undefined, 'must be an ISO-8601 duration such as P30D'),
  v.check((s) => (isoDurationMs(s) ?? 0) > 0, 'must be longer than zero: an attestation valid for no time never passes'),
  v.check((s) => (isoDurationMs(s) ?? 0) <= MAX_DURATION_MS, 'must be at most 100 years (P100Y)'),
);

const itemList = v.optional(v.array(itemId), () => []);

export const checklistSchema = strict({
  /** How long an attestation counts (ISO-8601); after it the item is `due` again. Default 30 days. */
  attestationsValidFor: v.optional(validity, 'P30D'),
  /** Item ids shown but not required for any bot (nor for the setup-wide items). */
  optional: itemList,
  /** Per bot: items not required for it (`optional`), and items required for it although optional above (`require`). */
  bots: v.optional(named('Bot', strict({ optional: itemList, require: itemList })), () => ({})),
  /** Items an operator adds: attested by staff like the built-in ones; `bots` limits them to some bots (default all). */
  items: v.optional(
    mapping(
      v.record(
        itemId,
        strict({
          title: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(200)),
          bots: v.optional(v.array(v.pipe(v.string(), v.minLength(1)))),
        }),
      ),
    ),
    () => ({}),
  ),
});

export type ChecklistConfig = v.InferOutput<typeof checklistSchema>;

/** The section as an absent `checklist:` reads: every built-in item required, attestations valid 30 days. */
export function defaultChecklist(): ChecklistConfig {
  return v.parse(checklistSchema, {});
}
