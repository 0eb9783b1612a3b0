/**
 * The ACL part of the Vault test double: a parser for the HCL subset Vault policies use (`path "<glob>" {
 * capabilities = [...] }` blocks and `#` / `//` comments) and Vault's rule matching.
 *
 * Matching follows Vault's documented priority (concepts/policies, "Priority matching"): per policy, the single most
 * specific matching rule applies; across policies the capabilities are unioned, and `deny` wins over everything.
 */

export type Capability = 'create' | 'read' | 'update' | 'patch' | 'delete' | 'list' | 'sudo' | 'deny' | 'subscribe';
const CAPABILITIES = new Set<Capability>(['create', 'read', 'update', 'patch', 'delete', 'list', 'sudo', 'deny', 'subscribe']);

export interface PathRule {
  pattern: string;
  capabilities: Set<Capability>;
}

export class PolicyParseError extends Error {}

/** Parses the HCL subset. Throws PolicyParseError on anything it does not understand (Vault rejects bad policies too). */
export function parsePolicy(hcl: string): PathRule[] {
  const text = hcl
    .split('\n')
    .map((line) => line.replace(/(^|\s)(#|\/\/).*$/, ''))
    .join('\n');
  const rules: PathRule[] = [];
  const block = /path\s+"([^"]*)"\s*\{([^}]*)\}/g;
  let consumed = '';
  for (const m of text.matchAll(block)) {
    const [whole, pattern, body] = m;
    consumed += whole;
    const caps = /capabilities\s*=\s*\[([^\]]*)\]/.exec(body ?? '');
    if (!caps) throw new PolicyParseError(`path "${pattern}" has no capabilities`);
    const list = [...(caps[1] ?? '').matchAll(/"([^"]*)"/g)].map((c) => c[1] as Capability);
    for (const c of list) if (!CAPABILITIES.has(c)) throw new PolicyParseError(`unknown capability "${c}"`);
    if (pattern!.includes('*') && pattern!.indexOf('*') !== pattern!.length - 1) {
      throw new PolicyParseError('"*" is only allowed at the end of a path');
    }
    rules.push({ pattern: pattern!, capabilities: new Set(list) });
  }
  // Anything left besides whitespace is syntax this subset (and so keyctl) does not produce.
  const rest = text.replace(block, '').trim();
  if (rest.length > 0) throw new PolicyParseError('unexpected text outside path blocks');
  if (rules.length === 0 && consumed === '' && hcl.trim() !== '') throw new PolicyParseError('no path blocks');
  return rules;
}

/** True when `pattern` (with `+` for one segment and a trailing `*` for any suffix) matches `path`. */
export function matches(pattern: string, path: string): boolean {
  const glob = pattern.endsWith('*');
  const body = glob ? pattern.slice(0, -1) : pattern;
  const pParts = body.split('/');
  const parts = path.split('/');
  for (let i = 0; i < pParts.length; i++) {
    const want = pParts[i]!;
    const got = parts[i];
    const last = i === pParts.length - 1;
    if (got === undefined) return false;
    if (want === '+') {
      if (got === '') return false;
      continue;
    }
    // A trailing `*` is a plain string-prefix match from here on.
    if (last && glob) return got.startsWith(want);
    if (want !== got) return false;
  }
  return glob ? true : parts.length === pParts.length;
}

/** Vault's priority: true when rule `a` is more specific than rule `b`. */
function moreSpecific(a: string, b: string): boolean {
  const firstWild = (p: string) => {
    const i = p.search(/[+*]/);
    return i === -1 ? Number.MAX_SAFE_INTEGER : i;
  };
  if (firstWild(a) !== firstWild(b)) return firstWild(a) > firstWild(b);
  if (a.endsWith('*') !== b.endsWith('*')) return !a.endsWith('*');
  const plus = (p: string) => p.split('/').filter((s) => s === '+').length;
  if (plus(a) !== plus(b)) return plus(a) < plus(b);
  if (a.length !== b.length) return a.length > b.length;
  return a > b;
}

/** The capabilities a set of policies grants on `path`. */
export function capabilitiesFor(policies: PathRule[][], path: string): Set<Capability> {
  const out = new Set<Capability>();
  for (const rules of policies) {
    let best: PathRule | undefined;
    for (const r of rules) if (matches(r.pattern, path) && (!best || moreSpecific(r.pattern, best.pattern))) best = r;
    if (!best) continue;
    if (best.capabilities.has('deny')) return new Set(['deny']);
    for (const c of best.capabilities) out.add(c);
  }
  return out;
}

/** Vault's built-in `default` policy, cut down to what keyctl's clients touch. */
export const DEFAULT_POLICY = `
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/revoke-self" { capabilities = ["update"] }
path "sys/wrapping/wrap" { capabilities = ["update"] }
path "sys/wrapping/lookup" { capabilities = ["update"] }
path "sys/wrapping/unwrap" { capabilities = ["update"] }
path "cubbyhole/*" { capabilities = ["create", "read", "update", "delete", "list"] }
`;
