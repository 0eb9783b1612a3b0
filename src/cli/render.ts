/**
 * Wording shared by the commands that rotate or revoke (rotate, offboard, revoke, kill): one line per slot, saying what
 * happened and, when nothing new started, how to start it.
 */
import type { ProgressListener } from '../app/progress.js';
import type { OrphanKept, RevokeOutcome, RotationOutcome } from '../rotation/engine.js';
import type { Output } from './output.js';
import type { Progress } from './progress.js';

export type RotateWording = 'manual' | 'force' | 'due';

const REVOKED_BECAUSE: Record<NonNullable<RotationOutcome['revokeReason']>, string> = {
  'grace-over': 'its grace period was over',
  'bots-confirmed': 'every bot using the slot confirmed the new key',
  forced: 'revoked now, as asked',
};

export function describeRotation(o: RotationOutcome, mode: RotateWording): string {
  const old = o.oldFingerprint ? `old key ${o.oldFingerprint}` : 'the old key';
  switch (o.status) {
    case 'rotated': {
      const verb = o.resumed ? 'finished an interrupted rotation' : 'rotated';
      const previous = !o.oldFingerprint
        ? ' (there was no old key)'
        : o.previousRevoked
          ? `, ${old} revoked${o.revokeReason === 'grace-over' ? '' : ` (${REVOKED_BECAUSE[o.revokeReason ?? 'forced']})`}`
          : `, ${old} stays valid until ${o.revokeAfter} (grace period); a later keyctl rotate revokes it`;
      return `${o.ref}: ${verb}: new key ${o.newFingerprint}${previous}.`;
    }
    case 'revoked-previous': {
      const line = `${o.ref}: finished the last rotation: ${old} revoked (${REVOKED_BECAUSE[o.revokeReason ?? 'grace-over']}).`;
      return mode === 'manual' ? `${line} No new rotation was started: keyctl rotate ${o.ref} --force starts one.` : line;
    }
    case 'awaiting-grace':
      return `${o.ref}: the last rotation's ${old} stays valid until ${o.revokeAfter} (grace period); nothing to do yet. keyctl rotate ${o.ref} --force revokes it now and starts a new rotation.`;
    case 'nothing-to-do':
      return `${o.ref}: not due.`;
  }
}

export function describeRevoke(o: RevokeOutcome): string {
  const lines = [
    `${o.ref}: revoked ${o.revoked.length ? o.revoked.join(', ') : 'nothing (no live key)'}${o.orphansDeleted ? `, ${o.orphansDeleted} orphaned key(s) deleted` : ''}.`,
  ];
  for (const f of o.failed) lines.push(`${o.ref}: COULD NOT revoke ${f.fingerprint}: ${f.message}`);
  lines.push(...describeOrphansKept(o.ref, o.orphansKept));
  return lines.join('\n');
}

/**
 * A use case's progress as the CLI shows it: a line per slot on stderr as each finishes (`line` words it), a live
 * status line on a terminal. Call `end` when the use case returns or throws.
 */
export function progressLines<R>(
  out: Output,
  verb: string,
  line: (ref: string, result: R) => string,
): ProgressListener<R> & { end(): void } {
  let progress: Progress | undefined;
  return {
    planned: (refs) => void (progress = out.progress(verb, refs.length)),
    started: (ref) => progress?.begin(ref),
    finished: (ref, result) => progress?.done(ref, line(ref, result)),
    end: () => progress?.end(),
  };
}

/** Orphans the sweep could not delete: alive at the exchange until a person deletes them. */
export function describeOrphansKept(ref: string, kept: readonly OrphanKept[]): string[] {
  return kept.map(
    (k) => `${ref}: ORPHANED KEY STILL ALIVE ${k.fingerprint} (${k.label}): ${k.message}${k.hint ? `\n  hint: ${k.hint}` : ''}`,
  );
}
