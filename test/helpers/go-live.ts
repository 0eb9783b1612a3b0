/**
 * Takes a test world (world.ts) through everything the go-live checklist wants, with the real CLI: safe keys imported
 * and verified, a kill drill, an alert channel tested, cron's verify --due and rotate --due, and every attested item
 * vouched for by listed staff. Used by test/integration/checklist.test.ts and the exit-code scenarios.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { webhookReceiver } from './alert-receivers.js';
import { CLIENT_IP, type World } from './world.js';

export const ATTESTED_ITEMS = ['exchange-2fa', 'withdrawal-whitelist', 'exchange-notifications', 'host-hardened'];

/** Every automated item made to pass; attestations left to the caller (`attestAll`). Closes its webhook receiver. */
export async function automatedReady(w: World): Promise<void> {
  const ok = async (args: string[], stdin?: string) => {
    const r = await w.cli(args, stdin === undefined ? {} : { stdin });
    expect(r.code, `keyctl ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
  };
  // The world's bot keys were made by hand with transfer rights: replace them with trade-only, IP-locked ones.
  for (const sub of ['arb1', 'arb2']) {
    const key = await w.sandbox.admin.createKey({
      exchange: 'bybit',
      owner: w.subs[sub]!,
      permissions: { Spot: ['SpotTrade'] },
      ips: [CLIENT_IP],
    });
    await ok(['key', 'import', `alpha/${sub}`], JSON.stringify(key));
  }
  await ok(['verify']);
  await ok(['kill', 'alpha', '--dry-run', '--reason', 'go-live drill']);
  const hook = await webhookReceiver();
  try {
    appendFileSync(join(w.dir, 'keyctl.yaml'), `alerts:\n  ops: { type: webhook, url: "${hook.url}" }\n`);
    await ok(['alert', 'test']);
  } finally {
    await hook.close();
  }
  await ok(['verify', '--due']);
  await ok(['rotate', '--due']);
}

/** Every built-in attested item, for every bot, by a listed staff member. */
export async function attestAll(w: World, by = 'alice'): Promise<void> {
  for (const item of ATTESTED_ITEMS) {
    const r = await w.cli(['attest', item, '--by', by, '--note', 'checked at the exchange']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  }
}
