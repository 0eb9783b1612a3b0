/**
 * keyctl's stage bookkeeping on Vault: an authoritative **stage record** per path, and a **mirror** of it in the KV
 * secret's `custom_metadata` for readers that may only read data (bots).
 *
 * The record is a KV v2 *data* secret, `<prefix>/_stages/<path>`, whose latest version holds (as one JSON field
 * `record`) the stage pointers, each version's metadata, the idempotency keys and the path's deletion floor. Every
 * change is a data write with `options.cas` = the version read, so Vault itself refuses a stale writer ("check-and-set
 * parameter did not match the current version", vault-plugin-secrets-kv path_data.go, pathDataWrite), whatever that
 * writer's clock says or how long it stalled. The `custom_metadata` endpoint has no check-and-set and replaces the
 * whole map (path_metadata.go, pathMetadataWrite), which is why it only mirrors.
 *
 * The mirror holds `stage.<STAGE>` = version (what readStageWithDataAccess reads), `v<id>` = the metadata of each staged
 * version (so `vault kv metadata get` shows what CURRENT is), and `keyctl.rev` = the record version it mirrors (a
 * mirror never replaces a newer one). Keys keyctl does not own are kept. Vault limits custom_metadata to 64 keys,
 * keys of at most 128 bytes and values of at most 512 bytes, none empty, all printable (path_metadata.go,
 * validateCustomMetadata; Go's len counts bytes): checked here, before any write.
 */
import { ProviderError, UsageError } from '@keyctl/client/errors';
import { STAGES, type Stage, type VersionMeta } from '../types.js';

export const MAX_KEYS = 64;
export const MAX_KEY_BYTES = 128;
export const MAX_VALUE_BYTES = 512;
/** The record's version of the mirror in custom_metadata. */
export const MIRROR_REV_KEY = 'keyctl.rev';
/** The data field of a KV version that carries keyctl's own marker (the idempotency key), never secret. */
export const VERSION_MARKER = '_keyctl';

export interface StageRecord {
  stages: Partial<Record<Stage, string>>;
  meta: Record<string, VersionMeta>;
  /** Idempotency key -> version. */
  idempotency: Record<string, string>;
  /** KV versions up to this one belong to a deleted incarnation of the path: hidden, never reused as ids. */
  deletedThrough: number;
  /** The KV secret's metadata `created_time` when the record was first written: a mismatch means it was re-created. */
  kvCreated?: string;
}

export const emptyRecord = (): StageRecord => ({ stages: {}, meta: {}, idempotency: {}, deletedThrough: 0 });

const corrupt = (path: string, what: string) =>
  new ProviderError('STORE_CORRUPT', `The keyctl stage record of "${path}" in Vault is damaged (${what}).`, {
    hint: 'It was edited outside keyctl. Restore an older version with `vault kv rollback` on its _stages path; keyctl changed nothing.',
  });

/** Parses a stage record version's data; anything keyctl did not write is STORE_CORRUPT, never an empty record. */
export function parseRecord(data: Record<string, unknown>, path: string): StageRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(String(data.record ?? ''));
  } catch {
    throw corrupt(path, 'not JSON');
  }
  if (!isObject(raw) || raw.v !== 1) throw corrupt(path, 'unknown format');
  const stages: Partial<Record<Stage, string>> = {};
  for (const [k, v] of Object.entries(isObject(raw.stages) ? raw.stages : {})) {
    if (!STAGES.includes(k as Stage) || typeof v !== 'string' || !/^\d+$/.test(v)) throw corrupt(path, `stage ${k}`);
    stages[k as Stage] = v;
  }
  const meta: Record<string, VersionMeta> = {};
  for (const [id, m] of Object.entries(isObject(raw.meta) ? raw.meta : {})) {
    if (!isObject(m) || !Object.values(m).every((x) => typeof x === 'string')) throw corrupt(path, `metadata of version ${id}`);
    meta[id] = m as VersionMeta;
  }
  const idempotency: Record<string, string> = {};
  for (const [k, v] of Object.entries(isObject(raw.idempotency) ? raw.idempotency : {})) {
    if (typeof v !== 'string') throw corrupt(path, 'an idempotency key');
    idempotency[k] = v;
  }
  const deletedThrough = raw.deletedThrough ?? 0;
  if (typeof deletedThrough !== 'number' || !Number.isSafeInteger(deletedThrough) || deletedThrough < 0)
    throw corrupt(path, 'deletedThrough');
  return {
    stages,
    meta,
    idempotency,
    deletedThrough,
    ...(typeof raw.kvCreated === 'string' ? { kvCreated: raw.kvCreated } : {}),
  };
}

export function encodeRecord(r: StageRecord): Record<string, string> {
  return { record: JSON.stringify({ v: 1, ...r }) };
}

/**
 * The record of a path written by a keyctl from before stage records: its pointers, metadata and idempotency keys
 * were in custom_metadata (`stage.X`, `v<id>`, `idem.<key>`). Read once, then the record takes over.
 */
