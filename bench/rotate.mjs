// keyctl rotation and verification benchmark (`node bench/rotate.mjs`, after `npm run build`): how close rotating many
// slots of one account comes to the exchange's rate limit, side by side in one run, against the exchange sandbox
// acting as Bybit does: 150-250 ms a call (a latency fault) and "Too many visits!" (10006) past 5 calls per key and
// endpoint in any rolling second (POST /_admin/rate-limit; https://bybit-exchange.github.io/docs/v5/rate-limit).
//
// 1. CLI, as cron and operators run it (`keyctl rotate <bot> --json`, a fresh process each, local store): one slot,
//    40 slots and 100 slots of one account. The done-when: 40 slots take at most 8x one slot and draw (almost)
//    no rate-limit answers; 100 slots rotate at >= 80 % of the limit in keys a second (Bybit: 5 creates a second).
// 2. Library, in one warm process (no start-up in either side): one slot against 40 slots, at the default concurrency
//    and one at a time (concurrency 1: how keyctl rotated before).
// 3. Verification of 1,000 keys: `keyctl verify --json` (CLI) against verifying 100 keys one at a time in process,
//    compared in keys a second.
//
// Every rotation run starts from freshly seeded accounts (POST /_admin/reset, then new keys), so no run sweeps another's
// keys. The sandbox runs in this process; its CPU is not keyctl's. BENCH_REPS (default 1) repeats 1 and 2 and reports
// medians. Every process runs a copy of dist/ taken at the start. Results go to bench/results/rotate.json and
// bench/results/rotate.md, and the table is printed.
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const REPS = Number(process.env.BENCH_REPS ?? 1);
const VERIFY_KEYS = Number(process.env.BENCH_VERIFY_KEYS ?? 1000);
const SEQUENTIAL_VERIFY_KEYS = 100;
/** The simulated exchange: Bybit's 5 a second per key and endpoint, 150-250 ms a call. */
const LIMIT_PER_SECOND = 5;
const LATENCY = { ms: 150, maxMs: 250 };
const CLIENT_IP = '203.0.113.7';
// Obviously fake: the store exists only for this run. The sandbox makes its own (fake) exchange keys.
const masterKey = Buffer.alloc(32, 0x42).toString('base64');
const TIME_BIN = '/usr/bin/time';
const useTime = existsSync(TIME_BIN);

if (!existsSync(join(root, 'dist/src/cli/bin.js'))) throw new Error('dist/ is missing: run `npm run build` first.');

const running = new Set();
const dir = mkdtempSync(join(tmpdir(), 'keyctl-bench-rotate-'));
const cleanUp = () => {
  for (const c of running) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanUp);
process.once('SIGINT', () => process.exit(130));

const copy = join(dir, 'keyctl');
const builtAt = statSync(join(root, 'dist/src/cli/bin.js')).mtime.toISOString();
cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true, filter: (f) => !f.endsWith('.map') });
copyFileSync(join(root, 'package.json'), join(copy, 'package.json'));
symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
const DIST = join(copy, 'dist');
const BIN = join(DIST, 'src/cli/bin.js');

const { startSandbox } = await import(join(DIST, 'src/sandbox/server.js'));
const { createStore } = await import(join(DIST, 'providers/local/index.js'));
const { MemoryStore } = await import(join(DIST, 'providers/memory/index.js'));
const { openCoordination } = await import(join(DIST, 'providers/registry.js'));
const { ensureAuditKey } = await import(join(DIST, 'src/audit/key.js'));
const { fingerprint, toSecretFields } = await import(join(DIST, 'src/domain/credentials.js'));
const { parseConfig } = await import(join(DIST, 'src/config/load.js'));
const { selectSlots } = await import(join(DIST, 'src/domain/resolve.js'));
const { silentLogger } = await import(join(DIST, 'src/events/logger.js'));
const { getAdapter } = await import(join(DIST, 'src/exchanges/registry.js'));
const { createRotationEngine } = await import(join(DIST, 'src/app/engine.js'));
const { rotate } = await import(join(DIST, 'src/app/rotate.js'));
const { verifyKeys } = await import(join(DIST, 'src/app/verify.js'));
const { SLOT_CONCURRENCY } = await import(join(DIST, 'src/app/concurrency.js'));

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const r1 = (x) => Math.round(x * 10) / 10;
const r2 = (x) => Math.round(x * 100) / 100;

