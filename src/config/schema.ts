/**
 * The keyctl.yaml schema. This file is the single source of truth: docs/config.schema.json is generated from it
 * (`npm run schema`) and a test fails when the two drift.
 *
 * Objects are strict: an unknown field is an error, because a typo in a security config (say `ipz:`) must not be
 * silently ignored.
 */
import { isIP } from 'node:net';
import { Duration, IANAZone } from 'luxon';
import { z } from 'zod';
import { ALL_SCOPES, FORBIDDEN_BOT_SCOPES } from '../domain/scopes.js';

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const name = (what: string) =>
  z.string().regex(NAME, `${what} names use lowercase letters, digits, "-" and "_" (at most 63 characters)`);

/** ISO-8601 duration, e.g. PT15M, P30D. */
export const isoDuration = z
  .string()
  .refine((s) => {
    const d = Duration.fromISO(s);
    return d.isValid && d.toMillis() > 0;
  }, 'must be a positive ISO-8601 duration such as PT15M, PT1H or P30D');

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a 24-hour time such as 02:00');

/** When scheduled rotation may run: days of the week and a time range in a named zone. Outside it, due rotations wait. */
export const windowSchema = z
  .strictObject({
    days: z.array(z.enum(WEEKDAYS)).min(1).default([...WEEKDAYS]),
    from: clock,
    /** End of the window; earlier than `from` means the window crosses midnight. */
    to: clock,
    zone: z.string().refine((zone) => IANAZone.isValidZone(zone), 'must be an IANA time zone such as UTC or Europe/London').default('UTC'),
  })
  .refine((w) => w.from !== w.to, { message: 'from and to must differ', path: ['to'] });

const ip = z.string().refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address');

export const localStoreSchema = z.strictObject({
  provider: z.literal('local'),
  /** Store directory; relative paths resolve against the config file's directory. */
  path: z.string().min(1).default('./.keyctl'),
});

export const memoryStoreSchema = z.strictObject({
  provider: z.literal('memory'),
});

export const vaultStoreSchema = z.strictObject({
  provider: z.literal('vault'),
  /** Vault address; VAULT_ADDR when omitted. */
  address: z.url().optional(),
  /** KV v2 mount. */
  mount: z.string().min(1).default('secret'),
  /** Path prefix inside the mount. */
  prefix: z.string().default('keyctl'),
  namespace: z.string().optional(),
  auth: z
    .discriminatedUnion('method', [
      z.strictObject({ method: z.literal('token') }),
      z.strictObject({ method: z.literal('approle'), mount: z.string().default('approle') }),
    ])
    .default({ method: 'token' }),
});

export const awsStoreSchema = z.strictObject({
  provider: z.literal('aws'),
  region: z.string().min(1),
  /** Custom endpoint (e.g. a local emulator); credentials always come from the AWS SDK's default chain. */
  endpoint: z.url().optional(),
  /** Secret name prefix. */
  prefix: z.string().default('keyctl/'),
  kmsKeyId: z.string().optional(),
});

export const storeSchema = z.discriminatedUnion('provider', [localStoreSchema, memoryStoreSchema, vaultStoreSchema, awsStoreSchema]);

export const accountSchema = z.strictObject({
  /** ccxt exchange id, e.g. bybit, okx, binance, kucoin. */
  exchange: z.string().regex(/^[a-z][a-z0-9]*$/, 'must be a ccxt exchange id such as bybit or okx'),
  /** Base URL for every API call of this account (testnet, proxy, the keyctl sandbox). */
  baseUrl: z.url().optional(),
  /** The main account's own id at the exchange, when the exchange reports one. */
  uid: z.string().min(1).optional(),
  /** Staff who can see this account's master key. */
  custodians: z.array(z.string()).default([]),
});

export const subaccountSchema = z.strictObject({
  /** Name of an entry under `accounts`. */
  account: z.string(),
  /** The exchange's sub-account id (uid, name or email, as the exchange needs). */
  uid: z.string().min(1),
  scopes: z.array(z.enum(ALL_SCOPES)).min(1),
  ips: z.array(ip).min(1, 'a bot key must be IP-locked: declare at least one address'),
  custodians: z.array(z.string()).default([]),
  rotate: z
    .strictObject({
      every: isoDuration.default('P30D'),
      grace: isoDuration.default('PT15M'),
      window: windowSchema.optional(),
    })
    .default({ every: 'P30D', grace: 'PT15M' }),
  verify: z.strictObject({ every: isoDuration.default('PT1H') }).default({ every: 'PT1H' }),
});

export const botSchema = z.strictObject({
  subaccounts: z.record(name('Sub-account'), subaccountSchema),
});

export const auditSchema = z.strictObject({
  /** Audit log file; defaults to audit.log inside the local store directory, or ./keyctl-audit.log. */
  path: z.string().min(1).optional(),
});

export const configSchema = z.strictObject({
  store: storeSchema.default({ provider: 'local', path: './.keyctl' }),
  audit: auditSchema.default({}),
  accounts: z.record(name('Account'), accountSchema).default({}),
  bots: z.record(name('Bot'), botSchema).default({}),
  staff: z.array(z.string().min(1)).default([]),
});

export type RawConfig = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type StoreConfig = z.output<typeof storeSchema>;
export type LocalStoreConfig = z.output<typeof localStoreSchema>;
export type VaultStoreConfig = z.output<typeof vaultStoreSchema>;
export type AwsStoreConfig = z.output<typeof awsStoreSchema>;
export type RotationWindow = z.output<typeof windowSchema>;

/** The forbidden scopes, for rules and docs. */
export const forbiddenBotScopes = FORBIDDEN_BOT_SCOPES;

/** JSON Schema of the config, as written to docs/config.schema.json. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }),
    $id: 'https://keyctl.dev/schema/keyctl.yaml.json',
    title: 'keyctl.yaml',
  };
}
