/**
 * What keyctl hands a bot, and the wire format of the pipe between `keyctl exec --fd N` and the bot
 * (docs/delivery.md). Shared by exec and the client library, so it imports nothing but the error types.
 */
import { UsageError } from './errors.js';

/** Credentials as a bot receives them: ccxt's names (`apiKey`, `secret`, `password`), plus what identifies the key. */
export interface BotCredentials {
  /** The slot, `bot/sub`. */
  ref: string;
  apiKey: string;
  secret: string;
  /** The exchange passphrase (OKX, KuCoin, Bitget), ccxt's `password`. */
  password?: string;
  /** Short SHA-256 of the API key: the only name of the key that may be printed or logged. */
  fingerprint: string;
  /** ISO time the slot's next scheduled rotation is due, when known. */
  rotatesAt?: string;
}

/** exec -> bot: the key to use (at start, and after each rotation that promotes a new CURRENT key). */
export interface CredentialsMessage extends BotCredentials {
  type: 'credentials';
}

/** bot -> exec: the bot switched to the key with this fingerprint. */
export interface AckMessage {
  type: 'ack';
  fingerprint: string;
}

export type PipeMessage = CredentialsMessage | AckMessage;

/** Default prefix of the environment variables exec sets and the client reads. */
export const DEFAULT_ENV_PREFIX = 'KEYCTL_';

/** Variable names for a prefix (`KEYCTL_` by default). */
export function envNames(prefix = DEFAULT_ENV_PREFIX) {
  return {
    apiKey: `${prefix}API_KEY`,
    secret: `${prefix}SECRET`,
    password: `${prefix}PASSWORD`,
    fingerprint: `${prefix}FINGERPRINT`,
    rotatesAt: `${prefix}ROTATES_AT`,
    ref: `${prefix}REF`,
    fd: `${prefix}FD`,
  } as const;
}

const PREFIX = /^[A-Za-z_][A-Za-z0-9_]{0,40}$/;

/** Checks an `--env-prefix` / `prefix` value: letters, digits and `_`, not starting with a digit. */
export function assertEnvPrefix(prefix: string): void {
  if (!PREFIX.test(prefix)) {
    throw new UsageError('INVALID_ENV_PREFIX', `"${prefix}" is not a usable environment variable prefix.`, {
      hint: 'Use letters, digits and "_", not starting with a digit, e.g. KEYCTL_ or BOT_.',
    });
  }
}

/** The environment variables carrying `c` (env mode). */
export function credentialsEnv(c: BotCredentials, prefix = DEFAULT_ENV_PREFIX): Record<string, string> {
  const n = envNames(prefix);
  return {
    [n.apiKey]: c.apiKey,
    [n.secret]: c.secret,
    ...(c.password !== undefined ? { [n.password]: c.password } : {}),
    [n.fingerprint]: c.fingerprint,
    ...(c.rotatesAt !== undefined ? { [n.rotatesAt]: c.rotatesAt } : {}),
    [n.ref]: c.ref,
  };
}

/** One newline-terminated JSON line. */
export function encodeMessage(message: PipeMessage): string {
  return `${JSON.stringify(message)}\n`;
}

/**
 * Parses one line from the pipe. Returns null for anything that is not a well-formed message (a peer speaking
 * another protocol must not crash the other side). Never echoes the line: it may hold a secret.
 */
export function decodeMessage(line: string): PipeMessage | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const m = raw as Record<string, unknown>;
  const str = (k: string) => (typeof m[k] === 'string' && m[k] !== '' ? (m[k] as string) : undefined);
  if (m.type === 'ack') {
    const fingerprint = str('fingerprint');
    return fingerprint ? { type: 'ack', fingerprint } : null;
  }
  if (m.type === 'credentials') {
    const ref = str('ref');
    const apiKey = str('apiKey');
    const secret = str('secret');
    const fingerprint = str('fingerprint');
    if (!ref || !apiKey || !secret || !fingerprint) return null;
    const password = str('password');
    const rotatesAt = str('rotatesAt');
    return {
      type: 'credentials',
      ref,
      apiKey,
      secret,
      fingerprint,
      ...(password !== undefined ? { password } : {}),
      ...(rotatesAt !== undefined ? { rotatesAt } : {}),
    };
  }
  return null;
}

/** Splits a byte stream into lines; a line longer than `maxLine` bytes is dropped (a peer gone wrong). */
export class LineSplitter {
  private buffer = '';
  constructor(private readonly maxLine = 64 * 1024) {}

  push(chunk: Buffer | string): string[] {
    this.buffer += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    if (this.buffer.length > this.maxLine) this.buffer = '';
    return lines.filter((l) => l.trim() !== '');
  }
}
