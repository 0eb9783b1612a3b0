import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  environRange,
  matchingEntries,
  resolveMasterKey,
  SCRUBBED_ENV,
  SYSTEMD_CREDENTIAL,
  takeStartupEnv,
  UNSCRUBBED_ENV,
} from '../../src/cli/startup-env.js';
import { assertOwnEnvironClean, storeCredentialEnv, UNSCRUBBED_ENV as EXEC_UNSCRUBBED_ENV } from '../../src/delivery/exec.js';
import { KeyctlError } from '@keyctl/client/errors';

const KEY = Buffer.alloc(32, 0x61).toString('base64'); // obviously fake: 32 bytes of 'a'
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'keyctl-startup-env-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function keyFile(name: string, mode: number, content = `${KEY}\n`): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

/** The KeyctlError `fn` throws (fails the test when it throws nothing or something else). */
function thrown(fn: () => unknown): KeyctlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KeyctlError);
    return err as KeyctlError;
  }
  throw new Error('expected a KeyctlError');
}

describe('KEYCTL_MASTER_KEY_FILE', () => {
  it('a 0600 regular file gives KEYCTL_MASTER_KEY (trailing newline dropped) and its path is consumed', () => {
    const env: NodeJS.ProcessEnv = { KEYCTL_MASTER_KEY_FILE: keyFile('k', 0o600) };
    resolveMasterKey(env);
    expect(env.KEYCTL_MASTER_KEY).toBe(KEY);
    expect(env).not.toHaveProperty('KEYCTL_MASTER_KEY_FILE');
  });

  it.each([
    [0o640, /open to its group \(mode 640\)/],
    [0o620, /open to its group \(mode 620\)/],
    [0o604, /open to other users \(mode 604\)/],
    [0o666, /open to its group \(mode 666\)/],
  ])('mode %o is refused with exit 2 and chmod 600 as the fix', (mode, message) => {
    const path = keyFile('loose', mode);
    const e = thrown(() => resolveMasterKey({ KEYCTL_MASTER_KEY_FILE: path }));
    expect(e.code).toBe('MASTER_KEY_FILE_UNUSABLE');
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(message);
    expect(e.hint).toBe(`Run chmod 600 ${path}, and replace the key if someone else may have read it.`);
    expect(`${e.message} ${e.hint}`).not.toContain(KEY);
  });

  it('a symlink is not followed, even to a good 0600 file', () => {
    const target = keyFile('real', 0o600);
    const link = join(dir, 'link');
    symlinkSync(target, link);
    const e = thrown(() => resolveMasterKey({ KEYCTL_MASTER_KEY_FILE: link }));
    expect(e.code).toBe('MASTER_KEY_FILE_UNUSABLE');
    expect(e.message).toMatch(/it is a symlink/);
  });

  it('a directory or a FIFO is not a regular file (and a FIFO does not block the start)', () => {
    const sub = join(dir, 'd');
    mkdirSync(sub, { mode: 0o700 });
    expect(thrown(() => resolveMasterKey({ KEYCTL_MASTER_KEY_FILE: sub })).message).toMatch(/is not a regular file/);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', ['-m', '600', fifo]);
    expect(thrown(() => resolveMasterKey({ KEYCTL_MASTER_KEY_FILE: fifo })).message).toMatch(/is not a regular file/);
  });

  it('a missing or empty file is refused', () => {
    expect(thrown(() => resolveMasterKey({ KEYCTL_MASTER_KEY_FILE: join(dir, 'nope') })).message).toMatch(/cannot be opened \(ENOENT\)/);
    const empty = keyFile('empty', 0o600, '\n');
    expect(thrown(() => resolveMasterKey({ KEYCTL_MASTER_KEY_FILE: empty })).message).toMatch(/is empty/);
  });
});

