import { describe, expect, it } from 'vitest';
import { parseRef, formatRef, storePath, refFromPath } from '../../src/domain/refs.js';
import { parseCredentials, importIdempotencyKey } from '../../src/domain/credentials.js';
import { fingerprint } from '../../src/domain/fingerprint.js';
import { Redactor } from '../../src/audit/redact.js';
import { KeyctlError, toKeyctlError, ExitCode } from '@keyctl/client/errors';

const SECRET = 'FAKE-secret-0123456789abcdef';

describe('refs', () => {
  it('parses bot/sub and @account and maps both ways to store paths', () => {
    expect(parseRef('alpha/arb1')).toEqual({ kind: 'slot', bot: 'alpha', sub: 'arb1' });
    expect(parseRef('@bybit-main')).toEqual({ kind: 'account', account: 'bybit-main' });
    expect(storePath(parseRef('alpha/arb1'))).toBe('bots/alpha/arb1');
    expect(storePath(parseRef('@bybit-main'))).toBe('accounts/bybit-main');
    expect(formatRef(refFromPath('bots/alpha/arb1')!)).toBe('alpha/arb1');
    expect(formatRef(refFromPath('accounts/bybit-main')!)).toBe('@bybit-main');
    expect(refFromPath('keyctl/audit-key')).toBeNull();
  });

  it.each(['alpha', 'alpha/arb1/x', '@', 'Alpha/arb1', '../x', 'a/', '@a/b'])('rejects %s with a usage error', (bad) => {
    expect(() => parseRef(bad)).toThrow(KeyctlError);
    try {
      parseRef(bad);
    } catch (err) {
      expect((err as KeyctlError).exitCode).toBe(ExitCode.USAGE);
    }
  });
});

describe('credentials from stdin', () => {
  it('accepts apiKey, secret and an optional passphrase', () => {
    expect(parseCredentials(JSON.stringify({ apiKey: 'FAKE-k', secret: SECRET }))).toEqual({ apiKey: 'FAKE-k', secret: SECRET });
    expect(parseCredentials(JSON.stringify({ apiKey: 'FAKE-k', secret: SECRET, passphrase: 'FAKE-pass' })).passphrase).toBe('FAKE-pass');
  });

  it.each([
    ['not JSON at all', `{"apiKey": "FAKE-k", "secret": "${SECRET}"`],
    ['an unknown field', JSON.stringify({ apiKey: 'FAKE-k', secret: SECRET, withdraw: SECRET })],
    ['a missing secret', JSON.stringify({ apiKey: SECRET })],
    ['a number as secret', JSON.stringify({ apiKey: 'FAKE-k', secret: 12345678901234 })],
    ['a list instead of an object', JSON.stringify([SECRET])],
  ])('rejects %s without echoing any value', (_what, text) => {
    try {
      parseCredentials(text);
      throw new Error('expected a failure');
    } catch (err) {
      const e = err as KeyctlError;
      expect(e.code).toBe('INVALID_KEY_JSON');
      expect(`${e.message} ${e.hint}`).not.toContain(SECRET);
      expect(`${e.message} ${e.hint}`).not.toContain('12345678901234');
    }
  });

  it('names every problem field, and every unknown field, without their values', () => {
    const problem = (text: string) => {
      try {
        parseCredentials(text);
      } catch (err) {
        return (err as KeyctlError).message;
      }
      throw new Error('expected a failure');
    };
    expect(problem(JSON.stringify({ apiKey: 7, withdraw: SECRET, transfer: SECRET }))).toBe(
      'The key JSON on stdin is not usable: apiKey: must be a non-empty string; secret: must be a non-empty string; unknown field(s) withdraw, transfer.',
    );
    expect(problem(JSON.stringify({ apiKey: '   ', secret: 's'.repeat(8193) }))).toBe(
      'The key JSON on stdin is not usable: apiKey: Too small: expected string to have >=1 characters; secret: Too big: expected string to have <=8192 characters.',
    );
    expect(problem('null')).toBe('The key JSON on stdin is not usable: input: must be a JSON object.');
    expect(parseCredentials(JSON.stringify({ apiKey: ' FAKE-k ', secret: SECRET })).apiKey).toBe('FAKE-k');
  });

  it('derives a stable idempotency key and fingerprint that do not reveal the key', () => {
    const c = { apiKey: 'FAKE-k', secret: SECRET };
    expect(importIdempotencyKey(c)).toBe(importIdempotencyKey({ ...c }));
    expect(importIdempotencyKey(c)).not.toBe(importIdempotencyKey({ ...c, secret: `${SECRET}x` }));
    expect(importIdempotencyKey(c)).toMatch(/^[A-Za-z0-9-]{32,64}$/);
    expect(fingerprint('FAKE-k')).toMatch(/^[0-9a-f]{16}$/);
    expect(fingerprint('FAKE-k')).not.toContain('FAKE');
  });
});

describe('redactor', () => {
  it('masks registered secrets in plain, base64, base64url and hex forms', () => {
    const r = new Redactor();
    r.add(SECRET, undefined, 'short');
    const b64 = Buffer.from(SECRET).toString('base64');
    const hex = Buffer.from(SECRET).toString('hex');
    const out = r.apply(`a ${SECRET} b ${b64} c ${hex} d short`);
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(b64.replace(/=+$/, ''));
    expect(out).not.toContain(hex);
    expect(out).toContain('short'); // too short to register: masking it would mangle ordinary text
    expect(out.match(/\[REDACTED\]/g)).toHaveLength(3);
  });
});

describe('errors', () => {
  it('wraps unknown throwables as internal errors without copying their message', () => {
    const e = toKeyctlError(new Error(`boom ${SECRET}`));
    expect(e.exitCode).toBe(ExitCode.INTERNAL);
    expect(e.message).not.toContain(SECRET);
    expect(e.cause).toBeInstanceOf(Error);
  });
});

describe('version retention (document stores)', () => {
  it('keeps the last RETAINED_VERSIONS versions and every staged one; drops older unstaged versions', async () => {
    const { MemoryStore } = await import('../../providers/memory/index.js');
    const { RETAINED_VERSIONS } = await import('../../providers/document-store.js');
    const store = new MemoryStore();
    const current = (await store.write('keyctl/handover/a/b', { secret: { v: 'c' }, stage: 'CURRENT', expect: null })).version;
    let pending: string | null = null;
    for (let i = 0; i < RETAINED_VERSIONS + 30; i++)
      pending = (await store.write('keyctl/handover/a/b', { secret: { v: String(i) }, stage: 'PENDING', expect: pending })).version;
    const info = await store.describe('keyctl/handover/a/b');
    expect(info?.versions).toHaveLength(RETAINED_VERSIONS);
    expect(info?.versions[0]?.id).toBe(current);
    expect(info?.stages).toEqual({ CURRENT: current, PENDING: pending });
  });
});
