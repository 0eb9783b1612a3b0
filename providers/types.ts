/**
 * The SecretStore contract: a small versioned secret store with stages and compare-and-set.
 *
 * It knows nothing of exchanges. A *path* names one secret (for keyctl: one slot, e.g. `bots/alpha/arb1`, or one
 * account master key, `accounts/bybit-main`). Each write creates a new immutable *version*. Three *stages* point at
 * versions: PENDING (written, not yet trusted), CURRENT (what bots get) and PREVIOUS (kept for the grace period).
 * The model is AWS Secrets Manager's staging labels; see docs/providers.md for how each backend maps onto it.
 *
 * Every method below states its contract. The shared suite in test/contract/provider-suite.ts checks each one against
 * every provider. Leases and other coordination state are not here: see providers/coordination.ts.
 * Errors are KeyctlErrors from @keyctl/client/errors: NotFoundError, ConflictError, or a ProviderError with a provider-specific
 * code. No error message may contain a secret value.
 */

export const STAGES = ['PENDING', 'CURRENT', 'PREVIOUS'] as const;
export type Stage = (typeof STAGES)[number];

/** Secret material of one version: small string fields (for keyctl: apiKey, secret, passphrase). */
export type SecretFields = Record<string, string>;

/**
 * Non-secret metadata of one version: fingerprint, creator, source, flags. Stored in the clear by remote providers
 * (Vault custom_metadata, AWS tags), so it must never hold anything secret.
 */
export type VersionMeta = Record<string, string>;

/** What a provider knows about one version, without its secret material. */
export interface VersionInfo {
  /** Provider-assigned, opaque, unique within the path. Never reused. */
  id: string;
  /** Stages pointing at this version (possibly none). */
  stages: Stage[];
  /** ISO-8601 creation time. */
  createdAt: string;
  /** True once {@link SecretStore.destroy} dropped this version's secret material. */
  destroyed: boolean;
  meta: VersionMeta;
}

/** One path as a whole, without secret material. */
export interface SecretInfo {
  path: string;
  /**
   * All retained versions, oldest first. Older versions that no stage points at may be pruned (the document stores
   * keep 50, Vault its max_versions, AWS 100); a staged version is never dropped (Vault refuses such a write).
   */
  versions: VersionInfo[];
  /** Which version each stage points at; a stage that points nowhere is absent. */
  stages: Partial<Record<Stage, string>>;
}

/** One version with its secret material. */
export interface SecretVersion {
  path: string;
  version: VersionInfo;
  secret: SecretFields;
}

/** Selects one version of a path. */
export type VersionSelector = { stage: Stage } | { version: string };

export interface WriteInput {
  secret: SecretFields;
  meta?: VersionMeta;
  /**
   * Stage to attach to the new version, atomically with its creation. Defaults to PENDING.
   * The attach is a compare-and-set: see `expect`.
   */
  stage?: Stage;
  /**
   * Compare-and-set guard for `stage`: the version id the stage must point at now, or `null` for "points nowhere".
   * When the stage points elsewhere the write fails with ConflictError and the stage is unchanged. Omit to attach
   * unconditionally (only for imports by a human; the rotation engine always passes it).
   */
  expect?: string | null;
  /**
   * Idempotency key (AWS ClientRequestToken semantics; 32-64 characters of [A-Za-z0-9-], not starting with `keyctl-`,
   * which providers reserve for their own versions). Repeating a write with the
   * same key and the same secret returns the version the first call created; the same key with a different secret
   * fails with ConflictError. Lets a retried step never create a second version.
   */
  idempotencyKey?: string;
}

export interface WriteResult {
  /** The version id the write created (or found, for a repeated idempotent write). */
  version: string;
}

export interface MoveStageInput {
  stage: Stage;
  /** Version to attach the stage to, or `null` to detach it. */
  to: string | null;
  /** Compare-and-set guard: the version the stage must point at now, or `null` for "points nowhere". */
  expect: string | null;
}

/** How a capability is provided: natively by the backend, emulated by keyctl on top of it, or not at all. */
export type Support = 'native' | 'emulated' | 'none';

export interface Capabilities {
  versions: Support;
  stages: Support;
  /** Compare-and-set on stage attachment (`write` with `expect`, `moveStage`). */
  cas: Support;
  /** Single-use, TTL-bound hand-over of a value. */
  wrapping: Support;
  /** Dropping one version's material while keeping its metadata. */
  destroy: Support;
  /** Whether data survives the process (false for the memory provider). */
  durable: boolean;
}

/**
 * The provider contract. Implementations: providers/memory/, providers/local/, providers/vault/,
 * providers/aws/ (each folder's index.ts is its entry). Obtain one through providers/registry.ts.
 */
export interface SecretStore {
  /** Provider id as used in config (`memory`, `local`, `vault`, `aws`). */
  readonly id: string;
  readonly capabilities: Capabilities;