// ---- the exchange ----------------------------------------------------------------------------------------------------

/**
 * A fresh exchange: reset, one main account with a master key, and per group `{bot, n}` n sub-accounts with a clean
 * key each. Then Bybit's latency and rate limit (reset clears them).
 */
async function seed(sandbox, groups) {
  const admin = sandbox.admin;
  await admin.reset();
  const { uid } = await admin.createAccount('bybit');
  const master = await admin.createKey({
    exchange: 'bybit',
    owner: uid,
    master: true,
    permissions: { Wallet: ['AccountTransfer', 'SubMemberTransfer'] },
    ips: [CLIENT_IP],
  });
  const slots = [];
  for (const { bot, n } of groups) {
    for (let i = 0; i < n; i += 25) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(25, n - i) }, async (_, j) => {
          const { id } = await admin.createSubaccount('bybit', uid);
          const key = await admin.createKey({ exchange: 'bybit', owner: id, permissions: { Spot: ['SpotTrade'] }, ips: [CLIENT_IP] });
          return { bot, sub: `s${String(i + j).padStart(4, '0')}`, uid: id, key };
        }),
      );
      slots.push(...batch);
    }
  }
  await admin.addFault({ exchange: 'bybit', path: '*', kind: 'latency', ...LATENCY });
  await admin.setRateLimit('bybit', { perSecond: LIMIT_PER_SECOND });
  return { master, slots };
}

function yamlOf(sandbox, store, slots) {
  let yaml = `store: ${store}\naccounts:\n  main: { exchange: bybit, baseUrl: "${sandbox.url}/bybit" }\nbots:\n`;
  for (const bot of [...new Set(slots.map((s) => s.bot))]) {
    yaml += `  ${bot}:\n    subaccounts:\n`;
    for (const s of slots.filter((x) => x.bot === bot)) {
      yaml += `      ${s.sub}: { account: main, uid: "${s.uid}", scopes: [read, spot:trade], ips: [${CLIENT_IP}] }\n`;
    }
  }
  return yaml;
}

const put = (store, path, key) =>
  store.write(path, {
    secret: toSecretFields(key),
    meta: { fingerprint: fingerprint(key.apiKey), source: 'import' },
    stage: 'CURRENT',
    expect: null,
  });

/** A keyctl.yaml and local store holding the master key and every slot's key, for the CLI. */
async function localWorld(sandbox, name, world) {
  const run = join(dir, name);
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'keyctl.yaml'), yamlOf(sandbox, '{ provider: local, path: ./store }', world.slots));
  const store = await createStore({ provider: 'local', path: join(run, 'store') }, { env: { KEYCTL_MASTER_KEY: masterKey } });
  try {
    await store.init();
    await ensureAuditKey(store);
    await put(store, 'accounts/main', world.master);
    for (const s of world.slots) await put(store, `bots/${s.bot}/${s.sub}`, s.key);
  } finally {
    await store.close();
  }
  return run;
}

/** The same in memory, for the library runs. */
async function memoryWorld(sandbox, world) {
  const config = parseConfig(yamlOf(sandbox, '{ provider: memory }', world.slots), '/nonexistent/keyctl.yaml').config;
  const store = new MemoryStore();
  await put(store, 'accounts/main', world.master);
  for (const s of world.slots) await put(store, `bots/${s.bot}/${s.sub}`, s.key);
  const coordination = await openCoordination(config.store, store);
  const events = { emit: async () => undefined };
  const deps = {
    inventory: config,
    store,
    coordination,
    events,
    logger: silentLogger,
    now: Date.now,
    adapter: getAdapter,
    call: { attempts: 3, backoffMs: 250, timeoutMs: 10_000 },
    audit: { tail: async () => [], verify: async () => ({ ok: true, entries: 0, problems: [] }) },
  };
  return {
    deps,
    engine: createRotationEngine(deps, { owner: 'bench:1' }),
    close: async () => (await coordination.close(), await store.close()),
  };
}

