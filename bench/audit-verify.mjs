// `audit verify` at scale (`npm run bench:audit`, after `npm run build`): time and peak RSS of verifying a log of
// BENCH_AUDIT_ENTRIES entries (default 1,000,000), side by side in one run:
//   - intact: the one-pass check, which holds nothing per line (the bound: under 100 MB at 1,000,000);
//   - tampered: the same log with one edited line in the middle, which needs the full analysis (one record per line);
//   - what `status` and `schedule` read instead of the whole log: the latest-entry cache (built once, then warm) and
//     the end-of-chain check.
// Each case runs in its own process (`process.resourceUsage().maxRSS` is per process), against the built dist/.
// The log is written directly with the chain's MACs (appending a million entries through the locked, fsync'd append
// would take an hour and measure the disk, not verify). Results: bench/results/audit-verify.{json,md}.
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const N = Number(process.env.BENCH_AUDIT_ENTRIES ?? 1_000_000);
const KEY_HEX = '42'.repeat(32);

if (process.argv[2] === 'child') {
  // One verification, reported as JSON on stdout.
  const { openAuditLog } = await import(join(root, 'dist/src/audit/log.js'));
  const log = openAuditLog({ path: process.argv[3], key: Buffer.from(KEY_HEX, 'hex') });
  if (process.argv[4] === 'latest') {
    // status's reads: the latest verify entry per key, then the end-of-chain check.
    const t0 = performance.now();
    const found = await log.latest(['verify']);
    const end = await log.checkEnd();
    const ms = performance.now() - t0;
    process.stdout.write(JSON.stringify({ ms, maxRssMb: process.resourceUsage().maxRSS / 1024, ok: end.ok, found: found.length }));
    process.exit(0);
  }
  const t0 = performance.now();
  const report = await log.verify();
  const ms = performance.now() - t0;
  process.stdout.write(
    JSON.stringify({
      ms,
      maxRssMb: process.resourceUsage().maxRSS / 1024,
      ok: report.ok,
      entries: report.entries,
      problems: report.problems.length,
    }),
  );
  process.exit(0);
}

const { entryMac, headMac, GENESIS } = await import(join(root, 'dist/src/audit/chain.js'));
const key = Buffer.from(KEY_HEX, 'hex');
const dir = mkdtempSync(join(tmpdir(), 'keyctl-bench-audit-'));

/** Writes an N-entry chain (and its head anchor); with `editAt`, that entry's outcome is changed after its MAC. */
async function writeLog(path, editAt) {
  const out = createWriteStream(path);
  let prev = GENESIS;
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  for (let seq = 1; seq <= N; seq++) {
    const body = {
      seq,
      time: new Date(t0 + seq * 1000).toISOString(),
      actor: 'bench',
      command: seq % 3 === 0 ? 'verify' : 'rotate.step',
      ref: `bot${seq % 100}/sub${seq % 7}`,
      fingerprint: (seq * 2654435761).toString(16).padStart(16, '0').slice(-16),
      outcome: 'ok',
      detail: { violations: '' },
      prev,
    };
    const mac = entryMac(key, body);
    const line = JSON.stringify({ ...body, ...(seq === editAt ? { outcome: 'failed' } : {}), mac });
    if (!out.write(`${line}\n`)) await new Promise((r) => out.once('drain', r));
    prev = mac;
  }
  await new Promise((r) => out.end(r));
  writeFileSync(`${path}.head`, `${JSON.stringify({ seq: N, mac: prev, hmac: headMac(key, N, prev) })}\n`);
}

function run(path, mode = 'verify') {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), 'child', path, mode], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`verify child failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

try {
  const intact = join(dir, 'intact.log');
  const tampered = join(dir, 'tampered.log');
  await writeLog(intact);
  await writeLog(tampered, Math.floor(N / 2));
  const sizeMb = statSync(intact).size / 1048576;
  const a = run(intact);
  const b = run(tampered);
  const cold = run(intact, 'latest'); // no cache yet: built from the whole log, once
  const warm = run(intact, 'latest');
  // 700 refs are verified in the generated log (`bot${seq % 100}/sub${seq % 7}` over seqs divisible by 3).
  if (!cold.ok || !warm.ok || warm.found !== 700 || cold.found !== 700)
    throw new Error(`latest/checkEnd wrong: ${JSON.stringify({ cold, warm })}`);
  if (!a.ok || a.entries !== N) throw new Error(`the intact log did not verify: ${JSON.stringify(a)}`);
  if (b.ok || b.problems !== 1) throw new Error(`the tampered log was not caught exactly once: ${JSON.stringify(b)}`);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    entries: N,
    logMb: Math.round(sizeMb),
    intact: { seconds: +(a.ms / 1000).toFixed(2), peakRssMb: Math.round(a.maxRssMb) },
    tampered: { seconds: +(b.ms / 1000).toFixed(2), peakRssMb: Math.round(b.maxRssMb) },
    ratio: { time: +(b.ms / a.ms).toFixed(2), rss: +(b.maxRssMb / a.maxRssMb).toFixed(2) },
    statusReads: {
      cold: { ms: Math.round(cold.ms), peakRssMb: Math.round(cold.maxRssMb) },
      warm: { ms: +warm.ms.toFixed(1), peakRssMb: Math.round(warm.maxRssMb) },
      warmShareOfVerify: +(warm.ms / a.ms).toFixed(5),
    },
  };
  const md = [
    `# audit verify at ${N.toLocaleString('en')} entries (${result.logMb} MB log)`,
    '',
    `${result.date}, Node ${result.node}, ${result.cpus} CPUs. Each case in its own process; peak RSS of that process.`,
    '',
    '| log | path | time | peak RSS |',
    '|---|---|---|---|',
    `| intact | one pass, nothing kept per line | ${result.intact.seconds} s | ${result.intact.peakRssMb} MB |`,
    `| one line edited | full analysis (a record per line) | ${result.tampered.seconds} s | ${result.tampered.peakRssMb} MB |`,
    `| ratio (edited / intact) | | ${result.ratio.time}x | ${result.ratio.rss}x |`,
    `| status's reads, first run | latest-entry cache built from the whole log, end check | ${result.statusReads.cold.ms} ms | ${result.statusReads.cold.peakRssMb} MB |`,
    `| status's reads, cache warm | cache + end of the log only | ${result.statusReads.warm.ms} ms | ${result.statusReads.warm.peakRssMb} MB |`,
    `| ratio (warm status reads / intact verify) | | ${result.statusReads.warmShareOfVerify}x | |`,
    '',
  ].join('\n');
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/audit-verify.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(root, 'bench/results/audit-verify.md'), md);
  process.stdout.write(md);
} finally {
  if (!process.env.BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  else console.log(dir);
}