export function fromLegacy(custom: Record<string, string> | null | undefined, path: string): StageRecord {
  const out = emptyRecord();
  for (const [k, v] of Object.entries(custom ?? {})) {
    if (k.startsWith('stage.')) {
      const s = k.slice('stage.'.length) as Stage;
      if (STAGES.includes(s)) out.stages[s] = v;
    } else if (/^v\d+$/.test(k)) {
      try {
        const parsed = JSON.parse(v) as unknown;
        if (!isObject(parsed)) throw new Error('not an object');
        out.meta[k.slice(1)] = Object.fromEntries(Object.entries(parsed).map(([a, b]) => [a, String(b)]));
      } catch {
        throw new ProviderError('STORE_CORRUPT', `The keyctl metadata of "${path}" in Vault is damaged (custom_metadata "${k}").`, {
          hint: 'It was edited by hand. Fix or remove that key with `vault kv metadata patch`; keyctl changed nothing.',
        });
      }
    } else if (k.startsWith('idem.')) {
      out.idempotency[k.slice('idem.'.length)] = v;
    }
  }
  return out;
}

/** Whether a custom_metadata key is keyctl's (mirror or legacy bookkeeping); others are the operator's and kept. */
export function isKeyctlKey(k: string): boolean {
  return k.startsWith('stage.') || /^v\d+$/.test(k) || k.startsWith('idem.') || k === MIRROR_REV_KEY;
}

/** The mirror of `record` (at record version `rev`) in custom_metadata, keeping foreign keys. Validated. */
export function mirrorOf(record: StageRecord, rev: number, current: Record<string, string> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(current ?? {})) if (!isKeyctlKey(k)) out[k] = v;
  for (const s of STAGES) {
    const id = record.stages[s];
    if (id === undefined) continue;
    out[`stage.${s}`] = id;
    const meta = record.meta[id];
    if (meta && Object.keys(meta).length > 0) out[`v${id}`] = JSON.stringify(meta);
  }
  out[MIRROR_REV_KEY] = String(rev);
  assertCustomMetadata(out);
  return out;
}

/**
 * A version's metadata must fit the mirror: checked before the data write, so a refused value never leaves a version
 * behind. Every value of `meta` is a string, which the type already guarantees at compile time; checked again here.
 */
export function assertMetaFits(meta: VersionMeta | undefined): void {
  if (!meta || Object.keys(meta).length === 0) return;
  const json = JSON.stringify(meta);
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_VALUE_BYTES) {
    throw new UsageError(
      'META_TOO_LARGE',
      `This version's metadata is ${bytes} bytes as JSON; Vault keeps at most ${MAX_VALUE_BYTES} per value.`,
      {
        hint: 'Keep version metadata to short fields (fingerprint, source, creator, flags). Nothing was written.',
      },
    );
  }
  if (!isPrintable(json)) {
    throw new UsageError(
      'META_NOT_PRINTABLE',
      "This version's metadata holds characters Vault refuses in custom_metadata (control characters).",
      {
        hint: 'Use printable text only. Nothing was written.',
      },
    );
  }
}

/** Vault's custom_metadata rules (path_metadata.go, validateCustomMetadata), in bytes as Go's len counts them. */
export function assertCustomMetadata(custom: Record<string, string>): void {
  const entries = Object.entries(custom);
  const fail = (what: string) =>
    new ProviderError('VAULT_METADATA_LIMIT', `The Vault custom_metadata of this secret would break Vault's limits: ${what}.`, {
      hint: 'Remove foreign custom_metadata keys with `vault kv metadata patch`, or shorten version metadata. Nothing was written.',
    });
  if (entries.length > MAX_KEYS) throw fail(`${entries.length} keys (at most ${MAX_KEYS})`);
  for (const [k, v] of entries) {
    if (k.length === 0) throw fail('an empty key');
    if (Buffer.byteLength(k, 'utf8') > MAX_KEY_BYTES) throw fail(`key "${k.slice(0, 40)}…" longer than ${MAX_KEY_BYTES} bytes`);
    if (Buffer.byteLength(v, 'utf8') > MAX_VALUE_BYTES) throw fail(`the value of "${k}" longer than ${MAX_VALUE_BYTES} bytes`);
    if (!isPrintable(k) || !isPrintable(v)) throw fail(`a non-printable character in "${k}"`);
  }
}

/** Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space. */
export function isPrintable(s: string): boolean {
  return /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]*$/u.test(s);
}

/** CURRENT moves and PREVIOUS follows onto the version CURRENT left (AWS semantics, as in the other providers). */
export function attach(r: StageRecord, stage: Stage, to: string): void {
  if (stage !== 'CURRENT') {
    r.stages[stage] = to;
    return;
  }
  const old = r.stages.CURRENT;
  if (old === to) return;
  r.stages.CURRENT = to;
  if (old !== undefined) r.stages.PREVIOUS = old;
}

/** Drops metadata and idempotency keys of versions Vault no longer retains, so the record stays bounded. */
export function pruneRecord(r: StageRecord, retained: ReadonlySet<string>): void {
  for (const id of Object.keys(r.meta)) if (!retained.has(id)) delete r.meta[id];
  for (const [k, id] of Object.entries(r.idempotency)) if (!retained.has(id)) delete r.idempotency[k];
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
