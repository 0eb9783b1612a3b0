/**
 * Leases on AWS Secrets Manager, for the coordination store (providers/aws/coordination.ts). A lease named `n` is the
 * secret `<prefix>_lock/<n>` (hashed when `n` is outside the secret-name alphabet); its AWSCURRENT version holds
 * `{owner, token, expiresAt, fence}`, or `released` with the fence.
 * - First acquire: the CreateSecret is the compare-and-set; of concurrent creators, one succeeds.
 * - Every later acquire, renew and release puts a new version, then moves AWSCURRENT onto it with RemoveFromVersionId
 *   = the version it read (providers/aws/labels.ts): a stale or concurrent writer loses.
 * - Fence: a counter in the lease secret, +1 for every new holder, kept through release, so it strictly increases
 *   whatever the clocks and TTLs of successive holders.
 *
 * Each of those writes is a new secret version, and AWS keeps every version younger than 24 hours, at most 100 of them
 * (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html). A lease renewed every few
 * seconds hits that quota within minutes (AWS_LIMIT_EXCEEDED, and the holder loses the lease); the AWS issue (#14)
 * replaces this with a backing that creates no secret versions. Time is the injected clock, not AWS's.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { ConflictError, LockedError, UsageError } from '../../src/errors.js';
import type { LeaseBackend, StoreLease } from '../coordination/secret-backed.js';
import { tokenKey } from '../document-store.js';
import type { SecretsManagerApi } from './api.js';
import { AwsClient, TAG_PATH, type AwsStoreOptions, type Ref } from './client.js';
import { decode, encode, type Envelope } from './envelope.js';
import { awsErrorName } from './errors.js';
import { moveLabel, putStaged } from './labels.js';
import { LABEL } from './stages.js';

/** An AWS lease always carries its fence, the counter kept in the lease secret. */
export interface AwsLease extends StoreLease {
  fence: number;
}

/** Lease names that can be used as they are in a secret name; others are hashed. */
const LOCK_NAME = /^[A-Za-z0-9][A-Za-z0-9/_+=.@-]{0,255}$/;
/** Attempts at a contended acquire before giving up with LockedError. */
const ACQUIRE_ATTEMPTS = 4;

type LeaseEnvelope = Extract<Envelope, { kind: 'lease' | 'released' }>;

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function assertTtl(ttlMs: number): void {
  if (!(ttlMs > 0)) throw new UsageError('INVALID_TTL', 'A lease TTL must be positive.');
}

export class AwsLeases implements LeaseBackend {
  private readonly c: AwsClient;

  constructor(api: SecretsManagerApi, options: AwsStoreOptions) {
    this.c = new AwsClient(api, options);
  }

