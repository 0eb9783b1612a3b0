/**
 * Single-use tokens of the local store (`keyctl issue`), redeemable by a bot that holds neither the store's master
 * key nor a config file: only the token and read/write access to `<store>/tokens` (same host, same user).
 * The protocol (docs/delivery.md, "Local-store tokens: format and claim protocol"; a Python client implements it too):
 *
 * - Token: `t1.<b64url(absolute store dir)>.<b64url(16-byte id)>.<b64url(32-byte one-time key K)>`. The issuer keeps
 *   no copy of K: the record is useless without the token.
 * - Record `<store>/tokens/<idhex>.json`: the value sealed under K, plus an `audit` blob sealed under the store's data
 *   key that names the slot and carries the receipt key HMAC(K, 'keyctl:token-receipt-key/1').
 * - Claim: rename(`<id>.json`, `<id>.claimed`); the first redeemer wins. It then writes a receipt `<id>.<rand>.receipt`
 *   with a proof (an HMAC under the receipt key, so only a holder of K can make it), removes the claimed record, and
 *   only then returns the value. The bot cannot write the audit log (that needs the data key): the next keyctl command
 *   that opens the store turns receipts and expired records into audit entries (settleLocalTokens).
 *
 * Light on purpose: the client library loads this module in local-token mode, so it imports only node built-ins,
 * the store's file and crypto primitives, and the error types (no config, no provider registry).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open as openFile, readdir, rename } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { InternalError, ProviderError, UsageError } from '../errors.js';
import { KEY_BYTES, OpenFailed, isSealed, open, seal, type Sealed } from './crypto.js';
import { NOT_A_FILE, createExclusive, isErrno, isNotAFile, removeFile, secureDir } from './files.js';

export const TOKENS_DIR = 'tokens';

/** What the audit entries of a token name: the slot and the key's fingerprint (never the key). */
export interface TokenLabel {
  ref?: string;
  fingerprint?: string;
}

/** One audit entry for settleLocalTokens' caller to write. */
export interface TokenSettlement {
  command: 'token.redeem' | 'token.expire';
  outcome: 'ok' | 'failed';
  ref?: string;
  fingerprint?: string;
  detail: Record<string, unknown>;
}

const TOKEN_VERSION = 't1';
const RECORD_FORMAT = 'keyctl-token/1';
const RECEIPT_FORMAT = 'keyctl-token-receipt/1';
const VALUE_AAD = 'keyctl:token/1:';
const AUDIT_AAD = 'keyctl:token-audit/1:';
const RECEIPT_KEY_LABEL = 'keyctl:token-receipt-key/1';
const ID_BYTES = 16;
/**
 * Settling waits this long past expiresAt before it calls a record expired or a claim abandoned: a redeemer that
 * claimed just before expiry may still be writing its receipt.
 */
const SETTLE_GRACE_MS = 60_000;
/** Caps on what is read from the tokens directory: a planted huge file must not exhaust memory. */
const MAX_RECORD_BYTES = 64 * 1024;
const MAX_RECEIPT_BYTES = 16 * 1024;
/** Largest value a token carries (credentials are a few hundred bytes), so every record stays under the cap. */
const MAX_VALUE_BYTES = 16 * 1024;
const MAX_DIR_BYTES = 4096;

const RECORD_NAME = /^([0-9a-f]{32})\.json$/;
const CLAIMED_NAME = /^([0-9a-f]{32})\.claimed$/;
const RECEIPT_NAME = /^([0-9a-f]{32})\.([0-9a-f]{8})\.receipt$/;
const B64URL = /^[A-Za-z0-9_-]+$/;
const B64_IV = /^[A-Za-z0-9+/]{16}$/;
const B64_TAG = /^[A-Za-z0-9+/]{22}==$/;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const B64_32 = /^[A-Za-z0-9+/]{43}=$/;

type Outcome = 'redeemed' | 'expired' | 'refused';

interface TokenRecord {
  format: typeof RECORD_FORMAT;
  id: string;
  issuedAt: string;
  expiresAt: string;
  iv: string;
  tag: string;
  ct: string;
  audit: Sealed;
}

interface AuditBlob {
  receiptKey: string;
  ref?: string;
  fingerprint?: string;
  issuedAt: string;
  expiresAt: string;
}

