import { ExchangeError, KeyctlError, UsageError } from '@keyctl/client/errors';
import type { CliIo } from '../context.js';
import type { ExecConfig } from '../exec-config.js';
import type { Redactor } from '../../audit/redact.js';
import type { AuditEntry, AuditInput, AuditLog } from '../../audit/types.js';
import type { SecretStore } from '../../../providers/types.js';
import type { CoordinationStore } from '../../../providers/coordination.js';
import { PausedError, readPause } from '../../delivery/pause.js';
import type { SlotKey } from '../../domain/resolve.js';
import {
  assertOwnEnvironClean,
  botIsAnotherUser,
  DEFAULT_WATCH_MS,
  parseFd,
  parseSignal,
  readStartKey,
  runSupervised,
  storeCredentialEnv,
  type StartKey,
} from '../../delivery/exec.js';
import { assertEnvPrefix, DEFAULT_ENV_PREFIX } from '@keyctl/client/protocol';

/**
 * What exec needs of its command context. The CLI's CliContext has it; so has the lean context `keyctl exec` starts
 * with (src/cli/exec-fast.ts), which loads neither the argument parser, the other commands nor the config stack.
 */
export interface ExecContext {
  readonly io: CliIo;
  readonly env: NodeJS.ProcessEnv;
  readonly redactor: Redactor;
  readonly out: { info(text: string): void; warn(text: string): void };
  /** exec's view of the config for `ref` (cached: src/cli/exec-config.ts); its warnings are printed. */
  execConfig(ref: string): Promise<ExecConfig>;
  store(): Promise<SecretStore>;
  coordination(): Promise<CoordinationStore>;
  audit(): Promise<AuditLog>;
  record(input: Omit<AuditInput, 'command'> & { command?: string }): Promise<AuditEntry>;
}

/**
 * Starts a bot with its slot's CURRENT key, in its environment or on an inherited socket (--fd), never in argv or a
 * file; masks the key in its output; follows rotations; exits with the bot's exit code. See docs/delivery.md.
 */
export const run = async (ctx: ExecContext, args: string[], opts: Record<string, unknown>): Promise<number> => {
  const [refText, command, ...commandArgs] = args;
  if (!command) {
    throw new UsageError('COMMAND_REQUIRED', 'exec needs the bot\'s command after "--".', {
      hint: 'Example: keyctl exec alpha/arb1 -- node bot.mjs --live',
    });
  }
  const fd = opts.fd === undefined ? undefined : parseFd(opts.fd);
  const envPrefix = typeof opts.envPrefix === 'string' ? opts.envPrefix : DEFAULT_ENV_PREFIX;
  assertEnvPrefix(envPrefix);
  const reloadSignal = parseSignal(opts.reloadSignal ?? 'SIGTERM');
  const mask = opts.mask !== false;
  const restartOnRotate = Boolean(opts.restartOnRotate);
  if (restartOnRotate && fd !== undefined) {
    throw new UsageError(
      'CONFLICTING_OPTIONS',
      '--restart-on-rotate is for the environment mode; with --fd the bot gets new keys on its pipe.',
      {
        hint: 'Drop one of --fd and --restart-on-rotate.',
      },
    );
  }
  const mapped = opts.env !== undefined || opts.preset !== undefined;
  if (mapped && fd !== undefined) {
    throw new UsageError(
      'CONFLICTING_OPTIONS',
      '--env and --preset are for the environment mode; with --fd the key never enters the environment.',
      {
        hint: 'Drop --fd to give the bot its key in the variables it reads, or drop --env/--preset and read the pipe.',
      },
    );
  }
  if (opts.group !== undefined && opts.user === undefined) {
    throw new UsageError('CONFLICTING_OPTIONS', '--group is for --user: it names the group the bot runs in.', {
      hint: 'Add --user <user>, or drop --group.',
    });
  }
  // Before the store is opened: an unknown user, root, or a keyctl that may not switch users never gets a key read.
  const runAs = opts.user === undefined ? undefined : (await import('../../delivery/user.js')).prepareRunAs(opts.user, opts.group);
  const watchMs = Number(ctx.env.KEYCTL_WATCH_MS ?? DEFAULT_WATCH_MS);
  const mode = fd === undefined ? 'env' : 'fd';

  const config = await ctx.execConfig(refText ?? '');
  const stripped = storeCredentialEnv(config.store.provider);
  // Before anything is read or audited: a bot must not start where it could read a store credential from this process.
  // A bot under another uid cannot read this process's /proc entries at all.
  if (!botIsAnotherUser(runAs)) assertOwnEnvironClean(ctx.env, stripped);
  const slot = config.slot();
  // Checked before the store is opened: a bad mapping never gets a key read. Loaded only when asked for.
  const envMap = mapped
    ? (await import('../../delivery/env-map.js')).resolveEnvMap({
        env: opts.env,
        preset: opts.preset,
        exchange: slot.account.exchange,
        prefix: envPrefix,
      })
    : undefined;
  const rotateEveryMs = config.rotateEveryMs();
  const store = await ctx.store();
  const coordination = await ctx.coordination();
  // Three reads at once: the pause (a paused slot hands out no key until keyctl resume), the key, and the audit key. An
  // entry is written only once all three are in; their errors are reported in that order.
  const [paused, key, audit] = await Promise.allSettled([
    readPause(coordination, slot.path),
    readStartKey(store, slot, rotateEveryMs),
    ctx.audit(),
  ]);
  if (paused.status === 'rejected') throw paused.reason;
  if (paused.value) throw new PausedError(slot.ref, paused.value);
  if (key.status === 'rejected') throw key.reason;
  const creds = key.value;
  ctx.redactor.add(creds.apiKey, creds.secret, creds.password);
  if (audit.status === 'rejected') throw audit.reason;
  // The go-live gate: before the key reaches anyone (the bot, the preflight's exchange call).
  if (opts.strict) await (await import('../../delivery/strict.js')).assertChecklistPassed(audit.value, slot.slot.bot, Date.now());

  if (opts.preflight) await preflight(ctx, slot, creds, mode);

  const result = await runSupervised({
    // Nobody gets a key unaudited: the entry is written before the bot starts (alongside the registration).
    before: ctx.record({
      ref: slot.ref,
      fingerprint: creds.fingerprint,
      outcome: 'ok',
      detail: {
        mode,
        preflight: Boolean(opts.preflight),
        mask,
        // Names only, never values: which variables the bot got its key in.
        ...(envMap ? { envNames: envMap.map((m) => m.name).join(',') } : {}),
        ...(runAs ? { user: runAs.name, uid: runAs.uid, gid: runAs.gid } : {}),
      },
    }),
    store,
    coordination,
    slotPath: slot.path,
    initial: creds,
    readCurrent: async () => {
      const next = await readStartKey(store, slot, rotateEveryMs);
      ctx.redactor.add(next.apiKey, next.secret, next.password);
      return next;
    },
    describeCurrent: async () => {
      const { describeCurrent } = await import('../../delivery/current.js');
      return describeCurrent(store, slot.path);
    },
    // A kill anywhere (this host or another sharing the store) stops the bot within one watch period.
    isPaused: async () => (await readPause(coordination, slot.path)) !== null,
    command,
    args: commandArgs,
    ...(fd !== undefined ? { fd } : {}),
    envPrefix,
    ...(envMap ? { envMap } : {}),
    mask,
    restartOnRotate,
    reloadSignal,
    watchMs: Number.isFinite(watchMs) && watchMs >= 50 ? watchMs : DEFAULT_WATCH_MS,
    env: ctx.env,
    stripped,
    ...(runAs ? { runAs } : {}),
    stdout: ctx.io.stdout,
    stderr: ctx.io.stderr,
    events: {
      info: (text) => ctx.out.info(`keyctl exec: ${text}`),
      warn: (text) => ctx.out.warn(`keyctl exec: ${text}`),
      handover: (fingerprint, outcome) => {
        if (outcome === 'delivered') ctx.out.info(`keyctl exec: handed the rotated key ${fingerprint} to the bot (${mode} mode).`);
        void ctx
          .record({
            command: 'exec.handover',
            ref: slot.ref,
            fingerprint,
            outcome: outcome === 'failed' ? 'failed' : 'ok',
            detail: { mode, step: outcome },
          })
          .catch(() => ctx.out.warn('keyctl exec: could not write the hand-over audit entry.'));
      },
    },
  });
  return result.exitCode;
};

