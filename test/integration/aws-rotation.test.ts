/**
 * Issue 6's end-to-end check: a slot rotated by the real CLI with the AWS Secrets Manager provider (moto) and the
 * exchange sandbox, then the staging labels read with the AWS SDK directly, the way AWS's own tools see them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as SM from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../providers/aws/index.js';
import { ensureAuditKey } from '../../src/audit/key.js';
import { fingerprint, toSecretFields } from '../../src/domain/credentials.js';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/server.js';
import type { SeededKey } from '../../src/sandbox/admin-client.js';
import { runCli } from '../helpers/cli.js';
import { FAKE_AWS_ENV, skipWithoutMoto, startMoto, type MotoServer } from '../helpers/moto.js';

const IP = '203.0.113.7';
const REGION = 'us-east-1';
const PREFIX = 'keyctl-e2e/';

describe.skipIf(skipWithoutMoto)('rotation with the AWS provider (skipped when python3 moto is missing, unless CI=true)', () => {
  let moto: MotoServer;
  let sandbox: RunningSandbox;
  let dir: string;
  let sub: string;
  let oldKey: SeededKey;
  let sm: SM.SecretsManagerClient;
  const env = () => ({ ...FAKE_AWS_ENV, KEYCTL_EXCHANGE_BACKOFF_MS: '20' });
  const cli = (args: string[]) => runCli(['--config', join(dir, 'keyctl.yaml'), ...args], { env: env() });

  beforeAll(async () => {
    Object.assign(process.env, FAKE_AWS_ENV);
    moto = await startMoto();
    sandbox = await startSandbox({ admin: true, clientIp: IP });
    dir = mkdtempSync(join(tmpdir(), 'keyctl-aws-rotation-'));
    const { uid } = await sandbox.admin.createAccount('bybit');
    sub = (await sandbox.admin.createSubaccount('bybit', uid)).id;
    const master = await sandbox.admin.createKey({
      exchange: 'bybit',
      owner: uid,
      master: true,
      permissions: { Wallet: ['AccountTransfer', 'SubMemberTransfer'] },
      ips: [IP],
    });
    oldKey = await sandbox.admin.createKey({ exchange: 'bybit', owner: sub, permissions: { Spot: ['SpotTrade'] }, ips: [IP] });
    writeFileSync(
      join(dir, 'keyctl.yaml'),
      `store: { provider: aws, region: ${REGION}, endpoint: "${moto.endpoint}", prefix: ${PREFIX} }\naudit: { path: ./audit.log }\n` +
        `accounts:\n  main: { exchange: bybit, baseUrl: "${sandbox.url}/bybit" }\n` +
        `bots:\n  alpha:\n    subaccounts:\n      arb1: { account: main, uid: "${sub}", scopes: [read, spot:trade], ips: [${IP}] }\n`,
    );
    const store = await createStore({ provider: 'aws', region: REGION, endpoint: moto.endpoint, prefix: PREFIX }, {});
    await store.init();
    await ensureAuditKey(store);
    for (const [path, key] of [
      ['accounts/main', master],
      ['bots/alpha/arb1', oldKey],
    ] as const) {
      await store.write(path, {
        secret: toSecretFields(key),
        meta: { fingerprint: fingerprint(key.apiKey) },
        stage: 'CURRENT',
        expect: null,
      });
    }
    await store.close();
    sm = new SM.SecretsManagerClient({ region: REGION, endpoint: moto.endpoint });
  });
  afterAll(async () => {
    await sandbox?.close();
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const labels = async () =>
    (await sm.send(new SM.DescribeSecretCommand({ SecretId: `${PREFIX}bots/alpha/arb1` }))).VersionIdsToStages ?? {};
  const valueAt = async (VersionStage: string) =>
    JSON.parse((await sm.send(new SM.GetSecretValueCommand({ SecretId: `${PREFIX}bots/alpha/arb1`, VersionStage }))).SecretString!);

  it('AWS sees the new key as AWSCURRENT and the old as AWSPREVIOUS during the grace period', async () => {
    const r = await cli(['rotate', 'alpha/arb1', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const current = await valueAt('AWSCURRENT');
    const previous = await valueAt('AWSPREVIOUS');
    expect(previous.apiKey).toBe(oldKey.apiKey);
    expect(current.apiKey).not.toBe(oldKey.apiKey);
    expect(fingerprint(current.apiKey)).toBe(r.json<{ results: Array<{ newFingerprint: string }> }>().results[0]?.newFingerprint);
    // No rotation is left in progress by AWS's own rule: AWSPENDING, if anywhere, sits on the AWSCURRENT version.
    const stages = await labels();
    const pendingOn = Object.entries(stages)
      .filter(([, s]) => s?.includes('AWSPENDING'))
      .map(([v]) => v);
    const currentOn = Object.entries(stages)
      .filter(([, s]) => s?.includes('AWSCURRENT'))
      .map(([v]) => v);
    expect(currentOn).toHaveLength(1);
    expect(pendingOn.every((v) => v === currentOn[0])).toBe(true);
    // Both keys are alive at the exchange until the grace period ends.
    expect(await sandbox.admin.listKeys({ exchange: 'bybit', owner: sub })).toHaveLength(2);
  });

  it('revoking after grace removes AWSPREVIOUS and the old key at the exchange; AWSCURRENT is the one live key', async () => {
    const r = await cli(['rotate', 'alpha/arb1', '--force', '--grace', '0s', '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const live = await sandbox.admin.listKeys({ exchange: 'bybit', owner: sub });
    expect(live).toHaveLength(1);
    expect((await valueAt('AWSCURRENT')).apiKey).toBe(live[0]!.apiKey);
    const stages = await labels();
    expect(Object.values(stages).filter((s) => s?.includes('AWSPREVIOUS'))).toHaveLength(0);
    const verify = await cli(['verify', 'alpha/arb1', '--json']);
    expect(verify.code, verify.stdout).toBe(0);
    expect((await cli(['audit', 'verify'])).code).toBe(0);
  });
});
