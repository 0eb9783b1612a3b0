/**
 * The rotation engine: ARCHITECTURE.md's protocol, crash-safe and resumable.
 *
 *   lock -> journal "started" -> create at the exchange -> store as PENDING -> journal "stored"
 *        -> test (inspect with its own credentials + policy + one signed read) -> journal "verified"
 *        -> promote (CURRENT moves, PREVIOUS follows, one atomic store call) -> journal "promoted"
 *        -> after the grace period: delete PREVIOUS at the exchange, drop its material -> journal cleared -> unlock
 *
 * Every step is idempotent and the journal says which step comes next, so a run killed anywhere is finished (or
 * undone, when the new key never reached the store) by the next run. Keys keyctl creates carry the label
 * `keyctl-<rotationId>`; the orphan sweep deletes labelled keys the store does not hold. The bot always has a
 * working, verified CURRENT key: promotion happens only after the new key passed its test.
 */
import { randomBytes } from 'node:crypto';
import type { SecretStore } from '../../providers/types.js';
import type { CoordinationStore, Lease } from '../../providers/coordination.js';
import type { EventInput, EventSink, Logger } from '../events/types.js';
import type { Inventory, Slot } from '../domain/inventory.js';
import type { AcceptedGap } from '../domain/inspection.js';
import { accountOf, readMasterKey } from '../domain/resolve.js';
import { ConflictError, ExchangeError, KeyctlError, LockedError, RotationIncompleteError } from '@keyctl/client/errors';
import { fingerprint, fromSecretFields, toSecretFields, type Credentials } from '../domain/credentials.js';
import { storePath } from '../domain/refs.js';
import { badResponse, evaluateKey, keyRejected, type Violation } from '../domain/policy.js';
import { configDurationMs } from '../../schedules/duration.js';
import { exchangeAccount, type CallOptions, type ExchangeAccount, type ExchangeAdapter } from '../exchanges/types.js';
import { isKeyRejected, mayBeIpRefusal } from '../exchanges/ccxt.js';
import { failpoint } from './failpoints.js';
import { adoptLegacyJournal, clearJournal, readJournal, writeJournal, type JournalEntry, type JournalHandle } from './journal.js';
import { readConsumers } from '../delivery/handover.js';
import { assertNotPaused } from '../delivery/pause.js';

/** Lease on a slot while it rotates; renewed by a heartbeat every third of it, so a killed run frees the slot soon. */
export const LEASE_MS = 30_000;
export const LABEL_PREFIX = 'keyctl-';
/**
 * How long a new key may keep being refused before its test fails: exchanges replicate keys, so a key their create
 * call just returned can be unknown to the authentication layer for a few seconds. Polled with growing pauses.
 */
export const PROPAGATION_WAIT_MS = 20_000;
const PROPAGATION_POLL_MS = [250, 500, 1_000, 2_000, 4_000];
/**
 * Most passes of a revoke: one that acts and one that finds nothing left, plus room for a rotation whose lease a kill
 * seized to store the key it was creating. More than that means something keeps creating keys: a failure.
 */
export const REVOKE_PASSES = 4;

/** Reads a new key from a human, for assisted rotation (exchanges without a key API, or no master key stored). */
export interface AssistedIo {
  /** Shows instructions to the operator (stderr). */
  instruct(text: string): void;
  /** Reads the new key the operator created, or null when nobody can answer (non-interactive, no stdin). */
  readKey(): Promise<Credentials | null>;
}

/** What the engine needs, as plain values: no CLI, no terminal, no global state. */
export interface RotationDeps {
  /** The accounts the slots belong to. */
  inventory: Inventory;
  store: SecretStore;
  /** Leases, journals and the hand-over registry. */
  coordination: CoordinationStore;
  /** Where every step is reported; the audit log subscribes (durably: a step whose entry failed did not happen). */
  events: EventSink;
  logger?: Logger;
  adapter(exchange: string): Promise<ExchangeAdapter>;
  /** Lease owner: host and pid. */
  owner: string;
  now?: () => number;
  env?: NodeJS.ProcessEnv;
  assisted?: AssistedIo;
  call?: CallOptions;
  /** Lease length (ms); default LEASE_MS. KEYCTL_LEASE_MS sets it from the CLI. */
  leaseMs?: number;
  /** How long a new key's refusal counts as propagation; default PROPAGATION_WAIT_MS. KEYCTL_PROPAGATION_WAIT_MS sets it. */
  propagationWaitMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
}

export interface RotateOptions {
  /** Start a new rotation (after finishing any interrupted one). False: only finish what is pending. */
  start: boolean;
  /** Grace period for PREVIOUS in ms; default the slot's rotate.grace. */
  graceMs?: number;
  /** Revoke a PREVIOUS still in its grace period now (offboarding, --force). */
  revokeNow?: boolean;
  reason: string;
}

export type RotationStatus = 'rotated' | 'revoked-previous' | 'awaiting-grace' | 'nothing-to-do';

export interface RotationOutcome {
  ref: string;
  status: RotationStatus;
  rotationId?: string;
  newFingerprint?: string;
  oldFingerprint?: string;
  /** When PREVIOUS will be (or was) revoked. */
  revokeAfter?: string;
  previousRevoked: boolean;
  /**
   * Why PREVIOUS was revoked: its grace period was over (or zero), every bot started by `keyctl exec` confirmed the new
   * key before it ended, or the caller asked for it now (--force, offboarding).
   */
  revokeReason?: 'grace-over' | 'bots-confirmed' | 'forced';
  /** Orphaned keyctl-labelled keys deleted at the exchange. */
  orphansDeleted: number;
  /** Orphans the exchange would not let keyctl delete: still alive, a person must delete them (each with a hint). */
  orphansKept: OrphanKept[];
  /** True when this run finished an interrupted rotation. */
  resumed: boolean;
}

export interface RevokeOutcome {
  ref: string;
  /** Fingerprints revoked. */
  revoked: string[];
  failed: Array<{ fingerprint: string; code: string; message: string }>;
  orphansDeleted: number;
  orphansKept: OrphanKept[];
}

/** An orphaned key the sweep could not delete, e.g. a KuCoin key whose passphrase was never stored. */
export interface OrphanKept {
  fingerprint: string;
  label: string;
  code: string;
  message: string;
  hint?: string;
}

