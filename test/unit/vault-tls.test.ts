/**
 * TLS to Vault against a real TLS server: a throwaway CA, a server certificate for 127.0.0.1/localhost and a client
 * certificate, made with the machine's `openssl`; a node:https server that requires a client certificate and answers
 * like Vault. Shows that keyctl fails closed (untrusted server, missing client certificate, bad files), trusts exactly
 * what store.tls / VAULT_CACERT & co. say, and skips verification only when told to in so many words.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openVaultHttp } from '../../providers/vault/connect.js';
import { resolveVaultTls } from '../../providers/vault/tls.js';
import * as v from 'valibot';
import { parseOptions, vaultStoreSchema } from '../../src/config/schema.js';
import { KeyctlError, ProviderError } from '@keyctl/client/errors';

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

let dir: string;
const file = (name: string) => join(dir, name);

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A key pair and a certificate signed by `ca` (or self-signed as a CA when `ca` is undefined). */
function makeCert(name: string, subject: string, ca: string | undefined, ext: string[]): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`];
  if (!ca) {
    openssl('req', '-x509', ...ec, '-out', `${name}.pem`, '-days', '2', '-subj', subject, ...ext.flatMap((e) => ['-addext', e]));
    return;
  }
  openssl('req', ...ec, '-out', `${name}.csr`, '-subj', subject);
  writeFileSync(file(`${name}.ext`), `${ext.join('\n')}\n`);
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.pem`,
    '-CAkey',
    `${ca}.key`,
    '-set_serial',
    String(Date.now()),
    '-days',
    '2',
    '-out',
    `${name}.pem`,
    '-extfile',
    `${name}.ext`,
  );
}

interface Login {
  path: string;
  body: Record<string, unknown>;
  clientCert: boolean;
}

/** A Vault-like HTTPS server: sys/health, AppRole login, lookup-self. */
function startServer(requireClientCert: boolean): Promise<{ server: Server; url: string; logins: Login[] }> {
  const logins: Login[] = [];
  const server = createServer(
    {
      key: readFileSync(file('server.key')),
      cert: readFileSync(file('server.pem')),
      ca: readFileSync(file('ca.pem')),
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
    },
    (req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const json = (status: number, body: unknown) => {
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(body));
        };
        const path = (req.url ?? '').split('?')[0];
        if (req.method === 'GET' && path === '/v1/sys/health') return json(200, { initialized: true, sealed: false, standby: false });
        if (req.method === 'POST' && path === '/v1/auth/approle/login') {
          const socket = req.socket as import('node:tls').TLSSocket;
          logins.push({
            path,
            body: JSON.parse(text || '{}') as Record<string, unknown>,
            clientCert: socket.getPeerCertificate().subject !== undefined,
          });
          return json(200, {
            auth: { client_token: 'hvs.tls-test-token', accessor: 'a', policies: ['default'], lease_duration: 3600, renewable: true },
          });
        }
        if (req.method === 'GET' && path === '/v1/auth/token/lookup-self')
          return json(200, { data: { ttl: 3600, renewable: true, policies: ['default'] } });
        return json(404, { errors: [] });
      });
    },
  );
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, logins }));
  });
}

function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const approleEnv = { VAULT_ROLE_ID: 'role-id-1', VAULT_SECRET_ID: 'secret-id-1' };

function config(address: string, tls?: Record<string, unknown>) {
  return vaultStoreSchema.parse({ provider: 'vault', address, auth: { method: 'approle' }, ...(tls ? { tls } : {}) });
}

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ProviderError);
  return err as ProviderError;
}

const mtlsFiles = () => ({ caCert: file('ca.pem'), clientCert: file('client.pem'), clientKey: file('client.key') });

