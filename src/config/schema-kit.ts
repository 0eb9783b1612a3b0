/**
 * The valibot building blocks every keyctl.yaml schema uses (the config's own and the alerts map's), so each refuses
 * the same mistakes in the same words: an unknown field is `unknown field "x"`, a missing one `required`, a list where
 * a mapping belongs a wrong type, an unknown tag the list of known ones.
 */
import * as v from 'valibot';

/** Issue text for library checks that carry no message of their own; matches the wording users already saw. */
export function describeIssue(issue: v.BaseIssue<unknown>): string {
  const { input } = issue;
  switch (issue.type) {
    case 'min_length':
    case 'max_length': {
      const array = Array.isArray(input);
      const [size, op] = issue.type === 'min_length' ? ['Too small', '>='] : ['Too big', '<='];
      return `${size}: expected ${array ? 'array' : 'string'} to have ${op}${String(issue.requirement)} ${array ? 'items' : 'characters'}`;
    }
    default:
      return issue.kind === 'schema'
        ? `Invalid input: expected ${expectedName(issue.type)}, received ${receivedName(input)}`
        : issue.message;
  }
}

/** Options for every parse of these schemas: collect all problems, word them as {@link describeIssue} does. */
export const parseOptions = { abortEarly: false, message: describeIssue } as const satisfies v.Config<v.BaseIssue<unknown>>;

function expectedName(type: string): string {
  if (type.endsWith('object') || type === 'variant') return 'object';
  return type;
}

function receivedName(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'array';
  if (typeof input === 'number' && !Number.isFinite(input)) return Number.isNaN(input) ? 'NaN' : 'Infinity';
  if (typeof input === 'object') {
    const ctor = (Object.getPrototypeOf(input) as { constructor?: { name?: string } } | null)?.constructor?.name;
    return ctor && ctor !== 'Object' ? ctor : 'object';
  }
  return typeof input;
}

/**
 * The names of the unknown fields in a strict-object issue, or undefined for any other issue. valibot stops at the
 * first unknown key of an object; this lists all of them, from the object the issue points into.
 */
function unknownKeys(issue: v.BaseIssue<unknown>, entries: v.ObjectEntries): string[] | undefined {
  const at = issue.path?.at(-1);
  if (issue.type !== 'strict_object' || issue.expected !== 'never' || at?.origin !== 'key') return undefined;
  return Object.keys(at.input as object).filter((k) => !Object.prototype.hasOwnProperty.call(entries, k));
}

/**
 * valibot's object, record and variant schemas take an array for an object (`[]` would pass as `{}`); a list where
 * keyctl.yaml expects a mapping is a mistake, so it is rejected here, worded like any other wrong type.
 */
export function mapping<S extends v.GenericSchema>(schema: S): S {
  type Run = S['~run'];
  const run: Run = schema['~run'];
  const guarded: Run = function (this: S, dataset, config) {
    if (!Array.isArray(dataset.value)) return run.call(this, dataset, config);
    const issue: v.BaseIssue<unknown> = {
      kind: 'schema',
      type: this.type,
      input: dataset.value,
      expected: this.expects,
      received: 'Array',
      message: `Invalid input: expected ${expectedName(this.type)}, received array`,
    };
    return { typed: false, value: dataset.value, issues: [issue] } as ReturnType<Run>;
  };
  // Replaced in place (not copied) so the schema object, and its Standard Schema `validate`, stay one and the same.
  (schema as { '~run': Run })['~run'] = guarded;
  return schema;
}

/** A strict object whose problems read `unknown field "x"` and, for a missing field, `required`. */
export function strict<const E extends v.ObjectEntries>(entries: E) {
  return mapping(
    v.strictObject(entries, (issue) => {
      const unknown = unknownKeys(issue, entries);
      if (unknown) return `unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}`;
      if (issue.path?.at(-1)?.origin === 'key') return 'required';
      return describeIssue(issue);
    }),
  );
}

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const name = (what: string) =>
  v.pipe(v.string(), v.regex(NAME, `${what} names use lowercase letters, digits, "-" and "_" (at most 63 characters)`));

/** Named entries (accounts, bots, sub-accounts): a mapping from a valid name to `value`. */
export function named<const S extends v.GenericSchema>(what: string, value: S) {
  return mapping(v.record(name(what), value));
}

/** One of a fixed list of strings. */
export function oneOf<const T extends readonly [string, ...string[]]>(options: T) {
  return v.picklist(options, `Invalid option: expected one of ${options.map((o) => `"${o}"`).join('|')}`);
}

/** A union told apart by the `key` field; an unknown or missing `key` is reported on that field. */
export function tagged<const K extends string, const O extends v.VariantOptions<K>>(key: K, options: O) {
  // Every option here is a strict object whose `key` is a literal.
  const values = options
    .map((o) => `'${String((o as unknown as { entries: Record<K, { literal: string }> }).entries[key].literal)}'`)
    .join(' | ');
  return mapping(
    v.variant(key, options, (issue) => {
      const at = issue.path?.at(-1);
      if (!at) return describeIssue(issue);
      const missing = !Object.prototype.hasOwnProperty.call(at.input, key);
      return missing ? `required, one of ${values}` : `Invalid discriminator value. Expected ${values}`;
    }),
  );
}
