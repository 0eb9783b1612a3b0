import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MIN_CORE_LENGTH, MIN_SECRET_LENGTH, processRedactor, Redactor, secretForms } from '../../src/audit/redact.js';
import { MASK, maskChunk, maskNeedles } from '../../src/delivery/mask.js';

const M = '[REDACTED]';
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/**
 * What masking an encoded string must give, worked out from bits rather than from secretForms: every character whose
 * six bits all come from bytes [start, end) of `data` (a secret inside it) is masked, overlapping runs merged.
 */
function encodedMasked(data: Buffer, at: Array<[number, number]>, encoding: 'base64' | 'base64url'): string {
  const text = data.toString(encoding);
  const runs = at.map(([start, end]) => [Math.ceil((8 * start) / 6), Math.floor((8 * end) / 6)] as [number, number]);
  runs.sort((x, y) => x[0] - y[0]);
  let out = '';
  let pos = 0;
  for (let i = 0; i < runs.length; i++) {
    const s = runs[i]![0];
    let e = runs[i]![1];
    while (i + 1 < runs.length && runs[i + 1]![0] < e) e = Math.max(e, runs[++i]![1]);
    out += text.slice(pos, s) + M;
    pos = e;
  }
  return out + text.slice(pos);
}

/** Enough other secrets that the redactor uses its indexed scan rather than one search per form. */
function manyOthers(n = 40): string[] {
  return Array.from({ length: n }, () => randomBytes(15).toString('base64url'));
}

/** What apply must return: the union of every occurrence of every form masked, overlapping runs merged. */
function reference(text: string, secrets: string[]): string {
  const ranges: Array<[number, number]> = [];
  for (const f of new Set(secrets.flatMap((s) => secretForms(s)))) {
    for (let at = text.indexOf(f); at !== -1; at = text.indexOf(f, at + 1)) ranges.push([at, at + f.length]);
  }
  ranges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let out = '';
  let pos = 0;
  let cur: [number, number] | undefined;
  for (const r of ranges) {
    if (cur && r[0] < cur[1]) cur[1] = Math.max(cur[1], r[1]);
    else {
      if (cur) out += text.slice(pos, cur[0]) + M;
      if (cur) pos = cur[1];
      cur = [...r];
    }
  }
  if (cur) out += text.slice(pos, cur[0]) + M + text.slice(cur[1]);
  else out = text;
  return out;
}

