/**
 * A world for the application layer's unit tests (test/unit/app-*.test.ts): an inventory (from config text), a
 * MemoryStore, its coordination store (providers/registry.ts), an event recorder that also keeps the audit entries the
 * events map to (src/audit/subscriber.ts), and optionally the exchange sandbox with one bybit account, its master key
 * and a safe key per slot. Keys are obviously fake (the sandbox makes them; fixtures start with FAKE-).
 */
import { MemoryStore } from '../../providers/memory/index.js';
import { openCoordination } from '../../providers/registry.js';
import type { CoordinationStore } from '../../providers/coordination.js';
import type { SecretStore } from '../../providers/types.js';
import type { AppDeps } from '../../src/app/deps.js';
import { latestOf } from '../../src/audit/latest.js';
import { auditInputOf } from '../../src/audit/subscriber.js';
import type { AuditEntry } from '../../src/audit/types.js';
import { parseConfig } from '../../src/config/load.js';
import { fingerprint, toSecretFields, type Credentials } from '../../src/domain/credentials.js';
import { silentLogger } from '../../src/events/logger.js';
import type { EventInput, EventSink, KeyctlEvent } from '../../src/events/types.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { ExchangeAdapter } from '../../src/exchanges/types.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';

export const CLIENT_IP = '203.0.113.7';
export const SAFE_BOT = { Spot: ['SpotTrade'] };
export const UNSAFE_BOT = { Spot: ['SpotTrade'], Wallet: ['AccountTransfer'] };

/** Records every event, and the audit entry each maps to, in order. */
export class Recorder implements EventSink {
  readonly events: KeyctlEvent[] = [];
  readonly entries: AuditEntry[] = [];
  /** Make the next emit of this type reject (as a failed durable audit append would). */
  failOn: KeyctlEvent['type'] | undefined;

  /** `now` stamps events as the bus does (src/events/bus.ts). */
  constructor(private readonly now: () => number = Date.now) {}

  async emit(input: EventInput): Promise<void> {
    const event = { ...input, time: input.time ?? new Date(this.now()).toISOString() } as KeyctlEvent;
    if (this.failOn === event.type) throw new Error('audit append failed');
    this.events.push(event);
    const entry = auditInputOf(event);
    if (entry) this.entries.push({ ...entry, seq: this.entries.length + 1, time: event.time, actor: 'test', prev: 'x', mac: 'y' });
  }

  of<T extends KeyctlEvent['type']>(type: T): Array<Extract<KeyctlEvent, { type: T }>> {
    return this.events.filter((e): e is Extract<KeyctlEvent, { type: T }> => e.type === type);
  }

  /** The recorded entries as an audit log to read back. */
  get audit(): AppDeps['audit'] {
    return {
      tail: async (n: number) => this.entries.slice(-n),
      verify: async () => ({ ok: true, entries: this.entries.length, problems: [] }),
      latest: async (commands: readonly string[]) => latestOf(this.entries, commands),
      checkEnd: async () => ({ ok: true, entries: this.entries.length }),
    };
  }
}

export interface AppWorld {
  deps: AppDeps;
  store: SecretStore;
  recorder: Recorder;
  sandbox?: RunningSandbox;
  /** Sub-account uid per slot name (sandbox worlds). */
  subs: Record<string, string>;
  /** The master key and each slot's CURRENT key, as stored. */
  master?: Credentials;
  keys: Record<string, Credentials>;
  close(): Promise<void>;
}

export interface AppWorldOptions {
  /** Start the exchange sandbox and store real (sandbox) keys; otherwise the `adapter` given, or none. */
  sandbox?: boolean;
  adapter?: ExchangeAdapter;
  /** Store the master key (default true). */
  importMaster?: boolean;
  /** Bot key permissions at the sandbox, per slot (default SAFE_BOT). */
  permissions?: Record<string, unknown>;
  /** Slots left without a stored key. */
  withoutKey?: string[];
  now?: () => number;
  /** rotate.grace of every slot. */
  grace?: string;
  /** The slots' declared scopes (YAML list body); default `read, spot:trade`. */
  scopes?: string;
  /** Slots put on another slot's sub-account (e.g. `{ arb2: 'arb1' }`: alpha/arb2 shares alpha/arb1's). */
  shareSub?: Record<string, string>;
  /** Another store and coordination store than memory's (e.g. the AWS provider on moto). */
  backing?: () => Promise<{ store: SecretStore; coordination: CoordinationStore }>;
}

