/**
 * The go-live checklist (`keyctl checklist`, docs/go-live.md): what the bot-security guides ask an operator to tick
 * before live capital touches a bot, one row per item and bot. keyctl checks most items itself from what it already
 * holds (the store, the audit log, the config, the host's files: no exchange call), and records who vouched for the
 * rest (`keyctl attest`, src/app/attest.ts). A row is `pass`, `fail` (never done, or found wrong) or `due` (done once,
 * but longer ago than its period allows); a row that does not pass says the command that fixes it.
 *
 * Fail closed: what cannot be read or proven is not a pass.
 */
import { lastKills } from '../audit/kills.js';
import type { AuditEntry, AuditLog } from '../audit/types.js';
import { lastVerifications } from '../audit/verifications.js';
import { defaultChecklist, type ChecklistConfig } from '../config/checklist-schema.js';
import type { Inventory, Slot } from '../domain/inventory.js';
import { keyState } from '../domain/key-state.js';
import { botSlots, managedKeys } from '../domain/resolve.js';
import { UsageError } from '@keyctl/client/errors';
import { configDurationMs } from '../../schedules/duration.js';
import type { HostVerdict } from './checklist-host.js';
import type { AppDeps } from './deps.js';
import { buildSchedule } from './schedule.js';

export type ItemKind = 'automated' | 'attested';
export type ItemStatus = 'pass' | 'fail' | 'due';

export interface ChecklistItem {
  id: string;
  title: string;
  kind: ItemKind;
  /** `bot`: one row per bot; `setup`: one row for the whole setup (bot null). */
  scope: 'bot' | 'setup';
  /** Operator-defined items: the bots it applies to (default every bot). */
  bots?: string[];
}

/** Items only a person can check at the exchange or on the bot's host: `keyctl attest` records who vouched. */
export const ATTESTED_ITEMS: readonly ChecklistItem[] = [
  { id: 'exchange-2fa', title: '2FA on every exchange login of the account and its sub-accounts', kind: 'attested', scope: 'bot' },
  { id: 'withdrawal-whitelist', title: 'withdrawal address whitelist on and locked at the exchange', kind: 'attested', scope: 'bot' },
  { id: 'exchange-notifications', title: 'exchange notifications on for every login and withdrawal', kind: 'attested', scope: 'bot' },
  { id: 'host-hardened', title: "the bot's host hardened: non-root user, key-only SSH, firewall", kind: 'attested', scope: 'bot' },
];

export const AUTOMATED_ITEMS: readonly ChecklistItem[] = [
  { id: 'key-verified', title: 'key verified trade-only and IP-locked within its verify.every', kind: 'automated', scope: 'bot' },
  { id: 'master-withdrawals-off', title: 'withdrawals off on the master keys too', kind: 'automated', scope: 'bot' },
  { id: 'one-key-per-slot', title: 'one key per slot, no key shared between slots or bots', kind: 'automated', scope: 'bot' },
  { id: 'own-sub-account', title: 'the bot on its own sub-account', kind: 'automated', scope: 'bot' },
  { id: 'rotation-age', title: 'key age within the rotation policy', kind: 'automated', scope: 'bot' },
  { id: 'no-flagged-key', title: 'no key flagged or failing its last verification', kind: 'automated', scope: 'bot' },
  { id: 'kill-drill', title: 'a kill drill (kill --dry-run) within 30 days', kind: 'automated', scope: 'bot' },
  { id: 'alerts-tested', title: 'alert channels configured and alert test delivered within 30 days', kind: 'automated', scope: 'setup' },
  {
    id: 'scheduler-ran',
    title: 'the daemon, or cron rotate --due and verify --due, ran within its period',
    kind: 'automated',
    scope: 'setup',
  },
  { id: 'audit-chain', title: 'the audit chain verifies', kind: 'automated', scope: 'setup' },
  { id: 'store-permissions', title: 'store directory and files readable by their owner only', kind: 'automated', scope: 'setup' },
  {
    id: 'master-key-placement',
    title: 'the master key not in a file beside the store or in the config',
    kind: 'automated',
    scope: 'setup',
  },
  { id: 'config-no-secrets', title: 'no secret-looking strings in the config file', kind: 'automated', scope: 'setup' },
];

