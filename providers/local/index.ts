/**
 * The local provider: keyctl's default store, one encrypted directory on disk. Layout, cryptography, locking and
 * what happens on corruption are described in docs/local-store.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ProviderError, UsageError } from '@keyctl/client/errors';
import type { LocalStoreConfig } from '../../src/config/schema.js';
import { DocumentStore, type Doc, type DocUpdate, type SlotDoc, type StoredVersion } from '../document-store.js';
import type { Capabilities, ProviderContext, RestoreChange, SecretStore, WrapLabel, WrapSettlement } from '../types.js';
import {
  KEY_BYTES,
  OpenFailed,
  buildKeyring,
  deriveKek,
  docAad,
  isSealed,
  kekMatches,
  newScryptParams,
  open,
  openVersion,
  parseKeyring,
  parseMasterKey,
  seal,
  sealVersion,
  unwrapDataKey,
  type KeyringFile,
  type Protection,
  type Sealed,
} from '@keyctl/client/local/crypto';
import {
  createExclusive,
  isErrno,
  isNotAFile,
  readNoFollow,
  removeFile,
  removeStaleTemps,
  secureDir,
  writeAtomic,
} from '@keyctl/client/local/files';
import { FileLock, removeDeadLockTemps, type HeldLock } from './lock.js';
import { LocalCoordination, coordinationFileGen } from './coordination.js';
import { COVERED_DIRS, StoreManifest, deriveIntegrityKey } from './manifest.js';
import type { CoordinationStore } from '../coordination.js';

/** Environment variable holding the master key: base64 of 32 random bytes. */
export const MASTER_KEY_ENV = 'KEYCTL_MASTER_KEY';
/** Environment variable holding the store passphrase, the alternative to a master key. */
export const PASSPHRASE_ENV = 'KEYCTL_PASSPHRASE';

export const KEYRING_FILE = 'keyring.json';
export const DOCS_DIR = 'docs';
export const LOCK_FILE = 'store.lock';
/** Where `keyctl issue` tokens live (clients/node/src/local/tokens.ts, which the client loads without this module). */
const TOKENS_DIR = 'tokens';
/** keyctl 0.1 wrote format 1 (still read, as generation 0); format 2 carries the record's generation (manifest.ts). */
const DOC_FORMAT_V1 = 'keyctl-doc/1';
const DOC_FORMAT = 'keyctl-doc/2';
const MIN_PASSPHRASE = 8;

/** A new master key for `keyctl init`: base64 of 32 random bytes, the only form KEYCTL_MASTER_KEY accepts. */
export function generateMasterKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

export interface LocalStoreOptions {
  /** Store directory (absolute, or resolved against the working directory). */
  path: string;
  env?: NodeJS.ProcessEnv;
  promptSecret?: (question: string) => Promise<string>;
  /** Clock for TTLs of leases and wrapped values. */
  now?: () => number;
  /** Heartbeat age after which a lock holder whose liveness cannot be checked is presumed dead. Default 10 s. */
  lockStaleMs?: number;
  /** Longest wait for the store lock before STORE_BUSY. Default 3 x lockStaleMs. */
  lockTimeoutMs?: number;
}

/** What `init()` did, and which secret protects the store. */
export interface LocalInitResult {
  created: boolean;
  protection: Protection;
}

/** A slot version as written inside a document file: its secret fields sealed on their own. */
interface SealedVersion {
  id: string;
  createdAt: string;
  meta: Record<string, string>;
  sealed: Sealed | null;
}

type KekSource = { protection: 'master-key'; key: Buffer } | { protection: 'passphrase'; passphrase: string };

const corruptHint = 'Restore the store directory from a backup. keyctl changed nothing, and will not write to this record until it opens.';

/**
 * Durable, encrypted, cross-process-atomic document storage under the shared contract implementation. One file per
 * document, sealed with the data key; slot versions' secrets sealed once more each, bound to path and version.
 */
