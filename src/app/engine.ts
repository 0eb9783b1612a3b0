/**
 * The rotation engine, built from plain dependencies: what `rotate`, `offboard`, `revoke` and `kill` drive, and what
 * the daemon will. Assisted-mode I/O (showing instructions, reading a key a human made) is passed in as functions.
 */
import { RotationEngine, type AssistedIo } from '../rotation/engine.js';
import type { AppDeps } from './deps.js';

export interface EngineOptions {
  /** Lease owner, e.g. `host:pid`. */
  owner: string;
  /** Lease length (ms); default the engine's. */
  leaseMs?: number;
  /** How long a new key the exchange still refuses is waited for; default the engine's. */
  propagationWaitMs?: number;
  /** Instructions to a human and the key they made; without it, assisted rotation stops with ASSISTED_KEY_REQUIRED. */
  assisted?: AssistedIo;
  /** For the fault tests' failpoints (KEYCTL_FAILPOINT). */
  env?: NodeJS.ProcessEnv;
}

export type EngineDeps = Pick<AppDeps, 'inventory' | 'store' | 'coordination' | 'events' | 'logger' | 'now' | 'adapter' | 'call'>;

export function createRotationEngine(deps: EngineDeps, options: EngineOptions): RotationEngine {
  return new RotationEngine({
    inventory: deps.inventory,
    store: deps.store,
    coordination: deps.coordination,
    events: deps.events,
    logger: deps.logger,
    adapter: (exchange) => deps.adapter(exchange),
    now: deps.now,
    call: deps.call,
    owner: options.owner,
    ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
    ...(options.propagationWaitMs !== undefined ? { propagationWaitMs: options.propagationWaitMs } : {}),
    ...(options.assisted ? { assisted: options.assisted } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
}
