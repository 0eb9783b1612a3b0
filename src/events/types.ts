/**
 * Typed events: what the engine and the application layer tell the rest of keyctl. The audit log, and later alerts
 * and metrics, subscribe to them (src/events/bus.ts); nothing below the CLI writes to a terminal or a log directly.
 *
 * Events never carry secrets: refs, fingerprints (short SHA-256 of the apiKey), store version ids, codes and small
 * facts only. Every field is JSON-serializable so a subscriber can forward an event as it is.
 */

/** Fields every event has. */
export interface EventBase {
  /** ISO-8601 time the event happened (the emitter's clock). */
  time: string;
  /** Slot or account ref (`alpha/arb1`, `@bybit-main`) the event concerns, when there is one. */
  ref?: string;
}

export type RotationMode = 'automatic' | 'assisted';

/** A rotation took its first step (journal "started"). */
export interface RotationStarted extends EventBase {
  type: 'rotation.started';
  ref: string;
  rotationId: string;
  mode: RotationMode;
  /** Why: schedule, manual, forced, offboard:<staff>:<reason>. */
  reason: string;
}

/**
 * One step of a rotation finished. `created`: the new key is stored as PENDING; `tested`: the new key passed
 * (outcome ok) or failed (outcome refused) its test; `promoted`: CURRENT moved to it; `revoked-previous`: the old key
 * was deleted at the exchange and its material dropped; `discarded`: a version that was never promoted was deleted.
 */
export interface RotationStep extends EventBase {
  type: 'rotation.step';
  ref: string;
  rotationId: string;
  step: 'created' | 'tested' | 'promoted' | 'revoked-previous' | 'discarded';
  outcome: 'ok' | 'refused';
  fingerprint?: string;
  /** Store version id (created, discarded). */
  version?: string;
  /** Violation codes (tested, refused). */
  violations?: string[];
  /** Fingerprint of the key CURRENT left (promoted); null when the slot had none. */
  previous?: string | null;
  /** When PREVIOUS may be revoked (promoted). */
  revokeAfter?: string;
  /** Why a version was discarded. */
  why?: string;
}

/** A rotation run ended (finished, or nothing to do). */
export interface RotationDone extends EventBase {
  type: 'rotation.done';
  ref: string;
  rotationId?: string;
  status: 'rotated' | 'revoked-previous' | 'awaiting-grace' | 'nothing-to-do';
  newFingerprint?: string;
  oldFingerprint?: string;
  previousRevoked: boolean;
  resumed: boolean;
}

/** A rotation run stopped part-way; the journal lets a re-run finish it. */
export interface RotationFailed extends EventBase {
  type: 'rotation.failed';
  ref: string;
  rotationId?: string;
  code: string;
  message: string;
}

/**
 * A rotation has been unfinished for longer than the daemon allows (`--stuck-after`): an assisted key nobody entered,
 * an exchange that keeps refusing. Raised once per rotation by the daemon.
 */
export interface RotationStuck extends EventBase {
  type: 'rotation.stuck';
  ref: string;
  rotationId: string;
  /** The journal's last step (started, stored, verified, promoted). */
  step: string;
  /** Since when (ISO): the rotation's start, or for a promoted one the end of its grace period. */
  since: string;
}

/** A key keyctl labelled but no longer holds was deleted at the exchange (orphan sweep). */
export interface KeySwept extends EventBase {
  type: 'key.swept';
  ref: string;
  fingerprint: string;
  /** The key's label at the exchange (`keyctl-<rotationId>`). */
  label: string;
  /** `failed`: the exchange refused the delete for good; the key is still alive and a person must delete it. */
  outcome: 'ok' | 'failed';
  /** The error code when failed. */
  error?: string;
}

/** One key revoked now (revoke, kill), or a failed attempt. */
export interface KeyRevoked extends EventBase {
  type: 'key.revoked';
  ref: string;
  fingerprint: string;
  outcome: 'ok' | 'failed';
  reason: string;
  /** Error code when outcome is failed. */
  error?: string;
}

