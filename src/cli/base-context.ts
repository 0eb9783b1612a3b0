/**
 * What every command context has: the process's I/O, the redactor, and the store, coordination store and audit log,
 * each opened on first use. CliContext (context.ts) adds the config, the output formatter and the application
 * layer; `keyctl exec`'s lean context (exec-fast.ts) adds nothing but a few lines of output, so it loads neither the
 * argument parser, the table renderer nor the config stack. Light on purpose: only what those two share.
 */
import { userInfo } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { StoreConfig } from '../config/schema.js';
import { processRedactor, type Redactor } from '../audit/redact.js';
import type { AuditEntry, AuditInput, AuditLog } from '../audit/types.js';
import type { SecretStore } from '../../providers/types.js';
import type { CoordinationStore } from '../../providers/coordination.js';
import { InternalError } from '@keyctl/client/errors';
import { execConfig, type ExecConfig } from './exec-config.js';

export interface CliIo {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** Progress and warnings for humans, redacted (the CLI's Output class is one). */
export interface Notices {
  info(text: string): void;
  warn(text: string): void;
}

export abstract class BaseContext {
  readonly redactor: Redactor = processRedactor;
  abstract readonly out: Notices;
  /** exec's view of the config, once asked for (the store and audit log are then opened from it). */
  protected execView: ExecConfig | undefined;
  private opened: SecretStore | undefined;
  private coordinated: CoordinationStore | undefined;
  private auditLog: Promise<AuditLog> | undefined;

  constructor(
    readonly io: CliIo,
    readonly command: string,
    readonly configPath: string,
  ) {}

  get env(): NodeJS.ProcessEnv {
    return this.io.env;
  }

  /** Who is acting, for the audit trail. */
  get actor(): string {
    return this.io.env.KEYCTL_ACTOR || safeUser();
  }

  /** What `keyctl exec` needs of the config (src/cli/exec-config.ts: cached per config and ref); warnings printed. */
  async execConfig(ref: string): Promise<ExecConfig> {
    const view = await execConfig(this.configPath, ref, this.io.env);
    // The store's modules are fetched while exec checks its environment and options.
    if (view.store.provider === 'local') import('../../providers/local/index.js').catch(() => undefined);
    for (const w of view.warnings) this.out.warn(`${w.path}: ${w.message}`);
    this.execView = view;
    return view;
  }

  /** The configured store and audit log path: exec's view when there is one; CliContext falls back to the config. */
  protected storeConfig(): StoreConfig {
    if (!this.execView) throw new InternalError('The store was opened before the config was read.');
    return this.execView.store;
  }

  protected auditPath(): string {
    if (!this.execView) throw new InternalError('The audit log was opened before the config was read.');
    return this.execView.auditPath;
  }

  async store(): Promise<SecretStore> {
    if (!this.opened) {
      const { openStore } = await import('../../providers/registry.js');
      this.opened = await openStore(this.storeConfig(), {
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
      this.coordinated = await openCoordination(this.storeConfig(), await this.store(), { env: this.io.env });
    }
    return this.coordinated;
  }

  /** The audit log, opened once (concurrent callers share the opening). */
  audit(): Promise<AuditLog> {
    if (!this.auditLog) {
      this.auditLog = this.openAudit();
      this.auditLog.catch(() => (this.auditLog = undefined));
    }
    return this.auditLog;
  }

  private async openAudit(): Promise<AuditLog> {
    const [{ openAuditLog }, { loadAuditKey }] = await Promise.all([import('../audit/log.js'), import('../audit/key.js')]);
    const store = await this.store();
    const log = openAuditLog({ path: this.auditPath(), key: await loadAuditKey(store) });
    // Redemptions the store could not audit itself (local tokens: the bot holds no audit key) are recorded now.
    await store.settleWraps?.((s) => log.append({ ...s, detail: flatDetail(s.detail), actor: 'token-redeemer' }).then(() => undefined));
    return log;
  }

  /** Appends an audit entry for this command. */
  async record(input: Omit<AuditInput, 'command'> & { command?: string }): Promise<AuditEntry> {
    return (await this.audit()).append({ command: this.command, ...input, actor: this.actor });
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
