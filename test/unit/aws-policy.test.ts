/**
 * `keyctl aws policy <bot> | --operator | --resource`: the least-privilege IAM policy a bot needs on the AWS provider,
 * keyctl's own policy, and the resource policy for each keyctl secret.
 */
import { captureIo } from '../helpers/io.js';
import { describe, expect, it } from 'vitest';
import {
  buildBotPolicy,
  buildOperatorPolicy,
  buildResourcePolicy,
  botSecretArnPattern,
  storePartitions,
  type IamPolicy,
} from '../../providers/aws/policy.js';
import { partition } from '../../providers/aws/table.js';
import { Redactor } from '../../src/audit/redact.js';
import { run } from '../../src/cli/commands/aws-policy.js';
import type { CliContext } from '../../src/cli/context.js';
import { Output } from '../../src/cli/output.js';
import { parseConfig } from '../../src/config/load.js';
import { ExitCode, KeyctlError } from '@keyctl/client/errors';

const SLOTS = `
accounts:
  bybit-main: { exchange: bybit }
bots:
  alpha:
    subaccounts:
      arb1: { account: bybit-main, uid: "100001", scopes: [read, spot:trade], ips: [203.0.113.7] }
      arb2: { account: bybit-main, uid: "100002", scopes: [read, spot:trade], ips: [203.0.113.7] }
  beta:
    subaccounts:
      mm: { account: bybit-main, uid: "100003", scopes: [read, spot:trade], ips: [203.0.113.7] }
`;

function context(storeYaml: string, json: boolean) {
  const config = parseConfig(`${storeYaml}\n${SLOTS}`, '/nonexistent/keyctl.yaml').config;
  const t = captureIo();
  const ctx = { out: new Output(json, t.io.stdout, t.io.stderr, new Redactor()), config: () => config, json } as unknown as CliContext;
  return { ctx, stdout: t.stdout, stderr: t.stderr };
}

const AWS_STORE = 'store: { provider: aws, region: eu-west-1, prefix: "prod/keyctl/" }';

