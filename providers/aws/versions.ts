/**
 * keyctl's stages on a slot secret: creating a version (and the secret, with its genesis placeholder, on first use),
 * attaching a stage to it under the contract's `expect` guard, and detaching a stage. Built on the guarded label moves
 * of providers/aws/labels.ts; docs/aws.md explains each emulation.
 */
import { ConflictError, ProviderError } from '@keyctl/client/errors';
import type { Stage } from '../types.js';
import { TAG_PATH, type AwsClient, type Ref } from './client.js';
import { GENESIS_BODY } from './envelope.js';
import { awsErrorName } from './errors.js';
import { VERSION_ID, conflict, isGuardFailure, moveLabel, putStaged, removeLabel } from './labels.js';
import { GENESIS_VERSION, LABEL, holdersOf, stagePointers, type VersionIdsToStages } from './stages.js';

/** Puts a new slot version under the transient label, creating the secret with its genesis version on first use. */
export async function putVersion(c: AwsClient, ref: Ref, version: string, body: string): Promise<void> {
  try {
    await putStaged(c, ref, version, body);
    return;
  } catch (err) {
    // Not there, or still being deleted (a delete is asynchronous on AWS): create it, waiting out the deletion.
    if (awsErrorName(err) !== 'ResourceNotFoundException' && !isBeingDeleted(err)) throw err;
  }
  await createWithGenesis(c, ref);
  await putStaged(c, ref, version, body);
}

/** Default longest wait for AWS to finish deleting a name (AwsStoreOptions.deleteWaitMs). */
const DELETE_WAIT_MS = 30_000;

/** AWS's answer to a call on a name whose deletion is under way (or in its recovery window). */
function isBeingDeleted(err: unknown): boolean {
  return awsErrorName(err) === 'InvalidRequestException' && /delet/i.test(err instanceof Error ? err.message : '');
}

/**
 * Creates the secret with the empty genesis version. AWS labels a secret's first version AWSCURRENT no matter what
 * the caller asks, so a first write meant as PENDING would otherwise become CURRENT. Idempotent: the genesis
 * ClientRequestToken and body are constants, and a concurrent creator's success is as good as ours.
 *
 * A name deleted moments ago cannot be created until AWS has finished deleting it (DeleteSecret API reference,
 * ForceDeleteWithoutRecovery: "there might be a short delay before the secret is permanently deleted"): keyctl waits,
 * with growing pauses, up to `deleteWaitMs`, then fails with AWS_SECRET_DELETING and its hint.
 */
async function createWithGenesis(c: AwsClient, ref: Ref): Promise<void> {
  const sleep = c.options.retry?.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let waited = 0;
  for (let pause = 500; ; pause = Math.min(pause * 2, 5000)) {
    try {
      await c.aws('CreateSecret', () =>
        c.api.createSecret({
          Name: ref.name,
          SecretString: GENESIS_BODY,
          ClientRequestToken: GENESIS_VERSION,
          Description: `keyctl secret ${ref.path}: stages are the AWS staging labels (see keyctl docs/aws.md)`,
          Tags: c.tags('slot', [{ Key: TAG_PATH, Value: ref.path }]),
          ...c.kms(),
        }),
      );
      return;
    } catch (err) {
      if (awsErrorName(err) === 'ResourceExistsException') return;
      if (!isBeingDeleted(err) || waited + pause > (c.options.deleteWaitMs ?? DELETE_WAIT_MS)) throw err;
    }
    await sleep(pause);
    waited += pause;
  }
}

/**
 * Attaches `stage` to version `to`, guarded by `expect` (see WriteInput.expect).
 * - expect = a version: one UpdateSecretVersionStage with RemoveFromVersionId = expect; AWS refuses the move
 *   unless the label is on that version, so of two concurrent writers exactly one wins.
 * - expect = null ("points nowhere"): the label must be absent or parked on the genesis version. Parked: the move
 *   names RemoveFromVersionId = genesis (server-checked). Absent: no RemoveFromVersionId, which AWS refuses if the
 *   label appeared meanwhile; moto does not, so moveLabel checks afterwards.
 * - expect omitted: moves the label from wherever it is now (re-read and retried if it moves under us).
 */
