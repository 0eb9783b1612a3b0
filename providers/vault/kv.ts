/**
 * Typed KV v2 operations (api-docs/secret/kv/kv-v2) over the facade. Paths here are relative to the mount; 404s become
 * `null`, a cas mismatch becomes `'conflict'`, every other failure a ProviderError from mapVaultError.
 */
import { ProviderError } from '@keyctl/client/errors';
import { mapVaultError } from './errors.js';
import { VaultApiError, type VaultHttp } from './http.js';

export interface KvVersionState {
  created_time: string;
  deletion_time: string;
  destroyed: boolean;
}

export interface KvMetadata {
  current_version: number;
  /** When the key was created (RFC 3339): changes if the key is deleted and re-created. */
  created_time?: string;
  /** The key's own delete_version_after ("0s": none). */
  delete_version_after?: string;
  /** Versions kept for this key; 0 means the mount's setting (Vault's default is 10). */
  max_versions: number;
  custom_metadata: Record<string, string> | null;
  versions: Record<string, KvVersionState>;
}

/** A KV v2 mount's settings (vault-plugin-secrets-kv path_config.go, pathConfigRead). */
export interface KvMountConfig {
  /** 0: Vault's default (10). */
  max_versions: number;
  cas_required: boolean;
  /** A Go duration ("0s": off). */
  delete_version_after: string;
}

export interface KvRead {
  version: number;
  /** null when the version was deleted or destroyed. */
  data: Record<string, unknown> | null;
  custom_metadata: Record<string, string> | null;
  /** The version's creation time, by the server's clock (RFC 3339 with up to nanoseconds). */
  created_time: string;
}

/** A written version and its creation time, by the server's clock. */
export interface KvWritten {
  version: number;
  created_time: string;
}

export class Kv {
  constructor(
    readonly http: VaultHttp,
    readonly mount: string,
  ) {}

  /** The full Vault path of `kind` (data, metadata, destroy) for `path`. */
  full(kind: 'data' | 'metadata' | 'destroy', path: string): string {
    return `${this.mount}/${kind}/${path}`;
  }

  /**
   * The mount's settings (`<mount>/config`: max_versions, cas_required, delete_version_after), or null when this
   * token may not read them (the settings are then unknown).
   */
  async config(): Promise<KvMountConfig | null> {
    const full = `${this.mount}/config`;
    try {
      const res = await this.http.call<Record<string, unknown>>({ method: 'GET', path: full });
      const d = res.data;
      // path_config.go, pathConfigRead: all three, always. Anything else is not a KV v2 mount keyctl understands.
      if (
        !d ||
        typeof d.max_versions !== 'number' ||
        !Number.isSafeInteger(d.max_versions) ||
        d.max_versions < 0 ||
        typeof d.cas_required !== 'boolean' ||
        typeof d.delete_version_after !== 'string'
      ) {
        throw new ProviderError('VAULT_BAD_RESPONSE', `Vault answered ${full} without the documented settings.`, {
          hint: 'Check that store.mount is a KV version 2 mount; keyctl changed nothing.',
        });
      }
      return { max_versions: d.max_versions, cas_required: d.cas_required, delete_version_after: d.delete_version_after };
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      // Not allowed to read them (a policy without `<mount>/config`): unknown. keyctl then assumes the mount keeps
      // the default 10 versions (it refuses writes earlier, never later) and cannot check delete_version_after.
      if (err instanceof VaultApiError && err.status === 403 && !err.has('invalid token')) return null;
      throw await mapVaultError(err, this.http, 'read', full);
    }
  }

  async metadata(path: string): Promise<KvMetadata | null> {
    const full = this.full('metadata', path);
    try {
      const res = await this.http.call<KvMetadata>({ method: 'GET', path: full });
      return res.data ?? null;
    } catch (err) {
      if (err instanceof VaultApiError && err.status === 404 && !err.has('no handler for route')) return null;
      throw await mapVaultError(err, this.http, 'read', full);
    }
  }

