import { describe, expect, it } from 'vitest';
import { ExitCode, UsageError } from '@keyctl/client/errors';
import { configDurationMs, formatDuration, isoDurationMs, MAX_DURATION_MS, parseDuration } from '../../schedules/duration.js';

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseDuration', () => {
  it.each([
    ['90s', 90 * S],
    ['15m', 15 * M],
    ['24h', 24 * H],
    ['30d', 30 * D],
    ['0s', 0],
    ['0d', 0],
    ['PT15M', 15 * M],
    ['PT1H', H],
    ['P30D', 30 * D],
    ['P1DT12H', 36 * H],
    ['PT1H30M', 90 * M],
    ['PT0S', 0],
    ['P1W', 7 * D],
    ['PT1.5H', 90 * M],
    ['PT1,5H', 90 * M],
    ['P1M', 30 * D],
    ['P1Y', 365 * D],
    ['  15m  ', 15 * M],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    '',
    ' ',
    'P',
    'PT',
    'P1DT',
    '-PT1H',
    'PT-1H',
    '-5m',
    '1h30m',
    '15',
    '15M',
    '15 m',
    '1.5h',
    'p30d',
    'abc',
    '15min',
    'PT1H ago',
    '1w',
    '5ms',
  ])('rejects %j with INVALID_DURATION (exit 2) and a hint naming the accepted forms', (text) => {
    let caught: unknown;
    try {
      parseDuration(text, '--grace');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(UsageError);
    const e = caught as UsageError;
    expect(e.code).toBe('INVALID_DURATION');
    expect(e.exitCode).toBe(ExitCode.USAGE);
    expect(e.message).toContain('--grace');
    for (const form of ['PT15M', '90s', '15m', '24h', '30d']) expect(e.hint).toContain(form);
  });

  it('rejects anything over 100 years, in either form', () => {
    expect(parseDuration('P100Y')).toBe(MAX_DURATION_MS);
    expect(() => parseDuration('P101Y')).toThrow(/longer than 100 years/);
    expect(() => parseDuration('36501d')).toThrow(/longer than 100 years/);
    expect(() => parseDuration('999999999999999d')).toThrow(UsageError);
  });
});

describe('isoDurationMs', () => {
  it('reads ISO-8601 durations, zero included, with either decimal sign', () => {
    expect(isoDurationMs('PT0S')).toBe(0);
    expect(isoDurationMs('P1DT12H')).toBe(36 * H);
    expect(isoDurationMs('PT1,5H')).toBe(90 * M);
  });
  it.each(['P', 'PT', 'P1DT', '-PT1H', 'PT-1H', ' PT1H', '15m', ''])(
    'refuses %j, which luxon alone would read or which is no ISO form',
    (text) => {
      expect(isoDurationMs(text)).toBeUndefined();
    },
  );
});

describe('configDurationMs', () => {
  it('converts schema-validated ISO durations', () => {
    expect(configDurationMs('P30D')).toBe(30 * D);
    expect(configDurationMs('PT15M')).toBe(15 * M);
    expect(configDurationMs('PT0S')).toBe(0);
  });
  it("fails with INVALID_DURATION on text that is not an ISO-8601 duration by keyctl's rule", () => {
    expect(() => configDurationMs('30d')).toThrow(expect.objectContaining({ code: 'INVALID_DURATION' }));
    expect(() => configDurationMs('PT')).toThrow(expect.objectContaining({ code: 'INVALID_DURATION' }));
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [90 * S, '1m 30s'],
    [15 * M, '15m'],
    [90 * M, '1h 30m'],
    [30 * D, '30d'],
    [2 * D + 4 * H + 5 * M + 10 * S, '2d 4h 5m 10s'],
    [1500, '1s 500ms'],
    [-15 * M, '-15m'],
  ])('formats %d ms as %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('prints what parseDuration reads back to the same length', () => {
    for (const text of ['45s', '15m', '5h', '30d', 'P1DT12H', 'PT1H30M']) {
      const ms = parseDuration(text);
      const printed = formatDuration(ms).split(' ');
      expect(printed.reduce((sum, part) => sum + parseDuration(part), 0)).toBe(ms);
    }
  });
});