async function limitStats(sandbox) {
  return (await sandbox.admin.rateLimitStats()).bybit;
}

// ---- the CLI ---------------------------------------------------------------------------------------------------------

const env = { PATH: process.env.PATH, HOME: process.env.HOME, KEYCTL_MASTER_KEY: masterKey, KEYCTL_ACTOR: 'bench' };

/** One keyctl process: wall, CPU (user+sys) and peak RSS (GNU time when there is one), and its JSON. */
async function cli(run, args) {
  const timeFile = join(run, 'time.txt');
  const argv = [BIN, '--config', join(run, 'keyctl.yaml'), ...args, '--json'];
  const t0 = process.hrtime.bigint();
  const child = useTime
    ? spawn(TIME_BIN, ['-f', '%U %S %M', '-o', timeFile, process.execPath, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => {
      running.delete(child);
      resolve(c);
    });
  });
  const wallS = seconds(t0);
  if (code !== 0) throw new Error(`keyctl ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}${stdout.slice(-1000)}`);
  let cpuS = NaN;
  let peakRssMb = NaN;
  if (useTime) {
    const [user, sys, maxKb] = readFileSync(timeFile, 'utf8').trim().split('\n').at(-1).split(' ').map(Number);
    [cpuS, peakRssMb] = [user + sys, maxKb / 1024];
  }
  return { wallS, cpuS, peakRssMb, out: JSON.parse(stdout) };
}

/** `keyctl rotate <bot>` on freshly seeded slots: every slot must rotate. */
async function cliRotate(sandbox, world, bot, n, name) {
  const run = await localWorld(sandbox, name, world);
  await sandbox.admin.setRateLimit('bybit', { perSecond: LIMIT_PER_SECOND }); // zero the counts
  const m = await cli(run, ['rotate', bot]);
  const rotated = m.out.results.filter((r) => r.status === 'rotated').length;
  if (rotated !== n || m.out.failures.length)
    throw new Error(`keyctl rotate ${bot}: ${rotated} of ${n} rotated: ${JSON.stringify(m.out).slice(0, 2000)}`);
  const stats = await limitStats(sandbox);
  rmSync(run, { recursive: true, force: true });
  return {
    slots: n,
    wallS: m.wallS,
    cpuS: m.cpuS,
    peakRssMb: m.peakRssMb,
    keysPerS: n / m.wallS,
    requests: stats.requests,
    rateLimited: stats.limited,
  };
}

// ---- the library -----------------------------------------------------------------------------------------------------

async function libRotate(w, slots, concurrency) {
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const r = await rotate({ ...w.deps, engine: w.engine }, { slots, mode: 'manual', concurrency });
  const wallS = seconds(t0);
  const c = process.cpuUsage(cpu0);
  if (r.failures.length || r.results.some((x) => x.status !== 'rotated')) throw new Error(`rotate: ${JSON.stringify(r).slice(0, 2000)}`);
  return { slots: slots.length, wallS, processCpuS: (c.user + c.system) / 1e6, keysPerS: slots.length / wallS };
}

// ---- the run ---------------------------------------------------------------------------------------------------------

