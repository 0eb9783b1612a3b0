#!/usr/bin/env node
/**
 * A minimal trading bot that gets its exchange key from keyctl and never from a file (docs/delivery.md).
 *
 *   keyctl exec alpha/arb1 --fd 3 -- node docs/examples/bot.mjs     # pipe mode: follows rotations
 *   keyctl exec alpha/arb1 -- node docs/examples/bot.mjs            # environment mode
 *   KEYCTL_TOKEN=$(keyctl issue alpha/arb1) node docs/examples/bot.mjs   # token mode
 *
 * In this repository `import ... from 'keyctl'` resolves to the built dist/ (npm run build) through the package's
 * own name; in a bot's project it is the installed package.
 *
 * Environment (all optional): BOT_EXCHANGE (ccxt id, default bybit), BOT_BASE_URL (send every request there instead,
 * e.g. the keyctl sandbox http://127.0.0.1:8101/bybit), BOT_RUN_MS (keep running this long, checking the key every
 * BOT_TICK_MS, default 0: one check and exit).
 */
import ccxt from 'ccxt';
import { loadCredentials } from 'keyctl';

const exchangeId = process.env.BOT_EXCHANGE ?? 'bybit';
const baseUrl = process.env.BOT_BASE_URL;
const runMs = Number(process.env.BOT_RUN_MS ?? 0);
const tickMs = Number(process.env.BOT_TICK_MS ?? 5000);

/** Points every API URL of a ccxt instance at `base` (keeping each URL's path), for a sandbox or proxy. */
function rebase(api, base, hostname) {
  if (typeof api === 'string') {
    const url = new URL(api.replaceAll('{hostname}', hostname));
    return `${base.replace(/\/+$/, '')}${url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '')}`;
  }
  if (Array.isArray(api)) return api.map((v) => rebase(v, base, hostname));
  if (api && typeof api === 'object') return Object.fromEntries(Object.entries(api).map(([k, v]) => [k, rebase(v, base, hostname)]));
  return api;
}

/** A ccxt client for one key. The key lives only in this object (and in keyctl's store). */
function client(creds) {
  const ex = new ccxt[exchangeId]({ apiKey: creds.apiKey, secret: creds.secret, password: creds.password, enableRateLimit: true });
  if (baseUrl) ex.urls.api = rebase(ex.urls.api, baseUrl, ex.hostname);
  return ex;
}

/** One harmless signed read: proves the key works from here. */
async function check(ex) {
  if (exchangeId === 'bybit') await ex.privateGetV5AccountWalletBalance({ accountType: 'UNIFIED' });
  else await ex.fetchBalance();
}

const creds = await loadCredentials();
let exchange = client(creds);
await check(exchange);
// The fingerprint names the key; the key itself is never printed.
console.log(`bot: ${exchangeId} accepted key ${creds.fingerprint} (from ${creds.source}); next rotation ${creds.rotatesAt ?? 'not scheduled'}`);

// Pipe mode: a rotation delivers the new key here. Switch only once the new key works; when this function returns,
// keyctl is told (ack) and may revoke the old key early. If it throws, the bot keeps the old key until the grace ends.
creds.onRotate(async (next) => {
  const candidate = client(next);
  await check(candidate);
  exchange = candidate;
  console.log(`bot: switched to key ${next.fingerprint}`);
});

if (runMs > 0) {
  const until = Date.now() + runMs;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, Math.min(tickMs, Math.max(0, until - Date.now()))));
    await check(exchange).catch((err) => console.error(`bot: check failed: ${err.constructor.name}`));
  }
}
creds.close();
