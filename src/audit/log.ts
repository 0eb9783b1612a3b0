// Placeholder: the hash-chained file log lands with the audit work.
import { InternalError } from '../errors.js';
import type { AuditLog } from './types.js';

export interface AuditLogOptions {
  path: string;
  /** HMAC key; without it the log can be tailed but not appended to or verified. */
  key?: Buffer;
  now?: () => number;
}

export function openAuditLog(_options: AuditLogOptions): AuditLog {
  throw new InternalError('The audit log is not implemented yet.');
}
