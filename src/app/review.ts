/**
 * `keyctl review --since 7d`: the weekly (or monthly) review the bot-security guides ask for, from the audit log: what
 * changed in the period and what needs a person. Verifications that failed, drift found (a verification that found a
 * violation) and whether a later one passed, rotations, kills and drills, offboards, attestations made and coming due,
 * keys nearing their exchange expiry, alerts that did not reach their channel, audit anchor losses.
 *
 * The log is read backwards only as far as the period (growing reads from the end until an entry older than the
 * period's start shows up, or the log ends): a long history costs nothing extra for a weekly review.
 */
import type { AuditEntry, AuditLog } from '../audit/types.js';
import type { ChecklistConfig } from '../config/checklist-schema.js';
import type { Inventory } from '../domain/inventory.js';
import { attestationStates, type AttestationState } from './checklist.js';

export interface ReviewDeps {
  inventory: Inventory;
  audit: Pick<AuditLog, 'tail' | 'latest'>;
  now: () => number;
  checklist?: ChecklistConfig;
}

/** One thing that happened, as the review lists it. */
export interface ReviewItem {
  time: string;
  actor: string;
  ref?: string;
  /** One line: what happened. */
  what: string;
}

export interface Review {
  since: string;
  until: string;
  /** Audit entries in the period. */
  entries: number;
  /** Entries in the period by audit command. */
  counts: Record<string, number>;
  /** Verifications that found a violation or could not check the key. */
  verificationsFailed: ReviewItem[];
  /** Refs whose verification found a violation in the period: `fixed` when a later one in the period passed. */
  drift: Array<{ ref: string; found: string; codes: string; fixed: string | null }>;
  /** Keys promoted by a rotation, and rotations that failed their test or got stuck. */
  rotations: ReviewItem[];
  rotationProblems: ReviewItem[];
  kills: ReviewItem[];
  drills: ReviewItem[];
  offboards: ReviewItem[];
  attestations: ReviewItem[];
  /** Attested items whose attestation has lapsed, never was made, or lapses before the next review of the same length. */
  attestationsComingDue: AttestationState[];
  /** Keys whose last verification in the period warned of their exchange expiry (EXPIRING). */
  expiring: ReviewItem[];
  alertFailures: ReviewItem[];
  auditProblems: ReviewItem[];
}

/** How many entries the first read takes from the end; each further read takes four times as many. */
const FIRST_READ = 1_000;

/** The audit entries at or after `since` (ms), oldest first, reading back from the end only as far as needed. */
export async function entriesSince(audit: Pick<AuditLog, 'tail'>, since: number): Promise<AuditEntry[]> {
  for (let n = FIRST_READ; ; n *= 4) {
    const entries = await audit.tail(n);
    const first = entries[0];
    const reachedStart = first !== undefined && Date.parse(first.time) < since;
    if (reachedStart || entries.length < n) {
      // An entry with an unreadable time is kept (fail closed: shown rather than hidden).
      return entries.filter((e) => !(Date.parse(e.time) < since));
    }
  }
}

