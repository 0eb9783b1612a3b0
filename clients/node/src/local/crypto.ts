/**
 * Cryptography of the local store, on node:crypto only: AES-256-GCM with a fresh random 96-bit IV per seal, scrypt for
 * passphrases. What is sealed with what (see docs/local-store.md):
 * - the data key, under the key-encryption key (master key or scrypt(passphrase)), AAD binds the keyring's header;
 * - each slot version's secret fields, under the data key, AAD `keyctl:v1:<path>#<versionId>`;
 * - each whole document, under the data key, AAD `keyctl:v1:doc:<key>`.
 *
 * In the client package because a bot redeeming a local-store token (./tokens.ts) opens what the store sealed; the
 * store (providers/local) imports it from here, so both sides run the same code.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

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
/**
 * AAD of one whole document file: its document key (`slot/<path>`, `wrap/<hex>`) and, from format 2 on, its generation
 * (manifest.ts), so neither can be changed without detection. Format 1 files (no generation) keep their AAD.
 */
export const docAad = (key: string, gen?: number) =>
  gen === undefined ? `keyctl:v1:doc:${key}` : `keyctl:v2:doc:${JSON.stringify([key, gen])}`;

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

/** keyctl 0.1 wrote format 1 (still read); format 2 adds `check` and binds every header field (keyringAad). */
export type KeyringFormat = 'keyctl-keyring/1' | 'keyctl-keyring/2';
export const KEYRING_FORMAT: KeyringFormat = 'keyctl-keyring/2';

export interface KeyringFile {
  format: KeyringFormat;
  protection: Protection;
  /** Present when protection is `passphrase`. */
  kdf?: ScryptParams;
  createdAt: string;
  /** Format 2: HMAC-SHA256(key-encryption key, CHECK_LABEL), so a right secret on an edited keyring reads as corrupt. */
  check?: string;
  /** The data key, sealed under the key-encryption key. */
  dataKey: Sealed;
}

/**
 * scrypt cost: 2^15 takes about 0.1 s and 32 MiB, the OWASP-recommended floor for interactive logins. Both keyring
 * formats pin it: keyctl has never written another, so any other cost is an edit (a lower one a downgrade).
 */
export const DEFAULT_SCRYPT = { N: 2 ** 15, r: 8, p: 1 } as const;
const CHECK_LABEL = 'keyctl:v2:keyring-check';

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

/** Key check value of a key-encryption key: tells a wrong secret from an edited keyring (no cheaper than unwrapping). */
export function kekCheck(kek: Buffer): string {
  return createHmac('sha256', kek).update(CHECK_LABEL).digest('base64');
}

/** True when `kek` is the key this (format 2) keyring was made with, whatever else in the file was changed. */
export function kekMatches(keyring: KeyringFile, kek: Buffer): boolean {
  if (keyring.check === undefined) return false;
  const want = Buffer.from(keyring.check, 'base64');
  const got = Buffer.from(kekCheck(kek), 'base64');
  return want.length === got.length && timingSafeEqual(want, got);
}

/**
 * The keyring's header is authenticated as the AAD of the sealed data key, so an edited protection mode, KDF
 * parameter, date or check value fails to open even with the right key-encryption key.
 */
function keyringAad(k: Omit<KeyringFile, 'dataKey'>): string {
  if (k.format === 'keyctl-keyring/1') return `keyctl:v1:keyring:${JSON.stringify([k.format, k.protection, k.kdf ?? null])}`;
  // Listed field by field, so the AAD does not depend on the order of keys in the file.
  const kdf = k.kdf ? [k.kdf.name, k.kdf.salt, k.kdf.N, k.kdf.r, k.kdf.p] : null;
  return `keyctl:v2:keyring:${JSON.stringify([k.format, k.protection, kdf, k.createdAt, k.check ?? null])}`;
}

export function buildKeyring(kek: Buffer, dataKey: Buffer, protection: Protection, kdf: ScryptParams | undefined, now: Date): KeyringFile {
  const head = { format: KEYRING_FORMAT, protection, ...(kdf ? { kdf } : {}), createdAt: now.toISOString(), check: kekCheck(kek) };
  return { ...head, dataKey: seal(kek, dataKey, keyringAad(head)) };
}

const hasExactly = (o: object, keys: string[]) => Object.keys(o).length === keys.length && keys.every((k) => k in o);
const B64_16 = /^[A-Za-z0-9+/]{22}==$/;
const B64_32 = /^[A-Za-z0-9+/]{43}=$/;

/** Only the parameters keyctl writes: a 16-byte salt and the pinned cost, nothing more. */
function isScryptParams(x: unknown): x is ScryptParams {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const o = x as Record<string, unknown>;
  return (
    hasExactly(o, ['name', 'salt', 'N', 'r', 'p']) &&
    o.name === 'scrypt' &&
    typeof o.salt === 'string' &&
    B64_16.test(o.salt) &&
    o.N === DEFAULT_SCRYPT.N &&
    o.r === DEFAULT_SCRYPT.r &&
    o.p === DEFAULT_SCRYPT.p
  );
}

/**
 * Parses keyring.json; returns null when it is not exactly what keyctl writes (the caller reports the file as
 * corrupt): unknown or missing fields, another scrypt cost, a kdf on a master-key keyring.
 */
export function parseKeyring(raw: string): KeyringFile | null {
  let k: unknown;
  try {
    k = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof k !== 'object' || k === null || Array.isArray(k)) return null;
  const o = k as Record<string, unknown>;
  const v2 = o.format === 'keyctl-keyring/2';
  if (!v2 && o.format !== 'keyctl-keyring/1') return null;
  if (!isSealed(o.dataKey) || !hasExactly(o.dataKey, ['iv', 'tag', 'ct']) || typeof o.createdAt !== 'string') return null;
  if (v2 && !(typeof o.check === 'string' && B64_32.test(o.check))) return null;
  const fields = ['format', 'protection', 'createdAt', 'dataKey', ...(v2 ? ['check'] : [])];
  if (o.protection === 'master-key' && hasExactly(o, fields)) return o as unknown as KeyringFile;
  if (o.protection === 'passphrase' && hasExactly(o, [...fields, 'kdf']) && isScryptParams(o.kdf)) return o as unknown as KeyringFile;
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