interface Receipt {
  format: typeof RECEIPT_FORMAT;
  id: string;
  outcome: Outcome;
  at: string;
  pid: number;
  uid: number | null;
  host: string;
  audit: Sealed;
  proof: string;
}

// Windows has neither flag (files.ts explains why that is acceptable there).
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;

/** Used, expired, unknown, wrong key, missing store: one error, so a caller learns nothing by trying tokens. */
function invalid(): ProviderError {
  return new ProviderError('WRAP_INVALID', 'This token is unknown, already used or expired.', {
    hint: 'Tokens are single-use and short-lived: ask for a new one with `keyctl issue`.',
  });
}

const valueAad = (id: string, issuedAt: string, expiresAt: string) => VALUE_AAD + JSON.stringify([id, issuedAt, expiresAt]);
const auditAad = (id: string) => `${AUDIT_AAD}${id}`;
const receiptKeyOf = (k: Buffer) => createHmac('sha256', k).update(RECEIPT_KEY_LABEL).digest();
const proofOf = (receiptKey: Buffer, r: Pick<Receipt, 'id' | 'outcome' | 'at' | 'pid' | 'uid' | 'host'>) =>
  createHmac('sha256', receiptKey)
    .update(JSON.stringify([r.id, r.outcome, r.at, r.pid, r.uid, r.host]))
    .digest('base64');

// ---- issue ---------------------------------------------------------------------------------------------------------

/** Writes the token record under <storeDir>/tokens and returns the store token (the part after `kct1.local.`). */
export async function issueLocalToken(o: {
  storeDir: string;
  dataKey: Buffer;
  value: string;
  ttlMs: number;
  now: number;
  label?: TokenLabel;
}): Promise<string> {
  if (!Number.isFinite(o.now)) throw new InternalError('issueLocalToken needs the current time in ms.');
  if (!(o.ttlMs > 0) || !Number.isFinite(o.ttlMs)) throw new UsageError('INVALID_TTL', 'A token TTL must be a positive number of ms.');
  if (o.dataKey.length !== KEY_BYTES) throw new InternalError('issueLocalToken needs the store data key (32 bytes).');
  if (Buffer.byteLength(o.value, 'utf8') > MAX_VALUE_BYTES) {
    throw new UsageError('TOKEN_VALUE_TOO_LARGE', `A local-store token carries at most ${MAX_VALUE_BYTES} bytes.`);
  }
  const storeDir = resolve(o.storeDir);
  const dirBytes = Buffer.from(storeDir, 'utf8');
  if (dirBytes.length > MAX_DIR_BYTES || storeDir.includes('\0')) {
    throw new UsageError('STORE_PATH_UNUSABLE', 'The store path is too long to go into a token.');
  }
  const tokensDir = join(storeDir, TOKENS_DIR);
  await secureDir(tokensDir, { create: true });

  const idBytes = randomBytes(ID_BYTES);
  const id = idBytes.toString('hex');
  const k = randomBytes(KEY_BYTES);
  const receiptKey = receiptKeyOf(k);
  try {
    const issuedAt = new Date(o.now).toISOString();
    const expiresAt = new Date(o.now + o.ttlMs).toISOString();
    const audit: AuditBlob = {
      receiptKey: receiptKey.toString('base64'),
      ...(typeof o.label?.ref === 'string' ? { ref: o.label.ref } : {}),
      ...(typeof o.label?.fingerprint === 'string' ? { fingerprint: o.label.fingerprint } : {}),
      issuedAt,
      expiresAt,
    };
    const record: TokenRecord = {
      format: RECORD_FORMAT,
      id,
      issuedAt,
      expiresAt,
      ...seal(k, Buffer.from(o.value, 'utf8'), valueAad(id, issuedAt, expiresAt)),
      audit: seal(o.dataKey, Buffer.from(JSON.stringify(audit), 'utf8'), auditAad(id)),
    };
    // Temp file + link(2): the record appears whole or not at all, so a redeemer never claims half a file.
    if (!(await createExclusive(tokensDir, `${id}.json`, `${JSON.stringify(record)}\n`))) {
      throw new InternalError('A fresh random token id is already in use.');
    }
    return [TOKEN_VERSION, dirBytes.toString('base64url'), idBytes.toString('base64url'), k.toString('base64url')].join('.');
  } finally {
    // K leaves only inside the returned string; the issuer keeps no copy.
    k.fill(0);
    receiptKey.fill(0);
  }
}

