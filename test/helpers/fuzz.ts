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