/** One key verified at its exchange (verify, and later the daemon's re-verification). */
export interface VerificationResult extends EventBase {
  type: 'verification.result';
  ref: string;
  /** Null when no key could be read. */
  fingerprint: string | null;
  /** ok: passed; violation: the policy found violations; error: the key could not be checked. */
  outcome: 'ok' | 'violation' | 'error';
  /** Violation codes (empty unless outcome is violation). */
  violations: string[];
  /** Error code when outcome is error. */
  error?: string;
}

/** Policy violations found on a key, wherever they were found. Alerts subscribe to this one. */
export interface ViolationFound extends EventBase {
  type: 'violation';
  ref: string;
  fingerprint: string | null;
  codes: string[];
  source: 'verify' | 'rotation-test' | 'import';
  /** The checks behind UNVERIFIABLE codes (`ip-lock`): each unaccepted gap is its own alert condition. */
  unverifiable?: string[];
}

/** A key was imported (`keyctl key import`): stored, refused for its violations, or not stored because the store failed. */
export interface KeyImported extends EventBase {
  type: 'key.imported';
  ref: string;
  fingerprint: string;
  /** ok: stored as CURRENT; refused: it has violations and they were not accepted, nothing stored; failed: the write failed. */
  outcome: 'ok' | 'refused' | 'failed';
  /** Store version id of the stored key (ok). */
  version?: string;
  /** Fingerprint of the key that was CURRENT before (ok); null when there was none. */
  replaced?: string | null;
  /** Violation codes: why it was refused, or which were accepted (--accept-violations) when stored. */
  violations: string[];
  /** Error code (failed). */
  error?: string;
}

/** A staff member was offboarded: the slots they could see rotated with no grace, their master keys listed for hand rotation. */
export interface OffboardDone extends EventBase {
  type: 'offboard';
  staff: string;
  /** Slots rotated, and slots whose rotation did not finish. */
  rotated: number;
  failed: number;
  /** Master key refs (`@account`) the person could see: rotated by hand. */
  masterKeys: string[];
}

/** A kill (emergency revoke of every key of some bots) finished. */
export interface KillDone extends EventBase {
  type: 'kill';
  /** The bots killed (every declared bot for --all). */
  bots: string[];
  all: boolean;
  reason: string;
  revoked: number;
  failed: number;
}

/** A lease was taken (tookOver: from a holder whose lease had expired). */
export interface LeaseGained extends EventBase {
  type: 'lease.gained';
  name: string;
  owner: string;
  fence: number;
  tookOver: boolean;
  previousOwner?: string;
}

/** A held lease could not be renewed: someone else holds it now, or the store refused. */
export interface LeaseLost extends EventBase {
  type: 'lease.lost';
  name: string;
  owner: string;
  fence: number;
  /** Error code of the failed renewal. */
  code: string;
}

/** A slot was paused (keyctl kill) or resumed (keyctl resume). */
export interface SlotPaused extends EventBase {
  type: 'slot.pause';
  ref: string;
  action: 'paused' | 'resumed';
  reason: string;
}

/** A kill's trading steps on one slot: orders found and cancelled, positions found and closed (with the bot's key). */
export interface KillTrading extends EventBase {
  type: 'kill.trading';
  ref: string;
  ordersFound: number;
  cancelled: number;
  positionsFound: number;
  closed: number;
  /** Codes of what could not be done or confirmed. */
  problems: string[];
  /** Why nothing was tried. */
  skipped?: string;
}

/** A kill's bot stop on one slot: how the slot's bots under `keyctl exec` took it (src/delivery/supervisors.ts). */
export interface KillStop extends EventBase {
  type: 'kill.stop';
  ref: string;
  /** `failed` when a bot on this host could not be confirmed stopped. */
  outcome: 'ok' | 'failed';
  /** Confirmed stopped by their supervisor on this host. */
  stopped: number;
  /** Their supervisor had already ended. */
  exited: number;
  /** On other hosts: they stop at their next watch. */
  told: number;
  unconfirmed: number;
}

/** One key switched to read-only by `kill --read-only` (or found dead), or a failed attempt. */
export interface KillReadOnly extends EventBase {
  type: 'kill.read-only';
  ref: string;
  fingerprint: string;
  outcome: 'ok' | 'failed';
  /** `read-only`: confirmed by inspecting it; `dead`: the exchange no longer knows the key. */
  state?: string;
  error?: string;
}

