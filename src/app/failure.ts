import { KeyctlError } from '@keyctl/client/errors';
import type { Failure } from './progress.js';

/** A thrown error as one slot's failure. An unknown error's message is not copied: it might hold a secret. */
export function failureOf(ref: string, err: unknown): Failure {
  if (err instanceof KeyctlError) return { ref, code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  return { ref, code: 'INTERNAL', message: 'unexpected error' };
}
