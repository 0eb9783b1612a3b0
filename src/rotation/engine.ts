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
import { accountOf, readMasterKey } from '../domain/resolve.js';
import { ConflictError, ExchangeError, KeyctlError, LockedError, RotationIncompleteError } from '../errors.js';
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
   * key, which is the point. With `emergency`, a rotation holding the slot's lease does not stop it.
   */
  async revoke(slot: Slot, options: { reason: string; emergency?: boolean }): Promise<RevokeOutcome> {
    let run: SlotRun;
    try {
      run = await this.open(slot);
    } catch (err) {
      if (!(options.emergency && err instanceof RotationIncompleteError && err.code === 'ROTATION_IN_PROGRESS')) throw err;
      run = await this.open(slot, { skipLock: true });
    }
    const outcome = await this.revokePass(run, options);
    if (run.lease.token) return outcome;
    // A rotation held the lease during that pass: it may have created a key since. It stops before promoting on a
    // paused slot (drive), so wait for it to let go, then revoke again under the lease: the kill never reports done
    // while a key it could not account for may be alive.
    const second = await this.revokeAfterRotation(slot, options);
    if (!second) {
      outcome.failed.push({
        fingerprint: 'rotation-in-flight',
        code: 'ROTATION_STILL_RUNNING',
        message: `A rotation of ${slot.ref} still holds its lease ${Math.round(this.leaseMs / 1000)} s after the kill: a key it created may be alive. Run the kill again.`,
      });
      return outcome;
    }
    outcome.revoked.push(...second.revoked);
    outcome.failed.push(...second.failed);
    outcome.orphansDeleted += second.orphansDeleted;
    outcome.orphansKept.push(...second.orphansKept);
    return outcome;
  }

  /** Waits (up to one lease period, by which a crashed holder's lease has expired) for the slot's lease, then revokes. */
  private async revokeAfterRotation(slot: Slot, options: { reason: string }): Promise<RevokeOutcome | null> {
    const deadline = performance.now() + this.leaseMs + 5_000;
    for (;;) {
      try {
        return await this.revokePass(await this.open(slot), options);
      } catch (err) {
        if (!(err instanceof RotationIncompleteError && err.code === 'ROTATION_IN_PROGRESS')) throw err;
        if (performance.now() > deadline) return null;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private async revokePass(run: SlotRun, options: { reason: string }): Promise<RevokeOutcome> {
    const { slot } = run;
    const outcome: RevokeOutcome = { ref: slot.ref, revoked: [], failed: [], orphansDeleted: 0, orphansKept: [] };
    const stop = this.heartbeat(run);
    try {
      const { store } = this.deps;
      const info = await store.describe(run.path);
      for (const v of info?.versions ?? []) {
        if (v.destroyed) continue;
        const fp = v.meta.fingerprint ?? v.id;
        try {
          const key = await this.readVersion(run.path, v.id);
          await this.revokeAtExchange(run, key, fp);
          const now = await store.describe(run.path);
          for (const stage of now?.versions.find((x) => x.id === v.id)?.stages ?? []) {
            await store.moveStage(run.path, { stage, to: null, expect: v.id });
          }
          await store.destroy(run.path, v.id);
          outcome.revoked.push(fp);
          await this.emit({ type: 'key.revoked', ref: run.slot.ref, fingerprint: fp, outcome: 'ok', reason: options.reason });
        } catch (err) {
          const e = err instanceof KeyctlError ? err : undefined;
          outcome.failed.push({ fingerprint: fp, code: e?.code ?? 'INTERNAL', message: e?.message ?? 'unexpected error' });
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
        ({ deleted: outcome.orphansDeleted, kept: outcome.orphansKept } = await this.sweep(run));
      } catch (err) {
        const e = err instanceof KeyctlError ? err : undefined;
        outcome.failed.push({ fingerprint: 'orphan-sweep', code: e?.code ?? 'INTERNAL', message: e?.message ?? 'unexpected error' });
      }
      if (outcome.failed.length === 0) await clearJournal(this.deps.coordination, run.path, run.lease);
      return outcome;
    } finally {
      stop();
      if (run.lease.token) await this.deps.coordination.release(run.lease).catch(() => undefined);
    }
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

    if (j) outcome.resumed = true;
    else if (options.start) j = await this.begin(run, options.reason);
    else return outcome;

    outcome.rotationId = j.entry.rotationId;
    if (j.entry.step === 'started') {
      const swept = await this.sweep(run);
      outcome.orphansDeleted += swept.deleted;
      outcome.orphansKept.push(...swept.kept);
      j = await this.createAndStore(run, j);
    }
    if (j.entry.step === 'stored') j = await this.test(run, j);
    // A kill during this rotation paused the slot: the new key must never go live. Stop here; the kill revokes it (and
    // every other key of the slot) once this run has let go of the lease.
    if (j.entry.step === 'verified') await assertNotPaused(this.deps.coordination, run.slot.ref, run.path);
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

  /** Takes the slot's lease and gathers what every step needs. */
  private async open(slot: Slot, options: { skipLock?: boolean } = {}): Promise<SlotRun> {
    const accountConfig = accountOf(this.deps.inventory, slot);
    const path = storePath({ kind: 'slot', bot: slot.bot, sub: slot.sub });
    // Load the adapter (and with it ccxt, a second of compiling) before taking the lease, so the lease's heartbeat is
    // never starved by module loading.
    const adapter = await this.deps.adapter(accountConfig.exchange);
    const account = exchangeAccount(accountConfig);
    let lease: Lease = {
      name: `rotate/${path}`,
      owner: this.deps.owner,
      token: '',
      fence: 0,
      expiresAt: new Date(0).toISOString(),
      tookOver: false,
    };
    try {
      if (!options.skipLock) {
        lease = await this.deps.coordination.acquire(`rotate/${path}`, this.deps.owner, this.leaseMs);
        await this.emit({
          type: 'lease.gained',
          ref: slot.ref,
          name: lease.name,
          owner: lease.owner,
          fence: lease.fence,
          tookOver: lease.tookOver,
          ...(lease.previousOwner ? { previousOwner: lease.previousOwner } : {}),
        });
      }
    } catch (err) {
      if (err instanceof LockedError) {
        throw new RotationIncompleteError('ROTATION_IN_PROGRESS', `Another keyctl is rotating ${slot.ref} right now. ${err.message}`, {
          cause: err,
        });
      }
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
      return this.advance(run, j, {
        step: 'stored',
        newVersion: pending.id,
        ...(pending.meta.fingerprint ? { newFingerprint: pending.meta.fingerprint } : {}),
      });
    }

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
        idempotencyKey: `rotation-${e.rotationId}-pending-version`,
      }));
    } catch (err) {
      // The store refused the new key: it must not stay alive untracked. The journal still says "started", so if this
      // delete fails too, the next run's sweep finds the key by its label.
      if (e.mode === 'automatic') await this.deleteAtExchange(run, created).catch(() => undefined);
      throw err;
    }
    failpoint('rotate.after-store', this.deps.env);
    await this.step(run, e, { step: 'created', outcome: 'ok', fingerprint: fp, version: newVersion });
    return this.advance(run, j, { step: 'stored', newVersion, newFingerprint: fp });
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
          { now: this.now() },
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
    const info = await store.describe(run.path);
    if (info?.stages.CURRENT !== e.newVersion) {
      try {
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
      if (old && !old.destroyed) {
        const key = await this.readVersion(run.path, old.id);
        await this.revokeAtExchange(run, key, old.meta.fingerprint ?? old.id);
        failpoint('rotate.after-revoke-exchange', this.deps.env);
        if (info?.stages.PREVIOUS === old.id) await store.moveStage(run.path, { stage: 'PREVIOUS', to: null, expect: old.id });
        await store.destroy(run.path, old.id);
        failpoint('rotate.after-revoke-store', this.deps.env);
        await this.step(run, e, { step: 'revoked-previous', outcome: 'ok', ...fp(old.meta.fingerprint) });
      }
    }
    await clearJournal(this.deps.coordination, run.path, run.lease);
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
        if (await this.stillAuthenticates(run, key)) throw err;
        return;
      }
    }
    if (await this.stillAuthenticates(run, key)) {
      this.deps.assisted?.instruct(
        `Delete the key ${label} of ${run.slot.ref} in ${run.account.exchange}'s web UI now, then re-run this command.`,
      );
      throw new RotationIncompleteError(
        'ASSISTED_REVOKE_PENDING',
        `The old key ${label} of ${run.slot.ref} still authenticates at ${run.account.exchange}.`,
        {
          hint: `keyctl cannot delete it (${run.master ? 'no key API' : 'no master key stored'}). Delete it in the exchange's web UI, then re-run: keyctl rotate ${run.slot.ref}`,
        },
      );
    }
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
    if (!v.destroyed) {
      const key = await this.readVersion(run.path, version);
      if (run.master && run.adapter.capabilities.delete) {
        await this.revokeAtExchange(run, key, v.meta.fingerprint ?? version);
      } else if (await this.stillAuthenticates(run, key).catch(() => true)) {
        this.deps.assisted?.instruct(
          `The new key ${v.meta.fingerprint} for ${run.slot.ref} was not accepted (${why}). Delete it in ${run.account.exchange}'s web UI.`,
        );
      }
    }
    if (info?.stages.PENDING === version) await store.moveStage(run.path, { stage: 'PENDING', to: null, expect: version });
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
    const held = await this.heldApiKeys(run.path);
    let deleted = 0;
    for (const k of listed) {
      if (!k.label?.startsWith(LABEL_PREFIX) || held.has(k.apiKey)) continue;
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
      deleted += 1;
      await this.emit({ type: 'key.swept', ref: run.slot.ref, fingerprint: fingerprintOf, label: k.label, outcome: 'ok' });
    }
    return { deleted, kept };
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

  private async advance(run: SlotRun, j: JournalHandle, change: Partial<JournalEntry>): Promise<JournalHandle> {
    const next = await writeJournal(this.deps.coordination, run.path, { ...j.entry, ...change }, j.version, run.lease);
    if (run.lease.token) run.lease = await this.deps.coordination.renew(run.lease, this.leaseMs);
    return next;
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
