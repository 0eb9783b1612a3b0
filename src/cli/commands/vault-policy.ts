import type { Config } from '../../config/load.js';
import type { VaultStoreConfig } from '../../config/schema.js';
import { UsageError } from '../../errors.js';
import { botPolicy, botPolicyName } from '../../../providers/vault/policy.js';
import type { CommandRun } from '../types.js';

/** The config's Vault store section, or a UsageError when the store is something else. */
export function requireVaultStore(config: Config): VaultStoreConfig {
  if (config.store.provider !== 'vault') {
    throw new UsageError('NOT_VAULT_STORE', `${config.file} uses the ${config.store.provider} store, not Vault.`, {
      hint: 'Set store.provider: vault (with mount and prefix) first; see docs/vault.md.',
    });
  }
  return config.store;
}

/** Checks `bot` is declared in the config; the error lists the bots that are. */
export function requireBot(config: Config, bot: string | undefined): string {
  const known = [...new Set(config.slots.map((s) => s.bot))].sort();
  if (!bot || !known.includes(bot)) {
    throw new UsageError('UNKNOWN_BOT', `${config.file} declares no bot "${bot ?? ''}".`, {
      hint: known.length
        ? `Declared bots: ${known.join(', ')}.`
        : 'The config declares no bots yet; add them under bots: first (see docs/config.md).',
      details: { known },
    });
  }
  return bot;
}

/** Prints the HCL policy that lets one bot read only its own slots. Touches nothing in Vault. */
export const run: CommandRun = async (ctx, args) => {
  const config = ctx.config();
  const store = requireVaultStore(config);
  const bot = requireBot(config, args[0]);
  const policy = botPolicy({ mount: store.mount, prefix: store.prefix, bot });
  ctx.out.result({ bot, name: botPolicyName(bot), policy }, policy);
};
