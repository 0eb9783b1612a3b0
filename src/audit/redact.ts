/**
 * Last line of defence against a secret reaching output: every secret keyctl handles in a process is registered
 * here, and every string written to the terminal, a log or an error passes through `apply`. Registered values are
 * also matched in their base64, base64url and hex forms, which is how they would appear if something encoded them.
 */
const MIN_LENGTH = 6;

export class Redactor {
  private readonly needles = new Set<string>();

  add(...secrets: Array<string | undefined>): void {
    for (const s of secrets) {
      if (!s || s.length < MIN_LENGTH) continue;
      const buf = Buffer.from(s, 'utf8');
      for (const form of [s, buf.toString('base64'), buf.toString('base64url'), buf.toString('hex')]) this.needles.add(form);
      // base64 without its padding, as it appears inside longer encoded strings
      this.needles.add(buf.toString('base64').replace(/=+$/, ''));
    }
  }

  apply(text: string): string {
    let out = text;
    // Longest first, so a secret that contains another is replaced whole.
    for (const n of [...this.needles].sort((a, b) => b.length - a.length)) {
      if (out.includes(n)) out = out.split(n).join('[REDACTED]');
    }
    return out;
  }

  get size(): number {
    return this.needles.size;
  }
}

/** One redactor per process: secrets read anywhere (stdin, the store) are registered in it. */
export const processRedactor = new Redactor();
