/**
 * The tamper-evident audit log: one JSON entry per line, each carrying its own HMAC (`mac`) and the previous entry's
 * (`prev`), under the audit key from the store. A small head anchor beside the log (`<log>.head`, itself HMAC'd)
 * records the last entry written, so entries cut from the end are detected too.
 *
 * Appends from several processes are serialised by an advisory lock (`<log>.append.lock`, the local store's FileLock)
 * held across read-last-entry + append + fsync + head update; the file is opened O_APPEND and created 0600 (its directory 0700).
 * A head anchor that is missing, unreadable, forged or does not match the log is never silently replaced: the append
 * first records an `audit.anchor-lost` entry, which verify reports until an operator acknowledges it (`audit.ack`).
 * No audit file is opened through a symbolic link, and the directory must be ours and not writable by others.
 * See docs/audit.md for the format and what verification can and cannot prove.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FileLock, removeDeadLockTemps, type HeldLock } from '../../providers/local/lock.js';
import { InternalError, KeyctlError, LockedError, ProviderError } from '@keyctl/client/errors';
import { GENESIS, entryMac, headMac, macEquals, parseEntryLine, type ParsedEntry } from './chain.js';
import { isIndexed, kindOf, latestOf, mergeLatest, parseLatestFile, serializeLatest, type LatestFile } from './latest.js';
import { readLinesBackward, readLinesForward } from './lines.js';
import { processRedactor } from './redact.js';
import type { AuditEntry, AuditInput, AuditLog, AuditVerifyReport } from './types.js';
import { analyseChain, endProblems, unacknowledgedAnchorLosses, type HeadState, type LineRecord } from './verify.js';

/** Recorded when an append finds the head anchor unusable; verify reports it until acknowledged. */
export const ANCHOR_LOST_COMMAND = 'audit.anchor-lost';
/** An operator's acknowledgement of every anchor loss up to `detail.through`, with their reason. */
export const ACK_COMMAND = 'audit.ack';

// O_NOFOLLOW: a symbolic link planted at an audit file's name is refused (ELOOP), never written through.
// O_NONBLOCK (no effect on regular files): a FIFO planted there cannot hang keyctl; it fails the regular-file check.
const { O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY } = constants;
const LOG_FLAGS = O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK;
const READ_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
const TEMP_FLAGS = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW;

export interface AuditLogOptions {
  path: string;
  /** HMAC key; without it the log can be tailed but not appended to or verified. */
  key?: Buffer;
  now?: () => number;
}

/** Opens (lazily: nothing touches the disk until the first call) the audit log at `options.path`. */
export function openAuditLog(options: AuditLogOptions): AuditLog {
  if (options.key !== undefined && options.key.length !== 32) {
    throw new InternalError('The audit key must be 32 bytes.');
  }
  return new FileAuditLog(options.path, options.key, options.now ?? Date.now);
}

/** The head anchor file's JSON. */
interface HeadFile {
  seq: number;
  mac: string;
  hmac: string;
}

/**
 * The append lock: FileLock (providers/local/lock.ts), not proper-lockfile, whose import alone cost `keyctl exec` tens
 * of ms before its bot could start. A holder on this host that died is taken over at once, any other once its heartbeat
 * is LOCK_STALE_MS old; a waiter gives up after LOCK_TIMEOUT_MS (kept above the staleness, so a stale lock is always
 * broken first). Its own name, so a lock directory left by an older keyctl (proper-lockfile's `<log>.lock`) is never
 * mistaken for it.
 */
export const APPEND_LOCK_SUFFIX = '.append.lock';
const LOCK_STALE_MS = 10_000;
const LOCK_TIMEOUT_MS = 30_000;

class FileAuditLog implements AuditLog {
  private readonly headPath: string;
  private readonly latestPath: string;
  /** latest()'s answer and the log's size it was read at (forgotten by this instance's own appends). */
  private latestMemo: { size: number | null; entries: AuditEntry[] } | undefined;
  private readonly appendLock: FileLock;
  private lockTempsCleaned = false;

  constructor(
    private readonly path: string,
    private readonly key: Buffer | undefined,
    private readonly now: () => number,
  ) {
    this.headPath = `${path}.head`;
    this.latestPath = `${path}.latest`;
    this.appendLock = new FileLock(`${path}${APPEND_LOCK_SUFFIX}`, { staleMs: LOCK_STALE_MS, timeoutMs: LOCK_TIMEOUT_MS });
  }

