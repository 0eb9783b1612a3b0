import { importKey } from '../../app/import-key.js';
import { parseCredentials } from '../../domain/credentials.js';
import { resolveKey } from '../../domain/resolve.js';
import { ExitCode } from '@keyctl/client/errors';
import type { CommandRun } from '../types.js';

/**
 * Stores a key read from stdin as the ref's CURRENT version, after the exchange itself confirmed it passes the key
 * policy (src/app/import-key.ts). A key with violations is refused (exit 3, nothing stored) unless
 * --accept-violations, which stores it flagged so that rotation replaces it.
 */
export const run: CommandRun = async (ctx, args, opts) => {
  const key = resolveKey(ctx.config(), args[0] ?? '');
  const credentials = parseCredentials(await ctx.readStdin('the key as JSON'));
  ctx.redactor.add(credentials.apiKey, credentials.secret, credentials.passphrase);

  const result = await importKey(await ctx.base(), {
    key,
    credentials,
    acceptViolations: Boolean(opts.acceptViolations),
    actor: ctx.actor,
  });
  const { ref, fingerprint: fp } = result;
  switch (result.status) {
    case 'unchanged': {
      const { violations } = result;
      ctx.out.result({ ref, fingerprint: fp, version: result.version, stage: 'CURRENT', changed: false, violations }, () =>
        violations.length === 0
          ? `${ref}: key ${fp} is already the CURRENT key, and passes at the exchange; nothing changed.`
          : [
              `${ref}: key ${fp} is already the CURRENT key, but the exchange now reports:`,
              ...violations.map((v) => `  ${v.code}: ${v.detail}`),
            ].join('\n'),
      );
      if (violations.length === 0) return ExitCode.OK;
      ctx.out.error(`hint: ${result.remedy ?? `fix the key at the exchange, or replace it: keyctl rotate ${ref}`}`);
      return ExitCode.POLICY;
    }
    case 'refused': {
      const { violations } = result;
      ctx.out.result({ ref, fingerprint: fp, stored: false, violations }, () =>
        [`${ref}: key ${fp} NOT stored: it violates the key policy:`, ...violations.map((v) => `  ${v.code}: ${v.detail}`)].join('\n'),
      );
      ctx.out.error(
        `hint: ${
          result.remedy ??
          'fix the key at the exchange (or create a safe one), or pass --accept-violations to store it flagged so `keyctl rotate` replaces it.'
        }`,
      );
      return ExitCode.POLICY;
    }
    case 'stored': {
      const { violations, version } = result;
      if (violations.length) {
        ctx.out.warn(
          `${ref}: stored key ${fp} despite ${violations.map((v) => v.code).join(', ')}; run keyctl rotate ${ref} to replace it with a safe key.`,
        );
      }
      if (result.previous) {
        ctx.out.warn(`${ref}: the previous key ${result.previous} is now PREVIOUS and still valid at the exchange until you revoke it.`);
      }
      ctx.out.result(
        { ref, fingerprint: fp, version, stage: 'CURRENT', changed: true, stored: true, violations },
        `${ref}: stored key ${fp} as CURRENT (version ${version})${violations.length ? ', flagged' : ', verified at the exchange'}.`,
      );
      return ExitCode.OK;
    }
  }
};
