/**
 * The HashiCorp Vault provider: the SecretStore contract on KV v2, response wrapping and AppRole.
 *
 * Layout in the mount (`store.mount`, default `secret`), under `store.prefix` (default `keyctl`):
 *   <prefix>/<path>            one KV v2 secret per path; each keyctl version is a KV version (id = version number);
 *                              stage pointers, version meta and idempotency keys live in its custom_metadata
 *                              (providers/vault/stages.ts)
 *   <prefix>/_mutex/<path>     short lease guarding that path's pointer updates (the metadata endpoint has no cas)
 *   <prefix>/_coordination/…   leases and records of the CoordinationStore (providers/vault/coordination.ts)
 * Every data write carries `options.cas`. Segments starting with "_" cannot be keyctl paths, so list() skips them.
 *
 * docs/vault.md explains the design, the policies keyctl and bots need, and how to run the contract suite against a
 * real `vault server -dev`.
 */
import { ConflictError, NotFoundError, ProviderError, UsageError } from '@keyctl/client/errors';
import type { VaultStoreConfig } from '../../src/config/schema.js';
import { assertValidIdempotencyKey, assertValidPath } from '../document-store.js';
import {
  STAGES,
  type Capabilities,
  type MoveStageInput,
  type ProviderContext,
  type SecretFields,
  type SecretInfo,
  type SecretStore,
  type SecretVersion,
  type Stage,
  type VersionInfo,
  type VersionSelector,
  type WriteInput,
  type WriteResult,
} from '../types.js';
import { lookupSelf, startTokenRenewal, type RenewalOptions } from './auth.js';
import { openVaultHttp } from './connect.js';
import { mapVaultError } from './errors.js';
import { VaultApiError, VaultHttp } from './http.js';
import { Kv, type KvMetadata, type KvMountConfig } from './kv.js';
import { VaultCoordination } from './coordination.js';
import type { CoordinationStore } from '../coordination.js';
import {
  assertMetaFits,
  attach,
  emptyRecord,
  encodeRecord,
  fromLegacy,
  MIRROR_REV_KEY,
  mirrorOf,
  parseRecord,
  pruneRecord,
  VERSION_MARKER,
  type StageRecord,
} from './stages.js';
import { mapLimit } from '../map-limit.js';

/** Where keyctl wraps values; unwrap accepts only tokens created here (exact creation_path match). */
export const WRAP_PATH = 'sys/wrapping/wrap';

/** Vault's default max_versions (key and mount both 0): vault-plugin-secrets-kv path_data.go, defaultMaxVersions. */
const VAULT_DEFAULT_MAX_VERSIONS = 10;
/** Attempts of a stage-record change that keeps losing its check-and-set to other writers. */
const RECORD_ATTEMPTS = 8;
/** How many of the latest versions a retried idempotent write looks through for its own marker. */
const IDEMPOTENCY_SCAN = 5;

const invalidWrap = () =>
  new ProviderError('WRAP_INVALID', 'This token is unknown, already used or expired.', {
    hint: 'Tokens are single-use and short-lived: ask for a new one with `keyctl issue`.',
  });

const staleStage = (stage: string, path: string) =>
  new ConflictError(`Stage ${stage} of "${path}" changed since it was read.`, {
    hint: 'Another writer got there first. Re-read the secret and decide again.',
  });

export interface VaultConnection {
  http: VaultHttp;
  kv: Kv;
}

/** Opens an authenticated connection (used by the store and by the `keyctl vault` admin commands). */
export async function connectVault(config: VaultStoreConfig, context: ProviderContext = {}): Promise<VaultConnection> {
  const http = await openVaultHttp(config, context.env ?? process.env);
  return { http, kv: new Kv(http, config.mount.replace(/^\/+|\/+$/g, '')) };
}

/** The provider factory the registry calls. */
export async function createStore(config: VaultStoreConfig, context: ProviderContext): Promise<SecretStore> {
  return new VaultStore(config, await connectVault(config, context), context.now ?? Date.now);
}