export async function review(deps: ReviewDeps, input: { sinceMs: number }): Promise<Review> {
  const now = deps.now();
  const since = now - input.sinceMs;
  const entries = await entriesSince(deps.audit, since);
  const result: Review = {
    since: new Date(since).toISOString(),
    until: new Date(now).toISOString(),
    entries: entries.length,
    counts: {},
    verificationsFailed: [],
    drift: [],
    rotations: [],
    rotationProblems: [],
    kills: [],
    drills: [],
    offboards: [],
    attestations: [],
    attestationsComingDue: [],
    expiring: [],
    alertFailures: [],
    auditProblems: [],
  };
  const drift = new Map<string, { ref: string; found: string; codes: string; fixed: string | null }>();
  const expiring = new Map<string, ReviewItem>();
  for (const e of entries) {
    result.counts[e.command] = (result.counts[e.command] ?? 0) + 1;
    const item = (what: string): ReviewItem => ({ time: e.time, actor: e.actor, ...(e.ref ? { ref: e.ref } : {}), what });
    const d = e.detail ?? {};
    switch (e.command) {
      case 'verify': {
        const codes = String(d.violations ?? '');
        if (e.outcome !== 'ok') {
          result.verificationsFailed.push(
            item(e.outcome === 'refused' ? `violation: ${codes}` : `not checked: ${String(d.error ?? 'error')}`),
          );
        }
        if (e.ref && e.outcome === 'refused') drift.set(e.ref, { ref: e.ref, found: e.time, codes, fixed: null });
        else if (e.ref && e.outcome === 'ok') {
          const open = drift.get(e.ref);
          if (open && open.fixed === null) open.fixed = e.time;
        }
        if (e.ref) {
          if (codes.split(',').includes('EXPIRING')) expiring.set(e.ref, item('expires soon at the exchange'));
          else if (e.outcome === 'ok') expiring.delete(e.ref);
        }
        break;
      }
      case 'rotate.promote':
        result.rotations.push(item(`rotated to key ${e.fingerprint ?? '?'} (was ${String(d.previous ?? 'none')})`));
        break;
      case 'rotate.test':
        if (e.outcome === 'refused') result.rotationProblems.push(item(`new key failed its test: ${String(d.violations ?? '')}`));
        break;
      case 'rotate.stuck':
        result.rotationProblems.push(item(`rotation stuck at ${String(d.step)} since ${String(d.since)}`));
        break;
      case 'rotate.sweep':
        if (e.outcome === 'failed') result.rotationProblems.push(item(`orphan key could not be deleted: ${String(d.error ?? '')}`));
        break;
      case 'kill':
        result.kills.push(
          item(`kill of ${String(d.bots)}: ${String(d.reason)} (${String(d.revoked)} revoked, ${String(d.failed)} failed)`),
        );
        break;
      case 'kill.drill':
        result.drills.push(item(`drill for ${String(d.bots)}: ${String(d.reason)}`));
        break;
      case 'offboard':
        result.offboards.push(item(`offboarded ${String(d.staff)}: ${String(d.rotated)} rotated, ${String(d.failed)} failed`));
        break;
      case 'attest':
        result.attestations.push(
          item(`${String(d.item)} for ${String(d.bot)} attested by ${String(d.by)}${d.note ? `: ${String(d.note)}` : ''}`),
        );
        break;
      case 'alert':
        result.alertFailures.push(item(`${String(d.event)} to ${String(d.channel)}: ${String(d.outcome)} (${String(d.error)})`));
        break;
      case 'alert test':
        if (e.outcome !== 'ok') result.alertFailures.push(item(`alert test to ${String(d.channel)} failed (${String(d.error)})`));
        break;
      case 'audit.anchor-lost':
        result.auditProblems.push(item(`audit head anchor ${String(d.anchor)}: investigate, then keyctl audit ack`));
        break;
      default:
        break;
    }
  }
  result.drift = [...drift.values()];
  result.expiring = [...expiring.values()];
  // Coming due: lapsed, never made, or lapsing before a review of the same length would come round again.
  const horizon = now + input.sinceMs;
  result.attestationsComingDue = (await attestationStates(deps)).filter(
    (a) => a.validUntil === null || Date.parse(a.validUntil) <= horizon,
  );
  return result;
}

/** The review as Markdown, for a weekly report. */
/**
 * The review in one line, for an alert channel (the daemon's `--review-every`): the counts a person acts on, and the
 * command that shows the rest. Refs and counts only, never a secret.
 */
export function reviewSummary(r: Review, period: string): string {
  const parts = [
    `${r.verificationsFailed.length} verification(s) failed`,
    `${r.drift.filter((d) => d.fixed === null).length} drift not fixed`,
    `${r.rotations.length} rotation(s)`,
    `${r.rotationProblems.length} rotation problem(s)`,
    `${r.kills.length} kill(s)`,
    `${r.attestationsComingDue.length} attestation(s) due`,
    `${r.expiring.length} key(s) nearing expiry`,
    `${r.alertFailures.length} alert(s) not delivered`,
    `${r.auditProblems.length} audit problem(s)`,
  ];
  return `keyctl review of the last ${period}: ${parts.join(', ')}. Details: keyctl review --since ${period}`;
}

export function reviewMarkdown(r: Review): string {
  const out: string[] = [
    `# keyctl review: ${r.since.slice(0, 10)} to ${r.until.slice(0, 10)}`,
    '',
    `${r.entries} audit entries in the period.`,
    '',
  ];
  const list = (title: string, items: string[]) => {
    out.push(`## ${title}`, '');
    out.push(...(items.length ? items.map((i) => `- ${i}`) : ['- none']), '');
  };
  const line = (i: ReviewItem) => `${i.time.slice(0, 16).replace('T', ' ')}Z ${i.ref ? `\`${i.ref}\` ` : ''}${i.what} (${i.actor})`;
  list('Needs a person', [
    ...r.verificationsFailed.map(line),
    ...r.drift.filter((d) => d.fixed === null).map((d) => `\`${d.ref}\` drift found ${d.found.slice(0, 10)} (${d.codes}), not fixed yet`),
    ...r.rotationProblems.map(line),
    ...r.expiring.map(line),
    ...r.alertFailures.map(line),
    ...r.auditProblems.map(line),
    ...r.attestationsComingDue.map(
      (a) =>
        `${a.item} for ${a.bot}: ${a.validUntil ? `attestation lapses ${a.validUntil.slice(0, 10)}` : 'never attested'} (keyctl attest ${a.item} ${a.bot} --by <staff>)`,
    ),
  ]);
  list(
    'Drift found and fixed',
    r.drift
      .filter((d) => d.fixed !== null)
      .map((d) => `\`${d.ref}\` ${d.codes} found ${d.found.slice(0, 10)}, fixed ${d.fixed!.slice(0, 10)}`),
  );
  list('Rotations', r.rotations.map(line));
  list('Kills and drills', [...r.kills.map(line), ...r.drills.map(line)]);
  list('Offboards', r.offboards.map(line));
  list('Attestations', r.attestations.map(line));
  list(
    'All events',
    Object.entries(r.counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([c, n]) => `${c}: ${n}`),
  );
  return out.join('\n');
}
