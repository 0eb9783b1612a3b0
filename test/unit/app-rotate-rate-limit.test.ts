/**
 * Many slots of one Bybit account rotated at once against the sandbox acting as Bybit does: 150-250 ms a call, and
 * "Too many visits!" (10006) past 5 calls per key and endpoint in any rolling second
 * (https://bybit-exchange.github.io/docs/v5/rate-limit). keyctl's limiter keeps under the limit, so the run draws
 * (almost) no rate-limit answers, and the exchange's limit, not one slot after another, sets the pace.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../providers/memory/index.js';
import { openCoordination } from '../../providers/registry.js';
import { createRotationEngine } from '../../src/app/engine.js';
import type { AppDeps } from '../../src/app/deps.js';
import { rotate } from '../../src/app/rotate.js';
import { verifyKeys } from '../../src/app/verify.js';
import { parseConfig } from '../../src/config/load.js';
import { fingerprint, toSecretFields, type Credentials } from '../../src/domain/credentials.js';
import { selectSlots } from '../../src/domain/resolve.js';
import { silentLogger } from '../../src/events/logger.js';
import { createClient, keptClients } from '../../src/exchanges/ccxt.js';
import { rateLimiters } from '../../src/exchanges/rate-limit.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import { CLIENT_IP, Recorder } from './app-world.js';

const SLOTS = 20;

interface World {
  sandbox: RunningSandbox;
  deps: AppDeps;
  master: Credentials;
  baseUrl: string;
  close(): Promise<void>;
}

let world: World | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

/** One bybit account (`main`) and `n` slots `bot/s00`…, plus `solo/one`, each with a clean key in its sub-account. */
async function manySlots(n: number, rateLimit = ''): Promise<World> {
  const sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
  const admin = sandbox.admin;
  const { uid } = await admin.createAccount('bybit');
  const master = await admin.createKey({
    exchange: 'bybit',
    owner: uid,
    master: true,
    permissions: { Wallet: ['AccountTransfer', 'SubMemberTransfer'] },
    ips: [CLIENT_IP],
  });
  const names = [...Array.from({ length: n }, (_, i) => ['bot', `s${String(i).padStart(2, '0')}`] as const), ['solo', 'one'] as const];
  const seeded = await Promise.all(
    names.map(async ([bot, sub]) => {
      const { id } = await admin.createSubaccount('bybit', uid);
      const key = await admin.createKey({ exchange: 'bybit', owner: id, permissions: { Spot: ['SpotTrade'] }, ips: [CLIENT_IP] });
      return { bot, sub, id, key };
    }),
  );
  const baseUrl = `${sandbox.url}/bybit`;
  let yaml = `store: { provider: memory }\naccounts:\n  main: { exchange: bybit, baseUrl: "${baseUrl}"${rateLimit} }\nbots:\n`;
  for (const bot of n > 0 ? ['bot', 'solo'] : ['solo']) {
    yaml += `  ${bot}:\n    subaccounts:\n`;
    for (const s of seeded.filter((x) => x.bot === bot)) {
      yaml += `      ${s.sub}: { account: main, uid: "${s.id}", scopes: [read, spot:trade], ips: [${CLIENT_IP}] }\n`;
    }
  }
  const config = parseConfig(yaml, '/nonexistent/keyctl.yaml').config;
  const store = new MemoryStore();
  const put = (path: string, key: Credentials) =>
    store.write(path, {
      secret: toSecretFields(key),
      meta: { fingerprint: fingerprint(key.apiKey), source: 'import' },
      stage: 'CURRENT',
      expect: null,
    });
  await put('accounts/main', master);
  for (const s of seeded) await put(`bots/${s.bot}/${s.sub}`, s.key);
  const coordination = await openCoordination(config.store, store);
  const recorder = new Recorder();
  const deps: AppDeps = {
    inventory: config,
    store,
    coordination,
    events: recorder,
    logger: silentLogger,
    now: Date.now,
    adapter: getAdapter,
    call: { attempts: 3, backoffMs: 50, timeoutMs: 10_000 },
    audit: recorder.audit,
  };
  return {
    sandbox,
    deps,
    master,
    baseUrl,
    close: async () => {
      await coordination.close();
      await store.close();
      await sandbox.close();
    },
  };
}

