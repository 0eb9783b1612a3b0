/**
 * The SecretStore contract on AWS Secrets Manager. One AWS secret per path; keyctl's stages are AWS's own staging
 * labels; every stage change is an UpdateSecretVersionStage guarded by RemoveFromVersionId, the server-side
 * compare-and-set AWS's own rotation relies on. docs/aws.md explains the mapping and every emulation.
 *
 * Split by concern like providers/vault/: the shared AWS calls (client.ts), the guarded label moves (labels.ts), slot
 * versions and their stages (versions.ts), wrapping (wraps.ts). Leases are not part of the SecretStore: they belong to
 * the coordination store (leases.ts, coordination.ts).
 *
 * The SDK is not imported here (types only): the store talks to the narrow SecretsManagerApi, which
 * providers/aws/index.ts builds from the lazily imported SDK.
 */
import { randomUUID } from 'node:crypto';
import type * as SM from '@aws-sdk/client-secrets-manager';
import { ConflictError, NotFoundError, ProviderError, UsageError } from '@keyctl/client/errors';
import { assertValidIdempotencyKey, assertValidPath } from '../document-store.js';
import {
  STAGES,
  type Capabilities,
  type MoveStageInput,
  type SecretInfo,
  type SecretStore,
  type SecretVersion,
  type Stage,
  type VersionInfo,
  type VersionSelector,
  type WriteInput,
  type WriteResult,
} from '../types.js';
import type { SecretsManagerApi } from './api.js';
import { AwsClient, type AwsStoreOptions, type GetOut, type Ref } from './client.js';
import { PARTIAL_ARN_SUFFIX } from '../../src/domain/aws-names.js';
import { ensureTable, type DynamoApi } from './table.js';
import { VersionIndex } from './version-index.js';
import { DynamoCoordination } from './dynamo-coordination.js';
import { migrateLegacyRecords } from './migrate.js';
import { assertStorableSecret, decode, digestSecret, encode } from './envelope.js';
import { awsErrorName } from './errors.js';
import { VERSION_ID, conflict, unstage } from './labels.js';
import { GENESIS_VERSION, LABEL, holdersOf, stagePointers, stagesOf, type VersionIdsToStages } from './stages.js';
import { attach, detach, putVersion, versionExists } from './versions.js';
import { AwsWraps } from './wraps.js';
import { mapLimit } from '../map-limit.js';

export type { AwsStoreOptions } from './client.js';

/** Destroyed marks of stores written before the version index: still honoured, moved to the index on the next destroy. */
const TAG_DESTROYED = 'keyctl:destroyed:';

export class AwsSecretsManagerStore implements SecretStore {
  readonly id = 'aws';
  readonly capabilities: Capabilities = {
    versions: 'native',
    stages: 'native',
    cas: 'native',
    wrapping: 'emulated',
    destroy: 'emulated',
    durable: true,
  };
  private readonly c: AwsClient;
  private readonly wraps: AwsWraps;
  private readonly index: VersionIndex;

  /**
   * `dynamo` is the provider's table (table.ts), where the version index lives; each secret is created on its first
   * write, the table by `init`.
   */
  constructor(
    api: SecretsManagerApi,
    options: AwsStoreOptions,
    private readonly dynamo: DynamoApi,
  ) {
    this.c = new AwsClient(api, options);
    this.wraps = new AwsWraps(this.c);
    this.index = new VersionIndex(dynamo, {
      table: this.c.table,
      prefix: options.prefix,
      region: options.region,
      now: this.c.now,
      ...(options.retry ? { retry: options.retry } : {}),
    });
  }

  // ---- lifecycle ----

  /**
   * Creates the DynamoDB table (coordination and the version index) when it does not exist yet, and moves the
   * coordination records of a store from before the table into it (migrate.ts).
   */
  async init(): Promise<{ created: boolean }> {
    const retry = this.c.options.retry ? { retry: this.c.options.retry } : {};
    const result = await ensureTable(this.dynamo, { table: this.c.table, region: this.c.options.region, ...retry });
    const coordination = new DynamoCoordination(this.dynamo, {
      table: this.c.table,
      prefix: this.c.options.prefix,
      region: this.c.options.region,
      now: this.c.now,
      ...retry,
    });
    await migrateLegacyRecords(this, coordination);
    return result;
  }

  async health(): Promise<void> {
    await this.c.guard(undefined, () =>
      this.c.aws('ListSecrets', () => this.c.api.listSecrets({ MaxResults: 1, ...this.c.nameFilter(this.c.options.prefix) })),
    );
    await this.index.get('keyctl/health');
  }

  async close(): Promise<void> {
    this.c.api.destroy();
    this.dynamo.destroy();
  }

