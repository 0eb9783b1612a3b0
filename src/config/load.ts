/**
 * Loads keyctl.yaml: YAML -> schema and rules -> normalize. Every problem, of the schema and of the rules alike, is
 * collected and reported at once, in file order, each with its dotted path, as one ConfigError (exit 2). Warnings are
 * returned, not thrown, and only for a valid config.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { CORE_SCHEMA, load as loadYaml, YAMLException } from 'js-yaml';
import * as v from 'valibot';
import { ConfigError, type ConfigIssue } from '@keyctl/client/errors';
import { PARTIAL_ARN_SUFFIX } from '../domain/aws-names.js';
import { configSchema, parseOptions, RESERVED_NAMES, type ParsedConfig, type StoreConfig } from './schema.js';
import type { Account, Inventory, Slot } from '../domain/inventory.js';
import type { AlertsConfig } from '../alerts/schema.js';
import type { ChecklistConfig } from './checklist-schema.js';
import { configDurationMs } from '../../schedules/duration.js';

/** The config: the inventory it declares (accounts, slots, staff; `file` is the absolute path read), and where keyctl keeps things. */
export interface Config extends Inventory {
  store: StoreConfig;
  auditPath: string;
  /** Alert channels by name (src/alerts/schema.ts); empty when none are configured. */
  alerts: AlertsConfig;
  /** The go-live checklist section (src/config/checklist-schema.ts), defaults filled in. */
  checklist: ChecklistConfig;
}

export interface LoadResult {
  config: Config;
  warnings: ConfigIssue[];
}

export { resolveConfigPath } from './path.js';

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
  const issues = parsed.issues ?? [];
  // The rules run even when the schema found problems, on the parts it found none in, so one run lists everything.
  const errors = [...reservedNames(raw), ...issues.map(schemaProblem), ...checkRules(parsed.output, raw, soundness(issues))];
  if (!parsed.success || errors.length > 0) throw invalid(file, inFileOrder(errors, raw));
  const config = normalize(parsed.output, file);
  return { config, warnings: checkWarnings(config, parsed.output) };
}

/** Where in the input a value sits: mapping keys and list indexes, from the top. */
type Location = readonly (string | number)[];