describe('systemd credential keyctl-master-key', () => {
  function credDir(mode: number): string {
    const creds = join(dir, 'creds');
    mkdirSync(creds, { mode: 0o700 });
    writeFileSync(join(creds, SYSTEMD_CREDENTIAL), KEY);
    chmodSync(join(creds, SYSTEMD_CREDENTIAL), mode);
    return creds;
  }

  it.each([0o400, 0o440])('read from $CREDENTIALS_DIRECTORY (mode %o: group bits are systemd’s ACL mask)', (mode) => {
    const env: NodeJS.ProcessEnv = { CREDENTIALS_DIRECTORY: credDir(mode) };
    resolveMasterKey(env);
    expect(env.KEYCTL_MASTER_KEY).toBe(KEY);
  });

  it('other-readable is refused', () => {
    const e = thrown(() => resolveMasterKey({ CREDENTIALS_DIRECTORY: credDir(0o404) }));
    expect(e.code).toBe('MASTER_KEY_FILE_UNUSABLE');
    expect(e.message).toMatch(/systemd credential .* open to other users/);
  });

  it('a unit without that credential leaves the environment as it is', () => {
    const creds = join(dir, 'other');
    mkdirSync(creds);
    const env: NodeJS.ProcessEnv = { CREDENTIALS_DIRECTORY: creds, KEYCTL_MASTER_KEY: KEY };
    resolveMasterKey(env);
    expect(env.KEYCTL_MASTER_KEY).toBe(KEY);
  });
});

describe('more than one source of the master key is refused, not guessed', () => {
  it.each([
    ['variable and file', (f: string) => ({ KEYCTL_MASTER_KEY: KEY, KEYCTL_MASTER_KEY_FILE: f })],
    ['file and systemd', (f: string, c: string) => ({ KEYCTL_MASTER_KEY_FILE: f, CREDENTIALS_DIRECTORY: c })],
    ['variable and systemd', (_f: string, c: string) => ({ KEYCTL_MASTER_KEY: KEY, CREDENTIALS_DIRECTORY: c })],
  ])('%s', (_name, make) => {
    const file = keyFile('k', 0o600);
    const creds = join(dir, 'creds');
    mkdirSync(creds);
    writeFileSync(join(creds, SYSTEMD_CREDENTIAL), KEY, { mode: 0o400 });
    const e = thrown(() => resolveMasterKey(make(file, creds)));
    expect(e.code).toBe('MASTER_KEY_AMBIGUOUS');
    expect(e.exitCode).toBe(2);
    expect(e.message).not.toContain(KEY);
  });
});

describe('takeStartupEnv', () => {
  it('moves the credentials out of process.env into the copy; a block it cannot scrub is reported, for exec to refuse', () => {
    const processEnv: NodeJS.ProcessEnv = {
      PATH: '/bin',
      KEYCTL_MASTER_KEY: KEY,
      VAULT_TOKEN: 'FAKE-vault-token',
      AWS_SECRET_ACCESS_KEY: 'FAKE-aws-secret',
      [UNSCRUBBED_ENV]: '', // a parent cannot pre-set the verdict
    };
    const missing = join(dir, 'no-proc');
    const r = takeStartupEnv(processEnv, { proc: { stat: `${missing}/stat`, mem: `${missing}/mem`, environ: `${missing}/environ` } });
    expect(processEnv).not.toHaveProperty('KEYCTL_MASTER_KEY');
    expect(processEnv).not.toHaveProperty('VAULT_TOKEN');
    // The AWS SDK reads its own credentials from process.env.
    expect(processEnv.AWS_SECRET_ACCESS_KEY).toBe('FAKE-aws-secret');
    expect(r.env).toMatchObject({ PATH: '/bin', KEYCTL_MASTER_KEY: KEY, VAULT_TOKEN: 'FAKE-vault-token' });
    expect(r.unscrubbed).toMatch(/cannot read .*no-proc\/stat \(ENOENT\)/);
    expect(r.env[UNSCRUBBED_ENV]).toBe('KEYCTL_MASTER_KEY,VAULT_TOKEN,AWS_SECRET_ACCESS_KEY');
  });

  it('with no credential in the environment it touches nothing and reports nothing', () => {
    const processEnv: NodeJS.ProcessEnv = { PATH: '/bin', [UNSCRUBBED_ENV]: 'KEYCTL_MASTER_KEY' };
    const r = takeStartupEnv(processEnv, { proc: { stat: '/nonexistent', mem: '/nonexistent', environ: '/nonexistent' } });
    expect(r).toEqual({ env: { PATH: '/bin' }, scrubbed: [] });
  });

  it('names every credential exec strips, and the key file path', () => {
    expect(SCRUBBED_ENV).toEqual(expect.arrayContaining([...storeCredentialEnv('aws'), 'KEYCTL_MASTER_KEY_FILE', 'VAULT_CLIENT_KEY']));
    expect(storeCredentialEnv('vault')).toContain('KEYCTL_VAULT_JWT');
    expect(EXEC_UNSCRUBBED_ENV).toBe(UNSCRUBBED_ENV);
  });
});

