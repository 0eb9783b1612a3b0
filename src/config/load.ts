/**
 * Loads keyctl.yaml: YAML -> schema -> normalize -> rules. Every problem is collected and reported at once, each with
 * its dotted path, as one ConfigError (exit 2). Warnings are returned, not thrown.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Duration } from 'luxon';
import { CORE_SCHEMA, load as loadYaml, YAMLException } from 'js-yaml';
import * as v from 'valibot';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { configSchema, parseOptions, RESERVED_NAMES, type ParsedConfig, type RotationWindow, type StoreConfig } from './schema.js';
import type { DeclarableScope } from '../domain/scopes.js';

export interface AccountConfig {
  name: string;
  exchange: string;
  baseUrl?: string;
  uid?: string;
  custodians: string[];
}

export interface SlotConfig {
  /** `bot/sub` */
  ref: string;
  bot: string;
  sub: string;
  account: string;
  uid: string;
  scopes: DeclarableScope[];
  ips: string[];
  custodians: string[];
  rotate: { every: string; grace: string; window?: RotationWindow };
  verify: { every: string };
}

export interface Config {
  /** Absolute path of the file read. */
  file: string;
  store: StoreConfig;
  auditPath: string;
  accounts: Record<string, AccountConfig>;
  slots: SlotConfig[];
  staff: string[];
}

export interface LoadResult {
  config: Config;
  warnings: ConfigIssue[];
}

/** Which file to read: --config, then KEYCTL_CONFIG, then ./keyctl.yaml. */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  return resolve(cwd, flag ?? env.KEYCTL_CONFIG ?? 'keyctl.yaml');
}

export function loadConfig(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ConfigError(missing ? `No config file at ${file}.` : `Cannot read the config file ${file}.`, [], {
      hint: missing
        ? 'Write a keyctl.yaml (see docs/config.md), or point --config or KEYCTL_CONFIG at one.'
        : 'Check the file permissions.',
      cause: err,
    });
  }
  return parseConfig(text, file);
}

/** Parses config text as if read from `file` (relative paths resolve against its directory). */
export function parseConfig(text: string, file: string): LoadResult {
  const raw = parseYaml(text, file) ?? {};
  const parsed = v.safeParse(configSchema, raw, parseOptions);
  const reserved = reservedNames(raw);
  if (!parsed.success || reserved.length > 0) {
    const issues = (parsed.issues ?? []).map((i) => ({ path: issuePath(i), message: i.message }));
    throw invalid(file, [...reserved, ...issues]);
  }
  const config = normalize(parsed.output, file);
  const { errors, warnings } = checkRules(config, parsed.output);
  if (errors.length > 0) throw invalid(file, errors);
  return { config, warnings };
}

/**
 * YAML 1.2 core schema: plain data only (no dates, no binary, no merge keys, no custom tags), as the config has always
 * been read; duplicate keys are errors. A syntax error is reported with its position and the parser's one-line reason,
 * never the offending text.
 */
function parseYaml(text: string, file: string): unknown {
  try {
    return loadYaml(text, { schema: CORE_SCHEMA });
  } catch (err) {
    if (!(err instanceof YAMLException)) throw err;
    const at = err.mark as { line?: number; column?: number } | undefined;
    const path = typeof at?.line === 'number' && typeof at.column === 'number' ? `line ${at.line + 1}:${at.column + 1}` : '(file)';
    throw invalid(file, [{ path, message: err.reason || 'not valid YAML' }]);
  }
}

/** The dotted path of a schema issue; an unknown field is reported on the object that holds it. */
function issuePath(issue: v.BaseIssue<unknown>): string {
  const path = (issue.path ?? []).map((p) => String(p.key));
  if (issue.type === 'strict_object' && issue.expected === 'never') path.pop();
  return dotted(path);
}

