/**
 * The SecretStore contract on AWS Secrets Manager. One AWS secret per path; keyctl's stages are AWS's own staging
 * labels; every stage change is an UpdateSecretVersionStage guarded by RemoveFromVersionId, the server-side
 * compare-and-set AWS's own rotation relies on. docs/aws.md explains the mapping and every emulation.
 *
 * The SDK is not imported here (types only): the store talks to the narrow SecretsManagerApi, which
 * providers/aws/index.ts builds from the lazily imported SDK.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type * as SM from '@aws-sdk/client-secrets-manager';
import { ConflictError, LockedError, NotFoundError, ProviderError, UsageError } from '../../src/errors.js';
import { assertValidIdempotencyKey, assertValidPath, tokenKey } from '../document-store.js';
import {
  STAGES,
  type Capabilities,
  type Lease,
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
import { GENESIS_BODY, assertStorableSecret, decode, digestSecret, encode, type Envelope } from './envelope.js';
import { awsErrorName, mapAwsError, withThrottleRetry, type RetryOptions } from './errors.js';
import { GENESIS_VERSION, LABEL, STAGED_LABEL, holdersOf, stagePointers, stagesOf, type VersionIdsToStages } from './stages.js';

export interface AwsStoreOptions {
  region: string;
  /** Secret name prefix, e.g. `keyctl/`. */
  prefix: string;
  kmsKeyId?: string;
  /** Clock for lease and wrap expiry (injectable for tests). */
  now?: () => number;
  /** keyctl's own throttling retry, on top of the SDK's. */
  retry?: RetryOptions;
}

/** AWS VersionId / ClientRequestToken grammar. */
const VERSION_ID = /^[A-Za-z0-9-]{32,64}$/;
/** Lock names that can be used as they are in a secret name; others are hashed. */
const LOCK_NAME = /^[A-Za-z0-9][A-Za-z0-9/_+=.@-]{0,255}$/;
const WRAP_VALUE_VERSION = 'keyctl-wrap-value-0000000000000000000000';
const WRAP_CLAIM_VERSION = 'keyctl-wrap-claim-0000000000000000000000';
const WRAP_CLAIM_LABEL = 'keyctl-claim';
const TAG_MANAGED_BY = 'managed-by';
const TAG_KIND = 'keyctl:kind';
const TAG_PATH = 'keyctl:path';
const TAG_EXPIRES = 'keyctl:expires-at';
const TAG_DESTROYED = 'keyctl:destroyed:';
/** Minimum time between two sweeps of expired wrap secrets by one store. */
const WRAP_SWEEP_EVERY_MS = 60_000;

type Tag = { Key: string; Value: string };
type Ref = { name: string; path: string };
type GetOut = Awaited<ReturnType<SecretsManagerApi['getSecretValue']>>;
type DescribeOut = Awaited<ReturnType<SecretsManagerApi['describeSecret']>>;

/** Conflict errors name the keyctl path and stage, never a value. */
function conflict(ref: Ref, stage: Stage | string): ConflictError {
  return new ConflictError(`Stage ${stage} of "${ref.path}" changed since it was read.`, {
    hint: 'Another writer got there first. Re-read the secret and decide again.',
  });
}

