import { hostname } from 'node:os';
import { loadConfig, type Config } from '../config/load.js';
import { resolveConfigPath } from '../config/path.js';
import type { StoreConfig } from '../config/schema.js';
import { UsageError } from '@keyctl/client/errors';
import type { AppDeps } from '../app/deps.js';
import { callOptionsFromEnv, leaseMsFromEnv, propagationWaitMsFromEnv } from '../app/env.js';
import { parseCredentials, type Credentials } from '../domain/credentials.js';
import type { EventBus } from '../events/bus.js';
import type { RotationEngine } from '../rotation/engine.js';
import { BaseContext, type CliIo } from './base-context.js';
import { Output } from './output.js';

export type { CliIo } from './base-context.js';

/**
 * What a command gets: output, config, store and audit log, each loaded on first use so a command pays only for
 * what it touches. The store, coordination store and audit log come from BaseContext (base-context.ts).
 */
export class CliContext extends BaseContext {
  readonly out: Output;
  private loaded: Config | undefined;
  private bus: EventBus | undefined;
  private deps: Omit<AppDeps, 'coordination'> | undefined;
  private stdinUsed = false;

  constructor(io: CliIo, command: string, options: { json: boolean; config?: string }) {
    super(io, command, resolveConfigPath(options.config, io.env, io.cwd));
    // Live progress only on a real terminal: never escape codes into a pipe, a file or a dumb terminal.
    const terminal = io.stderr.isTTY && io.env.TERM !== 'dumb' ? io.stderr : undefined;
    this.out = new Output(options.json, io.stdout, io.stderr, this.redactor, terminal);
  }

  get json(): boolean {
    return this.out.json;
  }

  config(): Config {
    if (!this.loaded) {
      const { config, warnings } = loadConfig(this.configPath);
      for (const w of warnings) this.out.warn(`${w.path}: ${w.message}`);
      this.loaded = config;
    }
    return this.loaded;
  }

  protected override storeConfig(): StoreConfig {
    return this.execView?.store ?? this.config().store;
  }

  protected override auditPath(): string {
    return this.execView?.auditPath ?? this.config().auditPath;
  }

  /**
   * The command's event bus, built once: the audit log subscribes durably, so an event whose entry could not be
   * written fails its emitter.
   */
  async events(): Promise<EventBus> {
    if (!this.bus) {
      const [{ EventBus }, { auditSubscriber }] = await Promise.all([import('../events/bus.js'), import('../audit/subscriber.js')]);
      const bus = new EventBus();
      bus.subscribe(auditSubscriber(await this.audit(), this.actor), { durable: true });
      this.bus = bus;
    }
    return this.bus;
  }

  /** What the application layer's use cases take (src/app/deps.ts), opened once for the command. */
  async app(): Promise<AppDeps> {
    return { ...(await this.base()), coordination: await this.coordination() };
  }

  /** {@link app} without the coordination store, for use cases that take no lease and keep no journal (verify, import). */
  async base(): Promise<Omit<AppDeps, 'coordination'>> {
    if (!this.deps) {
      const [{ silentLogger }, { getAdapter }, { loadCcxt }] = await Promise.all([
        import('../events/logger.js'),
        import('../exchanges/registry.js'),
        import('../exchanges/ccxt.js'),
      ]);
      this.deps = {
        inventory: this.config(),
        store: await this.store(),
        audit: await this.audit(),
        events: await this.events(),
        logger: silentLogger,
        now: Date.now,
        // ccxt is loaded with the adapter, before the engine takes a slot's lease (see RotationEngine.open).
        adapter: async (exchange) => {
          const adapter = await getAdapter(exchange);
          if (adapter.capabilities.inspect) await loadCcxt();
          return adapter;
        },
        call: callOptionsFromEnv(this.io.env),
      };
    }
    return this.deps;
  }

  /** The rotation engine, with assisted-mode I/O on this terminal: instructions on stderr, the new key from stdin. */
  async engine(): Promise<RotationEngine> {
    const { createRotationEngine } = await import('../app/engine.js');
    const leaseMs = leaseMsFromEnv(this.io.env);
    const propagationWaitMs = propagationWaitMsFromEnv(this.io.env);
    return createRotationEngine(await this.app(), {
      owner: `${hostname()}:${process.pid}`,
      ...(leaseMs !== undefined ? { leaseMs } : {}),
      ...(propagationWaitMs !== undefined ? { propagationWaitMs } : {}),
      env: this.io.env,
      assisted: { instruct: (text) => this.out.error(text), readKey: () => this.readAssistedKey() },
    });
  }

  /** One assisted key per run can come from stdin (or a prompt); further slots wait for the next run. */
  private async readAssistedKey(): Promise<Credentials | null> {
    if (this.stdinUsed) return null;
    this.stdinUsed = true;
    let text: string;
    if (this.io.stdin.isTTY) {
      if (!this.canPrompt()) return null;
      text = await this.prompt('New key as JSON');
    } else {
      text = (await this.readStdin('the new key as JSON')).trim();
      if (!text) return null;
    }
    const key = parseCredentials(text);
    this.redactor.add(key.apiKey, key.secret, key.passphrase);
    return key;
  }

  /** Reads all of stdin (secrets arrive only this way or through a prompt). */
  async readStdin(what: string): Promise<string> {
    if (this.io.stdin.isTTY) {
      throw new UsageError('STDIN_REQUIRED', `Pipe ${what} into stdin.`, {
        hint: 'Secrets are never taken from flags or arguments, so they never land in shell history or the process list.',
      });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of this.io.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    return Buffer.concat(chunks).toString('utf8');
  }
}
