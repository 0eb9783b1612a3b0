/**
 * test/helpers/aws-limits.ts against a real moto through the real SDK: each quota AwsLimits adds (moto enforces none of
 * them) fires where AWS would refuse, and only there. The tests that use AwsLimits to check keyctl live with keyctl's
 * own tests (aws-coordination.slow.test.ts and others); this file checks the checker.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as DDB from '@aws-sdk/client-dynamodb';
import * as SM from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkApi, type SecretsManagerApi } from '../../providers/aws/api.js';
import { KEY_SCHEMA, sdkDynamoApi, type DynamoApi } from '../../providers/aws/table.js';
import { AwsLimits, ITEM_TOO_LARGE, MAX_ITEM_BYTES, TAG_LIMIT_ERROR, dynamoItemSize } from '../helpers/aws-limits.js';
import { FAKE_AWS_ENV, skipWithoutMoto, startMoto, type MotoServer } from '../helpers/moto.js';

Object.assign(process.env, FAKE_AWS_ENV);
for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_PROFILE']) delete process.env[k];

const REGION = 'us-east-1';
const DAY_MS = 24 * 60 * 60 * 1000;

type AwsLikeError = Error & { $metadata?: { httpStatusCode?: number }; $retryable?: unknown; CancellationReasons?: unknown };

/** The error `p` rejects with; fails the test when it resolves. */
async function rejection(p: Promise<unknown>): Promise<AwsLikeError> {
  try {
    await p;
  } catch (err) {
    return err as AwsLikeError;
  }
  throw new Error('expected the call to fail');
}