/**
 * The coordination backing that goes with a Vault store: KV v2 with cas under `<prefix>/_coordination/`, on the
 * server's clock (providers/vault/coordination.ts). Shares the store's connection when given a VaultStore.
 */
export async function createCoordination(
  config: VaultStoreConfig,
  secrets: SecretStore,
  context: ProviderContext,
): Promise<CoordinationStore> {
  const kv = secrets instanceof VaultStore ? secrets.kv : (await connectVault(config, context)).kv;
  return new VaultCoordination(kv, config.prefix);
}

export class VaultStore implements SecretStore {
  readonly id = 'vault';
  readonly capabilities: Capabilities = {
    versions: 'native',
    stages: 'emulated',
    // Data writes use Vault's cas; stage moves are guarded by a cas-written mutex (see header).
    cas: 'emulated',
    wrapping: 'native',
    destroy: 'native',
    durable: true,
  };
  private readonly http: VaultHttp;
  /** The KV client, shared with this store's coordination backing (one login, one token renewal). */
  readonly kv: Kv;
  private mountConfig: Promise<KvMountConfig | null> | undefined;
  private readonly base: string;
  private stopRenewal: (() => void) | undefined;

  constructor(
    private readonly config: VaultStoreConfig,
    connection: VaultConnection,
    private readonly now: () => number = Date.now,
  ) {
    this.http = connection.http;
    this.kv = connection.kv;
    this.base = config.prefix.replace(/^\/+|\/+$/g, '');
  }

  /** Nothing to create: the KV v2 mount is the Vault admin's. Checks it is usable and reports `created: false`. */
  async init(): Promise<{ created: boolean }> {
    await this.health();
    return { created: false };
  }

  async health(): Promise<void> {
    const state = await this.http.healthState();
    if (state.sealed) {
      throw new ProviderError('VAULT_SEALED', `Vault at ${this.http.address} is sealed.`, {
        hint: 'Unseal it (`vault operator unseal`, or wait for auto-unseal), then re-run; keyctl changed nothing.',
        retryable: true,
      });
    }
    if (!state.initialized) {
      throw new ProviderError('VAULT_NOT_INITIALIZED', `Vault at ${this.http.address} is not initialized.`, {
        hint: 'Run `vault operator init` first.',
      });
    }
    await lookupSelf(this.http);
    const mount = this.kv.mount;
    const preflight = `sys/internal/ui/mounts/${mount}`;
    try {
      const res = await this.http.call<{ type?: string; options?: { version?: string } | null }>({ method: 'GET', path: preflight });
      if (res.data?.type !== 'kv' || res.data.options?.version !== '2') {
        throw new ProviderError('VAULT_MOUNT_NOT_KV2', `The Vault mount "${mount}/" is not a KV version 2 engine.`, {
          hint: `Point store.mount at a KV v2 mount, or enable one: \`vault secrets enable -path=${mount} kv-v2\`.`,
        });
      }
    } catch (err) {
      if (err instanceof VaultApiError && (err.status === 403 || err.status === 400 || err.status === 404)) {
        throw new ProviderError('VAULT_MOUNT_MISSING', `Vault has no KV v2 engine at "${mount}/" that this token can use.`, {
          hint: `Enable one (\`vault secrets enable -path=${mount} kv-v2\`), set store.mount, or grant the token access (docs/vault.md).`,
        });
      }
      throw await mapVaultError(err, this.http, 'read', preflight);
    }
    // The mount's settings decide how many versions survive and whether they expire: refuse unusable ones now.
    await this.mountSettings();
  }

  /** The KV mount's settings keyctl depends on, for `keyctl status` ("unreadable" when the token may not read them). */
  async settings(): Promise<Record<string, string | number | boolean>> {
    const c = await this.mountSettings();
    if (!c) return { 'mount config': 'unreadable (grant read on <mount>/config to check it)' };
    return {
      max_versions: effectiveMaxVersions(0, c.max_versions),
      cas_required: c.cas_required,
      delete_version_after: c.delete_version_after,
    };
  }

