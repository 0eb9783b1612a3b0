/**
 * Issue #14's long run: one slot on the AWS provider (moto, behind test/helpers/aws-limits.ts, which enforces AWS's
 * quotas), rotated 30 times by the real rotation engine against the exchange sandbox, with a bot start after each
 * rotation (what `keyctl exec` does to the stores: read CURRENT, register in the hand-over registry, confirm the key,
 * leave; and a single-use token issued and redeemed), then one rotation whose lease is held for 10 minutes at the
 * production renewal cadence. Every rotation must succeed, and every keyctl secret must stay within AWS's quotas with
 * a handful of tags and at most 60 versions.
 */
import { randomUUID } from 'node:crypto';
import * as DDB from '@aws-sdk/client-dynamodb';
import * as SM from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkApi } from '../../providers/aws/api.js';
import { DynamoCoordination } from '../../providers/aws/dynamo-coordination.js';
import { AwsSecretsManagerStore } from '../../providers/aws/store.js';
import { ensureTable, sdkDynamoApi } from '../../providers/aws/table.js';
import { createRotationEngine } from '../../src/app/engine.js';
import { rotate } from '../../src/app/rotate.js';
import { fingerprint, fromSecretFields } from '../../src/domain/credentials.js';
import { selectSlots } from '../../src/domain/resolve.js';
import { confirmConsumer, readConsumers, registerConsumer, removeConsumer } from '../../src/delivery/handover.js';
import { getAdapter } from '../../src/exchanges/registry.js';
import type { CreateKeyRequest, ExchangeAdapter } from '../../src/exchanges/types.js';
import { AwsLimits } from '../helpers/aws-limits.js';
import { FAKE_AWS_ENV, skipWithoutMoto, startMoto, type MotoServer } from '../helpers/moto.js';
import { appWorld, liveKeys, type AppWorld } from '../unit/app-world.js';

Object.assign(process.env, FAKE_AWS_ENV);
for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_PROFILE']) delete process.env[k];

const REGION = 'us-east-1';
const TABLE = 'keyctl';
const ROTATIONS = 30;
/** The bound: every keyctl secret holds at most this many versions after the run. */
const MAX_VERSIONS = 60;
/** "A handful": the fixed tags keyctl puts on a secret (managed-by, kind, path) and room for a few more. */
const MAX_TAGS = 5;
/** Production lease: 30 s, renewed every 10 s (src/rotation/engine.ts LEASE_MS). 10 minutes is 60 renewals. */
const RENEWALS_IN_TEN_MINUTES = 60;