  /**
   * Prepares the backend for first use (creates the store, its keys, its directories). Idempotent: a second call on
   * an initialized store changes nothing and returns `created: false`.
   */
  init(): Promise<{ created: boolean }>;

  /**
   * Checks that the backend is reachable and usable with the credentials given. Never creates anything.
   * Throws a ProviderError with a hint when it is not (e.g. `STORE_NOT_INITIALIZED`, `WRONG_MASTER_KEY`).
   */
  health(): Promise<void>;

  /**
   * Backend settings that change how the store behaves (Vault: the KV mount's max_versions, cas_required,
   * delete_version_after), for `keyctl status`. Absent where there are none to show.
   */
  settings?(): Promise<Record<string, string | number | boolean>>;

  /**
   * Everything known about `path` except secret material, or `null` when the path does not exist.
   * Versions whose material was destroyed are still listed (metadata kept for audit).
   */
  describe(path: string): Promise<SecretInfo | null>;

  /**
   * One version with its secret material. Throws NotFoundError when the path does not exist, the stage points
   * nowhere, or the version does not exist; throws a ProviderError `DESTROYED` when its material was destroyed.
   */
  read(path: string, selector: VersionSelector): Promise<SecretVersion>;

  /**
   * Creates a new version of `path` (creating the path if needed) and attaches `input.stage` (default PENDING) to it,
   * guarded by `input.expect`. Atomic: either the version exists with the stage attached, or (ConflictError) the
   * stage is unchanged. Providers that cannot create a version and attach a stage in one call may leave an
   * unattached version behind on conflict; such a version is never returned by a stage read.
   */
  write(path: string, input: WriteInput): Promise<WriteResult>;

  /**
   * Moves `stage` to version `to` (or detaches it when `to` is null) if and only if it currently points at `expect`.
   * Moving CURRENT also moves PREVIOUS onto the version CURRENT left (AWS semantics), in the same atomic step, so a
   * promotion is one call. Throws ConflictError when the guard fails, NotFoundError when `to` does not exist.
   */
  moveStage(path: string, input: MoveStageInput): Promise<void>;

  /**
   * Paths that start with `prefix` (a plain string prefix, e.g. `bots/alpha/`), sorted. Never returns internal
   * paths (mutexes, wrapping, coordination).
   */
  list(prefix: string): Promise<string[]>;

  /**
   * Drops the secret material of one version; its metadata stays so the audit trail can still name it. A stage
   * must not point at it (ConflictError otherwise). Idempotent.
   */
  destroy(path: string, version: string): Promise<void>;

  /** Removes the path and all its versions. Idempotent: deleting a missing path succeeds. */
  delete(path: string): Promise<void>;

  /**
   * Stores `value` under a fresh single-use token that expires after `ttlMs`. The token is the only way to get the
   * value back, and is itself a secret (print it only where the caller asked for it).
   */
  wrap(value: string, ttlMs: number, label?: WrapLabel): Promise<string>;

  /**
   * Returns the value wrapped under `token` and invalidates the token, so a second unwrap fails. Throws a
   * ProviderError `WRAP_INVALID` for an unknown, used or expired token (indistinguishable on purpose).
   */
  unwrap(token: string): Promise<string>;

  /**
   * Stores that detect a record put back from an older copy (the local store's manifest): accepts the records as
   * they are on disk now, after a deliberate restore from a backup. Returns what changed. Absent elsewhere.
   */
  acceptRestore?(): Promise<RestoreChange[]>;

  /**
   * Stores whose tokens are redeemed without the store's key (local: the bot holds only the token) leave receipts
   * that no audit key signed; a command holding the key turns each into an audit entry through `record`, removing it
   * only after `record` resolved. Returns how many it settled. Absent where the store itself audits redemptions.
   */
  settleWraps?(record: (s: WrapSettlement) => Promise<void>): Promise<number>;

  /** Releases clients, timers and file handles. */
  close(): Promise<void>;
}

/** What a wrapped value is for, recorded with it where the store keeps receipts (never the value). */
export interface WrapLabel {
  ref?: string;
  fingerprint?: string;
}

/** One redemption or expiry of a wrapped value, for the audit log (see settleWraps). */
export interface WrapSettlement {
  command: 'token.redeem' | 'token.expire';
  outcome: 'ok' | 'failed';
  ref?: string;
  fingerprint?: string;
  detail: Record<string, unknown>;
}

/** One record whose state a restore changed: `was` what the store recorded, `now` what is on disk. */
export interface RestoreChange {
  record: string;
  was: string;
  now: string;
}

export interface ProviderContext {
  /** Asks the user for a secret (e.g. a passphrase) on the terminal; undefined when there is no TTY. */
  promptSecret?: (question: string) => Promise<string>;
  /** Environment to read credentials from (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Clock, injectable for TTL tests. */
  now?: () => number;
}