  async append(input: AuditInput & { actor: string }): Promise<AuditEntry> {
    const entries = await this.write(input.actor, () => [input]);
    return entries.at(-1)!;
  }

  async acknowledge(input: { reason: string; actor: string }): Promise<{ acknowledged: number[]; entry: AuditEntry | null }> {
    let acknowledged: number[] = [];
    const written = await this.write(input.actor, async (key, lostSeq) => {
      const pending = (await this.scan(key)).records;
      acknowledged = unacknowledgedAnchorLosses(pending).map((r) => r.seq);
      if (lostSeq !== undefined) acknowledged.push(lostSeq);
      if (acknowledged.length === 0) return [];
      const through = Math.max(...acknowledged);
      return [{ command: ACK_COMMAND, outcome: 'ok', detail: { through, count: acknowledged.length, reason: input.reason } }];
    });
    return { acknowledged, entry: written.at(-1) ?? null };
  }

  /**
   * Under the lock: checks the head anchor against the log, records an anchor loss first if it finds one, then
   * appends what `inputs` returns (given the loss's seq), all in one write and one fsync, and moves the anchor.
   */
  private async write(
    actor: string,
    inputs: (key: Buffer, lostSeq: number | undefined) => AuditInput[] | Promise<AuditInput[]>,
  ): Promise<AuditEntry[]> {
    const key = this.requireKey('append to');
    await this.checkDir();
    const lock = await this.lock();
    try {
      return await this.writeLocked(actor, inputs, key, lock);
    } catch (err) {
      throw this.ioError(err, 'append to');
    } finally {
      await lock.release().catch(() => undefined);
    }
  }

  private async writeLocked(
    actor: string,
    inputs: (key: Buffer, lostSeq: number | undefined) => AuditInput[] | Promise<AuditInput[]>,
    key: Buffer,
    lock: HeldLock,
  ): Promise<AuditEntry[]> {
    const fh = await open(this.path, LOG_FLAGS, 0o600);
    try {
      const info = await fh.stat();
      if (!info.isFile()) throw this.notAFile(this.path);
      if ((info.mode & 0o077) !== 0) await fh.chmod(0o600);
      const { last, endsWithNewline } = await this.lastGenuine(fh, info.size, key);
      let head = await this.readHead(key);
      if (info.size === 0 && head.state === 'missing') {
        // A brand-new log: anchor the genesis first, so that a crash before the first anchor update leaves an anchor
        // one entry behind (normal) rather than none (which from then on reads as a lost anchor).
        await this.writeHead(0, GENESIS, key);
        head = { state: 'ok', seq: 0, mac: GENESIS };
      }
      const lost = anchorLoss(head, last);
      // Chain from the head anchor when it is ahead of the log: entries were cut from the end, and chaining past the
      // gap keeps that visible to verify forever instead of letting the next append paper over it.
      let base = !lost && head.state === 'ok' && head.seq > (last?.seq ?? 0) ? head : last;
      const entries: AuditEntry[] = [];
      if (lost) {
        const detail = { anchor: lost.anchor, anchorSeq: lost.anchorSeq, lastSeq: last?.seq ?? 0 };
        const entry = this.build(
          { command: ANCHOR_LOST_COMMAND, outcome: 'failed', detail, actor },
          base?.seq ?? 0,
          base?.mac ?? GENESIS,
          key,
        );
        entries.push(entry);
        base = entry;
      }
      for (const input of await inputs(key, entries[0]?.seq)) {
        const entry = this.build({ ...input, actor }, base?.seq ?? 0, base?.mac ?? GENESIS, key);
        entries.push(entry);
        base = entry;
      }
      if (entries.length === 0) return entries;
      // A crash mid-append can leave a partial last line; start on a fresh line so only that one reads as malformed.
      const text = `${endsWithNewline ? '' : '\n'}${entries.map((e) => `${JSON.stringify(e)}\n`).join('')}`;
      // Stalled past the lock's staleness (another appender may have taken it over): abandoned rather than forking the chain.
      lock.assertHeld();
      await fh.write(text);
      await fh.sync();
      const newest = entries.at(-1)!;
      await this.writeHead(newest.seq, newest.mac, key);
      // A cache: losing this update (a crash now, an error) costs the next reader a short scan, never a wrong answer.
      this.latestMemo = undefined;
      if (entries.some(isIndexed)) await this.noteLatest(entries, key).catch(() => undefined);
      return entries;
    } finally {
      await fh.close();
    }
  }

