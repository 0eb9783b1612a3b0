/**
 * The bot side: `loadCredentials()` finds the bot's key where keyctl put it — an inherited socket (`keyctl exec --fd`),
 * the environment (`keyctl exec`), or a single-use token (`keyctl issue`) — returns it in memory and deletes the
 * variables it read from `process.env`.
 *
 * Import cost matters (it runs in every bot, every start): this module imports only node built-ins and keyctl's tiny
 * protocol modules. A provider (and its SDK) loads only to unwrap a token of that provider (./unwrap.ts).
 */
import { Socket } from 'node:net';
import { type KeyctlError, UsageError } from './errors.js';
import {
  assertEnvPrefix,
  decodeMessage,
  DEFAULT_ENV_PREFIX,
  encodeMessage,
  envNames,
  LineSplitter,
  type BotCredentials,
} from './protocol.js';
import { decodePayload, parseToken } from './token.js';
import type { TokenUnwrapper } from './unwrap.js';

/** A bot's exchange credentials, in ccxt's names. */

/** Where the credentials came from. */
export type CredentialSource = 'fd' | 'env' | 'token';

export interface LoadCredentialsOptions {
  /** The environment to read and scrub (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Prefix of the variable names (default `KEYCTL_`), as given to `keyctl exec --env-prefix`. */
  prefix?: string;
  /** Token mode: the config file naming the store (default `$KEYCTL_CONFIG`, else `./keyctl.yaml`). */
  config?: string;
  /** Pipe mode: how long to wait for the first credentials message (default 10 s). */
  timeoutMs?: number;
  /**
   * Pipe mode: `auto` (default) confirms the first key at once and each rotated key when the {@link
   * LoadedCredentials.onRotate} listener has finished; `manual` leaves every confirmation to {@link
   * LoadedCredentials.ack}.
   */
  ack?: 'auto' | 'manual';
  /**
   * Token mode: how a token of a store other than the local one is unwrapped. Default: keyctl's own providers, from
   * the optional peer dependency `keyctl` (`keyctl`'s re-export of this function passes them itself).
   */
  unwrapToken?: TokenUnwrapper;
}

/** A rotated key arriving on the pipe; `ack()` confirms the bot switched to it. */
export type RotationListener = (next: BotCredentials) => void | Promise<void>;

/**
 * What {@link loadCredentials} returns: the credentials (plain fields) plus, in pipe mode, the hand-over channel.
 * `JSON.stringify` and `console.log` of it show the ref and fingerprint, never the key.
 */
export interface LoadedCredentials extends BotCredentials {
  readonly source: CredentialSource;
  /**
   * Pipe mode: calls `listener` with each key a rotation delivers (the latest one first if some arrived before the
   * listener was added). With `ack: 'auto'` the key is confirmed when the listener returns (or its promise resolves);
   * a listener that throws confirms nothing. Returns a function that removes the listener. No-op in other modes.
   */
  onRotate(listener: RotationListener): () => void;
  /** Pipe mode: the rotated keys as an async iterator. Confirm each with {@link ack} once the bot switched to it. */
  rotations(): AsyncIterableIterator<BotCredentials>;
  /** Pipe mode: tells `keyctl exec` the bot now uses the key `fingerprint` (default: the latest delivered). */
  ack(fingerprint?: string): void;
  /** Pipe mode: stops listening for rotations and closes the socket. */
  close(): void;
}

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * Loads the bot's credentials, trying in order: the inherited socket named by `KEYCTL_FD`, the environment
 * (`KEYCTL_API_KEY`, `KEYCTL_SECRET`, ...), a single-use token in `KEYCTL_TOKEN`. Every variable read is deleted from
 * the environment. Throws a KeyctlError (with a hint) when none is there or the one found does not work.
 */
