import { randomBytes } from 'node:crypto';
import { UsageError } from '@keyctl/client/errors';
import { ensureAuditKey } from '../../audit/key.js';
import type { CommandRun } from '../types.js';

/**
 * Creates the store and its audit key. For the local store without KEYCTL_MASTER_KEY or KEYCTL_PASSPHRASE, a new
 * master key is generated and printed exactly once: keyctl never writes it anywhere.
 */
export const run: CommandRun = async (ctx, _args, opts) => {
  const config = ctx.config();
  const env = { ...ctx.env };
  let generatedKey: string | undefined;
  if (config.store.provider === 'local' && !env.KEYCTL_MASTER_KEY && !env.KEYCTL_PASSPHRASE) {
    if (opts.passphrase) {
      if (!ctx.canPrompt()) {
        throw new UsageError('PASSPHRASE_REQUIRED', 'No terminal to ask for a passphrase.', {
          hint: 'Set KEYCTL_PASSPHRASE in the environment, or run keyctl init in a terminal.',
        });
      }
      const first = await ctx.prompt('New store passphrase');
      const second = await ctx.prompt('Repeat the passphrase');
      if (first !== second) throw new UsageError('PASSPHRASE_MISMATCH', 'The two passphrases differ; nothing was created.');
      if (first.length < 12) throw new UsageError('PASSPHRASE_WEAK', 'Use a passphrase of at least 12 characters.');
      env.KEYCTL_PASSPHRASE = first;
      ctx.redactor.add(first);
    } else {
      generatedKey = randomBytes(32).toString('base64');
      env.KEYCTL_MASTER_KEY = generatedKey;
    }
  }

  const { openStore } = await import('../../../providers/registry.js');
  const store = await openStore(config.store, { env, promptSecret: ctx.canPrompt() ? (q) => ctx.prompt(q) : undefined });
  try {
    const { created } = await store.init();
    if (!created && generatedKey) {
      // An existing store was opened with a key we just made up: it cannot be ours.
      throw new UsageError(
        'MASTER_KEY_REQUIRED',
        `A store already exists at ${config.store.provider === 'local' ? config.store.path : 'the configured location'}.`,
        {
          hint: 'Set KEYCTL_MASTER_KEY (or KEYCTL_PASSPHRASE) to the key it was created with.',
        },
      );
    }
    await store.health();
    const audit = await ensureAuditKey(store);
    const { openAuditLog } = await import('../../audit/log.js');
    const { loadAuditKey } = await import('../../audit/key.js');
    const log = openAuditLog({ path: config.auditPath, key: await loadAuditKey(store) });
    await log.append({ command: 'init', outcome: 'ok', actor: ctx.actor, detail: { created, provider: config.store.provider } });

    const where = config.store.provider === 'local' ? config.store.path : config.store.provider;
    if (generatedKey) {
      // On stderr in every mode: a script capturing --json still shows the operator this warning.
      ctx.out.warn(
        [
          `Created the encrypted store at ${where}.`,
          '',
          'Its master key is printed below, ONCE. keyctl keeps no copy. Put it in your password manager or secret',
          'manager now, and give it to keyctl in the KEYCTL_MASTER_KEY environment variable. Never write it to a',
          'file next to the store: whoever has both can read every key.',
          '',
        ].join('\n'),
      );
      // The key is the product of this command: printed unredacted, on stdout, nowhere else.
      ctx.out.raw(
        ctx.json
          ? `${JSON.stringify({ created: true, provider: config.store.provider, store: where, masterKey: generatedKey })}\n`
          : `${generatedKey}\n`,
      );
    } else {
      ctx.out.result(
        { created, provider: config.store.provider, store: where, auditKeyCreated: audit.created },
        created ? `Created the store at ${where}.` : `The store at ${where} already exists; nothing changed.`,
      );
    }
  } finally {
    await store.close();
  }
};