  async verify(): Promise<AuditVerifyReport> {
    const key = this.requireKey('verify');
    const head = await this.readHead(key);
    // An intact log is checked in one pass holding nothing per line (constant memory at any size); only a log that
    // is not a clean chain is read again, keeping what each line is, to name every problem where it is.
    const clean = await this.scanClean(key, head);
    if (clean) return clean;
    const { records, totalLines, entries } = await this.scan(key);
    const problems = analyseChain(records, head, totalLines);
    return { ok: problems.length === 0, entries, problems };
  }

  /**
   * The one-pass check: every line a genuine entry, seqs 1, 2, 3... each linking to the one before. Null at the first
   * line that is anything else (the full analysis then says what it is).
   */
  private async scanClean(key: Buffer, head: HeadState): Promise<AuditVerifyReport | null> {
    let last = 0;
    let prevMac = GENESIS;
    let totalLines = 0;
    let headEntry: { seq: number; line: number; mac: string } | undefined;
    let ackThrough = 0;
    const anchorLosses: Array<{ seq: number; line: number; anchorLost: string }> = [];
    try {
      for await (const { line, text } of readLinesForward(this.path)) {
        totalLines = line;
        const parsed = parseEntryLine(text);
        if (!parsed.ok) return null;
        const { entry, raw } = parsed.value;
        if (entry.seq !== last + 1 || entry.prev !== prevMac || !macEquals(entryMac(key, raw), entry.mac)) return null;
        last = entry.seq;
        prevMac = entry.mac;
        if (head.state === 'ok' && entry.seq === head.seq) headEntry = { seq: entry.seq, line, mac: entry.mac };
        const mark = marks(parsed.value);
        if (mark.anchorLost !== undefined) anchorLosses.push({ seq: entry.seq, line, anchorLost: mark.anchorLost });
        if (mark.ackThrough !== undefined) ackThrough = Math.max(ackThrough, mark.ackThrough);
      }
    } catch (err) {
      throw this.ioError(err, 'read');
    }
    const problems = endProblems({
      anchorLosses: anchorLosses.filter((r) => r.seq > ackThrough),
      head,
      last,
      macOf: (seq) => (seq === headEntry?.seq ? headEntry : undefined),
      totalLines,
      empty: totalLines === 0,
    });
    return { ok: problems.length === 0, entries: last, problems };
  }

  /** What every line of the log is, streaming the file. */
  private async scan(key: Buffer): Promise<{ records: LineRecord[]; totalLines: number; entries: number }> {
    const records: LineRecord[] = [];
    let totalLines = 0;
    let entries = 0;
    try {
      for await (const { line, text } of readLinesForward(this.path)) {
        totalLines = line;
        if (text.trim() === '') {
          records.push({ line, kind: 'malformed', seq: null, reason: 'blank line' });
          continue;
        }
        const parsed = parseEntryLine(text);
        if (!parsed.ok) {
          records.push({ line, kind: 'malformed', seq: parsed.seq, reason: parsed.reason });
          continue;
        }
        entries += 1;
        const { entry, raw } = parsed.value;
        const genuine = macEquals(entryMac(key, raw), entry.mac);
        records.push({
          line,
          kind: 'entry',
          seq: entry.seq,
          prev: entry.prev,
          mac: entry.mac,
          genuine,
          ...(genuine ? marks(parsed.value) : {}),
        });
      }
    } catch (err) {
      throw this.ioError(err, 'read');
    }
    return { records, totalLines, entries };
  }

