import { botSlots } from '../../domain/resolve.js';
import { requireVaultStore } from '../vault-store.js';
import { botPolicy, botPolicyName } from '../../../providers/vault/policy.js';
import type { CommandRun } from '../types.js';

/** Prints the HCL policy that lets one bot read only its own slots. Touches nothing in Vault. */
export const run: CommandRun = async (ctx, args) => {
  const config = ctx.config();
  const store = requireVaultStore(config);
  const bot = args[0] ?? '';
  botSlots(config, bot);
  const policy = botPolicy({ mount: store.mount, prefix: store.prefix, bot });
  ctx.out.result({ bot, name: botPolicyName(bot), policy }, policy);
};
