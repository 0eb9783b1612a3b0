/**
 * Shape mutations of exchange answers, for the strict-parser fuzz tests (test/unit/exchange-<id>-strict.test.ts): what
 * an API change, a proxy or a bug could turn an answer into. Each test adds the mutations particular to its exchange
 * (a permission string reshaped, an IP list with a non-address).
 */
export type Answer = Record<string, unknown>;
export interface Mutation {
  name: string;
  answer: Answer;
}

const kind = (x: unknown) => (x === null ? 'null' : Array.isArray(x) ? 'array' : typeof x);

/**
 * A value turned into other types. Values of the value's own type are left out: `enableWithdrawals: false`,
 * `permissions: {}` or another uid is a well-formed answer that only the exchange can know to be false.
 */
export function retypes(value: unknown): unknown[] {
  return [
    null,
    'x',
    '',
    7,
    0,
    1,
    true,
    [],
    {},
    [value],
    { value },
    typeof value === 'string' ? value.split('') : String(value),
    Array.isArray(value) ? value.join(',') : JSON.stringify(value),
  ].filter((r) => kind(r) !== kind(value));
}

/** Each field of an answer dropped, renamed (a `_` appended) and retyped. */
export function fieldMutations(answer: Answer): Mutation[] {
  const out: Mutation[] = [];
  for (const [field, value] of Object.entries(answer)) {
    const { [field]: _dropped, ...without } = answer;
    out.push({ name: `drop ${field}`, answer: without });
    out.push({ name: `rename ${field}`, answer: { ...without, [`${field}_`]: value } });
    retypes(value).forEach((r, i) => out.push({ name: `retype ${field} #${i}`, answer: { ...answer, [field]: r } }));
  }
  return out;
}

/** The names of the mutations whose answer passes the key policy (`codes` gives its violation codes). */
export async function passing(mutations: Mutation[], codes: (answer: Answer) => Promise<string[]>): Promise<string[]> {
  const passed: string[] = [];
  for (const m of mutations) if ((await codes(m.answer)).length === 0) passed.push(m.name);
  return passed;
}

/** The mutations whose check throws instead of giving violations or a pass, with what it threw. */
export async function crashing(mutations: Mutation[], check: (answer: Answer) => Promise<unknown>): Promise<string[]> {
  const crashed: string[] = [];
  for (const m of mutations) await check(m.answer).catch((err: unknown) => crashed.push(`${m.name}: ${String(err)}`));
  return crashed;
}

/**
 * Names that are members of every object's prototype (`toString`, `constructor`...) or that valibot's `record` and
 * `looseObject` drop (`__proto__`, `constructor`, `prototype`): as a field, a permission group or a permission token,
 * each must read as an unknown permission or a bad answer, never crash a lookup or vanish.
 */
export const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty'] as const;

/** Strings that are no time: garbage, impossible dates, a padded date, a number past Date's range, a far year. */
export const GARBAGE_TIMES = [
  'soon',
  'never',
  '2025-13-45',
  '2025-02-30T00:00:00Z',
  ' 2025-06-04T00:00:00Z',
  '2025-06-04T00:00:00Z ',
  '2025-06-04 00:00:00',
  '99999999999999999999',
  '9000000000000000',
  '-1',
  '+275760-09-13T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '1970-01-02T00:00:00Z',
  'Infinity',
  'NaN',
] as const;

/** Numbers of an odd size: negative, fractional, beyond safe integers, beyond Date's range, a huge count of days. */
export const ODD_NUMBERS = [-1, -2, -1e9, 0.5, 2 ** 53, 9e15, 1e20, 100_000_001, Number.MAX_SAFE_INTEGER] as const;

/** The answer with one more own field, even one named `__proto__` (which an object literal would take as its prototype). */
export function withField(answer: Answer, field: string, value: unknown): Answer {
  const out: Answer = { ...answer };
  Object.defineProperty(out, field, { value, enumerable: true, writable: true, configurable: true });
  return out;
}

/**
 * Mutations that keep each field's type (retypes leaves those out): every number field to ODD_NUMBERS, the `times`
 * fields to GARBAGE_TIMES (when strings) or ODD_NUMBERS, extra fields named PROTOTYPE_NAMES, and `apiKey` (when the
 * answer has one) to another key's. A value that is merely another well-formed value (another uid, a flag turned off) is
 * still left out: only the exchange can know it to be false.
 */
export function sameTypeMutations(answer: Answer, options: { times?: readonly string[] } = {}): Mutation[] {
  const out: Mutation[] = [];
  for (const [field, value] of Object.entries(answer)) {
    if (typeof value === 'number') {
      for (const n of ODD_NUMBERS) if (n !== value) out.push({ name: `${field} = ${n}`, answer: { ...answer, [field]: n } });
    } else if (typeof value === 'string' && options.times?.includes(field)) {
      for (const t of GARBAGE_TIMES) out.push({ name: `${field} = ${JSON.stringify(t)}`, answer: { ...answer, [field]: t } });
    }
  }
  for (const field of options.times ?? []) {
    if (!(field in answer)) {
      for (const t of [...GARBAGE_TIMES, ...ODD_NUMBERS]) {
        out.push({ name: `added ${field} = ${JSON.stringify(t)}`, answer: { ...answer, [field]: t } });
      }
    }
  }
  for (const name of PROTOTYPE_NAMES) {
    for (const value of [true, 'x', ['x'], {}]) {
      out.push({ name: `extra field ${name} = ${JSON.stringify(value)}`, answer: withField(answer, name, value) });
    }
  }
  if (typeof answer.apiKey === 'string') {
    out.push({ name: "another key's apiKey", answer: { ...answer, apiKey: `${answer.apiKey}-OTHER` } });
  }
  return out;
}

/** A comma-separated permission string with a prototype-named token added (or as its only token). */
export function prototypeTokenMutations(answer: Answer, field: string): Mutation[] {
  const value = String(answer[field]);
  return PROTOTYPE_NAMES.flatMap((name) => [
    { name: `${field} + token ${name}`, answer: { ...answer, [field]: `${value},${name}` } },
    { name: `${field} = token ${name}`, answer: { ...answer, [field]: name } },
  ]);
}

/** A list with each entry repeated: right after itself, and at the end. */
export function duplicatedEntries<T>(list: readonly T[]): Array<{ name: string; list: T[] }> {
  return list.flatMap((entry, i) => [
    { name: `entry ${i} twice in a row`, list: [...list.slice(0, i + 1), entry, ...list.slice(i + 1)] },
    { name: `entry ${i} again at the end`, list: [...list, entry] },
  ]);
}