const startedAt = Date.now();
const load0 = loadavg();
const runs = { cli: [], lib: [] };
let verify;
let sandbox;
try {
  sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
  for (let rep = 0; rep < REPS; rep++) {
    // 1. CLI: one slot, 40 slots, 100 slots, each on fresh slots of a fresh account.
    const cliRep = {};
    for (const [bot, n] of [
      ['one', 1],
      ['b40', 40],
      ['b100', 100],
    ]) {
      const world = await seed(sandbox, [{ bot, n }]);
      cliRep[bot] = await cliRotate(sandbox, world, bot, n, `cli-${bot}-${rep}`);
      process.stderr.write(
        `cli rotate ${n}: ${r2(cliRep[bot].wallS)} s, ${r2(cliRep[bot].keysPerS)} keys/s, ${cliRep[bot].rateLimited} rate-limited\n`,
      );
    }
    runs.cli.push(cliRep);

    // 2. Library, warm: one slot, 40 at the default concurrency, 40 one at a time.
    const world = await seed(sandbox, [
      { bot: 'warm', n: 1 },
      { bot: 'one', n: 1 },
      { bot: 'c40', n: 40 },
      { bot: 's40', n: 40 },
    ]);
    const w = await memoryWorld(sandbox, world);
    const libRep = {};
    try {
      await libRotate(w, selectSlots(w.deps.inventory, ['warm']), SLOT_CONCURRENCY);
      await sandbox.admin.setRateLimit('bybit', { perSecond: LIMIT_PER_SECOND });
      libRep.one = await libRotate(w, selectSlots(w.deps.inventory, ['one']), SLOT_CONCURRENCY);
      libRep.concurrent40 = await libRotate(w, selectSlots(w.deps.inventory, ['c40']), SLOT_CONCURRENCY);
      libRep.concurrent40.rateLimited = (await limitStats(sandbox)).limited;
      await sandbox.admin.setRateLimit('bybit', { perSecond: LIMIT_PER_SECOND });
      libRep.sequential40 = await libRotate(w, selectSlots(w.deps.inventory, ['s40']), 1);
      libRep.sequential40.rateLimited = (await limitStats(sandbox)).limited;
    } finally {
      await w.close();
    }
    process.stderr.write(
      `library: one ${r2(libRep.one.wallS)} s, 40 at once ${r2(libRep.concurrent40.wallS)} s, 40 one at a time ${r2(libRep.sequential40.wallS)} s\n`,
    );
    runs.lib.push(libRep);
  }

  // 3. Verification: VERIFY_KEYS keys by the CLI, SEQUENTIAL_VERIFY_KEYS one at a time in process.
  const vworld = await seed(sandbox, [{ bot: 'v', n: VERIFY_KEYS }]);
  const vrun = await localWorld(sandbox, 'verify', vworld);
  const m = await cli(vrun, ['verify']);
  const ok = m.out.results.filter((r) => r.ok).length;
  if (ok !== VERIFY_KEYS + 1) throw new Error(`keyctl verify: ${ok} of ${VERIFY_KEYS + 1} ok: ${JSON.stringify(m.out).slice(0, 2000)}`);
  const cliVerify = { keys: VERIFY_KEYS + 1, wallS: m.wallS, cpuS: m.cpuS, peakRssMb: m.peakRssMb, keysPerS: (VERIFY_KEYS + 1) / m.wallS };
  cliVerify.rateLimited = (await limitStats(sandbox)).limited;
  const vw = await memoryWorld(sandbox, { master: vworld.master, slots: vworld.slots.slice(0, SEQUENTIAL_VERIFY_KEYS) });
  let seqVerify;
  try {
    const keys = (await import(join(DIST, 'src/domain/resolve.js'))).managedKeys(vw.deps.inventory).filter((k) => k.kind === 'slot');
    const t0 = process.hrtime.bigint();
    const results = await verifyKeys(vw.deps, { keys, concurrency: 1 });
    const wallS = seconds(t0);
    if (results.some((r) => !r.ok)) throw new Error('sequential verify: not all ok');
    seqVerify = { keys: keys.length, wallS, keysPerS: keys.length / wallS };
  } finally {
    await vw.close();
  }
  verify = { cli: cliVerify, sequential: seqVerify };
  process.stderr.write(
    `verify: ${cliVerify.keys} keys ${r1(cliVerify.wallS)} s (${r1(cliVerify.keysPerS)}/s); one at a time ${r1(seqVerify.keysPerS)}/s\n`,
  );
} finally {
  await sandbox?.close();
  cleanUp();
}