// ---- redeem --------------------------------------------------------------------------------------------------------

/** Redeems a store token: no data key, no config. Throws ProviderError WRAP_INVALID (one message for used, expired, unknown, wrong key, missing store). */
export async function redeemLocalToken(storeToken: string, o?: { now?: () => number }): Promise<string> {
  const now = o?.now ?? Date.now;
  const parsed = parseStoreToken(storeToken);
  if (!parsed) throw invalid();
  const { storeDir, id, k } = parsed;
  try {
    const tokensDir = join(storeDir, TOKENS_DIR);
    await checkTokensDir(storeDir, tokensDir);

    const recordFile = join(tokensDir, `${id}.json`);
    const claimedFile = join(tokensDir, `${id}.claimed`);
    try {
      // The claim: rename(2) is atomic, so of any number of concurrent redeemers exactly one moves the record.
      await rename(recordFile, claimedFile);
    } catch (err) {
      // ENOENT: used, unknown or never issued. The others: something planted at `<id>.claimed` (a directory, say).
      if (['ENOENT', 'EISDIR', 'ENOTDIR', 'ENOTEMPTY', 'EEXIST'].some((code) => isErrno(err, code))) throw invalid();
      if (isErrno(err, 'EACCES') || isErrno(err, 'EPERM')) throw denied(tokensDir);
      throw err;
    }

    let record: TokenRecord | null;
    try {
      const text = await readCapped(claimedFile, MAX_RECORD_BYTES);
      record = text === null ? null : parseRecord(text, id);
    } catch (err) {
      // A symlink or other non-file planted at the name is never followed; a record gone again is simply unknown.
      if (isNotAFile(err) || isErrno(err, 'ENOENT')) throw invalid();
      throw err;
    }
    // Not what keyctl writes: left where it is for settleLocalTokens to report (no receipt: it has no audit blob).
    if (!record) throw invalid();

    let value: Buffer | null = null;
    let outcome: Outcome;
    try {
      value = open(k, record, valueAad(record.id, record.issuedAt, record.expiresAt));
      outcome = Date.parse(record.expiresAt) > now() ? 'redeemed' : 'expired';
    } catch (err) {
      if (!(err instanceof OpenFailed)) throw err;
      outcome = 'refused';
    }
    try {
      await writeReceipt(tokensDir, record, k, outcome, now());
      // The receipt is durable: only now may the claimed record go (settling needs one or the other).
      await removeFile(tokensDir, `${id}.claimed`);
      if (outcome !== 'redeemed' || value === null) throw invalid();
      return value.toString('utf8');
    } finally {
      value?.fill(0);
    }
  } finally {
    k.fill(0);
  }
}

/** Strict parse of the store token: exact lengths, canonical base64url, an absolute normalized path. Null otherwise. */
function parseStoreToken(token: string): { storeDir: string; id: string; k: Buffer } | null {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length !== 4 || parts[0] !== TOKEN_VERSION) return null;
  const dirBytes = b64url(parts[1] ?? '', undefined);
  const idBytes = b64url(parts[2] ?? '', ID_BYTES);
  const k = b64url(parts[3] ?? '', KEY_BYTES);
  if (!dirBytes || !idBytes || !k || dirBytes.length > MAX_DIR_BYTES) return null;
  let storeDir: string;
  try {
    storeDir = new TextDecoder('utf-8', { fatal: true }).decode(dirBytes);
  } catch {
    return null;
  }
  if (storeDir.includes('\0') || !isAbsolute(storeDir) || resolve(storeDir) !== storeDir) return null;
  return { storeDir, id: idBytes.toString('hex'), k };
}

/** Decodes unpadded base64url only when the text is its canonical encoding (and `bytes` long, when given). */
function b64url(text: string, bytes: number | undefined): Buffer | null {
  if (!B64URL.test(text)) return null;
  const buf = Buffer.from(text, 'base64url');
  if (buf.length === 0 || (bytes !== undefined && buf.length !== bytes) || buf.toString('base64url') !== text) return null;
  return buf;
}

/**
 * The tokens directory must be a real directory (not a symlink) owned by this user and not writable by group or
 * others, in a store directory that passes the same test (a symlink as the store root is followed, as the store does):
 * anyone else who can write there could swap a record for one of theirs, or read receipts as they appear.
 */