  async tail(n: number): Promise<AuditEntry[]> {
    if (!Number.isSafeInteger(n) || n <= 0) return [];
    let fh: FileHandle;
    try {
      fh = await open(this.path, READ_FLAGS);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw this.ioError(err, 'read');
    }
    try {
      if (!(await fh.stat()).isFile()) throw this.notAFile(this.path);
      const out: AuditEntry[] = [];
      const { size } = await fh.stat();
      for await (const text of readLinesBackward(fh, size)) {
        const parsed = parseEntryLine(text);
        // Malformed lines are verify's business; tail shows what reads as entries.
        if (parsed.ok) out.push(parsed.value.entry);
        if (out.length >= n) break;
      }
      return out.reverse();
    } finally {
      await fh.close();
    }
  }

  /**
   * The cheap check `status` runs instead of verify(): the log's last line is a genuine entry, the head anchor matches
   * it (nothing cut from the end, nothing appended around keyctl), and no anchor loss waits for an acknowledgement.
   * Reads the end of the log and the latest-entry cache only; an edit in the middle is verify's to find.
   */
  async checkEnd(): Promise<{ ok: boolean; entries: number; problem?: string }> {
    const key = this.requireKey('check');
    const head = await this.readHead(key);
    let fh: FileHandle;
    try {
      fh = await open(this.path, READ_FLAGS);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.ioError(err, 'read');
      return head.state === 'missing'
        ? { ok: true, entries: 0 }
        : { ok: false, entries: 0, problem: 'the log is missing but its anchor is not' };
    }
    let last: AuditEntry | undefined;
    try {
      const info = await fh.stat();
      if (!info.isFile()) throw this.notAFile(this.path);
      for await (const text of readLinesBackward(fh, info.size)) {
        const parsed = parseEntryLine(text);
        if (!parsed.ok || !macEquals(entryMac(key, parsed.value.raw), parsed.value.entry.mac)) {
          return { ok: false, entries: 0, problem: 'its last line is not a genuine entry' };
        }
        last = parsed.value.entry;
        break;
      }
    } catch (err) {
      throw this.ioError(err, 'read');
    } finally {
      await fh.close();
    }
    const entries = last?.seq ?? 0;
    if (head.state === 'ok' && head.seq > entries) return { ok: false, entries, problem: `entries after ${entries} were cut from its end` };
    const lost = anchorLoss(head, last);
    if (lost) return { ok: false, entries, problem: `its head anchor is ${lost.anchor}` };
    const marked = await this.latest([ANCHOR_LOST_COMMAND, ACK_COMMAND]);
    const lostAt = Math.max(0, ...marked.filter((e) => e.command === ANCHOR_LOST_COMMAND).map((e) => e.seq));
    const ackedThrough = Math.max(0, ...marked.filter((e) => e.command === ACK_COMMAND).map((e) => Number(e.detail?.through ?? 0)));
    if (lostAt > ackedThrough) return { ok: false, entries, problem: `an anchor loss (entry ${lostAt}) is not acknowledged` };
    return { ok: true, entries };
  }

  /**
   * The newest entry of each kind (latest.ts) among `commands`, oldest first: the `<log>.latest` cache plus the
   * entries appended after it, read from the end of the log. With the key, an entry whose MAC does not verify counts
   * for nothing (and a cache holding one is rebuilt from the log).
   */
  async latest(commands: readonly string[]): Promise<AuditEntry[]> {
    const key = this.requireKey('read the latest entries of');
    // One command (status) asks several times: the log's size tells whether anything was appended since.
    const size = await this.logSize();
    if (this.latestMemo?.size !== size) {
      let cached = await this.readLatestFile(key);
      const merged = new Map<string, AuditEntry>();
      let scan = await this.scanSince(cached?.through ?? 0, key, merged);
      if (scan.behind) {
        // The cache is ahead of the log (cut, replaced): the log is the truth.
        cached = null;
        merged.clear();
        scan = await this.scanSince(0, key, merged);
      }
      // What the scan found is newer than anything the cache holds (all at or before its `through`).
      mergeLatest(merged, cached?.latest ?? []);
      if (!cached || scan.read > 0) {
        await this.writeLatestFile({ v: 1, through: scan.head, latest: [...merged.values()] }, key).catch(() => undefined);
      }
      this.latestMemo = { size, entries: [...merged.values()] };
    }
    return latestOf(this.latestMemo.entries, commands);
  }

  private async logSize(): Promise<number | null> {
    try {
      return (await lstat(this.path)).size;
    } catch {
      return null;
    }
  }