describe.each([
  ['few forms (one search per form)', [] as string[]],
  ['many forms (indexed scan)', manyOthers()],
])('Redactor.apply with %s', (_name, others) => {
  const make = (...secrets: string[]) => {
    const r = new Redactor();
    r.add(...others, ...secrets);
    return r;
  };

  it('masks every form of a secret and leaves the rest of the text alone', () => {
    const s = 'FAKE-secret-0001';
    const out = make(s).apply(`a ${s} b ${b64(s)} c ${hex(s).toUpperCase()} d`);
    expect(out).toBe(`a ${M} b ${M} c ${M} d`);
  });

  it('masks a secret that contains another whole', () => {
    const inner = 'FAKE-inner1';
    const outer = 'xx-FAKE-inner1-yy';
    expect(make(inner, outer).apply(`<${outer}> <${inner}>`)).toBe(`<${M}> <${M}>`);
    expect(make(outer, inner).apply(`<${outer}>`)).toBe(`<${M}>`);
  });

  it('masks the union of two secrets that overlap in the text, leaving no fragment of either', () => {
    const a = 'abcdefgh1';
    const b = 'efgh1ijklm';
    expect(make(a, b).apply(`[abcdefgh1ijklm]`)).toBe(`[${M}]`);
  });

  it('keeps two adjacent secrets as two masks', () => {
    const a = 'FAKE-aaaaaa';
    const b = 'FAKE-bbbbbb';
    expect(make(a, b).apply(`${a}${b}`)).toBe(`${M}${M}`);
  });

  it('never masks values shorter than MIN_SECRET_LENGTH', () => {
    const short = 'x'.repeat(MIN_SECRET_LENGTH - 1);
    const r = make(short);
    expect(r.size).toBe(make().size);
    expect(r.apply(`a ${short} b`)).toBe(`a ${short} b`);
  });

  it('treats regex metacharacters in secrets literally', () => {
    const s = 'a.b*c+d?(e)[f]{g}|h^$\\i';
    const r = make(s);
    expect(r.apply(`<${s}>`)).toBe(`<${M}>`);
    expect(r.apply('<aXbbbcdd(e)[f]{g}|h^$\\i>')).toBe('<aXbbbcdd(e)[f]{g}|h^$\\i>');
  });

  it('finds secrets at the very start and end of the text, and non-ASCII ones', () => {
    const s = 'clé-secrète-€';
    const six = 'Z9y8X7';
    expect(make(s, six).apply(`${s} mid ${six}`)).toBe(`${M} mid ${M}`);
    expect(make(six).apply(six)).toBe(M);
  });

  it('masks the base64 of an HTTP Basic header of key:secret: the secret starts mid-string', () => {
    const key = 'FAKE-apikey-000001';
    const secret = 'FAKE-secret-0123456789abcdefghijklmn';
    const plain = Buffer.from(`${key}:${secret}`);
    const header = (encoded: string) => `GET /v5/account HTTP/1.1\r\nAuthorization: Basic ${encoded}\r\n`;
    const keyAt: [number, number] = [0, key.length];
    const secretAt: [number, number] = [key.length + 1, plain.length];
    // The secret sits one byte past a 3-byte boundary: the old forms (whole-string base64 of the secret) miss it.
    expect((key.length + 1) % 3).toBe(1);
    expect(make(key, secret).apply(header(plain.toString('base64')))).toBe(header(encodedMasked(plain, [keyAt, secretAt], 'base64')));
    expect(make(secret).apply(header(plain.toString('base64')))).toBe(header(encodedMasked(plain, [secretAt], 'base64')));
  });

  it.each(['base64', 'base64url'] as const)('masks %s of a secret at every alignment inside a longer encoded string', (encoding) => {
    // Bytes that encode to "+" and "/" (base64) or "-" and "_" (base64url) at every alignment.
    const secret = 'FAKE>>>???~~~\u00ff\u00fe-secret';
    const r = make(secret);
    const bytes = Buffer.from(secret);
    for (let before = 0; before < 6; before++) {
      for (let after = 0; after < 4; after++) {
        // Random neighbours: what is masked must not depend on them.
        for (let trial = 0; trial < 4; trial++) {
          const data = Buffer.concat([randomBytes(before), bytes, randomBytes(after)]);
          const expected = encodedMasked(data, [[before, before + bytes.length]], encoding);
          const out = r.apply(`x ${data.toString(encoding)} y`);
          // The padded form of the secret alone may also mask a trailing "=" run and its last character.
          if (after === 0 && before % 3 === 0) expect(out).toBe(`x ${expected.replace(/[A-Za-z0-9+/_-]?=*$/, '')} y`);
          else expect(out).toBe(`x ${expected} y`);
        }
      }
    }
    expect(Buffer.from(secret).toString('base64')).toMatch(/[+/]/);
  });

  it('masks secrets inside a JSON body that was base64-encoded whole', () => {
    const key = 'FAKE-apikey-00000002';
    const secret = 'FAKE-secret-zyxwvutsrqponmlk987654321';
    const pass = 'FAKE-passphrase-42';
    const body = JSON.stringify({ exchange: 'okx', apiKey: key, secret, passphrase: pass, note: 'fake fixture' });
    const data = Buffer.from(body);
    const at = [key, secret, pass].map((s) => [body.indexOf(s), body.indexOf(s) + s.length] as [number, number]);
    // Between them the three secrets start at all three alignments.
    expect(new Set(at.map(([s]) => s % 3)).size).toBe(3);
    for (const encoding of ['base64', 'base64url'] as const) {
      const out = make(key, secret, pass).apply(`payload=${data.toString(encoding)}`);
      expect(out).toBe(`payload=${encodedMasked(data, at, encoding)}`);
      expect(out.split(M)).toHaveLength(4);
    }
  });

  it('agrees with the reference (union of all occurrences) on random texts', () => {
    const secrets = Array.from({ length: 8 }, (_, i) => randomBytes(6 + i).toString('base64url'));
    // Overlapping pairs: the tail of one secret is the head of the next.
    secrets.push(`${secrets[0]!.slice(-4)}tail-overlap`, `${secrets[1]!}${secrets[2]!}`);
    const r = make(...secrets);
    for (let i = 0; i < 50; i++) {
      const parts: string[] = [];
      for (let j = 0; j < 12; j++) {
        const s = secrets[(i + j) % secrets.length]!;
        const form = secretForms(s)[j % secretForms(s).length]!;
        parts.push(randomBytes(j % 5).toString('hex'), j % 3 === 0 ? form.slice(0, -1) : form);
      }
      const text = parts.join(i % 2 ? ' ' : '');
      expect(r.apply(text)).toBe(reference(text, [...others, ...secrets]));
    }
  });
});

