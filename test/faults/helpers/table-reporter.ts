/**
 * The table `npm run test:faults` prints at its end: every fault case (rows, grouped by file) with its outcome, what the
 * case ended in when it says (`task.meta.faultOutcome`, set by the case once it has passed), and its time; then the
 * totals and the wall time. A vitest reporter next to the default one (package.json `test:faults`), so each fault file
 * only states its outcome and none prints a table of its own.
 */
import { basename } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

interface Row {
  file: string;
  name: string;
  outcome: string;
  detail: string;
  ms: number;
}

export default class FaultTableReporter implements Reporter {
  private started = 0;

  onTestRunStart(): void {
    this.started = performance.now();
  }

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const rows: Row[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        const outcome =
          state === 'passed' && test.options.fails ? 'known defect' : state === 'passed' ? 'PASS' : state === 'failed' ? 'FAIL' : state;
        rows.push({
          file: basename(module.moduleId).replace(/\.test\.ts$/, ''),
          name: test.name,
          outcome,
          detail: test.meta().faultOutcome ?? '',
          ms: test.diagnostic()?.duration ?? 0,
        });
      }
    }
    if (rows.length === 0) return;
    rows.sort((a, b) => a.file.localeCompare(b.file) || a.name.localeCompare(b.name));
    const width = (pick: (r: Row) => string, max: number) => Math.min(max, Math.max(...rows.map((r) => pick(r).length)));
    const nameW = width((r) => r.name, 110);
    const detailW = width((r) => r.detail, 48);
    const cut = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
    const lines = ['', `Fault suite: ${rows.length} cases`];
    let file = '';
    for (const r of rows) {
      if (r.file !== file) {
        file = r.file;
        lines.push('', `${file}`, `  ${'case'.padEnd(nameW)}  ${'outcome'.padEnd(12)}  ${'ended in'.padEnd(detailW)}  time`);
      }
      lines.push(`  ${cut(r.name, nameW)}  ${r.outcome.padEnd(12)}  ${cut(r.detail, detailW)}  ${(r.ms / 1000).toFixed(1)} s`);
    }
    const count = (o: string) => rows.filter((r) => r.outcome === o).length;
    lines.push(
      '',
      `PASS ${count('PASS')}  FAIL ${count('FAIL')}  known defect (it.fails) ${count('known defect')}  other ${rows.length - count('PASS') - count('FAIL') - count('known defect')}` +
        `  wall ${((performance.now() - this.started) / 1000).toFixed(0)} s`,
      '',
    );
    process.stdout.write(lines.join('\n'));
  }
}
