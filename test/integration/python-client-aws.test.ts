/**
 * The Python client's AWS-store tokens (boto3) against moto: a token wrapped by the AWS provider (what `keyctl issue`
 * does with an AWS store) is unwrapped once by a Python bot with only the config and AWS credentials; a second use and
 * an expired token fail with WRAP_INVALID, and the wrap secret is gone afterwards. Skipped without moto (unless CI).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FAKE_AWS_ENV, skipWithoutMoto, startMoto, type MotoServer } from '../helpers/moto.js';
import { runProcess } from '../helpers/cli.js';
import { createStore } from '../../providers/aws/index.js';
import { encodePayload, formatToken } from '@keyctl/client/token';

const REGION = 'us-east-1';
const PREFIX = 'keyctl-py/';
const CLIENT_DIR = fileURLToPath(new URL('../../clients/python', import.meta.url));
// Obviously fake credentials: what the token carries.
const CREDS = { ref: 'alpha/arb1', apiKey: 'fake-aws-api-key-0001', secret: 'fake-aws-secret-0001', fingerprint: 'fpaws0001' };

describe.skipIf(skipWithoutMoto)('the Python client: AWS-store tokens (boto3, against moto)', () => {
  let moto: MotoServer;
  let dir: string;
  let wrap: (ttlMs: number) => Promise<string>;
  let secretGone: (token: string) => Promise<boolean>;
  let close: () => Promise<void>;

  beforeAll(async () => {
    Object.assign(process.env, FAKE_AWS_ENV);
    moto = await startMoto();
    dir = mkdtempSync(join(tmpdir(), 'keyctl-py-aws-'));
    writeFileSync(
      join(dir, 'keyctl.yaml'),
      `store: { provider: aws, region: ${REGION}, endpoint: "${moto.endpoint}", prefix: ${PREFIX} }\n`,
    );
    const store = await createStore({ provider: 'aws', region: REGION, endpoint: moto.endpoint, prefix: PREFIX }, {});
    await store.init();
    wrap = async (ttlMs) => formatToken('aws', await store.wrap(encodePayload(CREDS), ttlMs));
    const { createHash } = await import('node:crypto');
    const SM = await import('@aws-sdk/client-secrets-manager');
    const sm = new SM.SecretsManagerClient({ region: REGION, endpoint: moto.endpoint });
    secretGone = async (token) => {
      const name = `${PREFIX}_wrap/${createHash('sha256').update(token.split('.').slice(2).join('.')).digest('hex')}`;
      try {
        return Boolean((await sm.send(new SM.DescribeSecretCommand({ SecretId: name }))).DeletedDate);
      } catch (err) {
        return (err as { name?: string }).name === 'ResourceNotFoundException';
      }
    };
    close = () => store.close();
  });
  afterAll(async () => {
    await close?.();
    await moto?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const load = (token: string, preamble = '') =>
    runProcess(
      'python3',
      [
        '-c',
        [
          'import json, os, sys',
          preamble,
          `sys.path.insert(0, ${JSON.stringify(CLIENT_DIR)})`,
          'import keyctl_client',
          'try:',
          '    c = keyctl_client.load_credentials()',
          '    print(json.dumps({"source": c.source, "fingerprint": c.fingerprint, "ok": c.secret == "fake-aws-secret-0001", "left": "KEYCTL_TOKEN" in os.environ}))',
          'except keyctl_client.KeyctlError as e:',
          '    print(json.dumps({"code": e.code, "message": str(e)}))',
        ].join('\n'),
      ],
      {
        env: { ...FAKE_AWS_ENV, PYTHONDONTWRITEBYTECODE: '1', KEYCTL_TOKEN: token, KEYCTL_CONFIG: join(dir, 'keyctl.yaml') },
        cwd: dir,
      },
    );

  it('unwraps once with the config and AWS credentials; a second use fails; the wrap secret is gone', async () => {
    const token = await wrap(60_000);
    const first = await load(token);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({ source: 'token', fingerprint: 'fpaws0001', ok: true, left: false });
    expect(await secretGone(token)).toBe(true);
    const again = await load(token);
    expect(JSON.parse(again.stdout)).toMatchObject({ code: 'WRAP_INVALID' });
    expect(again.stdout).not.toContain(token.split('.').at(-1)!);
  });

  it('without boto3: MISSING_PACKAGE naming it, and the token is not used', async () => {
    const token = await wrap(60_000);
    const r = await load(token, "sys.modules['boto3'] = None");
    const out = JSON.parse(r.stdout) as { code: string; message: string };
    expect(out.code).toBe('MISSING_PACKAGE');
    expect(out.message).toContain('boto3');
    expect(await secretGone(token)).toBe(false);
    // Still redeemable with boto3.
    expect(JSON.parse((await load(token)).stdout)).toMatchObject({ source: 'token', ok: true });
  });

  it('an expired token is refused (and removed)', async () => {
    const token = await wrap(1);
    await new Promise((r) => setTimeout(r, 50));
    const r = await load(token);
    expect(JSON.parse(r.stdout)).toMatchObject({ code: 'WRAP_INVALID' });
    expect(await secretGone(token)).toBe(true);
  });
});
