import Table from 'cli-table3';
import type { Writable } from 'node:stream';
import type { Redactor } from '../audit/redact.js';
import { Progress } from './progress.js';

/**
 * Every byte keyctl prints goes through here, so it can be redacted and so `--json` mode prints exactly one JSON
 * document on stdout.
 */
export class Output {
  constructor(
    readonly json: boolean,
    private readonly stdout: Writable,
    private readonly stderr: Writable,
    private readonly redactor: Redactor,
    /** The terminal for live progress lines; undefined when stderr is not one. */
    private readonly terminal?: Writable,
  ) {}

  /**
   * Progress over `total` slots: a line on stderr as each finishes (none with --json), and a live line on a terminal
   * when the work takes a while.
   */
  progress(verb: string, total: number): Progress {
    return new Progress({ verb, total, line: (text) => this.info(text), ...(this.terminal && !this.json ? { live: this.terminal } : {}) });
  }

  /** The command's result: `data` as JSON with --json, otherwise the human text. */
  result(data: unknown, human: string | (() => string)): void {
    if (this.json) this.write(this.stdout, `${JSON.stringify(data, null, 2)}\n`);
    else {
      const text = typeof human === 'function' ? human() : human;
      if (text) this.write(this.stdout, text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /** Progress and advice for humans; on stderr so stdout stays parseable. Silent with --json. */
  info(text: string): void {
    if (!this.json) this.write(this.stderr, `${text}\n`);
  }

  /** Warnings go to stderr in every mode. */
  warn(text: string): void {
    this.write(this.stderr, `warning: ${text}\n`);
  }

  /** Raw write to stdout, for the rare output that is the product (a printed master key, a token). */
  raw(text: string): void {
    this.stdout.write(text);
  }

  error(text: string): void {
    this.write(this.stderr, text.endsWith('\n') ? text : `${text}\n`);
  }

  errorJson(data: unknown): void {
    this.write(this.stdout, `${JSON.stringify(data, null, 2)}\n`);
  }

  private write(stream: Writable, text: string): void {
    stream.write(this.redactor.apply(text));
  }
}

/** A plain table for terminal output. */
export function table(head: string[], rows: Array<Array<string | number>>): string {
  // No separator between rows: long listings (audit tail, key list) stay readable.
  const t = new Table({ head, style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } });
  for (const r of rows) t.push(r.map(String));
  return t.toString();
}

/** Human age of an ISO time relative to now: 3d, 5h, 12m, 40s. */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s >= 86_400) return `${Math.floor(s / 86_400)}d`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h`;
  if (s >= 60) return `${Math.floor(s / 60)}m`;
  return `${s}s`;
}
