/**
 * `keyctl exec --env NAME=field` and `--preset <framework>`: the key under the variable names a bot framework reads
 * itself (Freqtrade, a ccxt script, Jesse), so nothing about keys goes into the framework's config file.
 *
 * With a mapping, the key, the secret and the passphrase are set only under the mapped names (one copy in the bot's
 * environment, not two); the names of what is not secret (`<prefix>FINGERPRINT`, `<prefix>ROTATES_AT`, `<prefix>REF`)
 * stay, so the bot can still log which key it runs with. Environment mode only: with `--fd` the key never enters the
 * environment. Imports only the error types: the exec fast path loads it.
 */
import { UsageError } from '@keyctl/client/errors';
import { envNames, type BotCredentials } from '@keyctl/client/protocol';
import { storeCredentialEnv } from './store-env.js';

/** What a mapped variable can carry, in the names of the pipe protocol and the Node client. */
export const ENV_FIELDS = ['apiKey', 'secret', 'password', 'fingerprint', 'ref'] as const;
export type EnvField = (typeof ENV_FIELDS)[number];

export interface EnvMapping {
  name: string;
  field: EnvField;
}

/**
 * The presets, each from its framework's own documentation:
 *
 * - freqtrade: Freqtrade reads any config key from `FREQTRADE__<SECTION>__<KEY>`; the exchange's key, secret and
 *   password are `FREQTRADE__EXCHANGE__KEY`, `FREQTRADE__EXCHANGE__SECRET` and `FREQTRADE__EXCHANGE__PASSWORD`
 *   (https://www.freqtrade.io/en/stable/configuration/#environment-variables; the config schema's descriptions of
 *   exchange.key/secret/password name the same variables).
 * - ccxt: ccxt itself reads no variables; its test and example runner takes credentials from
 *   `<EXCHANGE ID>_APIKEY`, `<EXCHANGE ID>_SECRET` and `<EXCHANGE ID>_PASSWORD` (upper case, e.g. `BYBIT_APIKEY`:
 *   ccxt's CONTRIBUTING.md and ts/src/test/tests.ts `loadCredentialsFromEnv`, "example: KRAKEN_APIKEY"). The exchange id
 *   is the slot's account's exchange.
 * - jesse:<EXCHANGE> (e.g. `jesse:BYBIT_USDT_PERPETUAL`): Jesse's `.env` names each exchange's key
 *   `<EXCHANGE>_API_KEY` and `<EXCHANGE>_API_SECRET`, e.g. `BYBIT_USDT_PERPETUAL_API_KEY`
 *   (https://docs.jesse.trade/docs/configuration, "Environment Variables"). The exchange part names Jesse's exchange
 *   and market (spot, perpetual, testnet), which keyctl cannot know, so it is given; Jesse documents no passphrase
 *   variable there (add one with `--env NAME=password`).
 */
export const PRESETS = ['freqtrade', 'ccxt', 'jesse:<EXCHANGE>'] as const;

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const JESSE_EXCHANGE = /^[A-Z][A-Z0-9_]{0,63}$/;
const CCXT_ID = /^[a-z][a-z0-9]{0,39}$/;
/** Variables with a meaning of their own to keyctl or its stores: a mapping must not set them. */
const RESERVED = [...storeCredentialEnv('aws'), 'KEYCTL_MASTER_KEY_FILE', 'KEYCTL_CONFIG'];

function presetMappings(preset: string, exchange: string): EnvMapping[] {
  if (preset === 'freqtrade') {
    return [
      { name: 'FREQTRADE__EXCHANGE__KEY', field: 'apiKey' },
      { name: 'FREQTRADE__EXCHANGE__SECRET', field: 'secret' },
      { name: 'FREQTRADE__EXCHANGE__PASSWORD', field: 'password' },
    ];
  }
  if (preset === 'ccxt') {
    if (!CCXT_ID.test(exchange)) {
      throw new UsageError('INVALID_PRESET', `--preset ccxt needs a ccxt exchange id; the slot's exchange is "${exchange}".`, {
        hint: 'Name the variables yourself with --env NAME=apiKey --env NAME=secret.',
      });
    }
    const id = exchange.toUpperCase();
    return [
      { name: `${id}_APIKEY`, field: 'apiKey' },
      { name: `${id}_SECRET`, field: 'secret' },
      { name: `${id}_PASSWORD`, field: 'password' },
    ];
  }
  const jesse = /^jesse(?::(.*))?$/.exec(preset);
  if (jesse) {
    const name = jesse[1];
    if (name === undefined || !JESSE_EXCHANGE.test(name)) {
      throw new UsageError(
        'INVALID_PRESET',
        '--preset jesse needs the exchange as Jesse names it in its .env, e.g. jesse:BYBIT_USDT_PERPETUAL.',
        {
          hint: "Use --preset jesse:<EXCHANGE>, with <EXCHANGE> the part before _API_KEY in Jesse's .env (upper case, digits and _).",
        },
      );
    }
    return [
      { name: `${name}_API_KEY`, field: 'apiKey' },
      { name: `${name}_API_SECRET`, field: 'secret' },
    ];
  }
  throw new UsageError('INVALID_PRESET', `--preset ${preset} is not a preset keyctl knows.`, {
    hint: `Use one of ${PRESETS.join(', ')}, or name the variables with --env NAME=field.`,
  });
}

