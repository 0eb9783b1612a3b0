/**
 * What the application layer's use cases take: plain values, no CLI, no terminal, no process globals. The CLI builds
 * them once per command (src/cli/context.ts); the daemon will build them once per process. Each use case takes the
 * `Pick` of what it uses, so a caller (or a test) provides only that.
 */
import type { SecretStore } from '../../providers/types.js';
import type { CoordinationStore } from '../../providers/coordination.js';
import type { AuditLog } from '../audit/types.js';
import type { Inventory } from '../domain/inventory.js';
import type { EventSink, Logger } from '../events/types.js';
import type { CallOptions, ExchangeAdapter } from '../exchanges/types.js';

export interface AppDeps {
  /** Accounts, slots and staff (the config produces it). */
  inventory: Inventory;
  store: SecretStore;
  /** Leases, journals, the hand-over registry. */
  coordination: CoordinationStore;
  /** Where use cases report what they did; the audit log subscribes durably. */
  events: EventSink;
  logger: Logger;
  /** Clock (ms since the epoch). */
  now: () => number;
  /** The exchange adapter for an exchange id (src/exchanges/registry.ts `getAdapter`, or a fake). */
  adapter(exchange: string): Promise<ExchangeAdapter>;
  /** Network behaviour of exchange calls (timeouts, attempts, backoff). */
  call: CallOptions;
  /** The audit log, read: last verifications (schedule, status, verifyDue) and the chain check (status). */
  audit: Pick<AuditLog, 'tail' | 'verify' | 'latest' | 'checkEnd'>;
}
