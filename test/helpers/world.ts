/**
 * A whole keyctl world for end-to-end tests: the exchange sandbox (in this process), one exchange account with a
 * master key and sub-accounts, a keyctl.yaml pointing at it, an initialized local store holding the master key and an
 * (unsafe) imported bot key. The CLI runs as real child processes against it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { NativePermissions } from '../../src/sandbox/state.js';
// The automatic exchanges; inspect-only ones (coinbase, ...) have their own end-to-end cases.
import type { AutomaticSandboxExchange as SandboxExchange } from '../../src/exchanges/registry.js';
import type { SeededKey } from '../../src/sandbox/admin-client.js';
import { runCli, type CliResult } from './cli.js';
import { requiresPassphrase } from '../../src/exchanges/registry.js';
import { createStore as createLocalStore } from '../../providers/local/index.js';
import type { AwsStoreConfig, LocalStoreConfig } from '../../src/config/schema.js';
import { ensureAuditKey } from '../../src/audit/key.js';
import { fingerprint, toSecretFields } from '../../src/domain/credentials.js';

/** The address keyctl (and the bots) act from: declared in every allowlist below. */
export const CLIENT_IP = '203.0.113.7';

export interface ExchangeProfile {
  exchange: SandboxExchange;
  masterPermissions: NativePermissions;
  /** What a slot declares; must be exactly what a key created with these scopes reports. */
  scopes: string[];
  /** A bot key a careless human made: transfer rights, no IP lock (where the exchange can express it). */
  unsafeBotPermissions: NativePermissions;
}

export const PROFILES: Record<SandboxExchange, ExchangeProfile> = {
  bybit: {
    exchange: 'bybit',
    masterPermissions: { Wallet: ['AccountTransfer', 'SubMemberTransfer'] },
    scopes: ['read', 'spot:trade'],
    unsafeBotPermissions: { Spot: ['SpotTrade'], Wallet: ['AccountTransfer'] },
  },
  okx: {
    exchange: 'okx',
    masterPermissions: 'read_only,trade',
    // OKX's one `trade` permission covers every instrument type.
    scopes: ['read', 'spot:trade', 'margin:trade', 'futures:trade', 'options:trade'],
    unsafeBotPermissions: 'read_only,trade',
  },
  binance: {
    exchange: 'binance',
    masterPermissions: { enableReading: true, enableSpotAndMarginTrading: true },
    scopes: ['read', 'spot:trade', 'margin:trade'],
    unsafeBotPermissions: { enableReading: true, enableSpotAndMarginTrading: true, enableInternalTransfer: true },
  },
  kucoin: {
    exchange: 'kucoin',
    masterPermissions: 'General',
    scopes: ['read', 'spot:trade'],
    unsafeBotPermissions: 'General,Spot',
  },
  mexc: {
    exchange: 'mexc',
    masterPermissions: 'SPOT_ACCOUNT_READ',
    scopes: ['read', 'spot:trade'],
    unsafeBotPermissions: 'SPOT_ACCOUNT_READ,SPOT_DEAL_READ,SPOT_DEAL_WRITE,SPOT_TRANSFER_WRITE',
  },
  bitget: {
    exchange: 'bitget',
    // Get Account Information's authorities: `chow` manages sub-accounts; `wtow` is wallet transfer.
    masterPermissions: 'stor,chor,chow',
    scopes: ['read', 'spot:trade'],
    unsafeBotPermissions: 'stor,stow,wtow',
  },
  gate: {
    exchange: 'gate',
    masterPermissions: { account: false },
    // Gate's `spot` permission is spot and margin in one.
    scopes: ['read', 'spot:trade', 'margin:trade'],
    // Gate has no transfer-only permission: wallet read-write (transfers and withdrawals) is the careless grant.
    unsafeBotPermissions: { spot: false, wallet: false },
  },
};

export interface World {
  dir: string;
  sandbox: RunningSandbox;
  profile: ExchangeProfile;
  mainUid: string;
  /** Sub-account ids, by slot name (arb1, arb2). */
  subs: Record<string, string>;
  master: SeededKey;
  /** The bot keys imported at set-up, by slot name. */
  botKeys: Record<string, SeededKey>;
  env: NodeJS.ProcessEnv;
  /** The store the world's keyctl.yaml names (the local store in the world's directory unless `store` was given). */
  storeConfig: LocalStoreConfig | AwsStoreConfig;
  cli(
    args: string[],
    options?: { stdin?: string; env?: NodeJS.ProcessEnv; signalWhen?: { when: RegExp; signal: NodeJS.Signals } },
  ): Promise<CliResult>;
  /** Every key alive at the sandbox for a sub-account. */
  keysAt(sub: string): Promise<Array<{ apiKey: string; label?: string; ips?: string[] | null }>>;
  close(): Promise<void>;
}

export interface WorldOptions {
  exchange?: SandboxExchange;
  /** Extra environment for every CLI run (e.g. KEYCTL_LEASE_MS). */
  env?: NodeJS.ProcessEnv;
  grace?: string;
  /** Import the account's master key (default true); without it rotation is assisted. */
  importMaster?: boolean;
  /**
   * Keep the store in AWS Secrets Manager and DynamoDB at this endpoint (moto), under `prefix`, instead of the local
   * store; the AWS credentials come from `env` (FAKE_AWS_ENV).
   */
  aws?: { endpoint: string; prefix: string; region: string };
  /** Bitget: the main account's mode (a classic account's sub-account keys cannot be deleted by API). */
  accountMode?: 'classic' | 'unified';
}

