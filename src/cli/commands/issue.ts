import { UsageError } from '@keyctl/client/errors';
import type { CommandRun } from '../types.js';
import { readCurrent } from '../../delivery/current.js';
import { assertNotPaused } from '../../delivery/pause.js';
import { resolveSlot } from '../../domain/resolve.js';
import { DEFAULT_TOKEN_TTL_MS, encodePayload, formatToken, MAX_TOKEN_TTL_MS } from '@keyctl/client/token';

/**
 * Wraps the slot's CURRENT key in the store under a single-use token that expires after --ttl, and prints the token:
 * the one thing an orchestrator passes to the bot (as KEYCTL_TOKEN). The token itself is never logged or audited.
 */
export const run: CommandRun = async (ctx, args, opts) => {
  const { parseDuration, formatDuration } = await import('../../../schedules/duration.js');
  const ttlMs = opts.ttl === undefined ? DEFAULT_TOKEN_TTL_MS : parseDuration(String(opts.ttl), '--ttl');
  if (ttlMs < 1000 || ttlMs > MAX_TOKEN_TTL_MS) {
    throw new UsageError('INVALID_TTL', `--ttl ${String(opts.ttl)} is out of range.`, {
      hint: 'A token lives from 1s to 1h; the shorter the better (the bot should exchange it at once).',
    });
  }
  const slot = resolveSlot(ctx.config(), args[0] ?? '');
  const store = await ctx.store();
  // A paused slot (keyctl kill) hands out no key until keyctl resume.
  await assertNotPaused(await ctx.coordination(), slot.ref, slot.path);
  const { version: _version, ...creds } = await readCurrent(store, slot);
  ctx.redactor.add(creds.apiKey, creds.secret, creds.password);

  const storeToken = await store.wrap(encodePayload(creds), ttlMs, { ref: slot.ref, fingerprint: creds.fingerprint });
  const token = formatToken(store.id, storeToken);
  const expiresAt = new Date(Date.now() + ttlMs).toISOString();
  await ctx.record({ ref: slot.ref, fingerprint: creds.fingerprint, outcome: 'ok', detail: { ttlMs, provider: store.id } });
  if (store.capabilities.wrapping === 'none') ctx.out.warn(`the ${store.id} store cannot wrap values; the token will not work.`);
  if (!ctx.json)
    ctx.out.info(`single-use token for ${slot.ref} (key ${creds.fingerprint}), valid ${formatDuration(ttlMs)} until ${expiresAt}:`);
  // The token is the product: printed raw (the redactor would leave it alone anyway; it is not a registered secret).
  if (ctx.json) ctx.out.raw(`${JSON.stringify({ token, expiresAt, ref: slot.ref, fingerprint: creds.fingerprint }, null, 2)}\n`);
  else ctx.out.raw(`${token}\n`);
};
