import type { Capabilities, ProviderContext, SecretStore } from '../types.js';
import type { CoordinationStore } from '../coordination.js';
import { MemoryCoordination } from './coordination.js';
import { DocumentStore, type Doc, type DocUpdate } from '../document-store.js';

/**
 * In-process store for tests and the engine's own unit tests. Nothing survives the process; `durable: false` tells
 * the CLI to warn when a user configures it.
 */
export class MemoryStore extends DocumentStore {
  readonly id = 'memory';
  readonly capabilities: Capabilities = {
    versions: 'native',
    stages: 'native',
    cas: 'native',
    wrapping: 'emulated',
    destroy: 'native',
    durable: false,
  };
  private readonly docs = new Map<string, string>();

  constructor(options: { now?: () => number } = {}) {
    super(options.now);
  }

  async init(): Promise<{ created: boolean }> {
    return { created: false };
  }

  async health(): Promise<void> {}

  async close(): Promise<void> {}

  protected async readDoc(key: string): Promise<Doc | null> {
    const raw = this.docs.get(key);
    // Documents are kept serialized so callers can never mutate stored state through a returned object.
    return raw === undefined ? null : (JSON.parse(raw) as Doc);
  }

  protected async updateDoc<T>(key: string, fn: (current: Doc | null) => DocUpdate<T>): Promise<T> {
    // Synchronous read-modify-write: nothing can interleave within one event-loop turn.
    const raw = this.docs.get(key);
    const { doc, result } = fn(raw === undefined ? null : (JSON.parse(raw) as Doc));
    if (doc === null) this.docs.delete(key);
    else if (doc !== undefined) this.docs.set(key, JSON.stringify(doc));
    return result;
  }

  protected async listDocs(prefix: string): Promise<string[]> {
    return [...this.docs.keys()].filter((k) => k.startsWith(prefix));
  }
}

/** Memory coordination on the same injected clock as the store; like the store, it lives as long as the process. */
export async function createCoordination(config: unknown, secrets: SecretStore, context: ProviderContext): Promise<CoordinationStore> {
  void config;
  void secrets;
  return new MemoryCoordination(context.now ? { now: context.now } : {});
}

export { MemoryCoordination };