/** What one revoke pass did (see RotationEngine.revokePass). */
interface RevokePass {
  revoked: string[];
  /** Final failures. */
  failed: RevokeOutcome['failed'];
  /** Orphans the exchange would not delete. */
  kept: OrphanKept[];
  orphansDeleted: number;
  /** A version changed under the pass: look again. */
  raced: boolean;
}

type StepFields = Omit<Extract<EventInput, { type: 'rotation.step' }>, 'type' | 'ref' | 'rotationId' | 'time'>;

/** `{ fingerprint }` when there is one (events omit absent fields rather than carrying undefined). */
function fp(fingerprint: string | undefined): { fingerprint?: string } {
  return fingerprint ? { fingerprint } : {};
}

interface SlotRun {
  slot: Slot;
  /** The rotation this run drives, once known (for events about it). */
  rotationId?: string;
  path: string;
  account: ExchangeAccount;
  adapter: ExchangeAdapter;
  master: Credentials | null;
  lease: Lease;
}

export class RotationEngine {
  private readonly now: () => number;
  private readonly leaseMs: number;

  constructor(private readonly deps: RotationDeps) {
    this.now = deps.now ?? Date.now;
    this.leaseMs = deps.leaseMs ?? LEASE_MS;
  }

  /** Keeps a run's lease alive while slow exchange calls are under way. */
  private heartbeat(run: SlotRun): () => void {
    if (!run.lease.token) return () => undefined;
    const timer = setInterval(
      () => {
        this.deps.coordination.renew(run.lease, this.leaseMs).then(
          (lease) => (run.lease = lease),
          // A lost lease also surfaces at the next step: the journal write is fenced by it.
          (err: unknown) => this.leaseLost(run, err),
        );
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Rotates one slot (or finishes its interrupted rotation / pending revocation). */
  async rotate(slot: Slot, options: RotateOptions): Promise<RotationOutcome> {
    let run: SlotRun;
    try {
      run = await this.open(slot);
    } catch (err) {
      await this.failed(slot.ref, undefined, err);
      throw err;
    }
    const stop = this.heartbeat(run);
    try {
      // A paused slot (keyctl kill) gets no new key: nothing is started or resumed until keyctl resume.
      await assertNotPaused(this.deps.coordination, slot.ref, run.path);
      const outcome = await this.drive(run, options);
      await this.emit({
        type: 'rotation.done',
        ref: slot.ref,
        status: outcome.status,
        previousRevoked: outcome.previousRevoked,
        resumed: outcome.resumed,
        ...(outcome.rotationId ? { rotationId: outcome.rotationId } : {}),
        ...(outcome.newFingerprint ? { newFingerprint: outcome.newFingerprint } : {}),
        ...(outcome.oldFingerprint ? { oldFingerprint: outcome.oldFingerprint } : {}),
      });
      return outcome;
    } catch (err) {
      const incomplete = asIncomplete(err, slot.ref);
      await this.failed(slot.ref, run.rotationId, incomplete);
      throw incomplete;
    } finally {
      stop();
      await this.deps.coordination.release(run.lease).catch(() => undefined);
    }
  }

  /**
   * Revokes every key of a slot now: each staged version is deleted at the exchange (or, assisted, confirmed dead)
   * and its material dropped; labelled orphans are swept; any rotation journal is closed. The bot is left without a
   * key, which is the point.
   *
   * With `emergency` (keyctl kill) a rotation holding the slot's lease neither stops nor delays it: the lease is seized
   * (CoordinationStore.seize), and its new fence refuses the rotation's later journal writes. That rotation never
   * promotes and deletes a key it created but could not journal; what it stored before is revoked here.
   *
   * Passes repeat until one finds nothing left (no live version in the store, no labelled key at the exchange that the
   * store does not hold), since a rotation caught mid-step may still store the key it had just created. A key that
   * could not be revoked, an orphan the exchange would not delete, or a slot still changing after REVOKE_PASSES passes
   * is in `failed`: nobody reports success while a key it could not account for may be alive.
   */
  async revoke(slot: Slot, options: { reason: string; emergency?: boolean }): Promise<RevokeOutcome> {
    const run = await this.open(slot, options.emergency ? { seize: true } : {});
    const stop = this.heartbeat(run);
    const outcome: RevokeOutcome = { ref: slot.ref, revoked: [], failed: [], orphansDeleted: 0, orphansKept: [] };
    try {
      for (let pass = 1; ; pass++) {
        const p = await this.revokePass(run, options);
        failpoint('revoke.after-pass', this.deps.env);
        outcome.revoked.push(...p.revoked);
        outcome.orphansDeleted += p.orphansDeleted;
        if (p.failed.length > 0 || p.kept.length > 0) {
          // Final for this run (a retryable exchange error was already retried by the call): another pass would only
          // meet them again.
          outcome.failed.push(...p.failed);
          outcome.orphansKept.push(...p.kept);
          for (const k of p.kept) {
            outcome.failed.push({
              fingerprint: k.fingerprint,
              code: k.code,
              message: `the orphaned key ${k.label} is still alive: the exchange would not delete it (${k.message})`,
            });
          }
          break;
        }
        if (!p.raced && p.revoked.length === 0 && p.orphansDeleted === 0) break; // a pass that found nothing: done
        if (pass >= REVOKE_PASSES) {
          outcome.failed.push({
            fingerprint: 'slot',
            code: 'REVOKE_UNSETTLED',
            message: `keys of ${slot.ref} kept appearing in the store or at the exchange through ${pass} passes; one may be alive. Run the command again.`,
          });
          break;
        }
      }
      if (outcome.failed.length === 0) await clearJournal(this.deps.coordination, run.path, run.lease);
      return outcome;
    } finally {
      stop();
      await this.deps.coordination.release(run.lease).catch(() => undefined);
    }
  }

  /**
   * The daemon's periodic sweep outside rotations: deletes the slot's labelled keys the store does not hold (a key
   * created by a process that died before it journalled, a delete that failed at the exchange). Under the slot's
   * lease, so it never races a rotation that is about to store the key it just created; a held lease means a rotation
   * runs now, and that rotation sweeps at its end: null.
   */
  async sweepOrphans(slot: Slot): Promise<{ deleted: number; kept: OrphanKept[] } | null> {
    let run: SlotRun;
    try {
      run = await this.open(slot);
    } catch (err) {
      if (err instanceof RotationIncompleteError && err.code === 'ROTATION_IN_PROGRESS') return null;
      throw err;
    }
    const stop = this.heartbeat(run);
    try {
      return await this.sweep(run);
    } finally {
      stop();
      await this.deps.coordination.release(run.lease).catch(() => undefined);
    }
  }

  /**
   * One pass over the slot: every live version revoked, then the orphan sweep. A version a concurrent writer changed
   * under this pass (a stage moved, material dropped) is `raced`, not failed: the next pass looks at it again.
   */
  private async revokePass(run: SlotRun, options: { reason: string }): Promise<RevokePass> {
    const pass: RevokePass = { revoked: [], failed: [], kept: [], orphansDeleted: 0, raced: false };
    const { store } = this.deps;
    const info = await store.describe(run.path);
    failpoint('revoke.after-describe', this.deps.env);
    for (const v of info?.versions ?? []) {
      if (v.destroyed) continue;
      const fp = v.meta.fingerprint ?? v.id;
      try {
        const key = await this.readVersion(run.path, v.id);
        await this.revokeAtExchange(run, key, fp);
        failpoint('revoke.after-exchange', this.deps.env);
        const now = await store.describe(run.path);
        for (const stage of now?.versions.find((x) => x.id === v.id)?.stages ?? []) {
          await store.moveStage(run.path, { stage, to: null, expect: v.id });
        }
        failpoint('store.destroy', this.deps.env);
        await store.destroy(run.path, v.id);
        pass.revoked.push(fp);
        await this.emit({ type: 'key.revoked', ref: run.slot.ref, fingerprint: fp, outcome: 'ok', reason: options.reason });
      } catch (err) {
        if (await this.lostRace(run, v.id, err)) {
          pass.raced = true;
          continue;
        }
        const e = err instanceof KeyctlError ? err : undefined;
        pass.failed.push({ fingerprint: fp, code: e?.code ?? 'INTERNAL', message: e?.message ?? 'unexpected error' });
        await this.emit({
          type: 'key.revoked',
          ref: run.slot.ref,
          fingerprint: fp,
          outcome: 'failed',
          reason: options.reason,
          error: e?.code ?? 'INTERNAL',
        }).catch(() => undefined);
      }
    }
    try {
      ({ deleted: pass.orphansDeleted, kept: pass.kept } = await this.sweep(run));
    } catch (err) {
      const e = err instanceof KeyctlError ? err : undefined;
      pass.failed.push({ fingerprint: 'orphan-sweep', code: e?.code ?? 'INTERNAL', message: e?.message ?? 'unexpected error' });
    }
    return pass;
  }

  /**
   * Whether revoking `version` failed because another writer changed it meanwhile (a rotation whose lease was just
   * seized moving a stage, or discarding its own new version): a stage compare-and-set lost, or the version's material
   * dropped or gone. The engine deletes a key at the exchange before it drops its material, so a version destroyed by
   * someone else is accounted for; the next pass sees whatever else changed.
   */
  private async lostRace(run: SlotRun, version: string, err: unknown): Promise<boolean> {
    if (err instanceof ConflictError) return true;
    if (!(err instanceof KeyctlError) || (err.code !== 'NOT_FOUND' && err.code !== 'DESTROYED')) return false;
    const info = await this.deps.store.describe(run.path).catch(() => undefined);
    if (info === undefined) return false;
    const v = info?.versions.find((x) => x.id === version);
    return !v || v.destroyed;
  }

  private async drive(run: SlotRun, options: RotateOptions): Promise<RotationOutcome> {
    const outcome: RotationOutcome = {
      ref: run.slot.ref,
      status: 'nothing-to-do',
      previousRevoked: false,
      orphansDeleted: 0,
      orphansKept: [],
      resumed: false,
    };
    let j = await readJournal(this.deps.coordination, run.path);
    if (j) run.rotationId = j.entry.rotationId;

    // An earlier rotation is not finished: this run finishes it and starts no other, unless --force asks for a new one.
    if (j?.entry.step === 'promoted') {
      outcome.rotationId = j.entry.rotationId;
      outcome.oldFingerprint = j.entry.oldFingerprint;
      outcome.revokeAfter = j.entry.revokeAfter;
      const graceOver = Date.parse(j.entry.revokeAfter ?? '') <= this.now();
      const confirmed = !graceOver && (await this.everyConsumerSwitched(run, j.entry));
      if (!graceOver && !confirmed && !options.revokeNow) {
        // Starting a new rotation now would push the key in grace out of PREVIOUS and out of keyctl's sight.
        outcome.status = 'awaiting-grace';
        return outcome;
      }
      await this.revokePrevious(run, j);
      outcome.previousRevoked = true;
      outcome.revokeReason = graceOver ? 'grace-over' : confirmed ? 'bots-confirmed' : 'forced';
      outcome.status = 'revoked-previous';
      if (!(options.start && options.revokeNow)) return outcome;
      j = null;
    }

    if (j && (j.entry.step === 'stored' || j.entry.step === 'verified') && !(await this.isLive(run, j.entry.newVersion))) {
      // The new key this journal names was discarded or revoked since (a kill that could not finish, a run that deleted
      // its key after a journal write whose reply was lost): nothing is left to finish. Its deletion is in the audit log.
      this.deps.logger?.warn('rotation journal names a key that is gone; closing it', {
        ref: run.slot.ref,
        rotationId: j.entry.rotationId,
      });
      await clearJournal(this.deps.coordination, run.path, run.lease);
      j = null;
    }
    if (j) outcome.resumed = true;
    else if (options.start) j = await this.begin(run, options.reason);
    else return outcome;

    outcome.rotationId = j.entry.rotationId;
    if (j.entry.step === 'started') {
      // The sweep deletes labelled keys the store does not hold: a run whose lease was broken must not sweep away the
      // key a newer run has just created.
      await this.holdSlot(run);
      const swept = await this.sweep(run);
      outcome.orphansDeleted += swept.deleted;
      outcome.orphansKept.push(...swept.kept);
      j = await this.createAndStore(run, j);
    }
    if (j.entry.step === 'stored') j = await this.test(run, j);
    if (j.entry.step === 'verified') j = await this.promote(run, j, options.graceMs ?? graceOf(run.slot));
    outcome.status = 'rotated';
    outcome.newFingerprint = j.entry.newFingerprint;
    outcome.oldFingerprint = j.entry.oldFingerprint;
    outcome.revokeAfter = j.entry.revokeAfter;
    const graceOver = Date.parse(j.entry.revokeAfter ?? '') <= this.now();
    if (graceOver || options.revokeNow) {
      await this.revokePrevious(run, j);
      outcome.previousRevoked = true;
      outcome.revokeReason = graceOver ? 'grace-over' : 'forced';
    }
    return outcome;
  }

  /**
   * Takes the slot's lease and gathers what every step needs. `seize` (keyctl kill) takes it even from a live holder
   * (CoordinationStore.seize): the takeover is an event naming whose lease was broken.
   */
  private async open(slot: Slot, options: { seize?: boolean } = {}): Promise<SlotRun> {
    const accountConfig = accountOf(this.deps.inventory, slot);
    const path = storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub });
    // Load the adapter (and with it ccxt, a second of compiling) before taking the lease, so the lease's heartbeat is
    // never starved by module loading.
    const adapter = await this.deps.adapter(accountConfig.exchange);
    const account = exchangeAccount(accountConfig);
    const { coordination } = this.deps;
    let lease: Lease;
    try {
      lease = options.seize
        ? await coordination.seize(`rotate/${path}`, this.deps.owner, this.leaseMs)
        : await coordination.acquire(`rotate/${path}`, this.deps.owner, this.leaseMs);
    } catch (err) {
      if (err instanceof LockedError) {
        throw new RotationIncompleteError('ROTATION_IN_PROGRESS', `Another keyctl is rotating ${slot.ref} right now. ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
    if (options.seize && lease.tookOver) {
      this.deps.logger?.warn('lease seized: the rotation holding it stops at its next step', {
        ref: slot.ref,
        previousOwner: lease.previousOwner ?? 'unknown',
        fence: lease.fence,
      });
    }
    try {
      await this.emit({
        type: 'lease.gained',
        ref: slot.ref,
        name: lease.name,
        owner: lease.owner,
        fence: lease.fence,
        tookOver: lease.tookOver,
        ...(lease.previousOwner ? { previousOwner: lease.previousOwner } : {}),
      });
    } catch (err) {
      await coordination.release(lease).catch(() => undefined);
      throw err;
    }
    failpoint('rotate.after-lock', this.deps.env);
    try {
      if (lease.token) await adoptLegacyJournal(this.deps.store, this.deps.coordination, path, lease);
      const master = await readMasterKey(this.deps.store, slot.account);
      return { slot, path, account, adapter, master, lease };
    } catch (err) {
      if (lease.token) await this.deps.coordination.release(lease).catch(() => undefined);
      throw err;
    }
  }

  private mode(run: SlotRun): 'automatic' | 'assisted' {
    return run.master && run.adapter.capabilities.create && run.adapter.capabilities.delete ? 'automatic' : 'assisted';
  }

  private async begin(run: SlotRun, reason: string): Promise<JournalHandle> {
    const { store } = this.deps;
    await this.discardStalePending(run);
    const info = await store.describe(run.path);
    const oldVersion = info?.stages.CURRENT ?? null;
    const oldMeta = oldVersion ? info?.versions.find((v) => v.id === oldVersion)?.meta : undefined;
    const rotationId = randomBytes(6).toString('hex');
    const entry: JournalEntry = {
      rotationId,
      step: 'started',
      mode: this.mode(run),
      startedAt: new Date(this.now()).toISOString(),
      label: `${LABEL_PREFIX}${rotationId}`,
      oldVersion,
      ...(oldMeta?.fingerprint ? { oldFingerprint: oldMeta.fingerprint } : {}),
      reason,
    };
    const existing = await readJournal(this.deps.coordination, run.path);
    const j = await writeJournal(this.deps.coordination, run.path, entry, existing?.version ?? null, run.lease);
    run.rotationId = rotationId;
    await this.emit({ type: 'rotation.started', ref: run.slot.ref, rotationId, mode: entry.mode, reason });
    failpoint('rotate.after-journal', this.deps.env);
    return j;
  }

  /** A PENDING left without a journal (an import tool, a bug) is not trusted: delete it rather than promote it. */
  private async discardStalePending(run: SlotRun): Promise<void> {
    const info = await this.deps.store.describe(run.path);
    const pending = info?.stages.PENDING;
    if (!pending || pending === info?.stages.CURRENT) return;
    await this.discardVersion(run, pending, 'stale PENDING without a journal');
  }

  private async createAndStore(run: SlotRun, j: JournalHandle): Promise<JournalHandle> {
    const { store } = this.deps;
    const e = j.entry;
    // A crash after the store write but before the journal update leaves a PENDING tagged with this rotation.
    const info = await store.describe(run.path);
    const pendingId = info?.stages.PENDING;
    const pending = pendingId ? info?.versions.find((v) => v.id === pendingId) : undefined;
    if (pending && pending.meta.rotationId === e.rotationId) {
      // The run that stored it died before it recorded the creation: record it now, so the audit log has every key.
      await this.step(run, e, {
        step: 'created',
        outcome: 'ok',
        ...(pending.meta.fingerprint ? { fingerprint: pending.meta.fingerprint } : {}),
        version: pending.id,
      });
      return this.advance(run, j, {
        step: 'stored',
        newVersion: pending.id,
        ...(pending.meta.fingerprint ? { newFingerprint: pending.meta.fingerprint } : {}),
      });
    }

    // Nothing is created for a slot a kill paused, or by a run whose lease was broken while it stalled.
    await this.holdSlot(run);
    let created: Credentials;
    if (e.mode === 'automatic') {
      const { slot } = run;
      created = await run.adapter.createKey({
        account: run.account,
        master: run.master!,
        subaccount: slot.uid,
        scopes: slot.scopes,
        ips: slot.ips,
        label: e.label,
        ...this.deps.call,
      });
      failpoint('rotate.after-create', this.deps.env);
    } else {
      created = await this.readAssistedKey(run, e);
    }
    const fp = fingerprint(created.apiKey);
    let newVersion: string;
    try {
      failpoint('store.write-pending', this.deps.env);
      ({ version: newVersion } = await store.write(run.path, {
        secret: toSecretFields(created),
        meta: {
          fingerprint: fp,
          source: e.mode === 'automatic' ? 'rotation' : 'assisted-rotation',
          rotationId: e.rotationId,
          createdBy: this.deps.owner,
        },
        stage: 'PENDING',
        expect: null,
        // Per rotation and key: a retried write of this key finds its version; a key created after this one was
        // discarded (its journal write failed, the run is re-run) is a new version.
        idempotencyKey: `rotation-${e.rotationId}-pending-${fp}`,
      }));
    } catch (err) {
      // The store refused the new key: it must not stay alive untracked. The journal still says "started", so if this
      // delete fails too, the next run's sweep finds the key by its label.
      if (e.mode === 'automatic') await this.deleteAtExchange(run, created).catch(() => undefined);
      throw err;
    }
    failpoint('rotate.after-store', this.deps.env);
    await this.step(run, e, { step: 'created', outcome: 'ok', fingerprint: fp, version: newVersion });
    // Until the journal names it, only this run knows the new key is its own. A journal write that fails (FENCED: a kill
    // seized the lease; or the coordination store failed) leaves no one to finish or undo it, so it is deleted here,
    // at the exchange and in the store. A kill that saw it stored revoked it already; deleting twice is harmless.
    return this.advance(run, j, { step: 'stored', newVersion, newFingerprint: fp }, () =>
      this.discardVersion(run, newVersion, 'its journal write failed'),
    );
  }

  private async readAssistedKey(run: SlotRun, e: JournalEntry): Promise<Credentials> {
    const io = this.deps.assisted;
    const why = !run.master ? `no master key is stored for @${run.slot.account}` : `${run.account.exchange} offers no API to create keys`;
    const text = assistedInstructions(run, e, why);
    io?.instruct(text);
    const key = io ? await io.readKey() : null;
    if (!key) {
      throw new RotationIncompleteError('ASSISTED_KEY_REQUIRED', `Rotation of ${run.slot.ref} needs a key created by hand (${why}).`, {
        hint: `Create the key as described, then pipe it in: keyctl rotate ${run.slot.ref} < new-key.json`,
        details: { instructions: text },
      });
    }
    return key;
  }

  /**
   * Inspects and pings the new key. A refusal (unknown key, address not allowed) is retried until the propagation
   * wait is spent: the exchange may not know the key it just created yet. Whatever else goes wrong is final at once.
   */
  private async inspectNewKey(run: SlotRun, key: Credentials): Promise<Violation[]> {
    const sleep = this.deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    let waited = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        const inspection = await run.adapter.inspect({
          account: run.account,
          key,
          role: 'bot',
          subaccount: run.slot.uid,
          ...(run.master ? { master: run.master } : {}),
          ...this.deps.call,
        });
        const violations = evaluateKey(
          inspection,
          { kind: 'bot', scopes: run.slot.scopes, ips: run.slot.ips, subaccount: run.slot.uid },
          // The account's accepted gaps (accounts.<name>.accept) hold for a new key as for the one verify checks.
          { now: this.now(), ...acceptOf(this.deps.inventory, run.slot) },
        );
        if (violations.length === 0) await run.adapter.ping({ account: run.account, key, ...this.deps.call });
        return violations;
      } catch (err) {
        const budget = (this.deps.propagationWaitMs ?? PROPAGATION_WAIT_MS) - waited;
        const refused = err instanceof ExchangeError && !err.retryable && (err.code === 'KEY_REJECTED' || err.code === 'IP_NOT_ALLOWED');
        if (!refused || budget <= 0) throw err;
        const pause = Math.min(budget, PROPAGATION_POLL_MS[Math.min(attempt, PROPAGATION_POLL_MS.length - 1)]!);
        this.deps.logger?.info('new key refused; waiting for it to propagate at the exchange', {
          ref: run.slot.ref,
          code: err.code,
          waitedMs: waited,
        });
        await sleep(pause);
        waited += pause;
      }
    }
  }

  private async test(run: SlotRun, j: JournalHandle): Promise<JournalHandle> {
    const e = j.entry;
    const key = await this.readVersion(run.path, e.newVersion!);
    let violations: Violation[];
    let refusalHint: string | undefined;
    try {
      violations = await this.inspectNewKey(run, key);
    } catch (err) {
      if (err instanceof KeyctlError && err.retryable) throw err; // unknown outcome: keep the journal, re-run tests again
      if (!(err instanceof ExchangeError)) throw err;
      violations = [err.code === 'EXCHANGE_BAD_RESPONSE' ? badResponse(err.message) : keyRejected(`${err.code}: ${err.message}`)];
      // The new key is locked to the slot's addresses: refused from here, it says where keyctl runs, not what is wrong.
      if (mayBeIpRefusal(err)) refusalHint = err.hint;
    }
    if (violations.length > 0) {
      await this.discardVersion(run, e.newVersion!, 'failed its test');
      await clearJournal(this.deps.coordination, run.path, run.lease);
      const codes = violations.map((v) => v.code);
      await this.step(run, e, { step: 'tested', outcome: 'refused', violations: codes, ...fp(e.newFingerprint) });
      await this.emit({ type: 'violation', ref: run.slot.ref, fingerprint: e.newFingerprint ?? null, codes, source: 'rotation-test' });
      throw new RotationIncompleteError(
        'ROTATION_TEST_FAILED',
        `The new key for ${run.slot.ref} failed its test (${violations.map((v) => v.code).join(', ')}); it was deleted and the current key kept.`,
        {
          hint: refusalHint
            ? `Nothing was lost and the bot keeps its current key. ${refusalHint} Then re-run.`
            : "Nothing was lost and the bot keeps its current key. Fix what the violations say (often the master key's own permissions), then re-run.",
          details: { violations },
        },
      );
    }
    await this.step(run, e, { step: 'tested', outcome: 'ok', ...fp(e.newFingerprint) });
    const next = await this.advance(run, j, { step: 'verified' });
    failpoint('rotate.after-verify', this.deps.env);
    return next;
  }

  private async promote(run: SlotRun, j: JournalHandle, graceMs: number): Promise<JournalHandle> {
    const { store } = this.deps;
    const e = j.entry;
    // A kill during this rotation paused the slot and seized its lease: the new key must never go live. Stop here; the
    // kill revokes it with every other key of the slot.
    await this.holdSlot(run);
    const info = await store.describe(run.path);
    if (info?.stages.CURRENT !== e.newVersion) {
      try {
        failpoint('store.promote', this.deps.env);
        await store.moveStage(run.path, { stage: 'CURRENT', to: e.newVersion!, expect: e.oldVersion ?? null });
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        // CURRENT changed under us (a key import during the rotation): the operator's choice wins; ours is discarded.
        await this.discardVersion(run, e.newVersion!, 'CURRENT changed during rotation');
        await clearJournal(this.deps.coordination, run.path, run.lease);
        throw new RotationIncompleteError(
          'ROTATION_SUPERSEDED',
          `CURRENT of ${run.slot.ref} changed while it was being rotated; the new key was deleted.`,
          { cause: err },
        );
      }
    }
    const after = await store.describe(run.path);
    if (after?.stages.PENDING === e.newVersion) await store.moveStage(run.path, { stage: 'PENDING', to: null, expect: e.newVersion! });
    failpoint('rotate.after-promote', this.deps.env);
    const revokeAfter = new Date(this.now() + graceMs).toISOString();
    await this.step(run, e, { step: 'promoted', outcome: 'ok', previous: e.oldFingerprint ?? null, revokeAfter, ...fp(e.newFingerprint) });
    return this.advance(run, j, { step: 'promoted', revokeAfter });
  }

  /**
   * True when bots started by `keyctl exec` use this slot and every one of them confirmed it switched to the new key:
   * then PREVIOUS can go before its grace period ends. With no registered consumer, the grace period decides.
   */
  private async everyConsumerSwitched(run: SlotRun, e: JournalEntry): Promise<boolean> {
    if (!e.newFingerprint) return false;
    const consumers = Object.values(await readConsumers(this.deps.coordination, run.path));
    return consumers.length > 0 && consumers.every((c) => c.fingerprint === e.newFingerprint);
  }

  /** Deletes PREVIOUS at the exchange (or, assisted, confirms it no longer authenticates), then drops its material. */
  private async revokePrevious(run: SlotRun, j: JournalHandle): Promise<void> {
    const { store } = this.deps;
    const e = j.entry;
    if (e.oldVersion) {
      const info = await store.describe(run.path);
      const old = info?.versions.find((v) => v.id === e.oldVersion);
      if (old?.destroyed) {
        // The run that dropped its material died before it recorded the revocation: record it now. (A crash between
        // this entry and the journal's clearing records it twice, which beats never.)
        await this.step(run, e, { step: 'revoked-previous', outcome: 'ok', ...fp(old.meta.fingerprint) });
      }
      if (old && !old.destroyed) {
        const key = await this.readVersion(run.path, old.id);
        await this.revokeAtExchange(run, key, old.meta.fingerprint ?? old.id);
        failpoint('rotate.after-revoke-exchange', this.deps.env);
        if (info?.stages.PREVIOUS === old.id) await store.moveStage(run.path, { stage: 'PREVIOUS', to: null, expect: old.id });
        failpoint('store.destroy', this.deps.env);
        await store.destroy(run.path, old.id);
        failpoint('rotate.after-revoke-store', this.deps.env);
        await this.step(run, e, { step: 'revoked-previous', outcome: 'ok', ...fp(old.meta.fingerprint) });
      }
    }
    await this.revokeRetired(run, e);
    await clearJournal(this.deps.coordination, run.path, run.lease);
  }

  /**
   * Revokes the slot's retired keys: versions no stage points at whose material is kept. A key import pushes the key
   * it replaces into PREVIOUS, and the next import or promotion pushes that one out of every stage, still alive at the
   * exchange; nothing else would ever revoke it (and a store may prune a version no stage points at). They go with
   * PREVIOUS, once its grace period is over.
   */
  private async revokeRetired(run: SlotRun, e: JournalEntry): Promise<void> {
    const { store } = this.deps;
    const info = await store.describe(run.path);
    const staged = new Set(Object.values(info?.stages ?? {}));
    for (const v of info?.versions ?? []) {
      if (v.destroyed || staged.has(v.id) || v.id === e.newVersion) continue;
      const key = await this.readVersion(run.path, v.id);
      await this.revokeAtExchange(run, key, v.meta.fingerprint ?? v.id);
      failpoint('store.destroy', this.deps.env);
      await store.destroy(run.path, v.id);
      await this.step(run, e, { step: 'revoked-previous', outcome: 'ok', ...fp(v.meta.fingerprint) });
    }
  }

  /**
   * Makes sure `key` no longer authenticates. Automatic: delete it through the master key; a delete that fails is
   * accepted only if the key is in fact rejected now. Assisted: ask the operator to delete it and check.
   */
  async revokeAtExchange(run: Pick<SlotRun, 'slot' | 'account' | 'adapter' | 'master'>, key: Credentials, label: string): Promise<void> {
    if (run.master && run.adapter.capabilities.delete) {
      try {
        await this.deleteAtExchange(run, key);
        return;
      } catch (err) {
        if (err instanceof KeyctlError && err.retryable) throw err;
        if (!(await this.stillAuthenticates(run, key))) return;
        // An exchange whose delete exists only for some accounts (Bitget: unified accounts) answers CAPABILITY_GAP for
        // the others: that live key is revoked by hand, as on an assisted exchange.
        if (!(err instanceof KeyctlError && err.code === 'CAPABILITY_GAP')) throw err;
        this.assistedRevokePending(run, label, err.message);
      }
    }
    if (await this.stillAuthenticates(run, key)) this.assistedRevokePending(run, label, run.master ? 'no key API' : 'no master key stored');
  }

  /** The old key still works and keyctl cannot delete it: ask the operator to, and stop until it is gone. */
  private assistedRevokePending(run: Pick<SlotRun, 'slot' | 'account'>, label: string, why: string): never {
    this.deps.assisted?.instruct(
      `Delete the key ${label} of ${run.slot.ref} in ${run.account.exchange}'s web UI now, then re-run this command.`,
    );
    throw new RotationIncompleteError(
      'ASSISTED_REVOKE_PENDING',
      `The old key ${label} of ${run.slot.ref} still authenticates at ${run.account.exchange}.`,
      {
        hint: `keyctl cannot delete it (${why}). Delete it in the exchange's web UI, then re-run: keyctl rotate ${run.slot.ref}`,
      },
    );
  }

  private async stillAuthenticates(run: Pick<SlotRun, 'slot' | 'account' | 'adapter' | 'master'>, key: Credentials): Promise<boolean> {
    try {
      await run.adapter.ping({ account: run.account, key, ...this.deps.call });
      return true;
    } catch (err) {
      // Only "this key does not exist / does not authenticate" proves it dead. A refusal of this address or of this
      // call (IP_NOT_ALLOWED, PERMISSION_DENIED) comes from a live key: fail closed and keep it tracked.
      if (isKeyRejected(err)) return false;
      throw err;
    }
  }

  private async deleteAtExchange(run: Pick<SlotRun, 'slot' | 'account' | 'adapter' | 'master'>, key: Credentials): Promise<void> {
    await run.adapter.deleteKey({
      account: run.account,
      master: run.master!,
      subaccount: run.slot.uid,
      apiKey: key.apiKey,
      ...(key.passphrase ? { passphrase: key.passphrase } : {}),
      ...this.deps.call,
    });
  }

  /** Deletes a not-promoted version at the exchange (when keyctl can) and in the store. */
  private async discardVersion(run: SlotRun, version: string, why: string): Promise<void> {
    const { store } = this.deps;
    const info = await store.describe(run.path);
    const v = info?.versions.find((x) => x.id === version);
    if (!v) return;
    // Unstaged first: a crash after the exchange delete must not leave a PENDING the next run would take for a key it
    // can still test and promote. A version left without a stage is revoked (again, harmlessly) by the next revoke step.
    if (info?.stages.PENDING === version) await store.moveStage(run.path, { stage: 'PENDING', to: null, expect: version });
    if (!v.destroyed) {
      const key = await this.readVersion(run.path, version);
      if (run.master && run.adapter.capabilities.delete) {
        await this.revokeAtExchange(run, key, v.meta.fingerprint ?? version);
        failpoint('discard.after-exchange', this.deps.env);
      } else if (await this.stillAuthenticates(run, key).catch(() => true)) {
        this.deps.assisted?.instruct(
          `The new key ${v.meta.fingerprint} for ${run.slot.ref} was not accepted (${why}). Delete it in ${run.account.exchange}'s web UI.`,
        );
      }
    }
    failpoint('store.destroy', this.deps.env);
    await store.destroy(run.path, version);
    await this.step(
      run,
      { rotationId: run.rotationId ?? '' },
      { step: 'discarded', outcome: 'ok', version, why, ...fp(v.meta.fingerprint) },
    );
  }

  /**
   * Deletes keys at the exchange that keyctl labelled but the store does not hold (created just before a crash, or
   * revoked in the store while the exchange delete failed). Keys keyctl did not label are never touched. An orphan the
   * exchange refuses to delete for good (KuCoin wants the passphrase keyctl never stored) is reported, not fatal: it
   * would otherwise block every later rotation of the slot while staying alive all the same.
   */
  private async sweep(run: SlotRun): Promise<{ deleted: number; kept: OrphanKept[] }> {
    const kept: OrphanKept[] = [];
    if (!run.master || !run.adapter.capabilities.list || !run.adapter.capabilities.delete) return { deleted: 0, kept };
    const listed = await run.adapter.listKeys({ account: run.account, master: run.master, subaccount: run.slot.uid, ...this.deps.call });
    failpoint('sweep.after-list', this.deps.env);
    // Read after the listing: a key listed was created before it, so its rotation's journal (written before the create)
    // or, once that rotation finished, its store version (written before the journal is cleared) is seen here.
    const { held, inFlight } = await this.keysOfSubaccount(run);
    let deleted = 0;
    for (const k of listed) {
      if (!k.label?.startsWith(LABEL_PREFIX) || held.has(k.apiKey) || inFlight.has(k.label)) continue;
      const fingerprintOf = fingerprint(k.apiKey);
      try {
        await run.adapter.deleteKey({
          account: run.account,
          master: run.master,
          subaccount: run.slot.uid,
          apiKey: k.apiKey,
          label: k.label,
          ...this.deps.call,
        });
      } catch (err) {
        // Retryable (network, rate limit): the whole run stops and is re-run. Anything else is final for this key.
        if (!(err instanceof KeyctlError) || err.retryable) throw err;
        kept.push({
          fingerprint: fingerprintOf,
          label: k.label,
          code: err.code,
          message: err.message,
          ...(err.hint ? { hint: err.hint } : {}),
        });
        await this.emit({
          type: 'key.swept',
          ref: run.slot.ref,
          fingerprint: fingerprintOf,
          label: k.label,
          outcome: 'failed',
          error: err.code,
        });
        this.deps.logger?.warn('orphaned key could not be deleted', { ref: run.slot.ref, fingerprint: fingerprintOf, code: err.code });
        continue;
      }
      failpoint('sweep.after-delete', this.deps.env);
      deleted += 1;
      await this.emit({ type: 'key.swept', ref: run.slot.ref, fingerprint: fingerprintOf, label: k.label, outcome: 'ok' });
    }
    return { deleted, kept };
  }

  /**
   * What keyctl tracks under the run's sub-account: the keys stored for every slot on it (two slots, of one bot or two,
   * may share a sub-account: the checklist flags it, the config allows it) and the labels of their rotations in flight,
   * whose new key may be created but not yet stored. Matched by exchange and sub-account id, not by account name, so
   * two account entries for one exchange account cannot sweep each other's keys; holding too much only spares a key.
   */
  private async keysOfSubaccount(run: SlotRun): Promise<{ held: Set<string>; inFlight: Set<string> }> {
    const held = new Set<string>();
    const inFlight = new Set<string>();
    const { inventory, coordination } = this.deps;
    for (const s of inventory.slots) {
      if (s.ref === run.slot.ref || s.uid !== run.slot.uid || accountOf(inventory, s).exchange !== run.account.exchange) continue;
      const path = storePath({ kind: 'slot', bot: s.bot, sub: s.sub });
      const journal = await readJournal(coordination, path);
      if (journal) inFlight.add(journal.entry.label);
      for (const apiKey of await this.heldApiKeys(path)) held.add(apiKey);
    }
    // The run's own rotation is this run: its journal protects nothing.
    for (const apiKey of await this.heldApiKeys(run.path)) held.add(apiKey);
    return { held, inFlight };
  }

  private async heldApiKeys(path: string): Promise<Set<string>> {
    const info = await this.deps.store.describe(path);
    const held = new Set<string>();
    for (const v of info?.versions ?? []) {
      if (v.destroyed) continue;
      held.add((await this.readVersion(path, v.id)).apiKey);
    }
    return held;
  }

  /** Writes the journal's next step (fenced by the run's lease); `undo` runs when that write fails, then the error goes on. */
  private async advance(run: SlotRun, j: JournalHandle, change: Partial<JournalEntry>, undo?: () => Promise<void>): Promise<JournalHandle> {
    let next: JournalHandle;
    try {
      failpoint('store.journal', this.deps.env);
      next = await writeJournal(this.deps.coordination, run.path, { ...j.entry, ...change }, j.version, run.lease);
    } catch (err) {
      if (undo) {
        await undo().catch((cleanup: unknown) =>
          this.deps.logger?.warn('could not undo a step whose journal write failed', {
            ref: run.slot.ref,
            code: cleanup instanceof KeyctlError ? cleanup.code : 'INTERNAL',
          }),
        );
      }
      throw err;
    }
    if (run.lease.token) run.lease = await this.deps.coordination.renew(run.lease, this.leaseMs);
    return next;
  }

  /**
   * Stops this run unless the slot may still change hands to a new key: not paused (keyctl kill pauses first) and the
   * run's lease still its own (a renewal; a kill seizes it without waiting). Called before each step a broken holder
   * must not take: sweeping, creating a key, promoting one.
   */
  private async holdSlot(run: SlotRun): Promise<void> {
    await assertNotPaused(this.deps.coordination, run.slot.ref, run.path);
    if (!run.lease.token) return;
    try {
      run.lease = await this.deps.coordination.renew(run.lease, this.leaseMs);
    } catch (err) {
      if (!(err instanceof LockedError)) throw err;
      throw new RotationIncompleteError('LEASE_LOST', `This run lost the lease on ${run.slot.ref}, so it stops here.`, {
        cause: err,
        hint: 'A keyctl kill seized it, or another run took over after this one stalled past its lease. Nothing was lost: after a kill, keyctl resume and the next rotation create a fresh key; otherwise the run that took over finishes this rotation.',
      });
    }
  }

  /** Whether `version` exists in the slot with its material. */
  private async isLive(run: SlotRun, version: string | undefined): Promise<boolean> {
    if (!version) return false;
    const v = (await this.deps.store.describe(run.path))?.versions.find((x) => x.id === version);
    return v !== undefined && !v.destroyed;
  }

  private async readVersion(path: string, version: string): Promise<Credentials> {
    return fromSecretFields((await this.deps.store.read(path, { version })).secret);
  }

  private emit(event: EventInput): Promise<void> {
    return this.deps.events.emit(event);
  }

  private step(run: SlotRun, e: Pick<JournalEntry, 'rotationId'>, step: StepFields): Promise<void> {
    return this.emit({ type: 'rotation.step', ref: run.slot.ref, rotationId: e.rotationId, ...step });
  }

  private async failed(ref: string, rotationId: string | undefined, err: unknown): Promise<void> {
    const e = err instanceof KeyctlError ? err : undefined;
    await this.emit({
      type: 'rotation.failed',
      ref,
      code: e?.code ?? 'INTERNAL',
      message: e?.message ?? 'unexpected error',
      ...(rotationId ? { rotationId } : {}),
    }).catch(() => undefined);
  }

  private leaseLost(run: SlotRun, err: unknown): void {
    const code = err instanceof KeyctlError ? err.code : 'INTERNAL';
    this.deps.logger?.warn('lease renewal failed', { lease: run.lease.name, code });
    const { name, owner, fence } = run.lease;
    this.emit({ type: 'lease.lost', ref: run.slot.ref, name, owner, fence, code }).catch(() => undefined);
  }
}

export function graceOf(slot: Slot): number {
  return configDurationMs(slot.rotate.grace);
}

function assistedInstructions(run: SlotRun, e: JournalEntry, why: string): string {
  const s = run.slot;
  return [
    `Assisted rotation of ${s.ref} (${why}).`,
    `Create a new API key in ${run.account.exchange}'s web UI with exactly these settings:`,
    `  sub-account:   ${s.uid}`,
    `  label / name:  ${e.label}`,
    `  permissions:   ${s.scopes.join(', ')}   (nothing else: no withdraw, no transfer, no key management)`,
    `  IP allowlist:  ${s.ips.join(', ')}`,
    'Then paste it as JSON on stdin: {"apiKey":"...","secret":"..."} (add "passphrase" if the exchange uses one).',
    'keyctl tests it, promotes it, and then asks you to delete the old key.',
  ].join('\n');
}

/** Everything that stops a rotation part-way is exit 6: the journal makes a re-run safe. */
function asIncomplete(err: unknown, ref: string): unknown {
  // A paused slot is no incomplete rotation: re-running will not help until keyctl resume.
  if (!(err instanceof KeyctlError) || err instanceof RotationIncompleteError || err.exitCode === 2 || err.code === 'SLOT_PAUSED')
    return err;
  return new RotationIncompleteError(err.code, `Rotation of ${ref} stopped: ${err.message}`, {
    cause: err,
    ...(err.details ? { details: err.details } : {}),
  });
}

/** `accept` of the slot's account, as policy options (absent when the account accepts nothing). */
function acceptOf(inventory: Inventory, slot: Slot): { accept?: readonly AcceptedGap[] } {
  const accept = accountOf(inventory, slot).accept;
  return accept ? { accept } : {};
}
