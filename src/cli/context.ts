import { hostname, userInfo } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { loadConfig, resolveConfigPath, type Config } from '../config/load.js';
import { UsageError } from '../errors.js';
import { processRedactor, type Redactor } from '../audit/redact.js';
import type { AuditEntry, AuditInput, AuditLog } from '../audit/types.js';
import type { SecretStore } from '../../providers/types.js';
import type { CoordinationStore } from '../../providers/coordination.js';
import type { AppDeps } from '../app/deps.js';
import { callOptionsFromEnv, leaseMsFromEnv, propagationWaitMsFromEnv } from '../app/env.js';
import { parseCredentials, type Credentials } from '../domain/credentials.js';
import type { EventBus } from '../events/bus.js';
import type { RotationEngine } from '../rotation/engine.js';
import { Output } from './output.js';

export interface CliIo {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/**
 * What a command gets: output, config, store and audit log, each loaded on first use so a command pays only for
 * what it touches.
 */
export class CliContext {
  readonly out: Output;
  readonly redactor: Redactor = processRedactor;
  readonly configPath: string;
  private loaded: Config | undefined;
  private opened: SecretStore | undefined;
  private coordinated: CoordinationStore | undefined;
  private auditLog: AuditLog | undefined;
  private bus: EventBus | undefined;
  private deps: Omit<AppDeps, 'coordination'> | undefined;
  private stdinUsed = false;

  constructor(
    readonly io: CliIo,
    readonly command: string,
    options: { json: boolean; config?: string },
  ) {
    // Live progress only on a real terminal: never escape codes into a pipe, a file or a dumb terminal.
    const terminal = io.stderr.isTTY && io.env.TERM !== 'dumb' ? io.stderr : undefined;
    this.out = new Output(options.json, io.stdout, io.stderr, this.redactor, terminal);
    this.configPath = resolveConfigPath(options.config, io.env, io.cwd);
  }

  get json(): boolean {
    return this.out.json;
  }

  get env(): NodeJS.ProcessEnv {
    return this.io.env;
  }

  /** Who is acting, for the audit trail. */
  get actor(): string {
    return this.io.env.KEYCTL_ACTOR || safeUser();
  }

  config(): Config {
    if (!this.loaded) {
      const { config, warnings } = loadConfig(this.configPath);
      for (const w of warnings) this.out.warn(`${w.path}: ${w.message}`);
      this.loaded = config;
    }
    return this.loaded;
  }

  async store(): Promise<SecretStore> {
    if (!this.opened) {
      const { openStore } = await import('../../providers/registry.js');
      this.opened = await openStore(this.config().store, {
        env: this.io.env,
        promptSecret: this.canPrompt() ? (q) => this.prompt(q) : undefined,
      });
    }
    return this.opened;
  }

  /** The coordination store that goes with the secret store (leases, journals, the hand-over registry). */
  async coordination(): Promise<CoordinationStore> {
    if (!this.coordinated) {
      const { openCoordination } = await import('../../providers/registry.js');
      this.coordinated = await openCoordination(this.config().store, await this.store(), { env: this.io.env });
    }
    return this.coordinated;
  }

  async audit(): Promise<AuditLog> {
    if (!this.auditLog) {
      const [{ openAuditLog }, { loadAuditKey }] = await Promise.all([import('../audit/log.js'), import('../audit/key.js')]);
      const store = await this.store();
      const log = openAuditLog({ path: this.config().auditPath, key: await loadAuditKey(store) });
      // Redemptions the store could not audit itself (local tokens: the bot holds no audit key) are recorded now.
      await store.settleWraps?.((s) => log.append({ ...s, detail: flatDetail(s.detail), actor: 'token-redeemer' }).then(() => undefined));
      this.auditLog = log;
    }
    return this.auditLog;
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

  /** Appends an audit entry for this command. */
  async record(input: Omit<AuditInput, 'command'> & { command?: string }): Promise<AuditEntry> {
    return (await this.audit()).append({ command: this.command, ...input, actor: this.actor });
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

  canPrompt(): boolean {
    return Boolean(this.io.stdin.isTTY && this.io.stderr.isTTY);
  }

  async prompt(question: string): Promise<string> {
    const { default: password } = await import('@inquirer/password');
    return password({ message: question, mask: true }, { input: this.io.stdin, output: this.io.stderr });
  }

  async close(): Promise<void> {
    await this.coordinated?.close();
    await this.opened?.close();
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid-${process.getuid?.() ?? 'unknown'}`;
  }
}

/** Audit details are flat: anything but a string, number, boolean or null is dropped. */
function flatDetail(detail: Record<string, unknown>): Record<string, string | number | boolean | null> {
  const flat: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(detail)) {
    if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') flat[k] = v;
  }
  return flat;
}
