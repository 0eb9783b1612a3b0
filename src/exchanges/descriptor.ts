/**
 * What keyctl knows about one exchange, written once in `src/exchanges/<id>/descriptor.ts` and listed in registry.ts.
 * Every per-exchange list (passphrase exchanges, error codes, automatic and assisted ids, sandbox emulators) is derived
 * from these descriptors. A descriptor is plain data plus lazy loaders: reading it never loads ccxt or an emulator.
 */
import type { DeclarableScope, Scope } from '../domain/scopes.js';
import type { ExchangeEmulator } from '../sandbox/http.js';
import type { ExchangeAdapter, ExchangeCapabilities } from './types.js';

/** How {@link ExchangeErrorCodes} classifies one of the exchange's own error codes (see `mapExchangeError`). */
export type ErrorKind = 'KEY_REJECTED' | 'PERMISSION_DENIED' | 'IP_NOT_ALLOWED' | 'RATE_LIMITED' | 'CLOCK_SKEW';

/** The exchange's error codes keyctl maps by code rather than by ccxt's error class. */
export interface ExchangeErrorCodes {
  /**
   * Codes that decide the mapping whatever ccxt class they were thrown as (ccxt classifies some codes differently by
   * host). `IP_NOT_ALLOWED` only for a code that means exactly "the call came from outside the key's IP allowlist".
   */
  readonly codes: Readonly<Record<string, ErrorKind>>;
  /**
   * KEY_REJECTED answers that do not tell a bad key from a wrong address or a missing permission; matched by code, or
   * by message when ccxt raised it without the JSON body. They are worded to name the allowlist as a possible cause.
   */
  readonly keyOrIp?: { readonly codes: readonly string[]; readonly message: RegExp };
  /** PERMISSION_DENIED codes meaning the exchange banned the caller's address (not the key's allowlist). */
  readonly addressBanned?: readonly string[];
}

/** The API operations an automatic exchange offers; `passphrase` and `rotation` come from the descriptor itself. */
export interface ExchangeOperations {
  readonly inspect: boolean;
  readonly create: boolean;
  readonly delete: boolean;
  readonly list: boolean;
  /** See {@link ExchangeCapabilities.masterScopes}. */
  readonly masterScopes: readonly Scope[];
  /** See {@link ExchangeCapabilities.boundScopes}. */
  readonly boundScopes: readonly (readonly DeclarableScope[])[];
  /** See {@link ExchangeCapabilities.impliedScopes}. */
  readonly impliedScopes?: Readonly<Partial<Record<DeclarableScope, readonly DeclarableScope[]>>>;
}

interface DescriptorBase {
  /** ccxt exchange id; also the config's `accounts.<name>.exchange` and the sandbox's URL prefix. */
  readonly id: string;
  /** Name for people. */
  readonly name: string;
  /** Keys carry a caller-chosen passphrase (ccxt's `password`). */
  readonly passphrase: boolean;
  /** ccxt's `rateLimit`: the minimum milliseconds between two requests that ccxt's throttle keeps. */
  readonly rateLimitMs: number;
  readonly errors?: ExchangeErrorCodes;
}

/** An exchange whose sub-account keys keyctl creates and deletes itself. */
export interface AutomaticExchange extends DescriptorBase {
  readonly rotation: 'automatic';
  readonly operations: ExchangeOperations;
  readonly adapter: () => Promise<ExchangeAdapter>;
  /** The sandbox emulator of the exchange's key endpoints (src/sandbox serves it under `/<id>`). */
  readonly sandbox: () => Promise<ExchangeEmulator>;
}

/**
 * An exchange whose keys a person creates in its web UI while keyctl prints the settings and reads the key. With
 * `adapter` and `sandbox` it is *inspect-only*: rotation stays assisted (create, delete and list are capability gaps),
 * but keyctl reads a key's permissions and pings it by API, and the sandbox emulates those endpoints. Without them,
 * every call is a capability gap and its keys are reported as not checked.
 */
export interface AssistedExchange extends DescriptorBase {
  readonly rotation: 'assisted';
  /** Why keyctl cannot rotate this exchange's keys itself; part of every capability-gap message. */
  readonly why: string;
  /** Inspect-only: the adapter whose `inspect` and `ping` work (build it on `assistedAdapter`). */
  readonly adapter?: () => Promise<ExchangeAdapter>;
  /** Inspect-only: the sandbox emulator of the permission endpoint and one harmless signed call. */
  readonly sandbox?: () => Promise<ExchangeEmulator>;
}

export type ExchangeDescriptor = AutomaticExchange | AssistedExchange;

/** The adapter-facing capabilities of an exchange, derived from its descriptor. */
export function capabilitiesOf(d: ExchangeDescriptor): ExchangeCapabilities {
  const ops: ExchangeOperations =
    d.rotation === 'automatic'
      ? d.operations
      : { inspect: d.adapter !== undefined, create: false, delete: false, list: false, masterScopes: [], boundScopes: [] };
  return {
    inspect: ops.inspect,
    create: ops.create,
    delete: ops.delete,
    list: ops.list,
    passphrase: d.passphrase,
    rotation: d.rotation,
    masterScopes: [...ops.masterScopes],
    boundScopes: ops.boundScopes.map((group) => [...group]),
    ...(ops.impliedScopes
      ? { impliedScopes: Object.fromEntries(Object.entries(ops.impliedScopes).map(([s, more]) => [s, [...(more ?? [])]])) }
      : {}),
  };
}