/** A drill or an alert test older than this is due again (monthly, as the guides ask). */
export const MONTHLY_MS = 30 * 86_400_000;
/** A `rotate --due` run older than this is stale: a daily cron is what docs/schedules.md sets up. */
const ROTATE_DUE_MAX_MS = 2 * 86_400_000;
const HOUR_MS = 3_600_000;
/** How far in the future an attestation's time may be (clocks of the hosts sharing a log differ a little). */
const CLOCK_SKEW_MS = 5 * 60_000;

export interface ChecklistRow {
  id: string;
  title: string;
  kind: ItemKind;
  /** Null for a setup-wide item. */
  bot: string | null;
  /** Whether the row counts for the exit code (config `checklist:`). */
  required: boolean;
  status: ItemStatus;
  /** What was checked, when, by whom. */
  evidence: string;
  /** The command (or step) that fixes it, when it does not pass. */
  fix?: string;
}

export interface ChecklistReport {
  /** Every required row passes. */
  ok: boolean;
  checkedAt: string;
  rows: ChecklistRow[];
}

/**
 * Each bot's verdict in a report: its own required rows and the setup-wide ones all pass. `keyctl checklist` records
 * them (`checklist.verdict`, audited), and `exec --strict` starts a bot only on a recent passing one.
 */
export function botVerdicts(report: ChecklistReport): Array<{ bot: string; passed: boolean; failing: string[] }> {
  const bots = [...new Set(report.rows.flatMap((r) => (r.bot === null ? [] : [r.bot])))];
  return bots.map((bot) => {
    const failing = report.rows.filter((r) => r.required && r.status !== 'pass' && (r.bot === bot || r.bot === null)).map((r) => r.id);
    return { bot, passed: failing.length === 0, failing };
  });
}

/** The file-system checks, done by the caller (src/app/checklist-host.ts) so this stays free of the host. */
export interface HostVerdicts {
  storePermissions: HostVerdict;
  masterKeyPlacement: HostVerdict;
  configSecrets: HostVerdict;
}

export type ChecklistDeps = Pick<AppDeps, 'inventory' | 'store' | 'now'> & {
  audit: Pick<AuditLog, 'tail' | 'verify' | 'latest'>;
  /** The config's `checklist:` section; default {@link defaultChecklist}. */
  checklist?: ChecklistConfig;
  /** Names of the configured alert channels. */
  alertChannels: string[];
  host: HostVerdicts;
};

/** Every item for this inventory: the built-in ones, then the operator's. Throws on a `checklist:` naming unknowns. */
export function checklistItems(inventory: Inventory, config: ChecklistConfig = defaultChecklist()): ChecklistItem[] {
  const builtIn = [...AUTOMATED_ITEMS, ...ATTESTED_ITEMS];
  const ids = new Set(builtIn.map((i) => i.id));
  const declared = new Set(inventory.slots.map((s) => s.bot));
  const problems: string[] = [];
  const extra: ChecklistItem[] = [];
  for (const [id, item] of Object.entries(config.items)) {
    if (ids.has(id)) problems.push(`checklist.items.${id}: a built-in item has this id`);
    for (const b of item.bots ?? []) if (!declared.has(b)) problems.push(`checklist.items.${id}.bots: no bot "${b}"`);
    extra.push({ id, title: item.title, kind: 'attested', scope: 'bot', ...(item.bots ? { bots: item.bots } : {}) });
    ids.add(id);
  }
  const known = (list: string[], at: string) => {
    for (const id of list) if (!ids.has(id)) problems.push(`${at}: no checklist item "${id}"`);
  };
  known(config.optional, 'checklist.optional');
  for (const [bot, b] of Object.entries(config.bots)) {
    if (!declared.has(bot)) problems.push(`checklist.bots.${bot}: no bot "${bot}"`);
    known(b.optional, `checklist.bots.${bot}.optional`);
    known(b.require, `checklist.bots.${bot}.require`);
  }
  if (problems.length > 0) {
    throw new UsageError(
      'CHECKLIST_CONFIG',
      `${inventory.file}: the checklist section names what does not exist: ${problems.join('; ')}.`,
      {
        hint: `Items: ${[...ids].join(', ')}. See docs/go-live.md.`,
      },
    );
  }
  return [...builtIn, ...extra];
}