/** A problem and its location (for ordering and for telling which parts of the input are sound). */
interface Problem extends ConfigIssue {
  at: Location;
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

/**
 * A schema issue as a problem. Its location is where the issue points (for an unknown field, that field, so the
 * problem sorts where the field is written); its path is reported on the object that holds an unknown field.
 */
function schemaProblem(issue: v.BaseIssue<unknown>): Problem {
  const at = (issue.path ?? []).map((p) => p.key as string | number);
  const path = issue.type === 'strict_object' && issue.expected === 'never' ? at.slice(0, -1) : at;
  return { path: dotted(path), message: issue.message, at };
}

const startsWith = (at: Location, prefix: Location) => prefix.length <= at.length && prefix.every((k, i) => String(k) === String(at[i]));

/**
 * Which locations the schema found sound: no issue at or under them, and no issue above them about a value (a
 * mapping of the wrong type, say). An issue about a key (a bad name, an unknown or missing field) leaves the values
 * beside and below it sound. The schema's output at a sound location is fully parsed, defaults applied.
 */
function soundness(issues: readonly v.BaseIssue<unknown>[]): (at: Location) => boolean {
  const marks = issues.map((i) => ({
    at: (i.path ?? []).map((p) => p.key as string | number),
    aboutValue: i.path?.at(-1)?.origin !== 'key',
  }));
  return (at) => !marks.some((m) => startsWith(m.at, at) || (m.aboutValue && startsWith(at, m.at)));
}

/**
 * Problems in the order they are written in the file (keys keep their YAML order when parsed), a missing field after
 * its written siblings; the same problem found twice is listed once.
 */
function inFileOrder(problems: Problem[], raw: unknown): ConfigIssue[] {
  const rank = (at: Location): number[] => {
    let node: unknown = raw;
    return at.map((key) => {
      const i = Array.isArray(node) ? Number(key) : isMapping(node) ? Object.keys(node).indexOf(String(key)) : -1;
      const found = Number.isInteger(i) && i >= 0 && (!Array.isArray(node) || i < node.length);
      node = found ? (node as Record<string, unknown>)[String(key)] : undefined;
      return found ? i : Number.MAX_SAFE_INTEGER;
    });
  };
  const ranked = problems.map((p) => ({ p, rank: rank(p.at) }));
  ranked.sort((x, y) => {
    for (let i = 0; i < Math.min(x.rank.length, y.rank.length); i++) {
      if (x.rank[i] !== y.rank[i]) return (x.rank[i] ?? 0) - (y.rank[i] ?? 0);
    }
    return x.rank.length - y.rank.length || compare(x.p.path, y.p.path) || compare(x.p.message, y.p.message);
  });
  const seen = new Set<string>();
  const out: ConfigIssue[] = [];
  for (const { p } of ranked) {
    const key = `${p.path}\u0000${p.message}`;
    if (!seen.has(key)) out.push({ path: p.path, message: p.message });
    seen.add(key);
  }
  return out;
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Names under accounts, bots and subaccounts that valibot's record would drop unseen (see RESERVED_NAMES). */
function reservedNames(raw: unknown): Problem[] {
  const issues: Problem[] = [];
  const own = (o: unknown, k: string): unknown =>
    o !== null && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined;
  const check = (o: unknown, at: string, what: string) => {
    for (const n of RESERVED_NAMES) {
      if (own(o, n) !== undefined)
        issues.push({ path: `${at}.${n}`, message: `"${n}" cannot be used as ${what} name`, at: [...at.split('.'), n] });
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

function dotted(path: Location): string {
  return path.length === 0 ? '(top level)' : path.join('.');
}

function normalize(parsed: ParsedConfig, file: string): Config {
  const dir = dirname(file);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const store = absoluteStorePaths(parsed.store, abs);
  const auditPath = parsed.audit.path
    ? abs(parsed.audit.path)
    : store.provider === 'local'
      ? resolve(store.path, 'audit.log')
      : abs('keyctl-audit.log');
  const accounts: Record<string, Account> = {};
  for (const [name, a] of Object.entries(parsed.accounts)) accounts[name] = { name, ...a };
  const slots: Slot[] = [];
  for (const [bot, b] of Object.entries(parsed.bots)) {
    for (const [sub, s] of Object.entries(b.subaccounts)) {
      slots.push({ ref: `${bot}/${sub}`, bot, sub, ...s, scopes: [...new Set(s.scopes)], ips: [...new Set(s.ips)] });
    }
  }
  slots.sort((x, y) => x.ref.localeCompare(y.ref));
  return { file, store, auditPath, accounts, slots, staff: parsed.staff, alerts: parsed.alerts, checklist: parsed.checklist };
}

/** The store's file paths (local store directory, Vault TLS files and JWT file) resolved against the config's directory. */
function absoluteStorePaths(store: StoreConfig, abs: (p: string) => string): StoreConfig {
  if (store.provider === 'local') return { ...store, path: abs(store.path) };
  if (store.provider !== 'vault') return store;
  const out = { ...store };
  if (store.tls) {
    const tls = { ...store.tls };
    for (const key of ['caCert', 'caPath', 'clientCert', 'clientKey'] as const) {
      const value = tls[key];
      if (value !== undefined) tls[key] = abs(value);
    }
    out.tls = tls;
  }
  if ((store.auth.method === 'kubernetes' || store.auth.method === 'jwt') && store.auth.tokenPath !== undefined) {
    out.auth = { ...store.auth, tokenPath: abs(store.auth.tokenPath) };
  }
  return out;
}

/**
 * The rules the schema cannot express: references to accounts and staff, and grace shorter than the rotation period.
 * They read the schema's output, which is partial when the schema found problems, so every value is checked for
 * shape and soundness first: a rule whose field failed the schema is skipped rather than reported a second time.
 */
function checkRules(output: unknown, raw: unknown, sound: (at: Location) => boolean): Problem[] {
  const errors: Problem[] = [];
  const problem = (at: Location, message: string) => errors.push({ path: dotted(at), message, at });

  // Unknown when `staff` is not a list: custodians then cannot be checked.
  const staffList = field(output, 'staff');
  const staff = Array.isArray(staffList) ? new Set(staffList.filter((s, i) => typeof s === 'string' && sound(['staff', i]))) : undefined;
  const custodians = (list: unknown, at: Location) => {
    if (!staff || !Array.isArray(list)) return;
    list.forEach((c, i) => {
      if (typeof c === 'string' && sound([...at, i]) && !staff.has(c)) problem([...at, i], `"${c}" is not listed under staff`);
    });
  };
  // Every name written under accounts counts, even one whose entry or name has a problem of its own (reported there).
  const accountsIn = field(raw, 'accounts');
  const accounts = accountsIn === undefined ? new Set<string>() : isMapping(accountsIn) ? new Set(Object.keys(accountsIn)) : undefined;

  for (const [name, account] of entries(field(output, 'accounts'))) {
    custodians(field(account, 'custodians'), ['accounts', name, 'custodians']);
    const baseUrl = field(account, 'baseUrl');
    const at = ['accounts', name, 'baseUrl'];
    // Without a sound allowInsecureHttp (say `"yes"`, reported there) the exception is not granted: fail closed.
    const allowed = field(account, 'allowInsecureHttp') === true && sound(['accounts', name, 'allowInsecureHttp']);
    if (typeof baseUrl === 'string' && sound(at)) {
      const refused = transportProblem(baseUrl, allowed);
      if (refused) problem(at, refused);
    }
  }
  // AWS store: a secret name ending in "-" and six characters may resolve as a partial ARN of another secret.
  const store = field(output, 'store');
  const awsPrefix = field(store, 'provider') === 'aws' && sound(['store', 'prefix']) ? field(store, 'prefix') : undefined;
  const ambiguous = (path: string, at: Location) => {
    if (typeof awsPrefix === 'string' && PARTIAL_ARN_SUFFIX.test(`${awsPrefix}${path}`)) {
      problem(
        at,
        `"${awsPrefix}${path}" ends in "-" and six characters, which AWS Secrets Manager may read as a partial ARN of another secret: rename it`,
      );
    }
  };
  for (const [name] of entries(field(output, 'accounts'))) ambiguous(`accounts/${name}`, ['accounts', name]);
  for (const [bot, b] of entries(field(output, 'bots'))) {
    for (const [sub, s] of entries(field(b, 'subaccounts'))) {
      const at = ['bots', bot, 'subaccounts', sub];
      ambiguous(`bots/${bot}/${sub}`, at);
      const account = field(s, 'account');
      if (accounts && typeof account === 'string' && sound([...at, 'account']) && !accounts.has(account)) {
        problem([...at, 'account'], `no account "${account}" under accounts`);
      }
      custodians(field(s, 'custodians'), [...at, 'custodians']);
      const every = field(field(s, 'rotate'), 'every');
      const grace = field(field(s, 'rotate'), 'grace');
      if (
        typeof every === 'string' &&
        typeof grace === 'string' &&
        sound([...at, 'rotate', 'every']) &&
        sound([...at, 'rotate', 'grace'])
      ) {
        if (configDurationMs(grace) >= configDurationMs(every)) problem([...at, 'rotate', 'grace'], 'must be shorter than rotate.every');
      }
    }
  }
  // The checklist's bot names: a typo would silently leave a bot on the defaults. (Its item ids are checked when the
  // checklist runs, against the built-in items, which live in src/app.)
  const botsIn = field(raw, 'bots');
  const bots = botsIn === undefined ? new Set<string>() : isMapping(botsIn) ? new Set(Object.keys(botsIn)) : undefined;
  const checklist = field(output, 'checklist');
  if (bots) {
    for (const [bot] of entries(field(checklist, 'bots'))) {
      if (sound(['checklist', 'bots', bot]) && !bots.has(bot)) problem(['checklist', 'bots', bot], `no bot "${bot}" under bots`);
    }
    for (const [id, item] of entries(field(checklist, 'items'))) {
      const list = field(item, 'bots');
      if (!Array.isArray(list)) continue;
      list.forEach((b, i) => {
        const at = ['checklist', 'items', id, 'bots', i];
        if (typeof b === 'string' && sound(at) && !bots.has(b)) problem(at, `no bot "${b}" under bots`);
      });
    }
  }
  return errors;
}

/**
 * Why a baseUrl cannot be used, or undefined. Every API call of the account goes there, signed with its master key,
 * and a key-creation response carries the new key's secret: over plain http anyone on the path reads it. Loopback
 * (127.0.0.0/8, ::1, localhost: the sandbox, a local TLS-terminating proxy) never leaves the machine.
 */
function transportProblem(baseUrl: string, allowInsecureHttp: boolean): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    return undefined; // the schema reported it
  }
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol !== 'http:') return `must be an https URL (or http to this machine), not ${parsed.protocol.slice(0, -1)}`;
  if (isLoopback(parsed.hostname) || allowInsecureHttp) return undefined;
  return (
    `plain http to ${parsed.hostname} would send this account's signed requests, and the secrets of the keys it ` +
    'creates, unencrypted: use https, or set allowInsecureHttp: true on this account if the network path is trusted'
  );
}

/**
 * A URL hostname (as the WHATWG parser normalises it: `0x7f.1` reads 127.0.0.1, IPv6 in brackets) that names this
 * machine. Names other than `localhost` itself are not trusted: what they resolve to is up to DNS.
 */
function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return (
    host === 'localhost' ||
    host === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) ||
    // IPv4-mapped IPv6 (::ffff:127.0.0.1), as the URL parser writes it: [::ffff:7f00:1].
    /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host)
  );
}

