/**
 * The tamper-evident audit log: one JSON entry per line, each carrying its own HMAC (`mac`) and the previous entry's
 * (`prev`), under the audit key from the store. A small head anchor beside the log (`<log>.head`, itself HMAC'd)
 * records the last entry written, so entries cut from the end are detected too.
 *
 * Appends from several processes are serialised by an advisory lock (proper-lockfile) held across
 * read-last-entry + append + fsync + head update; the file is opened O_APPEND and created 0600 (its directory 0700).
 * See docs/audit.md for the format and what verification can and cannot prove.
 */
import { chmod, mkdir, open, readFile, rename, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import lockfile from 'proper-lockfile';
import { InternalError, KeyctlError, LockedError, ProviderError } from '../errors.js';
import { GENESIS, entryMac, headMac, macEquals, parseEntryLine } from './chain.js';
import { readLinesBackward, readLinesForward } from './lines.js';
import { processRedactor } from './redact.js';
import type { AuditEntry, AuditInput, AuditLog, AuditVerifyReport } from './types.js';
import { analyseChain, type HeadState, type LineRecord } from './verify.js';

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

// Lock acquisition: many short retries with jitter, since an append holds the lock for one fsync or two.
const LOCK_RETRIES = { retries: 200, factor: 1.2, minTimeout: 5, maxTimeout: 100, randomize: true };
const LOCK_STALE_MS = 10_000;

class FileAuditLog implements AuditLog {
  private readonly headPath: string;

  constructor(
    private readonly path: string,
    private readonly key: Buffer | undefined,
    private readonly now: () => number,
  ) {
    this.headPath = `${path}.head`;
  }

  async append(input: AuditInput & { actor: string }): Promise<AuditEntry> {
    const key = this.requireKey('append to');
    await this.ensureDir();
    const release = await this.lock();
    try {
      return await this.appendLocked(input, key);
    } catch (err) {
      throw this.ioError(err, 'append to');
    } finally {
      await release().catch(() => undefined);
    }
  }

  private async appendLocked(input: AuditInput & { actor: string }, key: Buffer): Promise<AuditEntry> {
    const fh = await open(this.path, 'a+', 0o600);
    try {
      const info = await fh.stat();
      if ((info.mode & 0o077) !== 0) await fh.chmod(0o600);
      const { last, endsWithNewline } = await this.lastGenuine(fh, info.size, key);
      const head = await this.readHead(key);
      // Chain from the head anchor when it is ahead of the log: entries were cut from the end, and chaining past the
      // gap keeps that visible to verify forever instead of letting the next append paper over it.
      const base = head.state === 'ok' && head.seq > (last?.seq ?? 0) ? head : last;
      const entry = this.build(input, base?.seq ?? 0, base?.mac ?? GENESIS, key);
      // A crash mid-append can leave a partial last line; start on a fresh line so only that one reads as malformed.
      const text = `${endsWithNewline ? '' : '\n'}${JSON.stringify(entry)}\n`;
      await fh.write(text);
      await fh.sync();
      await this.writeHead(entry, key);
      return entry;
    } finally {
      await fh.close();
    }
  }

  async verify(): Promise<AuditVerifyReport> {
    const key = this.requireKey('verify');
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
        records.push({ line, kind: 'entry', seq: entry.seq, prev: entry.prev, mac: entry.mac, genuine });
      }
    } catch (err) {
      throw this.ioError(err, 'read');
    }
    const problems = analyseChain(records, await this.readHead(key), totalLines);
    return { ok: problems.length === 0, entries, problems };
  }

  async tail(n: number): Promise<AuditEntry[]> {
    if (!Number.isSafeInteger(n) || n <= 0) return [];
    let fh: FileHandle;
    try {
      fh = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw this.ioError(err, 'read');
    }
    try {
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
  private async lastGenuine(
    fh: FileHandle,
    size: number,
    key: Buffer,
  ): Promise<{ last: { seq: number; mac: string } | undefined; endsWithNewline: boolean }> {
    if (size === 0) return { last: undefined, endsWithNewline: true };
    const byte = Buffer.alloc(1);
    await fh.read(byte, 0, 1, size - 1);
    const endsWithNewline = byte[0] === 0x0a;
    for await (const text of readLinesBackward(fh, size)) {
      const parsed = parseEntryLine(text);
      if (parsed.ok && macEquals(entryMac(key, parsed.value.raw), parsed.value.entry.mac)) {
        return { last: { seq: parsed.value.entry.seq, mac: parsed.value.entry.mac }, endsWithNewline };
      }
    }
    return { last: undefined, endsWithNewline };
  }

  private async readHead(key: Buffer): Promise<HeadState> {
    let text: string;
    try {
      text = await readFile(this.headPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' };
      throw this.ioError(err, 'read');
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

  /** Atomic replace (temp, fsync, rename), so a crash leaves the old anchor or the new one, never half of one. */
  private async writeHead(entry: AuditEntry, key: Buffer): Promise<void> {
    const head: HeadFile = { seq: entry.seq, mac: entry.mac, hmac: headMac(key, entry.seq, entry.mac) };
    const tmp = `${this.headPath}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(head)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.headPath);
  }

  private async ensureDir(): Promise<void> {
    const dir = dirname(this.path);
    try {
      await stat(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.ioError(err, 'open');
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // mkdir's mode is filtered by the umask; the audit directory is private whatever the umask.
      await chmod(dir, 0o700);
    }
  }

  private async lock(): Promise<() => Promise<void>> {
    try {
      return await lockfile.lock(this.path, {
        realpath: false, // the log may not exist yet
        stale: LOCK_STALE_MS,
        retries: LOCK_RETRIES,
        // The default throws from a timer and kills the process. A lock lost mid-append can at worst fork the
        // chain, which verify reports; that beats crashing in the middle of a rotation.
        onCompromised: () => undefined,
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') {
        throw new LockedError(`The audit log ${this.path} stayed locked by another keyctl process.`, {
          hint: 'Retry in a moment. If no other keyctl is running, remove the stale lock directory ' + `${this.path}.lock.`,
          cause: err,
        });
      }
      throw this.ioError(err, 'lock');
    }
  }

  private ioError(err: unknown, what: string): KeyctlError {
    if (err instanceof KeyctlError) return err;
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    return new ProviderError('AUDIT_IO', `Cannot ${what} the audit log ${this.path} (${code}).`, {
      hint: 'Check that the directory exists and that this user may read and write it.',
      cause: err,
    });
  }
}

function cleanDetail(detail: NonNullable<AuditInput['detail']>, clean: (s: string) => string): NonNullable<AuditInput['detail']> {
  const out: NonNullable<AuditInput['detail']> = {};
  for (const [k, v] of Object.entries(detail)) out[clean(k)] = typeof v === 'string' ? clean(v) : v;
  return out;
}
