// keyctl start-up benchmark (`npm run bench`, after `npm run build`).
//
// 1. What `keyctl exec` adds to a bot's start: `keyctl exec alpha/arb1 -- node -e 0` against plain `node -e 0`,
//    run alternately, many times; median, p90 and the difference. Target: under 150 ms added at the median.
// 2. What `loadCredentials()` costs against reading the same key straight from the provider, in one process.
//
// With BENCH_BASELINE=<another checkout, built>, that build's `keyctl exec` runs in the same alternation (on a store
// its own code creates), so a change is measured as a ratio against the build before it, not against a lone time.
//
// Results go to bench/results/startup.json and bench/results/startup.md, and the table is printed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'dist/src/cli/bin.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const INNER = Number(process.env.BENCH_INNER ?? 200);

const BASELINE = process.env.BENCH_BASELINE;
const masterKey = Buffer.alloc(32, 0x42).toString('base64');

/** A config and a store with one slot, made by the build at `from` (its own store format). */
async function setUp(from) {
  const { createStore } = await import(join(from, 'dist/providers/local/index.js'));
  const { ensureAuditKey } = await import(join(from, 'dist/src/audit/key.js'));
  const dir = mkdtempSync(join(tmpdir(), 'keyctl-bench-'));
  const config = join(dir, 'keyctl.yaml');
  writeFileSync(
    config,
    'store: { provider: local, path: ./store }\naccounts:\n  main: { exchange: bybit }\nbots:\n  alpha:\n    subaccounts:\n' +
      '      arb1: { account: main, uid: "100001", scopes: [read, spot:trade], ips: [203.0.113.7] }\n',
  );
  const store = await createStore({ provider: 'local', path: join(dir, 'store') }, { env: { KEYCTL_MASTER_KEY: masterKey } });
  await store.init();
  await ensureAuditKey(store);
  await store.write('bots/alpha/arb1', {
    secret: { apiKey: 'FAKE-bench-apikey-0001', secret: 'FAKE-bench-secret-0001' },
    meta: { fingerprint: 'benchbenchbench1' },
    stage: 'CURRENT',
    expect: null,
  });
  return { dir, config, store };
}
const { dir, config, store } = await setUp(root);
const base = BASELINE ? await setUp(BASELINE) : null;

const env = { PATH: process.env.PATH, HOME: process.env.HOME, KEYCTL_MASTER_KEY: masterKey, KEYCTL_ACTOR: 'bench' };
// The bot prints the time it started running, so each run yields two numbers: until the bot runs (start-up: what a
// bot waits for) and until exec exits (start-up plus keyctl's work after the bot's exit).
const BOT = ['-e', 'process.stdout.write(String(Date.now()))'];
const plain = [process.execPath, BOT];
const viaExec = [process.execPath, [BIN, '--config', config, 'exec', 'alpha/arb1', '--', process.execPath, ...BOT]];
const viaBaseline = base && [
  process.execPath,
  [join(BASELINE, 'dist/src/cli/bin.js'), '--config', base.config, 'exec', 'alpha/arb1', '--', process.execPath, ...BOT],
];

/** Whole run in ms; `started` collects ms from spawn until the bot ran (wall clock, 1 ms resolution). */
function timeOnce([cmd, args], started) {
  const wall = Date.now();
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  started?.push(Number(r.stdout.toString().trim()) - wall);
  return ms;
}

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { runs: s.length, min: s[0], median: q(0.5), p90: q(0.9), max: s.at(-1) };
};

// Warm the file cache, then alternate so drift in machine load hits both sides alike.
timeOnce(plain);
timeOnce(viaExec);
if (viaBaseline) timeOnce(viaBaseline);
const [a, b, c, sa, sb, sc] = [[], [], [], [], [], []];
for (let i = 0; i < RUNS; i++) {
  a.push(timeOnce(plain, sa));
  b.push(timeOnce(viaExec, sb));
  if (viaBaseline) c.push(timeOnce(viaBaseline, sc));
}
const node = stats(a);
const exec = stats(b);
const baseline = viaBaseline ? stats(c) : null;
const startup = { plainNode: stats(sa), keyctlExec: stats(sb), ...(viaBaseline ? { baseline: stats(sc) } : {}) };

