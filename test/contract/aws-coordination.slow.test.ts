/**
 * The AWS provider's CoordinationStore (providers/aws/coordination.ts: AWS leases + SecretBackedCoordination) against
 * moto: the shared coordination suite, then what the AWS backing adds or risks (its version quota, fences across
 * skewed clocks, a reply lost or a process stopped between a put and its label move, foreign lease secrets).
 *
 * moto enforces none of AWS's per-secret limits, so every AWS client here goes through `withAwsLimits`, which does:
 * - versions: AWS keeps every version younger than 24 hours and a secret holds at most about 100
 *   (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html, "Secrets Manager removes
 *   unlabeled versions when there are more than 100, but it does not remove versions created less than 24 hours
 *   ago"): the 101st version within 24 hours of the test clock is a LimitExceededException;
 * - staging labels: at most 20 attached across all versions of a secret (same page);
 * - re-creating a name just force-deleted: the deletion is asynchronous
 *   (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html, ForceDeleteWithoutRecovery:
 *   "there might be a short delay before the secret is permanently deleted"), so a CreateSecret of that name within
 *   DELETE_SETTLE_MS fails as AWS fails it.
 */
import { randomUUID } from 'node:crypto';
import * as SM from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkApi, type SecretsManagerApi } from '../../providers/aws/api.js';
import { awsCoordination } from '../../providers/aws/coordination.js';
import { createCoordination, createStore } from '../../providers/aws/index.js';
import { AwsLeases } from '../../providers/aws/leases.js';
import { AwsSecretsManagerStore } from '../../providers/aws/store.js';
import type { CoordinationStore } from '../../providers/coordination.js';
import type { SecretStore } from '../../providers/types.js';
import { KeyctlError } from '../../src/errors.js';
import { FAKE_AWS_ENV, skipWithoutMoto, startMoto, type MotoServer } from '../helpers/moto.js';
import { coordinationContract } from './coordination-suite.js';

Object.assign(process.env, FAKE_AWS_ENV);
for (const k of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_DEFAULT_PROFILE']) delete process.env[k];

const REGION = 'us-east-1';
const DAY_MS = 24 * 60 * 60 * 1000;
/** AWS's version quota per secret (versions younger than 24 hours are never pruned). */
const MAX_VERSIONS_24H = 100;
/** AWS's limit of staging labels attached across all versions of one secret. */
const MAX_LABELS = 20;
/** How long a force-deleted name stays unusable here (AWS: "a short delay"; any real test runs well within it). */
const DELETE_SETTLE_MS = 10_000;

function awsError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });
}

/** What AWS enforces and moto does not, shared by every client of one test (they all see one AWS account). */
class AwsLimits {
  private readonly versions = new Map<string, Map<string, number>>();
  private readonly deletedAt = new Map<string, number>();

  constructor(private readonly clock: () => number) {}

  wrap(api: SecretsManagerApi): SecretsManagerApi {
    return {
      ...api,
      createSecret: async (input) => {
        const name = input.Name!;
        const deleted = this.deletedAt.get(name);
        if (deleted !== undefined && Date.now() - deleted < DELETE_SETTLE_MS) {
          throw awsError(
            'InvalidRequestException',
            "You can't create this secret because a secret with this name is already scheduled for deletion.",
          );
        }
        const out = await api.createSecret(input);
        this.deletedAt.delete(name);
        this.versions.set(name, new Map([[out.VersionId ?? input.ClientRequestToken ?? randomUUID(), this.clock()]]));
        return out;
      },
      putSecretValue: async (input) => {
        const name = String(input.SecretId);
        const seen = this.versions.get(name) ?? new Map<string, number>();
        const token = input.ClientRequestToken ?? randomUUID();
        if (!seen.has(token)) {
          const young = [...seen.values()].filter((at) => this.clock() - at < DAY_MS).length;
          if (young >= MAX_VERSIONS_24H) {
            throw awsError('LimitExceededException', `The secret ${name} already has ${young} versions younger than 24 hours.`);
          }
        }
        const out = await api.putSecretValue(input);
        if (!seen.has(token)) seen.set(token, this.clock());
        this.versions.set(name, seen);
        await this.checkLabels(api, name);
        return out;
      },
      updateSecretVersionStage: async (input) => {
        const out = await api.updateSecretVersionStage(input);
        await this.checkLabels(api, String(input.SecretId));
        return out;
      },
      deleteSecret: async (input) => {
        const out = await api.deleteSecret(input);
        this.deletedAt.set(String(input.SecretId), Date.now());
        this.versions.delete(String(input.SecretId));
        return out;
      },
    };
  }