describe('the block parsing', () => {
  it('finds env_start and env_end after a comm holding spaces and parentheses', () => {
    const rest = Array.from({ length: 50 }, (_, i) => String(i + 3));
    rest[50 - 3] = '140000000000000';
    rest[51 - 3] = '140000000001000';
    expect(environRange(`1234 (a) b (c)) ${rest.join(' ')}`)).toEqual({ start: 140000000000000, end: 140000000001000 });
    expect(() => environRange('1234 (x) S 1')).toThrow();
  });

  it('matches whole names only, every occurrence', () => {
    const block = Buffer.from('PATH=/bin\0KEYCTL_MASTER_KEY=a\0KEYCTL_MASTER_KEY_X=b\0X=KEYCTL_MASTER_KEY=c\0KEYCTL_MASTER_KEY=d\0');
    expect(matchingEntries(block, ['KEYCTL_MASTER_KEY']).map((e) => block.toString('latin1', e.start, e.end))).toEqual([
      'KEYCTL_MASTER_KEY=a',
      'KEYCTL_MASTER_KEY=d',
    ]);
  });
});

describe("exec's refusal while a credential is still in keyctl's block", () => {
  const environ = (text: string) => {
    const p = join(dir, 'environ');
    writeFileSync(p, text);
    return p;
  };
  const stripped = storeCredentialEnv('local');

  it('refuses when the start-up scrub reported the master key, naming the alternatives', () => {
    const e = thrown(() => assertOwnEnvironClean({ [UNSCRUBBED_ENV]: 'KEYCTL_MASTER_KEY' }, stripped, environ('PATH=/bin\0')));
    expect(e.code).toBe('STORE_CREDENTIAL_EXPOSED');
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/^KEYCTL_MASTER_KEY could not be removed from this keyctl process's environment block/);
    expect(e.hint).toMatch(/KEYCTL_MASTER_KEY_FILE.*LoadCredential=keyctl-master-key.*--user <user>/);
  });

  it('refuses when the block itself still shows a credential, even if nobody reported it', () => {
    const e = thrown(() => assertOwnEnvironClean({}, stripped, environ('PATH=/bin\0VAULT_TOKEN=FAKE-t\0')));
    expect(e.details).toEqual({ variables: ['VAULT_TOKEN'] });
  });

  it('goes on with a scrubbed block, with no /proc, and for AWS variables a non-AWS store does not strip', () => {
    expect(() => assertOwnEnvironClean({}, stripped, environ('PATH=/bin\0\0\0\0'))).not.toThrow();
    expect(() => assertOwnEnvironClean({}, stripped, join(dir, 'missing'))).not.toThrow();
    expect(() => assertOwnEnvironClean({ [UNSCRUBBED_ENV]: 'AWS_ACCESS_KEY_ID' }, stripped, join(dir, 'missing'))).not.toThrow();
    expect(() => assertOwnEnvironClean({ [UNSCRUBBED_ENV]: 'AWS_ACCESS_KEY_ID' }, storeCredentialEnv('aws'), join(dir, 'missing'))).toThrow(
      KeyctlError,
    );
  });
});