export class LocalStore extends DocumentStore {
  readonly id = 'local';
  readonly capabilities: Capabilities = {
    versions: 'native',
    stages: 'native',
    cas: 'native',
    wrapping: 'emulated',
    destroy: 'native',
    durable: true,
  };
  readonly dir: string;
  private readonly docsDir: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly promptSecret: ((question: string) => Promise<string>) | undefined;
  private readonly fileLock: FileLock;
  private dataKey: Promise<Buffer> | undefined;
  /** Serializes this instance's writers; the file lock serializes them against other instances and processes. */
  private queue: Promise<unknown> = Promise.resolve();
  private tempsCleaned = false;
  /** Generations of every record file, docs and coordination: what detects an older copy or a deleted record. */
  readonly manifest: StoreManifest;
  private coordKey: Buffer | undefined;

  constructor(options: LocalStoreOptions) {
    super(options.now);
    this.dir = resolve(options.path);
    this.docsDir = join(this.dir, DOCS_DIR);
    this.env = options.env ?? process.env;
    this.promptSecret = options.promptSecret;
    const staleMs = options.lockStaleMs ?? 10_000;
    this.fileLock = new FileLock(join(this.dir, LOCK_FILE), { staleMs, timeoutMs: options.lockTimeoutMs ?? staleMs * 3 });
    this.manifest = new StoreManifest({
      storeDir: this.dir,
      dataKey: () => this.openDataKey(),
      gens: (name) => this.fileGen(name),
      lockStaleMs: staleMs,
      ...(options.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: options.lockTimeoutMs }),
    });
  }

  /** The key coordination files are authenticated with (derived from the data key; see coordination.ts). */
  async coordinationKey(): Promise<Buffer> {
    this.coordKey ??= deriveIntegrityKey(await this.openDataKey(), 'coordination');
    return this.coordKey;
  }

  /**
   * Rebuilds the manifest from the record files there now, each authenticated (`keyctl store accept`, after a
   * deliberate restore from a backup). Returns what changed.
   */
  async acceptRestore(): Promise<RestoreChange[]> {
    await this.openDataKey();
    return this.serial(() => this.withFileLock(() => this.manifest.rebuild()));
  }

  /**
   * Creates the directory (0700) and the keyring, protected by KEYCTL_MASTER_KEY, else KEYCTL_PASSPHRASE, else a
   * passphrase asked twice on the terminal. Never overwrites an existing keyring: then it returns `created: false`.
   */
  async init(): Promise<LocalInitResult> {
    const existing = await this.loadKeyring();
    if (existing) {
      await secureDir(this.docsDir, { create: true });
      return { created: false, protection: existing.protection };
    }
    // Credentials first, so a refused init leaves no empty directory behind.
    const source = await this.credentials(undefined, true);
    await secureDir(this.dir, { create: true, followLink: true });
    await secureDir(this.docsDir, { create: true });
    const kdf = source.protection === 'passphrase' ? newScryptParams() : undefined;
    const kek = source.protection === 'master-key' ? source.key : await deriveKek(source.passphrase, kdf!);
    const dataKey = randomBytes(KEY_BYTES);
    const keyring = buildKeyring(kek, dataKey, source.protection, kdf, new Date(this.now()));
    kek.fill(0);
    const created = await this.withFileLock(() => createExclusive(this.dir, KEYRING_FILE, `${JSON.stringify(keyring, null, 2)}\n`));
    if (!created) {
      // Another process initialized the store in the meantime; its keyring wins and ours is dropped.
      dataKey.fill(0);
      const theirs = await this.loadKeyring();
      return { created: false, protection: theirs?.protection ?? source.protection };
    }
    this.dataKey = Promise.resolve(dataKey);
    return { created: true, protection: source.protection };
  }

  /**
   * Tokens a bot redeems with the token alone (no master key, no config): the value sealed under a one-time key the
   * token carries, claimed atomically (tokens.ts, docs/delivery.md).
   */
  override async wrap(value: string, ttlMs: number, label?: WrapLabel): Promise<string> {
    const dataKey = await this.openDataKey();
    const { issueLocalToken } = await import('@keyctl/client/local/tokens');
    return issueLocalToken({ storeDir: this.dir, dataKey, value, ttlMs, now: this.now(), ...(label ? { label } : {}) });
  }

  override async unwrap(token: string): Promise<string> {
    const { redeemLocalToken } = await import('@keyctl/client/local/tokens');
    return redeemLocalToken(token, { now: () => this.now() });
  }

  async settleWraps(record: (s: WrapSettlement) => Promise<void>): Promise<number> {
    // Every command that opens the audit log comes here: one lstat when no token was ever issued, no module load.
    const tokensDir = await lstat(join(this.dir, TOKENS_DIR)).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    });
    if (tokensDir === null) return 0;
    const { settleLocalTokens } = await import('@keyctl/client/local/tokens');
    return settleLocalTokens({ storeDir: this.dir, dataKey: await this.openDataKey(), now: this.now(), record });
  }

  /** Checks that the store exists and that the configured master key or passphrase opens it. Creates nothing. */
  async health(): Promise<void> {
    await this.openDataKey();
    try {
      await readdir(this.docsDir);
    } catch (err) {
      throw new ProviderError('STORE_UNREADABLE', `Cannot read ${this.docsDir}.`, {
        cause: err,
        hint: 'Check that the store directory belongs to the user running keyctl (mode 0700).',
      });
    }
  }

  async close(): Promise<void> {
    const key = this.dataKey;
    this.dataKey = undefined;
    this.coordKey?.fill(0);
    this.coordKey = undefined;
    await key?.then(
      (k) => k.fill(0),
      () => undefined,
    );
  }

  protected async readDoc(key: string): Promise<Doc | null> {
    return (await this.loadDoc(key, await this.openDataKey()))?.doc ?? null;
  }

  protected async updateDoc<T>(key: string, fn: (current: Doc | null) => DocUpdate<T>): Promise<T> {
    const dataKey = await this.openDataKey();
    return this.serial(() =>
      this.withFileLock(async (lock) => {
        const current = await this.loadDoc(key, dataKey);
        const { doc, result } = fn(current?.doc ?? null);
        const name = `${DOCS_DIR}/${docFileName(key)}`;
        if (doc === null) {
          lock.assertHeld();
          if (current !== null) {
            // Tombstone first, then unlink: a crash between leaves a stale file the tombstone outranks.
            await this.manifest.commit(name, await this.manifest.nextGen(name, current.gen), true);
            await removeFile(this.docsDir, docFileName(key));
          }
        } else if (doc !== undefined) {
          // The file first, then the manifest: a crash between leaves a record one generation ahead, which is accepted.
          const gen = await this.manifest.nextGen(name, current?.gen ?? null);
          await writeAtomic(this.docsDir, docFileName(key), this.encodeDoc(key, doc, dataKey, gen), () => lock.assertHeld());
          lock.assertHeld();
          await this.manifest.commit(name, gen, false);
        }
        return result;
      }),
    );
  }

  protected async listDocs(prefix: string): Promise<string[]> {
    await this.openDataKey();
    const kind = prefix.split('/')[0] ?? '';
    const keys: string[] = [];
    const present = new Set<string>();
    for (const name of await this.docNames()) {
      if (!name.startsWith(`${kind}-`)) continue;
      const key = await this.readDocKey(name);
      if (key === null) continue;
      present.add(name);
      if (key.startsWith(prefix)) keys.push(key);
    }
    // A record the manifest says exists and whose file is gone: each is judged like a read (a concurrent delete is not one).
    for (const live of (await this.manifest.liveNames(DOCS_DIR)) ?? []) {
      const file = live.slice(DOCS_DIR.length + 1);
      if (!file.startsWith(`${kind}-`) || present.has(file)) continue;
      await this.manifest.guard(live, file, async () => {
        const gen = await this.fileGen(live);
        return gen === null ? null : { gen, value: null };
      });
    }
    return keys;
  }

  // ---- keys ------------------------------------------------------------------------------------------------------

  /** The data key, unwrapped once per instance. A failure is not cached, so a retry can prompt again. */
  private openDataKey(): Promise<Buffer> {
    if (!this.dataKey) {
      this.dataKey = this.loadDataKey();
      this.dataKey.catch(() => {
        this.dataKey = undefined;
      });
    }
    return this.dataKey;
  }

  private async loadDataKey(): Promise<Buffer> {
    const keyring = await this.loadKeyring();
    if (!keyring) {
      throw new ProviderError('STORE_NOT_INITIALIZED', `No keyctl store at ${this.dir}.`, {
        hint: 'Run `keyctl init` to create it, or point store.path in the config at the existing store.',
      });
    }
    this.refuseRelabelled(keyring);
    const source = await this.credentials(keyring.protection, false);
    const kek = source.protection === 'master-key' ? source.key : await deriveKek(source.passphrase, keyring.kdf!);
    try {
      return unwrapDataKey(keyring, kek);
    } catch (err) {
      if (!(err instanceof OpenFailed)) throw err;
      // The right secret (its check value matches) that does not open the data key: the header was edited.
      if (kekMatches(keyring, kek)) throw keyringEdited(this.dir, 'its header does not match the sealed data key');
      const what = source.protection === 'master-key' ? `The master key in ${MASTER_KEY_ENV}` : 'The passphrase';
      throw new ProviderError('WRONG_MASTER_KEY', `${what} does not open the store at ${this.dir}.`, {
        hint:
          source.protection === 'master-key'
            ? `Check ${MASTER_KEY_ENV}: it must be the key printed by \`keyctl init\` for this store. If it is, ${KEYRING_FILE} was damaged: restore it from a backup.`
            : `Check ${PASSPHRASE_ENV} (or the passphrase typed). If it is right, ${KEYRING_FILE} was damaged: restore it from a backup.`,
      });
    } finally {
      kek.fill(0);
    }
  }

  /**
   * Where the key-encryption secret comes from: the env var that matches the store's protection, else a prompt.
   * On init (`protection` undefined) a master key wins over a passphrase.
   */
  private async credentials(protection: Protection | undefined, creating: boolean): Promise<KekSource> {
    const masterKey = this.env[MASTER_KEY_ENV];
    const passphrase = this.env[PASSPHRASE_ENV];
    if (masterKey && protection !== 'passphrase') {
      const key = parseMasterKey(masterKey);
      if (!key) {
        throw new UsageError('MASTER_KEY_INVALID', `${MASTER_KEY_ENV} is not a valid master key.`, {
          hint: `It must be base64 of exactly 32 random bytes, as printed by \`keyctl init\` (or \`openssl rand -base64 32\`).`,
        });
      }
      return { protection: 'master-key', key };
    }
    if (protection === 'master-key') {
      if (this.promptSecret) {
        const key = parseMasterKey(await this.promptSecret('Master key for the keyctl store: '));
        if (!key)
          throw new UsageError('MASTER_KEY_INVALID', 'That is not a valid master key.', {
            hint: 'It is base64 of 32 bytes, as printed by `keyctl init`.',
          });
        return { protection: 'master-key', key };
      }
      throw missing(
        `This store is protected by a master key and ${MASTER_KEY_ENV} is not set.`,
        `Set ${MASTER_KEY_ENV} to the master key printed by \`keyctl init\`.`,
      );
    }
    if (passphrase) {
      if (creating) checkNewPassphrase(passphrase);
      return { protection: 'passphrase', passphrase };
    }
    if (this.promptSecret) {
      const typed = await this.promptSecret('Passphrase for the keyctl store: ');
      if (creating) {
        checkNewPassphrase(typed);
        if ((await this.promptSecret('Repeat the passphrase: ')) !== typed) {
          throw new UsageError('PASSPHRASE_MISMATCH', 'The two passphrases differ.', {
            hint: 'Run the command again and type the same passphrase twice.',
          });
        }
      }
      return { protection: 'passphrase', passphrase: typed };
    }
    if (protection === 'passphrase') {
      throw missing(
        `This store is protected by a passphrase and ${PASSPHRASE_ENV} is not set.`,
        `Set ${PASSPHRASE_ENV}, or run keyctl in a terminal to be asked for it.`,
      );
    }
    throw missing(
      `Neither ${MASTER_KEY_ENV} nor ${PASSPHRASE_ENV} is set.`,
      `Set ${MASTER_KEY_ENV} (base64 of 32 random bytes, e.g. from \`openssl rand -base64 32\`) or ${PASSPHRASE_ENV}, or run in a terminal to type a passphrase.`,
    );
  }

  /**
   * A master-key keyring relabelled `passphrase` would ask for a passphrase instead of failing: when the master key
   * that is set matches the keyring's check value, the label was edited.
   */
  private refuseRelabelled(keyring: KeyringFile): void {
    const masterKey = this.env[MASTER_KEY_ENV];
    if (keyring.protection !== 'passphrase' || !masterKey) return;
    const key = parseMasterKey(masterKey);
    if (!key) return;
    try {
      if (kekMatches(keyring, key))
        throw keyringEdited(this.dir, `it says "passphrase" but was made for the master key in ${MASTER_KEY_ENV}`);
    } finally {
      key.fill(0);
    }
  }

  /** Refuses a store or docs directory that another user owns or can write to (secureDir), before any file is read. */
  private async checkDirs(): Promise<void> {
    if ((await secureDir(this.dir, { create: false, followLink: true })) === 'missing') return;
    await secureDir(this.docsDir, { create: false });
  }

  private async loadKeyring(): Promise<KeyringFile | null> {
    await this.checkDirs();
    const file = join(this.dir, KEYRING_FILE);
    let raw: string;
    try {
      raw = (await readNoFollow(file)).text;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      if (isNotAFile(err)) throw keyringEdited(this.dir, 'it is a symbolic link or not a regular file');
      throw unreadable(file, err);
    }
    const keyring = parseKeyring(raw);
    if (!keyring) throw keyringEdited(this.dir, 'it is truncated, or edited into something keyctl does not write');
    return keyring;
  }

  // ---- documents -------------------------------------------------------------------------------------------------

  private async serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async withFileLock<T>(task: (lock: HeldLock) => Promise<T>): Promise<T> {
    const lock = await this.fileLock.acquire();
    try {
      if (!this.tempsCleaned) {
        // Temp files are only written under the lock, so any found now belong to a writer that died.
        await removeStaleTemps(this.docsDir);
        await removeStaleTemps(this.dir);
        await removeDeadLockTemps(this.dir);
        this.tempsCleaned = true;
      }
      return await task(lock);
    } finally {
      await lock.release();
    }
  }

  private async docNames(): Promise<string[]> {
    try {
      return (await readdir(this.docsDir)).filter((n) => DOC_NAME.test(n));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  /** The document key stored in a file's clear header (authenticated when the file is opened). */
  private async readDocKey(name: string): Promise<string | null> {
    const file = join(this.docsDir, name);
    let raw: string;
    try {
      raw = (await readNoFollow(file)).text;
    } catch (err) {
      // Deleted since the directory was listed (by a concurrent delete, or not: the manifest check after the listing tells).
      if (isErrno(err, 'ENOENT')) return null;
      if (isNotAFile(err)) throw corrupt(file, undefined, NOT_A_FILE_WHY);
      throw unreadable(file, err);
    }
    const envelope = parseEnvelope(raw);
    if (!envelope || docFileName(envelope.key) !== name) {
      throw corrupt(file, undefined, envelope ? 'its name does not match the record it holds' : 'it is truncated or not valid JSON');
    }
    return envelope.key;
  }

  /** A document and the generation its file carries, judged against the manifest (null: no such record). */
  private async loadDoc(key: string, dataKey: Buffer): Promise<{ doc: Doc; gen: number } | null> {
    const name = docFileName(key);
    return this.manifest.guard(`${DOCS_DIR}/${name}`, key, async () => {
      const opened = await this.openDocFile(name, key, dataKey);
      return (
        opened && { gen: opened.gen, value: { doc: decodeDoc(opened.inner, key, dataKey, join(this.docsDir, name)), gen: opened.gen } }
      );
    });
  }

  /** Reads and authenticates one document file; `key` null accepts the key it names (checked against its name). */
  private async openDocFile(name: string, key: string | null, dataKey: Buffer): Promise<{ inner: unknown; gen: number } | null> {
    const file = join(this.docsDir, name);
    let raw: string;
    try {
      raw = (await readNoFollow(file)).text;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      if (isNotAFile(err)) throw corrupt(file, key ?? undefined, NOT_A_FILE_WHY);
      throw unreadable(file, err);
    }
    const envelope = parseEnvelope(raw);
    if (!envelope) throw corrupt(file, key ?? undefined, 'it is truncated or not valid JSON');
    if ((key !== null && envelope.key !== key) || docFileName(envelope.key) !== name) {
      throw corrupt(file, key ?? undefined, 'it holds another record');
    }
    try {
      const aad = envelope.format === DOC_FORMAT_V1 ? docAad(envelope.key) : docAad(envelope.key, envelope.gen);
      return { inner: JSON.parse(open(dataKey, envelope, aad).toString('utf8')) as unknown, gen: envelope.gen };
    } catch {
      throw corrupt(file, key ?? envelope.key, 'it fails authentication (modified, or written by another store)');
    }
  }

  /** The authenticated generation of any record file of the store (docs and coordination), null when it is missing. */
  private async fileGen(name: string): Promise<number | null> {
    const [dir, file] = name.split('/') as [(typeof COVERED_DIRS)[number], string];
    if (dir === DOCS_DIR) return (await this.openDocFile(file, null, await this.openDataKey()))?.gen ?? null;
    return coordinationFileGen(join(this.dir, dir), file, await this.coordinationKey());
  }

  private encodeDoc(key: string, doc: Doc, dataKey: Buffer, gen: number): string {
    let stored: unknown = doc;
    if (doc.kind === 'slot') {
      // Versions are sealed afresh on every write; a destroyed version has no ciphertext left at all.
      const versions: SealedVersion[] = doc.versions.map((v) => ({
        id: v.id,
        createdAt: v.createdAt,
        meta: v.meta,
        sealed: v.secret === null ? null : sealVersion(dataKey, doc.path, v.id, v.secret),
      }));
      stored = { ...doc, versions };
    }
    const sealed = seal(dataKey, Buffer.from(JSON.stringify(stored), 'utf8'), docAad(key, gen));
    return `${JSON.stringify({ format: DOC_FORMAT, key, gen, ...sealed })}\n`;
  }
}

/** Builds a local store from its config section. Opening is lazy: nothing is read until the first call. */
export async function createStore(config: LocalStoreConfig, context: ProviderContext): Promise<SecretStore> {
  return new LocalStore({
    path: config.path,
    ...(context.env ? { env: context.env } : {}),
    ...(context.promptSecret ? { promptSecret: context.promptSecret } : {}),
    ...(context.now ? { now: context.now } : {}),
  });
}

/**
 * The local store's coordination (leases, journals, hand-over registry): plain files under `<store>/coordination/`,
 * independent of the master key (nothing there is secret). See providers/local/coordination.ts.
 */
export async function createCoordination(
  config: LocalStoreConfig,
  secrets: SecretStore,
  context: ProviderContext,
): Promise<CoordinationStore> {
  if (!(secrets instanceof LocalStore)) throw new Error('The local coordination backing needs the local store it lives in.');
  return new LocalCoordination({ path: config.path, integrity: secrets, ...(context.now ? { now: context.now } : {}) });
}

// ---- helpers ---------------------------------------------------------------------------------------------------------

const DOC_NAME = /^[a-z]+-[0-9a-f]{64}\.json$/;

/** `<kind>-<sha256(key)>.json`: the kind (slot, wrap) in the name lets listDocs skip other kinds unread. */
export function docFileName(key: string): string {
  const kind = key.split('/')[0] ?? 'doc';
  return `${/^[a-z]+$/.test(kind) ? kind : 'doc'}-${createHash('sha256').update(key).digest('hex')}.json`;
}

type Envelope = Sealed & { key: string; format: string; gen: number };

function parseEnvelope(raw: string): Envelope | null {
  try {
    const e = JSON.parse(raw) as Record<string, unknown>;
    if (typeof e.key !== 'string' || !isSealed(e)) return null;
    if (e.format === DOC_FORMAT_V1 && !('gen' in e)) return { ...(e as unknown as Envelope), gen: 0 };
    if (e.format === DOC_FORMAT && Number.isSafeInteger(e.gen) && (e.gen as number) > 0) return e as unknown as Envelope;
  } catch {
    // Not JSON: reported by the caller.
  }
  return null;
}

function decodeDoc(inner: unknown, key: string, dataKey: Buffer, file: string): Doc {
  const doc = inner as Doc;
  if (typeof inner !== 'object' || inner === null) throw corrupt(file, key, 'its content has an unknown shape');
  if (doc.kind !== 'slot') return doc;
  const versions = (doc as unknown as { versions: SealedVersion[] }).versions;
  const path = (doc as SlotDoc).path;
  const opened: StoredVersion[] = versions.map((v) => {
    if (v.sealed === null) return { id: v.id, createdAt: v.createdAt, meta: v.meta, secret: null };
    try {
      return { id: v.id, createdAt: v.createdAt, meta: v.meta, secret: openVersion(dataKey, path, v.id, v.sealed) };
    } catch {
      throw corrupt(file, key, `the secret of version ${v.id} fails authentication (moved from another record or version)`);
    }
  });
  return { ...(doc as SlotDoc), versions: opened };
}

function corrupt(file: string, key: string | undefined, why: string): ProviderError {
  const record = key === undefined ? '' : ` (record "${key}")`;
  return new ProviderError('STORE_CORRUPT', `The store file ${file}${record} cannot be opened: ${why}.`, {
    hint: corruptHint,
    details: { file, ...(key === undefined ? {} : { record: key }) },
  });
}

/** A record swapped for a symlink is damaged, never followed: its target is not a file keyctl wrote. */
const NOT_A_FILE_WHY = 'it is a symbolic link or not a regular file (keyctl does not follow it)';

function keyringEdited(dir: string, why: string): ProviderError {
  const file = join(dir, KEYRING_FILE);
  return new ProviderError('STORE_CORRUPT', `The keyring ${file} is damaged: ${why}.`, {
    hint: `Restore ${KEYRING_FILE} from a backup; without it no record can be opened. keyctl changed nothing.`,
    details: { file },
  });
}

function unreadable(file: string, err: unknown): ProviderError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
  return new ProviderError('STORE_UNREADABLE', `Cannot read ${file} (${code}).`, {
    cause: err,
    hint: 'Check the ownership and permissions of the store directory (the user running keyctl, mode 0700).',
  });
}

function missing(message: string, hint: string): ProviderError {
  return new ProviderError('MASTER_KEY_MISSING', message, { hint });
}

function checkNewPassphrase(passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE) {
    throw new UsageError('PASSPHRASE_TOO_SHORT', `A store passphrase needs at least ${MIN_PASSPHRASE} characters.`, {
      hint: 'Prefer a long random passphrase, or a master key (KEYCTL_MASTER_KEY) for unattended use.',
    });
  }
}
