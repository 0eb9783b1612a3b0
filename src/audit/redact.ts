/**
 * Last line of defence against a secret reaching output: every secret keyctl handles in a process is registered
 * here, and every string written to the terminal, a log or an error passes through `apply`. Registered values are
 * also matched in their base64, base64url and hex forms, which is how they would appear if something encoded them,
 * including base64 of a longer string that holds the secret anywhere (an HTTP Basic header of `key:secret`).
 * What masking does not catch is listed in docs/threat-model.md.
 *
 * A long-running process (the daemon) gives each rotation or cycle its own `scope()`: the scope masks what its parent
 * masks plus its own values, and `dispose()` forgets its own, so the process does not keep every key it ever saw.
 */
/** Shorter values are not masked: they would match ordinary output. */
export const MIN_SECRET_LENGTH = 6;

/**
 * The shortest base64 core that is masked: as long as the base64 of a MIN_SECRET_LENGTH value. A core carries fewer
 * of the secret's bits than the secret, so a shorter one would be masking less than a minimum-length secret holds.
 */
export const MIN_CORE_LENGTH = Math.ceil((MIN_SECRET_LENGTH * 4) / 3);

const MASK = '[REDACTED]';

/**
 * The base64 characters a secret always encodes to when it sits `offset` bytes past a 3-byte boundary inside a
 * longer encoded string, whatever its neighbours: a 6-bit character that mixes bits of a neighbour is dropped at
 * either end. Offset 0 keeps every leading character; offset 1 drops two (the neighbour's character and the mixed
 * one), offset 2 drops three. The last character is dropped unless the secret ends on a 3-byte boundary.
 */
function base64Core(buf: Buffer, offset: 0 | 1 | 2): string {
  const encoded = Buffer.concat([Buffer.alloc(offset), buf])
    .toString('base64')
    .replace(/=+$/, '');
  const head = [0, 2, 3][offset]!;
  const tail = (offset + buf.length) % 3 === 0 ? 0 : 1;
  return encoded.slice(head, encoded.length - tail);
}