function parseMapping(text: string): EnvMapping {
  const eq = text.indexOf('=');
  const name = eq < 0 ? text : text.slice(0, eq);
  const field = eq < 0 ? '' : text.slice(eq + 1);
  if (!NAME.test(name) || !(ENV_FIELDS as readonly string[]).includes(field)) {
    throw new UsageError('INVALID_ENV_MAPPING', `--env ${text} is not NAME=field.`, {
      hint: `NAME is letters, digits and "_" (not starting with a digit); field is one of ${ENV_FIELDS.join(', ')}. Example: --env BOT_KEY=apiKey`,
    });
  }
  return { name, field: field as EnvField };
}

/**
 * The mappings `--env` (a list) and `--preset` ask for, checked: undefined when neither is given. A preset's names
 * come first; an `--env` of the same name replaces the preset's. Throws UsageError (exit 2) before anything is read.
 */
export function resolveEnvMap(o: { env: unknown; preset: unknown; exchange: string; prefix: string }): EnvMapping[] | undefined {
  const given = o.env === undefined ? [] : Array.isArray(o.env) ? o.env.map(String) : [String(o.env)];
  if (given.length === 0 && o.preset === undefined) return undefined;
  const byName = new Map<string, EnvMapping>();
  if (o.preset !== undefined) for (const m of presetMappings(String(o.preset), o.exchange)) byName.set(m.name, m);
  const seen = new Set<string>();
  const own = envNames(o.prefix);
  // keyctl's own names: those it sets beside a mapping, and those the client reads as a mode or a token.
  const taken = new Set([...RESERVED, own.fd, own.ref, own.fingerprint, own.rotatesAt, `${o.prefix}TOKEN`]);
  for (const text of given) {
    const m = parseMapping(text);
    if (seen.has(m.name)) {
      throw new UsageError('INVALID_ENV_MAPPING', `--env names ${m.name} twice.`, { hint: 'Give each variable once.' });
    }
    seen.add(m.name);
    byName.set(m.name, m);
  }
  const ownField: Record<string, EnvField> = { [own.apiKey]: 'apiKey', [own.secret]: 'secret', [own.password]: 'password' };
  for (const m of byName.values()) {
    // KEYCTL_SECRET=apiKey would hand the client the wrong value under a name it trusts.
    if (taken.has(m.name) || (ownField[m.name] !== undefined && ownField[m.name] !== m.field)) {
      throw new UsageError('INVALID_ENV_MAPPING', `--env cannot set ${m.name}: keyctl sets or reads that variable itself.`, {
        hint: 'Choose another name for the mapped variable.',
      });
    }
  }
  return [...byName.values()];
}

/**
 * The environment variables for `c` under `mappings` (a field the key lacks, a passphrase say, is not set), plus the
 * non-secret `<prefix>FINGERPRINT`, `<prefix>ROTATES_AT` and `<prefix>REF`.
 */
export function mappedEnv(c: BotCredentials, mappings: readonly EnvMapping[], prefix: string): Record<string, string> {
  const n = envNames(prefix);
  const out: Record<string, string> = {
    [n.fingerprint]: c.fingerprint,
    ...(c.rotatesAt !== undefined ? { [n.rotatesAt]: c.rotatesAt } : {}),
    [n.ref]: c.ref,
  };
  for (const m of mappings) {
    const value = c[m.field];
    if (value !== undefined && value !== '') out[m.name] = value;
  }
  return out;
}
