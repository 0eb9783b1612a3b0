/**
 * What `keyctl exec` needs of the config: the store, the audit log's path, its one slot (with its account) and the
 * warnings to print. Parsing keyctl.yaml means loading js-yaml, valibot and luxon and checking every slot, which costs
 * more than the rest of exec's start-up and grows with the number of slots; so the result is cached per config file
 * and ref, and an exec whose config did not change reads one small file instead.
 *
 * Why a cache entry cannot change what exec does:
 * - It is used only for the exact bytes it was made from (their SHA-256), by the same keyctl build (package version
 *   and the config loader's file) on the same Node version, for the same config path and ref.
 * - It is authenticated with an HMAC under a key derived from the store's master key (KEYCTL_MASTER_KEY), so only a
 *   process that could open the store could have written it. Without a master key in the environment (a passphrase,
 *   Vault, AWS) there is no cache: the config is parsed, as every other command does.
 * - It lives in the per-user runtime directory (src/delivery/runtime-dir.ts: 0700, this user's, never through a
 *   symlink) as a 0600 file of this user, read with O_NOFOLLOW. Anything that fails a check is ignored and rewritten
 *   from the config: the cache can make exec slower, never different.
 * - A config that fails to parse, or a ref it does not declare, is never cached: the error is the loader's, each time.
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StoreConfig } from '../config/schema.js';
import type { SlotKey } from '../domain/resolve.js';
import type { ConfigIssue } from '@keyctl/client/errors';
import { firstRuntimeDir } from '../delivery/runtime-dir.js';

/** exec's view of the config. */
export interface ExecConfig {
  store: StoreConfig;
  auditPath: string;
  /** Config warnings, printed on every start as a full load would. */
  warnings: ConfigIssue[];
  /** The slot `ref` names; throws the resolver's usage error (UNKNOWN_REF, NOT_A_BOT_SLOT...) when it names none. */
  slot(): SlotKey;
  /** The slot's `rotate.every` in ms (KEYCTL_ROTATES_AT without loading the schedule library). */
  rotateEveryMs(): number;
  /** Whether this came from the cache (for tests and the benchmark). */
  readonly cached: boolean;
}

/** Bumped whenever what an entry holds changes shape. */
const FORMAT = 1;
const MAX_ENTRY_BYTES = 1 << 20;
const O_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

interface Payload {
  v: number;
  build: string;
  file: string;
  sha256: string;
  ref: string;
  store: StoreConfig;
  auditPath: string;
  warnings: ConfigIssue[];
  slot: SlotKey;
  rotateEveryMs: number;
}

/**
 * exec's config for `ref`, from the cache when it holds an entry for these exact config bytes, else parsed (and then
 * cached). Config errors are the loader's (loadConfig), thrown here; an unknown ref throws from `slot()`.
 */
export async function execConfig(file: string, ref: string, env: NodeJS.ProcessEnv): Promise<ExecConfig> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    // Missing or unreadable: the loader says which, with its hint.
    return parsed(await parse(file, undefined, ref));
  }
  const macKey = cacheKey(env);
  if (!macKey) return parsed(await parse(file, bytes, ref));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const build = buildStamp();
  const dir = firstRuntimeDir(env);
  const entryPath = dir && join(dir, `exec-${createHash('sha256').update(`${file}\0${ref}`).digest('hex').slice(0, 32)}.json`);
  if (entryPath) {
    const hit = readEntry(entryPath, macKey);
    if (hit && hit.v === FORMAT && hit.build === build && hit.file === file && hit.sha256 === sha256 && hit.ref === ref) {
      return {
        store: hit.store,
        auditPath: hit.auditPath,
        warnings: hit.warnings,
        slot: () => hit.slot,
        rotateEveryMs: () => hit.rotateEveryMs,
        cached: true,
      };
    }
  }
  const result = await parse(file, bytes, ref);
  if (entryPath && result.slot) {
    const payload: Payload = {
      v: FORMAT,
      build,
      file,
      sha256,
      ref,
      store: result.store,
      auditPath: result.auditPath,
      warnings: result.warnings,
      slot: result.slot,
      rotateEveryMs: result.rotateEveryMs!,
    };
    // A cache that cannot be written costs the next exec a parse, nothing else.
    await writeEntry(entryPath, payload, macKey).catch(() => undefined);
  }
  return parsed(result);
}

