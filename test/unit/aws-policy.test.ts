/** `keyctl aws policy <bot>`: the least-privilege IAM policy a bot needs on the AWS provider. */
import { captureIo } from '../helpers/io.js';
import { describe, expect, it } from 'vitest';
import { buildBotPolicy, botSecretArnPattern, type IamPolicy } from '../../providers/aws/policy.js';
import { Redactor } from '../../src/audit/redact.js';
import { run } from '../../src/cli/commands/aws-policy.js';
import type { CliContext } from '../../src/cli/context.js';
import { Output } from '../../src/cli/output.js';
import { parseConfig } from '../../src/config/load.js';
import { ExitCode, KeyctlError } from '../../src/errors.js';

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

  it('--json puts the policy under "policy", with the bot and its slots', async () => {
    const { ctx, stdout } = context(AWS_STORE, true);
    await run(ctx, ['beta'], {});
    const out = JSON.parse(stdout()) as { bot: string; slots: string[]; policy: IamPolicy; notes: string[] };
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