/** Slots: alpha/arb1 (custodian alice), alpha/arb2 (bob), beta/mm (alice); accounts main (custodian alice). */
export async function appWorld(options: AppWorldOptions = {}): Promise<AppWorld> {
  const sandbox = options.sandbox ? await startSandbox({ admin: true, clientIp: CLIENT_IP }) : undefined;
  const names = ['arb1', 'arb2', 'mm'];
  const subs: Record<string, string> = {};
  const keys: Record<string, Credentials> = {};
  let master: Credentials | undefined;
  if (sandbox) {
    const { uid } = await sandbox.admin.createAccount('bybit');
    for (const n of names) subs[n] = (await sandbox.admin.createSubaccount('bybit', uid)).id;
    for (const [n, other] of Object.entries(options.shareSub ?? {})) subs[n] = subs[other]!;
    master = await sandbox.admin.createKey({
      exchange: 'bybit',
      owner: uid,
      master: true,
      permissions: { Wallet: ['AccountTransfer', 'SubMemberTransfer'] },
      ips: [CLIENT_IP],
    });
    for (const n of names) {
      keys[n] = await sandbox.admin.createKey({
        exchange: 'bybit',
        owner: subs[n]!,
        permissions: (options.permissions?.[n] ?? SAFE_BOT) as never,
        ips: [CLIENT_IP],
        label: 'made-by-hand',
      });
    }
  } else {
    for (const [i, n] of names.entries()) {
      subs[n] = String(100001 + i);
      keys[n] = { apiKey: `FAKE-key-${n}-0001`, secret: `FAKE-secret-${n}-0001` };
    }
    master = { apiKey: 'FAKE-master-key-0001', secret: 'FAKE-master-secret-0001' };
  }
  const baseUrl = sandbox ? `, baseUrl: "${sandbox.url}/bybit"` : '';
  const slot = (name: string, custodian: string) =>
    `      ${name}: { account: main, uid: "${subs[name]}", scopes: [${options.scopes ?? 'read, spot:trade'}], ips: [${CLIENT_IP}], custodians: [${custodian}], rotate: { every: P30D, grace: ${options.grace ?? 'PT15M'} }, verify: { every: PT1H } }\n`;
  const yaml =
    `store: { provider: memory }\naccounts:\n  main: { exchange: bybit${baseUrl}, custodians: [alice] }\n` +
    `bots:\n  alpha:\n    subaccounts:\n${slot('arb1', 'alice')}${slot('arb2', 'bob')}  beta:\n    subaccounts:\n${slot('mm', 'alice')}` +
    `staff: [alice, bob, carol]\n`;
  const config = parseConfig(yaml, '/nonexistent/keyctl.yaml').config;

  const backing = options.backing ? await options.backing() : undefined;
  const store: SecretStore = backing?.store ?? new MemoryStore(options.now ? { now: options.now } : {});
  const write = (path: string, key: Credentials) =>
    store.write(path, {
      secret: toSecretFields(key),
      meta: { fingerprint: fingerprint(key.apiKey), source: 'import' },
      stage: 'CURRENT',
      expect: null,
    });
  if (options.importMaster !== false) await write('accounts/main', master);
  for (const n of names) {
    const ref = n === 'mm' ? 'beta/mm' : `alpha/${n}`;
    if (!options.withoutKey?.includes(ref)) await write(`bots/${ref}`, keys[n]!);
  }
  const coordination = backing?.coordination ?? (await openCoordination(config.store, store));
  const recorder = new Recorder(options.now);
  const deps: AppDeps = {
    inventory: config,
    store,
    coordination,
    events: recorder,
    logger: silentLogger,
    now: options.now ?? Date.now,
    adapter: options.adapter ? async () => options.adapter! : getAdapter,
    call: { attempts: 1, backoffMs: 1, timeoutMs: 5000 },
    audit: recorder.audit,
  };
  return {
    deps,
    store,
    recorder,
    ...(sandbox ? { sandbox } : {}),
    subs,
    master,
    keys,
    close: async () => {
      await coordination.close();
      await store.close();
      await sandbox?.close();
    },
  };
}

/** The sandbox's live keys of a sub-account. */
export async function liveKeys(w: AppWorld, sub: string): Promise<string[]> {
  return (await w.sandbox!.admin.listKeys({ exchange: 'bybit', owner: w.subs[sub]! })).map((k) => (k as { apiKey: string }).apiKey);
}
