/**
 * In-process coordination for tests and the memory provider: two maps and a queue. Nothing survives the process.
 * Time is the injected clock (Date.now by default), the same one MemoryStore takes.
 */
import { TransactionalCoordination, type CoordinationTx, type LeaseState, type RecordState } from '../coordination/transactional.js';

export class MemoryCoordination extends TransactionalCoordination {
  readonly id = 'memory';
  // Kept serialized so no caller can mutate stored state through a returned object.
  private readonly leases = new Map<string, string>();
  private readonly records = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: { now?: () => number } = {}) {
    super(options.now ?? Date.now);
  }

  protected transaction<T>(fn: (tx: CoordinationTx) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.runTx(fn));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async runTx<T>(fn: (tx: CoordinationTx) => Promise<T>): Promise<T> {
    const leases = new Map<string, LeaseState>();
    const records = new Map<string, RecordState | null>();
    const tx: CoordinationTx = {
      lease: async (name) => (leases.has(name) ? leases.get(name)! : parse<LeaseState>(this.leases.get(name))),
      setLease: (state) => void leases.set(state.name, { ...state }),
      record: async (key) => (records.has(key) ? records.get(key)! : parse<RecordState>(this.records.get(key))),
      setRecord: (key, state) => void records.set(key, state && { ...state }),
    };
    const result = await fn(tx);
    // Commit only when fn returned: a throw leaves the state as it was.
    for (const [name, state] of leases) this.leases.set(name, JSON.stringify(state));
    for (const [key, state] of records) {
      if (state === null) this.records.delete(key);
      else this.records.set(key, JSON.stringify(state));
    }
    return result;
  }

  protected async recordKeys(): Promise<string[]> {
    return [...this.records.keys()];
  }

  protected async readRecord(key: string): Promise<RecordState | null> {
    return parse<RecordState>(this.records.get(key));
  }

  async close(): Promise<void> {}
}

function parse<T>(raw: string | undefined): T | null {
  return raw === undefined ? null : (JSON.parse(raw) as T);
}