  /** Versions of `name` created within the last 24 hours of the test clock. */
  young(name: string): number {
    return [...(this.versions.get(name)?.values() ?? [])].filter((at) => this.clock() - at < DAY_MS).length;
  }

  /** Fails the test the moment keyctl leaves more labels on a secret than AWS would have accepted. */
  private async checkLabels(api: SecretsManagerApi, name: string): Promise<void> {
    const described = await api.describeSecret({ SecretId: name });
    const labels = new Set(Object.values(described.VersionIdsToStages ?? {}).flat());
    if (labels.size > MAX_LABELS) throw new Error(`AWS would have refused this: ${labels.size} staging labels on ${name}.`);
  }
}

describe.skipIf(skipWithoutMoto)('AWS coordination on moto (skipped when python3 moto is missing, unless CI=true)', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  const rawApi = () => sdkApi(SM, new SM.SecretsManagerClient({ region: REGION, endpoint: moto.endpoint }));

  /** One process's view: its own SDK clients (secrets and leases), the shared limits, the shared test clock. */
  function open(limits: AwsLimits, prefix: string, now: () => number): { coordination: CoordinationStore; secrets: SecretStore } {
    const options = { region: REGION, prefix, now };
    const secrets = new AwsSecretsManagerStore(limits.wrap(rawApi()), options);
    return { coordination: awsCoordination(limits.wrap(rawApi()), options, secrets), secrets };
  }

  let clock = 0;
  coordinationContract(
    'aws (moto)',
    async () => {
      clock = Date.now();
      const now = () => clock;
      const limits = new AwsLimits(now);
      const prefix = `kc-${randomUUID().slice(0, 8)}/`;
      const opened: SecretStore[] = [];
      const handle = () => {
        const h = open(limits, prefix, now);
        opened.push(h.secrets);
        return h.coordination;
      };
      return {
        coordination: handle(),
        other: async () => handle(),
        advance: (ms) => {
          clock += ms;
        },
        storeClock: now,
        cleanup: async () => {
          for (const s of opened) await s.close();
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
      // The coordination store closed its own client only.
      await secrets.health();
      expect(await secrets.list('')).toEqual([]);
      await secrets.close();
    });

    it('records live under keyctl/coordination/: a record named audit-key leaves the audit key alone', async () => {
      const { coordination, secrets } = open(new AwsLimits(Date.now), base(), Date.now);
      await secrets.write('keyctl/audit-key', { secret: { key: 'audit' }, stage: 'CURRENT', expect: null });
      const rec = await coordination.write('audit-key', { mine: true }, { expect: null });
      await coordination.delete('audit-key', { expect: rec.revision });
      expect((await secrets.read('keyctl/audit-key', { stage: 'CURRENT' })).secret).toEqual({ key: 'audit' });
      expect(await secrets.list('keyctl/')).toEqual(['keyctl/audit-key', 'keyctl/coordination/raudit-key']);
      await coordination.close();
      await secrets.close();
    });

    it('a delete is a tombstone version, so the key is re-created at once (AWS refuses a force-deleted name for a while)', async () => {
      const limits = new AwsLimits(Date.now);
      const { coordination, secrets } = open(limits, base(), Date.now);
      const first = await coordination.write('journal/a/s1', 1, { expect: null });
      await coordination.delete('journal/a/s1');
      // Well within DELETE_SETTLE_MS: a store.delete of the secret would make this CreateSecret fail.
      const again = await coordination.write('journal/a/s1', 2, { expect: null });
      expect(again.revision).not.toBe(first.revision);
      const info = await secrets.describe('keyctl/coordination/rjournal@2Fa@2Fs1');
      expect(info?.versions.map((v) => v.meta.kind)).toEqual(['coordination', 'coordination-tombstone', 'coordination']);
      await coordination.close();
      await secrets.close();
    });

    it('a key too long to escape into a secret name is stored under its hash and still listed by its real key', async () => {
      const { coordination, secrets } = open(new AwsLimits(Date.now), base(), Date.now);
      const long = `handover/${'ü'.repeat(60)}`; // 60 x 2 escaped bytes = 360 characters, past the 256 of a path
      const rec = await coordination.write(long, 'v', { expect: null });
      await coordination.write('handover/short', 's', { expect: null });
      expect(await coordination.read(long)).toEqual(rec);
      expect(await coordination.list('handover/')).toEqual(['handover/short', long].sort());
      expect(await coordination.list('handover/s')).toEqual(['handover/short']);
      const hashed = (await secrets.list('keyctl/coordination/h')).length;
      expect(hashed).toBe(1);
      await coordination.close();
      await secrets.close();
    });

    it('a record secret keyctl did not write is STORE_CORRUPT for read, write, delete and list, never an absent record', async () => {
      const { coordination, secrets } = open(new AwsLimits(Date.now), base(), Date.now);
      const bodies = {
        'no-record-field': { other: 'x' },
        'not-json': { record: '{oops' },
        'other-key': { record: JSON.stringify({ v: 1, key: 'someone-else', fence: 0, updatedAt: new Date().toISOString(), value: 1 }) },
        'no-value': { record: JSON.stringify({ v: 1, key: 'no-value', fence: 0, updatedAt: new Date().toISOString() }) },
      };
      for (const [key, secret] of Object.entries(bodies)) {
        await secrets.write(`keyctl/coordination/r${key}`, { secret, stage: 'CURRENT', expect: null });
        for (const attempt of [
          () => coordination.read(key),
          () => coordination.write(key, 1, { expect: null }),
          () => coordination.delete(key),
          () => coordination.list(key),
        ]) {
          const err = await attempt().catch((e: unknown) => e);
          expect(err).toBeInstanceOf(KeyctlError);
          expect((err as KeyctlError).code).toBe('STORE_CORRUPT');
          expect((err as KeyctlError).hint).toBeTruthy();
        }
      }
      await coordination.close();
      await secrets.close();
    });

    it('every lease write is a secret version: a lease renewed every 10 s hits the 100-version quota and fails closed', async () => {
      let now = Date.now();
      const limits = new AwsLimits(() => now);
      const prefix = base();
      const leases = new AwsLeases(limits.wrap(rawApi()), { region: REGION, prefix, now: () => now });
      // A long TTL, so that only the quota (not an expiry) can stop a renewal here.
      let lease = await leases.lock('leader', 'daemon-a', 2 * DAY_MS);
      let renewals = 0;
      let failure: unknown;
      while (renewals < MAX_VERSIONS_24H + 5) {
        now += 10_000;
        try {
          lease = await leases.renew(lease, 2 * DAY_MS);
          renewals += 1;
        } catch (err) {
          failure = err;
          break;
        }
      }
      // The create made version 1; renewals 1..99 made versions 2..100; the 100th renewal is refused by AWS's quota,
      // 990 s (16.5 min) after the lease was taken. keyctl reports it and never treats the lease as renewed.
      expect(renewals).toBe(MAX_VERSIONS_24H - 1);
      expect(limits.young(`${prefix}_lock/leader`)).toBe(MAX_VERSIONS_24H);
      expect(failure).toBeInstanceOf(KeyctlError);
      expect((failure as KeyctlError).code).toBe('AWS_LIMIT_EXCEEDED');
      // A day later those versions no longer count against the quota: the same lease renews again.
      now += DAY_MS;
      lease = await leases.renew(lease, 60_000);
      await leases.unlock(lease);
      leases.close();
    });

    it('fences are a counter in the lease secret: they increase across clients with skewed clocks and shorter TTLs', async () => {
      const prefix = base();
      const limits = new AwsLimits(Date.now);
      const ahead = Date.now() + 60 * 60_000; // host A's clock runs an hour fast
      const behind = Date.now();
      const hostA = new AwsLeases(limits.wrap(rawApi()), { region: REGION, prefix, now: () => ahead });
      const hostB = new AwsLeases(limits.wrap(rawApi()), { region: REGION, prefix, now: () => behind });
      const a = await hostA.lock('rotate/bots/x/s1', 'host-a', 60 * 60_000);
      await hostA.unlock(a);
      // An expiry-derived fence would go backwards here (B's expiry is an hour and a bit earlier than A's).
      const b = await hostB.lock('rotate/bots/x/s1', 'host-b', 1000);
      expect(Date.parse(b.expiresAt)).toBeLessThan(Date.parse(a.expiresAt));
      expect(b.fence).toBe(a.fence + 1);
      expect(await hostA.fence('rotate/bots/x/s1')).toBe(b.fence);
      await hostB.unlock(b);
      expect(await hostB.fence('rotate/bots/x/s1')).toBe(b.fence); // kept through release
      expect(await hostB.fence('rotate/bots/never-taken')).toBe(0);
      hostA.close();
      hostB.close();
    });

    it('the lease secret keeps a fixed, small set of labels however many writes it sees', async () => {
      let now = Date.now();
      const prefix = base();
      const api = rawApi();
      const leases = new AwsLeases(new AwsLimits(() => now).wrap(api), { region: REGION, prefix, now: () => now });
      for (let i = 0; i < 5; i++) {
        const lease = await leases.lock('labels', `host-${i}`, 1000);
        await leases.renew(lease, 1000);
        if (i % 2 === 0) await leases.unlock(lease);
        else now += 5000; // let it expire: the next lock takes it over
      }
      const described = await api.describeSecret({ SecretId: `${prefix}_lock/labels` });
      const labels = new Set(Object.values(described.VersionIdsToStages ?? {}).flat());
      expect([...labels].sort()).toEqual(['AWSCURRENT', 'AWSPREVIOUS', 'keyctl-staged']);
      leases.close();
    });

    it('a renewal whose label move failed changes nothing; a lost reply to the move still counts as renewed', async () => {
      const now = Date.now();
      const prefix = base();
      const api = rawApi();
      let mode: 'fail' | 'lose-reply' | 'pass' = 'pass';
      const faulty: SecretsManagerApi = {
        ...api,
        updateSecretVersionStage: async (input) => {
          if (mode === 'fail') {
            mode = 'pass';
            // The process stops between its put and its move: the new version exists, AWSCURRENT never moved.
            throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          }
          if (mode === 'lose-reply') {
            mode = 'pass';
            await api.updateSecretVersionStage(input);
            // The SDK retries a move whose reply was lost; AWS refuses the retry because the label already moved.
            return api.updateSecretVersionStage(input);
          }
          return api.updateSecretVersionStage(input);
        },
      };
      const leases = new AwsLeases(faulty, { region: REGION, prefix, now: () => now });
      const lease = await leases.lock('faults', 'host-a', 60_000);

      mode = 'fail';
      const err = await leases.renew(lease, 120_000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyctlError);
      expect((err as KeyctlError).code).toBe('AWS_UNREACHABLE');
      // Still held by host-a under its first expiry: the orphan version is not AWSCURRENT.
      const blocked = await leases.lock('faults', 'host-b', 1000).catch((e: unknown) => e);
      expect((blocked as KeyctlError).code).toBe('LOCKED');
      expect((blocked as KeyctlError).message).toContain(lease.expiresAt);

      mode = 'lose-reply';
      const renewed = await leases.renew(lease, 120_000);
      expect(Date.parse(renewed.expiresAt)).toBe(now + 120_000);
      const stillBlocked = await leases.lock('faults', 'host-b', 1000).catch((e: unknown) => e);
      expect((stillBlocked as KeyctlError).message).toContain(renewed.expiresAt);
      await leases.unlock(renewed);
      expect((await leases.lock('faults', 'host-b', 1000)).fence).toBe(lease.fence + 1);
      leases.close();
    });

    it('a lease secret keyctl did not write is STORE_CORRUPT, never a free lease', async () => {
      const prefix = base();
      const api = rawApi();
      const leases = new AwsLeases(api, { region: REGION, prefix });
      const foreign = async (name: string, body: unknown) => {
        await api.createSecret({ Name: `${prefix}_lock/${name}`, SecretString: JSON.stringify(body) });
      };
      await foreign('by-hand', { owner: 'someone' });
      await foreign('bad-fence', { _keyctl: { v: 1, kind: 'released', fence: -1 } });
      await foreign('string-fence', { _keyctl: { v: 1, kind: 'lease', owner: 'x', token: 't', expiresAt: 0, fence: '7' } });
      for (const name of ['by-hand', 'bad-fence', 'string-fence']) {
        const err = await leases.lock(name, 'host-a', 1000).catch((e: unknown) => e);
        expect((err as KeyctlError).code).toBe('STORE_CORRUPT');
        expect((err as KeyctlError).hint).toBeTruthy();
      }
      leases.close();
    });

    it('a lease written before fences existed is taken over with fence 1', async () => {
      const prefix = base();
      const api = rawApi();
      const leases = new AwsLeases(api, { region: REGION, prefix });
      const old = { _keyctl: { v: 1, kind: 'lease', owner: 'old-keyctl', token: 'FAKE-token', expiresAt: 1 } };
      await api.createSecret({ Name: `${prefix}_lock/legacy`, SecretString: JSON.stringify(old) });
      const lease = await leases.lock('legacy', 'host-a', 1000);
      expect(lease).toMatchObject({ fence: 1, tookOver: true, previousOwner: 'old-keyctl' });
      leases.close();
    });
  });
});
