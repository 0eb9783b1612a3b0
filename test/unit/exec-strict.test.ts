/**
 * exec --strict's gate (src/delivery/strict.ts): a bot starts only on a passing checklist verdict at most a day old,
 * read from the audit log's latest entries; anything else, or anything unreadable, refuses with exit 3.
 */
import { describe, expect, it } from 'vitest';
import { latestOf } from '../../src/audit/latest.js';
import type { AuditEntry } from '../../src/audit/types.js';
import { assertChecklistPassed, STRICT_MAX_AGE_MS } from '../../src/delivery/strict.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
let seq = 0;
function verdict(bot: string, passed: boolean, ageMs: number, failing = ''): AuditEntry {
  seq += 1;
  return {
    seq,
    time: new Date(NOW - ageMs).toISOString(),
    actor: 'ops',
    command: 'checklist',
    outcome: passed ? 'ok' : 'refused',
    detail: { bot, failing },
    prev: 'x',
    mac: 'y',
  };
}
const audit = (...entries: AuditEntry[]) => ({ latest: async (commands: readonly string[]) => latestOf(entries, commands) });
const gate = (entries: AuditEntry[], bot = 'alpha') => assertChecklistPassed(audit(...entries), bot, NOW);

describe('exec --strict', () => {
  it('lets a bot start on a passing verdict up to a day old', async () => {
    await expect(gate([verdict('alpha', true, 60_000)])).resolves.toBeUndefined();
    await expect(gate([verdict('alpha', true, STRICT_MAX_AGE_MS)])).resolves.toBeUndefined();
  });

  it('refuses with no verdict, or only another bot’s', async () => {
    await expect(gate([])).rejects.toMatchObject({
      code: 'CHECKLIST_NOT_PASSED',
      exitCode: 3,
      message: expect.stringContaining('no checklist verdict'),
    });
    await expect(gate([verdict('beta', true, 1000)])).rejects.toMatchObject({ code: 'CHECKLIST_NOT_PASSED' });
  });

  it('refuses a failed verdict, naming what failed, even after an earlier pass', async () => {
    const err = gate([verdict('alpha', true, 5000), verdict('alpha', false, 1000, 'two-factor,alerts-tested')]);
    await expect(err).rejects.toMatchObject({ code: 'CHECKLIST_NOT_PASSED', message: expect.stringContaining('two-factor,alerts-tested') });
  });

  it('refuses a pass older than a day, and a verdict dated in the future or unreadable (fail closed)', async () => {
    await expect(gate([verdict('alpha', true, STRICT_MAX_AGE_MS + 1)])).rejects.toMatchObject({
      message: expect.stringContaining('older than a day'),
    });
    await expect(gate([verdict('alpha', true, -60_000)])).rejects.toMatchObject({ code: 'CHECKLIST_NOT_PASSED' });
    await expect(gate([{ ...verdict('alpha', true, 0), time: 'not a time' }])).rejects.toMatchObject({ code: 'CHECKLIST_NOT_PASSED' });
  });
});
