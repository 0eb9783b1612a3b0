/**
 * UNVERIFIABLE: a policy check the exchange cannot answer (Coinbase reports no IP allowlist) is a violation unless the
 * account accepts the gap (`accounts.<name>.accept`), never a silent pass. Coinbase's parser is fed recorded payloads
 * shaped like its documented example (test/fixtures/exchanges/coinbase).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { acceptedGaps, evaluateKey, unverifiableChecks, type KeyTarget } from '../../src/domain/policy.js';
import type { KeyInspection } from '../../src/domain/inspection.js';
import { COINBASE_PERMISSIONS, coinbaseFlagsFor, parseCoinbasePermissions } from '../../src/exchanges/coinbase/adapter.js';
import { alertFromEvent } from '../../src/alerts/events.js';
import { remedy } from '../../src/domain/remedy.js';
import type { Alert } from '../../src/alerts/index.js';
import { AlertConditions } from '../../src/daemon/conditions.js';
import { silentLogger } from '../../src/events/logger.js';
import type { KeyctlEvent } from '../../src/events/types.js';
import { MemoryCoordination } from '../../providers/memory/coordination.js';

const PORTFOLIO = '0b6f8b1e-fake-4c1d-9a55-000000000001';
const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/exchanges/coinbase/${name}.json`, import.meta.url), 'utf8')) as unknown;
const bot: KeyTarget = { kind: 'bot', scopes: ['spot:trade', 'futures:trade'], ips: ['203.0.113.10'], subaccount: PORTFOLIO };
const codes = (i: KeyInspection, target: KeyTarget = bot, accept: Parameters<typeof evaluateKey>[2] = {}) =>
  evaluateKey(i, target, accept).map((v) => v.code);

describe('policy: unverifiable checks and accepted gaps', () => {
  it('a Coinbase key that is otherwise clean is UNVERIFIABLE (ip-lock) and names how to accept it', () => {
    const inspection = parseCoinbasePermissions(fixture('key-permissions-trade'));
    expect(inspection.ips).toBe('unreported');
    expect(unverifiableChecks(inspection)).toEqual(['ip-lock']);
    const violations = evaluateKey(inspection, bot);
    expect(violations).toEqual([
      { code: 'UNVERIFIABLE', check: 'ip-lock', detail: expect.stringContaining('accept: [ip-lock-unverifiable]') as unknown },
    ]);
  });

  it('passes once the account accepts ip-lock-unverifiable, and reports the accepted gap', () => {
    const inspection = parseCoinbasePermissions(fixture('key-permissions-trade'));
    expect(codes(inspection, bot, { accept: ['ip-lock-unverifiable'] })).toEqual([]);
    expect(acceptedGaps(inspection, { accept: ['ip-lock-unverifiable'] })).toEqual(['ip-lock-unverifiable']);
    // Accepting another gap does not cover this one.
    expect(codes(inspection, bot, { accept: ['owner-unverifiable'] })).toEqual(['UNVERIFIABLE']);
    expect(acceptedGaps(inspection, { accept: ['owner-unverifiable'] })).toEqual([]);
  });

  it('an accepted gap hides nothing else: transfer (and withdraw) and the wrong portfolio still count', () => {
    const inspection = parseCoinbasePermissions(fixture('key-permissions-transfer'));
    expect(codes(inspection, bot, { accept: ['ip-lock-unverifiable'] })).toEqual(['WITHDRAW_ENABLED', 'TRANSFER_ENABLED']);
    const elsewhere: KeyTarget = { ...bot, subaccount: 'another-portfolio' } as KeyTarget;
    expect(codes(parseCoinbasePermissions(fixture('key-permissions-trade')), elsewhere, { accept: ['ip-lock-unverifiable'] })).toEqual([
      'WRONG_ACCOUNT',
    ]);
  });

  it('a master key with an unreported allowlist is UNVERIFIABLE too, never NOT_IP_LOCKED nor a pass', () => {
    const inspection: KeyInspection = {
      scopes: ['read', 'keys:manage'],
      native: {},
      ips: 'unreported',
      readOnly: false,
      owner: { isMaster: true },
    };
    const target: KeyTarget = { kind: 'master', exchange: 'coinbase', masterScopes: ['keys:manage'] };
    expect(codes(inspection, target)).toEqual(['UNVERIFIABLE']);
    expect(codes(inspection, target, { accept: ['ip-lock-unverifiable'] })).toEqual([]);
  });

  it('an unverifiable owner is its own gap, with its own accept name', () => {
    const inspection: KeyInspection = {
      scopes: ['read', 'spot:trade', 'futures:trade'],
      native: {},
      ips: ['203.0.113.10'],
      readOnly: false,
      owner: {},
      unverifiable: ['owner'],
    };
    expect(evaluateKey(inspection, bot).map((v) => [v.code, v.check])).toEqual([['UNVERIFIABLE', 'owner']]);
    expect(codes(inspection, bot, { accept: ['owner-unverifiable'] })).toEqual([]);
    expect(codes({ ...inspection, ips: 'unreported' }, bot, { accept: ['owner-unverifiable'] })).toEqual(['UNVERIFIABLE']);
  });

  it('maps Coinbase permissions both ways; an unknown can_* flag is unknown:<name>', () => {
    expect(parseCoinbasePermissions({ ...(fixture('key-permissions-trade') as object), can_trade: false }).scopes).toEqual(['read']);
    expect(parseCoinbasePermissions({ ...(fixture('key-permissions-trade') as object), can_stake: true }).scopes).toContain(
      'unknown:can_stake',
    );
    expect(
      codes(parseCoinbasePermissions({ ...(fixture('key-permissions-trade') as object), can_stake: true }), bot, {
        accept: ['ip-lock-unverifiable'],
      }),
    ).toEqual(['UNKNOWN_PERMISSION']);
    for (const [flag, scopes] of Object.entries(COINBASE_PERMISSIONS))
      expect(coinbaseFlagsFor(scopes)[flag as keyof typeof COINBASE_PERMISSIONS]).toBe(true);
    expect(coinbaseFlagsFor(['read'])).toEqual({ can_view: true, can_trade: false, can_transfer: false });
  });

  it('refuses an answer not in the documented shape (EXCHANGE_BAD_RESPONSE), never fewer permissions', () => {
    const good = fixture('key-permissions-trade') as Record<string, unknown>;
    for (const bad of [{ ...good, can_transfer: 'no' }, { ...good, portfolio_type: 'OTHER' }, { can_view: true }]) {
      expect(() => parseCoinbasePermissions(bad)).toThrow(expect.objectContaining({ code: 'EXCHANGE_BAD_RESPONSE' }));
    }
  });

  it('each unaccepted gap is its own alert condition (dedup key), so a new gap alerts again', () => {
    const event = (unverifiable: string[]) =>
      alertFromEvent({
        type: 'violation',
        ref: 'alpha/cb1',
        fingerprint: 'fp',
        codes: ['UNVERIFIABLE'],
        source: 'verify',
        unverifiable,
        time: '2026-01-01T00:00:00.000Z',
      } as never);
    expect(event(['ip-lock'])?.dedupKey).toBe('violation:alpha/cb1:UNVERIFIABLE:ip-lock');
    expect(event(['ip-lock', 'owner'])?.dedupKey).toBe('violation:alpha/cb1:UNVERIFIABLE:ip-lock,UNVERIFIABLE:owner');
    expect(event(['ip-lock'])?.summary).toContain('cannot verify: ip-lock');
  });

  it('the daemon alerts once per unaccepted gap: not again for the same gap, again for a new one, resolved on a pass', async () => {
    const sent: Alert[] = [];
    const c = new AlertConditions(new MemoryCoordination(), { send: async (a) => void sent.push(a) }, silentLogger);
    const time = '2026-01-01T00:00:00.000Z';
    const found = (unverifiable: string[]) =>
      ({
        type: 'violation',
        ref: 'alpha/bfx1',
        fingerprint: 'fp',
        codes: unverifiable.map(() => 'UNVERIFIABLE'),
        source: 'verify',
        unverifiable,
        time,
      }) as KeyctlEvent;
    await c.onEvent(found(['ip-lock']));
    await c.onEvent(found(['ip-lock']));
    expect(sent).toHaveLength(1);
    await c.onEvent(found(['ip-lock', 'owner']));
    expect(sent.map((a) => a.dedupKey)).toEqual([
      'violation:alpha/bfx1:UNVERIFIABLE:ip-lock',
      'violation:alpha/bfx1:UNVERIFIABLE:ip-lock,UNVERIFIABLE:owner',
    ]);
    // The account accepts the gaps: the next verification passes and closes the condition.
    await c.onEvent({
      type: 'verification.result',
      ref: 'alpha/bfx1',
      fingerprint: 'fp',
      outcome: 'ok',
      violations: [],
      time,
    } as KeyctlEvent);
    expect(sent.map((a) => [a.event, a.resolved ?? false])).toEqual([
      ['violation.found', false],
      ['violation.found', false],
      ['violation.resolved', true],
    ]);
  });

  it("verify's hint for a gap says to accept it, not to rotate (a new key would have the same gap)", () => {
    const target = { ref: 'alpha/cb1', kind: 'slot' as const, exchange: 'coinbase', scopes: ['spot:trade', 'futures:trade'] };
    const gap = evaluateKey(parseCoinbasePermissions(fixture('key-permissions-trade')), bot);
    const hint = remedy(target, gap);
    expect(hint).toContain('accept: [ip-lock-unverifiable]');
    expect(hint).not.toContain('keyctl rotate');
    const both = remedy(target, evaluateKey(parseCoinbasePermissions(fixture('key-permissions-transfer')), bot));
    expect(both).toContain('Run keyctl rotate alpha/cb1');
    expect(both).toContain('accept: [ip-lock-unverifiable]');
  });
});
