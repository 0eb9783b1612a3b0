/**
 * The compare-and-set keyctl builds everything on: UpdateSecretVersionStage with RemoveFromVersionId, which AWS refuses
 * unless the label sits on that version, so of two writers that read the same state exactly one moves the label. AWS's
 * own rotation relies on it. Slots (providers/aws/versions.ts) and leases (providers/aws/leases.ts) both write a new
 * version under a transient label first, then move their real label onto it with this guard.
 */
import { ConflictError } from '@keyctl/client/errors';
import type { Stage } from '../types.js';
import type { AwsClient, Ref } from './client.js';
import { awsErrorName } from './errors.js';
import { STAGED_LABEL, holdersOf } from './stages.js';

/** AWS VersionId / ClientRequestToken grammar. */
export const VERSION_ID = /^[A-Za-z0-9-]{32,64}$/;

/** Conflict errors name the keyctl path and stage, never a value. */
export function conflict(ref: Ref, stage: Stage | string): ConflictError {
  return new ConflictError(`Stage ${stage} of "${ref.path}" changed since it was read.`, {
    hint: 'Another writer got there first. Re-read the secret and decide again.',
  });
}

/** How AWS (and moto) say "the label is not on RemoveFromVersionId" or "that version cannot take the label". */
export function isGuardFailure(err: unknown): boolean {
  const name = awsErrorName(err);
  return name === 'InvalidParameterException' || name === 'InvalidRequestException' || name === 'ValidationException';
}

/**
 * Creates a new version of an existing secret carrying only STAGED_LABEL. AWS needs at least one label on
 * PutSecretValue, and omitting VersionStages would move AWSCURRENT, so new versions arrive under this one.
 */
export async function putStaged(c: AwsClient, ref: Ref, version: string, body: string): Promise<void> {
  await c.aws('PutSecretValue', () =>
    c.api.putSecretValue({ SecretId: ref.name, SecretString: body, ClientRequestToken: version, VersionStages: [STAGED_LABEL] }),
  );
}

/**
 * One guarded label move. `to` must not hold the label before the call (callers check), which is what lets a
 * failed call be told apart from a lost reply: if `to` holds the label afterwards, the move happened.
 */
export async function moveLabel(c: AwsClient, ref: Ref, label: string, to: string, from: string | undefined): Promise<void> {
  try {
    await c.aws('UpdateSecretVersionStage', () =>
      c.api.updateSecretVersionStage({
        SecretId: ref.name,
        VersionStage: label,
        MoveToVersionId: to,
        ...(from !== undefined ? { RemoveFromVersionId: from } : {}),
      }),
    );
  } catch (err) {
    if (!isGuardFailure(err)) throw err;
    // The guard failed - or an SDK retry of a move that had succeeded (its reply lost) found the label moved.
    const holders = holdersOf(await c.labels(ref.name), label);
    if (holders.length === 1 && holders[0] === to) return;
    throw conflict(ref, label);
  }
  if (from === undefined) {
    // AWS refuses to attach a label held elsewhere without RemoveFromVersionId; moto attaches it anyway (the label
    // ends up on two versions). Detect that and back out, so the guard holds on both.
    const holders = holdersOf(await c.labels(ref.name), label);
    if (holders.length > 1) {
      await removeLabel(c, ref.name, label, to).catch(() => undefined);
      throw conflict(ref, label);
    }
  }
}

export function removeLabel(c: AwsClient, name: string, label: string, from: string): Promise<unknown> {
  return c.aws('UpdateSecretVersionStage', () =>
    c.api.updateSecretVersionStage({ SecretId: name, VersionStage: label, RemoveFromVersionId: from }),
  );
}

/** Drops the transient label from a version once its real stage is attached (or lost). Best effort. */
export async function unstage(c: AwsClient, name: string, version: string): Promise<void> {
  await removeLabel(c, name, STAGED_LABEL, version).catch(() => undefined);
}