/**
 * One signed read with the key, from this host, before the bot starts: a key the exchange refuses here (wrong IP, revoked,
 * expired) fails now, with a reason, instead of inside the bot. ccxt loads only in this case.
 */
async function preflight(ctx: ExecContext, slot: SlotKey, creds: StartKey, mode: string): Promise<void> {
  const [{ getAdapter }, { exchangeAccount }, { isIpRefusal, isKeyRefusal }, { callOptionsFromEnv }] = await Promise.all([
    import('../../exchanges/registry.js'),
    import('../../exchanges/types.js'),
    import('../../exchanges/ccxt.js'),
    import('../../app/env.js'),
  ]);
  const { account } = slot;
  try {
    const adapter = await getAdapter(account.exchange);
    await adapter.ping({
      account: exchangeAccount(account),
      key: { apiKey: creds.apiKey, secret: creds.secret, ...(creds.password ? { passphrase: creds.password } : {}) },
      ...callOptionsFromEnv(ctx.env),
    });
  } catch (err) {
    const code = err instanceof KeyctlError ? err.code : 'UNKNOWN';
    await ctx
      .record({ ref: creds.ref, fingerprint: creds.fingerprint, outcome: 'refused', detail: { mode, preflight: code } })
      .catch(() => undefined);
    // An address refusal carries its own hint (which address, what to change); other refusals get the general one.
    const rejected = isKeyRefusal(err) && !isIpRefusal(err);
    throw new ExchangeError(
      'PREFLIGHT_FAILED',
      `Preflight: ${account.exchange} did not accept ${creds.ref}'s key ${creds.fingerprint} from this host${err instanceof KeyctlError ? `: ${err.message}` : '.'} The bot was not started.`,
      {
        cause: err,
        details: { cause: code },
        hint: rejected
          ? `Check that this host's public address is in the key's IP allowlist (the slot's ips in the config), and that the key is not revoked or expired: keyctl verify ${creds.ref}.`
          : err instanceof KeyctlError && err.hint
            ? err.hint
            : 'The exchange could not be asked; retry, or start without --preflight.',
      },
    );
  }
}
