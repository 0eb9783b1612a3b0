/**
 * Cryptography of the local store, on node:crypto only: AES-256-GCM with a fresh random 96-bit IV per seal, scrypt for
 * passphrases. What is sealed with what (see docs/local-store.md):
 * - the data key, under the key-encryption key (master key or scrypt(passphrase)), AAD binds the keyring's parameters;
 * - each slot version's secret fields, under the data key, AAD `keyctl:v1:<path>#<versionId>`;
 * - each whole document, under the data key, AAD `keyctl:v1:doc:<key>`.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt, type ScryptOptions } from 'node:crypto';

/** One AES-256-GCM ciphertext as stored in JSON (base64 fields). */
export interface Sealed {
  iv: string;
  tag: string;
  ct: string;
}

/** Thrown when a ciphertext does not open: wrong key, wrong AAD, or modified bytes. Callers map it to a KeyctlError. */
export class OpenFailed extends Error {
  constructor() {
    super('authentication failed');
    this.name = 'OpenFailed';
  }
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEY_BYTES = 32;

export function seal(key: Buffer, plaintext: Buffer, aad: string): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
}

export function open(key: Buffer, sealed: Sealed, aad: string): Buffer {
  const iv = Buffer.from(sealed.iv, 'base64');
  const tag = Buffer.from(sealed.tag, 'base64');
  // A truncated IV or tag would be accepted by some GCM APIs as a shorter (weaker) one: insist on full lengths.
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new OpenFailed();
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]);
  } catch {
    throw new OpenFailed();
  }
}

export function isSealed(x: unknown): x is Sealed {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  return typeof o.iv === 'string' && typeof o.tag === 'string' && typeof o.ct === 'string';
}

/** AAD of one slot version's secret fields: the record path and the version id. */
export const versionAad = (path: string, versionId: string) => `keyctl:v1:${path}#${versionId}`;
/** AAD of one whole document file: its document key (`slot/<path>`, `lock/<hex>`, `wrap/<hex>`). */
export const docAad = (key: string) => `keyctl:v1:doc:${key}`;

export function sealVersion(dataKey: Buffer, path: string, versionId: string, fields: Record<string, string>): Sealed {
  return seal(dataKey, Buffer.from(JSON.stringify(fields), 'utf8'), versionAad(path, versionId));
}

export function openVersion(dataKey: Buffer, path: string, versionId: string, sealed: Sealed): Record<string, string> {
  const fields = JSON.parse(open(dataKey, sealed, versionAad(path, versionId)).toString('utf8')) as unknown;
  if (typeof fields !== 'object' || fields === null || Object.values(fields).some((v) => typeof v !== 'string')) {
    throw new OpenFailed();
  }
  return fields as Record<string, string>;
}

// ---- keyring -------------------------------------------------------------------------------------------------------

export type Protection = 'master-key' | 'passphrase';

export interface ScryptParams {
  name: 'scrypt';
  salt: string;
  N: number;
  r: number;
  p: number;
}

export interface KeyringFile {
  format: 'keyctl-keyring/1';
  protection: Protection;
  /** Present when protection is `passphrase`. */
  kdf?: ScryptParams;
  createdAt: string;
  /** The data key, sealed under the key-encryption key. */
  dataKey: Sealed;
}

/** scrypt cost: 2^15 takes about 0.1 s and 32 MiB, the OWASP-recommended floor for interactive logins. */
export const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;

/** Bounds on stored parameters, so a doctored keyring cannot make keyctl allocate gigabytes or spin for minutes. */
function checkScrypt(params: ScryptParams): boolean {
  const { N, r, p } = params;
  return (
    Number.isInteger(N) &&
    N >= 2 ** 14 &&
    N <= 2 ** 20 &&
    (N & (N - 1)) === 0 &&
    Number.isInteger(r) &&
    r >= 1 &&
    r <= 32 &&
    Number.isInteger(p) &&
    p >= 1 &&
    p <= 16 &&
    128 * N * r <= 2 ** 28 &&
    Buffer.from(params.salt, 'base64').length >= 16
  );
}

export async function deriveKek(passphrase: string, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 128 * params.N * params.r * 2 + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), Buffer.from(params.salt, 'base64'), KEY_BYTES, options, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export function newScryptParams(): ScryptParams {
  return { name: 'scrypt', salt: randomBytes(16).toString('base64'), ...DEFAULT_SCRYPT };
}

/** The keyring's parameters are authenticated with the data key, so a swapped protection or KDF cost fails to open. */
function keyringAad(k: Pick<KeyringFile, 'format' | 'protection' | 'kdf'>): string {
  return `keyctl:v1:keyring:${JSON.stringify([k.format, k.protection, k.kdf ?? null])}`;
}

export function buildKeyring(kek: Buffer, dataKey: Buffer, protection: Protection, kdf: ScryptParams | undefined, now: Date): KeyringFile {
  const head = { format: 'keyctl-keyring/1' as const, protection, ...(kdf ? { kdf } : {}) };
  return { ...head, createdAt: now.toISOString(), dataKey: seal(kek, dataKey, keyringAad(head)) };
}

/** Parses keyring.json; returns null when its shape is wrong (the caller reports the file as corrupt). */
export function parseKeyring(raw: string): KeyringFile | null {
  let k: unknown;
  try {
    k = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof k !== 'object' || k === null) return null;
  const o = k as Record<string, unknown>;
  if (o.format !== 'keyctl-keyring/1' || !isSealed(o.dataKey) || typeof o.createdAt !== 'string') return null;
  if (o.protection === 'master-key' && o.kdf === undefined) return o as unknown as KeyringFile;
  if (o.protection === 'passphrase' && typeof o.kdf === 'object' && o.kdf !== null) {
    const kdf = o.kdf as ScryptParams;
    if (kdf.name === 'scrypt' && typeof kdf.salt === 'string' && checkScrypt(kdf)) return o as unknown as KeyringFile;
  }
  return null;
}

/** Opens the data key; throws OpenFailed when the key-encryption key is wrong or the keyring was modified. */
export function unwrapDataKey(keyring: KeyringFile, kek: Buffer): Buffer {
  const key = open(kek, keyring.dataKey, keyringAad(keyring));
  if (key.length !== KEY_BYTES) throw new OpenFailed();
  return key;
}

/** Strict base64 of exactly 32 bytes (surrounding whitespace, e.g. a trailing newline from a file, is ignored). */
export function parseMasterKey(value: string): Buffer | null {
  const s = value.trim();
  if (!/^[A-Za-z0-9+/]{43}=$/.test(s)) return null;
  const key = Buffer.from(s, 'base64');
  return key.length === KEY_BYTES ? key : null;
}