  // ---- slots ----

  async describe(path: string): Promise<SecretInfo | null> {
    assertValidPath(path);
    const ref = this.ref(path);
    return this.c.guard(ref.name, async () => {
      const info = await this.c.describeRaw(ref.name);
      if (!info) return null;
      const [versions, index] = await Promise.all([this.c.listVersions(ref.name), this.index.get(path)]);
      const destroyed = new Set([...index.destroyed, ...this.destroyedIds(info.Tags)]);
      const rows = await mapLimit(
        versions.filter((v) => v.VersionId && v.VersionId !== GENESIS_VERSION),
        8,
        async (v) => {
          const id = v.VersionId!;
          const indexed = index.entries.get(id);
          if (indexed && v.CreatedDate instanceof Date) {
            // The index has its metadata: no GetSecretValue (a decrypt) for a listing.
            const info: VersionInfo = {
              id,
              stages: stagesOf(id, v.VersionStages),
              createdAt: v.CreatedDate.toISOString(),
              destroyed: destroyed.has(id),
              meta: { ...indexed.meta },
            };
            return { created: v.CreatedDate.getTime(), at: indexed.at, info };
          }
          // Written before the index existed (or its entry is missing): the metadata is in the SecretString;
          // secret fields are dropped here.
          const got = await this.c.getVersion(ref.name, { versionId: id });
          if (!got) return null; // pruned by AWS between the listing and this read
          const env = decode(got.SecretString);
          const at = env?.kind === 'version' ? env.at : 0;
          const created = got.CreatedDate instanceof Date ? got.CreatedDate.getTime() : Number.NaN;
          const info: VersionInfo = {
            id,
            stages: stagesOf(id, v.VersionStages),
            createdAt: new Date(Number.isFinite(created) ? created : at).toISOString(),
            destroyed: destroyed.has(id),
            meta: env?.kind === 'version' ? { ...env.meta } : {},
          };
          return { created: Number.isFinite(created) ? created : at, at, info };
        },
      );
      // AWS's creation time first; within one timestamp (moto has second granularity) keyctl's own write time.
      const ordered = rows.filter((r) => r !== null).sort((a, b) => a.created - b.created || a.at - b.at);
      const map: VersionIdsToStages = Object.fromEntries(versions.map((v) => [v.VersionId!, v.VersionStages]));
      return { path, versions: ordered.map((r) => r.info), stages: stagePointers(map) };
    });
  }

  async read(path: string, selector: VersionSelector): Promise<SecretVersion> {
    assertValidPath(path);
    const ref = this.ref(path);
    const what =
      'stage' in selector
        ? `Stage ${selector.stage} of "${path}" points at no version.`
        : `Version ${selector.version} of "${path}" does not exist.`;
    return this.c.guard(ref.name, async () => {
      if ('stage' in selector && !STAGES.includes(selector.stage))
        throw new UsageError('INVALID_STAGE', `Unknown stage "${String(selector.stage)}".`);
      const validId = 'stage' in selector || (VERSION_ID.test(selector.version) && selector.version !== GENESIS_VERSION);
      const [got, info] = await Promise.allSettled([
        validId
          ? this.c.getVersion(ref.name, 'stage' in selector ? { stage: selector.stage } : { versionId: selector.version })
          : Promise.resolve(null),
        this.c.describeRaw(ref.name),
      ]);
      if (info.status === 'rejected') throw info.reason;
      if (!info.value) throw new NotFoundError(`No secret at "${path}".`);
      if (got.status === 'rejected') throw got.reason;
      const value = got.value;
      if (!value?.VersionId || value.VersionId === GENESIS_VERSION) throw new NotFoundError(what);
      const env = decode(value.SecretString);
      if (env?.kind !== 'version') throw this.c.foreign(ref);
      const id = value.VersionId;
      if (this.destroyedIds(info.value.Tags).has(id) || (await this.index.get(path)).destroyed.has(id)) {
        throw new ProviderError('DESTROYED', `Version ${id} of "${path}" was destroyed; only its metadata remains.`);
      }
      const created = value.CreatedDate instanceof Date ? value.CreatedDate.getTime() : env.at;
      return {
        path,
        version: {
          id,
          stages: stagesOf(id, value.VersionStages),
          createdAt: new Date(created).toISOString(),
          destroyed: false,
          meta: { ...env.meta },
        },
        secret: { ...env.secret },
      };
    });
  }

