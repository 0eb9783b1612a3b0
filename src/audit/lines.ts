/**
 * Line readers for the audit log that never hold the whole file: forward (verify) and backward (tail, last entry).
 * Lines are split on the byte 0x0A, which never occurs inside a multi-byte UTF-8 character, so chunk edges are safe
 * and line numbers match what `wc -l` and editors show.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

const NL = 0x0a;
const CHUNK = 64 * 1024;

/** Yields every line with its 1-based number, the final line even without a trailing newline. Missing file: nothing. */
export async function* readLinesForward(path: string): AsyncGenerator<{ line: number; text: string }> {
  let carry = Buffer.alloc(0);
  let line = 0;
  let fh: FileHandle;
  try {
    // O_NOFOLLOW: a link planted at the log's name is an error (ELOOP), not another file read as the log. O_NONBLOCK:
    // a FIFO planted there cannot hang the reader; it is refused below.
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    throw Object.assign(new Error('not a regular file'), { code: 'ENOTREG' });
  }
  const stream = fh.createReadStream({ highWaterMark: CHUNK });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let nl: number;
      while ((nl = buf.indexOf(NL)) !== -1) {
        line += 1;
        yield { line, text: buf.subarray(0, nl).toString('utf8') };
        buf = buf.subarray(nl + 1);
      }
      carry = Buffer.from(buf);
    }
  } finally {
    stream.destroy();
    await fh.close().catch(() => undefined);
  }
  if (carry.length) yield { line: line + 1, text: carry.toString('utf8') };
}

/**
 * Yields lines from the end of an open file towards its start (last line first), skipping the empty piece after a
 * trailing newline. Reads `size` bytes at most, in chunks.
 */
export async function* readLinesBackward(fh: FileHandle, size: number): AsyncGenerator<string> {
  let pos = size;
  let carry = Buffer.alloc(0);
  let first = true;
  while (pos > 0) {
    const len = Math.min(CHUNK, pos);
    pos -= len;
    const chunk = Buffer.alloc(len);
    const { bytesRead } = await fh.read(chunk, 0, len, pos);
    let buf = Buffer.concat([chunk.subarray(0, bytesRead), carry]);
    let nl: number;
    while ((nl = buf.lastIndexOf(NL)) !== -1) {
      const piece = buf.subarray(nl + 1);
      // The piece after the file's final newline is not a line.
      if (!(first && piece.length === 0)) yield piece.toString('utf8');
      first = false;
      buf = buf.subarray(0, nl);
    }
    carry = Buffer.from(buf);
  }
  if (carry.length) yield carry.toString('utf8');
}
