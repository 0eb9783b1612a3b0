/**
 * The output filter of `keyctl exec`: the child's stdout and stderr pass through a {@link MaskStream} that replaces
 * the key, the secret and the passphrase (plain, base64 padded or not, base64url, hex) with `[REDACTED]`, the forms
 * src/audit/redact.ts's Redactor masks in keyctl's own output.
 *
 * Works on bytes, across chunk boundaries: a secret written in two pieces is still caught, because the filter holds
 * back a chunk's tail while it could be the start of a secret, and only that (so ordinary output is never delayed).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { secretForms } from '../audit/redact.js';

export const MASK = '[REDACTED]';

/** The byte patterns to mask for these secrets (the Redactor's forms), longest first. */
export function maskNeedles(secrets: Array<string | undefined>): Buffer[] {
  const forms = new Set(secrets.flatMap((s) => secretForms(s)));
  return [...forms].map((f) => Buffer.from(f, 'utf8')).sort((a, b) => b.length - a.length);
}

/**
 * Masks `needles` in `input` and splits off the tail that must wait for more data. With `final`, nothing is held.
 * Exposed for tests; {@link MaskStream} is the streaming form.
 */
export function maskChunk(input: Buffer, needles: Buffer[], replacement: Buffer, final: boolean): { out: Buffer; held: Buffer } {
  const parts: Buffer[] = [];
  let pos = 0;
  // Every complete occurrence, earliest first; at one position the longest needle wins (needles are sorted so).
  for (;;) {
    let best = -1;
    let bestLen = 0;
    for (const n of needles) {
      const at = input.indexOf(n, pos);
      if (at !== -1 && (best === -1 || at < best || (at === best && n.length > bestLen))) {
        best = at;
        bestLen = n.length;
      }
    }
    if (best === -1) break;
    // A match that a longer pattern could still extend (base64 before its "=" padding) waits for more data.
    if (!final && couldGrow(input.subarray(best), needles)) {
      parts.push(input.subarray(pos, best));
      return { out: Buffer.concat(parts), held: Buffer.from(input.subarray(best)) };
    }
    parts.push(input.subarray(pos, best), replacement);
    pos = best + bestLen;
  }
  const hold = final ? input.length : pendingStart(input, pos, needles);
  parts.push(input.subarray(pos, hold));
  return { out: Buffer.concat(parts), held: Buffer.from(input.subarray(hold)) };
}

/** True when `tail` (the rest of the input) is a proper prefix of some pattern. */
function couldGrow(tail: Buffer, needles: Buffer[]): boolean {
  return needles.some((n) => n.length > tail.length && n.subarray(0, tail.length).equals(tail));
}

/** Where the longest suffix of `input` (after `from`) that is a proper prefix of some needle starts; input.length if none. */
function pendingStart(input: Buffer, from: number, needles: Buffer[]): number {
  const longest = needles[0]?.length ?? 0;
  const windowStart = Math.max(from, input.length - (longest - 1));
  let start = input.length;
  for (const n of needles) {
    const first = n[0]!;
    // Candidate starts: occurrences of the needle's first byte in the window; the earliest that fits wins.
    for (
      let at = input.indexOf(first, Math.max(windowStart, input.length - (n.length - 1)));
      at !== -1 && at < start;
      at = input.indexOf(first, at + 1)
    ) {
      const tail = input.subarray(at);
      if (tail.length < n.length && n.subarray(0, tail.length).equals(tail)) {
        start = at;
        break;
      }
    }
  }
  return start;
}

/** A Transform that masks secrets in a byte stream (see the module comment). */
export class MaskStream extends Transform {
  private held: Buffer = Buffer.alloc(0);
  private readonly replacement = Buffer.from(MASK, 'utf8');

  constructor(private needles: Buffer[]) {
    super();
  }

  /** Replaces the patterns (exec adds a rotated key's); applies from the next chunk on, and to what is held back. */
  setNeedles(needles: Buffer[]): void {
    this.needles = needles;
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    const data = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (this.needles.length === 0) {
      callback(null, data);
      return;
    }
    const { out, held } = maskChunk(this.held.length ? Buffer.concat([this.held, data]) : data, this.needles, this.replacement, false);
    this.held = held;
    callback(null, out.length ? out : undefined);
  }

  override _flush(callback: TransformCallback): void {
    const { out } = maskChunk(this.held, this.needles, this.replacement, true);
    this.held = Buffer.alloc(0);
    callback(null, out.length ? out : undefined);
  }
}