describe.skipIf(!hasOpenssl)('vault TLS', () => {
  let mtls: Awaited<ReturnType<typeof startServer>>;
  let plain: Awaited<ReturnType<typeof startServer>>;
  const savedSkip = process.env.VAULT_SKIP_VERIFY;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'keyctl-vault-tls-'));
    makeCert('ca', '/CN=keyctl test CA', undefined, ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']);
    makeCert('server', '/CN=localhost', 'ca', [
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
    ]);
    makeCert('client', '/CN=keyctl', 'ca', [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=clientAuth',
    ]);
    // A second client identity from another CA: a certificate the server does not trust.
    makeCert('other-ca', '/CN=other CA', undefined, ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']);
    makeCert('stranger', '/CN=stranger', 'other-ca', [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=clientAuth',
    ]);
    mkdirSync(file('cadir'));
    writeFileSync(file('cadir/ca.crt'), readFileSync(file('ca.pem')));
    writeFileSync(file('cadir/README'), 'not a certificate, and not *.pem / *.crt: ignored\n');
    writeFileSync(file('garbage.pem'), 'this is not PEM\n');
    mtls = await startServer(true);
    plain = await startServer(false);
  });

  afterAll(async () => {
    if (mtls) await stop(mtls.server);
    if (plain) await stop(plain.server);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    if (savedSkip === undefined) delete process.env.VAULT_SKIP_VERIFY;
    else process.env.VAULT_SKIP_VERIFY = savedSkip;
  });

  it('fails closed without the CA: a typed error, no request reaches Vault', async () => {
    // node-vault on its own reads process.env.VAULT_SKIP_VERIFY and switches verification off for any non-empty value,
    // "false" included; keyctl's explicit settings must win.
    process.env.VAULT_SKIP_VERIFY = 'false';
    const err = await failure(openVaultHttp(config(plain.url), approleEnv));
    expect(err.code).toBe('VAULT_TLS_UNTRUSTED');
    expect(err.exitCode).toBe(4);
    expect(err.hint).toContain('VAULT_CACERT');
    expect(plain.logins).toEqual([]);
  });

  it('connects and logs in with store.tls.caCert and a client certificate', async () => {
    const http = await openVaultHttp(config(mtls.url, mtlsFiles()), approleEnv);
    expect(http.token).toBe('hvs.tls-test-token');
    expect(http.insecure).toBe(false);
    expect(mtls.logins.at(-1)).toEqual({
      path: '/v1/auth/approle/login',
      body: { role_id: 'role-id-1', secret_id: 'secret-id-1' },
      clientCert: true,
    });
    expect(await http.healthState()).toEqual({ initialized: true, sealed: false, standby: false });
  });

  it('takes the CA and client certificate from VAULT_CACERT, VAULT_CLIENT_CERT and VAULT_CLIENT_KEY', async () => {
    const env = {
      ...approleEnv,
      VAULT_CACERT: file('ca.pem'),
      VAULT_CLIENT_CERT: file('client.pem'),
      VAULT_CLIENT_KEY: file('client.key'),
    };
    const http = await openVaultHttp(config(mtls.url), env);
    expect(http.token).toBe('hvs.tls-test-token');
  });

  it('takes the CAs from a directory (caPath / VAULT_CAPATH): its *.pem and *.crt files', async () => {
    const http = await openVaultHttp(config(plain.url, { caPath: file('cadir') }), approleEnv);
    expect(http.token).toBe('hvs.tls-test-token');
    const viaEnv = await openVaultHttp(config(plain.url), { ...approleEnv, VAULT_CAPATH: file('cadir') });
    expect(viaEnv.token).toBe('hvs.tls-test-token');
  });

  it("a config's CA settings win over the environment's", async () => {
    // The config's directory is right; a stray VAULT_CACERT pointing elsewhere must not replace it.
    const http = await openVaultHttp(config(plain.url, { caPath: file('cadir') }), { ...approleEnv, VAULT_CACERT: file('other-ca.pem') });
    expect(http.token).toBe('hvs.tls-test-token');
  });

  it('fails without a client certificate when Vault requires one, and with one Vault does not trust', async () => {
    const before = mtls.logins.length;
    const none = await failure(openVaultHttp(config(mtls.url, { caCert: file('ca.pem') }), approleEnv));
    expect(['VAULT_TLS_HANDSHAKE', 'VAULT_UNREACHABLE']).toContain(none.code);
    expect(none.hint).toMatch(/clientCert|TLS/);
    const stranger = await failure(
      openVaultHttp(
        config(mtls.url, { caCert: file('ca.pem'), clientCert: file('stranger.pem'), clientKey: file('stranger.key') }),
        approleEnv,
      ),
    );
    expect(['VAULT_TLS_HANDSHAKE', 'VAULT_UNREACHABLE']).toContain(stranger.code);
    expect(mtls.logins.length).toBe(before);
  });

  it('skips verification only when told to explicitly', async () => {
    for (const value of ['false', '0', 'yes', 'TRUE', '']) {
      const err = await failure(openVaultHttp(config(plain.url), { ...approleEnv, VAULT_SKIP_VERIFY: value }));
      expect(err.code, `VAULT_SKIP_VERIFY=${value}`).toBe('VAULT_TLS_UNTRUSTED');
    }
    for (const value of ['true', '1']) {
      const http = await openVaultHttp(config(plain.url), { ...approleEnv, VAULT_SKIP_VERIFY: value });
      expect(http.insecure).toBe(true);
      expect(http.token).toBe('hvs.tls-test-token');
    }
    const viaConfig = await openVaultHttp(config(plain.url, { skipVerify: true }), approleEnv);
    expect(viaConfig.insecure).toBe(true);
    // An explicit `skipVerify: false` in the config beats the environment.
    const err = await failure(openVaultHttp(config(plain.url, { skipVerify: false }), { ...approleEnv, VAULT_SKIP_VERIFY: 'true' }));
    expect(err.code).toBe('VAULT_TLS_UNTRUSTED');
  });

  it('verifies against serverName (VAULT_TLS_SERVER_NAME) when set', async () => {
    const ok = await openVaultHttp(config(plain.url, { caCert: file('ca.pem'), serverName: 'localhost' }), approleEnv);
    expect(ok.token).toBe('hvs.tls-test-token');
    const err = await failure(
      openVaultHttp(config(plain.url, { caCert: file('ca.pem') }), { ...approleEnv, VAULT_TLS_SERVER_NAME: 'vault.example.com' }),
    );
    expect(err.code).toBe('VAULT_TLS_UNTRUSTED');
    expect(err.hint).toContain('serverName');
  });

  it('reports an unreadable or malformed file by setting and path, with nothing of its contents', async () => {
    const missing = await failure(openVaultHttp(config(plain.url, { caCert: file('nope.pem') }), approleEnv));
    expect(missing.code).toBe('VAULT_TLS_FILE');
    expect(missing.message).toBe(`store.tls.caCert: ${file('nope.pem')} does not exist.`);
    expect(missing.hint).toBeTruthy();

    const viaEnv = await failure(openVaultHttp(config(plain.url), { ...approleEnv, VAULT_CACERT: file('garbage.pem') }));
    expect(viaEnv.code).toBe('VAULT_TLS_FILE');
    expect(viaEnv.message).toContain('VAULT_CACERT');
    expect(viaEnv.message).toContain('no PEM certificate');

    const emptyDir = await failure(openVaultHttp(config(plain.url, { caPath: dir + '/nodir' }), approleEnv));
    expect(emptyDir.code).toBe('VAULT_TLS_FILE');

    // The wrong key for the certificate: caught at connect, and no key material in the error.
    const mismatch = await failure(
      openVaultHttp(
        config(mtls.url, { caCert: file('ca.pem'), clientCert: file('client.pem'), clientKey: file('stranger.key') }),
        approleEnv,
      ),
    );
    expect(mismatch.code).toBe('VAULT_TLS_FILE');
    expect(mismatch.message).toContain('store.tls.clientKey');
    const key = await failure(
      openVaultHttp(
        config(mtls.url, { caCert: file('ca.pem'), clientCert: file('client.pem'), clientKey: file('client.pem') }),
        approleEnv,
      ),
    );
    expect(key.code).toBe('VAULT_TLS_FILE');
    const keyBody = readFileSync(file('stranger.key'), 'utf8').split('\n')[1]!;
    for (const e of [missing, viaEnv, emptyDir, mismatch, key]) {
      const shown = `${e.message} ${e.hint ?? ''} ${JSON.stringify(e.toJSON())}`;
      expect(shown).not.toContain('PRIVATE KEY-----');
      expect(shown).not.toContain(keyBody);
      expect(e.cause).toBeUndefined();
    }
  });

  it('a client certificate needs its key, in the config (schema) and in the environment', async () => {
    const problems = (tls: Record<string, unknown>) => {
      const out = v.safeParse(vaultStoreSchema, { provider: 'vault', tls }, parseOptions);
      return out.success ? [] : out.issues.map((i) => `${v.getDotPath(i) ?? ''}: ${i.message}`);
    };
    expect(problems({ clientCert: file('client.pem') })).toEqual(['tls.clientKey: required when clientCert is set']);
    expect(problems({ clientKey: file('client.key') })).toEqual(['tls.clientCert: required when clientKey is set']);
    expect(problems({ caCert: file('ca.pem'), caPath: file('cadir') })).toEqual(['tls.caPath: set caCert or caPath, not both']);
    expect(problems({ skipVerify: 'true' })).toEqual(['tls.skipVerify: Invalid input: expected boolean, received string']);
    const err = await failure(resolveVaultTls(undefined, { VAULT_CLIENT_CERT: file('client.pem') }));
    expect(err.code).toBe('VAULT_TLS_CONFIG');
    expect(err.message).toContain('VAULT_CLIENT_KEY');
    expect(err).toBeInstanceOf(KeyctlError);
  });
});