async function checkTokensDir(storeDir: string, tokensDir: string): Promise<void> {
  try {
    const st = await lstat(tokensDir);
    if (st.isSymbolicLink()) throw insecure(tokensDir, 'is a symbolic link', `Remove ${tokensDir}; keyctl creates a real directory there.`);
    if (!st.isDirectory()) throw insecure(tokensDir, 'is not a directory', `Remove ${tokensDir}; keyctl creates a real directory there.`);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw invalid();
    if (isErrno(err, 'EACCES') || isErrno(err, 'EPERM')) throw denied(tokensDir);
    throw err;
  }
  await checkOwnership(storeDir, false);
  await checkOwnership(tokensDir, true);
}

async function checkOwnership(dir: string, noFollow: boolean): Promise<void> {
  let fh;
  try {
    // Checked through a descriptor, so what is checked is what the open found.
    fh = await openFile(dir, constants.O_RDONLY | O_DIRECTORY | (noFollow ? O_NOFOLLOW : 0));
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw invalid();
    if (isErrno(err, 'ELOOP') || isErrno(err, 'ENOTDIR')) {
      throw insecure(dir, 'is a symbolic link or not a directory', `Remove ${dir}; keyctl creates a real directory there.`);
    }
    if (isErrno(err, 'EACCES') || isErrno(err, 'EPERM')) throw denied(dir);
    throw err;
  }
  try {
    const st = await fh.stat();
    const uid = process.getuid?.();
    if (uid === undefined) return; // Windows: no POSIX owner or mode.
    if (st.uid !== uid) {
      throw insecure(
        dir,
        `belongs to uid ${st.uid}, not to the user redeeming the token (uid ${uid})`,
        "Redeem local-store tokens as the user that owns the store (keyctl's user). A bot under another user cannot use them: start it with `keyctl exec --user <name> --fd 3` instead.",
      );
    }
    if ((st.mode & 0o022) !== 0) {
      const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
      throw insecure(
        dir,
        `is writable by other users (mode ${mode}): they could replace token records`,
        `Check that nobody else changed files in it, then run \`chmod 700 ${dir}\` and issue a new token.`,
      );
    }
  } finally {
    await fh.close();
  }
}

function insecure(dir: string, what: string, hint: string): ProviderError {
  return new ProviderError('TOKEN_STORE_INSECURE', `The token's store directory ${dir} ${what}; keyctl refuses to redeem a token there.`, {
    hint,
    details: { dir },
  });
}

function denied(dir: string): ProviderError {
  return new ProviderError('TOKEN_STORE_DENIED', `This process (uid ${process.getuid?.() ?? '?'}) cannot use ${dir}.`, {
    hint: "Local-store tokens are redeemed by the user that owns the store (keyctl's user), on its host. For a bot under another user use `keyctl exec --user <name> --fd 3`.",
    details: { dir },
  });
}

async function writeReceipt(tokensDir: string, record: TokenRecord, k: Buffer, outcome: Outcome, at: number): Promise<void> {
  const receiptKey = receiptKeyOf(k);
  try {
    const base = {
      id: record.id,
      outcome,
      at: new Date(at).toISOString(),
      pid: process.pid,
      uid: process.getuid?.() ?? null,
      host: hostname(),
    };
    const receipt: Receipt = { format: RECEIPT_FORMAT, ...base, audit: record.audit, proof: proofOf(receiptKey, base) };
    const text = `${JSON.stringify(receipt)}\n`;
    // Temp file + link(2): a settler never sees (and never drops as malformed) half a receipt.
    for (let attempt = 0; attempt < 4; attempt += 1) {
      if (await createExclusive(tokensDir, `${record.id}.${randomBytes(4).toString('hex')}.receipt`, text)) return;
    }
    throw new Error('no free receipt name');
  } catch (err) {
    // The token is used up (claimed), but without a receipt its use would never reach the audit log: fail closed.
    throw new ProviderError('TOKEN_RECEIPT_FAILED', `Could not write the token's receipt in ${tokensDir}; the key was not released.`, {
      hint: 'Check free space and permissions of the store directory, then ask for a new token with `keyctl issue`.',
      cause: err,
    });
  } finally {
    receiptKey.fill(0);
  }
}

// ---- settle --------------------------------------------------------------------------------------------------------