  async describe(path: string): Promise<SecretInfo | null> {
    assertValidPath(path);
    const md = await this.kv.metadata(this.kvPath(path));
    if (!md) return null;
    const { record } = await this.readRecord(path, md);
    const ids = liveIds(md, record);
    if (ids.length === 0) return null;
    return { path, versions: ids.map((id) => this.info(md, record, id)), stages: { ...record.stages } };
  }

  async read(path: string, selector: VersionSelector): Promise<SecretVersion> {
    assertValidPath(path);
    const md = await this.kv.metadata(this.kvPath(path));
    if (!md) throw new NotFoundError(`No secret at "${path}".`);
    const { record } = await this.readRecord(path, md);
    if (liveIds(md, record).length === 0) throw new NotFoundError(`No secret at "${path}".`);
    const id = 'stage' in selector ? record.stages[selector.stage] : selector.version;
    if (id === undefined) throw new NotFoundError(`Stage ${'stage' in selector ? selector.stage : ''} of "${path}" points at no version.`);
    const state = isLive(id, md, record) ? md.versions[id] : undefined;
    if (!state) throw new NotFoundError(`Version ${id} of "${path}" does not exist.`);
    if (state.destroyed) throw new ProviderError('DESTROYED', `Version ${id} of "${path}" was destroyed; only its metadata remains.`);
    const got = await this.kv.read(this.kvPath(path), Number(id));
    if (!got?.data)
      throw new NotFoundError(`Version ${id} of "${path}" was deleted in Vault.`, {
        hint: 'Undelete it with `vault kv undelete`, or write a new version.',
      });
    return { path, version: this.info(md, record, id), secret: toFields(got.data) };
  }

  /**
   * A new KV version with `cas` = the version read (so concurrent writers serialise on Vault), then the stage record
   * updated with `cas` (attach under the `expect` guard, the version's metadata, the idempotency key). The data
   * version carries the idempotency key itself (field `_keyctl`), so a retry after a crash between the two writes finds
   * it and only finishes the record; without a key, such a crash leaves an unstaged version, which the contract allows.
   * Metadata is checked against Vault's limits before anything is written.
   */
  async write(path: string, input: WriteInput): Promise<WriteResult> {
    assertValidPath(path);
    const stage = input.stage ?? 'PENDING';
    if (!STAGES.includes(stage)) throw new UsageError('INVALID_STAGE', `Unknown stage "${String(stage)}".`);
    const key = input.idempotencyKey;
    assertValidIdempotencyKey(key);
    assertMetaFits(input.meta);
    if (Object.prototype.hasOwnProperty.call(input.secret, VERSION_MARKER)) {
      throw new UsageError('RESERVED_FIELD', `The secret field name "${VERSION_MARKER}" is reserved by keyctl.`, {
        hint: 'Rename the field.',
      });
    }
    const kp = this.kvPath(path);
    const settings = await this.mountSettings();
    const md = await this.kv.metadata(kp);
    const { record } = await this.readRecord(path, md);
    if (key !== undefined) {
      const seen = await this.findIdempotent(path, md, record, key);
      if (seen) {
        if (!sameSecret(seen.secret, input.secret))
          throw new ConflictError(`Idempotency key already used for a different value at "${path}".`);
        if (record.idempotency[key] === seen.id) return { version: seen.id };
        // The first call stopped between its data write and its record update: finish that update now.
        await this.updateRecord(path, (r, live) => this.attachWritten(path, r, live, seen.id, stage, input));
        return { version: seen.id };
      }
    }
    if (input.expect !== undefined && (record.stages[stage] ?? null) !== input.expect) throw staleStage(stage, path);
    // Past max_versions Vault drops the oldest versions (all up to current + 1 - max: path_data.go, AddVersion): never
    // one a stage points at.
    if (md) assertUsableKeySetting(md, path);
    const max = effectiveMaxVersions(md?.max_versions ?? 0, settings?.max_versions ?? 0);
    const dropped = md ? versionIds(md).filter((id) => Number(id) <= md.current_version + 1 - max) : [];
    const staged = dropped.find((id) => STAGES.some((s) => record.stages[s] === id));
    if (staged !== undefined) {
      throw new ProviderError(
        'VAULT_VERSION_LIMIT',
        `Writing to "${path}" would make Vault drop version ${staged}, which a stage still points at.`,
        {
          hint: `Vault keeps ${max} versions of this key (the larger of the key's and the mount's max_versions). Promote or detach the stages first, or raise max_versions (\`vault kv metadata put -max-versions=N\`).`,
        },
      );
    }
    const data: Record<string, string> = { ...input.secret };
    if (key !== undefined) data[VERSION_MARKER] = JSON.stringify({ idempotencyKey: key });
    // cas = the version just read: of two concurrent writers exactly one gets the next version.
    const written = await this.kv.write(kp, data, md?.current_version ?? 0);
    if (written === 'conflict') throw staleStage(stage, path);
    const id = String(written);
    await this.updateRecord(path, (r, live) => this.attachWritten(path, r, live, id, stage, input));
    return { version: id };
  }

