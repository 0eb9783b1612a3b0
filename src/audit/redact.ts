/**
 * Last line of defence against a secret reaching output: every secret keyctl handles in a process is registered
 * here, and every string written to the terminal, a log or an error passes through `apply`. Registered values are
 * also matched in their base64, base64url and hex forms, which is how they would appear if something encoded them.
 */
/** Shorter values are not masked: they would match ordinary output. */
export const MIN_SECRET_LENGTH = 6;

/**
 * The forms a secret takes if something encodes it: plain, base64 (padded, and unpadded as it appears inside longer
 * encoded strings), base64url, hex in both cases. Empty for values too short to mask. The Redactor and the output
 * filter of `keyctl exec` both mask exactly these.
 */
export function secretForms(secret: string | undefined): string[] {
  if (!secret || secret.length < MIN_SECRET_LENGTH) return [];
  const buf = Buffer.from(secret, 'utf8');
  const hex = buf.toString('hex');
  return [
    ...new Set([
      secret,
      buf.toString('base64'),
      buf.toString('base64').replace(/=+$/, ''),
      buf.toString('base64url'),
      hex,
      hex.toUpperCase(),
    ]),
  ];
}

export class Redactor {
  private readonly needles = new Set<string>();

  add(...secrets: Array<string | undefined>): void {
    for (const s of secrets) for (const form of secretForms(s)) this.needles.add(form);
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
