import { createHash, randomBytes } from 'node:crypto';
import { ConflictError, NotFoundError, ProviderError, UsageError } from '@keyctl/client/errors';
import {
  STAGES,
  type Capabilities,
  type MoveStageInput,
  type SecretFields,
  type SecretInfo,
  type SecretStore,
  type SecretVersion,
  type Stage,
  type VersionInfo,
  type VersionMeta,
  type VersionSelector,
  type WriteInput,
  type WriteResult,
} from './types.js';

/** One version as kept by a document store. `secret` is null once destroyed. */
export interface StoredVersion {
  id: string;
  createdAt: string;
  meta: VersionMeta;
  secret: SecretFields | null;
}

export interface SlotDoc {
  kind: 'slot';
  path: string;
  nextVersion: number;
  versions: StoredVersion[];
  stages: Partial<Record<Stage, string>>;
  /** idempotencyKey -> version id and digest of the secret written with it. */
  idempotency: Record<string, { version: string; digest: string }>;
}

export interface WrapDoc {
  kind: 'wrap';
  value: string;
  expiresAt: number;
}

export type Doc = SlotDoc | WrapDoc;

/** What an update function returns: the new document (null deletes it, undefined leaves it) and a result. */
export interface DocUpdate<T> {
  doc?: Doc | null;
  result: T;
}

// `keyctl-` is reserved for providers' own versions (the AWS provider's placeholder version, for one).
const IDEMPOTENCY_KEY = /^(?!keyctl-)[A-Za-z0-9-]{32,64}$/;
const PATH = /^[A-Za-z0-9][A-Za-z0-9._@-]*(\/[A-Za-z0-9][A-Za-z0-9._@-]*)*$/;

/** Checks a path's grammar so it can be used as a file name, Vault path or AWS secret name on every backend. */
export function assertValidPath(path: string): void {
  if (path.length > 256 || !PATH.test(path)) {
    throw new UsageError('INVALID_PATH', `Invalid secret path "${path}".`, {
      hint: 'Paths are segments of letters, digits, ".", "_", "@" and "-" separated by "/", e.g. bots/alpha/arb1.',
    });
  }
}

/** Checks an idempotency key's grammar; the same on every provider, as the contract says. */
export function assertValidIdempotencyKey(key: string | undefined): void {
  if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
    throw new UsageError(
      'INVALID_IDEMPOTENCY_KEY',
      'An idempotency key must be 32-64 letters, digits or dashes, not starting with "keyctl-".',
    );
  }
}

function digestSecret(secret: SecretFields): string {
  const canonical = JSON.stringify(
    Object.keys(secret)
      .sort()
      .map((k) => [k, secret[k]]),
  );
  return createHash('sha256').update(canonical).digest('hex');
}

export function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The SecretStore contract implemented once over a tiny document storage primitive: read a document, update one
 * atomically, list keys. The memory and local providers differ only in how they keep documents; every rule of the
 * contract (CAS, stage moves, idempotency, single-use wrapping) lives here, in one place.
 */
export abstract class DocumentStore implements SecretStore {
  abstract readonly id: string;
  abstract readonly capabilities: Capabilities;
  protected readonly now: () => number;

  protected constructor(now?: () => number) {
    this.now = now ?? Date.now;
  }

  /** The document under `key`, or null. */
  protected abstract readDoc(key: string): Promise<Doc | null>;
  /**
   * Applies `fn` to the document under `key` atomically with respect to every other update of the same key, in this
   * process and (for durable stores) in others. When `fn` throws, nothing changes.
   */
  protected abstract updateDoc<T>(key: string, fn: (current: Doc | null) => DocUpdate<T>): Promise<T>;
  /** Keys starting with `prefix`. */
  protected abstract listDocs(prefix: string): Promise<string[]>;

  abstract init(): Promise<{ created: boolean }>;
  abstract health(): Promise<void>;
  abstract close(): Promise<void>;

  async describe(path: string): Promise<SecretInfo | null> {
    assertValidPath(path);
    const doc = await this.readSlot(path);
    return doc ? infoOf(doc) : null;
  }

