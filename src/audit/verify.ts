/**
 * Chain analysis: from what each line of the log is (a genuine entry, an entry whose MAC fails, or a malformed line)
 * and the head anchor, names every problem with the entry and line it concerns.
 *
 * "Genuine" means the entry's MAC verifies under the audit key, so it was written by keyctl (or someone holding the
 * store). Genuine entries must appear once each, in file order, with seqs 1, 2, 3... each `prev` naming the entry
 * before. A line whose MAC fails either stands in a genuine entry's place (edited) or has no place (inserted).
 */
import { GENESIS } from './chain.js';
import type { AuditProblem } from './types.js';

/** What one line of the log turned out to be. Compact on purpose: verify keeps one of these per line. */
export type LineRecord =
  | { line: number; kind: 'malformed'; seq: number | null; reason: string }
  | {
      line: number;
      kind: 'entry';
      seq: number;
      prev: string;
      mac: string;
      genuine: boolean;
      /** A genuine entry recording a lost head anchor (`audit.anchor-lost`), with what the append found. */
      anchorLost?: string;
      /** A genuine acknowledgement (`audit.ack`) of every anchor loss up to this seq. */
      ackThrough?: number;
    };

/** The head anchor as read from disk. */
export type HeadState =
  | { state: 'missing' }
  | { state: 'malformed'; reason: string }
  | { state: 'forged'; seq: number | null }
  | { state: 'ok'; seq: number; mac: string };

type EntryRecord = Extract<LineRecord, { kind: 'entry' }>;

function range(a: number, b: number): string {
  return a === b ? `entry ${a} is` : `entries ${a}-${b} are`;
}

/**
 * Genuine `audit.anchor-lost` entries no genuine `audit.ack` covers. Only genuine entries count: a forged ack fails
 * its MAC, and a cut-off ack leaves the head anchor ahead of the log (truncated).
 */
export function unacknowledgedAnchorLosses(records: readonly LineRecord[]): Array<Extract<LineRecord, { kind: 'entry' }>> {
  let through = 0;
  for (const r of records) if (r.kind === 'entry' && r.genuine && r.ackThrough !== undefined) through = Math.max(through, r.ackThrough);
  return records.filter(
    (r): r is Extract<LineRecord, { kind: 'entry' }> => r.kind === 'entry' && r.genuine && r.anchorLost !== undefined && r.seq > through,
  );
}

/** Every problem in the log, in line order (head-anchor problems last). */
export function analyseChain(records: LineRecord[], head: HeadState, totalLines: number): AuditProblem[] {
  const problems: AuditProblem[] = [];
  const genuineSeqs = new Set<number>();
  for (const r of records) if (r.kind === 'entry' && r.genuine) genuineSeqs.add(r.seq);

  // The next genuine entry after each index, for telling an edited line (it links to what follows) from an inserted one.
  const nextGenuine: Array<EntryRecord | undefined> = new Array(records.length);
  let following: EntryRecord | undefined;
  for (let i = records.length - 1; i >= 0; i--) {
    nextGenuine[i] = following;
    const r = records[i]!;
    if (r.kind === 'entry' && r.genuine) following = r;
  }

  const seen = new Map<number, number>(); // genuine seq -> line first seen
  const accepted = new Map<number, { line: number; mac: string }>(); // seq -> the line standing for it in the chain
  let expect = 1;
  let prevMac = GENESIS;
  let prevWasEdited = false;

  /** Entries expect..upTo-1 are not where they should be: each either comes later in the file or is gone. */
  const gap = (upTo: number, at: EntryRecord): void => {
    let start: number | null = null;
    const later: number[] = [];
    for (let s = expect; s <= upTo; s++) {
      const absent = s < upTo && !genuineSeqs.has(s);
      if (absent && start === null) start = s;
      if (!absent && start !== null) {
        problems.push({
          seq: start,
          line: at.line,
          kind: 'removed',
          message: `${range(start, s - 1)} missing (expected before line ${at.line}).`,
        });
        start = null;
      }
      if (s < upTo && genuineSeqs.has(s)) later.push(s);
    }
    if (later.length > 0) {
      problems.push({
        seq: at.seq,
        line: at.line,
        kind: 'reordered',
        message: `Entry ${at.seq} comes before ${later.length === 1 ? `entry ${later[0]}` : `entries ${later[0]}-${later.at(-1)}`}, which appear${later.length === 1 ? 's' : ''} later in the file.`,
      });
    }
  };

  const accept = (seq: number, r: EntryRecord, edited: boolean): void => {
    expect = seq + 1;
    prevMac = r.mac;
    prevWasEdited = edited;
    accepted.set(seq, { line: r.line, mac: r.mac });
  };

  records.forEach((r, i) => {
    if (r.kind === 'malformed') {
      problems.push({ seq: r.seq, line: r.line, kind: 'malformed', message: `Line ${r.line} is not an audit entry: ${r.reason}.` });
      return;
    }
    if (r.genuine) {
      const firstLine = seen.get(r.seq);
      if (firstLine !== undefined) {
        problems.push({
          seq: r.seq,
          line: r.line,
          kind: 'inserted',
          message: `Line ${r.line} is a second copy of entry ${r.seq} (first at line ${firstLine}).`,
        });
        return;
      }
      seen.set(r.seq, r.line);
      if (r.seq < expect) {
        problems.push({ seq: r.seq, line: r.line, kind: 'reordered', message: `Entry ${r.seq} appears after entry ${expect - 1}.` });
        return;
      }
      if (r.seq > expect) gap(r.seq, r);
      else if (r.prev !== prevMac && !prevWasEdited) {
        // Both genuine and consecutive, yet not linked: entries of two chains under one key were spliced together.
        problems.push({
          seq: r.seq,
          line: r.line,
          kind: 'inserted',
          message: `Entry ${r.seq} does not chain to the entry before it: the log mixes two chains.`,
        });
      }
      accept(r.seq, r, false);
      return;
    }
    // The MAC fails. If the next genuine entry names this line's mac as its prev, or the line sits exactly where the
    // next expected entry should be and no genuine copy of that entry exists, it is that entry, edited.
    const next = nextGenuine[i];
    const linksNext = next !== undefined && next.prev === r.mac && !genuineSeqs.has(next.seq - 1);
    const standsFor = linksNext ? next.seq - 1 : r.seq;
    // Past the head anchor with nothing genuine after it, it is an entry keyctl never wrote: appended, not edited.
    const beyondHead = !linksNext && head.state === 'ok' && standsFor > head.seq;
    if (!genuineSeqs.has(standsFor) && standsFor >= expect && (linksNext || standsFor === expect) && !beyondHead) {
      if (standsFor > expect) gap(standsFor, { ...r, seq: standsFor });
      const claimed = standsFor === r.seq ? '' : ` (it now claims seq ${r.seq})`;
      problems.push({
        seq: standsFor,
        line: r.line,
        kind: 'edited',
        message: `Entry ${standsFor} at line ${r.line} was changed after it was written${claimed}: its MAC does not match.`,
      });
      accept(standsFor, r, true);
      return;
    }
    problems.push({
      seq: r.seq,
      line: r.line,
      kind: 'inserted',
      message: `Line ${r.line} (claiming seq ${r.seq}) was not written by keyctl: its MAC does not match and it takes no place in the chain.`,
    });
  });

  problems.push(
    ...endProblems({
      anchorLosses: unacknowledgedAnchorLosses(records),
      head,
      last: expect - 1,
      macOf: (seq) => accepted.get(seq),
      totalLines,
      empty: records.length === 0,
    }),
  );
  return problems;
}

