/** Progress lines and the live line, what status and key list call unsafe, and what verify's hint says to do. */
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LIVE_AFTER_MS, Progress } from '../../src/cli/progress.js';
import { Output } from '../../src/cli/output.js';
import { Redactor } from '../../src/audit/redact.js';
import { keyState, violationFlags } from '../../src/domain/key-state.js';
import { remedy } from '../../src/domain/remedy.js';
import type { AuditEntry } from '../../src/audit/types.js';

const CLEAR = '\r\x1b[2K';

function sink(isTTY: boolean): Writable & { text: () => string; isTTY: boolean } {
  let text = '';
  const s = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  }) as Writable & { text: () => string; isTTY: boolean };
  s.text = () => text;
  s.isTTY = isTTY;
  return s;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Progress', () => {
  it('prints a line per finished slot; on a terminal, a live line only once the work took over 2 s, cleared before each line and at the end', () => {
    vi.useFakeTimers();
    const live = sink(true);
    const lines: string[] = [];
    const p = new Progress({ verb: 'rotating', total: 3, line: (t) => lines.push(t), live });
    p.begin('alpha/arb1');
    vi.advanceTimersByTime(LIVE_AFTER_MS - 300);
    expect(live.text()).toBe('');
    p.done('alpha/arb1', 'alpha/arb1: rotated');
    expect(lines).toEqual(['alpha/arb1: rotated']);
    p.begin('alpha/arb2');
    vi.advanceTimersByTime(400);
    expect(live.text()).toBe(`${CLEAR}rotating 1/3 (2s): alpha/arb2`);
    const drawn = live.text().length;
    p.done('alpha/arb2', 'alpha/arb2: rotated');
    // Cleared before the line is written (the caller's line goes to stderr between), drawn again after it.
    expect(live.text().slice(drawn)).toBe(`${CLEAR}${CLEAR}rotating 2/3 (2s)`);
    p.end();
    expect(live.text().endsWith(CLEAR)).toBe(true);
    const after = live.text();
    vi.advanceTimersByTime(5000);
    expect(live.text()).toBe(after);
  });

  it('never writes an escape code without a terminal, however long the work takes', () => {
    vi.useFakeTimers();
    const lines: string[] = [];
    const p = new Progress({ verb: 'verifying', total: 2, line: (t) => lines.push(t) });
    p.begin('alpha/arb1');
    vi.advanceTimersByTime(60_000);
    p.done('alpha/arb1', 'alpha/arb1: ok');
    p.end();
    expect(lines).toEqual(['alpha/arb1: ok']);
  });

  it('Output gives a live line on a terminal but no lines and no live line with --json', () => {
    vi.useFakeTimers();
    const term = sink(true);
    const stdout = new PassThrough();
    const quiet = new Output(true, stdout, term, new Redactor(), term).progress('rotating', 1);
    quiet.begin('alpha/arb1');
    vi.advanceTimersByTime(5000);
    quiet.done('alpha/arb1', 'alpha/arb1: rotated');
    quiet.end();
    expect(term.text()).toBe('');
    const loud = new Output(false, stdout, term, new Redactor(), term).progress('rotating', 1);
    loud.begin('alpha/arb1');
    vi.advanceTimersByTime(2500);
    loud.done('alpha/arb1', 'alpha/arb1: rotated');
    loud.end();
    expect(term.text()).toContain('rotating 0/1');
    expect(term.text()).toContain('alpha/arb1: rotated\n');
  });
});

const verifyEntry = (fingerprint: string, outcome: AuditEntry['outcome'], violations = ''): AuditEntry => ({
  seq: 1,
  time: '2026-12-01T00:00:00.000Z',
  actor: 'ops',
  command: 'verify',
  ref: 'alpha/arb1',
  fingerprint,
  outcome,
  detail: { violations },
  prev: 'genesis',
  mac: 'x',
});

describe('keyState', () => {
  it('a key stored flagged is unsafe until a verification of that same key passes', () => {
    const flagged = { fingerprint: 'fp1', flags: violationFlags(['WITHDRAW_ENABLED']) };
    expect(keyState('alpha/arb1', flagged, undefined).unsafe).toMatch(/stored despite WITHDRAW_ENABLED/);
    expect(keyState('alpha/arb1', flagged, verifyEntry('fp1', 'failed')).unsafe).toMatch(/stored despite/);
    expect(keyState('alpha/arb1', flagged, verifyEntry('fp0', 'ok')).unsafe).toMatch(/stored despite/);
    expect(keyState('alpha/arb1', flagged, verifyEntry('fp1', 'ok'))).toMatchObject({ unsafe: null, flagged: ['WITHDRAW_ENABLED'] });
  });

  it("a key whose last verification found a violation is unsafe; an earlier key's verdict says nothing about this one", () => {
    expect(keyState('alpha/arb1', { fingerprint: 'fp1' }, verifyEntry('fp1', 'refused', 'TRANSFER_ENABLED')).unsafe).toBe(
      'its last verification (2026-12-01T00:00:00.000Z) found TRANSFER_ENABLED',
    );
    expect(keyState('alpha/arb1', { fingerprint: 'fp2' }, verifyEntry('fp1', 'refused', 'TRANSFER_ENABLED'))).toMatchObject({
      unsafe: null,
      lastVerification: null,
    });
    expect(keyState('alpha/arb1', null, verifyEntry('fp1', 'refused')).unsafe).toBeNull();
  });
});

describe('remedy', () => {
  const slot = {
    ref: 'alpha/arb1',
    kind: 'slot' as const,
    exchange: 'okx',
    scopes: ['read', 'spot:trade'],
    boundScopes: [['spot:trade', 'margin:trade', 'futures:trade', 'options:trade']],
    scopesPath: 'bots.alpha.subaccounts.arb1.scopes',
  };
  const excess = { code: 'EXCESS_SCOPE' as const, detail: 'x', scopes: ['margin:trade', 'futures:trade'] };

  it('says to rotate a bot key, and to change the declared scopes when the exchange grants the excess only together', () => {
    expect(remedy(slot, [{ code: 'WITHDRAW_ENABLED', detail: 'x' }])).toMatch(/^Run keyctl rotate alpha\/arb1: /);
    const bundled = remedy(slot, [excess]);
    expect(bundled).toMatch(/^okx grants margin:trade, futures:trade only together/);
    expect(bundled).toContain('add margin:trade, futures:trade to bots.alpha.subaccounts.arb1.scopes');
    expect(bundled).not.toContain('keyctl rotate');
    // Both: rotate for what rotation fixes, and the scopes for what it cannot.
    expect(remedy(slot, [excess, { code: 'NOT_IP_LOCKED', detail: 'x' }])).toMatch(/^Run keyctl rotate .* okx grants/);
  });

  it('says to rotate when the exchange could narrow the excess, or has no bundles', () => {
    expect(remedy({ ...slot, boundScopes: [] }, [excess])).toMatch(/^Run keyctl rotate/);
    expect(remedy(slot, [{ ...excess, scopes: ['margin:trade', 'unknown:x'] }])).toMatch(/^Run keyctl rotate/);
  });

  it('sends a master key to be replaced by hand, and gives no hint without violations', () => {
    expect(remedy({ ref: '@main', kind: 'account', exchange: 'bybit' }, [{ code: 'NOT_IP_LOCKED', detail: 'x' }])).toMatch(
      /keyctl key import @main/,
    );
    expect(remedy(slot, [])).toBeUndefined();
  });
});
