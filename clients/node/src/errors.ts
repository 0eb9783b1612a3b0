/**
 * keyctl's one error type. Every failure a user can see is a KeyctlError with a stable `code`, a message that says what
 * happened, a `hint` that says what to do next, and the process exit code the CLI uses for it.
 *
 * Messages and hints must never contain secret material: build them from refs, paths and fingerprints only.
 *
 * In the client package so that what `loadCredentials()` throws and what keyctl throws are the same classes (a bot's
 * `instanceof KeyctlError` holds either way); keyctl imports them as `@keyctl/client/errors`.
 */

/** Process exit codes, documented in the README. */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  POLICY: 3,
  PROVIDER: 4,
  EXCHANGE: 5,
  ROTATION_INCOMPLETE: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** What each exit code means, as the README's table and `keyctl --help` say it (a test keeps the README in step). */
export const EXIT_CODE_MEANINGS: Record<ExitCode, string> = {
  0: 'ok',
  1: 'internal error: a bug (the message holds no secrets; KEYCTL_DEBUG=1 adds a redacted stack)',
  2: 'usage or config error, or a named key is not in the store',
  3: 'policy violation: a key is unsafe or flagged, or the audit chain is broken',
  4: 'secret store unavailable or denied (not initialized, wrong master key, damaged, Vault/AWS refused)',
  5: 'exchange error (unreachable, rate-limited after retries, refused the call or this address)',
  6: 'rotation incomplete: nothing was lost; re-running the same command is safe',
};

export interface KeyctlErrorOptions {
  hint?: string;
  cause?: unknown;
  /** True when the same call may succeed if repeated later (network, rate limit, lock held). */
  retryable?: boolean;
  /** Structured, non-secret details for `--json` output. */
  details?: Record<string, unknown>;
}

export class KeyctlError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, exitCode: ExitCode, options: KeyctlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      exitCode: this.exitCode,
      ...(this.details ? { details: this.details } : {}),
    };
  }
}

/** Bad command-line usage: a missing argument, a malformed ref or duration. Exit 2. */
export class UsageError extends KeyctlError {
  constructor(code: string, message: string, options?: KeyctlErrorOptions) {
    super(code, message, ExitCode.USAGE, options);
  }
}

/** One problem found in the config file, with its dotted path. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** The config file is missing, unreadable or invalid. Carries every problem at once. Exit 2. */
export class ConfigError extends KeyctlError {
  readonly issues: ConfigIssue[];
  constructor(message: string, issues: ConfigIssue[], options?: KeyctlErrorOptions) {
    super('CONFIG_INVALID', message, ExitCode.USAGE, {
      ...options,
      details: { ...options?.details, issues },
    });
    this.issues = issues;
  }
}

/**
 * A key the user named has no CURRENT version in the store: nothing to act on until one is imported (or a rotation
 * creates one). The store itself is fine, so this is not exit 4: exit 2, with the command that fixes it as the hint.
 */
export class MissingKeyError extends UsageError {
  constructor(message: string, options?: KeyctlErrorOptions) {
    super('NO_CURRENT_KEY', message, options);
  }
}

/** The secret store is unavailable, denied the call, or holds something it cannot open. Exit 4. */
export class ProviderError extends KeyctlError {
  constructor(code: string, message: string, options?: KeyctlErrorOptions) {
    super(code, message, ExitCode.PROVIDER, options);
  }
}

/** A path or version the caller asked for does not exist. */
export class NotFoundError extends ProviderError {
  constructor(message: string, options?: KeyctlErrorOptions) {
    super('NOT_FOUND', message, options);
  }
}

/** A compare-and-set lost: somebody else changed the record first. Re-read and decide again. */
export class ConflictError extends ProviderError {
  constructor(message: string, options?: KeyctlErrorOptions) {
    super('CONFLICT', message, { retryable: true, ...options });
  }
}

/** A lease is held by another owner and has not expired. */
export class LockedError extends ProviderError {
  constructor(message: string, options?: KeyctlErrorOptions) {
    super('LOCKED', message, { retryable: true, ...options });
  }
}

/**
 * A write carried the fencing token of a lease that was since taken over by another holder: the writer stalled past
 * its lease and must stop (providers/coordination.ts). Not retryable: re-running the command resumes from the record.
 */
export class FencedError extends ProviderError {
  constructor(message: string, options?: KeyctlErrorOptions) {
    super('FENCED', message, options);
  }
}

/** The exchange refused or failed a call. Exit 5. */
export class ExchangeError extends KeyctlError {
  constructor(code: string, message: string, options?: KeyctlErrorOptions) {
    super(code, message, ExitCode.EXCHANGE, options);
  }
}

/** A rotation stopped part-way; its journal lets a re-run finish or undo it. Exit 6. */
export class RotationIncompleteError extends KeyctlError {
  constructor(code: string, message: string, options?: KeyctlErrorOptions) {
    super(code, message, ExitCode.ROTATION_INCOMPLETE, {
      hint: 'Nothing was lost; it is safe to re-run the same command.',
      ...options,
    });
  }
}

/** A bug in keyctl. Exit 1. */
export class InternalError extends KeyctlError {
  constructor(message: string, options?: KeyctlErrorOptions) {
    super('INTERNAL', message, ExitCode.INTERNAL, {
      hint: 'This is a bug in keyctl. Please report it with the command you ran (the message above holds no secrets).',
      ...options,
    });
  }
}

/** Wraps anything thrown into a KeyctlError without copying an unknown error's message (it might hold a secret). */
export function toKeyctlError(err: unknown): KeyctlError {
  if (err instanceof KeyctlError) return err;
  const name = err instanceof Error ? err.name : typeof err;
  return new InternalError(`Unexpected ${name}.`, { cause: err });
}