  /** Takes the lease, or throws LockedError naming the holder and its expiry. */
  async lock(name: string, owner: string, ttlMs: number): Promise<AwsLease> {
    assertTtl(ttlMs);
    const c = this.c;
    const ref = this.ref(name);
    return c.guard(ref.name, async () => {
      for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
        const cur = await this.read(ref);
        const now = c.now();
        if (cur?.env.kind === 'lease' && cur.env.expiresAt > now) throw locked(name, cur.env);
        const token = randomBytes(18).toString('base64url');
        const expiresAt = now + ttlMs;
        const fence = (cur?.env.fence ?? 0) + 1;
        const body = encode({ kind: 'lease', owner, token, expiresAt, fence });
        const previous = cur?.env.kind === 'lease' ? cur.env.owner : undefined;
        const lease: AwsLease = {
          name,
          owner,
          token,
          expiresAt: new Date(expiresAt).toISOString(),
          fence,
          tookOver: previous !== undefined,
          ...(previous !== undefined ? { previousOwner: previous } : {}),
        };
        if (!cur) {
          // First use of this name: creating the secret is itself the compare-and-set (one CreateSecret wins).
          try {
            await c.aws('CreateSecret', () =>
              c.api.createSecret({
                Name: ref.name,
                SecretString: body,
                ClientRequestToken: randomUUID(),
                Description: 'keyctl lease (rotation lock or leader election)',
                Tags: c.tags('lock', [{ Key: TAG_PATH, Value: name.slice(0, 256) }]),
                ...c.kms(),
              }),
            );
            return lease;
          } catch (err) {
            if (awsErrorName(err) === 'ResourceExistsException') continue;
            throw err;
          }
        }
        if (await this.replace(ref, cur.versionId, body)) return lease;
        // Another acquirer won the move: look again (it now holds the lease, or released it meanwhile).
      }
      const cur = await this.read(ref);
      if (cur?.env.kind === 'lease' && cur.env.expiresAt > c.now()) throw locked(name, cur.env);
      throw new LockedError(`"${name}" is contended by several lockers.`, { hint: 'Re-run in a moment.' });
    });
  }

  /**
   * Extends a held lease. Throws LockedError when it was lost: taken over, released, or expired (a holder that stalled
   * past its expiry must acquire again, and resume, rather than carry on as if nothing happened).
   */
  async renew(lease: StoreLease, ttlMs: number): Promise<AwsLease> {
    assertTtl(ttlMs);
    const c = this.c;
    const ref = this.ref(lease.name);
    return c.guard(ref.name, async () => {
      const cur = await this.read(ref);
      const now = c.now();
      if (cur?.env.kind !== 'lease' || !sameToken(cur.env.token, lease.token) || !(cur.env.expiresAt > now)) throw lost(lease.name);
      const { owner, token, fence } = cur.env;
      const expiresAt = now + ttlMs;
      if (!(await this.replace(ref, cur.versionId, encode({ kind: 'lease', owner, token, expiresAt, fence })))) throw lost(lease.name);
      return { ...lease, expiresAt: new Date(expiresAt).toISOString(), fence };
    });
  }

  /** Releases a held lease; releasing a lease that was already lost is a no-op. The fence stays in the secret. */
  async unlock(lease: StoreLease): Promise<void> {
    const ref = this.ref(lease.name);
    await this.c.guard(ref.name, async () => {
      const cur = await this.read(ref);
      if (cur?.env.kind !== 'lease' || !sameToken(cur.env.token, lease.token)) return;
      // Lost meanwhile (replace returns false): releasing it is a no-op.
      await this.replace(ref, cur.versionId, encode({ kind: 'released', fence: cur.env.fence }));
    });
  }

  /** The last fence issued for `name` (0 when none was): a fenced writer compares its own with it. */
  async fence(name: string): Promise<number> {
    const ref = this.ref(name);
    return this.c.guard(ref.name, async () => (await this.read(ref))?.env.fence ?? 0);
  }

  /** Releases the SDK client's sockets. */
  close(): void {
    this.c.api.destroy();
  }

  /** The lease state (AWSCURRENT of the lease secret), or null before the first acquire. */
  private async read(ref: Ref): Promise<{ versionId: string; env: LeaseEnvelope } | null> {
    const got = await this.c.getVersion(ref.name, { stage: 'CURRENT' });
    if (!got?.VersionId) return null;
    const env = decode(got.SecretString);
    if (env?.kind !== 'lease' && env?.kind !== 'released') throw this.c.foreign(ref);
    return { versionId: got.VersionId, env };
  }

  /** Puts `body` as a new version and moves AWSCURRENT onto it from `from`. False when another writer moved it first. */
  private async replace(ref: Ref, from: string, body: string): Promise<boolean> {
    const version = randomUUID();
    await putStaged(this.c, ref, version, body);
    try {
      await moveLabel(this.c, ref, LABEL.CURRENT, version, from);
      return true;
    } catch (err) {
      if (err instanceof ConflictError) return false;
      throw err;
    }
  }

  private ref(name: string): Ref {
    const suffix = LOCK_NAME.test(name) && !name.includes('//') ? name : tokenKey(name);
    return { name: `${this.c.options.prefix}_lock/${suffix}`, path: name };
  }
}

function locked(name: string, lease: { owner: string; expiresAt: number }): LockedError {
  const until = new Date(lease.expiresAt).toISOString();
  return new LockedError(`"${name}" is locked by ${lease.owner} until ${until}.`, {
    hint: 'Another keyctl is working on it. Wait for it to finish, or for the lease to expire, then re-run.',
    details: { holder: lease.owner, expiresAt: until },
  });
}

function lost(name: string): LockedError {
  return new LockedError(`The lease on "${name}" was lost.`, {
    hint: 'It expired, or another process took it over. Stop, then re-run to resume.',
  });
}
