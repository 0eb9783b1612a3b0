/** Structured JSON logs (pino) on stdout for the daemon, behind keyctl's own Logger interface (src/events/types.ts). */
import { pino, type Logger as Pino } from 'pino';
import type { Logger } from '../events/types.js';

export function jsonLogger(destination: NodeJS.WritableStream = process.stdout, level = 'info'): Logger {
  return wrap(pino({ base: { service: 'keyctl' }, level, timestamp: pino.stdTimeFunctions.isoTime }, destination));
}

function wrap(log: Pino): Logger {
  return {
    debug: (message, fields) => log.debug(fields ?? {}, message),
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
    child: (fields) => wrap(log.child(fields)),
  };
}