/** Bybit as the done-when describes it: 150-250 ms a call, 5 calls per key and endpoint in any rolling second. */
async function actLikeBybit(sandbox: RunningSandbox): Promise<void> {
  await sandbox.admin.addFault({ exchange: 'bybit', path: '*', kind: 'latency', ms: 150, maxMs: 250 });
  await sandbox.admin.setRateLimit('bybit', { perSecond: 5 });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const out = await fn();
  return [out, performance.now() - t0];
}

describe('rotating many slots of one account under the exchange rate limit', () => {
  it(`${SLOTS} slots take a few times one slot, not ${SLOTS}, and draw (almost) no rate-limit answers`, async () => {
    world = await manySlots(SLOTS);
    const { deps, sandbox } = world;
    const engine = createRotationEngine(deps, { owner: 'test:1' });
    const solo = selectSlots(deps.inventory, ['solo/one']);
    const many = selectSlots(deps.inventory, ['bot']);
    // Warm: ccxt loaded, the master key's client built, as in any run after its first slot.
    await rotate({ ...deps, engine }, { slots: solo, mode: 'force', graceMs: 0 });
    await actLikeBybit(sandbox);

    const [one, oneMs] = await timed(() => rotate({ ...deps, engine }, { slots: solo, mode: 'force', graceMs: 0 }));
    expect(one.failures).toEqual([]);
    const [all, allMs] = await timed(() => rotate({ ...deps, engine }, { slots: many, mode: 'force', graceMs: 0 }));

    expect(all.failures).toEqual([]);
    expect(all.results.map((r) => [r.ref, r.status, r.previousRevoked])).toEqual(many.map((s) => [s.ref, 'rotated', true]));
    const stats = (await sandbox.admin.rateLimitStats()).bybit!;
    expect(stats.requests).toBeGreaterThanOrEqual(5 * (SLOTS + 1));
    expect(stats.limited, 'rate-limit answers').toBeLessThanOrEqual(1);
    // 20 creates at 5 a second need 4 windows; one after another, 20 slots would take 20 times one slot.
    expect(allMs / oneMs, `${SLOTS} slots ${Math.round(allMs)} ms, one slot ${Math.round(oneMs)} ms`).toBeLessThan(8);
    expect(allMs).toBeGreaterThanOrEqual(3 * 1000);
  });

  it("a rate-limit answer slows the account down and the call is retried: an account's own limit set too high", async () => {
    // The account claims 50 a second; the exchange allows 2 per key and endpoint.
    world = await manySlots(0, ', rateLimit: { perSecond: 50 }');
    const { deps, sandbox } = world;
    await sandbox.admin.setRateLimit('bybit', { perSecond: 2 });
    const account = { ...deps.inventory.accounts.main!, baseUrl: world.baseUrl } as const;
    const client = await createClient(account, world.master, { attempts: 6, backoffMs: 10 });
    const t0 = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => client.call('privateGetV5UserQueryApi', {}, { action: 'inspecting the key' })),
    );
    expect(answers).toHaveLength(5);
    const stats = (await sandbox.admin.rateLimitStats()).bybit!;
    expect(stats.limited).toBeGreaterThan(0);
    const mine = rateLimiters.stats().find((s) => s.account === 'main' && s.kind === 'inspect');
    expect(mine?.limitedAnswers).toBe(stats.limited);
    // The refused calls waited out the pause (a second) before they were sent again.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
  });

  it('verifies many keys at once, one ccxt instance per key reused across calls', async () => {
    world = await manySlots(SLOTS);
    const { deps, sandbox } = world;
    await actLikeBybit(sandbox);
    const before = keptClients();
    const [results, ms] = await timed(() => verifyKeys(deps));
    expect(results).toHaveLength(SLOTS + 2);
    expect(results.every((r) => r.ok)).toBe(true);
    // One call (~200 ms) a key: ~22 calls one after another would take over 3 s.
    expect(ms).toBeLessThan(2500);
    expect(keptClients() - before).toBe(SLOTS + 2);
    await verifyKeys(deps);
    expect(keptClients() - before).toBe(SLOTS + 2);
    expect((await sandbox.admin.rateLimitStats()).bybit!.limited).toBe(0);
  });
});