export interface ChainEnd {
  /** Genuine anchor-loss entries no acknowledgement covers. */
  anchorLosses: ReadonlyArray<Pick<EntryRecord, 'seq' | 'line' | 'anchorLost'>>;
  head: HeadState;
  /** The last seq the chain accepted (0: none). */
  last: number;
  /** The line and MAC standing for `seq` in the chain (the head anchor's entry is compared with it). */
  macOf: (seq: number) => { line: number; mac: string } | undefined;
  totalLines: number;
  /** The log has no line at all. */
  empty: boolean;
}

/** What the end of the log says: anchor losses nobody acknowledged, and the head anchor against the last entry. */
export function endProblems(end: ChainEnd): AuditProblem[] {
  const problems: AuditProblem[] = [];
  const { head, last } = end;
  for (const r of end.anchorLosses) {
    problems.push({
      seq: r.seq,
      line: r.line,
      kind: 'anchor-lost',
      message:
        `Entry ${r.seq} records that the head anchor was ${r.anchorLost} when keyctl appended, so entries cut from ` +
        `the end before entry ${r.seq} cannot be ruled out. Investigate, then run keyctl audit ack --reason "...".`,
    });
  }
  const after = end.totalLines + 1;
  switch (head.state) {
    case 'missing':
      if (!end.empty) {
        problems.push({
          seq: null,
          line: after,
          kind: 'truncated',
          message: 'The head anchor is missing, so entries removed from the end cannot be ruled out.',
        });
      }
      break;
    case 'malformed':
      problems.push({ seq: null, line: after, kind: 'malformed', message: `The head anchor is not readable: ${head.reason}.` });
      break;
    case 'forged':
      problems.push({ seq: head.seq, line: after, kind: 'edited', message: 'The head anchor was changed: its MAC does not match.' });
      break;
    case 'ok': {
      if (head.seq > last) {
        problems.push({
          seq: last + 1,
          line: after,
          kind: 'truncated',
          message: `${range(last + 1, head.seq)} missing from the end (the head anchor records entry ${head.seq}).`.replace(/^e/, 'E'),
        });
        break;
      }
      const at = end.macOf(head.seq);
      if (at && at.mac !== head.mac) {
        problems.push({ seq: head.seq, line: at.line, kind: 'edited', message: `Entry ${head.seq} does not match the head anchor.` });
      }
      break;
    }
  }
  return problems;
}
