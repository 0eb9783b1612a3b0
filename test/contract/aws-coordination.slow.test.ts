/**
 * The AWS provider's CoordinationStore (providers/aws/dynamo-coordination.ts: leases and records as DynamoDB items)
 * against moto: the shared coordination suite, then what the AWS backing adds or risks (no secret versions, lost
 * replies, foreign items, skewed clocks, the move of records from the Secrets Manager era at init).
 *
 * Every client goes through test/helpers/aws-limits.ts, which enforces what moto does not (AWS's quotas, 400 KB items).
 */
import { randomUUID } from 'node:crypto';
import * as DDB from '@aws-sdk/client-dynamodb';
import * as SM from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkApi } from '../../providers/aws/api.js';
import { DynamoCoordination } from '../../providers/aws/dynamo-coordination.js';
import { createCoordination, createStore } from '../../providers/aws/index.js';
import { AwsSecretsManagerStore } from '../../providers/aws/store.js';
import { ensureTable, partition, sdkDynamoApi, type DynamoApi } from '../../providers/aws/table.js';
import type { CoordinationStore } from '../../providers/coordination.js';
import { SecretBackedCoordination, type LeaseBackend } from '../../providers/coordination/secret-backed.js';
import { KeyctlError } from '@keyctl/client/errors';
import { AwsLimits } from '../helpers/aws-limits.js';
import { FAKE_AWS_ENV, skipWithoutMoto, startMoto, type MotoServer } from '../helpers/moto.js';
import { coordinationContract } from './coordination-suite.js';

Object.assign(process.env, FAKE_AWS_ENV);
for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_PROFILE']) delete process.env[k];

const REGION = 'us-east-1';
const TABLE = 'keyctl';