/** Whether `item` is required for `bot` (null: a setup-wide item). */
function isRequired(config: ChecklistConfig, id: string, bot: string | null): boolean {
  const perBot = bot === null ? undefined : config.bots[bot];
  if (perBot?.require.includes(id)) return true;
  return !config.optional.includes(id) && !perBot?.optional.includes(id);
}

/** The bots the checklist covers: every declared bot, or the one named (UNKNOWN_BOT when it is not declared). */
function botsOf(inventory: Inventory, bot: string | undefined): string[] {
  if (bot !== undefined) return [botSlots(inventory, bot)[0]!.bot];
  return [...new Set(inventory.slots.map((s) => s.bot))];
}

export async function checklist(deps: ChecklistDeps, input: { bot?: string } = {}): Promise<ChecklistReport> {
  const { inventory } = deps;
  const config = deps.checklist ?? defaultChecklist();
  const items = checklistItems(inventory, config);
  const bots = botsOf(inventory, input.bot);
  const now = deps.now();
  const facts = await gather(deps);
  const rows: ChecklistRow[] = [];

  for (const item of items.filter((i) => i.scope === 'setup')) {
    rows.push({ ...row(item, null, config), ...setupCheck(item.id, deps, facts, now) });
  }
  const attestations = await lastAttestations(deps.audit, items, bots);
  const validMs = configDurationMs(config.attestationsValidFor);
  for (const bot of bots) {
    const slots = inventory.slots.filter((s) => s.bot === bot);
    for (const item of items.filter((i) => i.scope === 'bot' && (!i.bots || i.bots.includes(bot)))) {
      const verdict =
        item.kind === 'attested'
          ? attestedCheck(item, bot, attestations.get(`${item.id} ${bot}`), validMs, now, inventory.staff)
          : botCheck(item.id, bot, slots, deps, facts, now);
      rows.push({ ...row(item, bot, config), ...verdict });
    }
  }
  // No bot declared: nothing has been shown ready, so the gate stays shut (fail closed) however the setup rows look.
  const ok = bots.length > 0 && rows.every((r) => !r.required || r.status === 'pass');
  return { ok, checkedAt: new Date(now).toISOString(), rows };
}

function row(item: ChecklistItem, bot: string | null, config: ChecklistConfig) {
  return { id: item.id, title: item.title, kind: item.kind, bot, required: isRequired(config, item.id, bot) };
}

type Verdict = Pick<ChecklistRow, 'status' | 'evidence' | 'fix'>;

/** What the checks read, gathered once. */
interface Facts {
  /** Per managed key ref: its CURRENT version's fingerprint and flags (null: none stored). */
  current: Map<string, { fingerprint?: string; flags?: string } | null>;
  verified: Map<string, AuditEntry>;
  schedule: Awaited<ReturnType<typeof buildSchedule>>;
  kills: Awaited<ReturnType<typeof lastKills>>;
  alertTests: Map<string, AuditEntry>;
  dueRuns: Map<string, AuditEntry>;
  chain: { ok: boolean; entries: number };
}

