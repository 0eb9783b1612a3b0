/**
 * What the completion scripts know, derived from the command table so that a new command, option or argument is
 * completed without anyone touching the scripts.
 */
import { GLOBAL_OPTIONS, type CommandSpec } from '../types.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export function isShell(name: string): name is Shell {
  return (SHELLS as readonly string[]).includes(name);
}

/** What `keyctl completion --refs KIND` prints, one candidate per line. */
export const REF_KINDS = ['slot', 'account', 'ref', 'bot', 'staff'] as const;
export type RefKind = (typeof REF_KINDS)[number];

/**
 * What a positional argument completes to, from its name in the spec: `<ref>` and `[refs...]` complete refs, `<bot>`
 * and `[bot]` bot names, `<staff>` staff names, `[shell]` the shells. Any other name falls back to file names, the
 * shell's usual default (e.g. exec's `[command...]`).
 */
export type ArgKind = 'ref' | 'bot' | 'staff' | 'shell' | 'file';
const ARG_KINDS: Record<string, ArgKind> = { ref: 'ref', refs: 'ref', bot: 'bot', bots: 'bot', staff: 'staff', shell: 'shell' };

export interface OptionModel {
  /** Every spelling: `-n`, `--lines`. */
  flags: string[];
  /** Whether the next word is the option's value, and whether that value is a file (`<file>`). */
  value: 'none' | 'file' | 'other';
  description: string;
}

/** The root (path ''), a group (`key`, `audit`) or a command (`key import`, `rotate`). */
export interface NodeModel {
  path: string;
  summary: string;
  /** A group's sub-commands; empty for a command. */
  subs: Array<{ name: string; summary: string }>;
  options: OptionModel[];
  /** Kind of each positional argument, in order; the last repeats when `variadic`. */
  args: ArgKind[];
  variadic: boolean;
}

/** Parses commander flag syntax: `-n, --lines <n>`, `--config <file>`, `--no-mask`. */
export function parseOption(flags: string, description: string): OptionModel {
  const words = flags.split(/[\s,|]+/).filter(Boolean);
  const placeholder = words.find((w) => /^[<[]/.test(w));
  const value = placeholder === undefined ? 'none' : /^[<[]file[\]>]$/.test(placeholder) ? 'file' : 'other';
  return { flags: words.filter((w) => w.startsWith('-')), value, description };
}

const HELP = parseOption('-h, --help', 'display help for command');
/** The options main.ts adds to every command (plus commander's --help). */
const COMMAND_GLOBALS: OptionModel[] = [...GLOBAL_OPTIONS.map(([flags, description]) => parseOption(flags, description)), HELP];
const ROOT_OPTIONS: OptionModel[] = [...COMMAND_GLOBALS, parseOption('-V, --version', 'output the version number')];

function argKind(syntax: string): { kind: ArgKind; variadic: boolean } {
  const name = syntax.replace(/^[<[]|[\]>]$/g, '');
  const variadic = name.endsWith('...');
  return { kind: ARG_KINDS[name.replace(/\.\.\.$/, '')] ?? 'file', variadic };
}

export function buildModel(specs: readonly CommandSpec[]): NodeModel[] {
  const nodes = new Map<string, NodeModel>();
  const node = (path: string, summary: string, options: OptionModel[]): NodeModel => {
    let n = nodes.get(path);
    if (!n) nodes.set(path, (n = { path, summary, subs: [], options, args: [], variadic: false }));
    return n;
  };
  node('', 'keyctl', ROOT_OPTIONS);
  for (const spec of specs) {
    const words = spec.name.split(' ');
    // Intermediate words are groups, as main.ts builds them (`key` holds `import` and `list`).
    words.forEach((word, i) => {
      const parent = nodes.get(words.slice(0, i).join(' '))!;
      const path = words.slice(0, i + 1).join(' ');
      const leaf = i === words.length - 1;
      if (!parent.subs.some((s) => s.name === word)) parent.subs.push({ name: word, summary: leaf ? spec.summary : `${word} commands` });
      if (!leaf) node(path, `${word} commands`, [HELP]);
    });
    const args = (spec.args ?? []).map(argKind);
    const options = (spec.options ?? []).map(([flags, description]) => parseOption(flags, description));
    const leaf = node(spec.name, spec.summary, []);
    leaf.options = [...options, ...COMMAND_GLOBALS];
    leaf.args = args.map((a) => a.kind);
    leaf.variadic = args.at(-1)?.variadic ?? false;
  }
  // A group's own summary lists its sub-commands, which says more than "key commands".
  for (const n of nodes.values()) {
    for (const s of n.subs) {
      const child = nodes.get(n.path ? `${n.path} ${s.name}` : s.name)!;
      if (child.subs.length > 0) s.summary = `${s.name} commands: ${child.subs.map((c) => c.name).join(', ')}`;
    }
  }
  return [...nodes.values()];
}

/** POSIX single quoting, valid in bash and zsh. */
export function shq(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
