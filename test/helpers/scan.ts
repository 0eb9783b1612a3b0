import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The forms a secret could take if something wrote it out: plain, base64 (padded or not), base64url, hex. */
export function secretForms(secret: string): string[] {
  const b = Buffer.from(secret, 'utf8');
  return [secret, b.toString('base64').replace(/=+$/, ''), b.toString('base64url'), b.toString('hex')];
}

export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

/** Files under `dir` whose bytes contain `secret` in any of its forms. */
export function filesContaining(dir: string, secret: string): string[] {
  const forms = secretForms(secret).map((f) => Buffer.from(f, 'utf8'));
  return filesUnder(dir).filter((f) => {
    const bytes = readFileSync(f);
    return forms.some((form) => bytes.includes(form));
  });
}

export function mode(path: string): number {
  return statSync(path).mode & 0o777;
}