  /**
   * Reads back from the end of the log to seq `through`, adding to `into` the newest genuine entry of each indexed kind
   * it meets (nothing else is kept: a rebuild over a million entries holds only the kinds). `behind` when the log ends
   * before `through`. Only lines that matter are MAC-checked: the last genuine one (the head), the indexed ones, and the
   * one that ends the scan, so no forged line can end it early.
   */
  private async scanSince(
    through: number,
    key: Buffer,
    into: Map<string, AuditEntry>,
  ): Promise<{ head: number; read: number; behind: boolean }> {
    let head: number | undefined;
    let read = 0;
    let fh: FileHandle;
    try {
      fh = await open(this.path, READ_FLAGS);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { head: 0, read, behind: through > 0 };
      throw this.ioError(err, 'read');
    }
    try {
      const info = await fh.stat();
      if (!info.isFile()) throw this.notAFile(this.path);
      for await (const text of readLinesBackward(fh, info.size)) {
        const parsed = parseEntryLine(text);
        if (!parsed.ok) continue;
        const { entry, raw } = parsed.value;
        const indexed = isIndexed(entry);
        const needed = head === undefined || indexed || entry.seq <= through;
        if (needed && !macEquals(entryMac(key, raw), entry.mac)) continue;
        head ??= entry.seq;
        if (entry.seq <= through) break;
        read += 1;
        if (indexed) {
          const kind = kindOf(entry);
          if (!into.has(kind)) into.set(kind, entry); // newest first: the first one met is the latest
        }
      }
    } catch (err) {
      throw this.ioError(err, 'read');
    } finally {
      await fh.close();
    }
    return { head: head ?? 0, read, behind: (head ?? 0) < through };
  }

  /** Under the append lock: adds the entries just appended to the cache, if there is one to trust. */
  private async noteLatest(appended: AuditEntry[], key: Buffer): Promise<void> {
    const cached = await this.readLatestFile(key);
    if (!cached) return; // the next reader builds it from the log
    const merged = new Map<string, AuditEntry>();
    mergeLatest(merged, cached.latest);
    mergeLatest(merged, appended);
    // `through` moves only over a gapless run: entries appended while the cache was not updated stay to be scanned.
    const first = appended[0]!.seq;
    const through = cached.through === first - 1 ? appended.at(-1)!.seq : cached.through;
    await this.writeLatestFile({ v: 1, through, latest: [...merged.values()] }, key);
  }

  private async readLatestFile(key: Buffer): Promise<LatestFile | null> {
    let fh: FileHandle;
    try {
      fh = await open(this.latestPath, READ_FLAGS);
    } catch {
      return null; // missing, or a link planted there (ELOOP): rebuilt from the log
    }
    try {
      if (!(await fh.stat()).isFile()) return null;
      return parseLatestFile(await fh.readFile('utf8'), key);
    } catch {
      return null;
    } finally {
      await fh.close();
    }
  }