async function gather(deps: ChecklistDeps): Promise<Facts> {
  const keys = managedKeys(deps.inventory);
  const current = new Map<string, { fingerprint?: string; flags?: string } | null>();
  for (const k of keys) {
    const info = await deps.store.describe(k.path);
    const id = info?.stages.CURRENT;
    const v = id ? info?.versions.find((x) => x.id === id) : undefined;
    current.set(
      k.ref,
      v ? { ...(v.meta.fingerprint ? { fingerprint: v.meta.fingerprint } : {}), ...(v.meta.flags ? { flags: v.meta.flags } : {}) } : null,
    );
  }
  const verified = await lastVerifications(deps.audit, new Set(keys.map((k) => k.ref)));
  const schedule = await buildSchedule(deps);
  const kills = await lastKills(deps.audit, new Set(deps.inventory.slots.map((s) => s.bot)));
  const alertTests = await latestEntries(
    deps.audit,
    'alert test',
    (e) => (typeof e.detail?.channel === 'string' ? [e.detail.channel] : []),
    new Set(deps.alertChannels),
  );
  const dueRuns = await latestEntries(
    deps.audit,
    'due.run',
    (e) => (typeof e.detail?.runner === 'string' ? [e.detail.runner] : []),
    new Set(['daemon', 'rotate', 'verify']),
  );
  const report = await deps.audit.verify();
  return { current, verified, schedule, kills, alertTests, dueRuns, chain: { ok: report.ok, entries: report.entries } };
}

/**
 * The latest `command` entry for each key in `want` (`keysOf` says which keys an entry is for), from the audit log's
 * latest-entry cache (src/audit/latest.ts): never the whole log.
 */
async function latestEntries(
  audit: Pick<AuditLog, 'latest'>,
  command: string,
  keysOf: (e: AuditEntry) => string[],
  want: ReadonlySet<string>,
): Promise<Map<string, AuditEntry>> {
  const found = new Map<string, AuditEntry>();
  if (want.size === 0) return found;
  // Oldest first, so a later entry overwrites an earlier one.
  for (const e of await audit.latest([command])) for (const k of keysOf(e)) if (want.has(k)) found.set(k, e);
  return found;
}

/** Each (item, bot)'s latest `attest` entry, keyed `<item> <bot>`. */
async function lastAttestations(audit: Pick<AuditLog, 'latest'>, items: ChecklistItem[], bots: string[]): Promise<Map<string, AuditEntry>> {
  const want = new Set(items.filter((i) => i.kind === 'attested').flatMap((i) => bots.map((b) => `${i.id} ${b}`)));
  return latestEntries(audit, 'attest', (e) => (e.outcome === 'ok' ? [`${String(e.detail?.item)} ${String(e.detail?.bot)}`] : []), want);
}

/** One attested item for one bot: when it was last attested and until when that counts (null: never attested). */
export interface AttestationState {
  item: string;
  bot: string;
  by: string | null;
  at: string | null;
  validUntil: string | null;
}

/** Every attested item of every bot (the review's "attestations coming due" reads it). */
export async function attestationStates(deps: {
  inventory: Inventory;
  audit: Pick<AuditLog, 'latest'>;
  checklist?: ChecklistConfig;
}): Promise<AttestationState[]> {
  const config = deps.checklist ?? defaultChecklist();
  const items = checklistItems(deps.inventory, config).filter((i) => i.kind === 'attested');
  const bots = botsOf(deps.inventory, undefined);
  const found = await lastAttestations(deps.audit, items, bots);
  const validMs = configDurationMs(config.attestationsValidFor);
  return items.flatMap((item) =>
    bots
      .filter((bot) => !item.bots || item.bots.includes(bot))
      .map((bot) => {
        const e = found.get(`${item.id} ${bot}`);
        const t = e ? Date.parse(e.time) : NaN;
        return {
          item: item.id,
          bot,
          by: e ? String(e.detail?.by) : null,
          at: e?.time ?? null,
          validUntil: Number.isFinite(t) ? new Date(t + validMs).toISOString() : null,
        };
      }),
  );
}

/** Age of an ISO time at `now`; Infinity for an unreadable time (it then counts as never: fail closed). */
function ageMs(iso: string | undefined, now: number): number {
  const t = iso === undefined ? NaN : Date.parse(iso);
  return Number.isFinite(t) ? now - t : Infinity;
}

function day(iso: string): string {
  return iso.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, 'Z');
}

function days(ms: number): string {
  return ms >= 86_400_000 ? `${Math.round(ms / 86_400_000)}d` : `${Math.round(ms / HOUR_MS)}h`;
}

