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
import { ConflictError, NotFoundError, ProviderError, UsageError } from '../../src/errors.js';
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
import { login, lookupSelf, startTokenRenewal, type RenewalOptions } from './auth.js';
import { mapVaultError } from './errors.js';
import { VaultApiError, VaultHttp } from './http.js';
import { Kv, type KvMetadata } from './kv.js';
import { KvLeases, type KvLease } from './leases.js';
import { VaultCoordination } from './coordination.js';
import type { CoordinationStore } from '../coordination.js';
import { attach, decodeSlot, encodeSlot, type SlotMetadata } from './stages.js';

/** Where keyctl wraps values; unwrap accepts only tokens created here (exact creation_path match). */
export const WRAP_PATH = 'sys/wrapping/wrap';

const MUTEX_TTL_MS = 10_000;
/** Vault's default max_versions (mount setting 0). */
const VAULT_DEFAULT_MAX_VERSIONS = 10;
/** max_versions keyctl sets on keys it creates: room for a long rotation history, within custom_metadata's 64 keys. */
const KEYCTL_MAX_VERSIONS = 20;
/** Real time a writer waits for another's mutex; longer than its TTL so a crashed holder's mutex is taken over. */
const MUTEX_WAIT_MS = 12_000;

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
  const env = context.env ?? process.env;
  const address = config.address ?? env.VAULT_ADDR;
  if (!address) {
    throw new ProviderError('VAULT_ADDR_MISSING', 'No Vault address: set store.address in the config or VAULT_ADDR.', {
      hint: 'For a local dev server: VAULT_ADDR=http://127.0.0.1:8200.',
    });
  }
  const namespace = config.namespace ?? env.VAULT_NAMESPACE;
  const http = await VaultHttp.create({ address, ...(namespace ? { namespace } : {}) });
  await login(http, config.auth, env);
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
  private readonly leases: KvLeases;
  private readonly base: string;
  private stopRenewal: (() => void) | undefined;

  constructor(
    private readonly config: VaultStoreConfig,
    connection: VaultConnection,
    private readonly now: () => number = Date.now,
  ) {
    this.http = connection.http;
    this.kv = connection.kv;
    this.leases = new KvLeases(this.kv, now);
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
  }

  async describe(path: string): Promise<SecretInfo | null> {
    assertValidPath(path);
    const md = await this.kv.metadata(this.kvPath(path));
    if (!md) return null;
    const slot = decodeSlot(md.custom_metadata, path);
    return { path, versions: versionIds(md).map((id) => this.info(md, slot, id)), stages: { ...slot.stages } };
  }

  async read(path: string, selector: VersionSelector): Promise<SecretVersion> {
    assertValidPath(path);
    const md = await this.kv.metadata(this.kvPath(path));
    if (!md) throw new NotFoundError(`No secret at "${path}".`);
    const slot = decodeSlot(md.custom_metadata, path);
    const id = 'stage' in selector ? slot.stages[selector.stage] : selector.version;
    if (id === undefined) throw new NotFoundError(`Stage ${'stage' in selector ? selector.stage : ''} of "${path}" points at no version.`);
    const state = /^\d+$/.test(id) ? md.versions[id] : undefined;
    if (!state) throw new NotFoundError(`Version ${id} of "${path}" does not exist.`);
    if (state.destroyed) throw new ProviderError('DESTROYED', `Version ${id} of "${path}" was destroyed; only its metadata remains.`);
    const got = await this.kv.read(this.kvPath(path), Number(id));
    if (!got?.data)
      throw new NotFoundError(`Version ${id} of "${path}" was deleted in Vault.`, {
        hint: 'Undelete it with `vault kv undelete`, or write a new version.',
      });
    return { path, version: this.info(md, slot, id), secret: toFields(got.data) };
  }

  async write(path: string, input: WriteInput): Promise<WriteResult> {
    assertValidPath(path);
    const stage = input.stage ?? 'PENDING';
    if (!STAGES.includes(stage)) throw new UsageError('INVALID_STAGE', `Unknown stage "${String(stage)}".`);
    assertValidIdempotencyKey(input.idempotencyKey);
    const kp = this.kvPath(path);
    return this.withMutex(path, async () => {
      const md = await this.kv.metadata(kp);
      const slot = decodeSlot(md?.custom_metadata, path);
      if (input.idempotencyKey !== undefined) {
        const seen = slot.idempotency[input.idempotencyKey];
        if (seen !== undefined && md?.versions[seen]) {
          const prior = md.versions[seen]!.destroyed ? null : await this.kv.read(kp, Number(seen));
          if (!prior?.data || !sameSecret(toFields(prior.data), input.secret)) {
            throw new ConflictError(`Idempotency key already used for a different value at "${path}".`);
          }
          return { version: seen };
        }
      }
      if (input.expect !== undefined && (slot.stages[stage] ?? null) !== input.expect) throw staleStage(stage, path);
      // Past max_versions Vault silently drops the oldest version: never let that be one a stage points at.
      const ids = md ? versionIds(md) : [];
      const max = md?.max_versions || VAULT_DEFAULT_MAX_VERSIONS;
      const oldest = ids[0];
      if (ids.length >= max && oldest !== undefined && STAGES.some((s) => slot.stages[s] === oldest)) {
        throw new ProviderError(
          'VAULT_VERSION_LIMIT',
          `Writing to "${path}" would make Vault drop version ${oldest}, which a stage still points at.`,
          {
            hint: `Vault keeps ${max} versions of this key. Promote or detach the stages first, or raise max_versions (\`vault kv metadata put -max-versions=N\`).`,
          },
        );
      }
      // cas = the version we just read: a writer that bypassed the mutex (or outlived it) cannot be overwritten.
      const written = await this.kv.write(kp, { ...input.secret }, md?.current_version ?? 0);
      if (written === 'conflict') throw staleStage(stage, path);
      const id = String(written);
      slot.meta[id] = { ...input.meta };
      attach(slot, stage, id);
      if (input.idempotencyKey !== undefined) slot.idempotency[input.idempotencyKey] = id;
      let retained = new Set([...ids, id]);
      // At the limit Vault may have dropped the oldest version (depending on the mount's setting): ask what it kept.
      if (ids.length >= max) {
        const after = await this.kv.metadata(kp);
        if (after) retained = new Set(versionIds(after));
      }
      // Pin a per-key max_versions on keys that have none, so the limit above is the one Vault applies.
      await this.kv.writeCustomMetadata(kp, encodeSlot(slot, retained), md?.max_versions ? undefined : KEYCTL_MAX_VERSIONS);
      return { version: id };
    });
  }

  async moveStage(path: string, input: MoveStageInput): Promise<void> {
    assertValidPath(path);
    if (!STAGES.includes(input.stage)) throw new UsageError('INVALID_STAGE', `Unknown stage "${String(input.stage)}".`);
    const kp = this.kvPath(path);
    await this.withMutex(path, async () => {
      const md = await this.kv.metadata(kp);
      if (!md) throw new NotFoundError(`No secret at "${path}".`);
      const slot = decodeSlot(md.custom_metadata, path);
      if ((slot.stages[input.stage] ?? null) !== input.expect) throw staleStage(input.stage, path);
      if (input.to === null) delete slot.stages[input.stage];
      else {
        if (!/^\d+$/.test(input.to) || !md.versions[input.to]) throw new NotFoundError(`Version ${input.to} of "${path}" does not exist.`);
        attach(slot, input.stage, input.to);
      }
      await this.kv.writeCustomMetadata(kp, encodeSlot(slot, new Set(versionIds(md))));
    });
  }

  async list(prefix: string): Promise<string[]> {
    const full = this.base ? `${this.base}/${prefix}` : prefix;
    const dir = full.includes('/') ? full.slice(0, full.lastIndexOf('/')) : '';
    const found: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const key of await this.kv.list(d)) {
        if (key.startsWith('_')) continue; // internal: mutexes, locks
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
    return found.sort();
  }

  async destroy(path: string, version: string): Promise<void> {
    assertValidPath(path);
    const kp = this.kvPath(path);
    await this.withMutex(path, async () => {
      const md = await this.kv.metadata(kp);
      if (!md) throw new NotFoundError(`No secret at "${path}".`);
      const state = /^\d+$/.test(version) ? md.versions[version] : undefined;
      if (!state) throw new NotFoundError(`Version ${version} of "${path}" does not exist.`);
      const slot = decodeSlot(md.custom_metadata, path);
      const holding = STAGES.filter((s) => slot.stages[s] === version);
      if (holding.length > 0)
        throw new ConflictError(`Version ${version} of "${path}" is still ${holding.join(' and ')}; move the stage first.`);
      if (state.destroyed) return;
      await this.kv.destroy(kp, [Number(version)]);
    });
  }

  async delete(path: string): Promise<void> {
    assertValidPath(path);
    await this.kv.deleteAll(this.kvPath(path));
    await this.kv.deleteAll(this.mutexPath(path)).catch(() => undefined);
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

  private mutexPath(path: string): string {
    return this.kvPath(`_mutex/${path}`);
  }

  /** Runs `fn` holding the path's mutex, waiting (with jittered backoff) while another writer holds it. */
  private async withMutex<T>(path: string, fn: () => Promise<T>): Promise<T> {
    const mp = this.mutexPath(path);
    const deadline = performance.now() + MUTEX_WAIT_MS;
    let delay = 5;
    let lease: KvLease | undefined;
    while (!lease) {
      try {
        lease = await this.leases.acquire(mp, `update of ${path}`, 'keyctl', MUTEX_TTL_MS);
      } catch (err) {
        if (!(err instanceof ProviderError) || err.code !== 'LOCKED') throw err;
        if (performance.now() > deadline) {
          throw new ConflictError(`Another process kept "${path}" busy for ${MUTEX_WAIT_MS / 1000} s.`, {
            hint: 'Re-run shortly; if it persists, check for a stuck keyctl process.',
          });
        }
        await sleep(delay + Math.random() * delay);
        delay = Math.min(delay * 2, 200);
      }
    }
    try {
      return await fn();
    } finally {
      // A failed release only delays the next writer until the mutex expires; never hide fn's own outcome.
      await this.leases.release(mp, lease).catch(() => undefined);
    }
  }

  private info(md: KvMetadata, slot: SlotMetadata, id: string): VersionInfo {
    const state = md.versions[id];
    return {
      id,
      stages: STAGES.filter((s) => slot.stages[s] === id),
      createdAt: state ? new Date(state.created_time).toISOString() : new Date(0).toISOString(),
      destroyed: state?.destroyed === true,
      meta: { ...slot.meta[id] },
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
    const res = await http.call<{ creation_path?: string }>({ method: 'POST', path: 'sys/wrapping/lookup', body: { token }, token: null });
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
 * How a bot whose policy grants only `read` on its data paths (see providers/vault/policy.ts) reads a stage: the
 * latest version's response carries custom_metadata, whose `stage.<STAGE>` names the version to read next.
 * `kvPath` is relative to the mount (`<prefix>/bots/<bot>/<sub>`).
 */
export async function readStageWithDataAccess(
  kv: Kv,
  kvPath: string,
  stage: Stage = 'CURRENT',
): Promise<{ version: string; secret: SecretFields }> {
  const latest = await kv.read(kvPath);
  const id = latest?.custom_metadata?.[`stage.${stage}`];
  if (!latest || id === undefined) throw new NotFoundError(`Stage ${stage} of "${kvPath}" points at no version.`);
  const got = String(latest.version) === id ? latest : await kv.read(kvPath, Number(id));
  if (!got?.data) throw new NotFoundError(`Version ${id} of "${kvPath}" is not readable (deleted or destroyed).`);
  return { version: id, secret: toFields(got.data) };
}

function versionIds(md: KvMetadata): string[] {
  return Object.keys(md.versions)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b));
}

function toFields(data: Record<string, unknown>): SecretFields {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
}

function sameSecret(a: SecretFields, b: SecretFields): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
