import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MIN_SECRET_LENGTH, processRedactor, Redactor, secretForms } from '../../src/audit/redact.js';

const M = '[REDACTED]';
const hex = (s: string) => Buffer.from(s, 'utf8').toString('hex');
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

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
