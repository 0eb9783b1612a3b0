import { afterEach, describe, expect, it } from 'vitest';
import { verifyDue, verifyKeys, type VerifyResult } from '../../src/app/verify.js';
import { resolveKey } from '../../src/domain/resolve.js';
import { appWorld, UNSAFE_BOT, type AppWorld } from './app-world.js';

let w: AppWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

const HOUR = 3_600_000;

describe('verifyKeys', () => {
  it('checks every stored key at the exchange, reports each, and emits a result (and a violation) per key', async () => {
    w = await appWorld({ sandbox: true, permissions: { arb2: UNSAFE_BOT }, withoutKey: ['beta/mm'] });
    const secrets: string[] = [];
    const finished: string[] = [];
    const results = await verifyKeys(
      { ...w.deps, secrets: { add: (...s) => secrets.push(...s.filter((x): x is string => Boolean(x))) } },
      { progress: { finished: (ref, r: VerifyResult) => finished.push(`${ref}:${r.ok}`) } },
    );
    // beta/mm holds no key and was not named: not an error, not listed.
    expect(results.map((r) => [r.ref, r.ok, r.violations.map((v) => v.code)])).toEqual([
      ['@main', true, []],
      ['alpha/arb1', true, []],
      ['alpha/arb2', false, ['TRANSFER_ENABLED']],
    ]);
    expect(finished).toEqual(['@main:true', 'alpha/arb1:true', 'alpha/arb2:false']);
    expect(results[2]?.hint).toContain('keyctl rotate alpha/arb2');
    expect(secrets).toContain(w.keys.arb2!.secret);
    expect(w.recorder.of('verification.result').map((e) => [e.ref, e.outcome, e.violations])).toEqual([
      ['@main', 'ok', []],
      ['alpha/arb1', 'ok', []],
      ['alpha/arb2', 'violation', ['TRANSFER_ENABLED']],
    ]);
    expect(w.recorder.of('violation')).toEqual([
      expect.objectContaining({ ref: 'alpha/arb2', codes: ['TRANSFER_ENABLED'], source: 'verify', fingerprint: results[2]!.fingerprint }),
    ]);
    expect(w.recorder.entries.map((e) => [e.command, e.ref, e.outcome])).toEqual([
      ['verify', '@main', 'ok'],
      ['verify', 'alpha/arb1', 'ok'],
      ['verify', 'alpha/arb2', 'refused'],
    ]);
  });

  it('a named key without a stored key is a NO_CURRENT_KEY row, and an unreachable exchange an error row; neither stops the rest', async () => {
    w = await appWorld({ sandbox: true, withoutKey: ['beta/mm'] });
    const keys = ['beta/mm', 'alpha/arb1', 'alpha/arb1'].map((r) => resolveKey(w!.deps.inventory, r));
    await w.sandbox!.admin.addFault({ exchange: 'bybit', path: '*', kind: '5xx' });
    const results = await verifyKeys(w.deps, { keys });
    expect(results.map((r) => [r.ref, r.error?.code, r.error?.exitCode])).toEqual([
      ['beta/mm', 'NO_CURRENT_KEY', 2],
      ['alpha/arb1', 'EXCHANGE_UNAVAILABLE', 5],
    ]);
    expect(results[0]?.fingerprint).toBeNull();
    expect(w.recorder.of('verification.result').map((e) => [e.ref, e.outcome, e.error])).toEqual([
      ['beta/mm', 'error', 'NO_CURRENT_KEY'],
      ['alpha/arb1', 'error', 'EXCHANGE_UNAVAILABLE'],
    ]);
    expect(w.recorder.of('violation')).toEqual([]);
  });

  it('a result whose event cannot be recorded fails the verification (the audit log is durable)', async () => {
    w = await appWorld({ sandbox: true });
    w.recorder.failOn = 'verification.result';
    await expect(verifyKeys(w.deps, { keys: [resolveKey(w.deps.inventory, 'alpha/arb1')] })).rejects.toThrow('audit append failed');
  });
});

describe('verifyDue', () => {
  it('verifies only the keys whose last verification is older than their verify.every, master keys included', async () => {
    let now = Date.parse('2025-01-01T00:00:00Z');
    w = await appWorld({ sandbox: true, now: () => now });
    await verifyKeys(w.deps, { keys: [resolveKey(w.deps.inventory, 'alpha/arb1')] });
    now += HOUR / 2;
    // arb1 was verified half an hour ago (every PT1H); the master key, arb2 and mm never.
    const results = await verifyDue(w.deps);
    expect(results.map((r) => r.ref)).toEqual(['@main', 'alpha/arb2', 'beta/mm']);
    // Three quarters of an hour later only arb1's hour is up.
    now += (3 * HOUR) / 4;
    expect((await verifyDue(w.deps)).map((r) => r.ref)).toEqual(['alpha/arb1']);
    // An hour later every key's hour is up again.
    now += HOUR;
    expect((await verifyDue(w.deps)).map((r) => r.ref)).toEqual(['@main', 'alpha/arb1', 'alpha/arb2', 'beta/mm']);
  });
});
