/**
 * The CoordinationStore for the AWS provider: today's code, wrapped. Leases are AwsLeases (one secret per lease name,
 * providers/aws/leases.ts); records are versions of `keyctl/coordination/...` secrets, through SecretBackedCoordination
 * (which asks AwsLeases for the last fence issued, so a broken holder is refused before the new holder writes).
 *
 * Every lease acquire, renewal and release, and every record write or delete (a tombstone version: the secret is never
 * deleted, since AWS refuses to re-create a name for a while after a force delete), is a new secret version. AWS
 * keeps each version younger than 24 hours and a secret at most about 100 of them, and advises against writing one
 * secret more than once every 10 minutes (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html):
 * a lease renewed every ~10 s reaches the quota in minutes. Issue #14 (the AWS provider within AWS's real quotas)
 * replaces this with a backing that creates no secret versions. Until then, on AWS, renew leases every few minutes.
 *
 * Time: the client's clock (the injected `now`, else Date.now), not AWS's: a lease's expiry is judged by the callers'
 * clocks, so hosts sharing a store need synchronized clocks (NTP). Fences are real counters kept in the lease secret.
 */
import type { CoordinationStore } from '../coordination.js';
import { SecretBackedCoordination } from '../coordination/secret-backed.js';
import type { SecretStore } from '../types.js';
import type { SecretsManagerApi } from './api.js';
import type { AwsStoreOptions } from './client.js';
import { AwsLeases } from './leases.js';

/** SecretBackedCoordination with AWS leases; closing it also releases the leases' SDK client. */
class AwsCoordination extends SecretBackedCoordination {
  constructor(
    secrets: SecretStore,
    private readonly awsLeases: AwsLeases,
    clock: () => number,
  ) {
    super(secrets, awsLeases, clock);
  }

  override async close(): Promise<void> {
    await super.close();
    this.awsLeases.close();
  }
}

/** Builds the coordination store from its own SDK client (`api`) and the store's SecretStore (`secrets`). */
export function awsCoordination(api: SecretsManagerApi, options: AwsStoreOptions, secrets: SecretStore): CoordinationStore {
  return new AwsCoordination(secrets, new AwsLeases(api, options), options.now ?? Date.now);
}