describe('buildBotPolicy', () => {
  it("allows only GetSecretValue on the bot's own secrets, only for AWSCURRENT", () => {
    const { policy, notes } = buildBotPolicy({ bot: 'alpha', region: 'eu-west-1', prefix: 'keyctl/', accountId: '123456789012' });
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'ReadOwnCurrentKeys',
          Effect: 'Allow',
          Action: 'secretsmanager:GetSecretValue',
          Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keyctl/bots/alpha/*',
          Condition: { StringEquals: { 'secretsmanager:VersionStage': 'AWSCURRENT' } },
        },
      ],
    });
    expect(notes).toEqual([]);
  });

  it('one bot\'s pattern never covers another bot\'s secrets (no "alpha" prefix match on "alpha2")', () => {
    const pattern = botSecretArnPattern({ bot: 'alpha', region: 'r', prefix: 'keyctl/' });
    const re = new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    expect(re.test('arn:aws:secretsmanager:r:1:secret:keyctl/bots/alpha/arb1-AbCdEf')).toBe(true);
    expect(re.test('arn:aws:secretsmanager:r:1:secret:keyctl/bots/alpha2/arb1-AbCdEf')).toBe(false);
    expect(re.test('arn:aws:secretsmanager:r:1:secret:keyctl/accounts/bybit-main-AbCdEf')).toBe(false);
  });

  it("adds kms:Decrypt through Secrets Manager for a customer-managed key, pinned to the bot's secrets", () => {
    const { policy } = buildBotPolicy({
      bot: 'alpha',
      region: 'eu-west-1',
      prefix: 'keyctl/',
      accountId: '123456789012',
      kmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab',
    });
    const kms = policy.Statement[1]!;
    expect(kms.Action).toBe('kms:Decrypt');
    expect(kms.Resource).toBe('arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab');
    expect(kms.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' },
      StringLike: { 'kms:EncryptionContext:SecretARN': 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keyctl/bots/alpha/*' },
    });
  });

  it('says what to fix by hand: an alias cannot be a Resource, and no account id means any account', () => {
    const { policy, notes } = buildBotPolicy({ bot: 'alpha', region: 'eu-west-1', prefix: 'keyctl/', kmsKeyId: 'alias/keyctl' });
    expect(policy.Statement[1]!.Resource).toBe('*');
    expect(notes.join(' ')).toMatch(/alias/);
    expect(notes.join(' ')).toMatch(/--account-id/);
  });
});

describe('keyctl aws policy', () => {
  it("prints the policy JSON for a known bot, using the store's region and prefix", async () => {
    const { ctx, stdout } = context(AWS_STORE, false);
    await run(ctx, ['alpha'], { accountId: '123456789012' });
    const policy = JSON.parse(stdout()) as IamPolicy;
    expect(policy.Statement[0]!.Resource).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/keyctl/bots/alpha/*');
  });

  it('--json puts the policy under "policy", with kind "bot", the bot and its slots', async () => {
    const { ctx, stdout } = context(AWS_STORE, true);
    await run(ctx, ['beta'], {});
    const out = JSON.parse(stdout()) as { kind: string; bot: string; slots: string[]; policy: IamPolicy; notes: string[] };
    expect(out.kind).toBe('bot');
    expect(out.bot).toBe('beta');
    expect(out.slots).toEqual(['beta/mm']);
    expect(out.policy.Statement[0]!.Resource).toBe('arn:aws:secretsmanager:eu-west-1:*:secret:prod/keyctl/bots/beta/*');
    expect(out.notes.length).toBe(1);
  });

  it('an unknown bot is a usage error that lists the known ones', async () => {
    const { ctx } = context(AWS_STORE, false);
    const err = (await run(ctx, ['gamma'], {}).catch((e: unknown) => e)) as KeyctlError;
    expect(err.code).toBe('UNKNOWN_BOT');
    expect(err.exitCode).toBe(ExitCode.USAGE);
    expect(err.hint).toContain('alpha, beta');
  });

  it('refuses a malformed account id and a store that is not aws', async () => {
    const bad = (await run(context(AWS_STORE, false).ctx, ['alpha'], { accountId: '12345' }).catch((e: unknown) => e)) as KeyctlError;
    expect(bad.code).toBe('INVALID_ACCOUNT_ID');
    const local = (await run(context('store: { provider: memory }', false).ctx, ['alpha'], {}).catch((e: unknown) => e)) as KeyctlError;
    expect(local.code).toBe('STORE_NOT_AWS');
  });
});

/** Matches an IAM ARN pattern (`*` any run of characters) the way IAM does for these ARNs. */
function arnMatches(pattern: string, arn: string): boolean {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(arn);
}

describe('buildOperatorPolicy', () => {
  const BASE = { region: 'eu-west-1', prefix: 'keyctl/', table: 'keyctl', accountId: '123456789012' };

  it("grants keyctl's Secrets Manager calls on <prefix>* and ListSecrets on * only", () => {
    const { policy } = buildOperatorPolicy(BASE);
    expect(policy.Version).toBe('2012-10-17');
    expect(policy.Statement[0]).toEqual({
      Sid: 'ManageStoreSecrets',
      Effect: 'Allow',
      Action: [
        'secretsmanager:CreateSecret',
        'secretsmanager:PutSecretValue',
        'secretsmanager:GetSecretValue',
        'secretsmanager:DescribeSecret',
        'secretsmanager:ListSecretVersionIds',
        'secretsmanager:UpdateSecretVersionStage',
        'secretsmanager:DeleteSecret',
        'secretsmanager:TagResource',
        'secretsmanager:UntagResource',
      ],
      Resource: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keyctl/*',
    });
    expect(policy.Statement[1]).toEqual({ Sid: 'ListSecrets', Effect: 'Allow', Action: 'secretsmanager:ListSecrets', Resource: '*' });
    const resource = policy.Statement[0]!.Resource as string;
    expect(arnMatches(resource, 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keyctl/bots/alpha/arb1-AbCdEf')).toBe(true);
    expect(arnMatches(resource, 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:other/bots/alpha/arb1-AbCdEf')).toBe(false);
    expect(arnMatches(resource, 'arn:aws:secretsmanager:us-east-1:123456789012:secret:keyctl/bots/alpha/arb1-AbCdEf')).toBe(false);
  });

  it("limits item calls to the store's own partitions of the table, with no TransactWriteItems action", () => {
    const { policy } = buildOperatorPolicy({ ...BASE, prefix: 'prod/keyctl/', table: 'shared-table' });
    expect(policy.Statement[2]).toEqual({
      Sid: 'StoreItems',
      Effect: 'Allow',
      Action: [
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'dynamodb:DeleteItem',
        'dynamodb:Query',
        'dynamodb:ConditionCheckItem',
      ],
      Resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/shared-table',
      Condition: {
        'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['lease|prod/keyctl/', 'record|prod/keyctl/', 'index|prod/keyctl/'] },
      },
    });
    // Table-level calls carry no partition key: a statement of their own, with no LeadingKeys condition.
    expect(policy.Statement[3]).toEqual({
      Sid: 'StoreTable',
      Effect: 'Allow',
      Action: ['dynamodb:DescribeTable', 'dynamodb:CreateTable'],
      Resource: 'arn:aws:dynamodb:eu-west-1:123456789012:table/shared-table',
    });
    const actions = policy.Statement.flatMap((s) => s.Action);
    expect(actions).not.toContain('dynamodb:TransactWriteItems');
    expect(actions.filter((a) => /Scan|Batch|DeleteTable|\*/.test(a))).toEqual([]);
  });

  it('the partitions are exactly the keys table.ts writes for the store', () => {
    expect(storePartitions('keyctl/')).toEqual([
      partition('lease', 'keyctl/'),
      partition('record', 'keyctl/'),
      partition('index', 'keyctl/'),
    ]);
  });

  it("adds GenerateDataKey and Decrypt through Secrets Manager, for the store's secrets, with a customer-managed key", () => {
    const { policy, notes } = buildOperatorPolicy({ ...BASE, kmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' });
    expect(policy.Statement[4]).toEqual({
      Sid: 'UseStoreKeyViaSecretsManager',
      Effect: 'Allow',
      Action: ['kms:GenerateDataKey', 'kms:Decrypt'],
      Resource: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      Condition: {
        StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' },
        StringLike: { 'kms:EncryptionContext:SecretARN': 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:keyctl/*' },
      },
    });
    expect(notes.join(' ')).not.toMatch(/alias/);
    expect(buildOperatorPolicy(BASE).policy.Statement.some((s) => String(s.Action).includes('kms:'))).toBe(false);
  });

  it('notes: no account id means any account, an alias cannot be a Resource, ListSecrets is unscoped, a prefix without "/"', () => {
    const { policy, notes } = buildOperatorPolicy({ region: 'eu-west-1', prefix: 'keyctl', table: 'keyctl', kmsKeyId: 'alias/keyctl' });
    expect(policy.Statement[0]!.Resource).toBe('arn:aws:secretsmanager:eu-west-1:*:secret:keyctl*');
    expect(policy.Statement[2]!.Resource).toBe('arn:aws:dynamodb:eu-west-1:*:table/keyctl');
    expect(policy.Statement[4]!.Resource).toBe('*');
    const text = notes.join('\n');
    expect(text).toMatch(/--account-id/);
    expect(text).toMatch(/alias/);
    expect(text).toMatch(/ListSecrets/);
    expect(text).toMatch(/does not end with "\/"/);
    expect(buildOperatorPolicy(BASE).notes).toEqual([expect.stringMatching(/ListSecrets/)]);
  });
});

describe('buildResourcePolicy', () => {
  it('only denies: everything to principals outside the account (so BlockPublicPolicy accepts it)', () => {
    const { policy } = buildResourcePolicy({ region: 'eu-west-1', prefix: 'keyctl/', accountId: '123456789012' });
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'DenyOutsideAccount',
          Effect: 'Deny',
          Principal: '*',
          Action: 'secretsmanager:*',
          Resource: '*',
          Condition: { StringNotEquals: { 'aws:PrincipalAccount': '123456789012' } },
        },
      ],
    });
    expect(policy.Statement.every((s) => s.Effect === 'Deny')).toBe(true);
  });

  it("with keyctl's principal: every other principal is denied the calls that change a key, never the policy calls", () => {
    const role = 'arn:aws:iam::123456789012:role/keyctl';
    const { policy, notes } = buildResourcePolicy({
      region: 'eu-west-1',
      prefix: 'keyctl/',
      accountId: '123456789012',
      operatorPrincipalArn: role,
    });
    const only = policy.Statement[1]!;
    expect(only).toMatchObject({ Sid: 'OnlyKeyctlChangesKeys', Effect: 'Deny', Principal: '*', Resource: '*' });
    expect(only.Condition).toEqual({ ArnNotEquals: { 'aws:PrincipalArn': role } });
    expect(only.Action).toEqual(
      expect.arrayContaining(['secretsmanager:PutSecretValue', 'secretsmanager:UpdateSecretVersionStage', 'secretsmanager:DeleteSecret']),
    );
    // Denying these would lock every administrator out of the policy itself.
    expect(only.Action).not.toContain('secretsmanager:PutResourcePolicy');
    expect(only.Action).not.toContain('secretsmanager:DeleteResourcePolicy');
    // Reads stay governed by identity policies (a bot's AWSCURRENT-only read).
    expect(only.Action).not.toContain('secretsmanager:GetSecretValue');
    expect(notes.join(' ')).not.toMatch(/--operator-arn/);
  });

  it('its notes give the exact command, with --block-public-policy, for every secret under the prefix', () => {
    const { notes } = buildResourcePolicy({ region: 'eu-west-1', prefix: 'prod/keyctl/', accountId: '123456789012' });
    const command = notes.find((n) => n.includes('put-resource-policy'));
    expect(command).toContain(
      "for id in $(aws secretsmanager list-secrets --region eu-west-1 --filters Key=name,Values=prod/keyctl/ --query 'SecretList[].ARN' --output text); " +
        'do aws secretsmanager put-resource-policy --region eu-west-1 --secret-id "$id" --resource-policy file://keyctl-resource-policy.json --block-public-policy; done',
    );
    expect(notes.join(' ')).toMatch(/--operator-arn/);
    expect(notes.join(' ')).toMatch(/again after adding slots/);
  });
});

describe('keyctl aws policy --operator / --resource', () => {
  const KMS_STORE =
    'store: { provider: aws, region: eu-west-1, prefix: "prod/keyctl/", table: keyctl-prod, kmsKeyId: 1234abcd-12ab-34cd-56ef-1234567890ab }';

  it("--operator prints keyctl's policy from the store's region, prefix, table and KMS key", async () => {
    const { ctx, stdout, stderr } = context(KMS_STORE, false);
    await run(ctx, [], { operator: true, accountId: '123456789012' });
    const policy = JSON.parse(stdout()) as IamPolicy;
    expect(policy.Statement.map((s) => s.Sid)).toEqual([
      'ManageStoreSecrets',
      'ListSecrets',
      'StoreItems',
      'StoreTable',
      'UseStoreKeyViaSecretsManager',
    ]);
    expect(policy.Statement[0]!.Resource).toBe('arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/keyctl/*');
    expect(policy.Statement[2]!.Resource).toBe('arn:aws:dynamodb:eu-west-1:123456789012:table/keyctl-prod');
    expect(policy.Statement[2]!.Condition).toEqual({
      'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['lease|prod/keyctl/', 'record|prod/keyctl/', 'index|prod/keyctl/'] },
    });
    expect(stderr()).toMatch(/^note: ListSecrets/m);
  });

  it('--operator uses the default table "keyctl" and any account without --account-id; --json gives {kind, policy, notes}', async () => {
    const { ctx, stdout } = context(AWS_STORE, true);
    await run(ctx, [], { operator: true });
    const out = JSON.parse(stdout()) as Record<string, unknown> & { policy: IamPolicy; notes: string[] };
    expect(Object.keys(out).sort()).toEqual(['kind', 'notes', 'policy']);
    expect(out.kind).toBe('operator');
    expect(out.policy.Statement[2]!.Resource).toBe('arn:aws:dynamodb:eu-west-1:*:table/keyctl');
    expect(out.notes.join(' ')).toMatch(/--account-id/);
  });

  it('--resource prints the deny-only resource policy and the command that attaches it with --block-public-policy', async () => {
    const { ctx, stdout, stderr } = context(AWS_STORE, false);
    await run(ctx, [], { resource: true, accountId: '123456789012', operatorArn: 'arn:aws:iam::123456789012:role/keyctl' });
    const policy = JSON.parse(stdout()) as IamPolicy;
    expect(policy.Statement.map((s) => [s.Sid, s.Effect])).toEqual([
      ['DenyOutsideAccount', 'Deny'],
      ['OnlyKeyctlChangesKeys', 'Deny'],
    ]);
    expect(stderr()).toContain('--block-public-policy');
    expect(stderr()).toContain('Values=prod/keyctl/');
  });

  it('--resource --json gives {kind: "resource", policy, notes}', async () => {
    const { ctx, stdout } = context(AWS_STORE, true);
    await run(ctx, [], { resource: true, accountId: '123456789012' });
    const out = JSON.parse(stdout()) as Record<string, unknown> & { policy: IamPolicy; notes: string[] };
    expect(Object.keys(out).sort()).toEqual(['kind', 'notes', 'policy']);
    expect(out.kind).toBe('resource');
    expect(out.policy.Statement).toHaveLength(1);
  });

  it('--resource needs --account-id, and --operator-arn must be a role or user ARN used with --resource', async () => {
    const fail = async (args: string[], opts: Record<string, unknown>) =>
      (await run(context(AWS_STORE, false).ctx, args, opts).catch((e: unknown) => e)) as KeyctlError;
    const missing = await fail([], { resource: true });
    expect(missing.code).toBe('ACCOUNT_ID_REQUIRED');
    expect(missing.exitCode).toBe(ExitCode.USAGE);
    expect(missing.hint).toContain('--account-id');
    expect((await fail([], { resource: true, accountId: '123456789012', operatorArn: 'keyctl' })).code).toBe('INVALID_OPERATOR_ARN');
    expect((await fail([], { operator: true, operatorArn: 'arn:aws:iam::123456789012:role/keyctl' })).code).toBe('POLICY_TARGET');
    expect((await fail([], { resource: true, accountId: '12345' })).code).toBe('INVALID_ACCOUNT_ID');
  });

  it('exactly one of <bot>, --operator and --resource: none or several is a usage error saying what to pass', async () => {
    const fail = async (args: string[], opts: Record<string, unknown>) =>
      (await run(context(AWS_STORE, false).ctx, args, opts).catch((e: unknown) => e)) as KeyctlError;
    const none = await fail([], {});
    expect(none).toBeInstanceOf(KeyctlError);
    expect(none.code).toBe('POLICY_TARGET');
    expect(none.exitCode).toBe(ExitCode.USAGE);
    expect(none.message).toMatch(/bot.*--operator.*--resource/);
    expect(none.hint).toContain('keyctl aws policy --operator');
    for (const [args, opts] of [
      [['alpha'], { operator: true }],
      [['alpha'], { resource: true, accountId: '123456789012' }],
      [[], { operator: true, resource: true }],
    ] as const) {
      expect((await fail([...args], opts)).code, JSON.stringify([args, opts])).toBe('POLICY_TARGET');
    }
  });

  it('--operator and --resource refuse a store that is not aws', async () => {
    const local = (await run(context('store: { provider: memory }', false).ctx, [], { operator: true }).catch(
      (e: unknown) => e,
    )) as KeyctlError;
    expect(local.code).toBe('STORE_NOT_AWS');
  });
});
