/**
 * Fault injection on a chosen exchange endpoint, optionally only the next N times: latency (fixed, or random within a
 * range), a request that never gets an answer, a 5xx, the exchange's own rate-limit error; the same loss or 5xx *after*
 * the endpoint did its work (the key was created or deleted, the client never learns it); and propagation delay (keys
 * created, allowlists changed while it is set take effect only `ms` later), which real exchanges show because their key
 * stores are replicated. The exchange's own rate limit, counted per key and endpoint, is rate-limit.ts.
 */
import { isSandboxExchange, SANDBOX_EXCHANGES, type SandboxExchange } from './state.js';

export const FAULT_KINDS = ['latency', 'timeout', '5xx', 'ratelimit', 'after-timeout', 'after-5xx', 'propagation'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultSpec {
  exchange: SandboxExchange;
  /** HTTP method; any when absent. */
  method?: string;
  /** The path the exchange sees (no `/<exchange>` prefix, no query), e.g. `/v5/user/query-api`. `*` = every path. */
  path: string;
  kind: FaultKind;
  /** latency: the delay (default 1000 ms); propagation: how long a new key or allowlist takes to apply (required). */
  ms?: number;
  /** latency only: each request waits a random time between `ms` and `maxMs` (uniform), as a network's jitter. */
  maxMs?: number;
  /** How many matching requests it hits; unlimited when absent. */
  times?: number;
}

interface ActiveFault extends FaultSpec {
  id: string;
  remaining: number;
}

/** Validates an admin request body into a fault spec; returns an error message instead when it is malformed. */
export function parseFaultSpec(body: Record<string, unknown>): FaultSpec | string {
  const { exchange, method, path, kind, ms, maxMs, times } = body;
  if (!isSandboxExchange(exchange)) return `exchange must be one of ${SANDBOX_EXCHANGES.join(', ')}`;
  if (typeof path !== 'string' || path === '') return 'path is required';
  if (typeof kind !== 'string' || !(FAULT_KINDS as readonly string[]).includes(kind)) {
    return `kind must be one of ${FAULT_KINDS.join(', ')}`;
  }
  if (method !== undefined && typeof method !== 'string') return 'method must be a string';
  if (ms !== undefined && (typeof ms !== 'number' || !(ms >= 0))) return 'ms must be a non-negative number';
  if (maxMs !== undefined) {
    if (kind !== 'latency') return 'maxMs is for a latency fault only';
    if (typeof maxMs !== 'number' || !(maxMs >= (typeof ms === 'number' ? ms : 0))) return 'maxMs must be a number of at least ms';
  }
  if (times !== undefined && (typeof times !== 'number' || !Number.isInteger(times) || times < 1)) {
    return 'times must be a positive integer';
  }
  if (kind === 'propagation') {
    if (ms === undefined) return 'a propagation fault needs ms: how long a new key or allowlist takes to apply';
    if (path !== '*' || method !== undefined || times !== undefined) {
      return 'a propagation fault applies to every key of the exchange: path "*", no method, no times';
    }
  }
  return {
    exchange,
    path: path === '*' || path.startsWith('/') ? path : `/${path}`,
    kind: kind as FaultKind,
    ...(method ? { method: method.toUpperCase() } : {}),
    ...(ms !== undefined ? { ms } : {}),
    ...(typeof maxMs === 'number' ? { maxMs } : {}),
    ...(times !== undefined ? { times } : {}),
  };
}

/** How long a latency fault holds this request: `ms` (default 1000), or a uniform draw in [`ms`, `maxMs`]. */
export function latencyOf(fault: Pick<FaultSpec, 'ms' | 'maxMs'>, random: () => number = Math.random): number {
  const min = fault.ms ?? 1000;
  return fault.maxMs === undefined ? min : min + random() * (fault.maxMs - min);
}

export class FaultTable {
  private faults: ActiveFault[] = [];
  private seq = 0;

  add(spec: FaultSpec): string {
    const id = `fault-${++this.seq}`;
    this.faults.push({ ...spec, id, remaining: spec.times ?? Number.POSITIVE_INFINITY });
    return id;
  }

  clear(): void {
    this.faults = [];
  }

  /** The propagation delay set for `exchange` (the latest one), 0 when none. */
  propagationMs(exchange: SandboxExchange): number {
    return this.faults.findLast((x) => x.exchange === exchange && x.kind === 'propagation')?.ms ?? 0;
  }

  /** The first request fault that applies to this request, counting it as used. */
  take(exchange: SandboxExchange, method: string, path: string): FaultSpec | undefined {
    const f = this.faults.find(
      (x) =>
        x.kind !== 'propagation' &&
        x.exchange === exchange &&
        (x.method === undefined || x.method === method) &&
        (x.path === '*' || x.path === path),
    );
    if (!f) return undefined;
    f.remaining -= 1;
    if (f.remaining <= 0) this.faults = this.faults.filter((x) => x !== f);
    return f;
  }
}
