/**
 * TLS to Vault: which CAs to trust, which client certificate to present, which name to verify. Settings come from
 * `store.tls` in keyctl.yaml and, for each one the config omits, from the variable the Vault CLI reads (so one
 * environment configures both the same way). Files are read here, once, at connect; anything missing or malformed is a
 * ProviderError (`VAULT_TLS_FILE`) naming the setting and the file, never a silent fallback to weaker checking.
 *
 * Verification is off only when asked for explicitly: `tls.skipVerify: true`, or VAULT_SKIP_VERIFY set to exactly
 * `true` or `1` while the config says nothing. Any other value (`false`, `0`, `yes`, empty) leaves it on. Nothing
 * here ever puts file contents (a private key) into an error.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ProviderError } from '@keyctl/client/errors';
import type { VaultTlsConfig } from '../../src/config/schema.js';

/** What the HTTPS agent gets: PEM text, never paths. */
export interface VaultTls {
  /** Trusted CAs (each one PEM certificate); undefined: Node's built-in roots. */
  ca?: string[];
  cert?: string;
  key?: string;
  /** Name to verify the server certificate against, and to send as SNI. */
  servername?: string;
  /** False only when skip-verify was asked for explicitly. */
  rejectUnauthorized: boolean;
}

/** One setting, where it came from (for messages): `store.tls.caCert` or `VAULT_CACERT`. */
interface Source {
  value: string;
  setting: string;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** VAULT_SKIP_VERIFY counts only as `true` or `1`; anything else keeps verification on. */
export function envSkipVerify(env: NodeJS.ProcessEnv): boolean {
  const value = env.VAULT_SKIP_VERIFY;
  return value === 'true' || value === '1';
}

/**
 * Resolves the TLS settings and reads their files. The CA pair and the client pair are each taken as a unit: from the
 * config when it sets either member, else from the environment, so a config's `caPath` is never overridden by a stray
 * VAULT_CACERT. Within one source, a CA file wins over a CA directory, as in the Vault CLI (the config schema refuses
 * both at once).
 */
export async function resolveVaultTls(config: VaultTlsConfig | undefined, env: NodeJS.ProcessEnv): Promise<VaultTls> {
  const fromConfig = (key: keyof VaultTlsConfig & string): Source | undefined => {
    const value = config?.[key];
    return typeof value === 'string' && value !== '' ? { value, setting: `store.tls.${key}` } : undefined;
  };
  const fromEnv = (name: string): Source | undefined => {
    const value = env[name];
    return value ? { value, setting: name } : undefined;
  };

  const configCa = fromConfig('caCert') ?? fromConfig('caPath');
  let caFile: Source | undefined;
  let caDir: Source | undefined;
  if (configCa) {
    caFile = fromConfig('caCert');
    caDir = caFile ? undefined : fromConfig('caPath');
  } else {
    caFile = fromEnv('VAULT_CACERT');
    caDir = caFile ? undefined : fromEnv('VAULT_CAPATH');
  }

  let certSrc: Source | undefined;
  let keySrc: Source | undefined;
  if (fromConfig('clientCert') || fromConfig('clientKey')) {
    certSrc = fromConfig('clientCert');
    keySrc = fromConfig('clientKey');
  } else {
    certSrc = fromEnv('VAULT_CLIENT_CERT');
    keySrc = fromEnv('VAULT_CLIENT_KEY');
  }
  if ((certSrc === undefined) !== (keySrc === undefined)) {
    const have = (certSrc ?? keySrc)!.setting;
    const inConfig = have.startsWith('store.');
    const missing = certSrc
      ? inConfig
        ? 'store.tls.clientKey'
        : 'VAULT_CLIENT_KEY'
      : inConfig
        ? 'store.tls.clientCert'
        : 'VAULT_CLIENT_CERT';
    throw new ProviderError('VAULT_TLS_CONFIG', `${have} is set but ${missing} is not: a client certificate needs its key.`, {
      hint: 'Set both the client certificate and its private key (store.tls.clientCert and clientKey, or VAULT_CLIENT_CERT and VAULT_CLIENT_KEY), or neither.',
    });
  }

  const serverName = fromConfig('serverName')?.value ?? (env.VAULT_TLS_SERVER_NAME || undefined);
  const skipVerify = config?.skipVerify ?? envSkipVerify(env);

  const tls: VaultTls = { rejectUnauthorized: !skipVerify };
  if (caFile) tls.ca = await readCaFile(caFile);
  else if (caDir) tls.ca = await readCaDir(caDir);
  if (certSrc && keySrc) {
    const cert = await readPem(certSrc, 'client certificate');
    const key = await readPem(keySrc, 'client key');
    checkClientPair(cert, certSrc, key, keySrc);
    tls.cert = cert;
    tls.key = key;
  }
  if (serverName) tls.servername = serverName;
  return tls;
}

function fileError(src: Source, file: string, problem: string, hint: string): ProviderError {
  return new ProviderError('VAULT_TLS_FILE', `${src.setting}: ${file} ${problem}.`, {
    hint,
    details: { setting: src.setting, file },
  });
}

async function readPem(src: Source, what: string, file = src.value): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw fileError(src, file, unreadable(err), `Point ${src.setting} at the PEM ${what} file, readable by the user keyctl runs as.`);
  }
}