// ---- results ---------------------------------------------------------------------------------------------------------

const med = (xs, pick) => {
  const out = {};
  for (const [k, v] of Object.entries(pick(xs[0]))) if (typeof v === 'number') out[k] = median(xs.map((x) => pick(x)[k]));
  return out;
};
const cliOne = med(runs.cli, (x) => x.one);
const cli40 = med(runs.cli, (x) => x.b40);
const cli100 = med(runs.cli, (x) => x.b100);
const libOne = med(runs.lib, (x) => x.one);
const lib40 = med(runs.lib, (x) => x.concurrent40);
const seq40 = med(runs.lib, (x) => x.sequential40);
const results = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    model: cpus()[0]?.model,
    memoryGb: r1(totalmem() / 2 ** 30),
    node: process.version,
    loadavgAtStart: load0.map(r2),
    loadavgAtEnd: loadavg().map(r2),
  },
  exchange: `bybit (the keyctl sandbox, in the benchmark process): ${LATENCY.ms}-${LATENCY.maxMs} ms a call, ${LIMIT_PER_SECOND} calls per key and endpoint in any rolling second`,
  limitKeysPerS: LIMIT_PER_SECOND,
  concurrency: SLOT_CONCURRENCY,
  reps: REPS,
  distBuiltAt: builtAt,
  totalRunS: r1((Date.now() - startedAt) / 1000),
  medians: { cli: { one: cliOne, slots40: cli40, slots100: cli100 }, library: { one: libOne, concurrent40: lib40, sequential40: seq40 } },
  verify,
  ratios: {
    cli40ToOneWall: cli40.wallS / cliOne.wallS,
    cli100ShareOfLimit: cli100.keysPerS / LIMIT_PER_SECOND,
    cli40ShareOfLimit: cli40.keysPerS / LIMIT_PER_SECOND,
    library40ToOneWall: lib40.wallS / libOne.wallS,
    librarySequential40ToOneWall: seq40.wallS / libOne.wallS,
    librarySequentialToConcurrent40Wall: seq40.wallS / lib40.wallS,
    verifyCliToSequentialKeysPerS: verify.cli.keysPerS / verify.sequential.keysPerS,
  },
  raw: runs,
};
writeFileSync(join(root, 'bench/results/rotate.json'), `${JSON.stringify(results, null, 2)}\n`);