  async write(path: string, input: WriteInput): Promise<WriteResult> {
    assertValidPath(path);
    const stage = input.stage ?? 'PENDING';
    if (!STAGES.includes(stage)) throw new UsageError('INVALID_STAGE', `Unknown stage "${String(stage)}".`);
    const key = input.idempotencyKey;
    assertValidIdempotencyKey(key);
    assertStorableSecret(input.secret);
    const ref = this.ref(path);
    return this.c.guard(ref.name, async () => {
      if (key !== undefined) {
        const seen = await this.c.getVersion(ref.name, { versionId: key });
        if (seen) return this.resumeIdempotent(ref, seen, input, stage);
      }
      const existing = await this.c.describeRaw(ref.name);
      if (existing) this.assertKmsKey(ref, existing.KmsKeyId);
      const version = key ?? randomUUID();
      // `at` orders versions created within one AWS timestamp; sub-millisecond so one process never ties.
      const at = performance.timeOrigin + performance.now();
      const body = encode({ kind: 'version', at, meta: { ...input.meta }, secret: { ...input.secret } });
      // The index entry first: a version never exists without it (a crash here leaves an entry without a version,
      // which describe ignores and prune removes).
      await this.index.record(path, version, { meta: { ...input.meta }, at });
      try {
        await putVersion(this.c, ref, version, body);
      } catch (err) {
        // The same key raced in from a concurrent retry: treat it like a repeat.
        if (key !== undefined && awsErrorName(err) === 'ResourceExistsException') {
          const seen = await this.c.getVersion(ref.name, { versionId: key });
          if (seen) return this.resumeIdempotent(ref, seen, input, stage);
        }
        throw err;
      }
      try {
        await attach(this.c, ref, stage, version, input.expect);
      } finally {
        await unstage(this.c, ref.name, version);
      }
      return { version };
    });
  }

  async moveStage(path: string, input: MoveStageInput): Promise<void> {
    assertValidPath(path);
    if (!STAGES.includes(input.stage)) throw new UsageError('INVALID_STAGE', `Unknown stage "${String(input.stage)}".`);
    const ref = this.ref(path);
    await this.c.guard(ref.name, async () => {
      const info = await this.c.describeRaw(ref.name);
      if (!info) throw new NotFoundError(`No secret at "${path}".`);
      const map: VersionIdsToStages = info.VersionIdsToStages ?? {};
      const label = LABEL[input.stage];
      const holders = holdersOf(map, label);
      if (input.to === null) return detach(this.c, ref, input.stage, input.expect, map);
      if (!(await versionExists(this.c, ref.name, input.to, map)))
        throw new NotFoundError(`Version ${input.to} of "${path}" does not exist.`);
      if (holders.includes(input.to)) {
        // Already there: a no-op when the guard agrees, a conflict otherwise.
        if (holders.length === 1 && input.expect === input.to) return;
        throw conflict(ref, input.stage);
      }
      await attach(this.c, ref, input.stage, input.to, input.expect);
    });
  }

  async list(prefix: string): Promise<string[]> {
    const full = `${this.c.options.prefix}${prefix}`;
    return this.c.guard(undefined, async () => {
      const names = (await this.c.listSecrets(full)).map((s) => s.Name!);
      return (
        names
          .map((n) => n.slice(this.c.options.prefix.length))
          // Internal secrets (`_wrap/`; `_lock/` of stores from before the table) start with "_", which no keyctl path can.
          .filter((p) => !p.startsWith('_'))
          .sort()
      );
    });
  }

  async destroy(path: string, version: string): Promise<void> {
    assertValidPath(path);
    const ref = this.ref(path);
    await this.c.guard(ref.name, async () => {
      const info = await this.c.describeRaw(ref.name);
      if (!info) throw new NotFoundError(`No secret at "${path}".`);
      const map: VersionIdsToStages = info.VersionIdsToStages ?? {};
      const all = await this.c.listVersions(ref.name);
      if (version === GENESIS_VERSION || !all.some((v) => v.VersionId === version)) {
        throw new NotFoundError(`Version ${version} of "${path}" does not exist.`);
      }
      const holding = stagesOf(version, map[version]);
      if (holding.length > 0) {
        throw new ConflictError(`Version ${version} of "${path}" is still ${holding.join(' and ')}; move the stage first.`);
      }
      // AWS cannot erase one version's material: keyctl marks it destroyed in the index (reads refuse it) and AWS
      // prunes the unlabelled version itself later. docs/aws.md says so plainly. Marks of a store from before the
      // index (tags) move to the index here, so the secret's tags never grow with rotations.
      const tagged = this.destroyedIds(info.Tags);
      await this.index.markDestroyed(path, [version, ...tagged]);
      if (tagged.size > 0) {
        const keys = [...tagged].map((id) => `${TAG_DESTROYED}${id}`);
        await this.c.aws('UntagResource', () => this.c.api.untagResource({ SecretId: ref.name, TagKeys: keys }));
      }
      // Forget versions AWS has already pruned, so the index stays as small as what AWS retains.
      const present = new Set(all.flatMap((v) => (v.VersionId ? [v.VersionId] : [])));
      await this.index.prune(path, await this.index.get(path), present);
    });
  }