const RANK: Record<ItemStatus, number> = { pass: 0, due: 1, fail: 2 };

/** Several slots' verdicts as one row: the worst status, every slot's evidence, the fixes of what does not pass. */
function combine(parts: Verdict[]): Verdict {
  const status = parts.reduce<ItemStatus>((w, p) => (RANK[p.status] > RANK[w] ? p.status : w), 'pass');
  const fixes = [...new Set(parts.filter((p) => p.status !== 'pass' && p.fix).map((p) => p.fix!))];
  return { status, evidence: parts.map((p) => p.evidence).join('; '), ...(fixes.length ? { fix: fixes.join('; ') } : {}) };
}

function attestedCheck(
  item: ChecklistItem,
  bot: string,
  entry: AuditEntry | undefined,
  validMs: number,
  now: number,
  staff: readonly string[],
): Verdict {
  const fix = `keyctl attest ${item.id} ${bot} --by <staff> --note "<what you checked>"`;
  if (!entry) return { status: 'fail', evidence: 'never attested', fix };
  const age = ageMs(entry.time, now);
  const by = `attested by ${String(entry.detail?.by)} (run by ${entry.actor}) on ${day(entry.time)}`;
  // Someone since removed from staff (offboarded) no longer vouches for anything: their word must be given again.
  if (typeof entry.detail?.by !== 'string' || !staff.includes(entry.detail.by)) {
    return { status: 'fail', evidence: `${by}, who is no longer listed under staff`, fix };
  }
  // A time in the future (a clock set back, an edited entry) proves nothing about now: fail closed.
  if (age < -CLOCK_SKEW_MS) return { status: 'fail', evidence: `${by}: a time in the future`, fix };
  const note = typeof entry.detail?.note === 'string' ? `: ${entry.detail.note}` : '';
  if (age <= validMs) return { status: 'pass', evidence: `${by}${note}` };
  return { status: 'due', evidence: `${by}, older than ${days(validMs)}`, fix };
}

/** A key's last verification, judged against its period: ok and recent passes; never, failed or found unsafe fails. */
function verification(ref: string, facts: Facts, everyIso: string, now: number, fix: string, what = 'key'): Verdict {
  const cur = facts.current.get(ref);
  if (!cur) return { status: 'fail', evidence: `${ref}: no ${what} stored`, fix: `keyctl key import ${ref} < key.json` };
  const state = keyState(ref, cur, facts.verified.get(ref));
  const last = state.lastVerification;
  if (!last) return { status: 'fail', evidence: `${ref}: key ${cur.fingerprint ?? '?'} never verified`, fix };
  if (last.outcome === 'refused') {
    return {
      status: 'fail',
      evidence: `${ref}: last verification ${day(last.time)} found ${last.violations.join(', ') || 'a violation'}`,
      fix,
    };
  }
  if (last.outcome !== 'ok') {
    return { status: 'fail', evidence: `${ref}: last verification ${day(last.time)} could not check it (${last.error ?? 'error'})`, fix };
  }
  const every = configDurationMs(everyIso);
  if (ageMs(last.time, now) > every) {
    return { status: 'due', evidence: `${ref}: verified ok ${day(last.time)}, longer ago than verify.every ${everyIso}`, fix };
  }
  return { status: 'pass', evidence: `${ref}: verified ok ${day(last.time)}` };
}

