/**
 * The keyctl.yaml schema. This file is the single source of truth: docs/config.schema.json is generated from it
 * (`npm run schema`, see json-schema.ts) and a test fails when the two drift.
 *
 * Objects are strict: an unknown field is an error, because a typo in a security config (say `ipz:`) must not be
 * silently ignored.
 *
 * valibot rather than zod because every keyctl command (and `keyctl exec` in front of a bot) loads the config: valibot
 * imports several times faster. Parse with {@link parseOptions} so every problem is reported at once, each with a message
 * worded as before (`describeIssue`).
 */
import { isIP } from 'node:net';
import { IANAZone, Settings } from 'luxon';

// keyctl's output is English and luxon formats nothing in the user's locale; fixing it spares every command the
// ~45 ms Intl initialisation that resolving the system locale costs (measured: keyctl exec's start-up budget).
Settings.defaultLocale = 'en-US';
import * as v from 'valibot';
import { named, oneOf, parseOptions, strict, tagged } from './schema-kit.js';

export { parseOptions };
import { alertsSchema } from '../alerts/schema.js';
import { checklistSchema } from './checklist-schema.js';
import { ALL_SCOPES } from '../domain/scopes.js';
import { ACCEPTABLE_GAPS } from '../domain/inspection.js';
import { ENDPOINT_KINDS } from '../domain/rate-limit.js';
import { WEEKDAYS } from '../domain/inventory.js';

export type { RotationWindow } from '../domain/inventory.js';
import { isoDurationMs, MAX_DURATION_MS } from '../../schedules/duration.js';

/** What URL-valued fields accept: trimmed, then parsed by the URL parser (which also drops tabs and newlines). */
const url = v.pipe(
  v.string(),
  v.trim(),
  v.url('Invalid URL'),
  v.transform((s) => s.replace(/[\t\n\r]/g, '')),
);

const nonEmpty = v.pipe(v.string(), v.minLength(1));

/**
 * ISO-8601 duration, e.g. PT15M, P30D, PT0S. The syntax is schedules/duration.ts's (`isoDurationMs`), so keyctl.yaml
 * accepts exactly the ISO forms the command line does, and the same 100-year limit. The output is trimmed and uses `.`
 * for decimals, so any ISO reader (luxon) downstream reads it as keyctl did.
 */
export const isoDuration = v.pipe(
  v.string(),
  v.trim(),
  v.check((s) => isoDurationMs(s) !== undefined, 'must be an ISO-8601 duration such as PT15M, PT1H or P30D'),
  v.check((s) => (isoDurationMs(s) ?? 0) <= MAX_DURATION_MS, 'must be at most 100 years (P100Y)'),
  v.transform((s) => s.replace(/,/g, '.')),
);

/** A period (how often something recurs): a duration longer than zero; `why` says what zero would do. */
const period = (why: string) =>
  v.pipe(
    isoDuration,
    v.check((s) => isoDurationMs(s) !== 0, `must be longer than zero: ${why}`),
  );