// loadCredentials() (environment mode, and token mode through the local store) against a direct provider read.
const { loadCredentials } = await import(join(root, 'dist/src/index.js'));
const { formatToken, encodePayload } = await import(join(root, 'dist/src/delivery/token.js'));
async function timeMany(fn) {
  const xs = [];
  for (let i = 0; i < INNER; i++) {
    const t = process.hrtime.bigint();
    await fn();
    xs.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(xs);
}
const direct = await timeMany(async () => {
  await store.read('bots/alpha/arb1', { stage: 'CURRENT' });
});
const fromEnv = await timeMany(async () => {
  Object.assign(process.env, {
    KEYCTL_API_KEY: 'FAKE-bench-apikey-0001',
    KEYCTL_SECRET: 'FAKE-bench-secret-0001',
    KEYCTL_FINGERPRINT: 'benchbenchbench1',
  });
  await loadCredentials();
});
// Token mode: what `keyctl issue` hands a bot, redeemed with the token alone (no config, no master key; a fresh
// token per call: single use).
const payload = encodePayload({
  ref: 'alpha/arb1',
  apiKey: 'FAKE-bench-apikey-0001',
  secret: 'FAKE-bench-secret-0001',
  fingerprint: 'benchbenchbench1',
});
const tokens = [];
for (let i = 0; i < INNER; i++) tokens.push(formatToken('local', await store.wrap(payload, 600_000)));
const fromToken = await timeMany(async () => {
  process.env.KEYCTL_TOKEN = tokens.pop();
  await loadCredentials();
});
await store.close();
rmSync(dir, { recursive: true, force: true });
if (base) {
  await base.store.close();
  rmSync(base.dir, { recursive: true, force: true });
}

const r1 = (x) => Math.round(x * 10) / 10;
const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map(r1), node: process.version },
  exec: {
    plainNode: node,
    keyctlExec: exec,
    addedMedianMs: r1(exec.median - node.median),
    ratio: r1(exec.median / node.median),
    targetMs: 150,
    ...(baseline
      ? {
          baseline: {
            build: BASELINE,
            keyctlExec: baseline,
            ratioToBaseline: Math.round((exec.median / baseline.median) * 100) / 100,
            startupRatioToBaseline: Math.round((startup.keyctlExec.median / startup.baseline.median) * 100) / 100,
          },
        }
      : {}),
    untilTheBotRuns: startup,
  },
  loadCredentials: { directProviderRead: direct, environment: fromEnv, tokenLocalStore: fromToken },
};
const row = (name, s) => `| ${name} | ${s.runs} | ${r1(s.min)} | ${r1(s.median)} | ${r1(s.p90)} |`;
const md = [
  `# keyctl start-up benchmark`,
  '',
  `${results.date}; ${results.machine.cpus} × ${results.machine.model}; Node ${results.machine.node}; load average ${results.machine.loadavg.join(' ')}.`,
  '',
  '| what | runs | min ms | median ms | p90 ms |',
  '|---|---|---|---|---|',
  row('`node -e 0`', node),
  row('`keyctl exec alpha/arb1 -- node -e 0`', exec),
  ...(baseline ? [row('the same with the baseline build', baseline)] : []),
  row('until the bot runs: `node -e`', startup.plainNode),
  row('until the bot runs: `keyctl exec`', startup.keyctlExec),
  ...(baseline ? [row('until the bot runs: the baseline build', startup.baseline)] : []),
  row('provider read (local store, in process)', direct),
  row('`loadCredentials()` from the environment', fromEnv),
  row('`loadCredentials()` from a token (local store: open + unwrap)', fromToken),
  '',
  `keyctl exec adds **${results.exec.addedMedianMs} ms** at the median (${results.exec.ratio}× plain node; target < 150 ms).`,
  ...(baseline
    ? [
        '',
        `Against the baseline build (${BASELINE}), run alternately: **${results.exec.baseline.ratioToBaseline}×** its median ` +
          `whole run, **${results.exec.baseline.startupRatioToBaseline}×** its median time until the bot runs.`,
      ]
    : []),
  '',
].join('\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/startup.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(root, 'bench/results/startup.md'), md);
process.stdout.write(md);
