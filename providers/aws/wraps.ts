/**
 * Single-use, TTL-bound hand-over of a value (the SecretStore's wrap/unwrap), emulated on AWS: one secret per token,
 * named after the token's hash (the token itself never reaches AWS). The single-use gate is a guarded label move, not
 * the delete: DeleteSecret is asynchronous on AWS and succeeds twice on moto. docs/aws.md, "Wrap and unwrap".
 */
import { randomBytes } from 'node:crypto';
import { ProviderError, UsageError } from '@keyctl/client/errors';
import { tokenKey } from '../document-store.js';
import { tagValue, type AwsClient } from './client.js';
import { decode, encode } from './envelope.js';
import { awsErrorName } from './errors.js';
import { isGuardFailure } from './labels.js';
import { LABEL } from './stages.js';

const WRAP_VALUE_VERSION = 'keyctl-wrap-value-0000000000000000000000';
/** Each unwrap claims with a version of its own (this prefix and 22 random hex digits), so it can recognise its win. */
const WRAP_CLAIM_PREFIX = 'keyctl-wrap-claim-';
const WRAP_CLAIM_LABEL = 'keyctl-claim';
const TAG_EXPIRES = 'keyctl:expires-at';
/** Minimum time between two sweeps of expired wrap secrets by one store. */
const WRAP_SWEEP_EVERY_MS = 60_000;

const invalid = () =>
  new ProviderError('WRAP_INVALID', 'This token is unknown, already used or expired.', {
    hint: 'Tokens are single-use and short-lived: ask for a new one with `keyctl issue`.',
  });

export class AwsWraps {
  private lastSweep = -Infinity;

  constructor(private readonly c: AwsClient) {}

  async wrap(value: string, ttlMs: number): Promise<string> {
    if (!(ttlMs > 0)) throw new UsageError('INVALID_TTL', 'A wrap TTL must be positive.');
    const c = this.c;
    const token = `kcw_${randomBytes(32).toString('base64url')}`;
    const name = this.name(token);
    const expiresAt = new Date(c.now() + ttlMs).toISOString();
    await c.guard(name, async () => {
      await this.sweepExpired();
      // The first version holds the value under AWSCURRENT. Unwrapping moves AWSCURRENT from it to the unwrapper's
      // own claim version with RemoveFromVersionId = the value, which succeeds exactly once.
      await c.aws('CreateSecret', () =>
        c.api.createSecret({
          Name: name,
          SecretString: encode({ kind: 'wrap', value }),
          ClientRequestToken: WRAP_VALUE_VERSION,
          Description: 'keyctl single-use hand-over; deleted when unwrapped or expired',
          Tags: c.tags('wrap', [{ Key: TAG_EXPIRES, Value: expiresAt }]),
          ...c.kms(),
        }),
      );
    });
    return token;
  }

  async unwrap(token: string): Promise<string> {
    if (typeof token !== 'string' || !token.startsWith('kcw_') || token.length > 256) throw invalid();
    const c = this.c;
    const name = this.name(token);
    return c.guard(name, async () => {
      const info = await c.describeRaw(name);
      if (!info) throw invalid();
      const expiresAt = Date.parse(tagValue(info.Tags, TAG_EXPIRES) ?? '');
      if (!(expiresAt > c.now())) {
        await c.forceDelete(name);
        throw invalid();
      }
      // This unwrap's own claim version (under a side label: without one, PutSecretValue would move AWSCURRENT).
      const claim = `${WRAP_CLAIM_PREFIX}${randomBytes(11).toString('hex')}`;
      try {
        await c.aws('PutSecretValue', () =>
          c.api.putSecretValue({
            SecretId: name,
            SecretString: encode({ kind: 'wrap-claimed' }),
            ClientRequestToken: claim,
            VersionStages: [WRAP_CLAIM_LABEL],
          }),
        );
        await c.aws('UpdateSecretVersionStage', () =>
          c.api.updateSecretVersionStage({
            SecretId: name,
            VersionStage: LABEL.CURRENT,
            MoveToVersionId: claim,
            RemoveFromVersionId: WRAP_VALUE_VERSION,
          }),
        );
      } catch (err) {
        if (!isGuardFailure(err) && awsErrorName(err) !== 'ResourceNotFoundException') throw err;
        // The gate said no - or the SDK retried a move that had succeeded and lost its reply: then AWSCURRENT is on
        // this unwrap's own claim version, and it did win.
        const labels = await c.describeRaw(name);
        if (!labels?.VersionIdsToStages?.[claim]?.includes(LABEL.CURRENT)) throw invalid();
      }
      // This caller alone won the claim: read the value (now AWSPREVIOUS), then remove the secret for good.
      const got = await c.aws('GetSecretValue', () =>
        c.api.getSecretValue({ SecretId: name, VersionId: WRAP_VALUE_VERSION, VersionStage: LABEL.PREVIOUS }),
      );
      await c.forceDelete(name).catch(() => undefined); // the sweep removes it after expiry if this fails
      const env = decode(got.SecretString);
      if (env?.kind !== 'wrap') throw invalid();
      return env.value;
    });
  }

  private name(token: string): string {
    return `${this.c.options.prefix}_wrap/${tokenKey(token)}`;
  }

  private async sweepExpired(): Promise<void> {
    const started = Date.now();
    if (started - this.lastSweep < WRAP_SWEEP_EVERY_MS) return;
    this.lastSweep = started;
    try {
      for (const s of await this.c.listSecrets(`${this.c.options.prefix}_wrap/`)) {
        const expires = Date.parse(tagValue(s.Tags, TAG_EXPIRES) ?? '');
        if (expires <= this.c.now()) await this.c.forceDelete(s.Name!);
      }
    } catch {
      // Housekeeping only: an expired wrap cannot be unwrapped anyway.
    }
  }
}