  async moveStage(path: string, input: MoveStageInput): Promise<void> {
    assertValidPath(path);
    if (!STAGES.includes(input.stage)) throw new UsageError('INVALID_STAGE', `Unknown stage "${String(input.stage)}".`);
    const exists = await this.kv.metadata(this.kvPath(path));
    if (!exists) throw new NotFoundError(`No secret at "${path}".`);
    await this.updateRecord(path, (r, live) => {
      if ((r.stages[input.stage] ?? null) !== input.expect) throw staleStage(input.stage, path);
      if (input.to === null) delete r.stages[input.stage];
      else {
        if (!live.has(input.to)) throw new NotFoundError(`Version ${input.to} of "${path}" does not exist.`);
        attach(r, input.stage, input.to);
      }
      return r;
    });
  }

  async list(prefix: string): Promise<string[]> {
    const full = this.base ? `${this.base}/${prefix}` : prefix;
    const dir = full.includes('/') ? full.slice(0, full.lastIndexOf('/')) : '';
    const found: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const key of await this.kv.list(d)) {
        if (key.startsWith('_')) continue; // internal: stage records, coordination, old mutexes
        const p = d ? `${d}/${key}` : key;
        if (key.endsWith('/')) {
          const sub = p.slice(0, -1);
          if (`${sub}/`.startsWith(full) || full.startsWith(`${sub}/`)) await walk(sub);
        } else if (p.startsWith(full)) {
          found.push(this.base ? p.slice(this.base.length + 1) : p);
        }
      }
    };
    await walk(dir);
    // A deleted path keeps its KV key (its versions destroyed, so ids are never reused): not listed.
    const live = await mapLimit(found, 8, async (path) => ((await this.describe(path)) ? path : null));
    return live.filter((p): p is string => p !== null).sort();
  }

  async destroy(path: string, version: string): Promise<void> {
    assertValidPath(path);
    const kp = this.kvPath(path);
    const md = await this.kv.metadata(kp);
    if (!md) throw new NotFoundError(`No secret at "${path}".`);
    const { record } = await this.readRecord(path, md);
    const state = isLive(version, md, record) ? md.versions[version] : undefined;
    if (!state) throw new NotFoundError(`Version ${version} of "${path}" does not exist.`);
    const holding = STAGES.filter((s) => record.stages[s] === version);
    if (holding.length > 0)
      throw new ConflictError(`Version ${version} of "${path}" is still ${holding.join(' and ')}; move the stage first.`);
    if (state.destroyed) return;
    // A stage may be moved onto it between the check and the destroy; a later read then answers DESTROYED (fail closed).
    await this.kv.destroy(kp, [Number(version)]);
  }

  /**
   * Removes the path as keyctl sees it: the stage record records that every version so far belongs to a deleted
   * incarnation (cas, like every record change), then those versions' material is destroyed. The KV key itself stays,
   * so its version numbers go on and a version id is never reused (a KV metadata delete would restart them at 1).
   */
  async delete(path: string): Promise<void> {
    assertValidPath(path);
    const kp = this.kvPath(path);
    const md = await this.kv.metadata(kp);
    if (!md || liveIds(md, (await this.readRecord(path, md)).record).length === 0) return;
    await this.updateRecord(path, (r, _live, latest) => ({
      ...r,
      stages: {},
      meta: {},
      idempotency: {},
      deletedThrough: latest.current_version,
    }));
    const alive = versionIds(md).filter((id) => !md.versions[id]?.destroyed);
    if (alive.length > 0) await this.kv.destroy(kp, alive.map(Number));
  }

  async wrap(value: string, ttlMs: number): Promise<string> {
    if (!(ttlMs > 0)) throw new UsageError('INVALID_TTL', 'A wrap TTL must be positive.');
    try {
      const res = await this.http.call({
        method: 'POST',
        path: WRAP_PATH,
        body: { value },
        wrapTtlSeconds: Math.max(1, Math.ceil(ttlMs / 1000)),
      });
      const token = res.wrap_info?.token;
      if (!token)
        throw new ProviderError('VAULT_NOT_WRAPPED', 'Vault did not wrap the value.', {
          hint: 'Check the Vault version and any min/max_wrapping_ttl policy on sys/wrapping/wrap.',
        });
      return token;
    } catch (err) {
      throw await mapVaultError(err, this.http, 'wrap', WRAP_PATH);
    }
  }

  /**
   * Vault's validation recipe (concepts/response-wrapping): look the token up first, require the exact creation_path
   * keyctl wraps through, and only then unwrap. A token created elsewhere is refused without being consumed.
   */
  async unwrap(token: string): Promise<string> {
    return unwrapChecked(this.http, token, WRAP_PATH, (data) => (typeof data?.value === 'string' ? data.value : null));
  }

  /**
   * Keeps this store's token alive for a long-running process (the daemon): renews at 2/3 of its TTL on an unref'd
   * timer until close(). `onError` hears when renewal stops working, so the daemon can alert before the token dies.
   */
  async startTokenRenewal(options: RenewalOptions = {}): Promise<void> {
    this.stopRenewal?.();
    this.stopRenewal = await startTokenRenewal(this.http, options);
  }

  async close(): Promise<void> {
    this.stopRenewal?.();
    this.stopRenewal = undefined;
  }

  // ---------------------------------------------------------------------------------------------------------------

  private kvPath(path: string): string {
    return this.base ? `${this.base}/${path}` : path;
  }

  private recordPath(path: string): string {
    return this.kvPath(`_stages/${path}`);
  }

  /** The mount's settings, read once (null: this token may not read them). */
  private async mountSettings(): Promise<KvMountConfig | null> {
    this.mountConfig ??= this.kv.config().then(
      (c) => {
        assertUsableSettings(c, this.kv.mount);
        return c;
      },
      (err: unknown) => {
        this.mountConfig = undefined;
        throw err;
      },
    );
    return this.mountConfig;
  }

  /**
   * The path's stage record and its KV version (`rev`, the cas of the next change). A path written by a keyctl from
   * before stage records has none: its custom_metadata bookkeeping is read instead (rev 0, so the first change
   * creates the record). A KV key deleted and re-created behind keyctl's back no longer matches its record.
   */
  private async readRecord(path: string, md: KvMetadata | null): Promise<{ record: StageRecord; rev: number }> {
    const got = await this.kv.read(this.recordPath(path));
    if (!got) return { record: md ? fromLegacy(md.custom_metadata, path) : emptyRecord(), rev: 0 };
    if (!got.data)
      throw new ProviderError('STORE_CORRUPT', `The keyctl stage record of "${path}" was deleted in Vault.`, {
        hint: `Undelete its latest version (\`vault kv undelete -versions=${got.version} ${this.kv.mount}/${this.recordPath(path)}\`); keyctl changed nothing.`,
      });
    const record = parseRecord(got.data, path);
    if (md && record.kvCreated && md.created_time && record.kvCreated !== md.created_time) {
      throw new ProviderError(
        'VAULT_KEY_RECREATED',
        `The Vault key of "${path}" was deleted and re-created outside keyctl, so its version numbers started over.`,
        {
          hint: `keyctl will not guess which versions are which. Check the key, then remove the stale stage record (\`vault kv metadata delete ${this.kv.mount}/${this.recordPath(path)}\`) and re-import the key.`,
        },
      );
    }
    return { record, rev: got.version };
  }

  /**
   * Changes the stage record with check-and-set: reads it, applies `change` (which may throw, e.g. a stale `expect`),
   * writes it with cas = the version read, and starts over when another writer got there first, so `change` always
   * decides on the latest record. Then mirrors it into custom_metadata.
   */
  private async updateRecord(path: string, change: (r: StageRecord, live: Set<string>, md: KvMetadata) => StageRecord): Promise<void> {
    for (let attempt = 0; attempt < RECORD_ATTEMPTS; attempt++) {
      const md = await this.kv.metadata(this.kvPath(path));
      if (!md) throw new NotFoundError(`No secret at "${path}".`);
      const { record, rev } = await this.readRecord(path, md);
      const next = change(structuredClone(record), new Set(liveIds(md, record)), md);
      pruneRecord(next, new Set(versionIds(md)));
      if (!next.kvCreated && md.created_time) next.kvCreated = md.created_time;
      const written = await this.kv.write(this.recordPath(path), encodeRecord(next), rev);
      if (written === 'conflict') continue;
      await this.mirror(path, next, written);
      return;
    }
    throw new ConflictError(`Stage records of "${path}" kept changing under this write.`, {
      hint: 'Several keyctl processes are changing this secret at once. Re-run shortly.',
    });
  }

  /**
   * Mirrors the record (version `rev`) into custom_metadata for data-only readers. The metadata endpoint has no cas, so
   * a mirror older than what is there is skipped, and after writing, a newer record is mirrored in turn: a writer
   * that stalled cannot leave its older mirror in place as long as it runs to the end.
   */
  private async mirror(path: string, record: StageRecord, rev: number): Promise<void> {
    const kp = this.kvPath(path);
    for (let attempt = 0; attempt < RECORD_ATTEMPTS; attempt++) {
      const md = await this.kv.metadata(kp);
      if (!md) return;
      const there = Number(md.custom_metadata?.[MIRROR_REV_KEY] ?? 0);
      if (there > rev) return;
      await this.kv.writeCustomMetadata(kp, mirrorOf(record, rev, md.custom_metadata));
      const latest = await this.kv.read(this.recordPath(path));
      if (!latest?.data || latest.version <= rev) return;
      record = parseRecord(latest.data, path);
      rev = latest.version;
    }
  }

  /** A version written by this or an earlier (interrupted) call with the same idempotency key, with its secret. */
  private async findIdempotent(
    path: string,
    md: KvMetadata | null,
    record: StageRecord,
    key: string,
  ): Promise<{ id: string; secret: SecretFields } | null> {
    if (!md) return null;
    const recorded = record.idempotency[key];
    const candidates = recorded !== undefined ? [recorded] : liveIds(md, record).slice(-IDEMPOTENCY_SCAN).reverse();
    for (const id of candidates) {
      if (!isLive(id, md, record) || md.versions[id]?.destroyed) continue;
      const got = await this.kv.read(this.kvPath(path), Number(id));
      if (!got?.data) continue;
      const marker = parseMarker(got.data[VERSION_MARKER]);
      if (marker?.idempotencyKey === key) return { id, secret: toFields(got.data) };
    }
    return null;
  }

  private attachWritten(path: string, r: StageRecord, live: Set<string>, id: string, stage: Stage, input: WriteInput): StageRecord {
    if (!live.has(id)) throw new NotFoundError(`Version ${id} of "${path}" does not exist.`);
    // Another attempt with the same idempotency key already attached it: done.
    if (input.idempotencyKey !== undefined && r.idempotency[input.idempotencyKey] === id) return r;
    if (input.expect !== undefined && (r.stages[stage] ?? null) !== input.expect) throw staleStage(stage, path);
    r.meta[id] = { ...input.meta };
    attach(r, stage, id);
    if (input.idempotencyKey !== undefined) r.idempotency[input.idempotencyKey] = id;
    return r;
  }

  private info(md: KvMetadata, record: StageRecord, id: string): VersionInfo {
    const state = md.versions[id];
    return {
      id,
      stages: STAGES.filter((s) => record.stages[s] === id),
      createdAt: state ? new Date(state.created_time).toISOString() : new Date(0).toISOString(),
      destroyed: state?.destroyed === true,
      meta: { ...record.meta[id] },
    };
  }
}