function field(value: unknown, key: string): unknown {
  return isMapping(value) && Object.prototype.hasOwnProperty.call(value, key) ? value[key] : undefined;
}

function entries(value: unknown): Array<[string, unknown]> {
  return isMapping(value) ? Object.entries(value) : [];
}

/** Things worth a word that do not make the config wrong. Run on a valid config only. */
function checkWarnings(config: Config, parsed: ParsedConfig): ConfigIssue[] {
  const warnings: ConfigIssue[] = [];
  if (new Set(config.staff).size !== config.staff.length) warnings.push({ path: 'staff', message: 'lists someone twice' });
  const seen = new Map<string, string>();
  for (const s of config.slots) {
    const at = `bots.${s.bot}.subaccounts.${s.sub}`;
    const raw = parsed.bots[s.bot]?.subaccounts[s.sub];
    if (raw && raw.ips.length !== s.ips.length) warnings.push({ path: `${at}.ips`, message: 'lists an address twice' });
    if (raw && raw.scopes.length !== s.scopes.length) warnings.push({ path: `${at}.scopes`, message: 'lists a scope twice' });
    // Below a minute every key is asked of its exchange that often: fine for a drill, a rate-limit risk in production.
    if (configDurationMs(s.verify.every) < 60_000) {
      warnings.push({ path: `${at}.verify.every`, message: `${s.verify.every} is under a minute: meant for tests and drills` });
    }
    const key = `${s.account}\u0000${s.uid}`;
    const other = seen.get(key);
    if (other) warnings.push({ path: `${at}.uid`, message: `same sub-account as ${other}; their keys will be managed separately` });
    else seen.set(key, s.ref);
  }
  for (const [name, a] of Object.entries(parsed.accounts)) {
    // The exception stays visible on every run, so a lab setting does not go unnoticed on its way to production.
    if (a.allowInsecureHttp && a.baseUrl && transportProblem(a.baseUrl, false)) {
      const host = new URL(a.baseUrl).hostname;
      warnings.push({
        path: `accounts.${name}.baseUrl`,
        message: `plain http to ${host} (allowInsecureHttp): keys cross the network unencrypted`,
      });
    }
  }
  if (config.store.provider === 'memory') {
    warnings.push({ path: 'store.provider', message: 'memory keeps nothing after the process exits; use it for tests only' });
  }
  return warnings;
}
