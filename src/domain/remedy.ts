/**
 * What to do about a key's violations, in one sentence a user can act on. Pure: the caller says which key it is and
 * which scopes its exchange can only grant together.
 */
import type { Violation } from './policy.js';

export interface RemedyTarget {
  ref: string;
  kind: 'slot' | 'account';
  /** The exchange's id, for messages. */
  exchange: string;
  /** The scopes the slot declares (bot keys). */
  scopes?: readonly string[];
  /**
   * Scopes the exchange grants only as one permission (OKX's `trade` covers spot, margin, futures and options): a key
   * created for any of them holds them all, so a rotation cannot remove the others.
   */
  boundScopes?: readonly (readonly string[])[];
  /** Scopes that bring others with them, one way (Bybit: options brings USDC perpetuals, futures:trade). */
  impliedScopes?: Readonly<Partial<Record<string, readonly string[]>>>;
  /** Where the slot's scopes are declared in the config, e.g. `bots.alpha.subaccounts.arb1.scopes`. */
  scopesPath?: string;
}

/** The hint for a key with violations (empty list: no hint). */
export function remedy(target: RemedyTarget, all: readonly Violation[]): string | undefined {
  if (all.length === 0) return undefined;
  // A check the exchange cannot answer is not fixed by a new key: the gap is accepted in the config, or the exchange changed.
  const checks = [...new Set(all.flatMap((v) => (v.code === 'UNVERIFIABLE' && v.check ? [v.check] : [])))];
  const gap =
    checks.length > 0
      ? `${target.exchange} does not report ${checks.join(' or ')}, and a new key would not change that: set it in the exchange's web UI, then accept the gap with \`accept: [${checks.map((c) => `${c}-unverifiable`).join(', ')}]\` on the account (docs/exchanges.md#unverifiable-checks-and-accepted-gaps).`
      : undefined;
  const violations = all.filter((v) => v.code !== 'UNVERIFIABLE');
  if (violations.length === 0) return gap;
  const rest = remedyOf(target, violations);
  return gap && rest ? `${rest} ${gap}` : (rest ?? gap);
}

function remedyOf(target: RemedyTarget, violations: readonly Violation[]): string | undefined {
  if (target.kind === 'account') {
    return `Create a new master key at ${target.exchange} with only what keyctl needs (docs/exchanges.md), import it with keyctl key import ${target.ref}, then delete this one there (docs/runbooks/staff-departure.md).`;
  }
  const declared = new Set(target.scopes ?? []);
  const implied = Object.entries(target.impliedScopes ?? {}).map(([scope, more]) => [scope, ...(more ?? [])]);
  const unnarrowable = excessFromBundles(violations, declared, target.boundScopes ?? [], implied);
  const rest = violations.filter((v) => !(v.code === 'EXCESS_SCOPE' && unnarrowable.length > 0));
  const parts: string[] = [];
  if (rest.length > 0) {
    const rejected = rest.every((v) => v.code === 'KEY_REJECTED');
    parts.push(
      rejected
        ? `The exchange did not accept this key from here: check that it was not deleted or expired and that keyctl runs from an address in its allowlist, then run keyctl rotate ${target.ref} to replace it.`
        : `Run keyctl rotate ${target.ref}: it creates a key with exactly the slot's scopes and IP allowlist, tests it, and deletes this one.`,
    );
  }
  if (unnarrowable.length > 0) {
    parts.push(
      `${target.exchange} grants ${unnarrowable.join(', ')} only together with what the slot declares, so a rotated key would hold them too: add ${unnarrowable.join(', ')} to ${target.scopesPath ?? "the slot's scopes"} if the bot may hold them, or use an exchange that can narrow them.`,
    );
  }
  return parts.join(' ');
}

/** The excess scopes, when every one comes bundled with a declared scope; [] when any could be narrowed by rotating. */
function excessFromBundles(
  violations: readonly Violation[],
  declared: Set<string>,
  bundles: readonly (readonly string[])[],
  /** [scope, ...what it brings]: only a declared first element grants the rest. */
  implied: readonly (readonly string[])[],
): string[] {
  const excess = violations.find((v) => v.code === 'EXCESS_SCOPE')?.scopes ?? [];
  const granted = new Set([
    ...bundles.filter((b) => b.some((s) => declared.has(s))).flat(),
    ...implied.filter(([scope]) => declared.has(scope!)).flat(),
  ]);
  return excess.length > 0 && excess.every((s) => granted.has(s)) ? excess : [];
}