function botCheck(id: string, bot: string, slots: Slot[], deps: ChecklistDeps, facts: Facts, now: number): Verdict {
  const inv = deps.inventory;
  switch (id) {
    case 'key-verified':
      return combine(slots.map((s) => verification(s.ref, facts, s.verify.every, now, `keyctl verify ${s.ref}`)));
    case 'master-withdrawals-off': {
      const accounts = [...new Set(slots.map((s) => s.account))];
      return combine(
        accounts.map((a) => {
          const ref = `@${a}`;
          const every = inv.accounts[a]?.verify.every ?? 'PT1H';
          return verification(
            ref,
            facts,
            every,
            now,
            `keyctl verify ${ref} (if withdrawals are on: turn them off at the exchange)`,
            'master key',
          );
        }),
      );
    }
    case 'one-key-per-slot': {
      const owners = new Map<string, string[]>();
      for (const [ref, cur] of facts.current) {
        if (cur?.fingerprint) owners.set(cur.fingerprint, [...(owners.get(cur.fingerprint) ?? []), ref]);
      }
      return combine(
        slots.map((s): Verdict => {
          const cur = facts.current.get(s.ref);
          if (!cur?.fingerprint)
            return { status: 'fail', evidence: `${s.ref}: no key stored`, fix: `keyctl key import ${s.ref} < key.json` };
          const shared = (owners.get(cur.fingerprint) ?? []).filter((r) => r !== s.ref);
          if (shared.length > 0) {
            return {
              status: 'fail',
              evidence: `${s.ref}: key ${cur.fingerprint} is also the CURRENT key of ${shared.join(', ')}`,
              fix: `keyctl rotate ${s.ref}`,
            };
          }
          return { status: 'pass', evidence: `${s.ref}: key ${cur.fingerprint}, its own` };
        }),
      );
    }
    case 'own-sub-account':
      return combine(
        slots.map((s): Verdict => {
          const fix = `give ${bot} a sub-account of its own (bots.${bot}.subaccounts.${s.sub}.uid in ${inv.file})`;
          const main = inv.accounts[s.account]?.uid;
          if (main !== undefined && main === s.uid) {
            return { status: 'fail', evidence: `${s.ref}: uid ${s.uid} is the main account of ${s.account}`, fix };
          }
          const others = inv.slots.filter((o) => o.bot !== bot && o.account === s.account && o.uid === s.uid).map((o) => o.ref);
          if (others.length > 0) return { status: 'fail', evidence: `${s.ref}: sub-account ${s.uid} also holds ${others.join(', ')}`, fix };
          return { status: 'pass', evidence: `${s.ref}: sub-account ${s.uid} of ${s.account}, no other bot's` };
        }),
      );
    case 'rotation-age':
      return combine(
        slots.map((s): Verdict => {
          const sch = facts.schedule.find((x) => x.ref === s.ref);
          if (!sch || sch.state === 'missing' || !sch.lastRotation) {
            return { status: 'fail', evidence: `${s.ref}: no key stored`, fix: `keyctl key import ${s.ref} < key.json` };
          }
          const next = sch.nextRotation ?? '';
          if (sch.rotationDue || ageMs(next, now) >= 0) {
            return {
              status: 'due',
              evidence: `${s.ref}: key from ${day(sch.lastRotation)}, rotation due ${next ? day(next) : ''} (rotate.every ${s.rotate.every})`,
              fix: `keyctl rotate ${s.ref}`,
            };
          }
          return { status: 'pass', evidence: `${s.ref}: key from ${day(sch.lastRotation)}, next rotation ${day(next)}` };
        }),
      );
    case 'no-flagged-key': {
      const refs = [...new Set([...slots.map((s) => s.ref), ...slots.map((s) => `@${s.account}`)])];
      return combine(
        refs.map((ref): Verdict => {
          const cur = facts.current.get(ref);
          if (!cur) return { status: 'fail', evidence: `${ref}: no key stored`, fix: `keyctl key import ${ref} < key.json` };
          const state = keyState(ref, cur, facts.verified.get(ref));
          if (state.unsafe) {
            return {
              status: 'fail',
              evidence: `${ref}: ${state.unsafe}`,
              fix: ref.startsWith('@') ? `keyctl verify ${ref}; replace it by hand` : `keyctl verify ${ref}; keyctl rotate ${ref}`,
            };
          }
          return { status: 'pass', evidence: `${ref}: not flagged` };
        }),
      );
    }
    case 'kill-drill': {
      const drill = facts.kills.get(bot)?.drill;
      const fix = `keyctl kill ${bot} --dry-run --reason "monthly drill"`;
      if (!drill) return { status: 'fail', evidence: 'no kill drill on record', fix };
      const by = `last drill ${day(drill.time)} by ${drill.actor}`;
      return ageMs(drill.time, now) <= MONTHLY_MS
        ? { status: 'pass', evidence: by }
        : { status: 'due', evidence: `${by}, over 30 days ago`, fix };
    }
    default:
      // An automated item this switch does not know cannot pass (fail closed).
      return { status: 'fail', evidence: `no check for "${id}"` };
  }
}

