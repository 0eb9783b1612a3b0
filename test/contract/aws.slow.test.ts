/**
 * The AWS Secrets Manager provider against moto, a real third-party AWS emulator started for this file. The shared
 * contract suite runs first; then what AWS's own tools see, and keyctl's handling of moto's divergences from AWS.
 *
 * Time: moto runs on real time, but the store takes an injected clock for wrap expiry, so TTL cases are instant.
 * Leases are the coordination store's, not the SecretStore's: test/contract/aws-coordination.slow.test.ts.
 * Rotation end to end (issue 6, last item) is in test/integration/aws-rotation.test.ts.
 */
import { randomUUID } from 'node:crypto';
import * as DDB from '@aws-sdk/client-dynamodb';
import * as SM from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rotationInProgress } from '../../providers/aws/index.js';
import { sdkApi, type SecretsManagerApi } from '../../providers/aws/api.js';
import { GENESIS_VERSION } from '../../providers/aws/stages.js';
import { AwsSecretsManagerStore } from '../../providers/aws/store.js';
import { ensureTable, sdkDynamoApi, type DynamoApi } from '../../providers/aws/table.js';
import type { AwsStoreOptions } from '../../providers/aws/client.js';
import { AwsLimits } from '../helpers/aws-limits.js';
import type { SecretStore } from '../../providers/types.js';
import { KeyctlError } from '@keyctl/client/errors';
import { FAKE_AWS_ENV, skipWithoutMoto, startMoto, type MotoServer } from '../helpers/moto.js';
import { providerContract } from './provider-suite.js';

// Credentials only ever come from the SDK's default chain: give it obviously fake ones, and nothing from the shell.
Object.assign(process.env, FAKE_AWS_ENV);
for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_PROFILE']) delete process.env[k];

const REGION = 'us-east-1';
let moto: MotoServer | undefined;

function sdkClient(): SM.SecretsManagerClient {
  return new SM.SecretsManagerClient({ region: REGION, endpoint: moto!.endpoint });
}

function dynamo(): DynamoApi {
  return sdkDynamoApi(DDB, new DDB.DynamoDBClient({ region: REGION, endpoint: moto!.endpoint }));
}