  async read(path: string, selector: VersionSelector): Promise<SecretVersion> {
    assertValidPath(path);
    const doc = await this.readSlot(path);
    if (!doc) throw new NotFoundError(`No secret at "${path}".`);
    const id = 'stage' in selector ? doc.stages[selector.stage] : selector.version;
    if (id === undefined) throw new NotFoundError(`Stage ${'stage' in selector ? selector.stage : ''} of "${path}" points at no version.`);
    const version = doc.versions.find((v) => v.id === id);
    if (!version) throw new NotFoundError(`Version ${id} of "${path}" does not exist.`);
    if (version.secret === null) {
      throw new ProviderError('DESTROYED', `Version ${id} of "${path}" was destroyed; only its metadata remains.`);
    }
    return { path, version: versionInfo(doc, version), secret: { ...version.secret } };
  }

  async write(path: string, input: WriteInput): Promise<WriteResult> {
    assertValidPath(path);
    const stage = input.stage ?? 'PENDING';
    assertValidIdempotencyKey(input.idempotencyKey);
    const digest = digestSecret(input.secret);
    return this.updateDoc(slotKey(path), (current) => {
      const doc = current ? asSlot(current, path) : emptySlot(path);
      if (input.idempotencyKey !== undefined) {
        const seen = doc.idempotency[input.idempotencyKey];
        if (seen) {
          if (seen.digest !== digest) {
            throw new ConflictError(`Idempotency key already used for a different value at "${path}".`);
          }
          return { result: { version: seen.version } };
        }
      }
      if (input.expect !== undefined && (doc.stages[stage] ?? null) !== input.expect) {
        throw new ConflictError(`Stage ${stage} of "${path}" changed since it was read.`, {
          hint: 'Another writer got there first. Re-read the secret and decide again.',
        });
      }
      const id = String(doc.nextVersion);
      doc.nextVersion += 1;
      doc.versions.push({ id, createdAt: new Date(this.now()).toISOString(), meta: { ...input.meta }, secret: { ...input.secret } });
      if (stage === 'CURRENT') moveCurrent(doc, id);
      else doc.stages[stage] = id;
      if (input.idempotencyKey !== undefined) doc.idempotency[input.idempotencyKey] = { version: id, digest };
      pruneVersions(doc);
      return { doc, result: { version: id } };
    });
  }

  async moveStage(path: string, input: MoveStageInput): Promise<void> {
    assertValidPath(path);
    if (!STAGES.includes(input.stage)) throw new UsageError('INVALID_STAGE', `Unknown stage "${String(input.stage)}".`);
    await this.updateDoc(slotKey(path), (current) => {
      if (!current) throw new NotFoundError(`No secret at "${path}".`);
      const doc = asSlot(current, path);
      if ((doc.stages[input.stage] ?? null) !== input.expect) {
        throw new ConflictError(`Stage ${input.stage} of "${path}" changed since it was read.`, {
          hint: 'Another writer got there first. Re-read the secret and decide again.',
        });
      }
      if (input.to === null) {
        delete doc.stages[input.stage];
      } else {
        if (!doc.versions.some((v) => v.id === input.to)) throw new NotFoundError(`Version ${input.to} of "${path}" does not exist.`);
        if (input.stage === 'CURRENT') moveCurrent(doc, input.to);
        else doc.stages[input.stage] = input.to;
      }
      return { doc, result: undefined };
    });
  }

  async list(prefix: string): Promise<string[]> {
    const keys = await this.listDocs(slotKey(prefix));
    return keys.map((k) => k.slice(slotKey('').length)).sort();
  }

  async destroy(path: string, version: string): Promise<void> {
    assertValidPath(path);
    await this.updateDoc(slotKey(path), (current) => {
      if (!current) throw new NotFoundError(`No secret at "${path}".`);
      const doc = asSlot(current, path);
      const v = doc.versions.find((x) => x.id === version);
      if (!v) throw new NotFoundError(`Version ${version} of "${path}" does not exist.`);
      const holding = STAGES.filter((s) => doc.stages[s] === version);
      if (holding.length > 0) {
        throw new ConflictError(`Version ${version} of "${path}" is still ${holding.join(' and ')}; move the stage first.`);
      }
      if (v.secret === null) return { result: undefined };
      v.secret = null;
      return { doc, result: undefined };
    });
  }

  async delete(path: string): Promise<void> {
    assertValidPath(path);
    await this.updateDoc(slotKey(path), () => ({ doc: null, result: undefined }));
  }