function setupCheck(id: string, deps: ChecklistDeps, facts: Facts, now: number): Verdict {
  switch (id) {
    case 'alerts-tested': {
      if (deps.alertChannels.length === 0) {
        return {
          status: 'fail',
          evidence: 'no alert channel configured',
          fix: `add one under alerts: in ${deps.inventory.file} (docs/alerts.md)`,
        };
      }
      return combine(
        deps.alertChannels.map((channel): Verdict => {
          const fix = `keyctl alert test ${channel}`;
          const e = facts.alertTests.get(channel);
          if (!e) return { status: 'fail', evidence: `${channel}: never tested`, fix };
          if (e.outcome !== 'ok') return { status: 'fail', evidence: `${channel}: last test ${day(e.time)} was not delivered`, fix };
          if (ageMs(e.time, now) > MONTHLY_MS)
            return { status: 'due', evidence: `${channel}: last delivered ${day(e.time)}, over 30 days ago`, fix };
          return { status: 'pass', evidence: `${channel}: test delivered ${day(e.time)}` };
        }),
      );
    }
    case 'scheduler-ran':
      return schedulerCheck(deps.inventory, facts, now);
    case 'audit-chain':
      return facts.chain.ok
        ? { status: 'pass', evidence: `${facts.chain.entries} entries, chain verifies` }
        : { status: 'fail', evidence: 'the audit chain does not verify', fix: 'keyctl audit verify' };
    case 'store-permissions':
      return deps.host.storePermissions;
    case 'master-key-placement':
      return deps.host.masterKeyPlacement;
    case 'config-no-secrets':
      return deps.host.configSecrets;
    default:
      return { status: 'fail', evidence: `no check for "${id}"` };
  }
}

/**
 * The schedule is kept when the daemon recorded a cycle, or a `verify --due` ran, within twice the shortest
 * verify.every (at least an hour), and (without the daemon) a `rotate --due` within two days.
 */
function schedulerCheck(inventory: Inventory, facts: Facts, now: number): Verdict {
  const periods = [...inventory.slots.map((s) => s.verify.every), ...Object.values(inventory.accounts).map((a) => a.verify.every)].map(
    configDurationMs,
  );
  const verifyMax = 2 * Math.max(HOUR_MS, periods.length ? Math.min(...periods) : 86_400_000);
  const fix = 'run keyctl daemon, or cron keyctl verify --due and keyctl rotate --due (docs/schedules.md)';
  const seen = (runner: string, max: number) => {
    const e = facts.dueRuns.get(runner);
    return { e, fresh: e !== undefined && ageMs(e.time, now) <= max };
  };
  const daemon = seen('daemon', verifyMax);
  if (daemon.fresh) return { status: 'pass', evidence: `daemon cycle recorded ${day(daemon.e!.time)}` };
  const verify = seen('verify', verifyMax);
  const rotate = seen('rotate', ROTATE_DUE_MAX_MS);
  const said = (name: string, s: { e?: AuditEntry }) => `${name} ${s.e ? `last ran ${day(s.e.time)}` : 'never ran'}`;
  const evidence = `${said('verify --due', verify)}, ${said('rotate --due', rotate)}, ${said('the daemon', daemon)} (allowed: verify ${days(verifyMax)}, rotate ${days(ROTATE_DUE_MAX_MS)})`;
  if (verify.fresh && rotate.fresh) return { status: 'pass', evidence };
  const ever = verify.e || rotate.e || daemon.e;
  return { status: ever ? 'due' : 'fail', evidence, fix };
}