/** Names under accounts, bots and subaccounts that valibot's record would drop unseen (see RESERVED_NAMES). */
function reservedNames(raw: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const own = (o: unknown, k: string): unknown =>
    o !== null && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined;
  const check = (o: unknown, at: string, what: string) => {
    for (const n of RESERVED_NAMES) {
      if (own(o, n) !== undefined) issues.push({ path: `${at}.${n}`, message: `"${n}" cannot be used as ${what} name` });
    }
  };
  check(own(raw, 'accounts'), 'accounts', 'an account');
  const bots = own(raw, 'bots');
  check(bots, 'bots', 'a bot');
  if (bots !== null && typeof bots === 'object') {
    for (const bot of Object.keys(bots)) check(own(own(bots, bot), 'subaccounts'), `bots.${bot}.subaccounts`, 'a sub-account');
  }
  return issues;
}

function invalid(file: string, issues: ConfigIssue[]): ConfigError {
  const list = issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
  return new ConfigError(`${file} has ${issues.length} problem${issues.length === 1 ? '' : 's'}:\n${list}`, issues, {
    hint: 'Fix every problem listed, then run the command again. docs/config.md describes each field.',
  });
}

function dotted(path: string[]): string {
  return path.length === 0 ? '(top level)' : path.join('.');
}

function normalize(parsed: ParsedConfig, file: string): Config {
  const dir = dirname(file);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const store: StoreConfig = parsed.store.provider === 'local' ? { ...parsed.store, path: abs(parsed.store.path) } : parsed.store;
  const auditPath = parsed.audit.path
    ? abs(parsed.audit.path)
    : store.provider === 'local'
      ? resolve(store.path, 'audit.log')
      : abs('keyctl-audit.log');
  const accounts: Record<string, AccountConfig> = {};
  for (const [name, a] of Object.entries(parsed.accounts)) accounts[name] = { name, ...a };
  const slots: SlotConfig[] = [];
  for (const [bot, b] of Object.entries(parsed.bots)) {
    for (const [sub, s] of Object.entries(b.subaccounts)) {
      slots.push({ ref: `${bot}/${sub}`, bot, sub, ...s, scopes: [...new Set(s.scopes)], ips: [...new Set(s.ips)] });
    }
  }
  slots.sort((x, y) => x.ref.localeCompare(y.ref));
  return { file, store, auditPath, accounts, slots, staff: parsed.staff };
}

function checkRules(config: Config, parsed: ParsedConfig): { errors: ConfigIssue[]; warnings: ConfigIssue[] } {
  const errors: ConfigIssue[] = [];
  const warnings: ConfigIssue[] = [];
  const staff = new Set(config.staff);
  const staffPath = 'staff';
  if (staff.size !== config.staff.length) warnings.push({ path: staffPath, message: 'lists someone twice' });

  for (const a of Object.values(config.accounts)) {
    a.custodians.forEach((c, i) => {
      if (!staff.has(c)) errors.push({ path: `accounts.${a.name}.custodians.${i}`, message: `"${c}" is not listed under staff` });
    });
  }
  const seen = new Map<string, string>();
  for (const s of config.slots) {
    const at = `bots.${s.bot}.subaccounts.${s.sub}`;
    if (!config.accounts[s.account]) {
      errors.push({ path: `${at}.account`, message: `no account "${s.account}" under accounts` });
    }
    s.custodians.forEach((c, i) => {
      if (!staff.has(c)) errors.push({ path: `${at}.custodians.${i}`, message: `"${c}" is not listed under staff` });
    });
    const every = Duration.fromISO(s.rotate.every).toMillis();
    const grace = Duration.fromISO(s.rotate.grace).toMillis();
    if (grace >= every) errors.push({ path: `${at}.rotate.grace`, message: 'must be shorter than rotate.every' });
    const raw = parsed.bots[s.bot]?.subaccounts[s.sub];
    if (raw && raw.ips.length !== s.ips.length) warnings.push({ path: `${at}.ips`, message: 'lists an address twice' });
    if (raw && raw.scopes.length !== s.scopes.length) warnings.push({ path: `${at}.scopes`, message: 'lists a scope twice' });
    const key = `${s.account}\u0000${s.uid}`;
    const other = seen.get(key);
    if (other) warnings.push({ path: `${at}.uid`, message: `same sub-account as ${other}; their keys will be managed separately` });
    else seen.set(key, s.ref);
  }
  if (config.store.provider === 'memory') {
    warnings.push({ path: 'store.provider', message: 'memory keeps nothing after the process exits; use it for tests only' });
  }
  return { errors, warnings };
}
