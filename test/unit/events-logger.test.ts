import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/audit/redact.js';
import { createLogger, silentLogger } from '../../src/events/logger.js';
import type { LoggerOptions } from '../../src/events/logger.js';

const NOW = Date.parse('2026-12-02T10:00:00.000Z');
const SECRET = 'FAKE-secret-"quoted"\\slash-0001';

function setup(overrides: Partial<LoggerOptions> = {}) {
  const lines: string[] = [];
  const redactor = new Redactor();
  redactor.add(SECRET);
  const logger = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l), redactor, now: () => NOW, ...overrides });
  return { lines, logger, redactor, json: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('createLogger', () => {
  it('writes one JSON object per call with time, level, msg and the fields, and drops lines below its level', () => {
    const { logger, json } = setup();
    logger.debug('not written');
    logger.info('rotation started', { ref: 'alpha/arb1', attempt: 2, ok: true });
    logger.error('failed');
    expect(json()).toEqual([
      { time: '2026-12-02T10:00:00.000Z', level: 'info', msg: 'rotation started', ref: 'alpha/arb1', attempt: 2, ok: true },
      { time: '2026-12-02T10:00:00.000Z', level: 'error', msg: 'failed' },
    ]);
  });

  it('masks a registered secret in the message, field values, nested values and keys, even one JSON would escape', () => {
    const { logger, lines } = setup();
    logger.warn(`saw ${SECRET}`, { detail: { list: [SECRET], [SECRET]: 1 }, plain: SECRET });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('FAKE-secret');
    expect(lines[0]).not.toContain(JSON.stringify(SECRET).slice(1, -1));
    expect(JSON.parse(lines[0]!)).toMatchObject({
      msg: 'saw [REDACTED]',
      plain: '[REDACTED]',
      detail: { list: ['[REDACTED]'], '[REDACTED]': 1 },
    });
  });

  it('masks what a rotation scope registered, and stops once the scope is disposed', () => {
    const root = new Redactor();
    const scope = root.scope();
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', format: 'json', write: (l) => lines.push(l), redactor: scope, now: () => NOW });
    scope.add('FAKE-scoped-key-123456');
    logger.info('key FAKE-scoped-key-123456');
    scope.dispose();
    logger.info('key FAKE-scoped-key-123456');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['key [REDACTED]', 'key FAKE-scoped-key-123456']);
  });

  it('writes bytes as their length, errors without their stack, and cuts cycles', () => {
    const { logger, json } = setup();
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const err = Object.assign(new Error(`bad key ${SECRET}`), { code: 'KEY_REJECTED' });
    logger.info('values', { bytes: Buffer.from(SECRET), err, cyclic, when: new Date(NOW), big: 10n, inf: Infinity });
    const [line] = json();
    expect(line).toMatchObject({
      bytes: `[binary ${Buffer.byteLength(SECRET)} bytes]`,
      err: { name: 'Error', message: 'bad key [REDACTED]', code: 'KEY_REJECTED' },
      cyclic: { name: 'loop', self: '[…]' },
      when: '2026-12-02T10:00:00.000Z',
      big: '10',
      inf: 'Infinity',
    });
    expect(JSON.stringify(line)).not.toContain('at ');
  });

  it('keeps a field named like a reserved key under an underscore instead of overwriting it', () => {
    const { logger, json } = setup();
    logger.info('real message', { msg: 'forged', level: 'debug', time: 'then' });
    expect(json()[0]).toMatchObject({ msg: 'real message', level: 'info', _msg: 'forged', _level: 'debug', _time: 'then' });
  });

  it('text format: one line per call, a newline in the message cannot forge a second line, odd values are quoted', () => {
    const { logger, lines } = setup({ format: 'text' });
    logger.warn('first\nERROR forged line', { ref: 'alpha/arb1', note: 'two words', secret: SECRET });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe('2026-12-02T10:00:00.000Z WARN  first\\nERROR forged line ref=alpha/arb1 note="two words" secret=[REDACTED]');
  });

  it('child loggers add their fields to every line; a write that throws is swallowed', () => {
    const { logger, json } = setup();
    logger.child({ rotationId: 'r-1' }).info('step', { step: 'created' });
    expect(json()[0]).toMatchObject({ rotationId: 'r-1', step: 'created' });
    const failing = createLogger({
      level: 'info',
      format: 'json',
      redactor: new Redactor(),
      write: () => {
        throw new Error('EPIPE');
      },
    });
    expect(() => failing.error('lost')).not.toThrow();
  });

  it('refuses an unknown level or format', () => {
    const base = { write: () => undefined, redactor: new Redactor() };
    expect(() => createLogger({ ...base, level: 'verbose' as never, format: 'json' })).toThrow(/Unknown log level/);
    expect(() => createLogger({ ...base, level: 'info', format: 'xml' as never })).toThrow(/Unknown log format/);
  });

  it('silentLogger writes nothing and its children are silent too', () => {
    expect(silentLogger.child({ a: 1 })).toBe(silentLogger);
    expect(() => silentLogger.error('x', { y: 1 })).not.toThrow();
  });
});