describe.skipIf(skipWithoutMoto)('AWS provider on moto (skipped when python3 moto is missing, unless CI=true)', () => {
  beforeAll(async () => {
    moto = await startMoto();
    const table = dynamo();
    await ensureTable(table, { table: 'keyctl', region: REGION });
    table.destroy();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  let clock = 0;
  providerContract(
    'aws (moto)',
    async () => {
      clock = Date.now();
      // Through the quota wrapper: the contract must hold within AWS's limits, not only moto's.
      const limits = new AwsLimits({ clock: () => clock });
      const store = new AwsSecretsManagerStore(
        limits.wrap(sdkApi(SM, sdkClient())),
        { region: REGION, prefix: 'keyctl/', now: () => clock },
        limits.wrapDynamo(dynamo()),
      );
      return {
        store,
        advance: async (ms) => {
          clock += ms;
        },
      };
    },
    { ttlMs: 1000 },
  );

  describe("what AWS tools see, and keyctl on moto's divergences", () => {
    let raw: SM.SecretsManagerClient;
    let store: SecretStore;
    let sent: Array<{ op: string; input: Record<string, unknown> }>;
    let base: string;
    const prefix = 'keyctl-native/';

    beforeAll(() => {
      raw = sdkClient();
      base = `t${randomUUID().slice(0, 8)}`;
    });
    afterAll(() => raw.destroy());

    let recording: SecretsManagerApi;

    /** A store whose every AWS call is recorded, to check what keyctl sends (not what moto happens to tolerate). */
    function recordingStore(options: { kmsKeyId?: string } = {}): SecretStore {
      const api = sdkApi(SM, sdkClient());
      sent = [];
      recording = new Proxy(api, {
        get(target, prop, receiver) {
          const fn = Reflect.get(target, prop, receiver) as unknown;
          if (typeof fn !== 'function' || prop === 'destroy') return fn;
          return (input: Record<string, unknown>) => {
            sent.push({ op: String(prop), input });
            return (fn as (i: unknown) => Promise<unknown>).call(target, input);
          };
        },
      }) as SecretsManagerApi;
      return new AwsSecretsManagerStore(recording, { region: REGION, prefix, ...options }, dynamo());
    }

    const labels = async (path: string) =>
      (await raw.send(new SM.DescribeSecretCommand({ SecretId: `${prefix}${path}` }))).VersionIdsToStages ?? {};

    it('stages are AWS staging labels and the SecretString is the credential JSON', async () => {
      store = recordingStore();
      const path = `${base}/bots/alpha/arb1`;
      const v1 = (
        await store.write(path, {
          secret: { apiKey: 'FAKE-k1', secret: 'FAKE-s1' },
          stage: 'CURRENT',
          expect: null,
          meta: { fingerprint: 'fp1' },
        })
      ).version;
      const v2 = (await store.write(path, { secret: { apiKey: 'FAKE-k2', secret: 'FAKE-s2' }, expect: null })).version;
      expect(rotationInProgress(await labels(path))).toBe(true);
      await store.moveStage(path, { stage: 'CURRENT', to: v2, expect: v1 });
      await store.moveStage(path, { stage: 'PENDING', to: null, expect: v2 });
      const map = await labels(path);
      expect(map[v2]).toEqual(['AWSCURRENT']);
      expect(map[v1]).toEqual(['AWSPREVIOUS']);
      expect(rotationInProgress(map)).toBe(false);

      const current = await raw.send(new SM.GetSecretValueCommand({ SecretId: `${prefix}${path}`, VersionStage: 'AWSCURRENT' }));
      expect(current.VersionId).toBe(v2);
      const parsed = JSON.parse(current.SecretString ?? '{}') as Record<string, unknown>;
      expect(parsed.apiKey).toBe('FAKE-k2');
      expect(parsed.secret).toBe('FAKE-s2');

      const described = await raw.send(new SM.DescribeSecretCommand({ SecretId: `${prefix}${path}` }));
      expect(described.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'managed-by', Value: 'keyctl' },
          { Key: 'keyctl:path', Value: path },
        ]),
      );
      await store.close();
    });

    it("every read names its VersionStage (or a VersionId), so moto's stale default version never leaks through", async () => {
      store = recordingStore();
      const path = `${base}/bots/alpha/arb2`;
      const v1 = (await store.write(path, { secret: { apiKey: 'FAKE-old' }, stage: 'CURRENT', expect: null })).version;
      const v2 = (await store.write(path, { secret: { apiKey: 'FAKE-new' }, expect: null })).version;
      await store.moveStage(path, { stage: 'CURRENT', to: v2, expect: v1 });
      expect((await store.read(path, { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-new');
      await store.unwrap(await store.wrap('FAKE-wrapped', 60_000));
      const before = sent.filter((c) => c.op === 'getSecretValue').length;
      await store.describe(path);
      // describe reads metadata from the version index: not one GetSecretValue (a KMS decrypt) per version.
      expect(sent.filter((c) => c.op === 'getSecretValue').length).toBe(before);
      const reads = sent.filter((c) => c.op === 'getSecretValue');
      expect(reads.length).toBeGreaterThan(1);
      for (const r of reads) expect(r.input.VersionStage !== undefined || r.input.VersionId !== undefined).toBe(true);
      // Nothing keyctl sends ever puts AWSCURRENT through PutSecretValue (moto would then move AWSPREVIOUS from its
      // stale default version); stage changes go through UpdateSecretVersionStage only.
      for (const p of sent.filter((c) => c.op === 'putSecretValue')) expect(p.input.VersionStages).not.toContain('AWSCURRENT');
      await store.close();
    });

    it('a first write as PENDING does not become CURRENT: AWSCURRENT stays on the empty genesis version', async () => {
      store = recordingStore();
      const path = `${base}/bots/beta/s1`;
      const v1 = (await store.write(path, { secret: { apiKey: 'FAKE-p' }, expect: null })).version;
      const map = await labels(path);
      expect(map[GENESIS_VERSION]).toEqual(['AWSCURRENT']);
      expect(map[v1]).toEqual(['AWSPENDING']);
      expect(rotationInProgress(map)).toBe(true);
      const err = await store.read(path, { stage: 'CURRENT' }).catch((e: unknown) => e);
      expect((err as KeyctlError).code).toBe('NOT_FOUND');
      const genesis = await raw.send(new SM.GetSecretValueCommand({ SecretId: `${prefix}${path}`, VersionStage: 'AWSCURRENT' }));
      expect(JSON.parse(genesis.SecretString ?? '{}')).not.toHaveProperty('apiKey');
      await store.close();
    });

    it('the idempotency key is the ClientRequestToken, so the AWS version id is the key', async () => {
      store = recordingStore();
      const path = `${base}/bots/beta/s2`;
      const key = randomUUID();
      const { version } = await store.write(path, { secret: { apiKey: 'FAKE-i' }, idempotencyKey: key, expect: null });
      expect(version).toBe(key);
      const tokens = () => sent.filter((c) => c.op === 'putSecretValue').map((p) => p.input.ClientRequestToken);
      expect(tokens().length).toBeGreaterThan(0);
      expect(new Set(tokens())).toEqual(new Set([key]));
      // A repeat finds the version by its id and sends no second PutSecretValue.
      const before = tokens().length;
      expect((await store.write(path, { secret: { apiKey: 'FAKE-i' }, idempotencyKey: key, expect: null })).version).toBe(key);
      expect(tokens().length).toBe(before);
      await store.close();
    });

    it('destroy marks the version in the index, not in a tag; reads refuse it; stages never point at it', async () => {
      store = recordingStore();
      const path = `${base}/bots/beta/s3`;
      const v1 = (await store.write(path, { secret: { apiKey: 'FAKE-d1' }, stage: 'CURRENT', expect: null })).version;
      const v2 = (await store.write(path, { secret: { apiKey: 'FAKE-d2' }, stage: 'CURRENT', expect: v1 })).version;
      await store.moveStage(path, { stage: 'PREVIOUS', to: null, expect: v1 });
      await store.destroy(path, v1);
      const described = await raw.send(new SM.DescribeSecretCommand({ SecretId: `${prefix}${path}` }));
      expect(described.Tags?.map((t) => t.Key)).not.toContain(`keyctl:destroyed:${v1}`);
      expect((await store.describe(path))?.versions.find((v) => v.id === v1)?.destroyed).toBe(true);
      expect(((await store.read(path, { version: v1 }).catch((e: unknown) => e)) as KeyctlError).code).toBe('DESTROYED');
      expect(described.VersionIdsToStages?.[v1] ?? []).toEqual([]);
      expect((await store.read(path, { stage: 'CURRENT' })).version.id).toBe(v2);
      await store.close();
    });

    it('wrap secrets never show in list, and KmsKeyId is passed when configured', async () => {
      store = recordingStore({ kmsKeyId: 'alias/keyctl-test' });
      const path = `${base}/bots/gamma/s1`;
      await store.write(path, { secret: { apiKey: 'FAKE-g' }, expect: null });
      const token = await store.wrap('FAKE-pending-wrap', 60_000);
      const all = await store.list('');
      expect(all).toContain(path);
      expect(all.every((p) => !p.startsWith('_'))).toBe(true);
      const creates = sent.filter((c) => c.op === 'createSecret');
      expect(creates.length).toBe(2);
      for (const c of creates) expect(c.input.KmsKeyId).toBe('alias/keyctl-test');
      await store.unwrap(token);
      await store.close();
    });

    it('detaching CURRENT parks AWSCURRENT on the genesis version and keeps PREVIOUS where it was', async () => {
      store = recordingStore();
      const path = `${base}/bots/delta/s1`;
      const v1 = (await store.write(path, { secret: { apiKey: 'FAKE-1' }, stage: 'CURRENT', expect: null })).version;
      const v2 = (await store.write(path, { secret: { apiKey: 'FAKE-2' }, stage: 'CURRENT', expect: v1 })).version;
      await store.moveStage(path, { stage: 'CURRENT', to: null, expect: v2 });
      expect((await store.describe(path))?.stages).toEqual({ PREVIOUS: v1 });
      expect((await labels(path))[GENESIS_VERSION]).toContain('AWSCURRENT');
      const err = await store.read(path, { stage: 'CURRENT' }).catch((e: unknown) => e);
      expect((err as KeyctlError).code).toBe('NOT_FOUND');
      // "points nowhere" is a state the guard understands: CURRENT can be attached again with expect null.
      await store.moveStage(path, { stage: 'CURRENT', to: v2, expect: null });
      expect((await store.describe(path))?.stages).toEqual({ CURRENT: v2, PREVIOUS: v1 });
      await store.close();
    });

    it("the compare-and-set holds under repeated races on moto's threaded server", async () => {
      store = recordingStore();
      const path = `${base}/bots/race/s1`;
      let expectV = (await store.write(path, { secret: { v: '0' }, stage: 'CURRENT', expect: null })).version;
      for (let round = 0; round < 5; round++) {
        const results = await Promise.allSettled(
          ['a', 'b', 'c', 'd'].map((w) => store.write(path, { secret: { v: `${round}${w}` }, stage: 'CURRENT', expect: expectV })),
        );
        const won = results.filter((r): r is PromiseFulfilledResult<{ version: string }> => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect((r.reason as KeyctlError).code).toBe('CONFLICT');
        expectV = won[0]!.value.version;
        expect((await store.read(path, { stage: 'CURRENT' })).version.id).toBe(expectV);
      }
      await store.close();
    });
  });
  describe('within AWS quotas (test/helpers/aws-limits.ts enforces what moto does not)', () => {
    const limited = (limits: AwsLimits, options: Partial<AwsStoreOptions> = {}) =>
      new AwsSecretsManagerStore(
        limits.wrap(sdkApi(SM, sdkClient())),
        { region: REGION, prefix: `kq-${randomUUID().slice(0, 8)}/`, ...options },
        limits.wrapDynamo(dynamo()),
      );

    it('through the quota wrapper, the contract holds: pages of 10 versions, 30 destroys with a fixed set of tags', async () => {
      const limits = new AwsLimits({});
      const store = limited(limits);
      const path = 'bots/alpha/arb1';
      let current = (await store.write(path, { secret: { apiKey: 'FAKE-0' }, stage: 'CURRENT', expect: null })).version;
      for (let i = 1; i <= 30; i++) {
        const next = (await store.write(path, { secret: { apiKey: `FAKE-${i}` }, stage: 'CURRENT', expect: current })).version;
        await store.moveStage(path, { stage: 'PREVIOUS', to: null, expect: current });
        await store.destroy(path, current);
        current = next;
      }
      const info = await store.describe(path);
      // 31 versions come back over pages of 10 (ListSecretVersionIds pagination, which moto alone never exercises).
      expect(info?.versions).toHaveLength(31);
      expect(info?.versions.filter((v) => v.destroyed)).toHaveLength(30);
      const name = `${(store as unknown as { c: { options: { prefix: string } } }).c.options.prefix}${path}`;
      expect(limits.tagCount(name)).toBe(3);
      await store.close();
    });

    it('a destroyed mark of an older keyctl (a tag) is still honoured, and moves to the index on the next destroy', async () => {
      const limits = new AwsLimits({});
      const store = limited(limits);
      const path = 'bots/alpha/legacy';
      const v1 = (await store.write(path, { secret: { apiKey: 'FAKE-1' }, stage: 'CURRENT', expect: null })).version;
      const v2 = (await store.write(path, { secret: { apiKey: 'FAKE-2' }, stage: 'CURRENT', expect: v1 })).version;
      const v3 = (await store.write(path, { secret: { apiKey: 'FAKE-3' }, stage: 'CURRENT', expect: v2 })).version;
      const prefix = (store as unknown as { c: { options: { prefix: string } } }).c.options.prefix;
      const api = limits.wrap(sdkApi(SM, sdkClient()));
      await api.tagResource({ SecretId: `${prefix}${path}`, Tags: [{ Key: `keyctl:destroyed:${v1}`, Value: 'then' }] });
      expect(((await store.read(path, { version: v1 }).catch((e: unknown) => e)) as KeyctlError).code).toBe('DESTROYED');
      await store.moveStage(path, { stage: 'PREVIOUS', to: null, expect: v2 });
      await store.destroy(path, v2);
      expect(limits.tagCount(`${prefix}${path}`)).toBe(3);
      const described = await store.describe(path);
      expect(described?.versions.map((v) => [v.id, v.destroyed])).toEqual([
        [v1, true],
        [v2, true],
        [v3, false],
      ]);
      api.destroy();
      await store.close();
    });

    it('a path deleted moments ago is written again once AWS has finished deleting it, or fails with the right hint', async () => {
      const limits = new AwsLimits({ deleteSettleMs: 1500 });
      const path = 'bots/alpha/again';
      const patient = limited(limits);
      await patient.write(path, { secret: { apiKey: 'FAKE-a' }, stage: 'CURRENT', expect: null });
      await patient.delete(path);
      // Within the deletion window AWS refuses CreateSecret of the name; keyctl waits it out.
      await patient.write(path, { secret: { apiKey: 'FAKE-b' }, stage: 'CURRENT', expect: null });
      expect((await patient.read(path, { stage: 'CURRENT' })).secret.apiKey).toBe('FAKE-b');
      const hurried = limited(limits, { deleteWaitMs: 200 });
      await hurried.write(path, { secret: { apiKey: 'FAKE-c' }, stage: 'CURRENT', expect: null });
      await hurried.delete(path);
      const err = (await hurried
        .write(path, { secret: { apiKey: 'FAKE-d' }, stage: 'CURRENT', expect: null })
        .catch((e: unknown) => e)) as KeyctlError;
      expect(err.code).toBe('AWS_SECRET_DELETING');
      expect(err.retryable).toBe(true);
      expect(err.hint).toContain('wait a minute');
      await patient.close();
      await hurried.close();
    });

    it('an unwrap whose claim succeeded but whose reply was lost still returns the value, once', async () => {
      const limits = new AwsLimits({});
      const raw = limits.wrap(sdkApi(SM, sdkClient()));
      let loseNext = false;
      const lossy = {
        ...raw,
        updateSecretVersionStage: async (input: Parameters<typeof raw.updateSecretVersionStage>[0]) => {
          const out = await raw.updateSecretVersionStage(input);
          if (!loseNext) return out;
          loseNext = false;
          // The SDK retried the move after a lost reply; AWS refuses the retry, since the label already moved.
          return raw.updateSecretVersionStage(input);
        },
      };
      const store = new AwsSecretsManagerStore(
        lossy,
        { region: REGION, prefix: `kq-${randomUUID().slice(0, 8)}/` },
        limits.wrapDynamo(dynamo()),
      );
      const token = await store.wrap('FAKE-wrapped-value', 60_000);
      loseNext = true;
      expect(await store.unwrap(token)).toBe('FAKE-wrapped-value');
      expect(((await store.unwrap(token).catch((e: unknown) => e)) as KeyctlError).code).toBe('WRAP_INVALID');
      // Of concurrent unwraps of one token, exactly one gets the value.
      const again = await store.wrap('FAKE-once', 60_000);
      const results = await Promise.allSettled([store.unwrap(again), store.unwrap(again), store.unwrap(again)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      await store.close();
    });

    it('a kmsKeyId changed in the config is refused on the next write of a secret made under the old key, with the re-key command', async () => {
      const limits = new AwsLimits({});
      const prefix = `kq-${randomUUID().slice(0, 8)}/`;
      const open = (kmsKeyId?: string) =>
        new AwsSecretsManagerStore(
          limits.wrap(sdkApi(SM, sdkClient())),
          { region: REGION, prefix, ...(kmsKeyId ? { kmsKeyId } : {}) },
          limits.wrapDynamo(dynamo()),
        );
      const before = open('alias/keyctl-old');
      const v1 = (await before.write('bots/alpha/arb1', { secret: { apiKey: 'FAKE-1' }, stage: 'CURRENT', expect: null })).version;
      const after = open('alias/keyctl-new');
      const err = (await after
        .write('bots/alpha/arb1', { secret: { apiKey: 'FAKE-2' }, stage: 'CURRENT', expect: v1 })
        .catch((e: unknown) => e)) as KeyctlError;
      expect(err.code).toBe('AWS_KMS_KEY_CHANGED');
      expect(err.hint).toContain(`update-secret --secret-id ${prefix}bots/alpha/arb1 --kms-key-id alias/keyctl-new`);
      // Nothing was written; reads of what is there go on working.
      expect((await after.read('bots/alpha/arb1', { stage: 'CURRENT' })).version.id).toBe(v1);
      // New secrets get the new key.
      await after.write('bots/alpha/arb2', { secret: { apiKey: 'FAKE-3' }, expect: null });
      await before.close();
      await after.close();
    });

    it('a secret name AWS could read as a partial ARN (ending in "-" and six characters) is refused before any call', async () => {
      const limits = new AwsLimits({});
      const store = limited(limits);
      const err = (await store
        .write('bots/alpha/arb-abc123', { secret: { apiKey: 'FAKE' }, expect: null })
        .catch((e: unknown) => e)) as KeyctlError;
      expect(err.code).toBe('AWS_AMBIGUOUS_NAME');
      expect(limits.calls('putSecretValue') + limits.calls('createSecret')).toBe(0);
      await store.close();
    });
  });
});
