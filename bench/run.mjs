// keyctl start-up benchmark (`npm run bench`, after `npm run build`).
//
// 1. What `keyctl exec` costs a bot's start, as a ratio to a plain `node -e 0` on the same Node (the headline; target:
//    at most 2.5x, two Node starts being the floor): `keyctl exec alpha/arb1 -- node -e 0`, with the master key in the
//    environment as the README's quick start sets it, run alternately with plain node, many times; medians, p90.
//    Beside them, a minimal wrapper that only spawns the bot (the floor on this machine), the same wrapper doing the
//    file work exec cannot skip without any of its checks (what the target leaves for them), and the same exec with a
//    5,000-slot config: exec's config work must not grow with the number of slots (src/cli/exec-config.ts).
// 2. What `loadCredentials()` costs against reading the same key straight from the provider, in one process.
//
// With BENCH_BASELINE=<another checkout, built>, that build's `keyctl exec` runs in the same alternation (on a store
// its own code creates), so a change is measured as a ratio against the build before it, not against a lone time.
//
// Results go to bench/results/startup.json and bench/results/startup.md (BENCH_NAME.* when set), and the table is printed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(root, 'dist/src/cli/bin.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const INNER = Number(process.env.BENCH_INNER ?? 200);
const MANY_SLOTS = Number(process.env.BENCH_SLOTS ?? 5000);
const TARGET_RATIO = 2.5;

const BASELINE = process.env.BENCH_BASELINE;
const masterKey = Buffer.alloc(32, 0x42).toString('base64');

