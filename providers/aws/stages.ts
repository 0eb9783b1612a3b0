/**
 * How keyctl's stages map onto AWS Secrets Manager staging labels, and keyctl's own reading of a secret's labels.
 * Pure functions only: no SDK, no I/O, so the rules can be unit-tested apart from any server (real or moto).
 */
import { STAGES, type Stage } from '../types.js';

/** keyctl stage -> AWS staging label. The labels are AWS's own, so the console, CLI and CloudTrail see keyctl's state. */
export const LABEL: Readonly<Record<Stage, string>> = {
  PENDING: 'AWSPENDING',
  CURRENT: 'AWSCURRENT',
  PREVIOUS: 'AWSPREVIOUS',
};

/**
 * Version id of the placeholder version every keyctl secret is created with. AWS labels the first version of a secret
 * AWSCURRENT whatever the caller asks, so keyctl creates the secret with this empty version first: a stage label that
 * sits on it means "points nowhere" to keyctl. It holds no secret material.
 */
export const GENESIS_VERSION = 'keyctl-genesis-0000000000000000000000000';

/**
 * Label a freshly put version carries until the compare-and-set attaches its real stage. AWS needs at least one label
 * on PutSecretValue, and omitting VersionStages would move AWSCURRENT, so new versions arrive under this one.
 */
export const STAGED_LABEL = 'keyctl-staged';

/** Which version each label sits on, as DescribeSecret's `VersionIdsToStages` reports it. */
export type VersionIdsToStages = Record<string, readonly string[] | undefined>;

/** keyctl stages of one version, from its AWS labels, in STAGES order. The genesis version never holds a stage. */
export function stagesOf(versionId: string, labels: readonly string[] | undefined): Stage[] {
  if (versionId === GENESIS_VERSION || !labels) return [];
  return STAGES.filter((s) => labels.includes(LABEL[s]));
}

/**
 * Version ids currently holding `label`. Real AWS keeps a label on at most one version; moto can put a label on two
 * (it attaches without RemoveFromVersionId even when another version holds the label), so callers check the length.
 */
export function holdersOf(map: VersionIdsToStages, label: string): string[] {
  return Object.entries(map)
    .filter(([, labels]) => labels?.includes(label))
    .map(([id]) => id);
}

/** keyctl's stage pointers from the label map: a label on the genesis version, or on two versions, points nowhere. */
export function stagePointers(map: VersionIdsToStages): Partial<Record<Stage, string>> {
  const out: Partial<Record<Stage, string>> = {};
  for (const stage of STAGES) {
    const holders = holdersOf(map, LABEL[stage]);
    if (holders.length === 1 && holders[0] !== GENESIS_VERSION) out[stage] = holders[0];
  }
  return out;
}

/**
 * True when a rotation is in progress by AWS's own rule: AWSPENDING sits on a version other than the one holding
 * AWSCURRENT (including an empty version left by a failed rotation).
 *
 * keyctl decides this itself, from the labels, and never by asking the server: moto inverts the check (it refuses
 * when AWSPENDING shares AWSCURRENT's version and silently replaces a leftover AWSPENDING on another version), so a
 * crash-recovery test that trusted the server would pass against moto and fail against AWS.
 */
export function rotationInProgress(map: VersionIdsToStages): boolean {
  const pending = holdersOf(map, LABEL.PENDING);
  if (pending.length === 0) return false;
  const current = new Set(holdersOf(map, LABEL.CURRENT));
  return pending.some((id) => !current.has(id));
}