  async delete(path: string): Promise<void> {
    assertValidPath(path);
    const ref = this.ref(path);
    await this.c.guard(ref.name, async () => {
      await this.c.forceDelete(ref.name);
      await this.index.drop(path);
    });
  }

  private async resumeIdempotent(ref: Ref, seen: GetOut, input: WriteInput, stage: Stage): Promise<WriteResult> {
    const env = decode(seen.SecretString);
    if (env?.kind !== 'version' || digestSecret(env.secret) !== digestSecret(input.secret)) {
      throw new ConflictError(`Idempotency key already used for a different value at "${ref.path}".`);
    }
    const id = seen.VersionId!;
    // Attached by the first call (the stage may have moved on since): done. Never attached (the first call stopped
    // between its put and its stage move): finish the attach now, under the same guard.
    if (stagesOf(id, seen.VersionStages).length > 0) return { version: id };
    try {
      await attach(this.c, ref, stage, id, input.expect);
    } finally {
      await unstage(this.c, ref.name, id);
    }
    return { version: id };
  }

  // ---- wrapping (providers/aws/wraps.ts) ----

  wrap(value: string, ttlMs: number): Promise<string> {
    return this.wraps.wrap(value, ttlMs);
  }

  unwrap(token: string): Promise<string> {
    return this.wraps.unwrap(token);
  }

  // ---- helpers ----

  private ref(path: string): Ref {
    const name = `${this.c.options.prefix}${path}`;
    if (PARTIAL_ARN_SUFFIX.test(name)) {
      throw new UsageError(
        'AWS_AMBIGUOUS_NAME',
        `The AWS secret name "${name}" ends in "-" and six characters, which AWS may read as a partial ARN of another secret.`,
        {
          hint: 'Rename the bot, slot or account in keyctl.yaml so its name does not end in a hyphen followed by six letters or digits (keyctl validate checks this).',
        },
      );
    }
    return { name, path };
  }

  /**
   * A secret encrypted under another KMS key than the config names: refused, not silently left on the old key (AWS
   * encrypts new versions with the secret's own key, never the caller's). DescribeSecret reports the key as given
   * at creation (ARN, alias ARN or id) and omits it for the AWS managed key; forms that cannot be compared without
   * asking KMS (an alias against a key id) are let through.
   */
  private assertKmsKey(ref: Ref, actual: string | undefined): void {
    const wanted = this.c.options.kmsKeyId;
    if (kmsKeysDiffer(wanted, actual)) {
      throw new ProviderError(
        'AWS_KMS_KEY_CHANGED',
        `The AWS secret "${ref.name}" is encrypted with ${actual ? `KMS key ${actual}` : 'the AWS managed key'}, but keyctl.yaml says ${wanted ? `kmsKeyId ${wanted}` : 'no kmsKeyId'}.`,
        {
          hint: `Either set store.kmsKeyId back, or re-key the secret: aws secretsmanager update-secret --secret-id ${ref.name} --kms-key-id ${wanted ?? 'alias/aws/secretsmanager'} (the principal needs kms:Decrypt on the old key and kms:GenerateDataKey on the new one), then re-run.`,
        },
      );
    }
  }

  private destroyedIds(tags: SM.Tag[] | undefined): Set<string> {
    return new Set((tags ?? []).filter((t) => t.Key?.startsWith(TAG_DESTROYED)).map((t) => t.Key!.slice(TAG_DESTROYED.length)));
  }
}

/** Whether two KMS key references certainly name different keys (see assertKmsKey). */
export function kmsKeysDiffer(wanted: string | undefined, actual: string | undefined): boolean {
  const managed = (k: string | undefined) => k === undefined || /(^|:)alias\/aws\/secretsmanager$/.test(k);
  if (managed(wanted) || managed(actual)) return managed(wanted) !== managed(actual);
  const tail = (k: string) => k.replace(/^arn:[^:]+:kms:[^:]*:[^:]*:/, '');
  const [w, a] = [tail(wanted!), tail(actual!)];
  const kind = (t: string) => (t.startsWith('alias/') ? 'alias' : 'key');
  const id = (t: string) => t.replace(/^key\//, '');
  if (kind(w) !== kind(a)) return false; // an alias against a key id: only KMS could tell
  return kind(w) === 'alias' ? w !== a : id(w) !== id(a);
}