  async wrap(value: string, ttlMs: number): Promise<string> {
    if (!(ttlMs > 0)) throw new UsageError('INVALID_TTL', 'A wrap TTL must be positive.');
    await this.purgeExpiredWraps();
    const token = `kcw_${randomBytes(32).toString('base64url')}`;
    const expiresAt = this.now() + ttlMs;
    await this.updateDoc(wrapKey(token), () => ({ doc: { kind: 'wrap', value, expiresAt }, result: undefined }));
    return token;
  }

  async unwrap(token: string): Promise<string> {
    const invalid = () =>
      new ProviderError('WRAP_INVALID', 'This token is unknown, already used or expired.', {
        hint: 'Tokens are single-use and short-lived: ask for a new one with `keyctl issue`.',
      });
    if (typeof token !== 'string' || !token.startsWith('kcw_')) throw invalid();
    const value = await this.updateDoc(wrapKey(token), (current) => {
      // Any attempt consumes the token, so a guessed-at or replayed token is never usable afterwards.
      if (!current || current.kind !== 'wrap') return { result: null };
      if (current.expiresAt <= this.now()) return { doc: null, result: null };
      return { doc: null, result: current.value };
    });
    if (value === null) throw invalid();
    return value;
  }

  private async readSlot(path: string): Promise<SlotDoc | null> {
    const doc = await this.readDoc(slotKey(path));
    return doc ? asSlot(doc, path) : null;
  }

  private async purgeExpiredWraps(): Promise<void> {
    const now = this.now();
    for (const key of await this.listDocs(wrapKey(''))) {
      await this.updateDoc(key, (current) =>
        current && current.kind === 'wrap' && current.expiresAt <= now ? { doc: null, result: undefined } : { result: undefined },
      );
    }
  }
}

export const slotKey = (path: string) => `slot/${path}`;
const wrapKey = (token: string) => (token === '' ? 'wrap/' : `wrap/${tokenKey(token)}`);

/**
 * Versions a path keeps at least. Older versions no stage points at are dropped, with their idempotency entries, so
 * a record written often (the hand-over registry: every `keyctl exec` start and exit) does not grow without bound and
 * slow every later read. Vault's `max_versions` and AWS's 100-version pruning do the same on those backends.
 */
export const RETAINED_VERSIONS = 50;

function pruneVersions(doc: SlotDoc): void {
  let excess = doc.versions.length - RETAINED_VERSIONS;
  if (excess <= 0) return;
  const staged = new Set(Object.values(doc.stages));
  const drop = new Set<string>();
  for (const v of doc.versions) {
    if (excess === 0) break;
    if (staged.has(v.id)) continue;
    drop.add(v.id);
    excess -= 1;
  }
  doc.versions = doc.versions.filter((v) => !drop.has(v.id));
  for (const [key, seen] of Object.entries(doc.idempotency)) if (drop.has(seen.version)) delete doc.idempotency[key];
}

function emptySlot(path: string): SlotDoc {
  return { kind: 'slot', path, nextVersion: 1, versions: [], stages: {}, idempotency: {} };
}

function asSlot(doc: Doc, path: string): SlotDoc {
  if (doc.kind !== 'slot' || doc.path !== path) {
    throw new ProviderError('STORE_CORRUPT', `The record for "${path}" holds something else.`, {
      hint: 'The store was edited by hand or damaged. Restore it from a backup; keyctl changed nothing.',
    });
  }
  return doc;
}

/** CURRENT moves and PREVIOUS follows onto the version CURRENT left, as AWS does. */
function moveCurrent(doc: SlotDoc, to: string): void {
  const old = doc.stages.CURRENT;
  if (old === to) return;
  doc.stages.CURRENT = to;
  if (old !== undefined) doc.stages.PREVIOUS = old;
}

function versionInfo(doc: SlotDoc, v: StoredVersion): VersionInfo {
  return {
    id: v.id,
    stages: STAGES.filter((s) => doc.stages[s] === v.id),
    createdAt: v.createdAt,
    destroyed: v.secret === null,
    meta: { ...v.meta },
  };
}

function infoOf(doc: SlotDoc): SecretInfo {
  return { path: doc.path, versions: doc.versions.map((v) => versionInfo(doc, v)), stages: { ...doc.stages } };
}