/** Called by any keyctl command that holds the data key: turns receipts and expired records into audit entries, removing each file only after `record` resolved. Returns how many were settled. */
export async function settleLocalTokens(o: {
  storeDir: string;
  dataKey: Buffer;
  now: number;
  record: (s: TokenSettlement) => Promise<void>;
}): Promise<number> {
  const tokensDir = join(resolve(o.storeDir), TOKENS_DIR);
  if ((await secureDir(tokensDir, { create: false })) === 'missing') return 0;
  const names = (await readdir(tokensDir)).sort();
  let settled = 0;
  // Each file leaves only after its audit entry was written: a crash in between repeats an entry, never loses one.
  const settle = async (s: TokenSettlement, ...remove: string[]) => {
    await o.record(s);
    for (const name of remove) await removeFile(tokensDir, name);
    settled += 1;
  };

  // Receipts, oldest first: the second and later receipt of one token are replays of a restored record.
  const receipts: { name: string; id: string; receipt: Receipt | null }[] = [];
  for (const name of names) {
    const m = RECEIPT_NAME.exec(name);
    if (!m?.[1]) continue;
    const text = await readIgnoringNonFiles(join(tokensDir, name), MAX_RECEIPT_BYTES);
    if (text === undefined) continue;
    receipts.push({ name, id: m[1], receipt: text === null ? null : parseReceipt(text, m[1]) });
  }
  receipts.sort((a, b) => (a.receipt?.at ?? '').localeCompare(b.receipt?.at ?? '') || a.name.localeCompare(b.name));
  const seen = new Set<string>();
  for (const { name, id, receipt } of receipts) {
    const replayed = seen.has(id);
    seen.add(id);
    // A crashed redeemer may have left its claimed record behind the receipt; the receipt accounts for it.
    const leftovers = [name, `${id}.claimed`];
    if (!receipt) {
      await settle(
        { command: 'token.redeem', outcome: 'failed', detail: { tokenId: id.slice(0, 16), proof: 'unverifiable', problem: 'malformed' } },
        ...leftovers,
      );
      continue;
    }
    const audit = openAudit(o.dataKey, id, receipt.audit);
    let proof: 'valid' | 'invalid' | 'unverifiable' = 'unverifiable';
    if (audit) {
      const want = Buffer.from(proofOf(Buffer.from(audit.receiptKey, 'base64'), receipt), 'base64');
      const got = Buffer.from(receipt.proof, 'base64');
      proof = got.length === want.length && timingSafeEqual(got, want) ? 'valid' : 'invalid';
    }
    const ok = proof === 'valid' && receipt.outcome === 'redeemed' && !replayed;
    await settle(
      {
        command: 'token.redeem',
        outcome: ok ? 'ok' : 'failed',
        ...label(audit),
        detail: {
          tokenId: id.slice(0, 16),
          outcome: receipt.outcome,
          at: receipt.at,
          pid: receipt.pid,
          uid: receipt.uid,
          host: receipt.host,
          proof,
          ...(replayed ? { replayed: true } : {}),
        },
      },
      ...leftovers,
    );
  }

  // Claimed records with no receipt past expiry + grace: a redeemer stopped between claim and receipt.
  // Unclaimed records past expiry + grace: the token was never redeemed.
  for (const name of names) {
    const claimed = CLAIMED_NAME.exec(name);
    const unclaimed = RECORD_NAME.exec(name);
    const id = claimed?.[1] ?? unclaimed?.[1];
    // A claimed record whose receipt was just settled is gone already; a restored `.json` copy is settled on its own.
    if (!id || (claimed && seen.has(id))) continue;
    const command = claimed ? 'token.redeem' : 'token.expire';
    const text = await readIgnoringNonFiles(join(tokensDir, name), MAX_RECORD_BYTES);
    if (text === undefined) continue;
    const record = text === null ? null : parseRecord(text, id);
    if (!record) {
      await settle({ command, outcome: 'failed', detail: { tokenId: id.slice(0, 16), problem: 'malformed' } }, name);
      continue;
    }
    if (o.now <= Date.parse(record.expiresAt) + SETTLE_GRACE_MS) continue;
    const audit = openAudit(o.dataKey, id, record.audit);
    const matches = audit !== null && audit.issuedAt === record.issuedAt && audit.expiresAt === record.expiresAt;
    const detail: Record<string, unknown> = {
      tokenId: id.slice(0, 16),
      issuedAt: record.issuedAt,
      expiresAt: record.expiresAt,
      ...(claimed ? { outcome: 'unknown' } : {}),
      ...(audit === null ? { audit: 'unverifiable' } : matches ? {} : { audit: 'mismatch' }),
    };
    await settle({ command, outcome: !claimed && matches ? 'ok' : 'failed', ...label(audit), detail }, name);
  }
  return settled;
}

