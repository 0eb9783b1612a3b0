// Redactor benchmark (`npm run build && node bench/redact.mjs`): the cost of `apply` on a ~4 KB text with 10, 100
// and 1000 registered secrets (6 forms each), the previous algorithm (sort every form, then split/join each one found)
// against the current one (a matcher built once per change: src/audit/redact.ts), side by side, plus the cost of the
// first `apply` after a change (the rebuild).
//
// BENCH_DIST=<dir> loads the Redactor from <dir>/src/audit/redact.js instead of dist/ (to bench without a full build).
// BENCH_BASELINE_DIST=<dir> also times the Redactor built in <dir> (say, a build of the previous commit's redact.ts) in
// the same run, so a change to the forms or the matcher is compared under the same machine load.
// Results go to bench/results/redact.json and bench/results/redact.md, and the table is printed.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = process.env.BENCH_DIST ?? join(root, 'dist');
const { Redactor, secretForms } = await import(join(dist, 'src/audit/redact.js'));
const baselineDist = process.env.BENCH_BASELINE_DIST;
const Baseline = baselineDist ? (await import(join(baselineDist, 'src/audit/redact.js'))).Redactor : undefined;
const SIZES = [10, 100, 1000];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const BUDGET_MS = Number(process.env.BENCH_ROUND_MS ?? 40);

/** The algorithm src/audit/redact.ts used before the matcher, verbatim. */
class OldRedactor {
  needles = new Set();
  add(...secrets) {
    for (const s of secrets) for (const form of secretForms(s)) this.needles.add(form);
  }
  apply(text) {
    let out = text;
    for (const n of [...this.needles].sort((a, b) => b.length - a.length)) {
      if (out.includes(n)) out = out.split(n).join('[REDACTED]');
    }
    return out;
  }
}

// Log-like text with two registered secrets in it (one plain, one hex-encoded), as a real line that leaked would.
function textWith(secrets) {
  let text = '';
  for (let i = 0; text.length < 4096; i++) {
    text +=
      `2025-06-01T12:00:${String(i % 60).padStart(2, '0')}.000Z INFO rotation step ref=alpha/arb${i} ` +
      `fingerprint=${randomBytes(6).toString('hex')} version=v${i} {"ok":true,"ms":${i * 7}}\n`;
  }
  const hex = Buffer.from(secrets.at(-1)).toString('hex');
  return `${text.slice(0, 1300)}${secrets[0]}${text.slice(1300, 2600)}${hex}${text.slice(2600, 4096 - secrets[0].length - hex.length)}`;
}

/** µs per call over one round of ~BUDGET_MS. */
function round(fn) {
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < BUDGET_MS) {
    fn();
    n += 1;
    t = performance.now();
  }
  return ((t - t0) * 1000) / n;
}

/** Median µs per call of each function over ROUNDS rounds of ~BUDGET_MS each, their rounds interleaved. */
function timeEach(...fns) {
  const per = fns.map(() => []);
  for (let r = 0; r < ROUNDS; r++) fns.forEach((fn, i) => per[i].push(round(fn)));
  return per.map((p) => p.sort((a, b) => a - b)[Math.floor(p.length / 2)]);
}

const time = (fn) => timeEach(fn)[0];

const cases = [];
for (const n of SIZES) {
  // Exchange-shaped keys: an 18-character key and a 36-character secret per registered pair, half of each.
  const secrets = Array.from({ length: n }, (_, i) => randomBytes(i % 2 ? 27 : 14).toString('base64url'));
  const text = textWith(secrets);
  const before = new OldRedactor();
  const after = new Redactor();
  before.add(...secrets);
  after.add(...secrets);
  const expected = before.apply(text);
  if (after.apply(text) !== expected) throw new Error(`outputs differ with ${n} secrets`);
  if ((expected.match(/\[REDACTED\]/g) ?? []).length !== 2) throw new Error('the text should hold two secrets');
  const baseline = Baseline ? new Baseline() : undefined;
  baseline?.add(...secrets);
  // Warm each, then alternate so drift in machine load hits every side alike.
  time(() => before.apply(text));
  time(() => after.apply(text));
  if (baseline) time(() => baseline.apply(text));
  const [oldUs, newUs, baselineUs] = timeEach(
    () => before.apply(text),
    () => after.apply(text),
    ...(baseline ? [() => baseline.apply(text)] : []),
  );
  // A change then one apply: what a process pays each time a rotation registers or forgets a key.
  const spare = randomBytes(20).toString('base64url');
  const change = (r) => () => {
    r.add(spare);
    r.apply(text);
    r.forget(spare);
  };
  const [rebuildUs, baselineChangeUs] = timeEach(change(after), ...(baseline ? [change(baseline)] : []));
  cases.push({
    secrets: n,
    forms: after.size,
    textChars: text.length,
    oldUs,
    newUs,
    speedup: oldUs / newUs,
    changeThenApplyUs: rebuildUs,
    ...(baseline ? { baselineForms: baseline.size, baselineUs, baselineChangeUs } : {}),
  });
}

const r1 = (x) => Math.round(x * 10) / 10;
const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg: loadavg().map(r1), node: process.version },
  cases: cases.map((c) => ({
    ...c,
    oldUs: r1(c.oldUs),
    newUs: r1(c.newUs),
    speedup: r1(c.speedup),
    changeThenApplyUs: r1(c.changeThenApplyUs),
    ...(c.baselineUs === undefined
      ? {}
      : {
          baselineUs: r1(c.baselineUs),
          baselineChangeUs: r1(c.baselineChangeUs),
          applyRatio: Math.round((c.newUs / c.baselineUs) * 100) / 100,
          changeRatio: Math.round((c.changeThenApplyUs / c.baselineChangeUs) * 100) / 100,
        }),
  })),
};
const md = [
  '# Redactor benchmark',
  '',
  `${results.date}; ${results.machine.cpus} × ${results.machine.model}; Node ${results.machine.node}; load average ${results.machine.loadavg.join(' ')}.`,
  '',
  '`apply` on a ~4 KB log-like text holding two of the registered secrets; median of rounds, µs per call.',
  '',
  '| secrets | forms | before (sort + split each) µs | after (matcher) µs | speed-up | add + apply + forget µs |',
  '|---|---|---|---|---|---|',
  ...results.cases.map((c) => `| ${c.secrets} | ${c.forms} | ${c.oldUs} | ${c.newUs} | ${c.speedup}× | ${c.changeThenApplyUs} |`),
  '',
  'The last column is the worst case for a change: each iteration registers a key, applies (rebuilding the matcher) and',
  'forgets it (so the next apply rebuilds again).',
  '',
  ...(Baseline
    ? [
        `Against the baseline build (${process.env.BENCH_BASELINE_LABEL ?? baselineDist}), timed in the same run:`,
        '',
        '| secrets | baseline forms | forms | baseline apply µs | apply µs | ratio | baseline add + apply + forget µs | add + apply + forget µs | ratio |',
        '|---|---|---|---|---|---|---|---|---|',
        ...results.cases.map(
          (c) =>
            `| ${c.secrets} | ${c.baselineForms} | ${c.forms} | ${c.baselineUs} | ${c.newUs} | ${c.applyRatio}× | ${c.baselineChangeUs} | ${c.changeThenApplyUs} | ${c.changeRatio}× |`,
        ),
        '',
      ]
    : []),
].join('\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/redact.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(root, 'bench/results/redact.md'), md);
process.stdout.write(md);