/**
 * Unwraps `token` if and only if it was created at exactly `expectedPath`; returns what `pick` takes from the
 * unwrapped data. Shared by the store (values) and the delivery side (e.g. wrapped AppRole secret ids).
 * Unknown, used and expired tokens are all WRAP_INVALID; a token from another path is WRAP_ORIGIN_MISMATCH and is
 * left unconsumed (it may be evidence of tampering).
 */
export async function unwrapChecked<T>(
  http: VaultHttp,
  token: string,
  expectedPath: string,
  pick: (data: Record<string, unknown> | null | undefined) => T | null,
): Promise<T> {
  // Anything that cannot be a Vault token never reaches the wire (and never a header).
  if (typeof token !== 'string' || !/^[A-Za-z0-9._-]{8,512}$/.test(token)) throw invalidWrap();
  let creationPath: unknown;
  try {
    const res = await http.call<{ creation_path?: string }>({
      method: 'POST',
      path: 'sys/wrapping/lookup',
      body: { token },
      token: null,
      idempotent: true,
    });
    creationPath = res.data?.creation_path;
  } catch (err) {
    if (err instanceof VaultApiError && (err.status === 400 || err.status === 404 || (err.status === 403 && !err.has('sealed'))))
      throw invalidWrap();
    throw await mapVaultError(err, http, 'wrap lookup', 'sys/wrapping/lookup');
  }
  if (creationPath !== expectedPath) {
    throw new ProviderError('WRAP_ORIGIN_MISMATCH', `This token was not created by ${expectedPath}; refusing to unwrap it.`, {
      hint: 'Someone may have substituted the token. Do not use it; report it, and ask for a new one.',
      details: { expected: expectedPath, actual: typeof creationPath === 'string' ? creationPath : null },
    });
  }
  let data: Record<string, unknown> | null | undefined;
  try {
    // The wrapping token as X-Vault-Token and an empty body: never both (that burns the token for nothing).
    const res = await http.call({ method: 'POST', path: 'sys/wrapping/unwrap', token });
    data = res.data;
  } catch (err) {
    if (err instanceof VaultApiError && (err.status === 400 || err.status === 403 || err.status === 404) && !err.has('sealed'))
      throw invalidWrap();
    throw await mapVaultError(err, http, 'unwrap', 'sys/wrapping/unwrap');
  }
  const value = pick(data);
  if (value === null) throw invalidWrap();
  return value;
}