const label = (audit: AuditBlob | null) => ({
  ...(audit?.ref !== undefined ? { ref: audit.ref } : {}),
  ...(audit?.fingerprint !== undefined ? { fingerprint: audit.fingerprint } : {}),
});

function openAudit(dataKey: Buffer, id: string, sealed: Sealed): AuditBlob | null {
  let raw: unknown;
  try {
    raw = JSON.parse(open(dataKey, sealed, auditAad(id)).toString('utf8'));
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const a = raw as Record<string, unknown>;
  const allowed = ['receiptKey', 'ref', 'fingerprint', 'issuedAt', 'expiresAt'];
  if (Object.keys(a).some((key) => !allowed.includes(key))) return null;
  if (typeof a.receiptKey !== 'string' || !B64_32.test(a.receiptKey) || !isIso(a.issuedAt) || !isIso(a.expiresAt)) return null;
  if ((a.ref !== undefined && typeof a.ref !== 'string') || (a.fingerprint !== undefined && typeof a.fingerprint !== 'string')) return null;
  return a as unknown as AuditBlob;
}

// ---- file formats --------------------------------------------------------------------------------------------------

const hasExactly = (o: object, keys: string[]) => Object.keys(o).length === keys.length && keys.every((k) => k in o);
const isIso = (x: unknown): x is string => typeof x === 'string' && !Number.isNaN(Date.parse(x)) && new Date(x).toISOString() === x;
const isStrictSealed = (x: unknown): x is Sealed =>
  isSealed(x) && hasExactly(x, ['iv', 'tag', 'ct']) && B64_IV.test(x.iv) && B64_TAG.test(x.tag) && B64.test(x.ct);

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Exactly what issueLocalToken writes, for this id; null otherwise. */
function parseRecord(text: string, id: string): TokenRecord | null {
  const r = parseObject(text);
  if (!r || !hasExactly(r, ['format', 'id', 'issuedAt', 'expiresAt', 'iv', 'tag', 'ct', 'audit'])) return null;
  if (r.format !== RECORD_FORMAT || r.id !== id || !isIso(r.issuedAt) || !isIso(r.expiresAt)) return null;
  const { iv, tag, ct } = r;
  if (!isStrictSealed({ iv, tag, ct }) || !isStrictSealed(r.audit)) return null;
  return r as unknown as TokenRecord;
}

/** Exactly what a redeemer writes, for this id; null otherwise. */
function parseReceipt(text: string, id: string): Receipt | null {
  const r = parseObject(text);
  if (!r || !hasExactly(r, ['format', 'id', 'outcome', 'at', 'pid', 'uid', 'host', 'audit', 'proof'])) return null;
  if (r.format !== RECEIPT_FORMAT || r.id !== id || !isIso(r.at)) return null;
  if (r.outcome !== 'redeemed' && r.outcome !== 'expired' && r.outcome !== 'refused') return null;
  if (!Number.isSafeInteger(r.pid) || !(r.uid === null || Number.isSafeInteger(r.uid)) || typeof r.host !== 'string') return null;
  if (!isStrictSealed(r.audit) || typeof r.proof !== 'string' || !B64_32.test(r.proof)) return null;
  return r as unknown as Receipt;
}

/**
 * Reads a regular file without following a symlink at its name (O_NOFOLLOW; a FIFO does not block: O_NONBLOCK), as
 * readNoFollow in files.ts does, but never more than `max` bytes. Null when the file is larger (malformed); a
 * non-file throws (see isNotAFile).
 */
async function readCapped(file: string, max: number): Promise<string | null> {
  const fh = await openFile(file, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: NOT_A_FILE });
    if (st.size > max) return null;
    const buf = Buffer.alloc(max + 1);
    const { bytesRead } = await fh.read(buf, 0, max + 1, 0);
    return bytesRead > max ? null : buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** readCapped for settling: undefined for a name that is gone or holds something other than a regular file (never followed, left alone). */
async function readIgnoringNonFiles(file: string, max: number): Promise<string | null | undefined> {
  try {
    return await readCapped(file, max);
  } catch (err) {
    if (isNotAFile(err) || isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}