/** Why a file could not be read, in words for an error message (never its contents). */
export function unreadable(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'is not readable by this user';
  if (code === 'EISDIR') return 'is a directory, not a file';
  return `cannot be read (${typeof code === 'string' ? code : 'error'})`;
}

function certificatesIn(src: Source, file: string, text: string): string[] {
  const blocks = text.match(PEM_CERT) ?? [];
  if (blocks.length === 0) {
    throw fileError(src, file, 'holds no PEM certificate', `Point ${src.setting} at a PEM file with "-----BEGIN CERTIFICATE-----" blocks.`);
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      throw fileError(
        src,
        file,
        'holds a certificate that cannot be parsed',
        `Replace it with a valid PEM certificate (check it with \`openssl x509 -in ${file} -noout -text\`).`,
      );
    }
  }
  return blocks;
}

async function readCaFile(src: Source): Promise<string[]> {
  return certificatesIn(src, src.value, await readPem(src, 'CA certificate'));
}

async function readCaDir(src: Source): Promise<string[]> {
  let names: string[];
  try {
    const entries = await readdir(src.value, { withFileTypes: true });
    // Symbolic links count too (an OpenSSL-style directory is often links); readFile follows them.
    names = entries
      .filter((e) => (e.isFile() || e.isSymbolicLink()) && /\.(pem|crt)$/i.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const problem = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory' : 'cannot be listed by this user';
    throw fileError(src, src.value, problem, `Point ${src.setting} at a directory of PEM CA certificates (*.pem, *.crt).`);
  }
  if (names.length === 0) {
    throw fileError(
      src,
      src.value,
      'holds no *.pem or *.crt file',
      `Put the CA certificates Vault's certificate chains to in ${src.value} as *.pem or *.crt files, or use caCert / VAULT_CACERT for one bundle.`,
    );
  }
  const ca: string[] = [];
  for (const name of names) {
    const file = join(src.value, name);
    ca.push(...certificatesIn(src, file, await readPem(src, 'CA certificate', file)));
  }
  return ca;
}

/** Fails at connect, naming the files, rather than at the first handshake with an OpenSSL message. */
function checkClientPair(cert: string, certSrc: Source, key: string, keySrc: Source): void {
  const [leaf] = certificatesIn(certSrc, certSrc.value, cert);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw fileError(
      keySrc,
      keySrc.value,
      'is not an unencrypted PEM private key',
      'keyctl reads the client key without a passphrase: give it the unencrypted PEM key (keep the file mode 0600), e.g. `openssl pkey -in enc.key -out client.key`.',
    );
  }
  if (!new X509Certificate(leaf!).checkPrivateKey(privateKey)) {
    throw fileError(
      keySrc,
      keySrc.value,
      `is not the key of the certificate in ${certSrc.value}`,
      `Set ${keySrc.setting} to the private key that belongs to ${certSrc.setting}.`,
    );
  }
}