/**
 * How a bot whose policy grants only `read` on its data paths (see providers/vault/policy.ts) reads a stage: its stage
 * record (`recordPath`, `<prefix>/_stages/<path>`) names the version, which it then reads. Without `recordPath` it
 * takes the version from the custom_metadata mirror returned with the latest version (`stage.<STAGE>`), which a
 * writer that crashed mid-mirror can leave one change behind. Paths are relative to the mount.
 */
export async function readStageWithDataAccess(
  kv: Kv,
  kvPath: string,
  stage: Stage = 'CURRENT',
  recordPath?: string,
): Promise<{ version: string; secret: SecretFields }> {
  let id: string | undefined;
  let latest: Awaited<ReturnType<Kv['read']>> = null;
  const record = recordPath === undefined ? null : await kv.read(recordPath);
  if (record?.data) {
    const parsed = parseRecord(record.data, kvPath);
    id = parsed.stages[stage];
  } else {
    latest = await kv.read(kvPath);
    id = latest?.custom_metadata?.[`stage.${stage}`];
  }
  if (id === undefined) throw new NotFoundError(`Stage ${stage} of "${kvPath}" points at no version.`);
  const got = latest && String(latest.version) === id ? latest : await kv.read(kvPath, Number(id));
  if (!got?.data) throw new NotFoundError(`Version ${id} of "${kvPath}" is not readable (deleted or destroyed).`);
  return { version: id, secret: toFields(got.data) };
}