const x = results.ratios;
const pct = (v) => `${Math.round(v * 100)} %`;
const cpuMs = (m, n) => (Number.isNaN(m.cpuS) ? 'n/a' : r1((m.cpuS / n) * 1000));
const md = [
  '# keyctl rotation benchmark: rotating at the exchange rate limit',
  '',
  `${results.date}; ${results.machine.cpus} × ${results.machine.model}; Node ${results.machine.node}; load average ` +
    `${results.machine.loadavgAtStart.join(' ')} at the start, ${results.machine.loadavgAtEnd.join(' ')} at the end; ` +
    `the whole run took ${Math.round(results.totalRunS)} s.`,
  '',
  `One Bybit account on the keyctl sandbox acting as Bybit: ${LATENCY.ms}-${LATENCY.maxMs} ms a call and "Too many visits!" ` +
    `(10006) past ${LIMIT_PER_SECOND} calls per key and endpoint in any rolling second, so at most ${LIMIT_PER_SECOND} ` +
    `key creations a second. Each slot's rotation lists the sub-account's keys, creates a key, inspects and tests it ` +
    `and promotes it (the old key stays for its grace period). Every run rotates freshly seeded slots. ` +
    (REPS === 1 ? 'One repetition: single values, not medians.' : `Medians of ${REPS} repetitions.`),
  '',
  '| rotating | wall s | keys a second | share of the limit | rate-limit answers | CPU ms per slot |',
  '|---|---|---|---|---|---|',
  `| CLI, 1 slot | ${r2(cliOne.wallS)} | ${r2(cliOne.keysPerS)} | | ${cliOne.rateLimited} | ${cpuMs(cliOne, 1)} |`,
  `| CLI, 40 slots | ${r2(cli40.wallS)} | ${r2(cli40.keysPerS)} | ${pct(x.cli40ShareOfLimit)} | ${cli40.rateLimited} | ${cpuMs(cli40, 40)} |`,
  `| CLI, 100 slots | ${r2(cli100.wallS)} | ${r2(cli100.keysPerS)} | ${pct(x.cli100ShareOfLimit)} | ${cli100.rateLimited} | ${cpuMs(cli100, 100)} |`,
  `| library (warm process), 1 slot | ${r2(libOne.wallS)} | ${r2(libOne.keysPerS)} | | | |`,
  `| library, 40 slots, ${SLOT_CONCURRENCY} at once | ${r2(lib40.wallS)} | ${r2(lib40.keysPerS)} | ${pct(lib40.keysPerS / LIMIT_PER_SECOND)} | ${lib40.rateLimited} | |`,
  `| library, 40 slots, one at a time (as before) | ${r2(seq40.wallS)} | ${r2(seq40.keysPerS)} | ${pct(seq40.keysPerS / LIMIT_PER_SECOND)} | ${seq40.rateLimited} | |`,
  '',
  '| verifying | keys | wall s | keys a second | rate-limit answers | CPU ms per key |',
  '|---|---|---|---|---|---|',
  `| CLI \`keyctl verify\` | ${verify.cli.keys} | ${r1(verify.cli.wallS)} | ${r1(verify.cli.keysPerS)} | ${verify.cli.rateLimited} | ${cpuMs(verify.cli, verify.cli.keys)} |`,
  `| library, one at a time (as before) | ${verify.sequential.keys} | ${r1(verify.sequential.wallS)} | ${r1(verify.sequential.keysPerS)} | | |`,
  '',
  '| ratio | value | target |',
  '|---|---|---|',
  `| CLI: 40 slots / 1 slot, wall | ${r2(x.cli40ToOneWall)}× | at most 8× |`,
  `| CLI: 100 slots, keys a second / the limit | ${pct(x.cli100ShareOfLimit)} | at least 80 % |`,
  `| library: 40 slots / 1 slot, wall | ${r2(x.library40ToOneWall)}× | |`,
  `| library: 40 slots one at a time / 1 slot, wall | ${r2(x.librarySequential40ToOneWall)}× | |`,
  `| library: 40 slots one at a time / ${SLOT_CONCURRENCY} at once, wall | ${r2(x.librarySequentialToConcurrent40Wall)}× | |`,
  `| verify: CLI keys a second / one at a time | ${r2(x.verifyCliToSequentialKeysPerS)}× | |`,
  '',
  `What it means: the limit sets the pace. ${LIMIT_PER_SECOND} creates a second with 10 % headroom per window for ` +
    `jitter is ${r2(LIMIT_PER_SECOND / 1.1)} keys a second at best; the first and last slots add one rotation's calls. ` +
    'The CLI ratio includes a process start on both sides; the library ratio does not, and shows the floor: 40 slots ' +
    `need ${Math.ceil(40 / LIMIT_PER_SECOND) - 1} more windows of create calls after the first, whatever the latency. ` +
    `The CLI rotating 100 slots used ${Number.isNaN(cli100.cpuS) ? 'n/a' : r1(cli100.cpuS)} s of CPU in ${r1(cli100.wallS)} s ` +
    `(load average ${results.machine.loadavgAtStart[0]} on ${results.machine.cpus} cores at the start): where it falls short of ` +
    'the limit it is CPU, most of it the local store and the audit log writing and fsyncing each step (a CPU profile of ' +
    '`keyctl rotate` puts ccxt at under a tenth), not the limiter, which the library runs show reaching the limit. ' +
    'Limits: the sandbox answers in the benchmark process and shares its CPU with keyctl; real exchanges also limit ' +
    'per address, which is not modelled.',
  '',
];
writeFileSync(join(root, 'bench/results/rotate.md'), md.join('\n'));
process.stdout.write(md.join('\n'));