  /** Atomic replace as the head's, without fsync: after a crash the cache may be older, which readers catch up on. */
  private async writeLatestFile(file: LatestFile, key: Buffer): Promise<void> {
    const tmp = `${this.latestPath}.${randomBytes(8).toString('hex')}.tmp`;
    const fh = await open(tmp, TEMP_FLAGS, 0o600);
    try {
      try {
        await fh.writeFile(serializeLatest(file, key));
      } finally {
        await fh.close();
      }
      await rename(tmp, this.latestPath);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  private requireKey(what: string): Buffer {
    if (!this.key) throw new InternalError(`Cannot ${what} the audit log without its key.`);
    return this.key;
  }

  private build(input: AuditInput & { actor: string }, baseSeq: number, prev: string, key: Buffer): AuditEntry {
    const clean = (s: string) => processRedactor.apply(s);
    // Field order is only for readability: the MAC is over canonical JSON.
    const body: Omit<AuditEntry, 'mac'> = {
      seq: baseSeq + 1,
      time: new Date(this.now()).toISOString(),
      actor: clean(input.actor),
      command: clean(input.command),
      ...(input.ref !== undefined ? { ref: clean(input.ref) } : {}),
      ...(input.fingerprint !== undefined ? { fingerprint: clean(input.fingerprint) } : {}),
      outcome: input.outcome,
      ...(input.detail !== undefined ? { detail: cleanDetail(input.detail, clean) } : {}),
      prev,
    };
    return { ...body, mac: entryMac(key, body as unknown as Record<string, unknown>) };
  }

  /** The last entry whose MAC verifies, read from the end (a whole-file scan only if the tail holds none). */
  private async lastGenuine(fh: FileHandle, size: number, key: Buffer): Promise<{ last: LastEntry | undefined; endsWithNewline: boolean }> {
    if (size === 0) return { last: undefined, endsWithNewline: true };
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, size - 1);
    const endsWithNewline = byte[0] === 0x0a;
    for await (const text of readLinesBackward(fh, size)) {
      const parsed = parseEntryLine(text);
      if (parsed.ok && macEquals(entryMac(key, parsed.value.raw), parsed.value.entry.mac)) {
        const { seq, mac, prev } = parsed.value.entry;
        return { last: { seq, mac, prev }, endsWithNewline };
      }
    }
    return { last: undefined, endsWithNewline };
  }

  private async readHead(key: Buffer): Promise<HeadState> {
    let text: string;
    let fh: FileHandle;
    try {
      fh = await open(this.headPath, READ_FLAGS);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return { state: 'missing' };
      if (code === 'ELOOP') return { state: 'malformed', reason: 'it is a symbolic link' };
      throw this.ioError(err, 'read');
    }
    try {
      if (!(await fh.stat()).isFile()) return { state: 'malformed', reason: 'it is not a regular file' };
      text = await fh.readFile('utf8');
    } catch (err) {
      throw this.ioError(err, 'read');
    } finally {
      await fh.close();
    }
    let head: Partial<HeadFile>;
    try {
      head = JSON.parse(text) as Partial<HeadFile>;
    } catch {
      return { state: 'malformed', reason: 'not valid JSON' };
    }
    if (
      head === null ||
      typeof head !== 'object' ||
      !Number.isSafeInteger(head.seq) ||
      typeof head.mac !== 'string' ||
      typeof head.hmac !== 'string'
    ) {
      return { state: 'malformed', reason: 'missing fields' };
    }
    const seq = head.seq as number;
    if (!macEquals(headMac(key, seq, head.mac), head.hmac)) return { state: 'forged', seq };
    return { state: 'ok', seq, mac: head.mac };
  }

  /**
   * Atomic replace (temp, fsync, rename), so a crash leaves the old anchor or the new one, never half of one. The temp
   * name is random and created O_EXCL | O_NOFOLLOW: nobody can plant a link at it in advance.
   */
  private async writeHead(seq: number, mac: string, key: Buffer): Promise<void> {
    const head: HeadFile = { seq, mac, hmac: headMac(key, seq, mac) };
    const tmp = `${this.headPath}.${randomBytes(8).toString('hex')}.tmp`;
    const fh = await open(tmp, TEMP_FLAGS, 0o600);
    try {
      try {
        await fh.writeFile(`${JSON.stringify(head)}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      // rename replaces a link planted at the head's own name; it never writes through it.
      await rename(tmp, this.headPath);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  /**
   * The directory holding the log must be ours and writable by us alone: whoever else can write it can swap the log
   * or plant links in it. A loose directory is tightened only when it is ours and empty (nothing to have tampered with).
   */
  private async checkDir(): Promise<void> {
    const dir = dirname(this.path);
    let info;
    try {
      info = await stat(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.ioError(err, 'open');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // mkdir's mode is filtered by the umask; the audit directory is private whatever the umask.
      await chmod(dir, 0o700);
      return;
    }
    const uid = process.getuid?.();
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
    if (!info.isDirectory()) {
      throw new ProviderError('AUDIT_DIR_UNSAFE', `The audit log's directory ${dir} is not a directory.`, {
        hint: 'Point audit.path in the config at a file in a directory of your own.',
      });
    }
    if (uid !== undefined && info.uid !== uid) {
      throw new ProviderError(
        'AUDIT_DIR_UNSAFE',
        `The audit log's directory ${dir} belongs to user ${info.uid}, not to this user (${uid}).`,
        {
          hint: 'Its owner can replace the log. Point audit.path at a directory this user owns (mode 0700), or run keyctl as its owner.',
        },
      );
    }
    if ((info.mode & 0o022) === 0) return;
    if ((await readdir(dir)).length === 0) {
      await chmod(dir, 0o700);
      return;
    }
    throw new ProviderError('AUDIT_DIR_UNSAFE', `The audit log's directory ${dir} is writable by other users (mode ${mode}).`, {
      hint:
        'Another user could have replaced the log or planted links in it. Check its files (keyctl audit verify), then ' +
        `make it private: chmod 700 ${dir}.`,
    });
  }

  private async lock(): Promise<HeldLock> {
    let held: HeldLock;
    try {
      held = await this.appendLock.acquire();
    } catch (err) {
      if (err instanceof KeyctlError && err.code === 'STORE_BUSY') {
        throw new LockedError(`The audit log ${this.path} stayed locked by another keyctl process.`, {
          hint: `Retry in a moment. If no other keyctl is running, remove the stale lock file ${this.path}${APPEND_LOCK_SUFFIX}.`,
          cause: err,
        });
      }
      throw this.ioError(err, 'lock');
    }
    if (!this.lockTempsCleaned) {
      // The lock's own temp files left by a process that died while taking it (never a live one's).
      this.lockTempsCleaned = true;
      await removeDeadLockTemps(dirname(this.path)).catch(() => undefined);
    }
    return held;
  }

  private notAFile(path: string): KeyctlError {
    return new ProviderError('AUDIT_NOT_A_FILE', `The audit file ${path} is not a regular file.`, {
      hint: 'Something replaced it. Keep it for investigation, move it aside, and run keyctl audit verify.',
    });
  }

  private ioError(err: unknown, what: string): KeyctlError {
    if (err instanceof KeyctlError) return err;
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'ENOTREG') return this.notAFile(this.path);
    if (code === 'ELOOP') {
      return new ProviderError(
        'AUDIT_SYMLINK',
        `The audit log ${this.path} is a symbolic link; keyctl does not follow links for its audit files.`,
        {
          hint: 'Someone planted it. Note where it points (ls -l), remove the link (not its target), then run keyctl audit verify.',
          cause: err,
        },
      );
    }
    return new ProviderError('AUDIT_IO', `Cannot ${what} the audit log ${this.path} (${code}).`, {
      hint: 'Check that the directory exists and that this user may read and write it.',
      cause: err,
    });
  }
}