  /** Reads one version (the latest when `version` is omitted). Null when the path or version does not exist. */
  async read(path: string, version?: number): Promise<KvRead | null> {
    const full = this.full('data', path);
    type Body = {
      data: Record<string, unknown> | null;
      metadata: { version: number; custom_metadata: Record<string, string> | null; created_time: string };
    };
    try {
      const res = await this.http.call<Body>({ method: 'GET', path: version === undefined ? full : `${full}?version=${version}` });
      if (!res.data) return null;
      const md = res.data.metadata;
      return { version: md.version, data: res.data.data, custom_metadata: md.custom_metadata, created_time: md.created_time };
    } catch (err) {
      if (err instanceof VaultApiError && err.status === 404 && !err.has('no handler for route')) {
        // A deleted or destroyed version answers 404 with its metadata in the body.
        const meta = (err.body?.data as Body | undefined)?.metadata;
        return meta ? { version: meta.version, data: null, custom_metadata: meta.custom_metadata, created_time: meta.created_time } : null;
      }
      throw await mapVaultError(err, this.http, 'read', full);
    }
  }

  /** Writes a new version, succeeding only if the current version is `cas` (0: only if the path is new). */
  async write(path: string, data: Record<string, string>, cas: number): Promise<number | 'conflict'> {
    const written = await this.writeStamped(path, data, cas);
    return written === 'conflict' ? written : written.version;
  }

  /**
   * As write(), also returning the new version's `created_time`: the server's clock at the write (the KV v2 write
   * response carries it, see vault/builtin/logical/kv path_data.go upstream, `pathDataWrite`).
   */
  async writeStamped(path: string, data: Record<string, string>, cas: number): Promise<KvWritten | 'conflict'> {
    const full = this.full('data', path);
    try {
      const res = await this.http.call<KvWritten>({ method: 'POST', path: full, body: { options: { cas }, data } });
      return { version: Number(res.data?.version), created_time: String(res.data?.created_time ?? '') };
    } catch (err) {
      if (err instanceof VaultApiError && err.status === 400 && err.has('check-and-set')) return 'conflict';
      throw await mapVaultError(err, this.http, 'write', full);
    }
  }

  /** Replaces the secret's custom_metadata as a whole (and sets the key's max_versions when given). */
  async writeCustomMetadata(path: string, custom: Record<string, string>, maxVersions?: number): Promise<void> {
    const full = this.full('metadata', path);
    try {
      await this.http.call({
        method: 'POST',
        path: full,
        body: { custom_metadata: custom, ...(maxVersions ? { max_versions: maxVersions } : {}) },
      });
    } catch (err) {
      throw await mapVaultError(err, this.http, 'write', full);
    }
  }

  async destroy(path: string, versions: number[]): Promise<void> {
    const full = this.full('destroy', path);
    try {
      await this.http.call({ method: 'POST', path: full, body: { versions } });
    } catch (err) {
      throw await mapVaultError(err, this.http, 'destroy', full);
    }
  }

  /** Removes the path with all its versions and metadata. Missing paths are fine. */
  async deleteAll(path: string): Promise<void> {
    const full = this.full('metadata', path);
    try {
      await this.http.call({ method: 'DELETE', path: full });
    } catch (err) {
      if (err instanceof VaultApiError && err.status === 404 && !err.has('no handler for route')) return;
      throw await mapVaultError(err, this.http, 'delete', full);
    }
  }

  /** Immediate children of `dir` (no trailing slash; '' for the mount root); folders end with '/'. */
  async list(dir: string): Promise<string[]> {
    const full = this.full('metadata', dir);
    try {
      const res = await this.http.call<{ keys: string[] }>({ method: 'LIST', path: full });
      return res.data?.keys ?? [];
    } catch (err) {
      if (err instanceof VaultApiError && err.status === 404 && !err.has('no handler for route')) return [];
      throw await mapVaultError(err, this.http, 'list', full);
    }
  }
}
