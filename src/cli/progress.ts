/**
 * Progress of a command that works through many slots (rotate, verify, kill, offboard): one line on stderr as each
 * slot finishes, and, on a terminal only, a live status line once the work has taken longer than {@link LIVE_AFTER_MS}.
 * Never in `--json` (stdout stays one document, stderr stays quiet) and never an escape code into a pipe or a file.
 */
import type { Writable } from 'node:stream';

/** How long work runs before the live line appears: short commands stay as quiet as before. */
export const LIVE_AFTER_MS = 2000;
const REDRAW_MS = 250;
const CLEAR_LINE = '\r\x1b[2K';

export interface ProgressOptions {
  /** What is being done, for the live line: "rotating", "verifying". */
  verb: string;
  total: number;
  /** Writes one finished line (redacted by the caller's Output). */
  line(text: string): void;
  /** The terminal for the live line, or undefined when there is none (pipe, file, --json, TERM=dumb). */
  live?: Writable;
  now?: () => number;
}

export class Progress {
  private readonly started: number;
  private readonly running = new Set<string>();
  private finished = 0;
  private timer: NodeJS.Timeout | undefined;
  private shown = false;
  private readonly now: () => number;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? Date.now;
    this.started = this.now();
    if (options.live && options.total > 0) {
      this.timer = setInterval(() => this.redraw(), REDRAW_MS);
      this.timer.unref();
    }
  }

  /** A slot's work began. */
  begin(ref: string): void {
    this.running.add(ref);
  }

  /** A slot's work ended; `text` is its one line. */
  done(ref: string, text: string): void {
    this.running.delete(ref);
    this.finished += 1;
    this.clear();
    this.options.line(text);
    this.redraw();
  }

  /** Removes the live line; call once when the work is over (also on failure). */
  end(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private redraw(): void {
    const live = this.options.live;
    if (!live || !this.timer || this.now() - this.started < LIVE_AFTER_MS) return;
    const seconds = Math.round((this.now() - this.started) / 1000);
    const names = [...this.running];
    const at = names.length ? `: ${names.slice(0, 3).join(', ')}${names.length > 3 ? ` and ${names.length - 3} more` : ''}` : '';
    const text = `${this.options.verb} ${this.finished}/${this.options.total} (${seconds}s)${at}`;
    const width = (live as { columns?: number }).columns ?? 80;
    live.write(`${CLEAR_LINE}${text.length >= width ? `${text.slice(0, width - 2)}…` : text}`);
    this.shown = true;
  }

  private clear(): void {
    if (this.shown) this.options.live?.write(CLEAR_LINE);
    this.shown = false;
  }
}
