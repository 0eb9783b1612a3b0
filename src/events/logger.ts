/**
 * Loggers for the injected {@link Logger} interface: `silentLogger`, and `createLogger`, which writes one line per
 * call (JSON lines, or a short text form for a terminal) through a caller-supplied `write`.
 *
 * Why not pino: its strengths (an asynchronous destination, worker-thread transports, path-based `redact`) are not
 * what keyctl needs, and the one thing keyctl needs it does not do. keyctl must mask secret *values* wherever they
 * appear, in the message or any field, in any encoding the Redactor knows; pino's `redact` removes fields by path.
 * Running pino's output through our redactor is not enough either: a secret holding `"` or `\` is escaped by JSON
 * serialisation and no longer matches, so values have to be cleaned *before* serialisation, which pino leaves to
 * formatters and hooks on each call site. Add pino's own dependency tree in a tool that holds exchange keys, its
 * argument order (fields first) differing from this interface's, and a separate pretty-printer for text, and the
 * adapter ends up larger than this file.
 *
 * Every string (message, field keys and values, nested ones) passes through the redactor before serialisation, and
 * the finished line passes through it once more before `write`. Binary values are never written, only their length.
 */
import type { Redactor } from '../audit/redact.js';
import type { LogLevel, Logger } from './types.js';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
// Deep enough for any field keyctl logs; a deeper or cyclic value is cut rather than walked.
const MAX_DEPTH = 6;
const RESERVED = new Set(['time', 'level', 'msg']);
/* eslint-disable no-control-regex -- these match control characters on purpose */
const CONTROL = /[\u0000-\u001f\u007f]/g;
const BARE = /^[^\s"'=\\\u0000-\u001f\u007f]+$/;
/* eslint-enable no-control-regex */

/** Drops everything. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

export interface LoggerOptions {
  /** Lines below this level are not written. */
  level: LogLevel;
  /** Receives each finished line, without a trailing newline. */
  write: (line: string) => void;
  /** Masks secrets; a rotation's scope or the process redactor. */
  redactor: Pick<Redactor, 'apply'>;
  /** `json`: one JSON object per line (time, level, msg, fields). `text`: `<time> <LEVEL> <msg> key=value ...`. */
  format: 'json' | 'text';
  /** Clock, ms since the epoch. Default: Date.now. */
  now?: () => number;
  /** Fields added to every line. */
  fields?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  if (!(options.level in RANK)) throw new TypeError(`Unknown log level: ${String(options.level)}`);
  if (options.format !== 'json' && options.format !== 'text') throw new TypeError(`Unknown log format: ${String(options.format)}`);
  return new LineLogger({ ...options, now: options.now ?? Date.now, fields: options.fields ?? {} });
}

class LineLogger implements Logger {
  constructor(private readonly o: Required<LoggerOptions>) {}

  debug(message: string, fields?: Record<string, unknown>): void {
    this.log('debug', message, fields);
  }

  info(message: string, fields?: Record<string, unknown>): void {
    this.log('info', message, fields);
  }

  warn(message: string, fields?: Record<string, unknown>): void {
    this.log('warn', message, fields);
  }

  error(message: string, fields?: Record<string, unknown>): void {
    this.log('error', message, fields);
  }

  child(fields: Record<string, unknown>): Logger {
    return new LineLogger({ ...this.o, fields: { ...this.o.fields, ...fields } });
  }

  private log(level: LogLevel, message: string, fields: Record<string, unknown> | undefined): void {
    if (RANK[level] < RANK[this.o.level]) return;
    const redact = (s: string) => this.o.redactor.apply(s);
    const time = new Date(this.o.now()).toISOString();
    const msg = redact(String(message));
    const extra = cleanFields({ ...this.o.fields, ...fields }, redact);
    const line = this.o.format === 'json' ? JSON.stringify({ time, level, msg, ...extra }) : textLine(time, level, msg, extra);
    try {
      this.o.write(redact(line));
    } catch {
      // Logging is never the reason an operation fails (a closed pipe, a full disk): the line is lost, nothing else.
    }
  }
}

/** Cleaned fields; one that would overwrite time, level or msg is kept under `_<name>`. */
function cleanFields(fields: Record<string, unknown>, redact: (s: string) => string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const key = redact(k);
    out[RESERVED.has(key) ? `_${key}` : key] = clean(v, redact, 0, new WeakSet());
  }
  return out;
}

/** A JSON-safe copy of `value` with every string redacted. */
function clean(value: unknown, redact: (s: string) => string, depth: number, seen: WeakSet<object>): unknown {
  switch (typeof value) {
    case 'string':
      return redact(value);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
      return null;
    case 'symbol':
    case 'function':
      return `[${typeof value}]`;
  }
  if (value === null) return null;
  const obj = value as object;
  // Bytes may be key material that was never registered as a string: say how many, never what.
  if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) return `[binary ${obj.byteLength} bytes]`;
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
  if (depth >= MAX_DEPTH || seen.has(obj)) return '[…]';
  seen.add(obj);
  if (obj instanceof Error) {
    // No stack: it adds paths and noise to an operator's log, and never helps them act.
    const code = (obj as { code?: unknown }).code;
    return {
      name: redact(obj.name),
      message: redact(obj.message),
      ...(typeof code === 'string' ? { code: redact(code) } : {}),
    };
  }
  if (Array.isArray(obj)) return obj.map((v) => clean(v, redact, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined) out[redact(k)] = clean(v, redact, depth + 1, seen);
  }
  return out;
}

function textLine(time: string, level: LogLevel, msg: string, fields: Record<string, unknown>): string {
  let line = `${time} ${level.toUpperCase().padEnd(5)} ${escapeControls(msg)}`;
  for (const [k, v] of Object.entries(fields)) line += ` ${textToken(k)}=${textToken(v)}`;
  return line;
}

/** Bare when it reads unambiguously (no space, quote, `=` or control character), JSON otherwise. */
function textToken(v: unknown): string {
  if (typeof v === 'string') return BARE.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** One call, one line: a newline in a message must not let it forge a second log line. */
function escapeControls(s: string): string {
  return s.replace(CONTROL, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}