describe.skipIf(skipWithoutMoto)('AwsLimits on moto (skipped when python3 moto is missing, unless CI=true)', () => {
  let moto: MotoServer;
  const opened: Array<{ destroy(): void }> = [];
  /** Unique per run: the moto server is shared by every test of this file. */
  const base = `awslimits-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    for (const c of opened) c.destroy();
    await moto?.stop();
  });

  function rawSm(): SecretsManagerApi {
    const api = sdkApi(SM, new SM.SecretsManagerClient({ region: REGION, endpoint: moto.endpoint }));
    opened.push(api);
    return api;
  }
  function rawDynamo(): DynamoApi {
    const api = sdkDynamoApi(DDB, new DDB.DynamoDBClient({ region: REGION, endpoint: moto.endpoint }));
    opened.push(api);
    return api;
  }

  describe('Secrets Manager', () => {
    it('refuses a 51st tag on CreateSecret and TagResource; overwriting a key is no new tag; untagging makes room', async () => {
      const limits = new AwsLimits();
      const raw = rawSm();
      const sm = limits.wrap(raw);
      const fifty = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));

      const tooMany = await rejection(
        sm.createSecret({ Name: `${base}/tags51`, SecretString: 'x', Tags: [...fifty, { Key: 'k50', Value: 'v' }] }),
      );
      expect(tooMany).toMatchObject({ name: TAG_LIMIT_ERROR, $metadata: { httpStatusCode: 400 }, $fault: 'client' });
      await expect(raw.describeSecret({ SecretId: `${base}/tags51` })).rejects.toMatchObject({ name: 'ResourceNotFoundException' });

      const name = `${base}/tags`;
      const created = await sm.createSecret({ Name: name, SecretString: 'x', Tags: fifty });
      expect(limits.tagCount(name)).toBe(50);

      const err = await rejection(sm.tagResource({ SecretId: name, Tags: [{ Key: 'extra', Value: 'v' }] }));
      expect(err.name).toBe(TAG_LIMIT_ERROR);
      expect((await raw.describeSecret({ SecretId: name })).Tags).toHaveLength(50);

      await sm.tagResource({ SecretId: name, Tags: [{ Key: 'k0', Value: 'changed' }] });
      // By ARN: the limits track the secret, not the spelling of its id.
      await sm.untagResource({ SecretId: created.ARN!, TagKeys: ['k1'] });
      expect(limits.tagCount(name)).toBe(49);
      await sm.tagResource({ SecretId: created.ARN!, Tags: [{ Key: 'extra', Value: 'v' }] });
      expect(limits.tagCount(name)).toBe(50);
      const tags = (await raw.describeSecret({ SecretId: name })).Tags ?? [];
      expect(tags).toHaveLength(50);
      expect(tags).toContainEqual({ Key: 'k0', Value: 'changed' });
      expect(await rejection(sm.tagResource({ SecretId: name, Tags: [{ Key: 'k1', Value: 'v' }] }))).toMatchObject({
        name: TAG_LIMIT_ERROR,
      });
    });

    it('refuses the 101st version younger than 24 hours; older versions and a repeated ClientRequestToken do not count', async () => {
      let now = Date.parse('2030-01-01T00:00:00Z');
      const limits = new AwsLimits({ clock: () => now });
      const raw = rawSm();
      const sm = limits.wrap(raw);
      const name = `${base}/versions`;
      await sm.createSecret({ Name: name, SecretString: 'v0' });
      expect([limits.versionCount(name), limits.young(name)]).toEqual([1, 1]);

      now += DAY_MS + 1;
      expect(limits.young(name)).toBe(0);
      const tokens: string[] = [];
      for (let i = 1; i <= 100; i++) {
        tokens.push(randomUUID());
        await sm.putSecretValue({ SecretId: name, SecretString: `v${i}`, ClientRequestToken: tokens.at(-1) });
      }
      expect([limits.versionCount(name), limits.young(name)]).toEqual([101, 100]);

      // The same request again (same token, same value) is the same version: AWS answers it, the quota is untouched.
      await sm.putSecretValue({ SecretId: name, SecretString: 'v100', ClientRequestToken: tokens.at(-1) });
      expect(limits.versionCount(name)).toBe(101);

      const err = await rejection(sm.putSecretValue({ SecretId: name, SecretString: 'v101', ClientRequestToken: randomUUID() }));
      expect(err).toMatchObject({ name: 'LimitExceededException', $metadata: { httpStatusCode: 400 } });
      const held = await raw.listSecretVersionIds({ SecretId: name, IncludeDeprecated: true });
      expect(held.Versions).toHaveLength(101); // refused before moto saw it
      expect(limits.versionCount(name)).toBe(101);

      now += DAY_MS;
      await sm.putSecretValue({ SecretId: name, SecretString: 'v101' }); // no token: the SDK makes one; still one version
      expect([limits.versionCount(name), limits.young(name)]).toEqual([102, 1]);
    });

    it('fails the test when more than 20 staging labels are attached (PutSecretValue and UpdateSecretVersionStage)', async () => {
      const limits = new AwsLimits();
      const sm = limits.wrap(rawSm());

      const put = `${base}/labels-put`;
      await sm.createSecret({ Name: put, SecretString: 'v0' }); // AWSCURRENT
      for (let i = 1; i <= 19; i++) await sm.putSecretValue({ SecretId: put, SecretString: `v${i}`, VersionStages: [`L${i}`] });
      await expect(sm.putSecretValue({ SecretId: put, SecretString: 'v20', VersionStages: ['L20'] })).rejects.toThrow(/21 staging labels/);

      const moved = `${base}/labels-update`;
      const { VersionId } = await sm.createSecret({ Name: moved, SecretString: 'v0' });
      for (let i = 1; i <= 19; i++)
        await sm.updateSecretVersionStage({ SecretId: moved, VersionStage: `M${i}`, MoveToVersionId: VersionId });
      await expect(sm.updateSecretVersionStage({ SecretId: moved, VersionStage: 'M20', MoveToVersionId: VersionId })).rejects.toThrow(
        /21 staging labels/,
      );
    });

    it('pages ListSecretVersionIds and ListSecrets by 10 whatever MaxResults says, and refuses a NextToken it did not issue', async () => {
      const limits = new AwsLimits();
      const raw = rawSm();
      const sm = limits.wrap(raw);

      const name = `${base}/pages`;
      await raw.createSecret({ Name: name, SecretString: 'v0' });
      for (let i = 1; i < 25; i++) await raw.putSecretValue({ SecretId: name, SecretString: `v${i}` });
      const all = (await raw.listSecretVersionIds({ SecretId: name, IncludeDeprecated: true })).Versions ?? [];
      expect(all).toHaveLength(25); // moto: one page, whatever MaxResults

      const sizes: number[] = [];
      const seen = new Set<string>();
      let next: string | undefined;
      do {
        const page = await sm.listSecretVersionIds({ SecretId: name, IncludeDeprecated: true, MaxResults: 100, NextToken: next });
        sizes.push(page.Versions?.length ?? 0);
        for (const v of page.Versions ?? []) seen.add(v.VersionId!);
        expect(page.Name).toBe(name);
        next = page.NextToken;
      } while (next);
      expect(sizes).toEqual([10, 10, 5]);
      expect(seen).toEqual(new Set(all.map((v) => v.VersionId)));
      expect(limits.calls('listSecretVersionIds')).toBe(3);

      // A smaller MaxResults is honoured; a larger one than AWS allows is refused.
      expect((await sm.listSecretVersionIds({ SecretId: name, MaxResults: 4 })).Versions).toHaveLength(4);
      expect(await rejection(sm.listSecretVersionIds({ SecretId: name, MaxResults: 101 }))).toMatchObject({ name: 'ValidationException' });

      const listed = `${base}/list/`;
      for (let i = 0; i < 12; i++) await raw.createSecret({ Name: `${listed}${String(i).padStart(2, '0')}`, SecretString: 'x' });
      const filter = { Filters: [{ Key: 'name' as const, Values: [listed] }] };
      const first = await sm.listSecrets({ ...filter, MaxResults: 100 });
      expect(first.SecretList).toHaveLength(10);
      const second = await sm.listSecrets({ ...filter, MaxResults: 100, NextToken: first.NextToken });
      expect(second.SecretList).toHaveLength(2);
      expect(second.NextToken).toBeUndefined();
      expect(new Set([...first.SecretList!, ...second.SecretList!].map((s) => s.Name))).toEqual(
        new Set(Array.from({ length: 12 }, (_, i) => `${listed}${String(i).padStart(2, '0')}`)),
      );

      // Tokens it never issued, or issued for another listing, are refused as AWS refuses them.
      const foreign = await rejection(sm.listSecretVersionIds({ SecretId: name, NextToken: 'c29tZS1vdGhlci10b2tlbg==' }));
      expect(foreign).toMatchObject({ name: 'InvalidNextTokenException', $metadata: { httpStatusCode: 400 } });
      expect(await rejection(sm.listSecretVersionIds({ SecretId: name, NextToken: first.NextToken }))).toMatchObject({
        name: 'InvalidNextTokenException',
      });
      expect(await rejection(sm.listSecrets({ NextToken: first.NextToken }))).toMatchObject({ name: 'InvalidNextTokenException' });
    });

    it('refuses to re-create a force-deleted name within the deletion delay, and allows it after', async () => {
      const limits = new AwsLimits({ deleteSettleMs: 300 });
      const sm = limits.wrap(rawSm());
      const name = `${base}/deleted`;
      await sm.createSecret({ Name: name, SecretString: 'v0' });
      await sm.deleteSecret({ SecretId: name, ForceDeleteWithoutRecovery: true });

      const err = await rejection(sm.createSecret({ Name: name, SecretString: 'v1' }));
      expect(err).toMatchObject({
        name: 'InvalidRequestException',
        message: "You can't create this secret because a secret with this name is already scheduled for deletion.",
        $metadata: { httpStatusCode: 400 },
      });

      await sleep(350);
      await sm.createSecret({ Name: name, SecretString: 'v1' });
      expect(limits.versionCount(name)).toBe(1);
      expect(limits.calls('createSecret')).toBe(3);
    });

    it('throttles exactly the next `count` calls of an operation, without reaching moto, and counts every call', async () => {
      const limits = new AwsLimits();
      const raw = rawSm();
      let reached = 0;
      const sm = limits.wrap({
        ...raw,
        getSecretValue: (input) => {
          reached++;
          return raw.getSecretValue(input);
        },
      });
      const name = `${base}/throttled`;
      await sm.createSecret({ Name: name, SecretString: 'v0' });

      limits.throttleNext('getSecretValue', 2);
      for (let i = 0; i < 2; i++) {
        expect(await rejection(sm.getSecretValue({ SecretId: name }))).toMatchObject({
          name: 'ThrottlingException',
          $metadata: { httpStatusCode: 400 },
          $retryable: { throttling: true },
        });
      }
      expect((await sm.getSecretValue({ SecretId: name })).SecretString).toBe('v0');
      expect((await sm.getSecretValue({ SecretId: name })).SecretString).toBe('v0');
      expect(reached).toBe(2);
      expect(limits.calls('getSecretValue')).toBe(4);
      expect(limits.calls('putSecretValue')).toBe(0);

      // All clients of one AwsLimits share one account: a throttle set once hits whichever client calls next.
      const other = limits.wrap(rawSm());
      limits.throttleNext('describeSecret', 1);
      expect(await rejection(other.describeSecret({ SecretId: name }))).toMatchObject({ name: 'ThrottlingException' });
      await sm.describeSecret({ SecretId: name });
      expect(limits.calls('describeSecret')).toBe(2);

      expect(() => limits.throttleNext('putSecretValues' as never, 1)).toThrow(/unknown operation/);
    });
  });

  describe('DynamoDB', () => {
    let table: string;
    let raw: DynamoApi;
    const key = (sk: string) => ({ pk: { S: 'p' }, sk: { S: sk } });

    beforeAll(async () => {
      raw = rawDynamo();
      table = `${base}-table`;
      await raw.createTable({ TableName: table, ...KEY_SCHEMA, BillingMode: 'PAY_PER_REQUEST' });
    });

    it('refuses a PutItem over 400 KB by AWS’s size rules before moto sees it', async () => {
      const limits = new AwsLimits();
      let reached = 0;
      const ddb = limits.wrapDynamo({
        ...raw,
        putItem: (input) => {
          reached++;
          return raw.putItem(input);
        },
      });
      // 'pk'+'p' + 'sk'+'s...' + 'v'+string: 7 bytes plus the lengths of the values beyond one character each.
      const item = (sk: string, bytes: number) => ({ ...key(sk), v: { S: 'x'.repeat(bytes - 7) } });
      expect(dynamoItemSize(item('a', 400_000))).toBe(400_000);

      await ddb.putItem({ TableName: table, Item: item('a', 400_000) });
      const err = await rejection(ddb.putItem({ TableName: table, Item: item('b', MAX_ITEM_BYTES + 1) }));
      expect(err).toMatchObject({ name: 'ValidationException', message: ITEM_TOO_LARGE, $metadata: { httpStatusCode: 400 } });
      expect(reached).toBe(1);
      expect((await raw.getItem({ TableName: table, Key: key('b') })).Item).toBeUndefined();
    });

    it('fails the test when an UpdateItem leaves an item over 400 KB that moto, counting differently, kept', async () => {
      const limits = new AwsLimits();
      const ddb = limits.wrapDynamo(raw);
      // A 400,000-byte string both count alike, then 2,500 empty lists: 4 bytes each for AWS (3 of list overhead, 1 as an
      // element), none for moto. moto (cap 405,000 by its count) keeps the item; AWS (409,600) would have refused it.
      await ddb.putItem({ TableName: table, Item: { ...key('grown'), v: { S: 'x'.repeat(400_000) } } });
      const lists = Array.from({ length: 2_500 }, () => ({ L: [] }));
      expect(dynamoItemSize({ ...key('grown'), v: { S: 'x'.repeat(400_000) }, big: { L: lists } })).toBeGreaterThan(MAX_ITEM_BYTES);
      await expect(
        ddb.updateItem({
          TableName: table,
          Key: key('grown'),
          UpdateExpression: 'SET big = :big',
          ExpressionAttributeValues: { ':big': { L: lists } },
        }),
      ).rejects.toThrow(/AWS would have refused this UpdateItem/);
      expect((await raw.getItem({ TableName: table, Key: key('grown') })).Item?.big?.L).toHaveLength(2_500); // moto kept it
      expect(limits.calls('getItem')).toBe(0); // its own read-back is not counted
    });

    it('cancels a transaction whose Put is over 400 KB, with a ValidationError reason at its index', async () => {
      const limits = new AwsLimits();
      const ddb = limits.wrapDynamo(raw);
      const err = await rejection(
        ddb.transactWriteItems({
          TransactItems: [
            { Put: { TableName: table, Item: key('small') } },
            { Put: { TableName: table, Item: { ...key('huge'), v: { S: 'x'.repeat(MAX_ITEM_BYTES) } } } },
          ],
        }),
      );
      expect(err).toMatchObject({
        name: 'TransactionCanceledException',
        CancellationReasons: [{ Code: 'None' }, { Code: 'ValidationError', Message: ITEM_TOO_LARGE }],
      });
      expect((await raw.getItem({ TableName: table, Key: key('small') })).Item).toBeUndefined();
    });

    it('passes Query pages through untouched and throttles DynamoDB calls with the errors DynamoDB documents', async () => {
      const limits = new AwsLimits();
      const ddb = limits.wrapDynamo(raw);
      for (const sk of ['q1', 'q2', 'q3']) await ddb.putItem({ TableName: table, Item: { pk: { S: 'q' }, sk: { S: sk } } });
      const query = {
        TableName: table,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': { S: 'q' } },
        Limit: 2,
      };
      const [wrapped, direct] = await Promise.all([ddb.query(query), raw.query(query)]);
      expect(wrapped.Items).toHaveLength(2);
      expect([wrapped.Items, wrapped.LastEvaluatedKey, wrapped.Count]).toEqual([direct.Items, direct.LastEvaluatedKey, direct.Count]);

      limits.throttleNext('putItem', 1);
      expect(await rejection(ddb.putItem({ TableName: table, Item: key('t') }))).toMatchObject({
        name: 'ProvisionedThroughputExceededException',
        $metadata: { httpStatusCode: 400 },
        $retryable: { throttling: true },
      });
      await ddb.putItem({ TableName: table, Item: key('t') });
      limits.throttleNext('describeTable', 1);
      expect(await rejection(ddb.describeTable({ TableName: table }))).toMatchObject({ name: 'ThrottlingException' });
      limits.throttleNext('getItem', 1, 'ThrottlingException');
      expect(await rejection(ddb.getItem({ TableName: table, Key: key('t') }))).toMatchObject({ name: 'ThrottlingException' });
      expect([limits.calls('putItem'), limits.calls('describeTable'), limits.calls('getItem')]).toEqual([5, 1, 1]);
    });
  });
});