/**
 * The number of versions Vault keeps: the larger of the key's and the mount's max_versions, or 10 when both are 0
 * (vault-plugin-secrets-kv path_data.go, KeyMetadata.AddVersion: `max(k.MaxVersions, configMaxVersions)`). A key
 * setting can raise the mount's, never lower it.
 */
export function effectiveMaxVersions(key: number, mount: number): number {
  return Math.max(key, mount) > 0 ? Math.max(key, mount) : VAULT_DEFAULT_MAX_VERSIONS;
}

/**
 * Refuses a mount whose settings would break keyctl: `delete_version_after` deletes every version that long after its
 * creation (the minimum non-zero of the mount's and the key's: delete_version_after.go, deletionTime), so CURRENT would
 * become unreadable that long after the last rotation, and a key cannot switch it off. cas_required is fine (keyctl
 * always sends cas). Unknown settings (the token may not read them) are let through.
 */
export function assertUsableSettings(config: KvMountConfig | null, mount: string): void {
  const after = config?.delete_version_after;
  if (after && !isOff(after)) {
    throw new ProviderError(
      'VAULT_DELETE_VERSION_AFTER',
      `The KV mount "${mount}/" deletes every version ${after} after it is written (delete_version_after).`,
      {
        hint: `A bot's CURRENT key would become unreadable that long after its last rotation. Turn it off for this mount (\`vault write ${mount}/config delete_version_after=0s\`), or give keyctl a mount of its own.`,
      },
    );
  }
}