/** A kill drill (--dry-run): what a kill would have done, with nothing changed. */
export interface KillDrill extends EventBase {
  type: 'kill.drill';
  bots: string[];
  all: boolean;
  reason: string;
  orders: number;
  positions: number;
  keys: number;
}

/** An alert that did not reach a channel (failed after its retries, or dropped by the rate limit): audited. */
export interface AlertDelivery extends EventBase {
  type: 'alert.delivery';
  channel: string;
  /** The alert's event name (`violation.found`, ...). */
  event: string;
  outcome: 'failed' | 'rate-limited';
  /** The delivery error's code (ALERT_HTTP_STATUS, ALERT_TIMEOUT, ...). */
  error?: string;
}

/** An alert channel credential was stored (`keyctl alert secret`): its path and fingerprint, never the value. */
export interface AlertSecretStored extends EventBase {
  type: 'alert.secret';
  path: string;
  fingerprint: string;
  /** Fingerprint of the value it replaced (now dropped), or null. */
  replaced: string | null;
}

/**
 * A staff member vouched for a checklist item only a person can check at the exchange or on the host (`keyctl
 * attest`), for one bot. `by` is the staff member who vouches; the audit entry's actor is whoever ran the command.
 */
export interface Attestation extends EventBase {
  type: 'attestation';
  /** The checklist item's id (kebab-case). */
  item: string;
  bot: string;
  by: string;
  note?: string;
}

/** One channel's delivery of `keyctl alert test`: what the checklist reads as "alerting was tested". */
export interface AlertTested extends EventBase {
  type: 'alert.test';
  channel: string;
  outcome: 'sent' | 'failed';
  /** The delivery error's code (failed). */
  error?: string;
}

/**
 * A scheduled run happened (`rotate --due`, `verify --due`, a daemon cycle), whether or not anything was due: the
 * checklist's proof that the schedule is being kept, which the entries of the work it did cannot give when there was none.
 */
export interface DueRun extends EventBase {
  type: 'due.run';
  runner: 'rotate' | 'verify' | 'daemon';
  /** Keys or slots it found due. */
  due: number;
  /** Of those, how many it could not finish. */
  failed: number;
}

/**
 * `keyctl checklist`'s verdict on one bot, recorded so that `exec --strict` can refuse a bot whose last verdict failed
 * or is old without running any check itself (no exchange call on a bot's start).
 */
export interface ChecklistVerdict extends EventBase {
  type: 'checklist.verdict';
  bot: string;
  passed: boolean;
  /** The ids of the required items that did not pass. */
  failing: string[];
}

export type KeyctlEvent =
  | RotationStarted
  | RotationStep
  | RotationDone
  | RotationFailed
  | RotationStuck
  | KeySwept
  | KeyRevoked
  | VerificationResult
  | ViolationFound
  | KeyImported
  | OffboardDone
  | KillDone
  | LeaseGained
  | LeaseLost
  | AlertDelivery
  | AlertSecretStored
  | SlotPaused
  | KillTrading
  | KillStop
  | KillReadOnly
  | KillDrill
  | Attestation
  | AlertTested
  | DueRun
  | ChecklistVerdict;

export type EventType = KeyctlEvent['type'];

/** An event as an emitter builds it: the bus stamps `time` when it is absent. */
export type EventInput = KeyctlEvent extends infer E ? (E extends KeyctlEvent ? Omit<E, 'time'> & { time?: string } : never) : never;

/**
 * Where emitters send events. `emit` resolves once every *durable* subscriber (the audit log) has recorded the event
 * and rejects when one of them failed, so a step whose audit entry could not be written does not count as done.
 * Other subscribers (alerts, metrics, loggers) never make `emit` fail.
 */
export interface EventSink {
  emit(event: EventInput): Promise<void>;
}

/** Log levels, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * The logger every layer below the CLI takes by injection (never a global, never the console). Messages and fields
 * pass through the scope's redactor before they are written.
 */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line (e.g. `{ ref }`). */
  child(fields: Record<string, unknown>): Logger;
}