/** A config declaring `slots` slots (alpha/arb1 first, the only one with a key) and its store, made by the build at `from`. */
async function setUp(from, slots = 1) {
  const { createStore } = await import(join(from, 'dist/providers/local/index.js'));
  const { ensureAuditKey } = await import(join(from, 'dist/src/audit/key.js'));
  const dir = mkdtempSync(join(tmpdir(), 'keyctl-bench-'));
  const config = join(dir, 'keyctl.yaml');
  const lines = ['      arb1: { account: main, uid: "100001", scopes: [read, spot:trade], ips: [203.0.113.7] }'];
  for (let i = 2; i <= slots; i++) {
    lines.push(`      s${i}: { account: main, uid: "${100_000 + i}", scopes: [read, spot:trade], ips: [203.0.113.7] }`);
  }
  writeFileSync(
    config,
    `store: { provider: local, path: ./store }\naccounts:\n  main: { exchange: bybit }\nbots:\n  alpha:\n    subaccounts:\n${lines.join('\n')}\n`,
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
const many = await setUp(root, MANY_SLOTS);
const base = BASELINE ? await setUp(BASELINE) : null;
// The floor: a Node program that starts the bot with a variable set and passes its output and exit code through.
const floorScript = join(dir, 'floor.mjs');
writeFileSync(
  floorScript,
  "import { spawn } from 'node:child_process';\n" +
    "const c = spawn(process.argv[2], process.argv.slice(3), { stdio: ['inherit', 'pipe', 'pipe'], env: { ...process.env, BOT_KEY: 'x' } });\n" +
    "c.stdout.pipe(process.stdout); c.stderr.pipe(process.stderr); c.on('close', (code) => process.exit(code ?? 1));\n",
);

// The floor plus the file work exec cannot skip, without any of its checks: read the config and the store's files
// (keyring, manifest, the slot, the pause, the audit head), derive a key and decrypt, append a line and replace a
// file, each synced, then start the bot. With synchronous calls, the cheapest way Node has. It tells how much of the
// target is left for what keyctl checks.
const ioFloorScript = join(dir, 'io-floor.mjs');
writeFileSync(
  ioFloorScript,
  [
    "import { spawn } from 'node:child_process';",
    "import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';",
    "import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from 'node:fs';",
    "import { join } from 'node:path';",
    `const dir = ${JSON.stringify(dir)};`,
    "createHash('sha256').update(readFileSync(join(dir, 'keyctl.yaml'))).digest();",
    "const store = join(dir, 'store');",
    "for (const f of ['keyring.json', 'manifest.json', ...readdirSync(join(store, 'docs')).map((n) => join('docs', n))]) JSON.parse(readFileSync(join(store, f), 'utf8'));",
    "const key = Buffer.from(hkdfSync('sha256', randomBytes(32), 'salt', 'info', 32));",
    'const iv = randomBytes(12);',
    "const c = createCipheriv('aes-256-gcm', key, iv);",
    "const sealed = Buffer.concat([c.update('FAKE-secret'), c.final()]);",
    "const d = createDecipheriv('aes-256-gcm', key, iv).setAuthTag(c.getAuthTag());",
    'd.update(sealed); d.final();',
    "const log = openSync(join(dir, 'io-floor.log'), 'a', 0o600);",
    "writeSync(log, createHmac('sha256', key).update('entry').digest('hex') + '\\n'); fsyncSync(log); closeSync(log);",
    "const tmp = join(dir, 'io-floor.head.tmp');",
    "const head = openSync(tmp, 'w', 0o600); writeSync(head, '{}'); fsyncSync(head); closeSync(head);",
    "renameSync(tmp, join(dir, 'io-floor.head'));",
    "const bot = spawn(process.argv[2], process.argv.slice(3), { stdio: ['inherit', 'pipe', 'pipe'], env: { ...process.env, BOT_KEY: 'x' } });",
    "bot.stdout.pipe(process.stdout); bot.stderr.pipe(process.stderr); bot.on('close', (code) => process.exit(code ?? 1));",
    '',
  ].join('\n'),
);

// The README's quick start: the master key in the environment. Each exec keeps its config cache in this directory.
const runtime = mkdtempSync(join(tmpdir(), 'keyctl-bench-run-'));
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  KEYCTL_MASTER_KEY: masterKey,
  KEYCTL_ACTOR: 'bench',
  KEYCTL_RUNTIME_DIR: runtime,
};
// The bot prints the time it started running, so each run yields two numbers: until the bot runs (start-up: what a
// bot waits for) and until exec exits (start-up plus keyctl's work after the bot's exit).
const BOT = ['-e', 'process.stdout.write(String(Date.now()))'];
const execOf = (bin, cfg) => [process.execPath, [bin, '--config', cfg, 'exec', 'alpha/arb1', '--', process.execPath, ...BOT]];
const cases = [
  { id: 'plainNode', label: '`node -e 0`', cmd: [process.execPath, BOT] },
  {
    id: 'floor',
    label: 'a minimal Node wrapper that starts the bot (the floor)',
    cmd: [process.execPath, [floorScript, process.execPath, ...BOT]],
  },
  {
    id: 'ioFloor',
    label: 'the same wrapper also doing the file work exec must (reads, decryption, two synced writes), no checks',
    cmd: [process.execPath, [ioFloorScript, process.execPath, ...BOT]],
  },
  { id: 'keyctlExec', label: '`keyctl exec alpha/arb1 -- node -e 0`', cmd: execOf(BIN, config) },
  { id: 'manySlots', label: `the same, config of ${MANY_SLOTS.toLocaleString('en-US')} slots`, cmd: execOf(BIN, many.config) },
  ...(base
    ? [{ id: 'baseline', label: 'the same with the baseline build', cmd: execOf(join(BASELINE, 'dist/src/cli/bin.js'), base.config) }]
    : []),
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

// Warm the file cache and exec's config cache, then alternate so drift in machine load hits every case alike.
for (const c of cases) timeOnce(c.cmd);
for (const c of cases) Object.assign(c, { whole: [], started: [] });
for (let i = 0; i < RUNS; i++) for (const c of cases) c.whole.push(timeOnce(c.cmd, c.started));
const whole = Object.fromEntries(cases.map((c) => [c.id, stats(c.whole)]));
const started = Object.fromEntries(cases.map((c) => [c.id, stats(c.started)]));

// loadCredentials() (environment mode, and token mode through the local store) against a direct provider read.
const { loadCredentials } = await import(join(root, 'dist/src/index.js'));
const { formatToken, encodePayload } = await import(join(root, 'clients/node/dist/token.js'));
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
for (const s of [{ store, dir }, many, ...(base ? [base] : [])]) {
  await s.store.close();
  rmSync(s.dir, { recursive: true, force: true });
}
rmSync(runtime, { recursive: true, force: true });

const r1 = (x) => Math.round(x * 10) / 10;
const r2 = (x) => Math.round(x * 100) / 100;
const ratio = (id) => r2(whole[id].median / whole.plainNode.median);
const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map(r1), node: process.version },
  exec: {
    ratioToPlainNode: ratio('keyctlExec'),
    targetRatio: TARGET_RATIO,
    floorRatio: ratio('floor'),
    ioFloorRatio: ratio('ioFloor'),
    addedMedianMs: r1(whole.keyctlExec.median - whole.plainNode.median),
    manySlots: {
      slots: MANY_SLOTS,
      ratioToPlainNode: ratio('manySlots'),
      ratioToOneSlot: r2(whole.manySlots.median / whole.keyctlExec.median),
    },
    wholeRun: whole,
    untilTheBotRuns: started,
    ...(base
      ? {
          baseline: {
            build: BASELINE,
            ratioToPlainNode: ratio('baseline'),
            ratioToBaseline: r2(whole.keyctlExec.median / whole.baseline.median),
            startupRatioToBaseline: r2(started.keyctlExec.median / started.baseline.median),
          },
        }
      : {}),
  },
  loadCredentials: { directProviderRead: direct, environment: fromEnv, tokenLocalStore: fromToken },
};
const row = (name, s) => `| ${name} | ${s.runs} | ${r1(s.min)} | ${r1(s.median)} | ${r1(s.p90)} |`;
const e = results.exec;
const md = [
  `# keyctl start-up benchmark`,
  '',
  `${results.date}; ${results.machine.cpus} × ${results.machine.model}; Node ${results.machine.node}; load average ${results.machine.loadavg.join(' ')}.`,
  '',
  `**\`keyctl exec\` takes ${e.ratioToPlainNode}× a plain \`node -e 0\`** at the median (target: at most ${TARGET_RATIO}×; ` +
    `a wrapper that only starts the bot: ${e.floorRatio}×; one that also does exec's file work without its checks: ${e.ioFloorRatio}×), ${e.addedMedianMs} ms more. With ${MANY_SLOTS.toLocaleString('en-US')} ` +
    `slots in the config: ${e.manySlots.ratioToPlainNode}× (${e.manySlots.ratioToOneSlot}× the 1-slot config).`,
  '',
  'Whole run, alternating, each case once per round:',
  '',
  '| what | runs | min ms | median ms | p90 ms |',
  '|---|---|---|---|---|',
  ...cases.map((c) => row(c.label, whole[c.id])),
  '',
  'Until the bot runs (the bot prints the time it started):',
  '',
  '| what | runs | min ms | median ms | p90 ms |',
  '|---|---|---|---|---|',
  ...cases.map((c) => row(c.label, started[c.id])),
  '',
  'In one process:',
  '',
  '| what | runs | min ms | median ms | p90 ms |',
  '|---|---|---|---|---|',
  row('provider read (local store, in process)', direct),
  row('`loadCredentials()` from the environment', fromEnv),
  row('`loadCredentials()` from a token (local store: open + unwrap)', fromToken),
  ...(base
    ? [
        '',
        `Against the baseline build (${BASELINE}), run alternately: **${e.baseline.ratioToBaseline}×** its median ` +
          `whole run (it takes ${e.baseline.ratioToPlainNode}× plain node), **${e.baseline.startupRatioToBaseline}×** its median time until the bot runs.`,
      ]
    : []),
  '',
].join('\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
// BENCH_NAME names the result files, e.g. startup-node22 for `BENCH_NAME=startup-node22 .ci/with-node.sh 22 node bench/run.mjs`.
const name = process.env.BENCH_NAME ?? 'startup';
writeFileSync(join(root, `bench/results/${name}.json`), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(root, `bench/results/${name}.md`), md);
process.stdout.write(md);