export async function attach(c: AwsClient, ref: Ref, stage: Stage, to: string, expect: string | null | undefined): Promise<void> {
  const label = LABEL[stage];
  if (expect !== undefined && expect !== null) {
    if (!VERSION_ID.test(expect)) throw conflict(ref, stage); // no version has that id, so the stage is not on it
    await moveLabel(c, ref, label, to, expect);
    return;
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    const map = await c.labels(ref.name);
    const holders = holdersOf(map, label);
    if (holders.length > 1) throw conflict(ref, stage);
    const holder = holders[0];
    if (holder === to) return;
    if (expect === null && holder !== undefined && holder !== GENESIS_VERSION) throw conflict(ref, stage);
    try {
      await moveLabel(c, ref, label, to, holder);
    } catch (err) {
      if (expect === null || !(err instanceof ConflictError)) throw err;
      continue;
    }
    // CURRENT left the genesis version ("nowhere"), so AWS moved AWSPREVIOUS onto genesis; keyctl's contract keeps
    // PREVIOUS where it was when CURRENT pointed nowhere, so put it back (a second call; docs/aws.md).
    const previous = stagePointers(map).PREVIOUS;
    if (stage === 'CURRENT' && holder === GENESIS_VERSION && previous !== undefined) {
      await moveLabel(c, ref, LABEL.PREVIOUS, previous, GENESIS_VERSION);
    }
    return;
  }
  throw conflict(ref, stage);
}

/** Detaches `stage` if it points at `expect` (null: succeeds only when it already points nowhere). */
export async function detach(c: AwsClient, ref: Ref, stage: Stage, expect: string | null, map: VersionIdsToStages): Promise<void> {
  const label = LABEL[stage];
  const holders = holdersOf(map, label);
  if (expect === null) {
    if (holders.every((h) => h === GENESIS_VERSION)) return;
    throw conflict(ref, stage);
  }
  if (!holders.includes(expect)) throw conflict(ref, stage);
  if (stage !== 'CURRENT') {
    try {
      await removeLabel(c, ref.name, label, expect);
    } catch (err) {
      if (isGuardFailure(err)) throw conflict(ref, stage);
      throw err;
    }
    return;
  }
  // AWS will not leave a secret without AWSCURRENT: park it on the genesis version, which keyctl reads as "points
  // nowhere". AWS then moves AWSPREVIOUS onto the version CURRENT left; put PREVIOUS back where it was (a second
  // call, so not atomic with the first; docs/aws.md).
  if (!(await versionExists(c, ref.name, GENESIS_VERSION, map, true))) {
    throw new ProviderError('AWS_CANNOT_DETACH_CURRENT', `CURRENT of "${ref.path}" cannot be detached: its placeholder version is gone.`, {
      hint: 'Move CURRENT to another version instead.',
    });
  }
  const previous = holdersOf(map, LABEL.PREVIOUS)[0];
  await moveLabel(c, ref, label, GENESIS_VERSION, expect);
  if (previous !== undefined && previous !== expect) await moveLabel(c, ref, LABEL.PREVIOUS, previous, expect);
  else if (previous === undefined) await removeLabel(c, ref.name, LABEL.PREVIOUS, expect).catch(() => undefined);
}

/** Whether version `id` exists (labelled or not). The genesis version counts only with `allowGenesis`. */
export async function versionExists(
  c: AwsClient,
  name: string,
  id: string,
  map: VersionIdsToStages,
  allowGenesis = false,
): Promise<boolean> {
  if (!VERSION_ID.test(id) || (id === GENESIS_VERSION && !allowGenesis)) return false;
  if (map[id] !== undefined) return true;
  return (await c.listVersions(name)).some((v) => v.VersionId === id);
}