describe.skipIf(skipWithoutMoto)('AWS coordination on moto (skipped when python3 moto is missing, unless CI=true)', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
    const api = rawDynamo();
    await ensureTable(api, { table: TABLE, region: REGION });
    api.destroy();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  const rawDynamo = () => sdkDynamoApi(DDB, new DDB.DynamoDBClient({ region: REGION, endpoint: moto.endpoint }));
  const rawSecrets = () => sdkApi(SM, new SM.SecretsManagerClient({ region: REGION, endpoint: moto.endpoint }));

  /** One process's view of a store with `prefix`: its own client, the shared limits, the given clock. */
  function open(limits: AwsLimits, prefix: string, now: () => number, api: DynamoApi = rawDynamo()): DynamoCoordination {
    return new DynamoCoordination(limits.wrapDynamo(api), { table: TABLE, prefix, region: REGION, now });
  }

  let clock = 0;
  coordinationContract(
    'aws (moto, DynamoDB)',
    async () => {
      clock = Date.now();
      const now = () => clock;
      const limits = new AwsLimits({ clock: now });
      const prefix = `kc-${randomUUID().slice(0, 8)}/`;
      const opened: CoordinationStore[] = [];
      const handle = () => {
        const c = open(limits, prefix, now);
        opened.push(c);
        return c;
      };
      return {
        coordination: handle(),
        other: async () => handle(),
        advance: (ms) => {
          clock += ms;
        },
        storeClock: now,
        cleanup: async () => {
          for (const c of opened) await c.close();
        },
      };
    },
    { ttlMs: 1000 },
  );

  describe('what the AWS backing adds, and what it costs', () => {
    const base = () => `kcx-${randomUUID().slice(0, 8)}/`;

    it('createCoordination opens a working store on its own client; closing it leaves the SecretStore usable', async () => {
      const config = { provider: 'aws' as const, region: REGION, endpoint: moto.endpoint, prefix: base() };
      const secrets = await createStore(config, {});
      const coordination = await createCoordination(config, secrets, {});
      expect(coordination.id).toBe('aws');
      const lease = await coordination.acquire('rotate/bots/a/s1', 'host-a', 60_000);
      expect(lease.fence).toBe(1);
      await coordination.release(lease);
      await coordination.close();
      await secrets.health();
      expect(await secrets.list('')).toEqual([]);
      await secrets.close();
    });

    it('a lease renewed every 10 s for a day and a journal written 500 times create no secret and no secret version', async () => {
      let now = Date.now();
      const limits = new AwsLimits({ clock: () => now });
      const secretsApi = limits.wrap(rawSecrets());
      const prefix = base();
      const c = open(limits, prefix, () => now);
      let lease = await c.acquire('leader', 'daemon-a', 30_000);
      for (let i = 0; i < 8640; i += 60) {
        // 144 renewals stand for 8640 (one every 10 s for a day): each is one UpdateItem, whatever the count.
        now += 600_000;
        lease = await c.renew(lease, 30_000 + 600_000);
      }
      let rev = (await c.write('journal/bots/a/s1', { step: 0 }, { expect: null, fence: lease })).revision;
      for (let step = 1; step <= 500; step++) rev = (await c.write('journal/bots/a/s1', { step }, { expect: rev, fence: lease })).revision;
      await c.release(lease);
      // Not one Secrets Manager call was made, so no version and no tag anywhere.
      for (const op of ['createSecret', 'putSecretValue', 'tagResource'] as const) expect(limits.calls(op)).toBe(0);
      expect(await secretsApi.listSecrets({ Filters: [{ Key: 'name', Values: [prefix] }] })).toMatchObject({ SecretList: [] });
      expect((await c.read('journal/bots/a/s1'))?.value).toEqual({ step: 500 });
      await c.close();
    });

    it('stores with different prefixes share the table and never see each other', async () => {
      const limits = new AwsLimits({});
      const a = open(limits, base(), Date.now);
      const b = open(limits, base(), Date.now);
      await a.write('handover/x', 'a', { expect: null });
      const leaseA = await a.acquire('rotate/x', 'host-a', 60_000);
      expect(await b.read('handover/x')).toBeNull();
      expect(await b.list('')).toEqual([]);
      const leaseB = await b.acquire('rotate/x', 'host-b', 60_000);
      expect(leaseB.fence).toBe(1);
      await a.release(leaseA);
      await b.release(leaseB);
      await a.close();
      await b.close();
    });

    it('fences increase across hosts with skewed clocks and shorter TTLs, and survive release', async () => {
      const limits = new AwsLimits({});
      const prefix = base();
      const ahead = Date.now() + 60 * 60_000; // host A's clock runs an hour fast
      const hostA = open(limits, prefix, () => ahead);
      const hostB = open(limits, prefix, () => Date.now());
      const a = await hostA.acquire('rotate/bots/x/s1', 'host-a', 60 * 60_000);
      await hostA.release(a);
      const b = await hostB.acquire('rotate/bots/x/s1', 'host-b', 1000);
      expect(Date.parse(b.expiresAt)).toBeLessThan(Date.parse(a.expiresAt));
      expect(b.fence).toBe(a.fence + 1);
      // A's fenced write is refused in the same transaction as the write: B has not written anything yet.
      const err = await hostA.write('journal/x', 1, { expect: null, fence: a }).catch((e: unknown) => e);
      expect((err as KeyctlError).code).toBe('FENCED');
      expect(await hostB.read('journal/x')).toBeNull();
      await hostB.release(b);
      await hostA.close();
      await hostB.close();
    });

    it('lost replies: a lease write or a record write that did happen is reported as done, not as lost or conflicting', async () => {
      const now = Date.now();
      const prefix = base();
      const api = rawDynamo();
      let loseNext: 'putItem' | 'updateItem' | 'transactWriteItems' | undefined;
      // The call reaches DynamoDB and commits; its answer never arrives (what the SDK sees as a timeout).
      const lossy: DynamoApi = {
        ...api,
        putItem: async (input) => lose('putItem', await api.putItem(input)),
        updateItem: async (input) => lose('updateItem', await api.updateItem(input)),
        transactWriteItems: async (input) => lose('transactWriteItems', await api.transactWriteItems(input)),
      };
      function lose<T>(op: string, out: T): T {
        if (loseNext !== op) return out;
        loseNext = undefined;
        throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ETIMEDOUT' });
      }
      const c = open(new AwsLimits({}), prefix, () => now, lossy);
      loseNext = 'putItem';
      const lease = await c.acquire('lossy', 'host-a', 60_000);
      expect(lease.fence).toBe(1);
      loseNext = 'updateItem';
      const renewed = await c.renew(lease, 120_000);
      expect(renewed.expiresAt).toBe(new Date(now + 120_000).toISOString());
      loseNext = 'transactWriteItems';
      const rec = await c.write('journal/lossy', { step: 1 }, { expect: null, fence: lease });
      expect((await c.read('journal/lossy'))?.revision).toBe(rec.revision);
      loseNext = 'transactWriteItems';
      await c.delete('journal/lossy', { expect: rec.revision, fence: lease });
      expect(await c.read('journal/lossy')).toBeNull();
      // Another host still sees the lease held by host-a.
      const other = open(new AwsLimits({}), prefix, () => now);
      expect(((await other.acquire('lossy', 'host-b', 1000).catch((e: unknown) => e)) as KeyctlError).code).toBe('LOCKED');
      await c.release(renewed);
      await c.close();
      await other.close();
    });

    it('a timeout of a write that did not happen is an error, never a success', async () => {
      const prefix = base();
      const api = rawDynamo();
      const dropping: DynamoApi = {
        ...api,
        transactWriteItems: async () => {
          throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError', code: 'ETIMEDOUT' });
        },
      };
      const c = open(new AwsLimits({}), prefix, Date.now, dropping);
      const err = await c.write('journal/never', 1, { expect: null }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyctlError);
      expect((err as KeyctlError).code).toBe('AWS_UNREACHABLE');
      expect(await c.read('journal/never')).toBeNull();
      await c.close();
    });

    it('throttling is retried; an item keyctl did not write is STORE_CORRUPT, never a free lease or an absent record', async () => {
      const limits = new AwsLimits({});
      const prefix = base();
      const api = rawDynamo();
      const c = new DynamoCoordination(limits.wrapDynamo(api), {
        table: TABLE,
        prefix,
        region: REGION,
        retry: { sleep: async () => undefined },
      });
      limits.throttleNext('getItem', 2);
      expect(await c.read('nothing')).toBeNull();
      await api.putItem({ TableName: TABLE, Item: { pk: { S: partition('lease', prefix) }, sk: { S: 'by-hand' }, owner: { S: 'x' } } });
      await api.putItem({
        TableName: TABLE,
        Item: {
          pk: { S: partition('record', prefix) },
          sk: { S: 'bad' },
          value: { S: '{not json' },
          revision: { S: 'r' },
          updatedAt: { N: '1' },
        },
      });
      const lease = await c.acquire('by-hand', 'host-a', 1000).catch((e: unknown) => e);
      expect((lease as KeyctlError).code).toBe('STORE_CORRUPT');
      const read = await c.read('bad').catch((e: unknown) => e);
      expect((read as KeyctlError).code).toBe('STORE_CORRUPT');
      expect((read as KeyctlError).hint).toBeTruthy();
      await c.close();
    });

    it('a missing table is STORE_NOT_INITIALIZED with the init hint', async () => {
      const c = new DynamoCoordination(rawDynamo(), { table: 'no-such-table', prefix: base(), region: REGION });
      const err = await c.read('x').catch((e: unknown) => e);
      expect((err as KeyctlError).code).toBe('STORE_NOT_INITIALIZED');
      expect((err as KeyctlError).hint).toContain('keyctl init');
      await c.close();
    });

    it('init moves the records of the Secrets Manager era into the table once, and never brings back a deleted one', async () => {
      const prefix = base();
      const secrets = new AwsSecretsManagerStore(rawSecrets(), { region: REGION, prefix }, rawDynamo());
      // What an older keyctl left: records as versions of keyctl/coordination/ secrets.
      const noLeases = {} as LeaseBackend;
      const legacy = new SecretBackedCoordination(secrets, noLeases);
      await legacy.write('journal/bots/a/s1', { phase: 'created', newKey: 'FAKE-fp' }, { expect: null });
      await legacy.write('handover/bots/a/s1', ['consumer-1'], { expect: null });
      await secrets.init();
      const table = open(new AwsLimits({}), prefix, Date.now);
      expect(await table.list('')).toEqual(['handover/bots/a/s1', 'journal/bots/a/s1']);
      expect((await table.read('journal/bots/a/s1'))?.value).toEqual({ phase: 'created', newKey: 'FAKE-fp' });
      expect(await legacy.list('')).toEqual([]);
      // The rotation finishes and deletes its journal; a second init must not bring it back.
      await table.delete('journal/bots/a/s1');
      expect(await secrets.init()).toEqual({ created: false });
      expect(await table.list('')).toEqual(['handover/bots/a/s1']);
      await table.close();
      await secrets.close();
    });
  });
});