export async function makeWorld(options: WorldOptions = {}): Promise<World> {
  const profile = PROFILES[options.exchange ?? 'bybit'];
  const dir = mkdtempSync(join(tmpdir(), `keyctl-world-${profile.exchange}-`));
  const sandbox = await startSandbox({ admin: true, clientIp: CLIENT_IP });
  const { uid: mainUid } = await sandbox.admin.createAccount(
    profile.exchange,
    undefined,
    options.accountMode ? { accountMode: options.accountMode } : {},
  );
  const subs: Record<string, string> = {};
  for (const name of ['arb1', 'arb2']) subs[name] = (await sandbox.admin.createSubaccount(profile.exchange, mainUid)).id;
  const master = await sandbox.admin.createKey({
    exchange: profile.exchange,
    owner: mainUid,
    master: true,
    permissions: profile.masterPermissions,
    ips: [CLIENT_IP],
    ...(requiresPassphrase(profile.exchange) ? { passphrase: 'FAKE-Pass-0001!' } : {}),
  });
  const botKeys: Record<string, SeededKey> = {};
  for (const name of ['arb1', 'arb2']) {
    botKeys[name] = await sandbox.admin.createKey({
      exchange: profile.exchange,
      owner: subs[name]!,
      permissions: profile.unsafeBotPermissions,
      ips: [CLIENT_IP],
      label: 'made-by-hand',
      ...(requiresPassphrase(profile.exchange) ? { passphrase: `FAKE-Pass-${name}-1!` } : {}),
    });
  }
  const slot = (name: string, custodians: string[]) =>
    `      ${name}:\n        account: main\n        uid: "${subs[name]}"\n        scopes: [${profile.scopes.join(', ')}]\n        ips: [${CLIENT_IP}]\n        custodians: [${custodians.join(', ')}]\n        rotate: { every: P30D, grace: ${options.grace ?? 'PT15M'} }\n`;
  const storeConfig: LocalStoreConfig | AwsStoreConfig = options.aws
    ? { provider: 'aws', region: options.aws.region, endpoint: options.aws.endpoint, prefix: options.aws.prefix, table: 'keyctl' }
    : { provider: 'local', path: join(dir, 'store') };
  const storeLine = options.aws
    ? `store: { provider: aws, region: ${options.aws.region}, endpoint: "${options.aws.endpoint}", prefix: ${options.aws.prefix} }\naudit: { path: ./audit.log }\n`
    : 'store: { provider: local, path: ./store }\n';
  writeFileSync(
    join(dir, 'keyctl.yaml'),
    `${storeLine}accounts:\n  main: { exchange: ${profile.exchange}, baseUrl: "${sandbox.url}/${profile.exchange}", custodians: [alice] }\n` +
      `bots:\n  alpha:\n    subaccounts:\n${slot('arb1', ['alice'])}${slot('arb2', ['bob'])}staff: [alice, bob]\n`,
  );

  // The store is set up in-process (the CLI's own init and import are covered by test/integration/foundation.test.ts);
  // every command under test then runs as a real child process.
  const masterKey = Buffer.alloc(32, 0x5a).toString('base64');
  // Its own runtime directory, as another user would have: a kill in this world then meets only this world's exec
  // supervisors, not those of a test running beside it with the same slot names (which it would have to wait for).
  const runtime = join(dir, 'run');
  mkdirSync(runtime, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    KEYCTL_EXCHANGE_BACKOFF_MS: '20',
    KEYCTL_MASTER_KEY: masterKey,
    KEYCTL_RUNTIME_DIR: runtime,
    ...options.env,
  };
  const cli = (
    args: string[],
    o: { stdin?: string; env?: NodeJS.ProcessEnv; signalWhen?: { when: RegExp; signal: NodeJS.Signals } } = {},
  ) =>
    runCli(['--config', join(dir, 'keyctl.yaml'), ...args], {
      env: { ...env, ...o.env },
      ...(o.stdin !== undefined ? { stdin: o.stdin } : {}),
      ...(o.signalWhen ? { signalWhen: o.signalWhen } : {}),
    });
  const store =
    storeConfig.provider === 'aws'
      ? await (await import('../../providers/aws/index.js')).createStore(storeConfig, {})
      : await createLocalStore(storeConfig, { env: { KEYCTL_MASTER_KEY: masterKey } });
  await store.init();
  await ensureAuditKey(store);
  const imports: Array<[string, SeededKey]> = [
    ...(options.importMaster === false ? [] : ([['accounts/main', master]] as Array<[string, SeededKey]>)),
    ['bots/alpha/arb1', botKeys.arb1!],
    ['bots/alpha/arb2', botKeys.arb2!],
  ];
  for (const [path, key] of imports) {
    await store.write(path, {
      secret: toSecretFields(key),
      meta: { fingerprint: fingerprint(key.apiKey), source: 'import' },
      stage: 'CURRENT',
      expect: null,
    });
  }
  await store.close();

  return {
    dir,
    sandbox,
    profile,
    mainUid,
    subs,
    master,
    botKeys,
    env,
    storeConfig,
    cli,
    keysAt: async (sub) =>
      (await sandbox.admin.listKeys({ exchange: profile.exchange, owner: sub })).map(
        (k) => k as { apiKey: string; label?: string; ips?: string[] | null },
      ),
    close: async () => {
      await sandbox.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