export async function loadCredentials(options: LoadCredentialsOptions = {}): Promise<LoadedCredentials> {
  const env = options.env ?? process.env;
  const prefix = options.prefix ?? DEFAULT_ENV_PREFIX;
  assertEnvPrefix(prefix);
  const n = envNames(prefix);
  const tokenName = `${prefix}TOKEN`;

  const fdText = env[n.fd];
  if (fdText !== undefined && fdText !== '') {
    delete env[n.fd];
    delete env[n.ref];
    return fromFd(parseFdVar(fdText, n.fd), options);
  }
  if (env[n.apiKey] !== undefined || env[n.secret] !== undefined) return fromEnv(env, prefix);
  const token = env[tokenName];
  if (token !== undefined && token !== '') {
    // Single-use: gone from the environment whether or not the exchange below works.
    delete env[tokenName];
    return fromToken(token, env, options);
  }
  throw new UsageError(
    'NO_CREDENTIALS',
    `No credentials found: no ${n.fd}, no ${n.apiKey}/${n.secret}, no ${tokenName} in the environment.`,
    {
      hint: `Start the bot with \`keyctl exec <bot/sub> -- <command>\` (add --fd 3 for pipe mode), or pass a token from \`keyctl issue <bot/sub>\` as ${tokenName}.`,
    },
  );
}

function parseFdVar(text: string, name: string): number {
  const fd = Number(text);
  if (!Number.isInteger(fd) || fd < 3) {
    throw new UsageError('INVALID_FD', `${name}=${text} is not a file descriptor keyctl exec passes.`, {
      hint: 'keyctl exec --fd N sets it to N (3 or more).',
    });
  }
  return fd;
}

function fromEnv(env: NodeJS.ProcessEnv, prefix: string): LoadedCredentials {
  const n = envNames(prefix);
  const take = (name: string) => {
    const v = env[name];
    delete env[name];
    return v === '' ? undefined : v;
  };
  const apiKey = take(n.apiKey);
  const secret = take(n.secret);
  const password = take(n.password);
  const fingerprint = take(n.fingerprint);
  const rotatesAt = take(n.rotatesAt);
  const ref = take(n.ref);
  if (!apiKey || !secret) {
    throw new UsageError('INCOMPLETE_CREDENTIALS', `${n.apiKey} and ${n.secret} must both be set.`, {
      hint: 'Let `keyctl exec` set them; do not set them by hand.',
    });
  }
  return handle(
    {
      ref: ref ?? '',
      apiKey,
      secret,
      ...(password ? { password } : {}),
      fingerprint: fingerprint ?? '',
      ...(rotatesAt ? { rotatesAt } : {}),
    },
    'env',
  );
}

async function fromToken(token: string, env: NodeJS.ProcessEnv, options: LoadCredentialsOptions): Promise<LoadedCredentials> {
  const { provider, storeToken } = parseToken(token);
  const { unwrapToken } = await import('./unwrap.js');
  const value = await unwrapToken(
    provider,
    storeToken,
    { env, ...(options.config ? { config: options.config } : {}) },
    options.unwrapToken,
  );
  return handle(decodePayload(value), 'token');
}

async function fromFd(fd: number, options: LoadCredentialsOptions): Promise<LoadedCredentials> {
  let socket: Socket;
  try {
    socket = new Socket({ fd, readable: true, writable: true });
  } catch {
    throw new UsageError('FD_UNUSABLE', `fd ${fd} is not an open socket.`, {
      hint: 'KEYCTL_FD is set by `keyctl exec --fd N`; do not set it by hand, and do not close that descriptor.',
    });
  }
  // The socket must not keep the bot alive on its own; it still delivers rotations while the bot runs.
  socket.unref();
  const channel = new PipeChannel(socket, options.ack ?? 'auto');
  const first = await channel.first(options.timeoutMs ?? 10_000);
  const creds = handle(first, 'fd', channel);
  if (channel.ackMode === 'auto') channel.ack(first.fingerprint);
  return creds;
}