function isGuardFailure(err: unknown): boolean {
  const name = awsErrorName(err);
  return name === 'InvalidParameterException' || name === 'InvalidRequestException' || name === 'ValidationException';
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function tagValue(tags: SM.Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Remembers which AWS operation an error came from, for the hint ("grant secretsmanager:<op>"). */
const OP = Symbol('keyctl.awsOp');

export class AwsSecretsManagerStore implements SecretStore {
  readonly id = 'aws';
  readonly capabilities: Capabilities = {
    versions: 'native',
    stages: 'native',
    cas: 'native',
    wrapping: 'emulated',
    destroy: 'emulated',
    locks: 'emulated',
    durable: true,
  };
  private readonly now: () => number;
  private lastWrapSweep = -Infinity;

  constructor(
    private readonly api: SecretsManagerApi,
    private readonly options: AwsStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  // ---- lifecycle ----

  /** Nothing to prepare: each secret is created on its first write. */
  async init(): Promise<{ created: boolean }> {
    return { created: false };
  }

  async health(): Promise<void> {
    await this.guard(undefined, () =>
      this.aws('ListSecrets', () => this.api.listSecrets({ MaxResults: 1, ...this.nameFilter(this.options.prefix) })),
    );
  }

  async close(): Promise<void> {
    this.api.destroy();
  }

  // ---- slots ----

  async describe(path: string): Promise<SecretInfo | null> {
    assertValidPath(path);
    const ref = this.ref(path);
    return this.guard(ref.name, async () => {
      const info = await this.describeRaw(ref.name);
      if (!info) return null;
      const versions = await this.listVersions(ref.name);
      const destroyed = this.destroyedIds(info.Tags);
      const rows = await mapLimit(
        versions.filter((v) => v.VersionId && v.VersionId !== GENESIS_VERSION),
        8,
        async (v) => {
          const id = v.VersionId!;
          // Per-version metadata lives in the SecretString (AWS has no per-version tags); secret fields are dropped here.
          const got = await this.getVersion(ref.name, { versionId: id });
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
    return this.guard(ref.name, async () => {
      if ('stage' in selector && !STAGES.includes(selector.stage))
        throw new UsageError('INVALID_STAGE', `Unknown stage "${String(selector.stage)}".`);
      const validId = 'stage' in selector || (VERSION_ID.test(selector.version) && selector.version !== GENESIS_VERSION);
      const [got, info] = await Promise.allSettled([
        validId
          ? this.getVersion(ref.name, 'stage' in selector ? { stage: selector.stage } : { versionId: selector.version })
          : Promise.resolve(null),
        this.describeRaw(ref.name),
      ]);
      if (info.status === 'rejected') throw info.reason;
      if (!info.value) throw new NotFoundError(`No secret at "${path}".`);
      if (got.status === 'rejected') throw got.reason;
      const value = got.value;
      if (!value?.VersionId || value.VersionId === GENESIS_VERSION) throw new NotFoundError(what);
      const env = decode(value.SecretString);
      if (env?.kind !== 'version') throw this.foreign(ref);
      const id = value.VersionId;
      if (this.destroyedIds(info.value.Tags).has(id)) {
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
    return this.guard(ref.name, async () => {
      if (key !== undefined) {
        const seen = await this.getVersion(ref.name, { versionId: key });
        if (seen) return this.resumeIdempotent(ref, seen, input, stage);
      }
      const version = key ?? randomUUID();
      // `at` orders versions created within one AWS timestamp; sub-millisecond so one process never ties.
      const body = encode({
        kind: 'version',
        at: performance.timeOrigin + performance.now(),
        meta: { ...input.meta },
        secret: { ...input.secret },
      });
      try {
        await this.putStaged(ref, version, body);
      } catch (err) {
        // The same key raced in from a concurrent retry: treat it like a repeat.
        if (key !== undefined && awsErrorName(err) === 'ResourceExistsException') {
          const seen = await this.getVersion(ref.name, { versionId: key });
          if (seen) return this.resumeIdempotent(ref, seen, input, stage);
        }
        throw err;
      }
      try {
        await this.attach(ref, stage, version, input.expect);
      } finally {
        await this.unstage(ref.name, version);
      }
      return { version };
    });
  }

  async moveStage(path: string, input: MoveStageInput): Promise<void> {
    assertValidPath(path);
    if (!STAGES.includes(input.stage)) throw new UsageError('INVALID_STAGE', `Unknown stage "${String(input.stage)}".`);
    const ref = this.ref(path);
    await this.guard(ref.name, async () => {
      const info = await this.describeRaw(ref.name);
      if (!info) throw new NotFoundError(`No secret at "${path}".`);
      const map: VersionIdsToStages = info.VersionIdsToStages ?? {};
      const label = LABEL[input.stage];
      const holders = holdersOf(map, label);
      if (input.to === null) return this.detach(ref, input.stage, input.expect, map);
      if (!(await this.versionExists(ref.name, input.to, map))) throw new NotFoundError(`Version ${input.to} of "${path}" does not exist.`);
      if (holders.includes(input.to)) {
        // Already there: a no-op when the guard agrees, a conflict otherwise.
        if (holders.length === 1 && input.expect === input.to) return;
        throw conflict(ref, input.stage);
      }
      await this.attach(ref, input.stage, input.to, input.expect);
    });
  }

  async list(prefix: string): Promise<string[]> {
    const full = `${this.options.prefix}${prefix}`;
    return this.guard(undefined, async () => {
      const names = await this.listNames(full);
      return (
        names
          .map((n) => n.slice(this.options.prefix.length))
          // Internal secrets (`_wrap/`, `_lock/`) start with "_", which no keyctl path can.
          .filter((p) => !p.startsWith('_'))
          .sort()
      );
    });
  }

  async destroy(path: string, version: string): Promise<void> {
    assertValidPath(path);
    const ref = this.ref(path);
    await this.guard(ref.name, async () => {
      const info = await this.describeRaw(ref.name);
      if (!info) throw new NotFoundError(`No secret at "${path}".`);
      const map: VersionIdsToStages = info.VersionIdsToStages ?? {};
      const all = await this.listVersions(ref.name);
      if (version === GENESIS_VERSION || !all.some((v) => v.VersionId === version)) {
        throw new NotFoundError(`Version ${version} of "${path}" does not exist.`);
      }
      const holding = stagesOf(version, map[version]);
      if (holding.length > 0) {
        throw new ConflictError(`Version ${version} of "${path}" is still ${holding.join(' and ')}; move the stage first.`);
      }
      const destroyed = this.destroyedIds(info.Tags);
      if (destroyed.has(version)) return;
      // AWS cannot erase one version's material: keyctl marks it destroyed (reads refuse it) and AWS prunes the
      // unlabelled version itself later. docs/aws.md says so plainly.
      await this.aws('TagResource', () =>
        this.api.tagResource({
          SecretId: ref.name,
          Tags: [{ Key: `${TAG_DESTROYED}${version}`, Value: new Date(this.now()).toISOString() }],
        }),
      );
      // Keep under AWS's 50-tag limit: forget marks of versions AWS has already pruned.
      const present = new Set(all.map((v) => v.VersionId));
      const stale = [...destroyed].filter((id) => !present.has(id)).map((id) => `${TAG_DESTROYED}${id}`);
      if (stale.length > 0) await this.aws('UntagResource', () => this.api.untagResource({ SecretId: ref.name, TagKeys: stale }));
    });
  }

  async delete(path: string): Promise<void> {
    assertValidPath(path);
    const ref = this.ref(path);
    await this.guard(ref.name, () => this.forceDelete(ref.name));
  }

  // ---- wrapping ----

  async wrap(value: string, ttlMs: number): Promise<string> {
    if (!(ttlMs > 0)) throw new UsageError('INVALID_TTL', 'A wrap TTL must be positive.');
    const token = `kcw_${randomBytes(32).toString('base64url')}`;
    const name = this.wrapName(token);
    const expiresAt = new Date(this.now() + ttlMs).toISOString();
    await this.guard(name, async () => {
      await this.sweepExpiredWraps();
      // Version 1 holds the value under AWSCURRENT; version 2 is the empty "claimed" marker. Unwrapping moves
      // AWSCURRENT from 1 to 2 with RemoveFromVersionId=1, which succeeds exactly once.
      await this.aws('CreateSecret', () =>
        this.api.createSecret({
          Name: name,
          SecretString: encode({ kind: 'wrap', value }),
          ClientRequestToken: WRAP_VALUE_VERSION,
          Description: 'keyctl single-use hand-over; deleted when unwrapped or expired',
          Tags: this.tags('wrap', [{ Key: TAG_EXPIRES, Value: expiresAt }]),
          ...(this.options.kmsKeyId ? { KmsKeyId: this.options.kmsKeyId } : {}),
        }),
      );
      await this.aws('PutSecretValue', () =>
        this.api.putSecretValue({
          SecretId: name,
          SecretString: encode({ kind: 'wrap-claimed' }),
          ClientRequestToken: WRAP_CLAIM_VERSION,
          VersionStages: [WRAP_CLAIM_LABEL],
        }),
      );
    });
    return token;
  }

  async unwrap(token: string): Promise<string> {
    const invalid = () =>
      new ProviderError('WRAP_INVALID', 'This token is unknown, already used or expired.', {
        hint: 'Tokens are single-use and short-lived: ask for a new one with `keyctl issue`.',
      });
    if (typeof token !== 'string' || !token.startsWith('kcw_') || token.length > 256) throw invalid();
    const name = this.wrapName(token);
    return this.guard(name, async () => {
      const info = await this.describeRaw(name);
      if (!info) throw invalid();
      const expiresAt = Date.parse(tagValue(info.Tags, TAG_EXPIRES) ?? '');
      if (!(expiresAt > this.now())) {
        await this.forceDelete(name);
        throw invalid();
      }
      try {
        await this.aws('UpdateSecretVersionStage', () =>
          this.api.updateSecretVersionStage({
            SecretId: name,
            VersionStage: LABEL.CURRENT,
            MoveToVersionId: WRAP_CLAIM_VERSION,
            RemoveFromVersionId: WRAP_VALUE_VERSION,
          }),
        );
      } catch (err) {
        // Someone else claimed it first (or it vanished): the single-use gate said no.
        if (isGuardFailure(err) || awsErrorName(err) === 'ResourceNotFoundException') throw invalid();
        throw err;
      }
      // This caller alone won the claim: read the value (now AWSPREVIOUS), then remove the secret for good.
      const got = await this.aws('GetSecretValue', () =>
        this.api.getSecretValue({ SecretId: name, VersionId: WRAP_VALUE_VERSION, VersionStage: LABEL.PREVIOUS }),
      );
      await this.forceDelete(name).catch(() => undefined); // the sweep removes it after expiry if this fails
      const env = decode(got.SecretString);
      if (env?.kind !== 'wrap') throw invalid();
      return env.value;
    });
  }

  // ---- locks ----

  async lock(name: string, owner: string, ttlMs: number): Promise<Lease> {
    if (!(ttlMs > 0)) throw new UsageError('INVALID_TTL', 'A lease TTL must be positive.');
    const ref: Ref = { name: this.lockName(name), path: name };
    return this.guard(ref.name, async () => {
      for (let attempt = 0; attempt < 4; attempt++) {
        const cur = await this.readLease(ref);
        const now = this.now();
        const token = randomBytes(18).toString('base64url');
        const expiresAt = now + ttlMs;
        const body = encode({ kind: 'lease', owner, token, expiresAt });
        const lease = (previous?: string): Lease => ({
          name,
          owner,
          token,
          expiresAt: new Date(expiresAt).toISOString(),
          tookOver: previous !== undefined,
          ...(previous !== undefined ? { previousOwner: previous } : {}),
        });
        if (!cur) {
          // First use of this lock: creating the secret is itself the compare-and-set (one CreateSecret wins).
          try {
            await this.aws('CreateSecret', () =>
              this.api.createSecret({
                Name: ref.name,
                SecretString: body,
                ClientRequestToken: randomUUID(),
                Description: 'keyctl lease (rotation lock or leader election)',
                Tags: this.tags('lock', [{ Key: TAG_PATH, Value: name.slice(0, 256) }]),
                ...(this.options.kmsKeyId ? { KmsKeyId: this.options.kmsKeyId } : {}),
              }),
            );
            return lease();
          } catch (err) {
            if (awsErrorName(err) === 'ResourceExistsException') continue;
            throw err;
          }
        }
        if (cur.env.kind === 'lease' && cur.env.expiresAt > now) throw this.locked(name, cur.env);
        const version = randomUUID();
        await this.putStaged(ref, version, body, false);
        try {
          await this.moveLabel(ref, LABEL.CURRENT, version, cur.versionId);
        } catch (err) {
          if (err instanceof ConflictError) continue; // another locker won: look again
          throw err;
        }
        return lease(cur.env.kind === 'lease' ? cur.env.owner : undefined);
      }
      const cur = await this.readLease(ref);
      if (cur?.env.kind === 'lease' && cur.env.expiresAt > this.now()) throw this.locked(name, cur.env);
      throw new LockedError(`"${name}" is contended by several lockers.`, { hint: 'Re-run in a moment.' });
    });
  }

  async renew(lease: Lease, ttlMs: number): Promise<Lease> {
    const ref: Ref = { name: this.lockName(lease.name), path: lease.name };
    const lost = () =>
      new LockedError(`The lease on "${lease.name}" was lost.`, {
        hint: 'It expired and another process took it over. Stop, then re-run to resume.',
      });
    return this.guard(ref.name, async () => {
      const cur = await this.readLease(ref);
      if (!cur || cur.env.kind !== 'lease' || !sameToken(cur.env.token, lease.token)) throw lost();
      const expiresAt = this.now() + ttlMs;
      const version = randomUUID();
      await this.putStaged(ref, version, encode({ kind: 'lease', owner: cur.env.owner, token: cur.env.token, expiresAt }), false);
      try {
        await this.moveLabel(ref, LABEL.CURRENT, version, cur.versionId);
      } catch (err) {
        if (err instanceof ConflictError) throw lost();
        throw err;
      }
      return { ...lease, expiresAt: new Date(expiresAt).toISOString() };
    });
  }

  async unlock(lease: Lease): Promise<void> {
    const ref: Ref = { name: this.lockName(lease.name), path: lease.name };
    await this.guard(ref.name, async () => {
      const cur = await this.readLease(ref);
      if (!cur || cur.env.kind !== 'lease' || !sameToken(cur.env.token, lease.token)) return;
      const version = randomUUID();
      await this.putStaged(ref, version, encode({ kind: 'released' }), false);
      try {
        await this.moveLabel(ref, LABEL.CURRENT, version, cur.versionId);
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err; // lost meanwhile: releasing it is a no-op
      }
    });
  }

  // ---- stage machinery ----

  /**
   * Attaches `stage` to version `to`, guarded by `expect` (see WriteInput.expect).
   * - expect = a version: one UpdateSecretVersionStage with RemoveFromVersionId = expect; AWS refuses the move
   *   unless the label is on that version, so of two concurrent writers exactly one wins.
   * - expect = null ("points nowhere"): the label must be absent or parked on the genesis version. Parked: the move
   *   names RemoveFromVersionId = genesis (server-checked). Absent: no RemoveFromVersionId, which AWS refuses if the
   *   label appeared meanwhile; moto does not, so moveLabel checks afterwards.
   * - expect omitted: moves the label from wherever it is now (re-read and retried if it moves under us).
   */
  private async attach(ref: Ref, stage: Stage, to: string, expect: string | null | undefined): Promise<void> {
    const label = LABEL[stage];
    if (expect !== undefined && expect !== null) {
      if (!VERSION_ID.test(expect)) throw conflict(ref, stage); // no version has that id, so the stage is not on it
      await this.moveLabel(ref, label, to, expect);
      return;
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const map = await this.labels(ref.name);
      const holders = holdersOf(map, label);
      if (holders.length > 1) throw conflict(ref, stage);
      const holder = holders[0];
      if (holder === to) return;
      if (expect === null && holder !== undefined && holder !== GENESIS_VERSION) throw conflict(ref, stage);
      try {
        await this.moveLabel(ref, label, to, holder);
      } catch (err) {
        if (expect === null || !(err instanceof ConflictError)) throw err;
        continue;
      }
      // CURRENT left the genesis version ("nowhere"), so AWS moved AWSPREVIOUS onto genesis; keyctl's contract keeps
      // PREVIOUS where it was when CURRENT pointed nowhere, so put it back (a second call; docs/aws.md).
      const previous = stagePointers(map).PREVIOUS;
      if (stage === 'CURRENT' && holder === GENESIS_VERSION && previous !== undefined) {
        await this.moveLabel(ref, LABEL.PREVIOUS, previous, GENESIS_VERSION);
      }
      return;
    }
    throw conflict(ref, stage);
  }

  /**
   * One guarded label move. `to` must not hold the label before the call (callers check), which is what lets a
   * failed call be told apart from a lost reply: if `to` holds the label afterwards, the move happened.
   */
  private async moveLabel(ref: Ref, label: string, to: string, from: string | undefined): Promise<void> {
    try {
      await this.aws('UpdateSecretVersionStage', () =>
        this.api.updateSecretVersionStage({
          SecretId: ref.name,
          VersionStage: label,
          MoveToVersionId: to,
          ...(from !== undefined ? { RemoveFromVersionId: from } : {}),
        }),
      );
    } catch (err) {
      if (!isGuardFailure(err)) throw err;
      // The guard failed - or an SDK retry of a move that had succeeded (its reply lost) found the label moved.
      const holders = holdersOf(await this.labels(ref.name), label);
      if (holders.length === 1 && holders[0] === to) return;
      throw conflict(ref, label);
    }
    if (from === undefined) {
      // AWS refuses to attach a label held elsewhere without RemoveFromVersionId; moto attaches it anyway (the label
      // ends up on two versions). Detect that and back out, so the guard holds on both.
      const holders = holdersOf(await this.labels(ref.name), label);
      if (holders.length > 1) {
        await this.removeLabel(ref.name, label, to).catch(() => undefined);
        throw conflict(ref, label);
      }
    }
  }

  private async detach(ref: Ref, stage: Stage, expect: string | null, map: VersionIdsToStages): Promise<void> {
    const label = LABEL[stage];
    const holders = holdersOf(map, label);
    if (expect === null) {
      if (holders.every((h) => h === GENESIS_VERSION)) return;
      throw conflict(ref, stage);
    }
    if (!holders.includes(expect)) throw conflict(ref, stage);
    if (stage !== 'CURRENT') {
      try {
        await this.removeLabel(ref.name, label, expect);
      } catch (err) {
        if (isGuardFailure(err)) throw conflict(ref, stage);
        throw err;
      }
      return;
    }
    // AWS will not leave a secret without AWSCURRENT: park it on the genesis version, which keyctl reads as "points
    // nowhere". AWS then moves AWSPREVIOUS onto the version CURRENT left; put PREVIOUS back where it was (a second
    // call, so not atomic with the first; docs/aws.md).
    if (!(await this.versionExists(ref.name, GENESIS_VERSION, map, true))) {
      throw new ProviderError(
        'AWS_CANNOT_DETACH_CURRENT',
        `CURRENT of "${ref.path}" cannot be detached: its placeholder version is gone.`,
        {
          hint: 'Move CURRENT to another version instead.',
        },
      );
    }
    const previous = holdersOf(map, LABEL.PREVIOUS)[0];
    await this.moveLabel(ref, label, GENESIS_VERSION, expect);
    if (previous !== undefined && previous !== expect) await this.moveLabel(ref, LABEL.PREVIOUS, previous, expect);
    else if (previous === undefined) await this.removeLabel(ref.name, LABEL.PREVIOUS, expect).catch(() => undefined);
  }

  private removeLabel(name: string, label: string, from: string): Promise<unknown> {
    return this.aws('UpdateSecretVersionStage', () =>
      this.api.updateSecretVersionStage({ SecretId: name, VersionStage: label, RemoveFromVersionId: from }),
    );
  }

  /** Drops the transient label from a version once its real stage is attached (or lost). Best effort. */
  private async unstage(name: string, version: string): Promise<void> {
    await this.removeLabel(name, STAGED_LABEL, version).catch(() => undefined);
  }

  /**
   * Creates a new version carrying only STAGED_LABEL. For slots (`create`), creates the secret with its genesis
   * version on first use; lock secrets are created by `lock` itself.
   */
  private async putStaged(ref: Ref, version: string, body: string, create = true): Promise<void> {
    const put = () =>
      this.aws('PutSecretValue', () =>
        this.api.putSecretValue({ SecretId: ref.name, SecretString: body, ClientRequestToken: version, VersionStages: [STAGED_LABEL] }),
      );
    try {
      await put();
      return;
    } catch (err) {
      if (!create || awsErrorName(err) !== 'ResourceNotFoundException') throw err;
    }
    await this.createWithGenesis(ref);
    await put();
  }

  /**
   * Creates the secret with the empty genesis version. AWS labels a secret's first version AWSCURRENT no matter what
   * the caller asks, so a first write meant as PENDING would otherwise become CURRENT. Idempotent: the genesis
   * ClientRequestToken and body are constants, and a concurrent creator's success is as good as ours.
   */
  private async createWithGenesis(ref: Ref): Promise<void> {
    try {
      await this.aws('CreateSecret', () =>
        this.api.createSecret({
          Name: ref.name,
          SecretString: GENESIS_BODY,
          ClientRequestToken: GENESIS_VERSION,
          Description: `keyctl secret ${ref.path}: stages are the AWS staging labels (see keyctl docs/aws.md)`,
          Tags: this.tags('slot', [{ Key: TAG_PATH, Value: ref.path }]),
          ...(this.options.kmsKeyId ? { KmsKeyId: this.options.kmsKeyId } : {}),
        }),
      );
    } catch (err) {
      if (awsErrorName(err) !== 'ResourceExistsException') throw err;
    }
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
      await this.attach(ref, stage, id, input.expect);
    } finally {
      await this.unstage(ref.name, id);
    }
    return { version: id };
  }

  // ---- reads ----

  /** DescribeSecret, or null when the secret does not exist or is scheduled for deletion. */
  private async describeRaw(name: string): Promise<DescribeOut | null> {
    try {
      const out = await this.aws('DescribeSecret', () => this.api.describeSecret({ SecretId: name }));
      return out.DeletedDate ? null : out;
    } catch (err) {
      if (awsErrorName(err) === 'ResourceNotFoundException') return null;
      throw err;
    }
  }

  private async labels(name: string): Promise<VersionIdsToStages> {
    const info = await this.describeRaw(name);
    if (!info) throw new NotFoundError(`No secret named "${name}".`);
    return info.VersionIdsToStages ?? {};
  }

  /**
   * GetSecretValue by stage or by id, or null when there is no such version. A stage read always names its
   * VersionStage: moto does not update its default version on UpdateSecretVersionStage, so a read without one
   * returns the old value there.
   */
  private async getVersion(name: string, sel: { stage: Stage } | { versionId: string }): Promise<GetOut | null> {
    try {
      return await this.aws('GetSecretValue', () =>
        this.api.getSecretValue(
          'stage' in sel ? { SecretId: name, VersionStage: LABEL[sel.stage] } : { SecretId: name, VersionId: sel.versionId },
        ),
      );
    } catch (err) {
      if (awsErrorName(err) === 'ResourceNotFoundException') return null;
      throw err;
    }
  }

  /** Every version AWS still keeps, labelled or not. */
  private async listVersions(name: string): Promise<SM.SecretVersionsListEntry[]> {
    const out: SM.SecretVersionsListEntry[] = [];
    let next: string | undefined;
    do {
      const page = await this.aws('ListSecretVersionIds', () =>
        this.api.listSecretVersionIds({ SecretId: name, IncludeDeprecated: true, MaxResults: 100, ...(next ? { NextToken: next } : {}) }),
      );
      out.push(...(page.Versions ?? []));
      next = page.NextToken || undefined;
    } while (next);
    return out;
  }

  private async versionExists(name: string, id: string, map: VersionIdsToStages, allowGenesis = false): Promise<boolean> {
    if (!VERSION_ID.test(id) || (id === GENESIS_VERSION && !allowGenesis)) return false;
    if (map[id] !== undefined) return true;
    return (await this.listVersions(name)).some((v) => v.VersionId === id);
  }

  private async listNames(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let next: string | undefined;
    do {
      const page = await this.aws('ListSecrets', () =>
        this.api.listSecrets({ MaxResults: 100, ...this.nameFilter(prefix), ...(next ? { NextToken: next } : {}) }),
      );
      for (const s of page.SecretList ?? []) {
        // AWS's name filter is a case-insensitive prefix match; keyctl paths are case-sensitive.
        if (s.Name?.startsWith(prefix) && !s.DeletedDate) names.push(s.Name);
      }
      next = page.NextToken || undefined;
    } while (next);
    return names;
  }

  private async readLease(ref: Ref): Promise<{ versionId: string; env: Extract<Envelope, { kind: 'lease' | 'released' }> } | null> {
    const got = await this.getVersion(ref.name, { stage: 'CURRENT' });
    if (!got?.VersionId) return null;
    const env = decode(got.SecretString);
    if (env?.kind !== 'lease' && env?.kind !== 'released') throw this.foreign(ref);
    return { versionId: got.VersionId, env };
  }

  private async sweepExpiredWraps(): Promise<void> {
    const started = Date.now();
    if (started - this.lastWrapSweep < WRAP_SWEEP_EVERY_MS) return;
    this.lastWrapSweep = started;
    try {
      const prefix = `${this.options.prefix}_wrap/`;
      let next: string | undefined;
      do {
        const page = await this.aws('ListSecrets', () =>
          this.api.listSecrets({ MaxResults: 100, ...this.nameFilter(prefix), ...(next ? { NextToken: next } : {}) }),
        );
        for (const s of page.SecretList ?? []) {
          const expires = Date.parse(tagValue(s.Tags, TAG_EXPIRES) ?? '');
          if (s.Name?.startsWith(prefix) && expires <= this.now()) await this.forceDelete(s.Name);
        }
        next = page.NextToken || undefined;
      } while (next);
    } catch {
      // Housekeeping only: an expired wrap cannot be unwrapped anyway.
    }
  }

  // ---- helpers ----

  private async forceDelete(name: string): Promise<void> {
    try {
      await this.aws('DeleteSecret', () => this.api.deleteSecret({ SecretId: name, ForceDeleteWithoutRecovery: true }));
    } catch (err) {
      if (awsErrorName(err) !== 'ResourceNotFoundException') throw err;
    }
  }

  private ref(path: string): Ref {
    return { name: `${this.options.prefix}${path}`, path };
  }

  private wrapName(token: string): string {
    return `${this.options.prefix}_wrap/${tokenKey(token)}`;
  }

  private lockName(name: string): string {
    return `${this.options.prefix}_lock/${LOCK_NAME.test(name) && !name.includes('//') ? name : tokenKey(name)}`;
  }

  private nameFilter(prefix: string): { Filters?: SM.Filter[] } {
    return prefix ? { Filters: [{ Key: 'name', Values: [prefix] }] } : {};
  }

  private tags(kind: string, extra: Tag[]): Tag[] {
    return [{ Key: TAG_MANAGED_BY, Value: 'keyctl' }, { Key: TAG_KIND, Value: kind }, ...extra];
  }

  private destroyedIds(tags: SM.Tag[] | undefined): Set<string> {
    return new Set((tags ?? []).filter((t) => t.Key?.startsWith(TAG_DESTROYED)).map((t) => t.Key!.slice(TAG_DESTROYED.length)));
  }

  private foreign(ref: Ref): ProviderError {
    return new ProviderError('STORE_CORRUPT', `The AWS secret "${ref.name}" holds a value keyctl did not write.`, {
      hint: 'It was changed outside keyctl (console or CLI). Restore a keyctl-written version with `aws secretsmanager update-secret-version-stage`, or remove the secret.',
    });
  }

  private locked(name: string, lease: { owner: string; expiresAt: number }): LockedError {
    const until = new Date(lease.expiresAt).toISOString();
    return new LockedError(`"${name}" is locked by ${lease.owner} until ${until}.`, {
      hint: 'Another keyctl is working on it. Wait for it to finish, or for the lease to expire, then re-run.',
      details: { holder: lease.owner, expiresAt: until },
    });
  }

  /** One AWS call with keyctl's throttling retry; raw AWS errors are thrown, tagged with the operation. */
  private async aws<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withThrottleRetry(fn, this.options.retry);
    } catch (err) {
      if (typeof err === 'object' && err !== null && !(OP in err)) Object.defineProperty(err, OP, { value: op });
      throw err;
    }
  }

  /** Runs a public operation and maps whatever AWS error escapes it to a KeyctlError (exit 4) with a hint. */
  private async guard<T>(secretName: string | undefined, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      const op = typeof err === 'object' && err !== null ? ((err as { [OP]?: string })[OP] ?? 'a call') : 'a call';
      throw mapAwsError(err, {
        op,
        ...(secretName !== undefined ? { secretName } : {}),
        region: this.options.region,
        ...(this.options.kmsKeyId !== undefined ? { kmsKeyId: this.options.kmsKeyId } : {}),
      });
    }
  }
}