/** Refuses a key with a delete_version_after of its own (set outside keyctl): its versions would expire too. */
function assertUsableKeySetting(md: KvMetadata, path: string): void {
  const after = md.delete_version_after;
  if (after && !isOff(after)) {
    throw new ProviderError(
      'VAULT_DELETE_VERSION_AFTER',
      `The Vault key of "${path}" deletes every version ${after} after it is written.`,
      {
        hint: 'Someone set delete_version_after on it: turn it off (`vault kv metadata put -delete-version-after=0s <path>`), then re-run.',
      },
    );
  }
}

/** A Go duration that is zero (or Vault's "never"). */
function isOff(duration: string): boolean {
  return /^(-1|0)(\.0+)?([a-zµ]+)?$/.test(duration) || /^(0[a-zµ]+)+$/.test(duration);
}

/** Versions keyctl sees: retained by Vault and newer than the path's last deletion. */
function liveIds(md: KvMetadata, record: StageRecord): string[] {
  return versionIds(md).filter((id) => Number(id) > record.deletedThrough);
}

function isLive(id: string, md: KvMetadata, record: StageRecord): boolean {
  return /^\d+$/.test(id) && md.versions[id] !== undefined && Number(id) > record.deletedThrough;
}

function parseMarker(value: unknown): { idempotencyKey?: string } | null {
  if (typeof value !== 'string') return null;
  try {
    const parsed = JSON.parse(value) as unknown;
    return typeof parsed === 'object' && parsed !== null ? (parsed as { idempotencyKey?: string }) : null;
  } catch {
    return null;
  }
}

function versionIds(md: KvMetadata): string[] {
  return Object.keys(md.versions)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b));
}

/** The secret fields of a data version: keyctl's own marker is not one of them. */
function toFields(data: Record<string, unknown>): SecretFields {
  return Object.fromEntries(
    Object.entries(data)
      .filter(([k]) => k !== VERSION_MARKER)
      .map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
  );
}

function sameSecret(a: SecretFields, b: SecretFields): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}
