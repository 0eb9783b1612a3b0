import { describe, expect, it } from 'vitest';
import { mappedEnv, resolveEnvMap } from '../../src/delivery/env-map.js';
import { KeyctlError } from '@keyctl/client/errors';

const creds = {
  ref: 'alpha/arb1',
  apiKey: 'fake-api-key-0001',
  secret: 'fake-secret-0001',
  fingerprint: 'fp0001',
  rotatesAt: '2030-01-01T00:00:00.000Z',
};
const resolve = (env: unknown, preset?: string, exchange = 'bybit') => resolveEnvMap({ env, preset, exchange, prefix: 'KEYCTL_' });
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof KeyctlError ? err.code : 'not a KeyctlError';
  }
  return 'no error';
};

describe('exec --env / --preset mappings', () => {
  it('neither given: no mapping (the default KEYCTL_ names)', () => {
    expect(resolve(undefined)).toBeUndefined();
    expect(resolve([])).toBeUndefined();
  });

  it("each preset gives its framework's documented names", () => {
    expect(resolve(undefined, 'freqtrade')!.map((m) => `${m.name}=${m.field}`)).toEqual([
      'FREQTRADE__EXCHANGE__KEY=apiKey',
      'FREQTRADE__EXCHANGE__SECRET=secret',
      'FREQTRADE__EXCHANGE__PASSWORD=password',
    ]);
    expect(resolve(undefined, 'ccxt', 'okx')!.map((m) => m.name)).toEqual(['OKX_APIKEY', 'OKX_SECRET', 'OKX_PASSWORD']);
    expect(resolve(undefined, 'jesse:BYBIT_USDT_PERPETUAL')!.map((m) => m.name)).toEqual([
      'BYBIT_USDT_PERPETUAL_API_KEY',
      'BYBIT_USDT_PERPETUAL_API_SECRET',
    ]);
  });

  it('--env adds to a preset and replaces a preset name it repeats', () => {
    const m = resolve(['FREQTRADE__EXCHANGE__PASSWORD=fingerprint', 'BOT_REF=ref'], 'freqtrade')!;
    expect(m.map((x) => `${x.name}=${x.field}`)).toEqual([
      'FREQTRADE__EXCHANGE__KEY=apiKey',
      'FREQTRADE__EXCHANGE__SECRET=secret',
      'FREQTRADE__EXCHANGE__PASSWORD=fingerprint',
      'BOT_REF=ref',
    ]);
  });

  it('refuses what is not NAME=field, a name given twice, keyctl-owned names, unknown or incomplete presets', () => {
    for (const bad of ['BOT_KEY', 'BOT_KEY=', 'BOT_KEY=apikey', '1BOT=secret', 'BOT-KEY=secret', '=secret', 'BOT_KEY=rotatesAt']) {
      expect(
        codeOf(() => resolve([bad])),
        bad,
      ).toBe('INVALID_ENV_MAPPING');
    }
    expect(codeOf(() => resolve(['A=apiKey', 'A=secret']))).toBe('INVALID_ENV_MAPPING');
    for (const owned of [
      'KEYCTL_MASTER_KEY=secret',
      'VAULT_TOKEN=secret',
      'AWS_SECRET_ACCESS_KEY=secret',
      'KEYCTL_FD=ref',
      'KEYCTL_REF=apiKey',
      'KEYCTL_TOKEN=secret',
      'KEYCTL_SECRET=apiKey',
    ]) {
      expect(
        codeOf(() => resolve([owned])),
        owned,
      ).toBe('INVALID_ENV_MAPPING');
    }
    // The client's own name for the same field is allowed (a bot reading both ways).
    expect(resolve(['KEYCTL_API_KEY=apiKey'])).toEqual([{ name: 'KEYCTL_API_KEY', field: 'apiKey' }]);
    for (const preset of ['hummingbot', 'jesse', 'jesse:', 'jesse:bybit', 'FREQTRADE']) {
      expect(
        codeOf(() => resolve(undefined, preset)),
        preset,
      ).toBe('INVALID_PRESET');
    }
    expect(codeOf(() => resolve(undefined, 'ccxt', 'Not-An-Id'))).toBe('INVALID_PRESET');
  });

  it('the environment: secrets only under the mapped names, the non-secret KEYCTL_ names kept, an absent passphrase not set', () => {
    const env = mappedEnv(creds, resolve(undefined, 'freqtrade')!, 'KEYCTL_');
    expect(env).toEqual({
      FREQTRADE__EXCHANGE__KEY: creds.apiKey,
      FREQTRADE__EXCHANGE__SECRET: creds.secret,
      KEYCTL_FINGERPRINT: 'fp0001',
      KEYCTL_ROTATES_AT: creds.rotatesAt,
      KEYCTL_REF: 'alpha/arb1',
    });
    expect(mappedEnv({ ...creds, password: 'fake-pass-0001' }, resolve(['P=password'])!, 'BOT_')).toMatchObject({
      P: 'fake-pass-0001',
      BOT_FINGERPRINT: 'fp0001',
    });
  });
});