const toBase64url = (s: string): string => s.replace(/\+/g, '-').replace(/\//g, '_');

/**
 * The forms a secret takes if something encodes it: plain, base64 (padded, and unpadded as it ends an encoded
 * string), the base64 core at each of the three alignments inside a longer encoded string (see base64Core; cores
 * shorter than MIN_CORE_LENGTH are left out), the same in base64url, hex in both cases. Empty for values too short to
 * mask. The Redactor and the output filter of `keyctl exec` both mask exactly these.
 */
export function secretForms(secret: string | undefined): string[] {
  if (!secret || secret.length < MIN_SECRET_LENGTH) return [];
  const buf = Buffer.from(secret, 'utf8');
  const hex = buf.toString('hex');
  const b64 = buf.toString('base64');
  const cores = ([0, 1, 2] as const).map((o) => base64Core(buf, o)).filter((c) => c.length >= MIN_CORE_LENGTH);
  return [
    ...new Set([
      secret,
      b64,
      b64.replace(/=+$/, ''),
      buf.toString('base64url'),
      ...cores,
      ...cores.map(toBase64url),
      hex,
      hex.toUpperCase(),
    ]),
  ];
}

// Incremented on every change to any Redactor: a matcher built at stamp S is current while no redactor on its chain
// changed after S.
let changes = 0;

export class Redactor {
  /** Each form this redactor registered itself, with how many `add` calls registered it net of `forget` calls. */
  private readonly counts = new Map<string, number>();
  private changedAt = 0;
  private matcher: Matcher | undefined;
  private builtAt = -1;

  /** Use `scope()` to make a child; `new Redactor()` is a root. */
  constructor(private readonly parent?: Redactor) {}

  add(...secrets: Array<string | undefined>): void {
    for (const s of secrets) {
      for (const form of secretForms(s)) this.counts.set(form, (this.counts.get(form) ?? 0) + 1);
    }
    this.touch();
  }

  /**
   * Undoes one `add` of each value. Counted per form, so a value added twice (two rotations of the same slot), or a
   * form two different values share, stays masked until every registration of it is forgotten. Values this
   * redactor never added (including its parent's) are left alone.
   */
  forget(...secrets: Array<string | undefined>): void {
    for (const s of secrets) {
      for (const form of secretForms(s)) {
        const n = this.counts.get(form);
        if (n === undefined) continue;
        if (n <= 1) this.counts.delete(form);
        else this.counts.set(form, n - 1);
      }
    }
    this.touch();
  }

  /** A child redactor: masks this one's values (as they change) plus its own; `dispose()` forgets its own. */
  scope(): Redactor {
    return new Redactor(this);
  }

  /** Forgets every value this redactor registered itself (its parent's stay). The redactor stays usable. */
  dispose(): void {
    this.counts.clear();
    this.touch();
  }

  apply(text: string): string {
    if (text.length < MIN_SECRET_LENGTH) return text;
    return this.current().apply(text);
  }

  /** How many distinct forms `apply` masks (this redactor's and its ancestors'). */
  get size(): number {
    return this.current().size;
  }

  private touch(): void {
    this.changedAt = ++changes;
  }

  private current(): Matcher {
    if (!this.matcher || this.lastChange() > this.builtAt) {
      const forms = new Set<string>();
      this.collect(forms);
      this.matcher = new Matcher([...forms]);
      this.builtAt = changes;
    }
    return this.matcher;
  }

  /** When this redactor or an ancestor last changed. */
  private lastChange(): number {
    return Math.max(this.changedAt, this.parent?.lastChange() ?? 0);
  }

  private collect(into: Set<string>): void {
    for (const form of this.counts.keys()) into.add(form);
    this.parent?.collect(into);
  }
}

// Up to this many forms (about six secrets), one native indexOf per form beats the indexed scan below: measured at
// ~0.35 µs per form per 4 KB against ~20 µs per 4 KB for the scan, whatever the number of forms.
const DIRECT_SEARCH_MAX = 32;
// The indexed scan's first filter: a bitset over a hash of a position's first three characters.
const FILTER_BITS = 18;
const FILTER_MASK = (1 << FILTER_BITS) - 1;
const hash3 = (a: number, b: number, c: number): number => ((a << 12) ^ (b << 6) ^ c) & FILTER_MASK;

/**
 * Finds every occurrence of every form, overlapping ones included, and masks the union of what they cover: a form
 * that contains another is masked whole, and two secrets that overlap in the text leave no fragment of either.
 * With few forms it searches for each; with many it scans the text once, looking up each position's first
 * MIN_SECRET_LENGTH characters in an index of the forms, so the cost stays linear in the text however many keys are
 * registered (the old sort-then-split-each cost grew with their number: see bench/results/redact.md).
 */
class Matcher {
  readonly size: number;
  /** Longest first: at one position the longest form wins. */
  private readonly forms: string[];
  private readonly byPrefix = new Map<string, string[]>();
  private readonly filter: Uint32Array | undefined;

  constructor(forms: string[]) {
    // Every form is at least MIN_SECRET_LENGTH long (secretForms), which the prefix index relies on.
    this.forms = forms.filter((f) => f.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
    this.size = this.forms.length;
    if (this.forms.length <= DIRECT_SEARCH_MAX) return;
    this.filter = new Uint32Array(1 << (FILTER_BITS - 5));
    for (const f of this.forms) {
      const h = hash3(f.charCodeAt(0), f.charCodeAt(1), f.charCodeAt(2));
      this.filter[h >>> 5]! |= 1 << (h & 31);
      const key = f.slice(0, MIN_SECRET_LENGTH);
      const list = this.byPrefix.get(key);
      if (list) list.push(f);
      else this.byPrefix.set(key, [f]);
    }
  }

  apply(text: string): string {
    if (this.size === 0) return text;
    const ranges = this.filter ? this.scan(text, this.filter) : this.search(text);
    if (ranges.length === 0) return text;
    let out = '';
    let pos = 0;
    let start = ranges[0]!;
    let end = ranges[1]!;
    for (let i = 2; i < ranges.length; i += 2) {
      const s = ranges[i]!;
      const e = ranges[i + 1]!;
      // Overlapping matches merge; adjacent ones stay two masks, as two secrets side by side read.
      if (s < end) {
        if (e > end) end = e;
        continue;
      }
      out += text.slice(pos, start) + MASK;
      pos = end;
      start = s;
      end = e;
    }
    return out + text.slice(pos, start) + MASK + text.slice(end);
  }

  /** Flat [start, end, start, end, ...] of every occurrence, by start. */
  private search(text: string): number[] {
    const found: Array<[number, number]> = [];
    for (const f of this.forms) {
      for (let at = text.indexOf(f); at !== -1; at = text.indexOf(f, at + 1)) found.push([at, at + f.length]);
    }
    found.sort((x, y) => x[0] - y[0] || y[1] - x[1]);
    return found.flat();
  }

  /** Same result as `search`, one pass over the text: at each position, the longest form that starts there. */
  private scan(text: string, filter: Uint32Array): number[] {
    const ranges: number[] = [];
    const last = text.length - MIN_SECRET_LENGTH;
    let a = text.charCodeAt(0);
    let b = text.charCodeAt(1);
    for (let i = 0; i <= last; i++) {
      const c = text.charCodeAt(i + 2);
      const h = hash3(a, b, c);
      a = b;
      b = c;
      if ((filter[h >>> 5]! & (1 << (h & 31))) === 0) continue;
      const candidates = this.byPrefix.get(text.slice(i, i + MIN_SECRET_LENGTH));
      if (!candidates) continue;
      for (const f of candidates) {
        if (text.startsWith(f, i)) {
          ranges.push(i, i + f.length);
          break;
        }
      }
    }
    return ranges;
  }
}

/** One redactor per process: secrets read anywhere (stdin, the store) are registered in it. */
export const processRedactor = new Redactor();