const clock = v.pipe(v.string(), v.regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a 24-hour time such as 02:00'));

/** A rate: calls per second, fractions allowed (0.5 is one call every 2 s). */
const callsPerSecond = v.pipe(
  v.number(),
  v.gtValue(0, 'must be more than 0 calls per second'),
  v.maxValue(1000, 'must be at most 1000 calls per second'),
);
type EndpointLimits = { [K in (typeof ENDPOINT_KINDS)[number]]: v.OptionalSchema<typeof callsPerSecond, undefined> };

/** When scheduled rotation may run: days of the week and a time range in a named zone. Outside it, due rotations wait. */
export const windowSchema = v.pipe(
  strict({
    days: v.optional(v.pipe(v.array(oneOf(WEEKDAYS)), v.minLength(1)), () => [...WEEKDAYS]),
    from: clock,
    /** End of the window; earlier than `from` means the window crosses midnight. */
    to: clock,
    zone: v.optional(
      v.pipe(
        v.string(),
        v.check((zone) => IANAZone.isValidZone(zone), 'must be an IANA time zone such as UTC or Europe/London'),
      ),
      'UTC',
    ),
  }),
  v.forward(
    v.check((w) => w.from !== w.to, 'from and to must differ'),
    ['to'],
  ),
);

const ip = v.pipe(
  v.string(),
  v.check((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address'),
);

export const localStoreSchema = strict({
  provider: v.literal('local'),
  /** Store directory; relative paths resolve against the config file's directory. */
  path: v.optional(nonEmpty, './.keyctl'),
});

export const memoryStoreSchema = strict({
  provider: v.literal('memory'),
});

/** TLS settings of the Vault store; paths are PEM files (a directory of them for `caPath`). */
const vaultTls = v.pipe(
  strict({
    /** PEM bundle of the CAs that may sign Vault's certificate (replaces the system CAs). */
    caCert: v.optional(nonEmpty),
    /** Directory whose *.pem and *.crt files are the trusted CAs. */
    caPath: v.optional(nonEmpty),
    /** Client certificate (PEM) for Vault listeners that require one; needs clientKey. */
    clientCert: v.optional(nonEmpty),
    /** Unencrypted PEM private key of clientCert. */
    clientKey: v.optional(nonEmpty),
    /** Name to verify Vault's certificate against (and send as SNI) instead of the address's host. */
    serverName: v.optional(nonEmpty),
    /** Accept any certificate (no verification): a lab only. Default false. */
    skipVerify: v.optional(v.boolean()),
  }),
  v.forward(
    v.check((t) => t.clientKey !== undefined || t.clientCert === undefined, 'required when clientCert is set'),
    ['clientKey'],
  ),
  v.forward(
    v.check((t) => t.clientCert !== undefined || t.clientKey === undefined, 'required when clientKey is set'),
    ['clientCert'],
  ),
  v.forward(
    v.check((t) => t.caCert === undefined || t.caPath === undefined, 'set caCert or caPath, not both'),
    ['caPath'],
  ),
);

const vaultStore = strict({
  provider: v.literal('vault'),
  /** Vault address; VAULT_ADDR when omitted. */
  address: v.optional(url),
  /** KV v2 mount. */
  mount: v.optional(nonEmpty, 'secret'),
  /** Path prefix inside the mount. */
  prefix: v.optional(v.string(), 'keyctl'),
  namespace: v.optional(v.string()),
  auth: v.optional(
    tagged('method', [
      strict({ method: v.literal('token') }),
      strict({ method: v.literal('approle'), mount: v.optional(v.string(), 'approle') }),
      /** Kubernetes auth: the pod's service account JWT, read from `tokenPath` at each login. */
      strict({
        method: v.literal('kubernetes'),
        role: nonEmpty,
        mount: v.optional(nonEmpty, 'kubernetes'),
        tokenPath: v.optional(nonEmpty, '/var/run/secrets/kubernetes.io/serviceaccount/token'),
      }),
      /** JWT auth: a JWT read from `tokenPath` at each login, or KEYCTL_VAULT_JWT when no path is set. */
      strict({ method: v.literal('jwt'), role: nonEmpty, mount: v.optional(nonEmpty, 'jwt'), tokenPath: v.optional(nonEmpty) }),
    ]),
    () => ({ method: 'token' as const }),
  ),
  /**
   * TLS to Vault. Each setting falls back to the Vault CLI's variable (VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT,
   * VAULT_CLIENT_KEY, VAULT_TLS_SERVER_NAME, VAULT_SKIP_VERIFY) when omitted; files are read at connect
   * (providers/vault/tls.ts). Verification is off only when `skipVerify: true` (or VAULT_SKIP_VERIFY=true|1) says so.
   */
  tls: v.optional(vaultTls),
});

/**
 * The Vault store's settings. Also offers `.parse(input)` (throws on invalid input), for code that builds a store
 * config outside keyctl.yaml, such as tests.
 */
export const vaultStoreSchema = Object.assign(vaultStore, {
  parse: (input: unknown): v.InferOutput<typeof vaultStore> => v.parse(vaultStore, input, parseOptions),
});

export const awsStoreSchema = strict({
  provider: v.literal('aws'),
  region: nonEmpty,
  /** Custom endpoint (e.g. a local emulator); credentials always come from the AWS SDK's default chain. */
  endpoint: v.optional(url),
  /** Secret name prefix. */
  prefix: v.optional(v.string(), 'keyctl/'),
  kmsKeyId: v.optional(v.string()),
  /**
   * DynamoDB table for coordination (leases, journals, the hand-over registry) and the per-version index (metadata,
   * destroyed marks): state that changes too often for Secrets Manager's version quota. `keyctl init` creates it;
   * `endpoint` applies to it too. Several stores (prefixes) may share one table.
   */
  table: v.optional(
    v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)')),
    'keyctl',
  ),
  /** Role to assume (STS AssumeRole) for a store in another AWS account; the SDK's default chain signs the AssumeRole. */
  assumeRole: v.optional(
    strict({
      roleArn: v.pipe(
        v.string(),
        v.regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/, 'must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)'),
      ),
      externalId: v.optional(v.pipe(v.string(), v.minLength(2), v.maxLength(1224))),
      sessionName: v.optional(v.pipe(v.string(), v.regex(/^[\w+=,.@-]{2,64}$/, 'must be 2-64 of A-Z a-z 0-9 _ + = , . @ -')), 'keyctl'),
    }),
  ),
});

export const storeSchema = tagged('provider', [localStoreSchema, memoryStoreSchema, vaultStoreSchema, awsStoreSchema]);

export const accountSchema = strict({
  /** ccxt exchange id, e.g. bybit, okx, binance, kucoin. */
  exchange: v.pipe(v.string(), v.regex(/^[a-z][a-z0-9]*$/, 'must be a ccxt exchange id such as bybit or okx')),
  /**
   * Base URL for every API call of this account (testnet, proxy, the keyctl sandbox). Plain http is refused unless the
   * host is loopback or `allowInsecureHttp` is set (load.ts): a key-creation response carries the new secret.
   */
  baseUrl: v.optional(url),
  /** Accept a plain-http baseUrl to a host other than this machine (a trusted lab network; never the internet). */
  allowInsecureHttp: v.optional(v.boolean()),
  /** The main account's own id at the exchange, when the exchange reports one. */
  uid: v.optional(nonEmpty),
  /** Staff who can see this account's master key. */
  custodians: v.optional(v.array(v.string()), () => []),
  /**
   * Policy checks this account's exchange cannot answer that are accepted as known gaps (`ip-lock-unverifiable`:
   * the exchange does not report a key's IP allowlist; `owner-unverifiable`: nor its sub-account). Without it, each
   * such check is an UNVERIFIABLE violation (verify exits 3); with it, verify passes and shows the accepted gap.
   */
  accept: v.optional(v.pipe(v.array(oneOf(ACCEPTABLE_GAPS)), v.minLength(1))),
  /** How often the daemon re-verifies the master key (a master key is replaced by hand: drift is alerted). */
  verify: v.optional(
    strict({ every: v.optional(period('a key verified every 0s would be checked at its exchange without pause'), 'PT1H') }),
    () => ({ every: 'PT1H' }),
  ),
  /**
   * Calls per second keyctl allows itself at this account, per key and endpoint, instead of the exchange's documented
   * limits (docs/exchanges.md#rate-limits): `perSecond` for every endpoint, `endpoints.<kind>` for one kind (wins).
   * Lower them when other tools share the account's keys; raise them only for limits the exchange granted the account.
   */
  rateLimit: v.optional(
    strict({
      perSecond: v.optional(callsPerSecond),
      endpoints: v.optional(strict(Object.fromEntries(ENDPOINT_KINDS.map((k) => [k, v.optional(callsPerSecond)])) as EndpointLimits)),
    }),
  ),
});

/** What a dangerous violation found by a verification makes keyctl do (verify.onViolation). */
export const ON_VIOLATION = ['rotate', 'alert', 'kill'] as const;

export const subaccountSchema = strict({
  /** Name of an entry under `accounts`. */
  account: v.string(),
  /** The exchange's sub-account id (uid, name or email, as the exchange needs). */
  uid: nonEmpty,
  scopes: v.pipe(v.array(oneOf(ALL_SCOPES)), v.minLength(1)),
  ips: v.pipe(v.array(ip), v.minLength(1, 'a bot key must be IP-locked: declare at least one address')),
  custodians: v.optional(v.array(v.string()), () => []),
  rotate: v.optional(
    strict({
      every: v.optional(period('a key rotated every 0s would be due again the moment each rotation finished'), 'P30D'),
      /** Zero (PT0S) is allowed: the previous key is revoked as soon as the new one is in place. */
      grace: v.optional(isoDuration, 'PT15M'),
      window: v.optional(windowSchema),
    }),
    () => ({ every: 'P30D', grace: 'PT15M' }),
  ),
  verify: v.optional(
    strict({
      /** How often the daemon (and `keyctl verify --due`) re-checks the key at its exchange; seconds are allowed. */
      every: v.optional(period('a key verified every 0s would be checked at its exchange without pause'), 'PT1H'),
      /**
       * What a verification that finds a dangerous violation does: `rotate` replaces the key at once, with no grace
       * (assisted exchanges: an alert with the steps); `alert` only tells a human; `kill` stops the slot's whole bot as
       * `keyctl kill <bot>` does (paused, orders cancelled, keys revoked; positions left open) until `keyctl resume`.
       */
      onViolation: v.optional(oneOf(ON_VIOLATION), 'rotate'),
    }),
    () => ({ every: 'PT1H', onViolation: 'rotate' as const }),
  ),
});

/**
 * Names that valibot's record skips without a word (they would reach Object.prototype). Rejected up front by the
 * loader instead, so that a bot called `constructor` is an error rather than silently unmanaged.
 */
export const RESERVED_NAMES: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export const botSchema = strict({
  subaccounts: named('Sub-account', subaccountSchema),
});

export const auditSchema = strict({
  /** Audit log file; defaults to audit.log inside the local store directory, or ./keyctl-audit.log. */
  path: v.optional(nonEmpty),
});

export const configSchema = strict({
  store: v.optional(storeSchema, () => ({ provider: 'local' as const, path: './.keyctl' })),
  audit: v.optional(auditSchema, () => ({})),
  accounts: v.optional(named('Account', accountSchema), () => ({})),
  bots: v.optional(named('Bot', botSchema), () => ({})),
  staff: v.optional(v.array(nonEmpty), () => []),
  /** Where the daemon's alerts go: channel name to channel (docs/alerts.md). */
  alerts: v.optional(alertsSchema, () => ({})),
  /** The go-live checklist: items required per bot, operator items, how long an attestation counts (docs/go-live.md). */
  checklist: v.optional(checklistSchema, () => ({})),
});

export type ParsedConfig = v.InferOutput<typeof configSchema>;
export type StoreConfig = v.InferOutput<typeof storeSchema>;
export type LocalStoreConfig = v.InferOutput<typeof localStoreSchema>;
export type VaultStoreConfig = v.InferOutput<typeof vaultStore>;
export type VaultTlsConfig = v.InferOutput<typeof vaultTls>;
export type AwsStoreConfig = v.InferOutput<typeof awsStoreSchema>;
