import { isIP } from 'node:net';
import { UsageError } from '@keyctl/client/errors';
import type { CommandRun } from '../types.js';
import { botSlots } from '../../domain/resolve.js';
import { requireVaultStore } from '../vault-store.js';

const DURATION = /^(\d+h)?(\d+m)?(\d+s)?$/;

function duration(flag: string, value: unknown): string {
  const v = String(value ?? '');
  if (v === '' || !DURATION.test(v)) {
    throw new UsageError('INVALID_DURATION', `${flag} "${v}" is not a Vault duration.`, {
      hint: 'Use hours, minutes and seconds, e.g. 10m, 1h, 90s, 1h30m.',
    });
  }
  return v;
}

/**
 * Sets up a bot's AppRole: writes policy keyctl-bot-<bot> (read on its own slots only) and role keyctl-<bot> whose
 * secret ids are single-use and short-lived, then prints the role id. Re-running updates both in place.
 */
export const run: CommandRun = async (ctx, args, opts) => {
  const config = ctx.config();
  const store = requireVaultStore(config);
  const bot = args[0] ?? '';
  botSlots(config, bot);
  const approleMount = String(opts.approleMount ?? (store.auth.method === 'approle' ? store.auth.mount : 'approle'));
  const cidrs = opts.bindIps
    ? [...new Set(config.slots.filter((s) => s.bot === bot).flatMap((s) => s.ips))].sort().map((ip) => `${ip}/${isIP(ip) === 6 ? 128 : 32}`)
    : [];
  const input = {
    mount: store.mount,
    prefix: store.prefix,
    bot,
    approleMount,
    secretIdTtl: duration('--secret-id-ttl', opts.secretIdTtl ?? '10m'),
    tokenTtl: duration('--token-ttl', opts.tokenTtl ?? '15m'),
    tokenMaxTtl: duration('--token-max-ttl', opts.tokenMaxTtl ?? '1h'),
    cidrs,
  };

  const [{ connectVault }, { setupBotAppRole }] = await Promise.all([
    import('../../../providers/vault/index.js'),
    import('../../../providers/vault/policy.js'),
  ]);
  const { http } = await connectVault(store, { env: ctx.env });
  const result = await setupBotAppRole(http, input);
  await ctx.record({
    outcome: 'ok',
    detail: { bot, role: result.role, policy: result.policy, approleMount, boundCidrs: cidrs.join(',') || null },
  });

  ctx.out.result(
    {
      bot,
      role: result.role,
      policy: result.policy,
      roleId: result.roleId,
      approleMount,
      secretIdTtl: input.secretIdTtl,
      secretIdNumUses: 1,
      tokenTtl: input.tokenTtl,
      tokenMaxTtl: input.tokenMaxTtl,
      boundCidrs: cidrs,
    },
    [
      `AppRole ${result.role} is ready at auth/${approleMount} with policy ${result.policy}.`,
      `role_id: ${result.roleId}`,
      `Secret ids are single-use and expire after ${input.secretIdTtl}; hand them to the bot wrapped, never in plain text.`,
    ].join('\n'),
  );
};