/** The pipe to `keyctl exec`: the first key, then rotations; acks back. */
class PipeChannel {
  private readonly lines = new LineSplitter();
  private readonly queue: BotCredentials[] = [];
  private readonly listeners = new Set<RotationListener>();
  private waiters: Array<(c: BotCredentials | null) => void> = [];
  private latest: string | undefined;
  private closed = false;
  private gotFirst = false;
  private firstWaiter: ((c: BotCredentials | null, err?: KeyctlError) => void) | undefined;

  constructor(
    private readonly socket: Socket,
    readonly ackMode: 'auto' | 'manual',
  ) {
    socket.on('data', (chunk: Buffer) => {
      for (const line of this.lines.push(chunk)) {
        const m = decodeMessage(line);
        if (m?.type === 'credentials') {
          const { type: _t, ...c } = m;
          this.receive(c);
        }
      }
    });
    socket.on('error', () => this.end());
    socket.on('close', () => this.end());
  }

  first(timeoutMs: number): Promise<BotCredentials> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          done(
            null,
            new UsageError('FD_TIMEOUT', `No credentials arrived on the pipe within ${timeoutMs} ms.`, {
              hint: 'Start the bot with `keyctl exec --fd N`; check that nothing else reads that descriptor.',
            }),
          ),
        timeoutMs,
      );
      const done = (c: BotCredentials | null, err?: KeyctlError) => {
        clearTimeout(timer);
        this.firstWaiter = undefined;
        if (c) resolve(c);
        else
          reject(
            err ??
              new UsageError('FD_CLOSED', 'The pipe closed before any credentials arrived.', {
                hint: 'Start the bot with `keyctl exec --fd N`.',
              }),
          );
      };
      this.firstWaiter = done;
    });
  }

  private receive(c: BotCredentials): void {
    this.latest = c.fingerprint;
    if (!this.gotFirst) {
      this.gotFirst = true;
      this.firstWaiter?.(c);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) waiter(c);
    else if (this.listeners.size === 0) this.queue.push(c);
    this.notify(c);
  }

  private notify(c: BotCredentials): void {
    for (const l of this.listeners) {
      void (async () => {
        await l(c);
        if (this.ackMode === 'auto') this.ack(c.fingerprint);
      })().catch(() => undefined);
    }
  }

  onRotate(listener: RotationListener): () => void {
    this.listeners.add(listener);
    const pending = this.queue.splice(0).at(-1);
    if (pending) this.notify(pending);
    return () => this.listeners.delete(listener);
  }

  async *rotations(): AsyncIterableIterator<BotCredentials> {
    while (!this.closed || this.queue.length) {
      const next = this.queue.shift() ?? (await new Promise<BotCredentials | null>((r) => this.waiters.push(r)));
      if (!next) return;
      yield next;
    }
  }

  ack(fingerprint = this.latest): void {
    if (!fingerprint || this.closed) return;
    this.socket.write(encodeMessage({ type: 'ack', fingerprint }));
  }

  close(): void {
    this.socket.destroy();
    this.end();
  }

  private end(): void {
    if (this.closed) return;
    this.closed = true;
    this.firstWaiter?.(null);
    for (const w of this.waiters.splice(0)) w(null);
  }
}

function handle(c: BotCredentials, source: CredentialSource, channel?: PipeChannel): LoadedCredentials {
  const safe = () => ({ ref: c.ref, fingerprint: c.fingerprint, ...(c.rotatesAt ? { rotatesAt: c.rotatesAt } : {}), source });
  const out = { ...c } as LoadedCredentials;
  const hidden: PropertyDescriptorMap = {
    source: { value: source },
    onRotate: { value: (l: RotationListener) => channel?.onRotate(l) ?? (() => false) },
    rotations: { value: () => channel?.rotations() ?? (async function* () {})() },
    ack: { value: (fp?: string) => channel?.ack(fp) },
    close: { value: () => channel?.close() },
    toJSON: { value: safe },
    [INSPECT]: { value: () => ({ ...safe(), apiKey: '[hidden]', secret: '[hidden]' }) },
  };
  return Object.defineProperties(out, hidden);
}