describe.skipIf(skipWithoutMoto)(
  'AWS provider over 30 rotations and 30 bot starts (skipped when python3 moto is missing, unless CI=true)',
  () => {
    let moto: MotoServer;
    let limits: AwsLimits;
    let w: AppWorld;
    let prefix: string;
    /** The adapter's createKey waits for this before answering, when set (the slow rotation). */
    let hold: Promise<void> | undefined;

    beforeAll(async () => {
      moto = await startMoto();
      const setup = sdkDynamoApi(DDB, new DDB.DynamoDBClient({ region: REGION, endpoint: moto.endpoint }));
      await ensureTable(setup, { table: TABLE, region: REGION });
      setup.destroy();
      limits = new AwsLimits({});
      prefix = `kc-long-${randomUUID().slice(0, 8)}/`;
      const bybit = await getAdapter('bybit');
      const slowCreate: ExchangeAdapter = Object.assign(Object.create(bybit) as ExchangeAdapter, {
        createKey: async (req: CreateKeyRequest) => {
          if (hold) await hold;
          return bybit.createKey(req);
        },
      });
      w = await appWorld({
        sandbox: true,
        adapter: slowCreate,
        backing: async () => {
          const sm = () => limits.wrap(sdkApi(SM, new SM.SecretsManagerClient({ region: REGION, endpoint: moto.endpoint })));
          const ddb = () => limits.wrapDynamo(sdkDynamoApi(DDB, new DDB.DynamoDBClient({ region: REGION, endpoint: moto.endpoint })));
          return {
            store: new AwsSecretsManagerStore(sm(), { region: REGION, prefix }, ddb()),
            coordination: new DynamoCoordination(ddb(), { table: TABLE, prefix, region: REGION }),
          };
        },
      });
    }, 60_000);
    afterAll(async () => {
      await w?.close();
      await moto?.stop();
    });

    /** What `keyctl exec` does to the stores when a bot starts, and a token-based start's wrap and unwrap. */
    async function botStart(i: number): Promise<void> {
      const path = 'bots/alpha/arb1';
      const current = await w.store.read(path, { stage: 'CURRENT' });
      const execId = `exec-${i}`;
      const consumer = { host: 'bot-host', pid: 10_000 + i, startedAt: new Date().toISOString(), mode: 'env' as const };
      await registerConsumer(w.deps.coordination, path, execId, { ...consumer, fingerprint: null, ackedAt: null });
      await confirmConsumer(w.deps.coordination, path, execId, current.version.meta.fingerprint ?? '', consumer);
      await removeConsumer(w.deps.coordination, path, execId);
      const token = await w.store.wrap(JSON.stringify(current.secret), 60_000);
      expect(fromSecretFields(JSON.parse(await w.store.unwrap(token)) as Record<string, string>).apiKey).toBe(current.secret.apiKey);
    }

    /** Every keyctl secret of this store, with its version and tag counts as AWS (the limits wrapper) saw them. */
    async function secretsSeen(): Promise<{ name: string; versions: number; tags: number }[]> {
      const api = sdkApi(SM, new SM.SecretsManagerClient({ region: REGION, endpoint: moto.endpoint }));
      const names: string[] = [];
      let next: string | undefined;
      do {
        const page = await api.listSecrets({ Filters: [{ Key: 'name', Values: [prefix] }], ...(next ? { NextToken: next } : {}) });
        names.push(...(page.SecretList ?? []).map((s) => s.Name!));
        next = page.NextToken || undefined;
      } while (next);
      api.destroy();
      return names.map((name) => ({ name, versions: limits.versionCount(name), tags: limits.tagCount(name) }));
    }

    it('30 rotations, each followed by a bot start: every rotation succeeds, and no secret outgrows its quota', async () => {
      const slots = selectSlots(w.deps.inventory, ['alpha/arb1']);
      const engine = createRotationEngine(w.deps, { owner: 'longrun:1' });
      for (let i = 0; i < ROTATIONS; i++) {
        const result = await rotate({ ...w.deps, engine }, { slots, mode: 'manual', graceMs: 0 });
        expect(result.failures).toEqual([]);
        expect(result.results[0]?.status).toBe('rotated');
        // Exactly one live key at the exchange, the one CURRENT names.
        const live = await liveKeys(w, 'arb1');
        expect(live.map(fingerprint)).toEqual([result.results[0]!.newFingerprint]);
        await botStart(i);
      }
      const seen = await secretsSeen();
      const slot = seen.find((s) => s.name === `${prefix}bots/alpha/arb1`);
      // Genesis, the imported key, and one version per rotation: nothing per lease renewal, journal step or bot start.
      expect(slot?.versions).toBe(ROTATIONS + 2);
      for (const s of seen) {
        expect(s.versions, s.name).toBeLessThanOrEqual(MAX_VERSIONS);
        expect(s.tags, s.name).toBeLessThanOrEqual(MAX_TAGS);
      }
      // Every destroyed version is still refused by keyctl (the marks are in the index, not in tags).
      const info = await w.store.describe('bots/alpha/arb1');
      expect(info?.versions.filter((v) => v.destroyed).length).toBe(ROTATIONS);
      // The registry is left empty by the bots that left.
      expect(await readConsumers(w.deps.coordination, 'bots/alpha/arb1')).toEqual({});
    }, 300_000);

    it('a rotation that holds its lease for 10 minutes of renewals adds no version and succeeds', async () => {
      const slots = selectSlots(w.deps.inventory, ['alpha/arb1']);
      // A 300 ms lease is renewed every 100 ms: 60 renewals in 6 s stand for 10 minutes at the production 30 s / 10 s
      // (5 more UpdateItems are the rotation's own version-index writes).
      const engine = createRotationEngine(w.deps, { owner: 'longrun:2', leaseMs: 300 });
      const before = await secretsSeen();
      const renewalsBefore = limits.calls('updateItem');
      let release!: () => void;
      hold = new Promise<void>((resolve) => (release = resolve));
      const waitForRenewals = (async () => {
        while (limits.calls('updateItem') - renewalsBefore < RENEWALS_IN_TEN_MINUTES + 5) await new Promise((r) => setTimeout(r, 50));
        release();
      })();
      const result = await rotate({ ...w.deps, engine }, { slots, mode: 'manual', graceMs: 0 });
      await waitForRenewals;
      hold = undefined;
      expect(result.failures).toEqual([]);
      expect(limits.calls('updateItem') - renewalsBefore).toBeGreaterThanOrEqual(RENEWALS_IN_TEN_MINUTES);
      const after = await secretsSeen();
      const versions = (list: typeof before) => Object.fromEntries(list.map((s) => [s.name, s.versions]));
      // The slot gained the rotation's one version; no other secret changed, whatever the lease did.
      const slotName = `${prefix}bots/alpha/arb1`;
      expect(versions(after)[slotName]).toBe(versions(before)[slotName]! + 1);
      for (const s of after) if (s.name !== slotName) expect(s.versions, s.name).toBe(versions(before)[s.name]);
    }, 120_000);
  },
);