/** The last genuine entry of the log. */
interface LastEntry {
  seq: number;
  mac: string;
  prev: string;
}

/**
 * Whether the head anchor vouches for the log as found. It does when it names the last genuine entry, or the one
 * before it (a crash between the append and the anchor update), or a later entry (entries were cut: the append chains
 * past the gap, and verify reports it as truncated). Anything else is a lost anchor.
 */
export function anchorLoss(head: HeadState, last: LastEntry | undefined): { anchor: string; anchorSeq: number | null } | undefined {
  const lastSeq = last?.seq ?? 0;
  switch (head.state) {
    case 'missing':
      return { anchor: 'missing', anchorSeq: null };
    case 'malformed':
      return { anchor: 'unreadable', anchorSeq: null };
    case 'forged':
      return { anchor: 'forged', anchorSeq: head.seq };
    case 'ok':
      if (head.seq > lastSeq) return undefined;
      if (head.seq === lastSeq && head.mac === (last?.mac ?? GENESIS)) return undefined;
      if (last && head.seq === lastSeq - 1 && head.mac === last.prev) return undefined;
      return { anchor: 'not matching the log', anchorSeq: head.seq };
  }
}

/** What verify needs to know of a genuine entry beyond its place in the chain. */
function marks({ entry }: ParsedEntry): { anchorLost?: string; ackThrough?: number } {
  if (entry.command === ANCHOR_LOST_COMMAND) return { anchorLost: String(entry.detail?.anchor ?? 'lost') };
  const through = entry.detail?.through;
  if (entry.command === ACK_COMMAND && typeof through === 'number') return { ackThrough: through };
  return {};
}

function cleanDetail(detail: NonNullable<AuditInput['detail']>, clean: (s: string) => string): NonNullable<AuditInput['detail']> {
  const out: NonNullable<AuditInput['detail']> = {};
  for (const [k, v] of Object.entries(detail)) out[clean(k)] = typeof v === 'string' ? clean(v) : v;
  return out;
}
