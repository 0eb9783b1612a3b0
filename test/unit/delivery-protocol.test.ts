import { describe, expect, it } from 'vitest';
import { credentialsEnv, decodeMessage, encodeMessage, envNames, LineSplitter, assertEnvPrefix } from '@keyctl/client/protocol';
import { decodePayload, encodePayload, formatToken, parseToken } from '@keyctl/client/token';
import { childEnv, parseFd, parseSignal, storeCredentialEnv } from '../../src/delivery/exec.js';
import { KeyctlError } from '@keyctl/client/errors';

const creds = { ref: 'alpha/arb1', apiKey: 'FAKE-KEY-1', secret: 'FAKE-SECRET-1', fingerprint: '0011223344556677' };

describe('environment names', () => {
  it('sets the documented names, password and rotatesAt only when known', () => {
    expect(credentialsEnv(creds)).toEqual({
      KEYCTL_API_KEY: 'FAKE-KEY-1',
      KEYCTL_SECRET: 'FAKE-SECRET-1',
      KEYCTL_FINGERPRINT: '0011223344556677',
      KEYCTL_REF: 'alpha/arb1',
    });
    expect(credentialsEnv({ ...creds, password: 'FAKE-PASS', rotatesAt: '2030-01-01T00:00:00Z' }, 'BOT_')).toMatchObject({
      BOT_PASSWORD: 'FAKE-PASS',
      BOT_ROTATES_AT: '2030-01-01T00:00:00Z',
      BOT_API_KEY: 'FAKE-KEY-1',
    });
    expect(envNames('X_').fd).toBe('X_FD');
  });

  it('rejects prefixes that cannot name a variable', () => {
    for (const p of ['1X', 'A-B', 'A B', '']) expect(() => assertEnvPrefix(p)).toThrow(KeyctlError);
    expect(() => assertEnvPrefix('BOT_')).not.toThrow();
  });

  it("strips keyctl's store credentials and an outer exec's credential variables from the bot's environment", () => {
    const env = childEnv(
      { PATH: '/bin', KEYCTL_MASTER_KEY: 'm', KEYCTL_PASSPHRASE: 'p', VAULT_TOKEN: 't', KEYCTL_SECRET: 'old', KEYCTL_CONFIG: 'c' },
      'KEYCTL_',
      { KEYCTL_FD: '3' },
    );
    expect(env).toEqual({ PATH: '/bin', KEYCTL_CONFIG: 'c', KEYCTL_FD: '3' });
  });

  it("with the AWS store, keyctl's AWS credentials do not reach the bot; with other stores they are the bot's own", () => {
    const base = {
      PATH: '/bin',
      AWS_ACCESS_KEY_ID: 'FAKEAKIA',
      AWS_SECRET_ACCESS_KEY: 'FAKE-aws-secret',
      AWS_SESSION_TOKEN: 'FAKE-session',
      AWS_REGION: 'us-east-1',
    };
    expect(childEnv(base, 'KEYCTL_', {}, storeCredentialEnv('aws'))).toEqual({ PATH: '/bin', AWS_REGION: 'us-east-1' });
    expect(childEnv(base, 'KEYCTL_', {}, storeCredentialEnv('local'))).toEqual(base);
  });
});

describe('pipe messages', () => {
  it('round-trips credentials and acks as one JSON line each', () => {
    const line = encodeMessage({ type: 'credentials', ...creds, password: 'FAKE-PASS' });
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expect(decodeMessage(line)).toEqual({ type: 'credentials', ...creds, password: 'FAKE-PASS' });
    expect(decodeMessage(encodeMessage({ type: 'ack', fingerprint: 'ab' }))).toEqual({ type: 'ack', fingerprint: 'ab' });
  });

  it('ignores malformed or foreign lines', () => {
    for (const l of ['not json', '[]', '{"type":"ack"}', '{"type":"credentials","apiKey":"x"}', '{"type":"other"}', 'null'])
      expect(decodeMessage(l)).toBeNull();
  });

  it('splits a byte stream into lines across chunks', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.push(':2}\n\n')).toEqual(['{"b":2}']);
  });
});

describe('tokens', () => {
  it('names the provider that unwraps it, and parses back', () => {
    const t = formatToken('vault', 'hvs.CAES.abc');
    expect(t).toBe('kct1.vault.hvs.CAES.abc');
    expect(parseToken(t)).toEqual({ provider: 'vault', storeToken: 'hvs.CAES.abc' });
  });

  it('refuses anything else without echoing it', () => {
    for (const t of ['', 'kct1', 'kct1.local', 'kct2.local.x', 'kct1.LOCAL.x', 'kcw_abc']) {
      try {
        parseToken(t);
        expect.unreachable();
      } catch (err) {
        expect((err as KeyctlError).code).toBe('TOKEN_MALFORMED');
        if (t) expect((err as Error).message).not.toContain(t);
      }
    }
  });

  it('wraps the credentials as a versioned payload', () => {
    expect(decodePayload(encodePayload({ ...creds, rotatesAt: '2030-01-01T00:00:00Z' }))).toEqual({
      ...creds,
      rotatesAt: '2030-01-01T00:00:00Z',
    });
    expect(() => decodePayload('{"apiKey":"x"}')).toThrow(/not keyctl credentials/);
  });
});

describe('exec options', () => {
  it('accepts fds 3..64 and known signals only', () => {
    expect(parseFd('3')).toBe(3);
    for (const bad of ['2', '65', 'x', '3.5']) expect(() => parseFd(bad)).toThrow(KeyctlError);
    expect(parseSignal('hup')).toBe('SIGHUP');
    expect(parseSignal('SIGUSR2')).toBe('SIGUSR2');
    for (const bad of ['SIGKILL', 'SIGNOPE', 'stop']) expect(() => parseSignal(bad)).toThrow(KeyctlError);
  });
});