describe('secretForms', () => {
  it('has no encoded form shorter than MIN_CORE_LENGTH, so a short secret cannot start masking ordinary output', () => {
    for (let n = MIN_SECRET_LENGTH; n < MIN_SECRET_LENGTH + 12; n++) {
      const s = 'F'.repeat(n);
      for (const form of secretForms(s)) if (form !== s) expect(form.length).toBeGreaterThanOrEqual(MIN_CORE_LENGTH);
    }
    expect(MIN_CORE_LENGTH).toBe(Buffer.from('x'.repeat(MIN_SECRET_LENGTH)).toString('base64').length);
  });

  it('a minimum-length secret is masked in base64 only where it starts a 3-byte group (its other cores are too short)', () => {
    const six = 'Z9y8X7';
    const r = new Redactor();
    r.add(six);
    const at0 = Buffer.from(`${six}-trailer`).toString('base64');
    expect(r.apply(at0)).not.toBe(at0);
    const at1 = Buffer.from(`a${six}-trailer`).toString('base64');
    expect(r.apply(at1)).toBe(at1);
  });

  it('the output filter of keyctl exec masks the mid-string base64 forms too', () => {
    const key = 'FAKE-apikey-000001';
    const secret = 'FAKE-secret-0123456789abcdefghijklmn';
    const header = `Authorization: Basic ${b64(`${key}:${secret}`)}\n`;
    const { out } = maskChunk(Buffer.from(header), maskNeedles([secret]), Buffer.from(MASK), true);
    expect(out.toString()).toContain(MASK);
    expect(out.toString()).not.toContain(b64(`${key}:${secret}`).slice(30, 60));
  });
});

describe('Redactor registrations', () => {
  const s = 'FAKE-secret-0001';

  it('forget unmasks what add masked, in every form', () => {
    const r = new Redactor();
    r.add(s);
    expect(r.apply(s)).toBe(M);
    r.forget(s);
    expect(r.apply(`${s} ${hex(s)} ${b64(s)}`)).toBe(`${s} ${hex(s)} ${b64(s)}`);
    expect(r.size).toBe(0);
  });

  it('counts registrations: a value added twice stays masked until forgotten twice', () => {
    const r = new Redactor();
    r.add(s);
    r.add(s);
    r.forget(s);
    expect(r.apply(s)).toBe(M);
    r.forget(s);
    expect(r.apply(s)).toBe(s);
  });

  it('counts per form: forgetting one value keeps a form another value shares', () => {
    // B's plain text is A's hex form.
    const a = 'FAKE-shared';
    const b = hex(a);
    const r = new Redactor();
    r.add(a, b);
    r.forget(a);
    expect(r.apply(b)).toBe(M);
    expect(r.apply(a)).toBe(a);
  });

  it('forgetting a value never added does nothing, and does not pre-empt a later add', () => {
    const r = new Redactor();
    r.forget(s, undefined, 'short');
    r.add(s);
    expect(r.apply(s)).toBe(M);
  });

  it('sees changes made after an apply (the matcher is rebuilt)', () => {
    const r = new Redactor();
    r.add(...manyOthers());
    expect(r.apply(s)).toBe(s);
    r.add(s);
    expect(r.apply(s)).toBe(M);
    r.forget(s);
    expect(r.apply(s)).toBe(s);
  });

  it('processRedactor is a Redactor', () => {
    expect(processRedactor).toBeInstanceOf(Redactor);
  });
});

describe('Redactor scopes', () => {
  const parentSecret = 'FAKE-parent-01';
  const own = 'FAKE-scoped-01';

  it('a scope masks its parent values and its own; the parent does not mask the scope values', () => {
    const parent = new Redactor();
    parent.add(parentSecret);
    const scope = parent.scope();
    scope.add(own);
    expect(scope.apply(`${parentSecret} ${own}`)).toBe(`${M} ${M}`);
    expect(parent.apply(own)).toBe(own);
    expect(scope.size).toBe(parent.size + secretForms(own).length);
  });

  it('a scope sees values its parent gains after the scope was made', () => {
    const parent = new Redactor();
    const scope = parent.scope();
    scope.add(own);
    expect(scope.apply(parentSecret)).toBe(parentSecret);
    parent.add(parentSecret);
    expect(scope.apply(parentSecret)).toBe(M);
    parent.forget(parentSecret);
    expect(scope.apply(parentSecret)).toBe(parentSecret);
  });

  it('dispose forgets the scope values and keeps the parent ones', () => {
    const parent = new Redactor();
    parent.add(parentSecret);
    const scope = parent.scope();
    scope.add(own, parentSecret);
    scope.dispose();
    expect(scope.apply(`${parentSecret} ${own}`)).toBe(`${M} ${own}`);
    expect(parent.apply(parentSecret)).toBe(M);
  });

  it('two scopes holding the same value do not unmask each other', () => {
    const parent = new Redactor();
    const a = parent.scope();
    const b = parent.scope();
    a.add(own);
    b.add(own);
    a.dispose();
    expect(b.apply(own)).toBe(M);
    expect(a.apply(own)).toBe(own);
  });

  it('nested scopes mask every ancestor value, with the indexed scan too', () => {
    const root = new Redactor();
    root.add(...manyOthers(), parentSecret);
    const mid = root.scope();
    mid.add('FAKE-middle-01');
    const leaf = mid.scope();
    leaf.add(own);
    expect(leaf.apply(`${parentSecret} FAKE-middle-01 ${own}`)).toBe(`${M} ${M} ${M}`);
    mid.dispose();
    expect(leaf.apply(`${parentSecret} FAKE-middle-01 ${own}`)).toBe(`${M} FAKE-middle-01 ${M}`);
  });
});