interface ParseResult {
  store: StoreConfig;
  auditPath: string;
  warnings: ConfigIssue[];
  slot?: SlotKey;
  slotError?: unknown;
  rotateEveryMs?: number;
}

/** The full load: the config loader (which throws every config error) and the resolver. */
async function parse(file: string, bytes: Buffer | undefined, ref: string): Promise<ParseResult> {
  const [{ loadConfig, parseConfig }, { resolveSlot }, { configDurationMs }] = await Promise.all([
    import('../config/load.js'),
    import('../domain/resolve.js'),
    import('../../schedules/duration.js'),
  ]);
  // The bytes hashed are the bytes parsed: a config replaced meanwhile is never cached under the other's hash.
  const { config, warnings } = bytes === undefined ? loadConfig(file) : parseConfig(bytes.toString('utf8'), file);
  const result: ParseResult = { store: config.store, auditPath: config.auditPath, warnings };
  try {
    result.slot = resolveSlot(config, ref);
    result.rotateEveryMs = configDurationMs(result.slot.slot.rotate.every);
  } catch (err) {
    result.slotError = err;
  }
  return result;
}

function parsed(r: ParseResult): ExecConfig {
  return {
    store: r.store,
    auditPath: r.auditPath,
    warnings: r.warnings,
    slot: () => {
      if (!r.slot) throw r.slotError;
      return r.slot;
    },
    rotateEveryMs: () => {
      if (r.rotateEveryMs === undefined) throw r.slotError;
      return r.rotateEveryMs;
    },
    cached: false,
  };
}

/** The HMAC key, derived from the master key (never the master key itself); null without a well-formed one. */
function cacheKey(env: NodeJS.ProcessEnv): Buffer | null {
  const text = env.KEYCTL_MASTER_KEY?.trim();
  if (!text || !/^[A-Za-z0-9+/]{43}=$/.test(text)) return null;
  const master = Buffer.from(text, 'base64');
  try {
    return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'keyctl exec config cache', 32));
  } finally {
    master.fill(0);
  }
}

/**
 * Which keyctl wrote an entry: the package version and the config loader's file (a rebuild or an upgrade replaces it),
 * and the Node version (time-zone data decides what the schema accepts).
 */
function buildStamp(): string {
  let version = 'unknown';
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string') version = pkg.version;
  } catch {
    // A build without its package.json: the loader's file still tells builds apart.
  }
  let loader = 'unknown';
  try {
    const st = statSync(new URL('../config/load.js', import.meta.url), { bigint: true });
    loader = `${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch {
    // Run from the sources (tests): the version and Node's still apply.
  }
  return `${version}|${loader}|${process.version}`;
}

/** The entry's payload when the file is a sound, authentic entry of this user; otherwise null (a miss). */
function readEntry(path: string, macKey: Buffer): Payload | null {
  let fd: number;
  try {
    fd = openSync(path, O_READ);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o077) !== 0 || st.size > MAX_ENTRY_BYTES) return null;
    const buf = Buffer.alloc(st.size);
    if (readSync(fd, buf, 0, buf.length, 0) !== buf.length) return null;
    const entry = JSON.parse(buf.toString('utf8')) as { payload?: unknown; mac?: unknown };
    if (typeof entry.payload !== 'string' || typeof entry.mac !== 'string') return null;
    const expected = mac(macKey, entry.payload);
    const given = Buffer.from(entry.mac, 'hex');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return JSON.parse(entry.payload) as Payload;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

async function writeEntry(path: string, payload: Payload, macKey: Buffer): Promise<void> {
  const text = JSON.stringify(payload);
  const body = `${JSON.stringify({ payload: text, mac: mac(macKey, text).toString('hex') })}\n`;
  // Created exclusively under a random name, then renamed over the entry: a reader sees the old entry or the new one.
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, body, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

function mac(key: Buffer, text: string): Buffer {
  return createHmac('sha256', key).update(text).digest();
}
