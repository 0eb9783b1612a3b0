import { fingerprint, importIdempotencyKey, parseCredentials, toSecretFields, type Credentials } from '../../domain/credentials.js';
import type { Violation } from '../../domain/policy.js';
import type { SecretStore } from '../../../providers/types.js';
import type { CliContext } from '../context.js';
import { ExitCode, KeyctlError } from '../../errors.js';
import { resolveManagedKey } from '../../domain/slots.js';
import { violationFlags } from '../../domain/key-state.js';
import type { CommandRun } from '../types.js';

/**
 * Stores a key read from stdin as the ref's CURRENT version, after the exchange itself confirmed it passes the key
 * policy. A key with violations is refused (exit 3, nothing stored) unless --accept-violations, which stores it
 * flagged so that rotation replaces it. The key that was CURRENT becomes PREVIOUS (it stays valid at the exchange
 * until revoked). Re-running with the same key changes nothing.
 */
export const run: CommandRun = async (ctx, args, opts) => {
  const config = ctx.config();
  const target = resolveManagedKey(config, args[0] ?? '');
  const credentials = parseCredentials(await ctx.readStdin('the key as JSON'));
  ctx.redactor.add(credentials.apiKey, credentials.secret, credentials.passphrase);
  const fp = fingerprint(credentials.apiKey);

  const store = await ctx.store();
  const info = await store.describe(target.path);
  const currentId = info?.stages.CURRENT ?? null;
  const current = currentId ? info?.versions.find((v) => v.id === currentId) : undefined;
  if (current?.meta.fingerprint === fp) {
    ctx.out.result(
      { ref: target.ref, fingerprint: fp, version: current.id, stage: 'CURRENT', changed: false },
      `${target.ref}: key ${fp} is already the CURRENT key; nothing changed.`,
    );
    return;
  }

  const violations = await checkAtExchange(ctx, target.ref, credentials, store);
  if (violations.length > 0 && !opts.acceptViolations) {
    await ctx.record({
      ref: target.ref,
      fingerprint: fp,
      outcome: 'refused',
      detail: { violations: violations.map((v) => v.code).join(',') },
    });
    ctx.out.result({ ref: target.ref, fingerprint: fp, stored: false, violations }, () =>
      [`${target.ref}: key ${fp} NOT stored: it violates the key policy:`, ...violations.map((v) => `  ${v.code}: ${v.detail}`)].join('\n'),
    );
    ctx.out.error(
      'hint: fix the key at the exchange (or create a safe one), or pass --accept-violations to store it flagged so `keyctl rotate` replaces it.',
    );
    return ExitCode.POLICY;
  }

  try {
    const { version } = await store.write(target.path, {
      secret: toSecretFields(credentials),
      meta: {
        fingerprint: fp,
        source: 'import',
        importedBy: ctx.actor,
        ...(violations.length ? { flags: violationFlags(violations.map((v) => v.code)) } : {}),
      },
      stage: 'CURRENT',
      expect: currentId,
      idempotencyKey: importIdempotencyKey(credentials),
    });
    await ctx.record({
      ref: target.ref,
      fingerprint: fp,
      outcome: 'ok',
      detail: {
        version,
        replaced: current?.meta.fingerprint ?? null,
        ...(violations.length ? { acceptedViolations: violations.map((v) => v.code).join(',') } : {}),
      },
    });
    if (violations.length) {
      ctx.out.warn(
        `${target.ref}: stored key ${fp} despite ${violations.map((v) => v.code).join(', ')}; run keyctl rotate ${target.ref} to replace it with a safe key.`,
      );
    }
    if (current) {
      ctx.out.warn(
        `${target.ref}: the previous key ${current.meta.fingerprint ?? current.id} is now PREVIOUS and still valid at the exchange until you revoke it.`,
      );
    }
    ctx.out.result(
      { ref: target.ref, fingerprint: fp, version, stage: 'CURRENT', changed: true, stored: true, violations },
      `${target.ref}: stored key ${fp} as CURRENT (version ${version})${violations.length ? ', flagged' : ', verified at the exchange'}.`,
    );
  } catch (err) {
    await ctx
      .record({ ref: target.ref, fingerprint: fp, outcome: 'failed', detail: { error: (err as { code?: string }).code ?? 'unknown' } })
      .catch(() => undefined);
    throw err;
  }
};

/**
 * Inspects the key at its exchange (ccxt loads only here). An exchange that offers no inspection API cannot vouch for
 * the key: that is reported as a violation so only --accept-violations stores it.
 */
async function checkAtExchange(ctx: CliContext, ref: string, credentials: Credentials, store: SecretStore): Promise<Violation[]> {
  const { checkKey, callOptionsFromEnv } = await import('../../exchanges/inspect-key.js');
  try {
    const result = await checkKey({ config: ctx.config(), ref, credentials, store, options: callOptionsFromEnv(ctx.env) });
    return result.violations;
  } catch (err) {
    if (err instanceof KeyctlError && err.code === 'CAPABILITY_GAP') {
      return [
        { code: 'KEY_REJECTED', detail: `the exchange offers no API to inspect keys, so keyctl cannot verify this one (${err.message})` },
      ];
    }
    throw err;
  }
}
